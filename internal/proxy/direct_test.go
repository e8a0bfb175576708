package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawUpstream is an HTTP/1.1 server written by hand, so that tests can send
// what a well-behaved server would not: a response nobody asked for, a close
// without a word, informational responses.
type rawUpstream struct {
	ln    net.Listener
	conns atomic.Int32
	// answer writes the raw response to the reqN-th request (from 1) on the
	// connN-th connection (from 1); false closes the connection.
	answer func(w io.Writer, connN, reqN int, r *http.Request) bool
	wg     sync.WaitGroup
}

func newRawUpstream(t *testing.T, answer func(w io.Writer, connN, reqN int, r *http.Request) bool) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln, answer: answer}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(u.conns.Add(1))
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for req := 1; ; req++ {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					if !u.answer(c, n, req, r) {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return u
}

func (u *rawUpstream) url() string { return "http://" + u.ln.Addr().String() }

func directFor(t *testing.T, o TransportOptions) *DirectTransport {
	t.Helper()
	std, err := NewTransport(o)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDirectTransport(std, o)
	t.Cleanup(d.Close)
	return d
}

func get(t *testing.T, rt http.RoundTripper, url string) (string, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func ok(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// Sequential GETs share one connection; a POST with a body goes through
// http.Transport and works as well.
func TestDirectReusesConnections(t *testing.T) {
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), b)
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	d := directFor(t, TransportOptions{})
	for i := range 20 {
		got, err := get(t, d, fmt.Sprintf("%s/p?i=%d", up.URL, i))
		if err != nil || got != fmt.Sprintf("GET /p?i=%d ", i) {
			t.Fatalf("GET %d = %q, %v", i, got, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 20 sequential GETs, want 1", n)
	}
	req, _ := http.NewRequest(http.MethodPost, up.URL+"/form", strings.NewReader("a=1"))
	resp, err := d.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST /form a=1" {
		t.Fatalf("POST = %q", b)
	}
}

// A response nobody asked for — sent with the answer, or later while the
// connection is idle — is never given to the next request. (As with
// http.Transport, one that arrives only after the next request was sent
// cannot be told from that request's answer.)
func TestDirectNeverServesAnUnsolicitedResponse(t *testing.T) {
	for _, late := range []bool{false, true} {
		t.Run(fmt.Sprintf("late=%v", late), func(t *testing.T) {
			up := newRawUpstream(t, func(w io.Writer, connN, reqN int, r *http.Request) bool {
				answer := ok(fmt.Sprintf("conn%d-req%d", connN, reqN))
				switch {
				case connN == 1 && reqN == 1 && late:
					io.WriteString(w, answer)
					time.Sleep(30 * time.Millisecond)
					io.WriteString(w, ok("EVIL"))
				case connN == 1 && reqN == 1:
					io.WriteString(w, answer+ok("EVIL")) // in one write
				default:
					io.WriteString(w, answer)
				}
				return true
			})
			d := directFor(t, TransportOptions{})
			if got, err := get(t, d, up.url()+"/"); err != nil || got != "conn1-req1" {
				t.Fatalf("first GET = %q, %v", got, err)
			}
			if late {
				time.Sleep(100 * time.Millisecond)
			}
			for i := range 3 {
				got, err := get(t, d, up.url()+"/")
				if err != nil {
					t.Fatal(err)
				}
				if got == "EVIL" || strings.HasPrefix(got, "conn1-") {
					t.Fatalf("GET %d = %q: the connection that carried an unsolicited response was reused", i, got)
				}
			}
		})
	}
}

// An upstream that closes idle connections (a shorter keep-alive timeout)
// costs no failed request: the closed connection is seen before use, or the
// request goes again on a new one.
func TestDirectUpstreamClosedIdleConnection(t *testing.T) {
	up := newRawUpstream(t, func(w io.Writer, connN, reqN int, r *http.Request) bool {
		io.WriteString(w, ok("x"))
		return false // close after every answer, without saying so
	})
	d := directFor(t, TransportOptions{})
	for i := range 10 {
		if got, err := get(t, d, up.url()+"/"); err != nil || got != "x" {
			t.Fatalf("GET %d = %q, %v", i, got, err)
		}
	}
	// The upstream closes a reused connection as the request arrives (the
	// race the check before reuse cannot see): the request goes again, once,
	// on a new connection; a new connection closed without an answer fails.
	up2 := newRawUpstream(t, func(w io.Writer, connN, reqN int, r *http.Request) bool {
		if reqN == 2 || connN == 3 {
			return false
		}
		io.WriteString(w, ok(fmt.Sprintf("conn%d", connN)))
		return true
	})
	if got, err := get(t, d, up2.url()+"/"); err != nil || got != "conn1" {
		t.Fatalf("GET = %q, %v", got, err)
	}
	if got, err := get(t, d, up2.url()+"/"); err != nil || got != "conn2" {
		t.Fatalf("GET on a connection closed as it arrived = %q, %v; want conn2 (sent again)", got, err)
	}
	// conn2 is idle in the pool; its next request closes it unanswered,
	// and the retry's new connection (conn3) closes unanswered too.
	if got, err := get(t, d, up2.url()+"/"); err == nil {
		t.Fatalf("GET = %q; want an error (sent twice, closed twice)", got)
	}
}

// A body not read to its end (the client went away) closes the connection:
// the next response cannot be read from where the last one stopped.
func TestDirectUnreadBodyClosesTheConnection(t *testing.T) {
	big := strings.Repeat("z", 1<<20)
	up := newRawUpstream(t, func(w io.Writer, connN, reqN int, r *http.Request) bool {
		if r.URL.Path == "/big" {
			io.WriteString(w, ok(big))
		} else {
			io.WriteString(w, ok(fmt.Sprintf("conn%d", connN)))
		}
		return true
	})
	d := directFor(t, TransportOptions{})
	req, _ := http.NewRequest(http.MethodGet, up.url()+"/big", nil)
	resp, err := d.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, err := get(t, d, up.url()+"/small"); err != nil || got != "conn2" {
		t.Fatalf("GET after an unread body = %q, %v; want conn2 (a new connection)", got, err)
	}
	if got, err := get(t, d, up.url()+"/small"); err != nil || got != "conn2" {
		t.Fatalf("GET after a read body = %q, %v; want conn2 (reused)", got, err)
	}
}

// HEAD, 204, chunked responses with trailers and informational responses
// leave the connection reusable; "Connection: close" does not.
func TestDirectResponseKinds(t *testing.T) {
	up := newRawUpstream(t, func(w io.Writer, connN, reqN int, r *http.Request) bool {
		switch r.URL.Path {
		case "/head":
			io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
		case "/204":
			io.WriteString(w, "HTTP/1.1 204 No Content\r\n\r\n")
		case "/chunked":
			io.WriteString(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n3\r\nabc\r\n0\r\nX-T: done\r\n\r\n")
		case "/hints":
			io.WriteString(w, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"+ok("after hints"))
		case "/close":
			io.WriteString(w, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nclose")
			return false
		default:
			io.WriteString(w, ok(fmt.Sprintf("conn%d", connN)))
		}
		return true
	})
	d := directFor(t, TransportOptions{})
	req, _ := http.NewRequest(http.MethodHead, up.url()+"/head", nil)
	resp, err := d.RoundTrip(req)
	if err != nil || resp.ContentLength != 100 {
		t.Fatalf("HEAD = %v, %v", resp, err)
	}
	resp.Body.Close()
	for _, p := range []string{"/204", "/chunked", "/hints"} {
		req, _ := http.NewRequest(http.MethodGet, up.url()+p, nil)
		resp, err := d.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch p {
		case "/chunked":
			if string(b) != "abc" || resp.Trailer.Get("X-T") != "done" {
				t.Fatalf("chunked = %q, trailer %q", b, resp.Trailer.Get("X-T"))
			}
		case "/hints":
			if resp.StatusCode != 200 || string(b) != "after hints" {
				t.Fatalf("after 103 = %d %q", resp.StatusCode, b)
			}
		}
	}
	if got, _ := get(t, d, up.url()+"/x"); got != "conn1" {
		t.Fatalf("after HEAD, 204, chunked and 103: %q, want conn1 (one connection)", got)
	}
	if got, _ := get(t, d, up.url()+"/close"); got != "close" {
		t.Fatalf("close = %q", got)
	}
	if got, _ := get(t, d, up.url()+"/x"); got != "conn2" {
		t.Fatalf("after Connection: close: %q, want conn2", got)
	}
}

// The response header timeout is a net.Error timeout (the 504 page);
// a canceled request ends at once with context.Canceled (499).
func TestDirectTimeoutAndCancel(t *testing.T) {
	release := make(chan struct{})
	up := newRawUpstream(t, func(w io.Writer, connN, reqN int, r *http.Request) bool {
		<-release
		return false
	})
	defer close(release)
	d := directFor(t, TransportOptions{ResponseHeaderTimeout: 50 * time.Millisecond})
	_, err := get(t, d, up.url()+"/")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("GET to a silent upstream = %v, want a net.Error timeout", err)
	}
	d2 := directFor(t, TransportOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, up.url()+"/", nil)
	time.AfterFunc(30*time.Millisecond, cancel)
	start := time.Now()
	_, err = d2.RoundTrip(req)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("canceled GET = %v after %s, want context.Canceled at once", err, time.Since(start))
	}
}

// Through httputil.ReverseProxy (Upstream), as the gateway runs it: the
// direct path carries the request (http.Transport is not used), and an
// informational response reaches the client.
func TestDirectThroughUpstream(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hints" {
			w.Header().Set("Link", "</s.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
		}
		w.Header().Set("X-Up", "1")
		fmt.Fprint(w, "hello ", r.Header.Get("X-Forwarded-Host"))
	}))
	defer up.Close()
	d := directFor(t, TransportOptions{})
	d.std = &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("http.Transport used")
	}}
	u, err := NewUpstream(up.URL, false, d, func(w http.ResponseWriter, r *http.Request, err error) { http.Error(w, err.Error(), 502) })
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r := httptest.NewRequest(http.MethodGet, "http://tool.example/x", nil)
		r = r.WithContext(WithForward(r.Context(), &Forward{Allowed: true, Path: "/x"}))
		w := httptest.NewRecorder()
		u.ServeHTTP(w, r)
		if w.Code != 200 || w.Header().Get("X-Up") != "1" || !strings.HasPrefix(w.Body.String(), "hello ") {
			t.Fatalf("proxied = %d %q %q", w.Code, w.Header(), w.Body)
		}
	}
	// The 103 as the client sees it, through a real server.
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.ServeHTTP(w, r.WithContext(WithForward(r.Context(), &Forward{Allowed: true, Path: r.URL.Path})))
	}))
	defer gw.Close()
	var hints []int
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		if h.Get("Link") == "" {
			t.Errorf("%d without its Link header", code)
		}
		hints = append(hints, code)
		return nil
	}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, gw.URL+"/hints", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(hints) != 1 || hints[0] != http.StatusEarlyHints {
		t.Fatalf("client saw %d after informational %v, want 200 after [103]", resp.StatusCode, hints)
	}
}

// An upstream that never ends its response head (here 11 MiB of header
// lines) fails the exchange at http.Transport's 10 MiB bound instead of
// growing the gateway's memory; the connection is not reused.
func TestDirectBoundsTheResponseHead(t *testing.T) {
	up := newRawUpstream(t, func(w io.Writer, connN, reqN int, r *http.Request) bool {
		if r.URL.Path != "/huge" {
			io.WriteString(w, ok(fmt.Sprintf("conn%d", connN)))
			return true
		}
		io.WriteString(w, "HTTP/1.1 200 OK\r\n")
		line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
		for range 11 << 10 {
			if _, err := io.WriteString(w, line); err != nil {
				return false
			}
		}
		return false
	})
	d := directFor(t, TransportOptions{})
	if got, err := get(t, d, up.url()+"/x"); got != "conn1" {
		t.Fatalf("first GET = %q, %v", got, err)
	}
	_, err := get(t, d, up.url()+"/huge")
	if !errors.Is(err, errResponseHeaderTooLong) {
		t.Fatalf("11 MiB response head = %v, want %v", err, errResponseHeaderTooLong)
	}
	if got, err := get(t, d, up.url()+"/x"); got != "conn2" {
		t.Fatalf("after the refused head: %q, %v, want conn2 (a new connection)", got, err)
	}
	// A head just under the bound still passes.
	up2 := newRawUpstream(t, func(w io.Writer, connN, reqN int, r *http.Request) bool {
		io.WriteString(w, "HTTP/1.1 200 OK\r\n")
		line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
		for range 9 << 10 {
			io.WriteString(w, line)
		}
		io.WriteString(w, "Content-Length: 2\r\n\r\nok")
		return true
	})
	if got, err := get(t, d, up2.url()+"/"); got != "ok" || err != nil {
		t.Fatalf("9 MiB response head = %q, %v, want ok", got, err)
	}
}

// A header line http.Transport refuses to send (a name or value it judges
// invalid) is refused on the direct path as well, with http.Transport's
// error, and nothing reaches the upstream.
func TestDirectRefusesInvalidHeaderLines(t *testing.T) {
	var seen atomic.Int32
	up := newRawUpstream(t, func(w io.Writer, connN, reqN int, r *http.Request) bool {
		seen.Add(1)
		io.WriteString(w, ok("answered"))
		return true
	})
	d := directFor(t, TransportOptions{})
	for _, h := range []http.Header{
		{"X-Bad\r\nInjected": {"1"}},
		{"X-Value": {"a\r\nInjected: 1"}},
		{"X-Nul": {"a\x00b"}},
		{"Bad Name": {"1"}},
	} {
		req, _ := http.NewRequest(http.MethodGet, up.url()+"/", nil)
		req.Header = h
		resp, err := d.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("header %q was sent", h)
		}
		if !strings.Contains(err.Error(), "invalid header field") {
			t.Fatalf("header %q: %v, want http.Transport's invalid header field error", h, err)
		}
	}
	if n := seen.Load(); n != 0 {
		t.Fatalf("the upstream saw %d requests, want none", n)
	}
	if got, err := get(t, d, up.url()+"/"); got != "answered" {
		t.Fatalf("a valid request after them = %q, %v", got, err)
	}
}

// Whatever framing an upstream gets wrong — a body after a HEAD answer or a
// 204 or 304, a body longer than its Content-Length, Content-Length beside
// chunked, two Content-Lengths — the bytes beyond the response it framed
// are never read as the next request's answer, whether they come in the
// same write or a moment later: the connection is not reused (or the
// answer is refused).
func TestDirectBytesBeyondTheFramedResponse(t *testing.T) {
	evil := ok("EVIL")
	cases := []struct {
		name, method, head string
	}{
		{"body after HEAD", http.MethodHead, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" + evil},
		{"HEAD with its length", http.MethodHead, "HTTP/1.1 200 OK\r\nContent-Length: 38\r\n\r\n" + evil},
		{"body after 204", http.MethodGet, "HTTP/1.1 204 No Content\r\nContent-Length: 38\r\n\r\n" + evil},
		{"body after 304", http.MethodGet, "HTTP/1.1 304 Not Modified\r\n\r\n" + evil},
		{"longer than Content-Length", http.MethodGet, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + evil},
		{"Content-Length beside chunked", http.MethodGet, "HTTP/1.1 200 OK\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + evil},
		{"two Content-Lengths", http.MethodGet, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\nok" + evil},
	}
	for _, c := range cases {
		for _, late := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/late=%v", c.name, late), func(t *testing.T) {
				up := newRawUpstream(t, func(w io.Writer, connN, reqN int, r *http.Request) bool {
					if connN == 1 && reqN == 1 {
						if !late {
							io.WriteString(w, c.head)
							return true
						}
						first, rest, _ := strings.Cut(c.head, evil)
						io.WriteString(w, first)
						time.Sleep(30 * time.Millisecond)
						io.WriteString(w, evil+rest)
						return true
					}
					io.WriteString(w, ok(fmt.Sprintf("conn%d-req%d", connN, reqN)))
					return true
				})
				d := directFor(t, TransportOptions{})
				req, _ := http.NewRequest(c.method, up.url()+"/", nil)
				if resp, err := d.RoundTrip(req); err == nil { // refusing it is fine too
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if late {
					time.Sleep(100 * time.Millisecond)
				}
				for i := range 3 {
					got, err := get(t, d, up.url()+"/")
					if err != nil {
						t.Fatalf("GET %d: %v", i, err)
					}
					if strings.Contains(got, "EVIL") || strings.HasPrefix(got, "conn1-") {
						t.Fatalf("GET %d = %q: bytes beyond the framed response reached another request", i, got)
					}
				}
			})
		}
	}
}

// Close while requests are in flight (a configuration reload): every
// connection is closed once its request ends — none is left idle in the
// closed transport's pools, whether its request finished before, during or
// after Close — and requests after Close still get their answers.
func TestDirectCloseLeavesNoIdleConnection(t *testing.T) {
	up := newRawUpstream(t, func(w io.Writer, connN, reqN int, r *http.Request) bool {
		io.WriteString(w, ok("x"))
		return true
	})
	for range 20 {
		std, err := NewTransport(TransportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d := NewDirectTransport(std, TransportOptions{})
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 8 {
			wg.Go(func() {
				<-start
				for range 20 {
					if got, err := get(t, d, up.url()+"/"); err != nil || got != "x" {
						t.Errorf("GET = %q, %v", got, err)
						return
					}
				}
			})
		}
		close(start)
		time.Sleep(time.Millisecond)
		d.Close()
		wg.Wait()
	}
	done := make(chan struct{})
	go func() { up.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("connections of closed transports are still open")
	}
}
