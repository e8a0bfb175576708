package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowClients opens n connections that each send a request head announcing
// a body, and one byte of it, then wait: the slow-body attack. The caller
// closes them.
func slowClients(t *testing.T, addr string, n int, chunked bool) []net.Conn {
	t.Helper()
	head := "POST /tool/upload HTTP/1.1\r\nHost: tool.example\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
	if chunked {
		head = "POST /tool/upload HTTP/1.1\r\nHost: tool.example\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"
	}
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, head); err != nil {
			t.Fatal(err)
		}
	}
	return conns
}

// readStatus reads the status line of the answer on c, or fails after wait.
func readStatus(c net.Conn, wait time.Duration) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// waitGoroutines polls until at most max goroutines run, or the deadline.
func waitGoroutines(max int, within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		n := goruntime.NumGoroutine()
		if n <= max || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func denyHandler(closeAfter bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if closeAfter {
			CloseAfterDenial(w, r)
		}
		writeJSONError(w, r, http.StatusUnauthorized, "sign-in-required", "sign in first")
	})
}

// 1,000 unauthenticated connections sending bodies slowly: with
// CloseAfterDenial each gets its 401 at once and is closed, and the
// goroutines go back to where they were; without it (the control) the
// server waits for each body before it even answers.
func TestCloseAfterDenialSlowBodies(t *testing.T) {
	const n = 1000
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			srv := httptest.NewServer(denyHandler(true))
			defer srv.Close()
			base := goruntime.NumGoroutine()
			conns := slowClients(t, srv.Listener.Addr().String(), n, chunked)
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for _, c := range conns {
				wg.Go(func() {
					status, err := readStatus(c, 10*time.Second)
					if err != nil || status != "HTTP/1.1 401 Unauthorized" {
						errs <- fmt.Errorf("status %q, %v", status, err)
						return
					}
					// Then the server hangs up: the rest reads to EOF.
					_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
					if _, err := io.Copy(io.Discard, c); err != nil {
						errs <- fmt.Errorf("connection not closed by the server: %v", err)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			after := waitGoroutines(base+5, 10*time.Second)
			t.Logf("%d slow-body connections: goroutines %d before, %d after the answers", n, base, after)
			if after > base+5 {
				t.Fatalf("goroutines %d -> %d: connections stayed open", base, after)
			}
		})
	}
}

func TestSlowBodiesWithoutCloseAfterDenial(t *testing.T) {
	const n = 200
	srv := httptest.NewServer(denyHandler(false))
	defer srv.Close()
	base := goruntime.NumGoroutine()
	conns := slowClients(t, srv.Listener.Addr().String(), n, false)
	// Close the clients before the server (defers run last-in first-out):
	// srv.Close waits for connections the slow clients would hold open.
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if _, err := readStatus(conns[0], 300*time.Millisecond); err == nil {
		t.Fatal("the control answered: the slow-body condition this test guards against did not occur")
	}
	// Nearly every connection holds a goroutine (a few may not have been
	// accepted yet on a loaded machine).
	want := base + n*9/10
	held := 0
	for deadline := time.Now().Add(5 * time.Second); held < want && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		held = goruntime.NumGoroutine()
	}
	t.Logf("control, %d connections without CloseAfterDenial: goroutines %d -> %d", n, base, held)
	if held < want {
		t.Fatalf("control: expected at least %d goroutines held, got %d", want, held)
	}
}

// Requests without a body keep their connection (keep-alive): nothing is
// pending on it.
func TestCloseAfterDenialKeepsBodylessConnections(t *testing.T) {
	srv := httptest.NewServer(denyHandler(true))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 2 {
		if _, err := io.WriteString(c, "GET /tool HTTP/1.1\r\nHost: tool.example\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		rsp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d on the same connection: %v", i, err)
		}
		io.Copy(io.Discard, rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode != http.StatusUnauthorized || rsp.Close {
			t.Fatalf("request %d: %d, close %v", i, rsp.StatusCode, rsp.Close)
		}
	}
}

// LimitBody: a handler of the gateway's own reads at most max bytes, and
// only until the deadline; a body in time and in size reads fine.
func TestLimitBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		LimitBody(w, r, 16, 300*time.Millisecond)
		b, err := io.ReadAll(r.Body)
		switch {
		case IsBodyTooLarge(err):
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		case IsBodyTimeout(err):
			http.Error(w, "too slow", http.StatusRequestTimeout)
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			fmt.Fprintf(w, "read %q", b)
		}
	}))
	defer srv.Close()
	tests := []struct {
		name       string
		req        string
		wantStatus string
		wantClosed bool
	}{
		{"in time and size", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "HTTP/1.1 200 OK", false},
		{"too large", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n" + strings.Repeat("a", 17), "HTTP/1.1 413 Request Entity Too Large", true},
		{"too large, chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + strings.Repeat("a", 32) + "\r\n0\r\n\r\n", "HTTP/1.1 413 Request Entity Too Large", true},
		{"too slow", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhel", "HTTP/1.1 408 Request Timeout", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.req); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			rsp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, rsp.Body)
			rsp.Body.Close()
			if rsp.Status != strings.TrimPrefix(tt.wantStatus, "HTTP/1.1 ") {
				t.Fatalf("status %q, want %q", rsp.Status, tt.wantStatus)
			}
			if tt.wantClosed {
				if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
					t.Fatalf("expected the server to close the connection, got %v", err)
				}
				return
			}
			// The connection serves the next request, past the first one's
			// body deadline.
			time.Sleep(400 * time.Millisecond) // let the 300 ms deadline pass; nothing to poll
			if _, err := io.WriteString(c, tt.req); err != nil {
				t.Fatal(err)
			}
			rsp, err = http.ReadResponse(br, nil)
			if err != nil || rsp.StatusCode != http.StatusOK {
				t.Fatalf("second request on the connection: %v %v", rsp, err)
			}
			rsp.Body.Close()
		})
	}
}

// A handler unit test's recorder has no connection: CloseAfterDenial still
// marks the answer "Connection: close", and leaves body-less requests be.
func TestCloseAfterDenialHeaders(t *testing.T) {
	tests := []struct {
		name  string
		req   *http.Request
		close bool
	}{
		{"POST with a body", httptest.NewRequest("POST", "/", strings.NewReader("x")), true},
		{"GET", httptest.NewRequest("GET", "/", nil), false},
		{"HTTP/2 POST", func() *http.Request {
			r := httptest.NewRequest("POST", "/", strings.NewReader("x"))
			r.ProtoMajor, r.ProtoMinor, r.Proto = 2, 0, "HTTP/2.0"
			return r
		}(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			CloseAfterDenial(w, tt.req)
			if got := w.Header().Get("Connection") == "close"; got != tt.close {
				t.Fatalf("Connection: close set = %v, want %v", got, tt.close)
			}
		})
	}
}
