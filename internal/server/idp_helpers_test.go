package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/gatewaytest/mockidp"
)

// startMockIdP starts a mock provider for the test (mockidp.Start).
func startMockIdP(t testing.TB, middleware ...func(http.Handler) http.Handler) *mockoidc.MockOIDC {
	t.Helper()
	return mockidp.Start(t, middleware...)
}

// loadDevConfig writes yml to a file and loads it as gateway dev --config
// does (plain http allowed on any host).
func loadDevConfig(t testing.TB, yml string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(path, config.Options{Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// toolServer builds a server whose public URL is http://gw.example and whose
// one route serves tool.example (corp.example allowed) from upstream, with
// m as provider; oidcExtra is added to the oidc mapping (", key: value"),
// routeExtra to the route's lines. It closes with the test.
func toolServer(t testing.TB, m *mockoidc.MockOIDC, upstream, oidcExtra, routeExtra string) *Server {
	t.Helper()
	c := m.Config()
	cfg := loadDevConfig(t, `public_url: http://gw.example
oidc: {issuer: "`+c.Issuer+`", client_id: "`+c.ClientID+`", client_secret: "`+c.ClientSecret+`"`+oidcExtra+`}
session: {cookie_domain: example}
log: {level: error}
routes:
  - name: tool
    host: tool.example
`+routeExtra+`    upstream: `+upstream+`
    rules:
      allow: [{domains: [corp.example]}]
`)
	srv, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}
