package test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/gatewaytest"
)

// TestUpstreamTimeout: a tool that does not send its response headers
// within the route's upstream_timeout gets the user a 504 page (and the
// response record says 504); a slow body is not cut off by it; a route with
// upstream_timeout 0 waits as long as the client does.
func TestUpstreamTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	up := gatewaytest.NewUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow-headers", "/unbounded/slow-headers":
			select {
			case <-time.After(1500 * time.Millisecond):
			case <-release:
			}
		case "/slow-body":
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			time.Sleep(600 * time.Millisecond)
			_, _ = w.Write([]byte("done"))
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	idp := gatewaytest.NewIdP(t)
	g := gatewaytest.Start(t, gatewaytest.Vars{IdP: idp, Upstream: up.URL}, `routes:
  - name: bounded
    host: {{.Host}}
    upstream: {{.Upstream}}
    upstream_timeout: 300ms
    rules: {allow: [{domains: [example.com]}]}
  - name: unbounded
    host: {{.Host}}
    path: /unbounded
    upstream: {{.Upstream}}
    upstream_timeout: 0s
    rules: {allow: [{domains: [example.com]}]}
`)
	c := g.SignIn(t, idp, gatewaytest.User("sam@example.com"), "/")
	get := func(path string) (int, string, time.Duration) {
		start := time.Now()
		resp, err := c.Get(g.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), time.Since(start)
	}
	status, body, took := get("/slow-headers")
	if status != http.StatusGatewayTimeout || !strings.Contains(body, "did not answer in time") {
		t.Errorf("slow headers: status %d after %s, want 504 with the page; body %.200s", status, took, body)
	}
	if took > 1200*time.Millisecond {
		t.Errorf("slow headers: answered after %s, want about the 300ms timeout", took)
	}
	if status, body, _ := get("/slow-body"); status != http.StatusOK || body != "done" {
		t.Errorf("slow body: status %d, body %q; the timeout must not cut a body off", status, body)
	}
	if status, body, took := get("/unbounded/slow-headers"); status != http.StatusOK || body != "ok" || took < 1400*time.Millisecond {
		t.Errorf("upstream_timeout 0: status %d, body %q after %s, want the answer after 1.5s", status, body, took)
	}
	// The response record of the timed-out request says 504.
	found := false
	for deadline := time.Now().Add(3 * time.Second); !found && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, rec := range g.Audit(t) {
			if rec["kind"] == "response" && rec["path"] == "/slow-headers" && rec["status"] == float64(http.StatusGatewayTimeout) {
				found = true
			}
		}
	}
	if !found {
		t.Error("no response record with status 504 for the timed-out request")
	}
}
