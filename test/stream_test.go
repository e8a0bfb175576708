package test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/store/redistest"
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
	cookies := cookieHeader(c, g.URL)
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nCookie: %s\r\n\r\n",
		strings.TrimPrefix(g.URL, "http://"), cookies)
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

// shiftConfig: /shift is open 09:00–17:00 UTC on weekdays.
const shiftConfig = `
  - name: shift
    host: {{.Host}}
    path: /shift
    upstream: {{.Upstream}}
    rules:
      allow:
        - domains: [example.com]
    require:
      time_window: {schedules: [day]}
schedules:
  day:
    time_zone: UTC
    windows:
      - {days: mon-fri, from: "09:00", to: "17:00"}
`

// TestStreamsEndWithTheAccess: an exchange opened inside a time window
// ends when the window does (the decision's NotAfter), not only the context
// token: a server-sent event stream is cut, a WebSocket closed on both
// sides, a tool that has not answered yet gets its request cancelled and
// the user a 403; each response record says the access ended. The
// gateway's clock stands still one second before the window closes, so
// every exchange has exactly one second (the tool would go on for three).
func TestStreamsEndWithTheAccess(t *testing.T) {
	end := time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC) // a Monday
	clock := &clockAt{t: end.Add(-time.Second)}
	toolDone := make(chan string, 3) // what the tool saw end, by path
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/shift/events":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: one\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				toolDone <- r.URL.Path
			case <-time.After(3 * time.Second):
				fmt.Fprint(w, "data: after the window\n\n")
			}
		case "/shift/slow":
			select {
			case <-r.Context().Done():
				toolDone <- r.URL.Path
			case <-time.After(3 * time.Second):
				fmt.Fprint(w, "late")
			}
		case "/shift/ws":
			echoUpgraded(w, r, toolDone)
		}
	}))
	t.Cleanup(tool.Close)
	m := newIdP(t)
	vars := idpVars(m, &upstream{Server: tool})
	vars.Now = clock.Now
	g := startGateway(t, vars, baseConfig+shiftConfig)
	c, resp, body := signIn(t, g, m, user("jane@example.com"), "/")
	mustStatus(t, resp, body, http.StatusOK)
	cookies := cookieHeader(c, g.URL)
	hostPort := strings.TrimPrefix(g.URL, "http://")

	t.Run("server-sent events", func(t *testing.T) {
		resp, err := c.Get(g.URL + "/shift/events")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		if line, err := br.ReadString('\n'); err != nil || line != "data: one\n" {
			t.Fatalf("inside the window: expected the first event, got %q, %v", line, err)
		}
		rest, err := io.ReadAll(br)
		if err == nil || strings.Contains(string(rest), "after the window") {
			t.Errorf("expected the stream cut at the window's end, got %q and error %v", rest, err)
		}
	})
	t.Run("WebSocket", func(t *testing.T) {
		conn, err := net.Dial("tcp", hostPort)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(4 * time.Second))
		fmt.Fprintf(conn, "GET /shift/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nCookie: %s\r\n\r\n",
			hostPort, cookies)
		cr := bufio.NewReader(conn)
		if ws, err := http.ReadResponse(cr, nil); err != nil || ws.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("inside the window: expected 101, got %v, %v", ws, err)
		}
		fmt.Fprint(conn, "hello")
		buf := make([]byte, 64)
		if n, err := io.ReadAtLeast(cr, buf, len("echo:hello")); err != nil || string(buf[:n]) != "echo:hello" {
			t.Fatalf("inside the window: expected the echo, got %q, %v", buf[:n], err)
		}
		n, err := cr.Read(buf)
		if ne, ok := err.(net.Error); ok && ne.Timeout() || err == nil {
			t.Errorf("expected the gateway to close the client's side at the window's end, got %q, %v", buf[:n], err)
		}
	})
	t.Run("a tool that has not answered", func(t *testing.T) {
		resp, body := get(t, c, g.URL+"/shift/slow")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Your access ended") {
			t.Errorf("expected 403 and the access-ended page, got %d: %s", resp.StatusCode, pageSummary(body))
		}
	})

	// The tool saw each end; the response records say why.
	details := endedExchanges(t, g, toolDone, "/shift/", 3)
	const why = "response cut off: the access ended (the session, or a time window or grant the decision relied on) at 2026-12-07T17:00:00Z"
	want := []string{"/shift/events 200 " + why, "/shift/slow 403 " + why, "/shift/ws 101 " + why}
	if strings.Join(details, "\n") != strings.Join(want, "\n") {
		t.Errorf("response records:\n%s\nexpected:\n%s", strings.Join(details, "\n"), strings.Join(want, "\n"))
	}

	// After the window a new request is refused.
	clock.Add(time.Second)
	resp, body = get(t, c, g.URL+"/shift/events")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "outside-window") {
		t.Errorf("after the window: expected 403 outside-window, got %d: %s", resp.StatusCode, pageSummary(body))
	}
}

const liveConfig = `
  - name: live
    host: {{.Host}}
    path: /live
    upstream: {{.Upstream}}
    recheck_interval: 1s
    rules:
      allow:
        - domains: [example.com]
`

// TestStreamsEndWhenTheAccessIsWithdrawn: an open exchange is decided
// again every routes[].recheck_interval. While the access holds, a
// server-sent event stream and a WebSocket go on through several re-checks
// (each one a decision record); once it is withdrawn — a sign-out, a reload
// that no longer allows the user, a session store that stops answering
// (fail closed) — the next re-check denies and both are ended, the tool's
// side too, and the response records say a re-check withdrew the access,
// and why.
func TestStreamsEndWhenTheAccessIsWithdrawn(t *testing.T) {
	for _, tc := range []struct {
		name     string
		redis    bool
		withdraw func(t *testing.T, g *gateway, c *http.Client, vars envVars, rs *redistest.Server)
		reason   string
		route    string // the route's config before; liveConfig when empty
	}{
		{"sign-out", false, func(t *testing.T, g *gateway, c *http.Client, _ envVars, _ *redistest.Server) {
			resp, body := get(t, c, g.URL+"/.gateway/sign-out")
			csrf := between(body, `name="csrf" value="`, `"`)
			req, _ := http.NewRequest("POST", g.URL+"/.gateway/sign-out", strings.NewReader("csrf="+csrf))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, body = do(t, c, req)
			mustStatus(t, resp, body, http.StatusOK)
		}, "sign-in-required", ""},
		{"a reload that no longer allows the user", false, func(t *testing.T, g *gateway, _ *http.Client, vars envVars, _ *redistest.Server) {
			g.writeConfig(withAddrs(vars, g), baseConfig+strings.Replace(liveConfig, "domains: [example.com]", "domains: [corp.example]", 1))
			if err := g.srv.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
		}, "no-allow-rule-matched", ""},
		// The route is gone: the path now falls to the "/" route, whose
		// rules allow the user — but the exchange goes on to the upstream
		// of the route the reload removed, which no rule judges any more.
		{"a reload that removes the exchange's route", false, func(t *testing.T, g *gateway, _ *http.Client, vars envVars, _ *redistest.Server) {
			g.writeConfig(withAddrs(vars, g), baseConfig)
			if err := g.srv.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
		}, "route-not-found", ""},
		{"the session store stops answering", true, func(t *testing.T, _ *gateway, _ *http.Client, _ envVars, rs *redistest.Server) {
			rs.Stop()
		}, "evidence-unavailable", ""},
		// A public route is re-checked too: a reload that makes it private
		// (for others) ends its open exchanges.
		{"a reload that makes a public route private", false, func(t *testing.T, g *gateway, _ *http.Client, vars envVars, _ *redistest.Server) {
			g.writeConfig(withAddrs(vars, g), baseConfig+strings.Replace(liveConfig, "domains: [example.com]", "domains: [corp.example]", 1))
			if err := g.srv.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
		}, "no-allow-rule-matched", strings.Replace(liveConfig, "    rules:\n      allow:\n        - domains: [example.com]\n", "    public: true\n", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			toolDone := make(chan string, 2)
			m := newIdP(t)
			vars := idpVars(m, &upstream{Server: liveTool(t, toolDone)})
			var rs *redistest.Server
			if tc.redis {
				rs = redistest.Start(t)
				vars.Store, vars.RedisAddr = "redis", rs.Addr()
			}
			route := liveConfig
			if tc.route != "" {
				route = tc.route
			}
			g := startGateway(t, vars, baseConfig+route)
			c, resp, body := signIn(t, g, m, user("jane@example.com"), "/")
			mustStatus(t, resp, body, http.StatusOK)
			cookies := cookieHeader(c, g.URL)
			hostPort := strings.TrimPrefix(g.URL, "http://")

			events, err := c.Get(g.URL + "/live/events")
			if err != nil {
				t.Fatal(err)
			}
			defer events.Body.Close()
			ev := bufio.NewReader(events.Body)
			ws, err := net.Dial("tcp", hostPort)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			fmt.Fprintf(ws, "GET /live/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nCookie: %s\r\n\r\n",
				hostPort, cookies)
			wr := bufio.NewReader(ws)
			if res, err := http.ReadResponse(wr, nil); err != nil || res.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("expected 101, got %v, %v", res, err)
			}
			rechecks := func(decision string) int {
				n := 0
				for _, r := range g.audit() {
					if r.Kind == audit.KindDecision && strings.HasPrefix(r.Path, "/live/") && r.Decision == decision &&
						strings.HasPrefix(r.Detail, "re-check of an open exchange allowed at ") {
						n++
					}
				}
				return n
			}

			// Through at least two re-checks, both stay open.
			until := time.Now().Add(2500 * time.Millisecond)
			for time.Now().Before(until) {
				if line, err := ev.ReadString('\n'); err != nil {
					t.Fatalf("while the access holds: the event stream ended: %q, %v", line, err)
				}
			}
			_ = ws.SetDeadline(time.Now().Add(3 * time.Second))
			fmt.Fprint(ws, "hi")
			buf := make([]byte, 64)
			if _, err := io.ReadFull(wr, buf[:len("echo:hi")]); err != nil || string(buf[:len("echo:hi")]) != "echo:hi" {
				t.Fatalf("while the access holds: expected the WebSocket's echo, got %q, %v", buf[:len("echo:hi")], err)
			}
			if n := rechecks("allow"); n < 4 {
				t.Errorf("expected at least two re-checks of each exchange in the audit log, got %d", n)
			}

			tc.withdraw(t, g, c, vars, rs)
			withdrawn := time.Now()
			_ = ws.SetDeadline(time.Now().Add(4 * time.Second))
			var evErr error
			for evErr == nil {
				_, evErr = ev.ReadString('\n')
			}
			if evErr != io.ErrUnexpectedEOF && evErr != io.EOF || time.Since(withdrawn) > 3*time.Second {
				t.Errorf("expected the event stream cut at the next re-check, got %v after %s", evErr, time.Since(withdrawn))
			}
			for {
				n, err := wr.Read(buf)
				if err == nil {
					continue // what the tool echoed before
				}
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Errorf("expected the gateway to close the WebSocket at the next re-check, still open after %s", time.Since(withdrawn))
				}
				_ = n
				break
			}
			details := endedExchanges(t, g, toolDone, "/live/", 2)
			for i, p := range []string{"/live/events 200 ", "/live/ws 101 "} {
				if !strings.HasPrefix(details[i], p+"response cut off: a re-check withdrew the access at ") || !strings.Contains(details[i], " ("+tc.reason) {
					t.Errorf("response record %d: expected %q, the withdrawal and the reason %s, got %q", i, p, tc.reason, details[i])
				}
			}
			if n := rechecks("deny"); n != 2 {
				t.Errorf("expected one denying re-check per exchange in the audit log, got %d", n)
			}
			for _, r := range g.audit() {
				if tc.route == "" && strings.HasPrefix(r.Path, "/live/") && r.User != "jane@example.com" {
					t.Errorf("expected every record of the exchanges to name their user, got %q in %+v", r.User, r)
				}
			}
		})
	}
}

// liveTool is an upstream with a server-sent event stream that sends an
// event every 100 ms and a WebSocket-style upgrade that echoes bytes; it
// sends the path of each exchange that ended to done.
func liveTool(t *testing.T, done chan<- string) *httptest.Server {
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/live/events":
			w.Header().Set("Content-Type", "text/event-stream")
			for {
				fmt.Fprint(w, "data: tick\n\n")
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					done <- r.URL.Path
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		case "/live/ws":
			echoUpgraded(w, r, done)
		}
	}))
	t.Cleanup(tool.Close)
	return tool
}

// endedExchanges waits until the tool saw n exchanges end (their paths on
// toolDone) and the gateway wrote their response records (paths under
// prefix), and returns those as "path status detail", sorted.
func endedExchanges(t *testing.T, g *gateway, toolDone <-chan string, prefix string, n int) []string {
	t.Helper()
	seen := map[string]bool{}
	for len(seen) < n {
		select {
		case p := <-toolDone:
			seen[p] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("expected the tool to see %d exchanges end, saw %v", n, seen)
		}
	}
	var details []string
	eventually(t, fmt.Sprintf("%d response records", n), func() bool {
		details = details[:0]
		for _, r := range g.audit() {
			if r.Kind == audit.KindResponse && strings.HasPrefix(r.Path, prefix) {
				details = append(details, fmt.Sprintf("%s %d %s", r.Path, r.Status, r.Detail))
			}
		}
		return len(details) == n
	})
	sort.Strings(details)
	return details
}

// echoUpgraded switches the tool's side of r to a WebSocket-style
// connection that echoes what it reads ("echo:" and the bytes), and sends
// r's path to done when the gateway closes it.
func echoUpgraded(w http.ResponseWriter, r *http.Request, done chan<- string) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	rw.Flush()
	buf := make([]byte, 64)
	for {
		n, err := rw.Read(buf)
		if err != nil {
			done <- r.URL.Path
			return
		}
		rw.Write(append([]byte("echo:"), buf[:n]...))
		rw.Flush()
	}
}

// cookieHeader is the Cookie header c's jar sends to u.
func cookieHeader(c *http.Client, u string) string {
	var cookies []string
	for _, ck := range c.Jar.Cookies(mustURL(u)) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}
	return strings.Join(cookies, "; ")
}

// TestReChecksJudgeTheClientAddressAgain: a re-check takes the client's
// address as a new request would, on the configuration in force: once a
// reload no longer trusts the proxy whose X-Forwarded-For placed the client
// inside the route's source_cidrs, a new request from the same peer is
// judged by the peer's own address (denied), and so is the open exchange.
func TestReChecksJudgeTheClientAddressAgain(t *testing.T) {
	// The live route, allowing only clients inside 10.0.0.0/8.
	const sourceRoute = liveConfig + "          source_cidrs: [10.0.0.0/8]\n"
	const trusted = "\ntrusted_proxies: [127.0.0.1/32]\n"
	toolDone := make(chan string, 1)
	m := newIdP(t)
	vars := idpVars(m, &upstream{Server: liveTool(t, toolDone)})
	g := startGateway(t, vars, baseConfig+sourceRoute+trusted)
	c, resp, body := signIn(t, g, m, user("jane@example.com"), "/")
	mustStatus(t, resp, body, http.StatusOK)

	req, _ := http.NewRequest("GET", g.URL+"/live/events", nil)
	req.Header.Set("X-Forwarded-For", "10.9.8.7")
	events, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer events.Body.Close()
	if events.StatusCode != http.StatusOK {
		t.Fatalf("from 10.9.8.7 through a trusted proxy: expected 200, got %d", events.StatusCode)
	}
	ev := bufio.NewReader(events.Body)
	if _, err := ev.ReadString('\n'); err != nil {
		t.Fatal(err)
	}

	// The proxy is no longer trusted: a new request from it is judged by
	// its own address, 127.0.0.1, outside the route's source_cidrs.
	g.writeConfig(withAddrs(vars, g), baseConfig+sourceRoute)
	if err := g.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("GET", g.URL+"/live/x", nil)
	req.Header.Set("X-Forwarded-For", "10.9.8.7")
	resp, body = do(t, c, req)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a new request after the reload: expected 403, got %d: %s", resp.StatusCode, pageSummary(body))
	}

	withdrawn := time.Now()
	var evErr error
	for evErr == nil && time.Since(withdrawn) < 4*time.Second {
		_, evErr = ev.ReadString('\n')
	}
	if evErr == nil || time.Since(withdrawn) > 3*time.Second {
		t.Fatalf("expected the event stream cut at the next re-check, still open after %s (%v)", time.Since(withdrawn), evErr)
	}
	details := endedExchanges(t, g, toolDone, "/live/events", 1)
	if !strings.HasPrefix(details[0], "/live/events 200 response cut off: a re-check withdrew the access at ") ||
		!strings.Contains(details[0], "(no-allow-rule-matched") {
		t.Errorf("response record: expected the re-check's withdrawal (no-allow-rule-matched), got %q", details[0])
	}
}

// TestReChecksRefuseAnUpgradeTheRouteNoLongerAllows: once a reload takes
// websocket off a route's upgrades, a new WebSocket is refused (400) and
// the re-check of one still open ends it.
func TestReChecksRefuseAnUpgradeTheRouteNoLongerAllows(t *testing.T) {
	toolDone := make(chan string, 1)
	m := newIdP(t)
	vars := idpVars(m, &upstream{Server: liveTool(t, toolDone)})
	g := startGateway(t, vars, baseConfig+liveConfig)
	c, resp, body := signIn(t, g, m, user("jane@example.com"), "/")
	mustStatus(t, resp, body, http.StatusOK)
	cookies := cookieHeader(c, g.URL)
	hostPort := strings.TrimPrefix(g.URL, "http://")
	openWS := func() (net.Conn, *bufio.Reader, int) {
		ws, err := net.Dial("tcp", hostPort)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		_ = ws.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(ws, "GET /live/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nCookie: %s\r\n\r\n", hostPort, cookies)
		wr := bufio.NewReader(ws)
		res, err := http.ReadResponse(wr, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ws, wr, res.StatusCode
	}
	ws, wr, status := openWS()
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("expected 101, got %d", status)
	}

	g.writeConfig(withAddrs(vars, g), baseConfig+strings.Replace(liveConfig, "recheck_interval: 1s", "recheck_interval: 1s\n    upgrades: []", 1))
	if err := g.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, status := openWS(); status != http.StatusBadRequest {
		t.Fatalf("a new WebSocket after the reload: expected 400, got %d", status)
	}

	withdrawn := time.Now()
	_ = ws.SetDeadline(time.Now().Add(4 * time.Second))
	buf := make([]byte, 64)
	for {
		_, err := wr.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("expected the re-check to close the WebSocket, still open after %s", time.Since(withdrawn))
		}
		break
	}
	select {
	case <-toolDone:
	case <-time.After(5 * time.Second):
		t.Fatal("expected the tool's side of the WebSocket closed")
	}
	var detail string
	eventually(t, "the WebSocket's response record", func() bool {
		for _, r := range g.audit() {
			if r.Kind == audit.KindResponse && r.Path == "/live/ws" && r.Status == http.StatusSwitchingProtocols {
				detail = r.Detail
				return true
			}
		}
		return false
	})
	if !strings.HasPrefix(detail, "response cut off: a re-check withdrew the access at ") || !strings.Contains(detail, "(bad-request") {
		t.Errorf("response record: expected the re-check's withdrawal (bad-request), got %q", detail)
	}
}

// TestUpgradedConnectionTheToolClosedEndsWithTheAccess: a tool that ends
// its side of an upgraded connection first (the gateway passes the close
// on as a half-close) leaves the client's side open for the client to
// write; once the access is withdrawn the gateway closes that side too, and
// the exchange ends with its response record, instead of waiting for the
// client to close.
func TestUpgradedConnectionTheToolClosedEndsWithTheAccess(t *testing.T) {
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/live/ws" {
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nbye")
		rw.Flush()
		conn.Close()
	}))
	t.Cleanup(tool.Close)
	m := newIdP(t)
	vars := idpVars(m, &upstream{Server: tool})
	g := startGateway(t, vars, baseConfig+liveConfig)
	c, resp, body := signIn(t, g, m, user("jane@example.com"), "/")
	mustStatus(t, resp, body, http.StatusOK)
	hostPort := strings.TrimPrefix(g.URL, "http://")
	ws, err := net.Dial("tcp", hostPort)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(ws, "GET /live/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nCookie: %s\r\n\r\n", hostPort, cookieHeader(c, g.URL))
	wr := bufio.NewReader(ws)
	if res, err := http.ReadResponse(wr, nil); err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("expected 101, got %v, %v", res, err)
	}
	if b, err := io.ReadAll(wr); string(b) != "bye" || err != nil {
		t.Fatalf("expected the tool's bytes and its close, got %q, %v", b, err)
	}

	// The client keeps its side open; the access is withdrawn (sign-out).
	resp, body = get(t, c, g.URL+"/.gateway/sign-out")
	req, _ := http.NewRequest("POST", g.URL+"/.gateway/sign-out", strings.NewReader("csrf="+between(body, `name="csrf" value="`, `"`)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body = do(t, c, req)
	mustStatus(t, resp, body, http.StatusOK)
	var detail string
	deadline := time.Now().Add(4 * time.Second)
	for detail == "" && time.Now().Before(deadline) {
		for _, r := range g.audit() {
			if r.Kind == audit.KindResponse && r.Path == "/live/ws" {
				detail = r.Detail
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(detail, "response cut off: a re-check withdrew the access at ") {
		t.Fatalf("expected the exchange ended by the re-check, with its response record; got %q", detail)
	}
}
