package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/accessgateway/gateway/internal/audit"
)

// Every name constant is a registered metric (so the monitoring files'
// test, which checks names against Names, checks real metrics).
func TestNamesAreRegistered(t *testing.T) {
	m := New()
	m.Requests.WithLabelValues("r", "allow", "x").Inc()
	m.Upstream.WithLabelValues("r").Observe(1)
	m.StoreErrors.WithLabelValues("load").Inc()
	m.Reloads.WithLabelValues("ok").Inc()
	m.CertificateExpiry.WithLabelValues("/tls.crt").Set(1)
	m.Grants.WithLabelValues("break-glass", "r").Inc()
	m.RegisterAudit(func() audit.Stats { return audit.Stats{} })
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range fams {
		got[f.GetName()] = true
	}
	for _, n := range Names() {
		if !got[n] {
			t.Errorf("expected metric %s to be registered, got none", n)
		}
	}
}

func TestIdentityProviderUp(t *testing.T) {
	m := New()
	scrape := func() string {
		w := httptest.NewRecorder()
		m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		return w.Body.String()
	}
	for _, tc := range []struct {
		name string
		set  func()
		want string
	}{
		{"no observer yet", func() {}, NameIdentityProviderUp + " 0"},
		{"provider discovered", func() { m.ObserveIdentityProvider(func() bool { return true }) }, NameIdentityProviderUp + " 1"},
		{"provider lost", func() { m.ObserveIdentityProvider(func() bool { return false }) }, NameIdentityProviderUp + " 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.set()
			if out := scrape(); !strings.Contains(out, "\n"+tc.want+"\n") {
				t.Errorf("expected %q in the scrape, got:\n%s", tc.want, out)
			}
		})
	}
}
