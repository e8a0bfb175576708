package faults

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// An invalid configuration is written over the watched file of a running
// gateway: the reload is rejected (log line, gateway_config_reloads_total
// {result="error"}, gateway_config_last_reload_successful 0), the old rules
// keep serving and /readyz stays 200. A valid change then applies.
func TestInvalidReloadKeepsTheLastGoodConfiguration(t *testing.T) {
	t.Parallel()
	p := newIdP(t)
	up := newTool(t)
	cfg := p.gatewayFor(up.URL)
	g := newGateway(t, cfg)
	c := noFollow(signIn(t, g, p, "/"))
	rejected := max(g.metric(`gateway_config_reloads_total{result="error"}`), 0)

	// Valid YAML, invalid configuration: a route without its upstream.
	g.writeConfig([]byte(strings.Replace(mustRead(t, g), `upstream: "`+up.URL+`", `, "", 1)))
	eventually(t, 10*time.Second, "the reload to be rejected", func() bool {
		return g.metric(`gateway_config_reloads_total{result="error"}`) > rejected
	})
	if v := g.metric("gateway_config_last_reload_successful"); v != 0 {
		t.Errorf("gateway_config_last_reload_successful after a rejected reload: expected 0, got %v", v)
	}
	if !strings.Contains(g.log(), "config reload rejected") || !strings.Contains(g.log(), "upstream") {
		t.Error("the log does not say the reload was rejected and why")
	}
	if code, body := get(t, c, g.url+"/still-served"); code != http.StatusOK {
		t.Errorf("after the rejected reload: expected the old rules to serve (200), got %d: %.300s", code, body)
	}
	if code, body := g.ready(); code != http.StatusOK {
		t.Errorf("/readyz after the rejected reload: expected 200, got %d %q", code, body)
	}
	if code, _ := get(t, browser(true), g.url+"/status"); code != http.StatusFound {
		t.Fatalf("before the valid change: expected /status to need a sign-in (302), got %d", code)
	}

	cfg.Extra = `  - {name: status, host: 127.0.0.1, path: /status, upstream: "` + up.URL + `", public: true}`
	g.configure(cfg)
	eventually(t, 10*time.Second, "the valid change to apply", func() bool {
		code, _ := get(t, browser(true), g.url+"/status")
		return code == http.StatusOK
	})
	if v := g.metric("gateway_config_last_reload_successful"); v != 1 {
		t.Errorf("gateway_config_last_reload_successful after the valid change: expected 1, got %v", v)
	}
	if code, _ := get(t, c, g.url+"/after"); code != http.StatusOK {
		t.Errorf("the signed-in session after the reloads: expected 200, got %d", code)
	}
}

// mustRead is the gateway's configuration file.
func mustRead(t *testing.T, g *gateway) string {
	t.Helper()
	b, err := readFile(g.dir, "gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}
