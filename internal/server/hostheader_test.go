package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// The route is chosen by the Host's name (without port), and the upstream
// receives the Host itself (preserve_host) and as X-Forwarded-Host: a Host
// whose "port" holds another host ("tool.example:1,admin.example", which
// Go's server accepts and net.SplitHostPort reads as tool.example) would be
// judged as tool.example and read by the upstream as admin.example (Rack
// takes the last element of X-Forwarded-Host). It is refused before routing.
func TestMalformedHostRefused(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(up.Close)
	m := startMockIdP(t)
	c := m.Config()
	cfg := loadDevConfig(t, `public_url: http://gw.example
oidc: {issuer: "`+c.Issuer+`", client_id: "`+c.ClientID+`", client_secret: "`+c.ClientSecret+`"}
log: {level: error}
routes:
  - name: status
    host: tool.example
    public: true
    preserve_host: true
    upstream: `+up.URL+`
`)
	srv, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, tc := range []struct {
		host string
		want int
	}{
		{"tool.example", http.StatusOK},
		{"TOOL.example:8080", http.StatusOK},
		{"tool.example:1,admin.example", http.StatusBadRequest},
		{"tool.example:443;admin.example", http.StatusBadRequest},
		{"tool.example:x", http.StatusBadRequest},
		{"[tool.example]", http.StatusBadRequest},
	} {
		before := hits.Load()
		r := httptest.NewRequest(http.MethodGet, "http://gw.example/", nil)
		r.Host = tc.host
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("Host %q: status %d, want %d", tc.host, w.Code, tc.want)
		}
		if reached := hits.Load() != before; reached != (tc.want == http.StatusOK) {
			t.Errorf("Host %q: upstream reached = %v", tc.host, reached)
		}
	}
}
