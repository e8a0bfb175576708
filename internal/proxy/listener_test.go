package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listenerOnly starts a server with GuardListener and no Guard (which would
// close after chunked and HTTP/1.0 requests): the listener alone. A request
// with an Upgrade header and the path /take is taken over and echoes what
// follows; every other request is answered "ok" after its body is read.
func listenerOnly(t *testing.T) (addr string, hits *atomic.Int64) {
	t.Helper()
	hits = &atomic.Int64{}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/take" && r.Header.Get("Upgrade") != "" {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			brw.Flush()
			buf := make([]byte, 512)
			for {
				n, err := brw.Read(buf)
				if n > 0 {
					conn.Write(buf[:n])
				}
				if err != nil {
					return
				}
			}
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	ts.Listener = GuardListener(ts.Listener)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String(), hits
}

// TestGuardListenerFollowsWhatGoServes: requests Go's server serves and
// keeps the connection open after, which the scanner once stopped
// following — so that a request with both Content-Length and
// Transfer-Encoding after them reached the server. Each is now followed as
// the server reads it, and the request after it refused. Where the server
// itself refuses (an empty line where a request line should be), the
// scanner agrees and nothing after is delivered.
func TestGuardListenerFollowsWhatGoServes(t *testing.T) {
	addr, hits := listenerOnly(t)
	const clte = "POST /second HTTP/1.1\nHost: h\nContent-Length: 40\nTransfer-Encoding: chunked\n\n0\n\nGET /smuggled HTTP/1.1\nHost: h\n\n"
	tests := []struct {
		name, raw string
		want      []int
	}{
		// net/http reads any HTTP/1.x version (ParseHTTPVersion); 1.1 to 1.9
		// are framed alike, chunked allowed.
		{"HTTP/1.2 chunked", "POST /first HTTP/1.2\nHost: h\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n" + clte, []int{200, 400}},
		{"HTTP/1.9 chunked", "POST /first HTTP/1.9\nHost: h\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n" + clte, []int{200, 400}},
		// "PRI * HTTP/2.0" with header fields is served as a request (HTTP/2
		// framed like 1.1), the connection kept.
		{"PRI * HTTP/2.0 with fields, chunked", "PRI * HTTP/2.0\nHost: h\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n" + clte, []int{200, 400}},
		// HTTP/1.0 ignores Transfer-Encoding: no body, and keep-alive.
		{"HTTP/1.0 keep-alive with Transfer-Encoding", "GET /first HTTP/1.0\nHost: h\nConnection: keep-alive\nTransfer-Encoding: chunked\n\n" + clte, []int{200, 400}},
		// After a POST the server drops up to 4 leading CR or LF bytes.
		// (exchange sends each "\n" as "\r\n".)
		{"CR CR CR LF after a POST", "POST /a HTTP/1.1\nHost: h\nContent-Length: 0\n\n\r\r\nGET /b HTTP/1.1\nHost: h\n\n" + clte, []int{200, 200, 400}},
		{"two CRLF after a POST", "POST /a HTTP/1.1\nHost: h\nContent-Length: 2\n\nab\n\nGET /b HTTP/1.1\nHost: h\n\n" + clte, []int{200, 200, 400}},
		{"CRLF after a chunked POST", "POST /a HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n0\n\n\nGET /b HTTP/1.1\nHost: h\n\n" + clte, []int{200, 200, 400}},
		// An Upgrade nobody takes over leaves a keep-alive connection.
		{"upgrade not taken", "GET /first HTTP/1.1\nHost: h\nConnection: Upgrade\nUpgrade: websocket\n\n" + clte, []int{200, 400}},
		// The server skips no empty line after other methods, nor more
		// than 4 bytes after a POST: it answers 400 itself, and reads nothing after.
		{"empty line after a GET", "GET /a HTTP/1.1\nHost: h\n\n\nGET /b HTTP/1.1\nHost: h\n\n" + clte, []int{200, 400}},
		{"three CRLF after a POST", "POST /a HTTP/1.1\nHost: h\nContent-Length: 0\n\n\n\n\nGET /b HTTP/1.1\nHost: h\n\n" + clte, []int{200, 400}},
		{"HTTP/3.0", "GET /a HTTP/3.0\nHost: h\n\n" + clte, []int{505}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits.Store(0)
			got, closed := exchange(t, addr, tc.raw, len(tc.want))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || !closed {
				t.Fatalf("expected statuses %v and the connection closed, got %v (closed %v)", tc.want, got, closed)
			}
			if want := int64(len(tc.want) - 1); hits.Load() != want {
				t.Fatalf("expected %d requests served, got %d: a request after the refused one was served", want, hits.Load())
			}
		})
	}
}

// TestGuardListenerRefusesFoldedFraming: a Content-Length or
// Transfer-Encoding field continued on the next line (obs-fold) is refused
// with its connection. Go's server joins the lines ("Transfer-Encoding:" +
// " chunked" is chunked); a front end may read the field as empty, or the
// continuation as a field of its own. A continued field that does not
// frame the body is served.
func TestGuardListenerRefusesFoldedFraming(t *testing.T) {
	addr, hits := listenerOnly(t)
	tests := []struct {
		name, raw string
		want      int
	}{
		{"Transfer-Encoding folded", "POST /a HTTP/1.1\nHost: h\nTransfer-Encoding:\n chunked\n\n3\nabc\n0\n\n", 400},
		{"Transfer-Encoding folded with a tab", "POST /a HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\t\n\n3\nabc\n0\n\n", 400},
		{"Content-Length folded", "POST /a HTTP/1.1\nHost: h\nContent-Length:\n 3\n\nabc", 400},
		{"Content-Length with an empty continuation", "POST /a HTTP/1.1\nHost: h\nContent-Length: 3\n \n\nabc", 400},
		{"another field folded", "POST /a HTTP/1.1\nHost: h\nX-A: 1\n Transfer-Encoding: chunked\nContent-Length: 3\n\nabc", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits.Store(0)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, strings.ReplaceAll(tc.raw, "\n", "\r\n"))
			conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("expected %d, got %d %q", tc.want, resp.StatusCode, b)
			}
			if tc.want == 400 && (!strings.Contains(string(b), "obs-fold") || hits.Load() != 0) {
				t.Fatalf("expected the listener's refusal and nothing served, got %q and %d served", b, hits.Load())
			}
		})
	}
}

// TestGuardListenerRefusesHugeHeaderBlock: a header block the scanner
// cannot hold (over 256 KiB) is refused with 431, not passed on unscanned:
// a server with a larger MaxHeaderBytes (Go's default is 1 MiB) would read
// it, and the requests after it.
func TestGuardListenerRefusesHugeHeaderBlock(t *testing.T) {
	addr, hits := listenerOnly(t)
	raw := "GET /a HTTP/1.1\nHost: h\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 1000)+"\n", 300) + "\n"
	got, closed := exchange(t, addr, raw, 1)
	if fmt.Sprint(got) != "[431]" || !closed || hits.Load() != 0 {
		t.Fatalf("expected 431, the connection closed and nothing served; got %v (closed %v), %d served", got, closed, hits.Load())
	}
}

// TestGuardListenerPassesHijackedConnections: once the handler takes the
// connection over (Hijack: what an accepted upgrade does), what follows is
// the new protocol's and passes unscanned and at once, bytes without a line
// end and look-alikes of a refused request included; bytes the client sent
// before the 101 reach the handler too.
func TestGuardListenerPassesHijackedConnections(t *testing.T) {
	addr, _ := listenerOnly(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /take HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("expected 101, got %v %v", resp, err)
	}
	for _, msg := range []string{"", "\x81\x05hello", "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"} {
		io.WriteString(conn, msg)
		want := msg
		if msg == "" {
			want = "early"
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
			t.Fatalf("expected the echo %q, got %q (%v)", want, got, err)
		}
	}
}

// goFraming reads in as Go's server reads a connection (net/http's
// conn.serve and conn.readRequest; its reader's 4 KiB buffer): request after
// request, up to 4 leading CR or LF bytes dropped after a POST, each body
// read to its end. It returns where each request ends, up to the first
// that the server answers with an error and a close.
func goFraming(in []byte) (ends []int) {
	src := bytes.NewReader(in)
	br := bufio.NewReaderSize(src, 4096)
	last := ""
	for {
		if last == "POST" {
			peek, _ := br.Peek(4)
			n := 0
			for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
				n++
			}
			br.Discard(n)
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			return ends
		}
		if req.ProtoMajor != 1 && (req.Proto != "HTTP/2.0" || req.Method != "PRI" || req.RequestURI != "*") {
			return ends // 505
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return ends
		}
		ends = append(ends, len(in)-src.Len()-br.Buffered())
		last = req.Method
	}
}

// scannerFraming feeds in to a scanner one byte at a time and returns where
// each request's framing ends.
func scannerFraming(in []byte) (ends []int, s *headerScanner) {
	s = &headerScanner{}
	for i := range in {
		framed := s.framed
		copy(s.space(), in[i:i+1])
		s.feed(1)
		s.consume(s.ready)
		if s.framed > framed {
			ends = append(ends, i+1)
		}
	}
	return ends, s
}

// FuzzListenerFraming holds the scanner against Go's own reader on whole
// connections: for every request Go's server serves, the scanner ends it
// at the same byte — or has refused it, and only for a reason it refuses
// (both Content-Length and Transfer-Encoding, or one of them continued on
// another line). Fed in pieces of any size, it releases the same bytes.
func FuzzListenerFraming(f *testing.F) {
	for _, raw := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc\r\r\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n\n\n\n\n\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST / HTTP/1.2\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
		"PRI * HTTP/2.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nabcdeGET / HTTP/1.1\r\n\r\n",
		"POST / HTTP/1.1\nHost: h\nContent-Length: 007\n\nabcdefgPOST / HTTP/1.1\nTransfer-Encoding: CHUNKED\n\n1;a=b\nx\n0\nT: 1\n\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\n X: 1\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(raw), uint8(5))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		goEnds := goFraming(in)
		ends, s := scannerFraming(in)
		for i, end := range goEnds {
			if i < len(ends) {
				if ends[i] != end {
					t.Fatalf("%q: Go's server ends request %d at byte %d, the scanner at %d", in, i, end, ends[i])
				}
				continue
			}
			start := 0
			if i > 0 {
				start = goEnds[i-1]
			}
			head := strings.ToLower(string(in[start:end]))
			both := strings.Contains(head, "content-length") && strings.Contains(head, "transfer-encoding")
			folded := strings.Contains(head, "\n ") || strings.Contains(head, "\n\t")
			if s.state != scanRefused || !both && !folded {
				t.Fatalf("%q: Go's server serves request %d (ending at byte %d); the scanner framed %d and is in state %d", in, i, end, len(ends), s.state)
			}
			break
		}
		// In pieces: the same bytes released, the same state.
		var p headerScanner
		step, released := int(chunk%64)+1, 0
		for i := 0; i < len(in); i += step {
			n := copy(p.space(), in[i:min(i+step, len(in))])
			p.feed(n)
			released += p.ready
			p.consume(p.ready)
		}
		if p.framed != s.framed || p.state != s.state || released != len(in)-len(s.buf) {
			t.Fatalf("%q in pieces of %d: framed %d, state %d, released %d; one byte at a time: %d, %d, %d",
				in, step, p.framed, p.state, released, s.framed, s.state, len(in)-len(s.buf))
		}
	})
}

// scanStream is a keep-alive connection's bytes as a browser behind a
// balancer sends them: a GET with typical header fields, a POST with a body.
var scanStream = []byte("GET /app/page?x=1 HTTP/1.1\r\nHost: tool.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n" +
	"Cookie: _gateway_session=abcdefabcdefabcdefabcdef; theme=dark\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\r\n" +
	"POST /app/api HTTP/1.1\r\nHost: tool.example\r\nContent-Type: application/json\r\nContent-Length: 17\r\n" +
	"Cookie: _gateway_session=abcdefabcdefabcdefabcdef\r\n\r\n{\"name\":\"value\"}\n")

// TestHeaderScannerAllocatesNothing: the scanner runs on every connection;
// once its buffer exists, scanning requests allocates nothing.
func TestHeaderScannerAllocatesNothing(t *testing.T) {
	var s headerScanner
	allocs := testing.AllocsPerRun(100, func() {
		n := copy(s.space(), scanStream)
		s.feed(n)
		s.consume(s.ready)
	})
	if allocs != 0 || s.framed == 0 || s.state != scanHeader {
		t.Fatalf("expected no allocation and the requests framed, got %v allocations, %d framed, state %d", allocs, s.framed, s.state)
	}
}

func BenchmarkListenerScan(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(scanStream)))
	var s headerScanner
	for b.Loop() {
		n := copy(s.space(), scanStream)
		s.feed(n)
		s.consume(s.ready)
	}
}
