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

// guarded starts a plain-HTTP server the way the gateway serves: Guard
// around the handler, GuardListener around the listener. It counts the
// requests that reached the handler and records their bodies.
func guarded(t *testing.T) (addr string, hits *atomic.Int64, bodies chan string) {
	t.Helper()
	hits = &atomic.Int64{}
	bodies = make(chan string, 16)
	ts := httptest.NewUnstartedServer(Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		bodies <- r.Method + " " + r.URL.Path + " " + string(b)
		io.WriteString(w, "ok")
	})))
	ts.Listener = GuardListener(ts.Listener)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String(), hits, bodies
}

// exchange writes raw bytes, reads up to n responses, and reports their
// statuses and whether the server then closed the connection (EOF within
// 3 s) or kept it open (nothing more within 300 ms).
func exchange(t *testing.T, addr, raw string, n int) (statuses []int, closed bool) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.ReplaceAll(raw, "\n", "\r\n"))); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(conn)
	for len(statuses) < n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return statuses, true
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = br.ReadByte()
	ne, isNet := err.(net.Error)
	return statuses, !(isNet && ne.Timeout())
}

func TestGuardListenerSmuggling(t *testing.T) {
	const smuggled = "GET /admin HTTP/1.1\nHost: h\n\n"
	tests := []struct {
		name string
		raw  string
		// want are the statuses in order; wantHits the requests that
		// reached the handler; closed whether the connection must close.
		want     []int
		wantHits int64
		closed   bool
	}{
		{name: "CL.TE", raw: "POST /public HTTP/1.1\nHost: h\nContent-Length: 35\nTransfer-Encoding: chunked\n\n0\n\n" + smuggled,
			want: []int{400}, closed: true},
		{name: "TE.CL", raw: "POST /public HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\nContent-Length: 4\n\n5c\n" + smuggled + "\n0\n\n",
			want: []int{400}, closed: true},
		{name: "lower case names", raw: "POST / HTTP/1.1\nhost: h\ncontent-length: 5\ntransfer-encoding: chunked\n\n0\n\n",
			want: []int{400}, closed: true},
		{name: "bare LF line ends", raw: "POST / HTTP/1.1\nHost: h\nContent-Length: 5\nTransfer-Encoding: chunked\n\n0\n\n",
			want: []int{400}, closed: true},
		{name: "HTTP/1.0", raw: "POST / HTTP/1.0\nHost: h\nContent-Length: 5\nTransfer-Encoding: chunked\n\n0\n\n",
			want: []int{400}, closed: true},
		{name: "after a good request on the same connection",
			raw:  "GET /one HTTP/1.1\nHost: h\n\nPOST / HTTP/1.1\nHost: h\nContent-Length: 5\nTransfer-Encoding: chunked\n\n0\n\n" + smuggled,
			want: []int{200, 400}, wantHits: 1, closed: true},
		{name: "after a body by Content-Length",
			raw:  "POST /one HTTP/1.1\nHost: h\nContent-Length: 4\n\nabcdPOST / HTTP/1.1\nHost: h\nContent-Length: 5\nTransfer-Encoding: chunked\n\n0\n\n",
			want: []int{200, 400}, wantHits: 1, closed: true},
		{name: "a chunked request is served and the connection closed",
			raw:  "POST /c HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n" + smuggled,
			want: []int{200}, wantHits: 1, closed: true},
		{name: "HTTP/1.0 keep-alive is closed",
			raw:  "GET /a HTTP/1.0\nHost: h\nConnection: keep-alive\n\n" + smuggled,
			want: []int{200}, wantHits: 1, closed: true},
		{name: "keep-alive requests pass",
			raw:  "GET /a HTTP/1.1\nHost: h\n\nPOST /b HTTP/1.1\nHost: h\nContent-Length: 3\n\nxyzGET /c HTTP/1.1\nHost: h\n\n",
			want: []int{200, 200, 200}, wantHits: 3},
		{name: "Content-Length looking header in a body is body",
			raw:  "POST /b HTTP/1.1\nHost: h\nContent-Length: 40\n\nContent-Length: 1\nTransfer-Encoding: x\n\nGET /c HTTP/1.1\nHost: h\n\n",
			want: []int{200, 200}, wantHits: 2},
		{name: "folded continuation line is not a header",
			raw:  "GET /a HTTP/1.1\nHost: h\nX-A: 1\n Transfer-Encoding: chunked\nContent-Length: 0\n\n",
			want: []int{200}, wantHits: 1},
		{name: "h2c upgrade", raw: "GET / HTTP/1.1\nHost: h\nConnection: Upgrade, HTTP2-Settings\nUpgrade: h2c\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\n\n",
			want: []int{400}, closed: true},
		{name: "h2c upgrade in upper case", raw: "GET / HTTP/1.1\nHost: h\nConnection: UPGRADE\nUpgrade: H2C\n\n",
			want: []int{400}, closed: true},
		{name: "h2c after another protocol", raw: "GET / HTTP/1.1\nHost: h\nConnection: upgrade\nUpgrade: websocket, h2c\n\n",
			want: []int{400}, closed: true},
		{name: "HTTP2-Settings alone", raw: "GET / HTTP/1.1\nHost: h\nHTTP2-Settings: AAMAAABk\n\n",
			want: []int{400}, closed: true},
		{name: "upgrade with a body", raw: "POST / HTTP/1.1\nHost: h\nConnection: upgrade\nUpgrade: websocket\nContent-Length: 3\n\nabc",
			want: []int{400}, closed: true},
		{name: "upgrade on HTTP/1.0", raw: "GET / HTTP/1.0\nHost: h\nConnection: upgrade\nUpgrade: websocket\n\n",
			want: []int{400}, closed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, hits, _ := guarded(t)
			got, closed := exchange(t, addr, tc.raw, len(tc.want))
			if len(got) != len(tc.want) {
				t.Fatalf("statuses %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("statuses %v, want %v", got, tc.want)
				}
			}
			if closed != tc.closed {
				t.Fatalf("connection closed = %v, want %v", closed, tc.closed)
			}
			if h := hits.Load(); h != tc.wantHits {
				t.Fatalf("%d requests reached the handler, want %d", h, tc.wantHits)
			}
		})
	}
}

// TestGuardListenerSlowHeader sends a request with both headers one byte at
// a time: the scanner must find them across reads.
func TestGuardListenerSlowHeader(t *testing.T) {
	addr, hits, _ := guarded(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw := "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
	for i := range len(raw) {
		if _, err := conn.Write([]byte{raw[i]}); err != nil {
			t.Fatal(err)
		}
	}
	// The server may have closed its side already: the body is best effort.
	_, _ = conn.Write([]byte("0\r\n\r\n"))
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "Content-Length and Transfer-Encoding") || hits.Load() != 0 {
		t.Fatalf("status %d body %q hits %d; want 400 and no request served", resp.StatusCode, b, hits.Load())
	}
}

// TestGuardListenerBodyIntact checks that bodies pass through unchanged,
// large and pipelined.
func TestGuardListenerBodyIntact(t *testing.T) {
	addr, _, bodies := guarded(t)
	big := strings.Repeat("0123456789", 50_000)
	raw := "POST /big HTTP/1.1\nHost: h\nContent-Length: 500000\n\n" + big + "GET /after HTTP/1.1\nHost: h\n\n"
	got, _ := exchange(t, addr, raw, 2)
	if len(got) != 2 || got[0] != 200 || got[1] != 200 {
		t.Fatalf("statuses %v", got)
	}
	if b := <-bodies; b != "POST /big "+strings.ReplaceAll(big, "\n", "\r\n") {
		t.Fatalf("body of %d bytes changed", len(b))
	}
	if b := <-bodies; b != "GET /after " {
		t.Fatalf("second request %q", b)
	}
}

// FuzzHeaderScanner feeds arbitrary bytes in arbitrary chunks: the scanner
// never panics, releases bytes only in order, and never releases any byte
// of a request that has both Content-Length and Transfer-Encoding, or one
// of them continued on another line.
func FuzzHeaderScanner(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), uint8(3))
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), uint8(1))
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-encoding: x\r\n\r\n"), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		step := int(chunk%64) + 1
		var s headerScanner
		var out []byte
		poisoned := false
		for i := 0; i < len(data) && !poisoned; i += step {
			end := min(i+step, len(data))
			sp := s.space()
			n := copy(sp, data[i:end])
			poisoned = s.feed(n)
			out = append(out, s.buf[:s.ready]...)
			s.consume(s.ready)
		}
		if string(out) != string(data[:len(out)]) {
			t.Fatalf("released bytes are not a prefix of the input")
		}
		if poisoned {
			// The released prefix ends before the poisoned block: it holds
			// no complete request with both headers.
			rest := strings.TrimLeft(strings.ToLower(string(data[len(out):])), "\r\n")
			head := strings.ReplaceAll(rest, "\r\n", "\n")
			head, _, _ = strings.Cut(head, "\n\n")
			both := strings.Contains(head, "content-length") && strings.Contains(head, "transfer-encoding")
			folded := (strings.Contains(head, "content-length") || strings.Contains(head, "transfer-encoding")) &&
				(strings.Contains(head, "\n ") || strings.Contains(head, "\n\t"))
			if !both && !folded {
				t.Fatalf("refused, but the held-back block %q lacks the headers", head)
			}
		}
	})
}

// TestGuardNotify: every refusal is reported, before the answer, and
// nothing else is.
func TestGuardNotify(t *testing.T) {
	var got []string
	h := GuardNotify(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), func(r *http.Request, reason string) {
		got = append(got, r.URL.Path+" "+reason)
	})
	for _, tc := range []struct {
		path   string
		header http.Header
		want   int
	}{
		{"/h2c", http.Header{"Upgrade": {"h2c"}}, 400},
		{"/settings", http.Header{"Http2-Settings": {"x"}}, 400},
		{"/ok", http.Header{"Upgrade": {"websocket"}}, 200},
		{"/plain", http.Header{}, 200},
	} {
		r := httptest.NewRequest("GET", tc.path, nil)
		r.Header = tc.header
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.path, rec.Code, tc.want)
		}
	}
	want := []string{
		"/h2c proxy: HTTP/2 over cleartext (h2c) is not accepted; use HTTP/2 over TLS or HTTP/1.1",
		"/settings proxy: HTTP/2 over cleartext (h2c) is not accepted; use HTTP/2 over TLS or HTTP/1.1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("refused calls:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestGuardClosesAfterInterimResponses: the connection closes after a
// chunked or an HTTP/1.0 request even when informational responses come
// before the final one — ReverseProxy clears the response's header map
// after relaying each, a close set there beforehand would be gone — so the
// bytes after a chunked body are never read as a request. Guard alone, as on
// a TLS listener, where GuardListener cannot see the bytes. A handler's own
// flush and hijack work through the writer that sets the close.
func TestGuardClosesAfterInterimResponses(t *testing.T) {
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // answers an "Expect: 100-continue" with 100
		if r.URL.Path == "/hints" {
			w.Header().Set("Link", "</app.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
		}
		io.WriteString(w, "tool saw "+r.URL.Path)
	}))
	t.Cleanup(tool.Close)
	std, err := NewTransport(TransportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	direct := NewDirectTransport(std, TransportOptions{}) // bodiless GETs; the rest goes to std
	t.Cleanup(direct.Close)
	up, err := NewUpstream(tool.URL, false, direct, func(w http.ResponseWriter, r *http.Request, err error) {
		http.Error(w, err.Error(), http.StatusBadGateway)
	})
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	gw := httptest.NewServer(Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/own/flush":
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusEarlyHints)
			clear(w.Header()) // as ReverseProxy does after a 1xx
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("flush through Guard's writer: %v", err)
			}
			io.WriteString(w, "flushed")
		case "/own/hijack":
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack through Guard's writer: %v", err)
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.0 200 OK\r\nContent-Length: 8\r\n\r\nhijacked")
			brw.Flush()
		default:
			up.ServeHTTP(w, r.WithContext(WithForward(r.Context(), &Forward{Allowed: true, Path: r.URL.Path})))
		}
	})))
	t.Cleanup(gw.Close)
	const smuggled = "GET /smuggled HTTP/1.1\nHost: h\n\n"
	for _, tc := range []struct {
		name, raw string
		want      []int
	}{
		{"chunked, the tool sends 103", "POST /hints HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n" + smuggled,
			[]int{103, 200}},
		{"chunked with Expect: 100-continue", "POST /plain HTTP/1.1\nHost: h\nExpect: 100-continue\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n" + smuggled,
			[]int{100, 200}},
		{"CL.TE with Expect: 100-continue", "POST /plain HTTP/1.1\nHost: h\nExpect: 100-continue\nContent-Length: 40\nTransfer-Encoding: chunked\n\n0\n\n" + smuggled,
			[]int{100, 200}},
		{"HTTP/1.0 keep-alive, the tool sends 103", "GET /hints HTTP/1.0\nHost: h\nConnection: keep-alive\n\n" + smuggled,
			[]int{103, 200}},
		{"chunked, the handler flushes after a 103", "POST /own/flush HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n" + smuggled,
			[]int{103, 200}},
		{"HTTP/1.0, the handler hijacks", "GET /own/hijack HTTP/1.0\nHost: h\nConnection: keep-alive\n\n" + smuggled,
			[]int{200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits.Store(0)
			got, closed := exchange(t, gw.Listener.Addr().String(), tc.raw, len(tc.want))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || !closed {
				t.Errorf("expected statuses %v and the connection closed, got %v (closed %v)", tc.want, got, closed)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("expected one request served, got %d: the bytes after the first were read as a request", n)
			}
		})
	}
}

// TestGuardListenerFollowsChunkedBodies: GuardListener keeps scanning a
// connection after a chunked request — chunk extensions, several chunks, a
// trailer — and finds the next header block where Go's server reads it, so
// that a request with both Content-Length and Transfer-Encoding after it is
// refused even if nothing closed the connection. The server here has no
// Guard (which would close after the chunked request): the listener alone.
func TestGuardListenerFollowsChunkedBodies(t *testing.T) {
	var hits atomic.Int64
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	ts.Listener = GuardListener(ts.Listener)
	ts.Start()
	t.Cleanup(ts.Close)
	const clte = "POST /second HTTP/1.1\nHost: h\nContent-Length: 40\nTransfer-Encoding: chunked\n\n0\n\nGET /smuggled HTTP/1.1\nHost: h\n\n"
	// A chunk whose data looks like a request with both headers: data, as
	// Go's server reads it. (exchange sends "\n" as "\r\n".)
	lookalike := "POST /x HTTP/1.1\nContent-Length: 5\nTransfer-Encoding: chunked\n\n"
	lookalikeLen := len(strings.ReplaceAll(lookalike, "\n", "\r\n"))
	tests := []struct {
		name     string
		raw      string
		want     []int
		wantHits int64
		closed   bool
	}{
		{name: "CL.TE after a chunked request",
			raw:  "POST /first HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n" + clte,
			want: []int{200, 400}, wantHits: 1, closed: true},
		{name: "CL.TE after extensions, several chunks and a trailer",
			raw:  "POST /first HTTP/1.1\nHost: h\nTransfer-Encoding: Chunked\n\n3;name=\"v;x\"\nabc\nA \t\n0123456789\n0;last\nX-Check: 1\nX-More: 2\n\n" + clte,
			want: []int{200, 400}, wantHits: 1, closed: true},
		{name: "CL.TE after two chunked requests",
			raw:  "POST /a HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n0\n\nPOST /b HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n1\nx\n0\n\n" + clte,
			want: []int{200, 200, 400}, wantHits: 2, closed: true},
		{name: "a request look-alike inside a chunk is data",
			raw:  "POST /first HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n" + fmt.Sprintf("%x", lookalikeLen) + "\n" + lookalike + "\n0\n\nGET /after HTTP/1.1\nHost: h\n\n",
			want: []int{200, 200}, wantHits: 2},
		{name: "keep-alive after a chunked request",
			raw:  "POST /first HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\nGET /after HTTP/1.1\nHost: h\n\n",
			want: []int{200, 200}, wantHits: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits.Store(0)
			got, closed := exchange(t, ts.Listener.Addr().String(), tc.raw, len(tc.want))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || closed != tc.closed {
				t.Fatalf("expected statuses %v and closed %v, got %v and %v", tc.want, tc.closed, got, closed)
			}
			if h := hits.Load(); h != tc.wantHits {
				t.Fatalf("expected %d requests served, got %d", tc.wantHits, h)
			}
		})
	}
}

// FuzzChunkedFraming compares the scanner with Go's server on chunked
// bodies: wherever Go's reader accepts a body, the scanner ends that body at
// the same byte and goes on scanning (it stops only where Go's reader
// fails, and the server then closes the connection). Fed in pieces of any
// size, the scanner releases the same bytes and ends in the same state as
// fed one byte at a time.
func FuzzChunkedFraming(f *testing.F) {
	for _, body := range []string{
		"0\r\n\r\n",
		"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"3;ext=\"a;b\"\r\nabc\r\nA \t\r\n0123456789\r\n0;x\r\nTrailer: 1\r\n\r\n",
		"0\r\n\nGET / HTTP/1.1\r\n\r\n",
		"0\r\nX: 1\r\n \r\n\r\n",
		"0\r\nX: 1\r\r\n\r\n",
		"0000000000000003\r\nabc\r\n0\r\n\r\n",
		"00000000000000003\r\nabc\r\n0\r\n\r\n",
		"3\nabc\r\n0\r\n\r\n",
		"3 ;x\r\nabc\r\n0\r\n\r\n",
		"3\r\nabcX\r\n0\r\n\r\n",
		"3\rx\r\nabc\r\n0\r\n\r\n",
		";x\r\n\r\n",
		"-1\r\n\r\n",
		// The trailer must end within the server's 4 KiB buffer.
		"0\r\nX: " + strings.Repeat("a", maxTrailer-7) + "\r\n\r\n",
		"0\r\nX: " + strings.Repeat("a", maxTrailer-6) + "\r\n\r\n",
		"0\r\n\nX: " + strings.Repeat("a", maxTrailer) + "\r\n\r\n",
	} {
		f.Add([]byte(body), uint8(1))
		f.Add([]byte(body), uint8(7))
	}
	const head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	f.Fuzz(func(t *testing.T, body []byte, chunk uint8) {
		in := append([]byte(head), body...)
		// Go's server: the request, its body to the end, the trailer.
		goEnd := -1
		src := bytes.NewReader(in)
		br := bufio.NewReaderSize(src, 4096) // the server's reader
		if req, err := http.ReadRequest(br); err == nil {
			if _, err := io.Copy(io.Discard, req.Body); err == nil {
				goEnd = len(in) - src.Len() - br.Buffered()
			}
		}
		// One byte at a time: where the scanner leaves the chunked body.
		var s headerScanner
		scanEnd, gaveUp, released := -1, false, 0
		for i := range in {
			was := s.state
			copy(s.space(), in[i:i+1])
			s.feed(1)
			released += s.ready
			s.consume(s.ready)
			if was == scanChunked && s.state != scanChunked && scanEnd < 0 && !gaveUp {
				if s.state == scanStopped {
					gaveUp = true
				} else {
					scanEnd = i + 1
				}
			}
		}
		if goEnd >= 0 && scanEnd != goEnd {
			t.Fatalf("%q: Go's server ends the body at byte %d, the scanner at %d (gave up: %v)", body, goEnd, scanEnd, gaveUp)
		}
		// In pieces: the same bytes released, the same state.
		var p headerScanner
		step, pieces := int(chunk%64)+1, 0
		for i := 0; i < len(in); i += step {
			n := copy(p.space(), in[i:min(i+step, len(in))])
			p.feed(n)
			pieces += p.ready
			p.consume(p.ready)
		}
		if pieces != released || p.state != s.state || p.chunk != s.chunk || p.left != s.left {
			t.Fatalf("%q in pieces of %d: released %d bytes, state %d/%d/%d; one byte at a time: %d, %d/%d/%d",
				body, step, pieces, p.state, p.chunk, p.left, released, s.state, s.chunk, s.left)
		}
	})
}

// TestGuardRefusesThePreface: "PRI * HTTP/2.0" with header fields is served
// by Go's HTTP/1 server as a request of version 2.0 — chunked body allowed,
// connection kept — so the close after a chunked request (HTTP/1.x only)
// did not follow it, and a front end that framed it by Content-Length sent
// a request after it that the gateway read. The HTTP/2 preface is never a
// request: Guard refuses it, as on a TLS listener, where it is alone.
func TestGuardRefusesThePreface(t *testing.T) {
	var hits atomic.Int64
	gw := httptest.NewServer(Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})))
	t.Cleanup(gw.Close)
	for _, raw := range []string{
		"PRI * HTTP/2.0\nHost: h\nContent-Length: 40\nTransfer-Encoding: chunked\n\n0\n\nGET /smuggled HTTP/1.1\nHost: h\n\n",
		"PRI * HTTP/2.0\n\nSM\n\n",
	} {
		got, closed := exchange(t, gw.Listener.Addr().String(), raw, 1)
		if fmt.Sprint(got) != "[400]" || !closed || hits.Load() != 0 {
			t.Fatalf("%q: expected 400, the connection closed and nothing served; got %v (closed %v), %d served", raw, got, closed, hits.Load())
		}
	}
}

// TestGuardRefusesConnect: an HTTP/1.1 CONNECT asks for a tunnel to a host
// and port, which the gateway never forwards: refused before any handler,
// the connection closed.
func TestGuardRefusesConnect(t *testing.T) {
	var hits atomic.Int64
	gw := httptest.NewServer(Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	})))
	t.Cleanup(gw.Close)
	for _, raw := range []string{
		"CONNECT tool.example:443 HTTP/1.1\nHost: tool.example:443\n\n",
		"CONNECT 127.0.0.1:22 HTTP/1.1\nHost: 127.0.0.1:22\n\n",
	} {
		got, closed := exchange(t, gw.Listener.Addr().String(), raw, 1)
		if fmt.Sprint(got) != "[400]" || !closed || hits.Load() != 0 {
			t.Fatalf("%q: expected 400, the connection closed and nothing served; got %v (closed %v), %d served", raw, got, closed, hits.Load())
		}
	}
}
