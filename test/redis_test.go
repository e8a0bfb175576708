package test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/accessgateway/gateway/internal/store/redistest"
)

// noFollow is a browser that shows each redirect instead of following it.
func noFollow(c *http.Client) *http.Client {
	return &http.Client{Jar: c.Jar, Transport: c.Transport, Timeout: c.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func TestTwoGatewaysShareSessionsInRedis(t *testing.T) {
	rs := redistest.Start(t)
	m := newIdP(t)
	up := newUpstream(t)
	vars := idpVars(m, up)
	vars.Store, vars.RedisAddr = "redis", rs.Addr()
	a := startGateway(t, vars, baseConfig)
	b := startGateway(t, vars, baseConfig)

	c, resp, body := signIn(t, a, m, user("jane@example.com"), "/")
	mustStatus(t, resp, body, 200)
	// Cookies are per host, not per port: the same browser now calls replica b.
	resp, body = get(t, noFollow(c), b.URL+"/from-b")
	mustStatus(t, resp, body, 200)
	if jsonField(t, body, "path") != "/from-b" {
		t.Errorf("replica b did not proxy: %s", body)
	}

	// Sign out at b ends the session at a too.
	resp, body = get(t, c, b.URL+"/.gateway/sign-out")
	csrf := between(body, `name="csrf" value="`, `"`)
	req, _ := http.NewRequest("POST", b.URL+"/.gateway/sign-out", strings.NewReader("csrf="+csrf))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body = do(t, c, req)
	mustStatus(t, resp, body, 200)
	resp, body = get(t, noFollow(c), a.URL+"/after")
	mustStatus(t, resp, body, http.StatusFound)
}

func TestRedisDownFailsClosedAndRecovers(t *testing.T) {
	rs := redistest.Start(t)
	m := newIdP(t)
	up := newUpstream(t)
	vars := idpVars(m, up)
	vars.Store, vars.RedisAddr = "redis", rs.Addr()
	g := startGateway(t, vars, baseConfig)
	admin := newAdmin(t, g)

	c, resp, body := signIn(t, g, m, user("jane@example.com"), "/")
	mustStatus(t, resp, body, 200)
	hitsBefore := up.hits.Load()

	rs.Stop()
	resp, body = get(t, noFollow(c), g.URL+"/while-down")
	mustStatus(t, resp, body, http.StatusServiceUnavailable)
	if !strings.Contains(body, "session store") {
		t.Errorf("503 page does not say what failed: %.400s", body)
	}
	resp, body = get(t, noFollow(c), g.URL+"/while-down", "Accept", "application/json")
	mustStatus(t, resp, body, http.StatusServiceUnavailable)
	// A browser without a session is not sent into a sign-in loop either.
	resp, body = get(t, noFollow(browser(t)), g.URL+"/anon")
	mustStatus(t, resp, body, http.StatusServiceUnavailable)
	if up.hits.Load() != hitsBefore {
		t.Fatal("a request reached the upstream while the session store was down")
	}
	resp, body = get(t, admin, g.adminURL+"/readyz")
	mustStatus(t, resp, body, http.StatusServiceUnavailable)
	// A sign-out that cannot reach the store must not claim it happened.
	req, _ := http.NewRequest("POST", g.URL+"/.gateway/sign-out", strings.NewReader("csrf=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body = do(t, noFollow(c), req)
	mustStatus(t, resp, body, http.StatusServiceUnavailable)
	if strings.Contains(body, "Signed out") {
		t.Errorf("sign-out page claims success while the store is down: %.300s", body)
	}

	rs.Restart()
	// The restarted Redis kept nothing (no persistence in tests): the user
	// signs in again, and everything works without restarting the gateway.
	m.QueueUser(user("jane@example.com"))
	resp, body = get(t, c, g.URL+"/after-restart")
	mustStatus(t, resp, body, 200)
	resp, body = get(t, admin, g.adminURL+"/readyz")
	mustStatus(t, resp, body, 200)

	var denied503 int
	for _, r := range g.audit() {
		if r.Decision == "deny" && r.Status == 503 && len(r.Reasons) > 0 && r.Reasons[0] == "evidence-unavailable" {
			denied503++
		}
	}
	if denied503 < 2 {
		t.Errorf("audit has %d evidence-unavailable denials, want >= 2", denied503)
	}
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, b)
	if j < 0 {
		return ""
	}
	return s[:j]
}
