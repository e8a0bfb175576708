// Package mockidp starts the mock OpenID provider (mockoidc) the tests sign
// in with. It imports nothing of the gateway, so the server's own tests
// use it as well as gatewaytest (which imports the server).
package mockidp

import (
	"net"
	"net/http"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
)

// Start starts a mockoidc provider (code flow with PKCE, S256) on
// loopback, with the given middleware in front of its endpoints; it stops
// with the test.
func Start(t testing.TB, middleware ...func(http.Handler) http.Handler) *mockoidc.MockOIDC {
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
	m.CodeChallengeMethodsSupported = []string{"S256"}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}
