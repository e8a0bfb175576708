package proxy

import (
	"bufio"
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
// of a request that has both Content-Length and Transfer-Encoding.
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
			if !strings.Contains(head, "content-length") || !strings.Contains(head, "transfer-encoding") {
				t.Fatalf("poisoned, but the held-back block %q lacks the headers", head)
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
