package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/store"
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
	m.ExchangesEnded.WithLabelValues("r", "withdrawn").Inc()
	m.RegisterAudit(func() audit.Stats { return audit.Stats{} })
	m.RegisterSessionCache(func() store.CacheStats { return store.CacheStats{} })
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
			if out := scrape(m); !strings.Contains(out, "\n"+tc.want+"\n") {
				t.Errorf("expected %q in the scrape, got:\n%s", tc.want, out)
			}
		})
	}
}

// The local cache's metrics read the store's counters at each scrape.
func TestSessionCache(t *testing.T) {
	m := New()
	var st store.CacheStats
	m.RegisterSessionCache(func() store.CacheStats { return st })
	for _, tc := range []struct {
		name string
		st   store.CacheStats
		want []string
	}{
		{"cache off", store.CacheStats{}, []string{NameSessionCacheServing + " 0", NameSessionCacheHits + " 0", NameSessionCacheMisses + " 0"}},
		{"serving", store.CacheStats{Hits: 41, Misses: 3, Serving: true, Entries: 2}, []string{NameSessionCacheServing + " 1", NameSessionCacheHits + " 41", NameSessionCacheMisses + " 3"}},
		{"connection down", store.CacheStats{Hits: 41, Misses: 9}, []string{NameSessionCacheServing + " 0", NameSessionCacheHits + " 41", NameSessionCacheMisses + " 9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st = tc.st
			out := scrape(m)
			for _, w := range tc.want {
				if !strings.Contains(out, "\n"+w+"\n") {
					t.Errorf("expected %q in the scrape, got:\n%s", w, out)
				}
			}
		})
	}
}

// scrape is what Prometheus reads from m.
func scrape(m *Metrics) string {
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	return w.Body.String()
}
