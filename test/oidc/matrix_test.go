package oidc

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/accessgateway/gateway/internal/server"
)

// row is one provider of the matrix and what the context token must carry.
type row struct {
	name  string
	start func(t *testing.T, gwURL string) *provider
	// wantSub, wantEmail and wantGroups are the context token's claims.
	wantSub, wantEmail string
	wantGroups         []string
	// signedOut is a part of the page the browser ends on after sign-out.
	signedOut string
	// endSession: the provider must have received an RP-initiated logout
	// with the session's ID token and the gateway's post-logout URL.
	endSession bool
}

func (r row) run(t *testing.T) {
	up := newUpstream(t)
	g := newGateway(t)
	p := r.start(t, g.URL)
	g.start(t, gwVars{Issuer: p.issuer, ClientID: p.clientID, ClientSecret: p.secret, OIDCExtra: p.oidc}, up, server.Options{})
	if code, body := g.readyz(t); code != http.StatusOK {
		t.Fatalf("readyz: expected 200, got %d %s", code, body)
	}

	// Sign in: the gateway sends the browser to the provider, the provider's
	// own sign-in step runs, and the browser lands back on the tool.
	c := browser(t, p.browserTLS)
	if p.queue != nil {
		p.queue()
	}
	resp, body := get(t, c, g.URL+"/reports/q3?x=1")
	if p.login != nil {
		resp, body = p.login(t, c, resp, body)
	}
	mustStatus(t, resp, body, http.StatusOK)
	if got := resp.Request.URL.String(); got != g.URL+"/reports/q3?x=1" {
		t.Errorf("landed on %s, expected the page the sign-in started from", got)
	}

	// The upstream verified the context token; its claims are the identity.
	claims := claimsOf(t, body)
	if claims.Subject != r.wantSub || claims.Email != r.wantEmail || !slices.Equal(claims.Groups, r.wantGroups) {
		t.Errorf("context token: expected sub %q email %q groups %v, got %q %q %v",
			r.wantSub, r.wantEmail, r.wantGroups, claims.Subject, claims.Email, claims.Groups)
	}
	if claims.Issuer != g.URL || claims.Route != "tool" || !claims.Audience.Contains(up.URL) {
		t.Errorf("context token: expected iss %s, route tool, aud %s; got %+v", g.URL, up.URL, claims)
	}

	// Sign out.
	resp, body = signOut(t, c, g)
	mustStatus(t, resp, body, http.StatusOK)
	if !strings.Contains(body, r.signedOut) {
		t.Errorf("after sign-out: expected a page containing %q, got %s: %.400s", r.signedOut, resp.Request.URL, body)
	}
	if r.endSession {
		ends := p.endSessions()
		if len(ends) != 1 {
			t.Fatalf("expected one end_session request at the provider, got %d", len(ends))
		}
		q := ends[0]
		if q.Get("post_logout_redirect_uri") != g.URL+"/.gateway/sign-out" || q.Get("client_id") != p.clientID {
			t.Errorf("end_session: expected post_logout_redirect_uri and client_id of the gateway, got %v", q)
		}
		// The hint is the session's ID token, issued to the gateway for this user.
		hint := q.Get("id_token_hint")
		v := oidcVerifier(t, p)
		idt, err := v.Verify(t.Context(), hint)
		if err != nil || idt.Subject != r.wantSub {
			t.Errorf("id_token_hint: expected an ID token for %s, got %v (%.40s)", r.wantSub, err, hint)
		}
		if resp.Request.URL.String() != g.URL+"/.gateway/sign-out" {
			t.Errorf("after the provider's sign-out: expected to land on %s/.gateway/sign-out, got %s", g.URL, resp.Request.URL)
		}
	}
	resp, body = get(t, noFollow(c), g.URL+"/reports/q3")
	mustStatus(t, resp, body, http.StatusFound)
	if !strings.HasPrefix(resp.Header.Get("Location"), strings.TrimSuffix(p.issuer, "/")) {
		t.Errorf("after sign-out: expected a new sign-in at the provider, got Location %q", resp.Header.Get("Location"))
	}
}

// oidcVerifier verifies ID tokens of p for its client (expiry not checked:
// the hint may be an ID token the provider issued a while ago).
func oidcVerifier(t *testing.T, p *provider) *oidc.IDTokenVerifier {
	t.Helper()
	prov, err := oidc.NewProvider(t.Context(), p.issuer)
	if err != nil {
		t.Fatal(err)
	}
	return prov.Verifier(&oidc.Config{ClientID: p.clientID, SkipExpiryCheck: true})
}

func TestConformance(t *testing.T) {
	rows := []row{
		{name: "embedded dev provider, RP-initiated logout",
			start:   startDevIdP,
			wantSub: "dev-support", wantEmail: "support@dev.example", wantGroups: []string{"support"},
			signedOut: "Signed out", endSession: true},
		{name: "mockoidc",
			start: func(t *testing.T, _ string) *provider {
				_, p := startMockOIDC(t, nil, nil, &mockoidc.MockUser{Subject: "u-jane", Email: "jane@example.com", EmailVerified: true, Groups: []string{"engineering"}})
				return p
			},
			wantSub: "u-jane", wantEmail: "jane@example.com", wantGroups: []string{"engineering"}, signedOut: "Signed out"},
		{name: "zitadel example provider, claims from UserInfo only",
			start:   startZitadelExample,
			wantSub: "id1", wantEmail: "test-user@zitadel.ch", signedOut: "signed out successfully"},
		{name: "nested roles: realm_access.roles",
			start: func(t *testing.T, _ string) *provider {
				_, p := startMockOIDC(t, nil, nil, &keycloakUser{sub: "kc-1", email: "kim@corp.example", realm: []string{"support", "offline_access"}, tool: []string{"admin"}})
				p.oidc = "  scopes: [openid, email]\n  groups_claim: realm_access.roles\n"
				return p
			},
			wantSub: "kc-1", wantEmail: "kim@corp.example", wantGroups: []string{"support", "offline_access"}, signedOut: "Signed out"},
		{name: "nested roles: resource_access.gateway.roles",
			start: func(t *testing.T, _ string) *provider {
				_, p := startMockOIDC(t, nil, nil, &keycloakUser{sub: "kc-2", email: "kai@corp.example", realm: []string{"support"}, tool: []string{"admin"}})
				p.oidc = "  scopes: [openid, email]\n  groups_claim: resource_access.gateway.roles\n"
				return p
			},
			wantSub: "kc-2", wantEmail: "kai@corp.example", wantGroups: []string{"admin"}, signedOut: "Signed out"},
		{name: "TLS with a private CA via oidc.ca_file",
			start: func(t *testing.T, _ string) *provider {
				serverTLS, caFile, clientTLS := privateCA(t)
				_, p := startMockOIDC(t, nil, serverTLS, &mockoidc.MockUser{Subject: "u-tls", Email: "tess@corp.example", EmailVerified: true, Groups: []string{"ops"}})
				if !strings.HasPrefix(p.issuer, "https://") {
					t.Fatalf("expected an https issuer, got %s", p.issuer)
				}
				p.oidc += "  ca_file: " + caFile + "\n"
				p.browserTLS = clientTLS
				return p
			},
			wantSub: "u-tls", wantEmail: "tess@corp.example", wantGroups: []string{"ops"}, signedOut: "Signed out"},
	}
	for _, r := range rows {
		t.Run(r.name, r.run)
	}
}

// Without oidc.ca_file a provider behind a private CA is not trusted: the
// gateway still starts, but is not ready and cannot sign anyone in.
func TestPrivateCAWithoutCAFileIsNotTrusted(t *testing.T) {
	serverTLS, _, _ := privateCA(t)
	_, p := startMockOIDC(t, nil, serverTLS, &mockoidc.MockUser{Subject: "u", Email: "u@corp.example", EmailVerified: true})
	g := newGateway(t).start(t, gwVars{Issuer: p.issuer, ClientID: p.clientID, ClientSecret: p.secret, OIDCExtra: p.oidc}, newUpstream(t), server.Options{})
	code, body := g.readyz(t)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "identity provider") || !strings.Contains(body, "certificate") {
		t.Fatalf("readyz: expected 503 naming the provider's certificate, got %d %s", code, body)
	}
	resp, body := get(t, browser(t, nil), g.URL+"/")
	mustStatus(t, resp, body, http.StatusServiceUnavailable)
}
