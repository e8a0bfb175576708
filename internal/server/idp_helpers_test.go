package server

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/accessgateway/gateway/internal/config"
)

// startMockIdP starts a mockoidc provider on loopback with the given
// middleware in front of its endpoints; it stops with the test.
func startMockIdP(t testing.TB, middleware ...func(http.Handler) http.Handler) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, mw := range middleware {
		if err := m.AddMiddleware(mw); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
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
