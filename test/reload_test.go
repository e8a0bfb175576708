package test

import (
	"context"
	"net/http"
	"testing"
	"time"
)

const extraRoute = `
  - name: reports
    host: {{.Host}}
    path: /reports
    upstream: {{.Upstream}}
    rules:
      allow:
        - groups: [finance]
`

// eventually polls f until it returns true or 5 s pass.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestHotReloadGoodAndBadFile(t *testing.T) {
	m := newIdP(t)
	up := newUpstream(t)
	vars := idpVars(m, up)
	g := startGateway(t, vars, baseConfig)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := g.srv.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	c, resp, body := signIn(t, g, m, user("jane@example.com"), "/")
	mustStatus(t, resp, body, 200)
	// Before: /reports belongs to the catch-all route (example.com allowed).
	resp, body = get(t, noFollow(c), g.URL+"/reports/q3")
	mustStatus(t, resp, body, 200)

	// A good file: the new route (finance only) applies, and the in-memory
	// session survives the reload.
	vars2 := vars
	g.writeConfig(withAddrs(vars2, g), baseConfig+extraRoute)
	eventually(t, "the new route to apply", func() bool {
		resp, _ := get(t, noFollow(c), g.URL+"/reports/q3")
		return resp.StatusCode == http.StatusForbidden
	})
	resp, body = get(t, noFollow(c), g.URL+"/")
	mustStatus(t, resp, body, 200)

	// A bad file is rejected and the last good config keeps serving.
	g.writeConfig(withAddrs(vars2, g), baseConfig+extraRoute+"\nunknown_key: 1\n")
	time.Sleep(500 * time.Millisecond)
	if err := g.srv.Reload(ctx); err == nil {
		t.Fatal("reload of a bad file succeeded")
	}
	resp, body = get(t, noFollow(c), g.URL+"/reports/q3")
	mustStatus(t, resp, body, http.StatusForbidden)
	resp, body = get(t, noFollow(c), g.URL+"/")
	mustStatus(t, resp, body, 200)
	if n := len(g.srv.Config().Routes); n != 4 {
		t.Errorf("config in force has %d routes, want the last good one's 4", n)
	}
}

func withAddrs(v envVars, g *gateway) envVars {
	v.PublicURL, v.Host = g.URL, g.Host
	if g.auditPath != "" {
		v.AuditFile = g.auditPath
	}
	if v.Store == "" {
		v.Store = "memory"
	}
	return v
}
