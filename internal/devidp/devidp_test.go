package devidp

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func TestDiscovery(t *testing.T) {
	tests := []struct {
		name string
		path string
	}{
		{name: "own listener", path: ""},
		{name: "path prefix", path: "/.dev-idp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.path)
			resp, err := e.srv.Client().Get(e.issuer + "/.well-known/openid-configuration")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("discovery: expected 200, got %d", resp.StatusCode)
			}
			var doc struct {
				Issuer        string   `json:"issuer"`
				Authorization string   `json:"authorization_endpoint"`
				Token         string   `json:"token_endpoint"`
				JWKS          string   `json:"jwks_uri"`
				Userinfo      string   `json:"userinfo_endpoint"`
				PKCE          []string `json:"code_challenge_methods_supported"`
				Claims        []string `json:"claims_supported"`
				Grants        []string `json:"grant_types_supported"`
				Algs          []string `json:"id_token_signing_alg_values_supported"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			if doc.Issuer != e.issuer {
				t.Errorf("issuer: expected %q, got %q", e.issuer, doc.Issuer)
			}
			for name, ep := range map[string]string{"authorization": doc.Authorization, "token": doc.Token, "jwks": doc.JWKS, "userinfo": doc.Userinfo} {
				if !strings.HasPrefix(ep, e.issuer+"/") {
					t.Errorf("%s endpoint: expected under %s/, got %q", name, e.issuer, ep)
				}
			}
			if !slices.Contains(doc.PKCE, "S256") {
				t.Errorf("code_challenge_methods_supported: expected S256, got %v", doc.PKCE)
			}
			for _, c := range []string{"email", "email_verified", "name", "groups", "nonce"} {
				if !slices.Contains(doc.Claims, c) {
					t.Errorf("claims_supported: expected %q, got %v", c, doc.Claims)
				}
			}
			for _, g := range []string{"authorization_code", "refresh_token"} {
				if !slices.Contains(doc.Grants, g) {
					t.Errorf("grant_types_supported: expected %q, got %v", g, doc.Grants)
				}
			}
			if !slices.Equal(doc.Algs, []string{"RS256"}) {
				t.Errorf("id_token_signing_alg_values_supported: expected [RS256], got %v", doc.Algs)
			}
			// The JWKS is served where discovery says.
			jr, err := e.srv.Client().Get(doc.JWKS)
			if err != nil {
				t.Fatal(err)
			}
			var jwks struct {
				Keys []struct {
					Kid, Alg, Use, Kty string
				} `json:"keys"`
			}
			err = json.NewDecoder(jr.Body).Decode(&jwks)
			jr.Body.Close()
			if err != nil || len(jwks.Keys) != 1 || jwks.Keys[0].Kty != "RSA" || jwks.Keys[0].Use != "sig" {
				t.Errorf("jwks: expected one RSA signing key, got %+v (err %v)", jwks, err)
			}
		})
	}
}

func TestPathPrefixServesNothingOutsideIt(t *testing.T) {
	e := newEnv(t, "/.dev-idp")
	base := strings.TrimSuffix(e.issuer, "/.dev-idp")
	for _, path := range []string{"/.well-known/openid-configuration", "/login", "/authorize", "/keys", "/.dev-idpx/keys"} {
		resp, err := e.srv.Client().Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: expected 404 outside the issuer path, got %d", path, resp.StatusCode)
		}
	}
}

func TestCodeFlowWithPKCE(t *testing.T) {
	e := newEnv(t, "/.dev-idp")
	tests := []struct {
		name   string
		client string
		user   User
	}{
		{name: "support agent, confidential client", client: confidentialID, user: DemoUsers()[0]},
		{name: "on-call engineer, confidential client", client: confidentialID, user: DemoUsers()[1]},
		{name: "contractor, confidential client", client: confidentialID, user: DemoUsers()[2]},
		{name: "on-call engineer, public client", client: publicID, user: DemoUsers()[1]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := e.signIn(t, tc.client, tc.user.ID)
			var c idClaims
			if err := res.idToken.Claims(&c); err != nil {
				t.Fatal(err)
			}
			want := idClaims{Sub: tc.user.ID, Email: tc.user.Email, EmailVerified: true, Name: tc.user.Name, Groups: tc.user.Groups, Nonce: c.Nonce}
			if fmt.Sprint(c) != fmt.Sprint(want) {
				t.Errorf("id_token claims:\nexpected %+v\ngot      %+v", want, c)
			}
			if res.idToken.Issuer != e.issuer || !slices.Equal(res.idToken.Audience, []string{tc.client}) {
				t.Errorf("id_token iss/aud: expected %q/[%s], got %q/%v", e.issuer, tc.client, res.idToken.Issuer, res.idToken.Audience)
			}
			if res.token.RefreshToken == "" {
				t.Error("token response: expected a refresh token, got none")
			}
			// Userinfo answers the same claims for the access token.
			ui, err := e.rp.UserInfo(e.ctx, oauth2.StaticTokenSource(res.token))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			var uc idClaims
			if err := ui.Claims(&uc); err != nil {
				t.Fatal(err)
			}
			if ui.Subject != tc.user.ID || ui.Email != tc.user.Email || !ui.EmailVerified || !slices.Equal(uc.Groups, tc.user.Groups) {
				t.Errorf("userinfo: expected %s %s verified %v, got %+v groups %v", tc.user.ID, tc.user.Email, tc.user.Groups, ui, uc.Groups)
			}
		})
	}
}

func TestRefreshTokenGrant(t *testing.T) {
	e := newEnv(t, "")
	user := DemoUsers()[0]
	res := e.signIn(t, confidentialID, user.ID)
	first := res.token.RefreshToken

	// An expired access token makes the token source use the refresh token.
	stale := &oauth2.Token{AccessToken: res.token.AccessToken, RefreshToken: first, Expiry: time.Now().Add(-time.Minute)}
	tok, err := res.config.TokenSource(e.ctx, stale).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok.AccessToken == "" || tok.AccessToken == res.token.AccessToken {
		t.Errorf("refresh: expected a new access token, got %q", tok.AccessToken)
	}
	if tok.RefreshToken == "" || tok.RefreshToken == first {
		t.Errorf("refresh: expected a rotated refresh token, got %q", tok.RefreshToken)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := res.verifier.Verify(e.ctx, raw)
	if err != nil {
		t.Fatalf("refresh: id_token does not verify: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Sub != user.ID || c.Email != user.Email || !slices.Equal(c.Groups, user.Groups) {
		t.Errorf("refresh id_token: expected %s %s %v, got %+v", user.ID, user.Email, user.Groups, c)
	}
	// The access token issued with the rotated refresh token is revoked too.
	if _, err := e.rp.UserInfo(e.ctx, oauth2.StaticTokenSource(res.token)); err == nil {
		t.Error("userinfo with the access token of a rotated refresh token: expected an error, got none")
	}

	tests := []struct {
		name    string
		refresh string
		config  *oauth2.Config
	}{
		{name: "used refresh token", refresh: first, config: res.config},
		{name: "unknown refresh token", refresh: "not-a-token", config: res.config},
		{name: "wrong client secret", refresh: tok.RefreshToken, config: func() *oauth2.Config {
			c := *res.config
			c.ClientSecret = "wrong"
			return &c
		}()},
		{name: "other client", refresh: tok.RefreshToken, config: e.oauth2Config(publicID)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.config.TokenSource(e.ctx, expired(tc.refresh)).Token()
			if err == nil {
				t.Fatal("expected the refresh to be refused, got tokens")
			}
		})
	}

	// The rotated token still works after the refused attempts.
	if _, err := res.config.TokenSource(e.ctx, expired(tok.RefreshToken)).Token(); err != nil {
		t.Errorf("refresh with the current refresh token: %v", err)
	}
}

func TestRefreshTokenExpires(t *testing.T) {
	e := newEnv(t, "")
	res := e.signIn(t, confidentialID, DemoUsers()[1].ID)
	e.clock.Advance(RefreshTokenLifetime)
	_, err := res.config.TokenSource(e.ctx, expired(res.token.RefreshToken)).Token()
	if err == nil {
		t.Fatal("expected an expired refresh token to be refused, got tokens")
	}
}

func TestCodeExchangeRefused(t *testing.T) {
	e := newEnv(t, "")
	tests := []struct {
		name     string
		exchange func(t *testing.T, cfg *oauth2.Config, code, pkce string) error
	}{
		{name: "wrong PKCE verifier", exchange: func(t *testing.T, cfg *oauth2.Config, code, _ string) error {
			_, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
			return err
		}},
		{name: "no PKCE verifier", exchange: func(t *testing.T, cfg *oauth2.Config, code, _ string) error {
			_, err := cfg.Exchange(e.ctx, code)
			return err
		}},
		{name: "wrong client secret", exchange: func(t *testing.T, cfg *oauth2.Config, code, pkce string) error {
			c := *cfg
			c.ClientSecret = "wrong"
			_, err := c.Exchange(e.ctx, code, oauth2.VerifierOption(pkce))
			return err
		}},
		{name: "code used twice", exchange: func(t *testing.T, cfg *oauth2.Config, code, pkce string) error {
			if _, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(pkce)); err != nil {
				t.Fatalf("first exchange: %v", err)
			}
			_, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(pkce))
			return err
		}},
		{name: "code expired", exchange: func(t *testing.T, cfg *oauth2.Config, code, pkce string) error {
			e.clock.Advance(CodeLifetime)
			_, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(pkce))
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e.oauth2Config(confidentialID)
			pkce := oauth2.GenerateVerifier()
			state := rand.Text()
			b := e.browser(t)
			id := e.startAuth(t, b, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(pkce), oidc.Nonce("n")))
			resp := e.submitLogin(t, b, id, DemoUsers()[0].ID)
			resp.Body.Close()
			code, err := codeFromRedirect(resp, cfg.RedirectURL, state)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.exchange(t, cfg, code, pkce); err == nil {
				t.Fatal("expected the exchange to be refused, got tokens")
			}
			// A failed attempt consumes the code: the right verifier no longer works.
			if _, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(pkce)); err == nil {
				t.Fatal("expected the code to be spent after a refused exchange, got tokens")
			}
		})
	}
}

func TestAuthorizeRefused(t *testing.T) {
	e := newEnv(t, "")
	pkce := oauth2.GenerateVerifier()
	tests := []struct {
		name string
		// mutate edits the query of a valid authorization request.
		mutate func(q url.Values)
		// wantError is the OAuth error redirected to the client; empty means
		// the provider must answer itself (no redirect to an unverified URI).
		wantError string
	}{
		{name: "no PKCE", mutate: func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, wantError: "invalid_request"},
		{name: "plain PKCE", mutate: func(q url.Values) { q.Set("code_challenge", pkce); q.Set("code_challenge_method", "plain") }, wantError: "invalid_request"},
		{name: "no openid scope", mutate: func(q url.Values) { q.Set("scope", "email profile") }, wantError: "invalid_scope"},
		{name: "prompt none", mutate: func(q url.Values) { q.Set("prompt", "none") }, wantError: "login_required"},
		{name: "implicit flow", mutate: func(q url.Values) { q.Set("response_type", "id_token") }, wantError: "unauthorized_client"},
		{name: "unknown client", mutate: func(q url.Values) { q.Set("client_id", "nobody") }},
		{name: "unregistered redirect URI", mutate: func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:9/evil") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e.oauth2Config(confidentialID)
			u, err := url.Parse(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(pkce), oidc.Nonce("n")))
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			tc.mutate(q)
			u.RawQuery = q.Encode()
			resp, err := e.browser(t).Get(u.String())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if bytes.Contains(body, []byte(`name="authRequestID"`)) {
				t.Fatal("expected the request to be refused, got the sign-in page")
			}
			loc, _ := resp.Location()
			if tc.wantError == "" {
				if loc != nil && !strings.HasPrefix(loc.String(), e.issuer) {
					t.Fatalf("expected no redirect to the client, got %s", loc)
				}
				if resp.StatusCode < 400 {
					t.Fatalf("expected an error status, got %d", resp.StatusCode)
				}
				return
			}
			if loc == nil {
				t.Fatalf("expected a redirect with error %s, got status %d: %s", tc.wantError, resp.StatusCode, body)
			}
			params := loc.Query()
			if loc.Fragment != "" { // errors of implicit-style requests travel in the fragment
				params, _ = url.ParseQuery(loc.Fragment)
			}
			if got := params.Get("error"); got != tc.wantError {
				t.Errorf("error: expected %q, got %q (%s)", tc.wantError, got, params.Get("error_description"))
			}
		})
	}
}

func TestLoginRefused(t *testing.T) {
	e := newEnv(t, "")
	cfg := e.oauth2Config(confidentialID)
	authURL := func() string {
		return cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oidc.Nonce("n"))
	}
	tests := []struct {
		name string
		// prepare returns the auth request ID and user to post.
		prepare func(t *testing.T, b *http.Client) (id, user string)
		// stillPending says the auth request must still accept a good user.
		stillPending bool
	}{
		{name: "unknown auth request ID", prepare: func(t *testing.T, b *http.Client) (string, string) {
			return "00112233445566778899aabbccddeeff", DemoUsers()[0].ID
		}},
		{name: "empty auth request ID", prepare: func(t *testing.T, b *http.Client) (string, string) {
			return "", DemoUsers()[0].ID
		}},
		{name: "unknown user", prepare: func(t *testing.T, b *http.Client) (string, string) {
			return e.startAuth(t, b, authURL()), "root"
		}, stillPending: true},
		{name: "empty user", prepare: func(t *testing.T, b *http.Client) (string, string) {
			return e.startAuth(t, b, authURL()), ""
		}, stillPending: true},
		{name: "auth request already completed", prepare: func(t *testing.T, b *http.Client) (string, string) {
			id := e.startAuth(t, b, authURL())
			resp := e.submitLogin(t, b, id, DemoUsers()[0].ID)
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("first sign-in: expected a redirect, got %d", resp.StatusCode)
			}
			return id, DemoUsers()[2].ID
		}},
		{name: "auth request expired", prepare: func(t *testing.T, b *http.Client) (string, string) {
			id := e.startAuth(t, b, authURL())
			e.clock.Advance(AuthRequestLifetime)
			return id, DemoUsers()[0].ID
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser(t)
			id, user := tc.prepare(t, b)
			resp := e.submitLogin(t, b, id, user)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("expected 400, got %d (Location %q)", resp.StatusCode, resp.Header.Get("Location"))
			}
			if !bytes.Contains(body, []byte("Sign-in failed")) {
				t.Errorf("expected the error page, got %s", body)
			}
			if tc.stillPending {
				resp := e.submitLogin(t, b, id, DemoUsers()[1].ID)
				resp.Body.Close()
				if resp.StatusCode != http.StatusFound {
					t.Errorf("after a refused user the request must still sign in: expected 302, got %d", resp.StatusCode)
				}
			}
		})
	}
}

func TestLoginPage(t *testing.T) {
	e := newEnv(t, "/.dev-idp")
	b := e.browser(t)
	cfg := e.oauth2Config(confidentialID)
	resp, err := b.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	for _, want := range []string{
		"Development sign-in — not for production",
		`action="/.dev-idp/login"`,
		"support@dev.example", "oncall@dev.example", "contractor@contractors.example",
		`id="user-dev-support"`, `id="user-dev-oncall"`, `id="user-dev-contractor"`,
		"<code>gateway</code>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-in page: expected %q in\n%s", want, page)
		}
	}
	if n := strings.Count(page, `<form method="post"`); n != len(DemoUsers()) {
		t.Errorf("sign-in page: expected %d forms, got %d", len(DemoUsers()), n)
	}
	for h, want := range map[string]string{
		"Cache-Control":           "no-store",
		"X-Frame-Options":         "DENY",
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("header %s: expected %q, got %q", h, want, got)
		}
	}

	// The page for an unknown request is an error, not a form.
	r2, err := b.Get(e.issuer + "/login?authRequestID=nope")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != http.StatusBadRequest || bytes.Contains(body, []byte("<form")) {
		t.Errorf("unknown auth request page: expected 400 without a form, got %d:\n%s", r2.StatusCode, body)
	}
}

func TestCustomUsers(t *testing.T) {
	srv := newUnstarted(t)
	users := []User{{ID: "u1", Email: "alice@corp.example", Name: "Alice", Groups: []string{"sre"}}}
	p, err := newProvider(Config{Issuer: srv.issuer, Clients: srv.clients, Users: users, Insecure: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, testKey())
	if err != nil {
		t.Fatal(err)
	}
	e := srv.start(t, p)
	res := e.signIn(t, confidentialID, "u1")
	var c idClaims
	if err := res.idToken.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Email != "alice@corp.example" || !slices.Equal(c.Groups, []string{"sre"}) {
		t.Errorf("expected alice with [sre], got %+v", c)
	}
	if _, err := e.trySignIn(t, confidentialID, DemoUsers()[0].ID); err == nil {
		t.Error("a demo user not in Config.Users: expected sign-in refused, got tokens")
	}
}

func TestClose(t *testing.T) {
	e := newEnv(t, "")
	b := e.browser(t)
	cfg := e.oauth2Config(confidentialID)
	id := e.startAuth(t, b, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err := e.p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	resp := e.submitLogin(t, b, id, DemoUsers()[0].ID)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("sign-in after Close: expected 503, got %d", resp.StatusCode)
	}
	r2, err := b.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if bytes.Contains(body, []byte(`name="authRequestID"`)) {
		t.Error("authorize after Close: expected a refusal, got the sign-in page")
	}
}

func TestNewRefuses(t *testing.T) {
	good := func() Config {
		return Config{
			Issuer:   "http://127.0.0.1:8081",
			Clients:  []Client{{ID: "gateway", Secret: "s", RedirectURIs: []string{"http://127.0.0.1:8080/.gateway/callback"}}},
			Insecure: true,
		}
	}
	tests := []struct {
		name    string
		edit    func(c *Config)
		wantErr string
	}{
		{name: "not insecure", edit: func(c *Config) { c.Insecure = false }, wantErr: "Insecure must be true"},
		{name: "empty issuer", edit: func(c *Config) { c.Issuer = "" }, wantErr: "issuer: expected an absolute http(s) URL, got empty"},
		{name: "relative issuer", edit: func(c *Config) { c.Issuer = "/idp" }, wantErr: "issuer: expected an absolute http(s) URL with a host"},
		{name: "issuer with query", edit: func(c *Config) { c.Issuer = "http://127.0.0.1:8081/?x=1" }, wantErr: "issuer: expected no query"},
		{name: "non-loopback issuer", edit: func(c *Config) { c.Issuer = "http://idp.example.com" }, wantErr: `expected a loopback host (localhost, 127.0.0.0/8, ::1) unless AllowNonLoopback is set, got "idp.example.com"`},
		{name: "no clients", edit: func(c *Config) { c.Clients = nil }, wantErr: "clients: expected at least one client"},
		{name: "duplicate client", edit: func(c *Config) { c.Clients = append(c.Clients, c.Clients[0]) }, wantErr: `clients[1].id: duplicate client ID "gateway"`},
		{name: "client without ID", edit: func(c *Config) { c.Clients[0].ID = "" }, wantErr: "clients[0].id: expected a non-empty ID"},
		{name: "client without redirect", edit: func(c *Config) { c.Clients[0].RedirectURIs = nil }, wantErr: "clients[0].redirect_uris: expected at least one"},
		{name: "relative redirect", edit: func(c *Config) { c.Clients[0].RedirectURIs = []string{"/cb"} }, wantErr: `clients[0].redirect_uris[0]: expected an absolute http(s) URL without fragment, got "/cb"`},
		{name: "bad user email", edit: func(c *Config) { c.Users = []User{{ID: "u", Email: "Bob <bob@x.example>", Name: "Bob"}} }, wantErr: "users[0].email: expected a bare address"},
		{name: "duplicate user", edit: func(c *Config) {
			c.Users = []User{{ID: "u", Email: "a@x.example", Name: "A"}, {ID: "u", Email: "b@x.example", Name: "B"}}
		}, wantErr: `users[1].id: duplicate user ID "u"`},
		{name: "user without name", edit: func(c *Config) { c.Users = []User{{ID: "u", Email: "a@x.example"}} }, wantErr: "users[0].name: expected a non-empty name"},
		{name: "blank group", edit: func(c *Config) { c.Users = []User{{ID: "u", Email: "a@x.example", Name: "A", Groups: []string{" "}}} }, wantErr: "users[0].groups[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.edit(&c)
			p, err := New(c)
			if err == nil {
				p.Close()
				t.Fatalf("expected an error containing %q, got a provider", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "devidp: ") {
				t.Errorf("error: expected %q, got %q", tc.wantErr, err)
			}
		})
	}

	t.Run("all problems at once", func(t *testing.T) {
		_, err := New(Config{Issuer: "ftp://x", Insecure: true})
		if err == nil || !strings.Contains(err.Error(), "issuer:") || !strings.Contains(err.Error(), "clients:") {
			t.Errorf("expected issuer and clients problems together, got %v", err)
		}
	})
}

func TestNewAccepts(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "localhost", cfg: Config{Issuer: "http://localhost:8081"}},
		{name: "IPv6 loopback with path", cfg: Config{Issuer: "http://[::1]:8080/.dev-idp"}},
		{name: "non-loopback when allowed", cfg: Config{Issuer: "http://idp:8081", AllowNonLoopback: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.Insecure = true
			c.Clients = []Client{{ID: "g", RedirectURIs: []string{"http://localhost/cb"}}}
			c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			p, err := newProvider(c, testKey())
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if p.Issuer() != c.Issuer {
				t.Errorf("Issuer: expected %q, got %q", c.Issuer, p.Issuer())
			}
			p.Close()
		})
	}
}

func TestDemoUsers(t *testing.T) {
	users := DemoUsers()
	want := map[string][]string{
		"support@dev.example":            {"support"},
		"oncall@dev.example":             {"engineering", "oncall"},
		"contractor@contractors.example": {"contractors"},
		"lead@dev.example":               {"engineering", "security"},
	}
	if len(users) != len(want) {
		t.Fatalf("expected %d demo users, got %d", len(want), len(users))
	}
	for _, u := range users {
		if g, ok := want[u.Email]; !ok || !slices.Equal(u.Groups, g) || u.ID == "" || u.Name == "" {
			t.Errorf("unexpected demo user %+v", u)
		}
	}
	users[0].Groups[0] = "admin"
	if DemoUsers()[0].Groups[0] != "support" {
		t.Error("DemoUsers: expected a fresh copy on every call, got shared slices")
	}
}

func TestClientNeverPrintsSecret(t *testing.T) {
	c := Client{ID: "gateway", Secret: "s3cr3t-value", RedirectURIs: []string{"http://127.0.0.1/cb"}}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "client", c)
	for name, out := range map[string]string{
		"fmt %v":  fmt.Sprintf("%v", c),
		"fmt %+v": fmt.Sprintf("%+v", c),
		"config":  fmt.Sprintf("%v", Config{Clients: []Client{c}}),
		"slog":    buf.String(),
	} {
		if strings.Contains(out, "s3cr3t") {
			t.Errorf("%s: secret leaked: %s", name, out)
		}
		if !strings.Contains(out, "gateway") {
			t.Errorf("%s: expected the client ID, got %s", name, out)
		}
	}
}

func TestEndSession(t *testing.T) {
	e := newEnv(t, "/.dev-idp")
	tests := []struct {
		name         string
		query        func(res flowResult) url.Values
		wantStatus   int
		wantLocation string // prefix of the redirect target
		wantEnded    bool   // the user's refresh token for the client stops working
	}{
		{name: "registered post-logout redirect", query: func(res flowResult) url.Values {
			return url.Values{"id_token_hint": {res.rawID}, "post_logout_redirect_uri": {signedOutRedirect}, "state": {"s1"}}
		}, wantStatus: http.StatusFound, wantLocation: signedOutRedirect + "?state=s1", wantEnded: true},
		{name: "no redirect asked", query: func(res flowResult) url.Values {
			return url.Values{"id_token_hint": {res.rawID}}
		}, wantStatus: http.StatusFound, wantLocation: "/.dev-idp/logged-out", wantEnded: true},
		{name: "unregistered post-logout redirect", query: func(res flowResult) url.Values {
			return url.Values{"id_token_hint": {res.rawID}, "post_logout_redirect_uri": {"http://127.0.0.1:9/evil"}}
		}, wantStatus: http.StatusBadRequest},
		{name: "forged id_token_hint", query: func(res flowResult) url.Values {
			return url.Values{"id_token_hint": {res.rawID[:len(res.rawID)-4] + "AAAA"}, "post_logout_redirect_uri": {signedOutRedirect}}
		}, wantStatus: http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := e.signIn(t, confidentialID, DemoUsers()[1].ID)
			resp, err := e.browser(t).Get(e.issuer + "/end_session?" + tc.query(res).Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tc.wantStatus == http.StatusFound && resp.Request.URL.Path == "/.dev-idp/logged-out" {
				// The browser followed the redirect to the provider's own page.
				if resp.StatusCode != http.StatusOK || tc.wantLocation != resp.Request.URL.Path {
					t.Fatalf("expected the signed-out page, got %d at %s", resp.StatusCode, resp.Request.URL)
				}
			} else {
				if resp.StatusCode != tc.wantStatus {
					t.Fatalf("status: expected %d, got %d", tc.wantStatus, resp.StatusCode)
				}
				if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, tc.wantLocation) || (tc.wantLocation == "" && loc != "") {
					t.Fatalf("Location: expected %q, got %q", tc.wantLocation, loc)
				}
			}
			_, err = res.config.TokenSource(e.ctx, expired(res.token.RefreshToken)).Token()
			if ended := err != nil; ended != tc.wantEnded {
				t.Errorf("session ended: expected %v, got %v (refresh error %v)", tc.wantEnded, ended, err)
			}
		})
	}
}
