package test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/accessgateway/gateway/contexttoken"
)

// An upstream behind the gateway verifies the context token with the public
// package against the gateway's JWKS fetched over HTTP.
func TestContextTokenVerifiedByUpstream(t *testing.T) {
	m := newIdP(t)
	var (
		once    sync.Once
		gwURL   string
		v       *contexttoken.Verifier
		initErr error
	)
	var upURL string
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() {
			v, initErr = contexttoken.NewVerifier(context.Background(), contexttoken.Config{
				JWKSURL: gwURL + "/.well-known/gateway/jwks.json", Issuer: gwURL, Audiences: []string{upURL},
			})
		})
		if initErr != nil {
			http.Error(w, initErr.Error(), 500)
			return
		}
		contexttoken.Middleware(v, "")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := contexttoken.FromContext(r.Context())
			_ = json.NewEncoder(w).Encode(c)
		})).ServeHTTP(w, r)
	}))
	defer tool.Close()
	upURL = tool.URL
	vars := envVars{Issuer: m.Config().Issuer, ClientID: m.Config().ClientID, ClientSecret: m.Config().ClientSecret, Upstream: tool.URL}
	g := startGateway(t, vars, baseConfig)
	gwURL = g.URL

	c, resp, body := signIn(t, g, m, user("jane@example.com", "engineering", "admins"), "/x")
	mustStatus(t, resp, body, 200)
	var claims contexttoken.Claims
	if err := json.Unmarshal([]byte(body), &claims); err != nil {
		t.Fatalf("tool answer: %v: %s", err, body)
	}
	if claims.Email != "jane@example.com" || claims.Route != "tool" || claims.Issuer != g.URL ||
		len(claims.Audience) != 1 || claims.Audience[0] != tool.URL || claims.SourceIP != "127.0.0.1" ||
		len(claims.Groups) != 2 || claims.Subject == "" || claims.ID == "" {
		t.Errorf("verified claims = %+v", claims)
	}
	if d := int64(claims.Expiry) - int64(claims.IssuedAt); d <= 0 || d > 300 {
		t.Errorf("token lifetime %d s, want (0, 300]", d)
	}

	// A spoofed inbound token never reaches the tool: the tool verifies the
	// gateway's own token, so a forged one would fail there.
	req, _ := http.NewRequest("GET", g.URL+"/y", nil)
	req.Header.Set("X-Gateway-Context", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.")
	req.Header.Set("x_gateway_context", "forged")
	resp, body = do(t, c, req)
	mustStatus(t, resp, body, 200)

	// The JWKS on a routed host and on the admin listener serve EC P-256 keys.
	admin := newAdmin(t, g)
	for _, u := range []string{g.URL + "/.well-known/gateway/jwks.json", g.adminURL + "/.well-known/gateway/jwks.json"} {
		resp, body := get(t, admin, u)
		mustStatus(t, resp, body, 200)
		var set jose.JSONWebKeySet
		if err := json.Unmarshal([]byte(body), &set); err != nil || len(set.Keys) == 0 {
			t.Fatalf("%s: %v %s", u, err, body)
		}
		if k := set.Keys[0]; k.Algorithm != "ES256" || !k.IsPublic() || !strings.Contains(body, `"crv":"P-256"`) {
			t.Errorf("%s: key %+v", u, k)
		}
		if resp.Header.Get("Cache-Control") == "" {
			t.Errorf("%s: no Cache-Control", u)
		}
	}
}
