package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/metrics"
)

// A file whose own policy tests fail is rejected by a reload exactly like an
// invalid file: the last good configuration keeps serving, the rejection is
// counted, and PolicyTests (what `gateway serve` and `check` run) agrees.
func TestReloadRejectsFailingPolicyTests(t *testing.T) {
	const base = `public_url: http://127.0.0.1:8080
oidc: {issuer: "http://127.0.0.1:1", client_id: gw}
routes:
  - name: app
    host: 127.0.0.1
    upstream: http://127.0.0.1:9000
    rules: {allow: [{domains: [corp.example]}]}
tests:
  - {name: staff may use app, route: app, expect: allow, user: {email: sam@corp.example}}
`
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(base)
	opts := config.Options{Dev: true}
	cfg, err := config.LoadFile(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := PolicyTests(cfg); err != nil {
		t.Fatalf("PolicyTests of the good file: %v", err)
	}
	m := metrics.New()
	// The provider (127.0.0.1:1) is unreachable: the gateway builds anyway.
	s, err := New(context.Background(), cfg, Options{ConfigPath: path, LoadOptions: opts, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// The new file narrows the rule so its own test fails.
	bad := strings.Replace(base, "domains: [corp.example]", "domains: [other.example]", 1)
	write(bad)
	err = s.Reload(context.Background())
	var pe *PolicyTestsError
	if !errors.As(err, &pe) || len(pe.Failed) != 1 || pe.Total != 1 || !strings.Contains(err.Error(), "FAIL staff may use app: expected allow, got deny") {
		t.Fatalf("reload of a file whose policy test fails: expected a PolicyTestsError naming the test, got %v", err)
	}
	if got := s.Config().Routes[0].Rules.Allow[0].Domains[0]; got != "corp.example" {
		t.Errorf("the rejected file is in force: allow domains %q", got)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `gateway_config_reloads_total{result="error"} 1`) {
		t.Errorf("expected gateway_config_reloads_total{result=\"error\"} 1 in the metrics")
	}
	badCfg, err := config.LoadFile(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := PolicyTests(badCfg); !errors.As(err, &pe) {
		t.Errorf("PolicyTests (serve and check) disagrees with the reload: %v", err)
	}

	// A good file is taken.
	write(strings.Replace(base, "sam@corp.example", "sam@corp.example}}\n  - {name: others may not, route: app, expect: deny, user: {email: x@other.example", 1))
	if err := s.Reload(context.Background()); err != nil {
		t.Fatalf("reload of a good file: %v", err)
	}
	if n := len(s.Config().Tests); n != 2 {
		t.Errorf("expected the new file's 2 tests in force, got %d", n)
	}
}
