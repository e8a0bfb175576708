package test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// toolWithStreams is an upstream with a server-sent events endpoint that
// waits for the test between events, and a WebSocket-style upgrade that
// echoes bytes.
func toolWithStreams(t *testing.T, next chan struct{}) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/events":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: one\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-time.After(10 * time.Second):
			}
			fmt.Fprint(w, "data: two\n\n")
		case "/ws":
			if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				http.Error(w, "upgrade required", http.StatusUpgradeRequired)
				return
			}
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			rw.Flush()
			buf := make([]byte, 64)
			n, _ := rw.Read(buf)
			rw.Write([]byte("echo:" + string(buf[:n])))
			rw.Flush()
		default:
			fmt.Fprint(w, r.Proto)
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestStreamsWebSocketsAndMetrics(t *testing.T) {
	m := newIdP(t)
	next := make(chan struct{})
	tool := toolWithStreams(t, next)
	vars := idpVars(m, &upstream{Server: tool})
	g := startGateway(t, vars, baseConfig)
	c, resp, body := signIn(t, g, m, user("jane@example.com"), "/")
	mustStatus(t, resp, body, 200)

	// Server-sent events arrive unbuffered: the first event is read while the
	// tool still holds the response open.
	resp, err := c.Get(g.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event = %q, %v", line, err)
	}
	close(next)
	rest, _ := io.ReadAll(br)
	resp.Body.Close()
	if !strings.Contains(string(rest), "data: two") {
		t.Errorf("second event missing: %q", rest)
	}

	// A WebSocket upgrade passes through, with the session cookie.
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var cookies []string
	for _, ck := range c.Jar.Cookies(mustURL(g.URL)) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nCookie: %s\r\n\r\n",
		strings.TrimPrefix(g.URL, "http://"), strings.Join(cookies, "; "))
	cr := bufio.NewReader(conn)
	wsResp, err := http.ReadResponse(cr, nil)
	if err != nil || wsResp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", wsResp, err)
	}
	fmt.Fprint(conn, "hello")
	buf := make([]byte, 64)
	n, _ := io.ReadAtLeast(cr, buf, len("echo:hello"))
	if got := string(buf[:n]); got != "echo:hello" {
		t.Errorf("echo through the upgraded connection = %q", got)
	}

	// The admin listener's metrics count the decisions.
	admin := newAdmin(t, g)
	resp, body = get(t, admin, g.adminURL+"/metrics")
	mustStatus(t, resp, body, 200)
	for _, want := range []string{`gateway_requests_total{decision="allow",reason="allow-rule-matched",route="tool"}`,
		`gateway_requests_total{decision="deny",reason="sign-in-required",route="tool"}`, "gateway_upstream_duration_seconds_bucket"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	resp, body = get(t, admin, g.adminURL+"/healthz")
	mustStatus(t, resp, body, 200)
}

// Clients speak HTTP/2 to a TLS gateway.
func TestHTTP2ToClients(t *testing.T) {
	m := newIdP(t)
	tool := toolWithStreams(t, make(chan struct{}))
	cert, roots := serverCert(t)
	g := startGatewayWith(t, idpVars(m, &upstream{Server: tool}), baseConfig, &tls.Config{Certificates: []tls.Certificate{cert}})
	c := browser(t)
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	m.QueueUser(user("jane@example.com"))
	resp, body := get(t, c, g.URL+"/proto")
	mustStatus(t, resp, body, 200)
	if resp.Proto != "HTTP/2.0" {
		t.Errorf("client protocol = %s, want HTTP/2.0", resp.Proto)
	}
}
