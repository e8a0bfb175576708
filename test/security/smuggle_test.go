package security

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// hintsTool answers like the default upstream, after a 103 Early Hints for
// paths ending in /hints.
func hintsTool() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/hints") {
			w.Header().Set("Link", "</app.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"request_uri\": %q}\n", r.RequestURI)
	})
}

// TestRequestSmuggling: a request with both Content-Length and
// Transfer-Encoding is answered 400 and its connection closed, so that a
// front end that framed it by Content-Length cannot slip a second request
// past the gateway's rules; nothing of it reaches an upstream.
func TestRequestSmuggling(t *testing.T) {
	f := newFixture(t, hintsTool(), "")
	admin := "GET /admin HTTP/1.1\r\nHost: " + f.g.Host + "\r\nCookie: " + f.sam + "\r\n\r\n"
	for _, tc := range []struct{ name, raw string }{
		{"CL.TE", "POST /public/a HTTP/1.1\r\nHost: h\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + admin},
		{"TE.CL", "POST /public/a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"},
		{"lower-case names", "POST /public/a HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"mixed-case chunked", "POST /public/a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: ChUnKeD\r\n\r\n0\r\n\r\n"},
		{"bare LF", "POST /public/a HTTP/1.1\nHost: h\nContent-Length: 5\nTransfer-Encoding: chunked\n\n0\n\n"},
		{"HTTP/1.0", "POST /public/a HTTP/1.0\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"signed-in user", "POST / HTTP/1.1\r\nHost: h\r\nCookie: " + f.sam + "\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + admin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.up.Hits()
			resp := f.g.Raw(t, tc.raw)
			if resp.Status != http.StatusBadRequest || !resp.Closed {
				t.Errorf("status %d, closed %v; want 400 and the connection closed", resp.Status, resp.Closed)
			}
			if f.up.Hits() != before {
				t.Errorf("the upstream received %d request(s)", f.up.Hits()-before)
			}
		})
	}
	// After a good request on the same connection: the good one is served,
	// the smuggling attempt refused, nothing of it forwarded.
	t.Run("pipelined after a good request", func(t *testing.T) {
		before := f.up.Hits()
		c, err := netDial(f.g.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /public/one HTTP/1.1\r\nHost: "+f.g.Host+"\r\n\r\n"+
			"POST /public/two HTTP/1.1\r\nHost: "+f.g.Host+"\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+admin)
		br := bufio.NewReader(c)
		var statuses []int
		for {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				break
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses = append(statuses, resp.StatusCode)
		}
		if len(statuses) != 2 || statuses[0] != 200 || statuses[1] != 400 {
			t.Errorf("statuses %v, want [200 400] and the connection closed", statuses)
		}
		if seen := f.up.Seen()[before:]; len(seen) != 1 || seen[0].RequestURI != "/public/one" {
			t.Errorf("the upstream received %+v, want only /public/one", seen)
		}
	})
	// A chunked request alone is served, and its connection closed: a
	// Content-Length a front end framed it by can leave nothing behind.
	t.Run("chunked request closes its connection", func(t *testing.T) {
		before := f.up.Hits()
		resp := f.g.Raw(t, "POST /public/c HTTP/1.1\r\nHost: "+f.g.Host+"\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"+admin)
		if resp.Status != http.StatusOK || !resp.Closed {
			t.Errorf("status %d, closed %v; want 200 and closed", resp.Status, resp.Closed)
		}
		if seen := f.up.Seen()[before:]; len(seen) != 1 || seen[0].Body != "abc" {
			t.Errorf("the upstream received %+v, want only the chunked request", seen)
		}
	})
	// Informational responses before the answer (the tool's 103, the 100
	// an "Expect: 100-continue" gets) do not keep the connection open
	// after a chunked or HTTP/1.0 request (the only defence on TLS
	// listeners), and the plain listener keeps scanning after a chunked
	// request: a request with both headers after it is refused too.
	for _, tc := range []struct {
		name, raw string
		want      []int
	}{
		{"chunked request, the tool sends 103", "POST /public/hints HTTP/1.1\r\nHost: " + f.g.Host + "\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + admin,
			[]int{103, 200}},
		{"chunked request with Expect: 100-continue", "POST /public/c HTTP/1.1\r\nHost: " + f.g.Host + "\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + admin,
			[]int{100, 200}},
		{"HTTP/1.0 keep-alive, the tool sends 103", "GET /public/hints HTTP/1.0\r\nHost: " + f.g.Host + "\r\nConnection: keep-alive\r\n\r\n" + admin,
			[]int{103, 200}},
		{"CL.TE after a chunked request", "POST /public/c HTTP/1.1\r\nHost: " + f.g.Host + "\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
			"POST /public/d HTTP/1.1\r\nHost: " + f.g.Host + "\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + admin,
			[]int{100, 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.up.Hits()
			got, closed := responses(t, f.g.Addr, tc.raw, len(tc.want))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || !closed {
				t.Errorf("expected statuses %v and the connection closed, got %v (closed %v)", tc.want, got, closed)
			}
			if seen := f.up.Seen()[before:]; len(seen) != 1 || !strings.HasPrefix(seen[0].RequestURI, "/public/") || seen[0].RequestURI == "/public/d" {
				t.Errorf("expected the upstream to receive only the first request, got %+v", seen)
			}
		})
	}
}

// responses sends raw, reads n responses (informational ones included), and
// reports their statuses and whether the gateway then closed the connection
// (end of file, or the 400 GuardListener writes for a refused request
// before it closes) rather than waiting for more (nothing within 300 ms).
func responses(t *testing.T, addr, raw string, n int) (statuses []int, closed bool) {
	t.Helper()
	c, err := netDial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, raw)
	br := bufio.NewReader(c)
	for len(statuses) < n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return statuses, true
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			ne, isNet := err.(net.Error)
			return statuses, !(isNet && ne.Timeout())
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !resp.Close {
			return append(statuses, resp.StatusCode), false // a request after the first was served
		}
	}
}
