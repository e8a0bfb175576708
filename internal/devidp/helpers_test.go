package devidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// testKey is one RSA key for every provider in the tests: generating a
// 2048-bit key per provider would dominate the run time under -race.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

const (
	confidentialID     = "gateway"
	confidentialSecret = "dev-secret-123"
	publicID           = "cli"
	// The redirect URIs point at a closed port: the test client stops at
	// the redirect and reads the code from the Location header.
	confidentialRedirect = "http://127.0.0.1:9/.gateway/callback"
	publicRedirect       = "http://localhost:9/cb"
	signedOutRedirect    = "http://127.0.0.1:9/.gateway/signed-out"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type testEnv struct {
	p      *Provider
	srv    *httptest.Server
	issuer string
	clock  *fakeClock
	rp     *oidc.Provider
	ctx    context.Context
}

// newEnv starts a provider on a loopback httptest server, with the issuer
// at path (empty or e.g. "/.dev-idp"), and discovers it with go-oidc.
func newEnv(t testing.TB, path string) *testEnv {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String() + path
	clock := &fakeClock{t: time.Now()}
	p, err := newProvider(Config{
		Issuer: issuer,
		Clients: []Client{
			{ID: confidentialID, Secret: confidentialSecret, RedirectURIs: []string{confidentialRedirect}, PostLogoutRedirectURIs: []string{signedOutRedirect}},
			{ID: publicID, RedirectURIs: []string{publicRedirect}},
		},
		Insecure: true,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:      clock.Now,
	}, testKey())
	if err != nil {
		srv.Close()
		t.Fatalf("New: %v", err)
	}
	srv.Config.Handler = p
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		_ = p.Close()
	})
	ctx := oidc.ClientContext(context.Background(), srv.Client())
	rp, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery of %s: %v", issuer, err)
	}
	return &testEnv{p: p, srv: srv, issuer: issuer, clock: clock, rp: rp, ctx: ctx}
}

func (e *testEnv) oauth2Config(clientID string) *oauth2.Config {
	c := &oauth2.Config{
		ClientID: clientID,
		Endpoint: e.rp.Endpoint(),
		Scopes:   []string{oidc.ScopeOpenID, "profile", "email"},
	}
	switch clientID {
	case confidentialID:
		c.ClientSecret = confidentialSecret
		c.RedirectURL = confidentialRedirect
	default:
		c.RedirectURL = publicRedirect
	}
	return c
}

// browser is an http.Client with a cookie jar that stops at any redirect
// that leaves the provider (to the relying party's redirect URI).
func (e *testEnv) browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar: jar,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if !strings.HasPrefix(req.URL.String(), e.issuer) {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

var authRequestIDRE = regexp.MustCompile(`name="authRequestID" value="([0-9a-f]+)"`)

// startAuth follows the authorization request to the sign-in page and
// returns the auth request ID the page is bound to.
func (e *testEnv) startAuth(t testing.TB, b *http.Client, authURL string) string {
	t.Helper()
	resp, err := b.Get(authURL)
	if err != nil {
		t.Fatalf("GET authorize: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authorize: expected the sign-in page (200), got %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
	}
	m := authRequestIDRE.FindSubmatch(body)
	if m == nil {
		t.Fatalf("sign-in page has no authRequestID field:\n%s", body)
	}
	return string(m[1])
}

// submitLogin posts the sign-in form and returns the final response (the
// redirect to the relying party, or an error page).
func (e *testEnv) submitLogin(t testing.TB, b *http.Client, authRequestID, userID string) *http.Response {
	t.Helper()
	resp, err := b.PostForm(e.issuer+"/login", url.Values{"authRequestID": {authRequestID}, "user": {userID}})
	if err != nil {
		t.Fatalf("POST login: %v", err)
	}
	return resp
}

type flowResult struct {
	token    *oauth2.Token
	idToken  *oidc.IDToken
	rawID    string
	verifier *oidc.IDTokenVerifier
	config   *oauth2.Config
}

// signIn runs the whole authorization code + PKCE flow as clientID for
// userID and returns the verified ID token.
func (e *testEnv) signIn(t testing.TB, clientID, userID string) flowResult {
	t.Helper()
	res, err := e.trySignIn(t, clientID, userID)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (e *testEnv) trySignIn(t testing.TB, clientID, userID string) (flowResult, error) {
	t.Helper()
	cfg := e.oauth2Config(clientID)
	pkce := oauth2.GenerateVerifier()
	state, nonce := rand.Text(), rand.Text()
	b := e.browser(t)
	id := e.startAuth(t, b, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(pkce), oidc.Nonce(nonce)))
	resp := e.submitLogin(t, b, id, userID)
	resp.Body.Close()
	code, err := codeFromRedirect(resp, cfg.RedirectURL, state)
	if err != nil {
		return flowResult{}, err
	}
	tok, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(pkce))
	if err != nil {
		return flowResult{}, fmt.Errorf("exchange: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return flowResult{}, errors.New("token response has no id_token")
	}
	v := e.rp.Verifier(&oidc.Config{ClientID: clientID})
	idt, err := v.Verify(e.ctx, raw)
	if err != nil {
		return flowResult{}, fmt.Errorf("verify id_token: %w", err)
	}
	if idt.Nonce != nonce {
		return flowResult{}, fmt.Errorf("id_token nonce: expected %q, got %q", nonce, idt.Nonce)
	}
	return flowResult{token: tok, idToken: idt, rawID: raw, verifier: v, config: cfg}, nil
}

// codeFromRedirect checks that resp redirects to redirectURI with state and
// returns the code.
func codeFromRedirect(resp *http.Response, redirectURI, state string) (string, error) {
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("expected a redirect to %s, got status %d: %w", redirectURI, resp.StatusCode, err)
	}
	q := loc.Query()
	loc.RawQuery = ""
	if loc.String() != redirectURI {
		return "", fmt.Errorf("expected redirect to %s, got %s", redirectURI, loc)
	}
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != state {
		return "", fmt.Errorf("state: expected %q, got %q", state, q.Get("state"))
	}
	if q.Get("code") == "" {
		return "", errors.New("redirect has no code")
	}
	return q.Get("code"), nil
}

type idClaims struct {
	Sub           string   `json:"sub"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name"`
	Groups        []string `json:"groups"`
	Nonce         string   `json:"nonce"`
}

// expired is a token whose access token has run out, so a token source
// must use the refresh token.
func expired(refresh string) *oauth2.Token {
	return &oauth2.Token{RefreshToken: refresh, Expiry: time.Now().Add(-time.Minute)}
}

// unstarted is an httptest server whose address (and so issuer) is known
// before the provider is built.
type unstarted struct {
	srv     *httptest.Server
	issuer  string
	clients []Client
}

func newUnstarted(t testing.TB) *unstarted {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	return &unstarted{
		srv:    srv,
		issuer: "http://" + srv.Listener.Addr().String(),
		clients: []Client{
			{ID: confidentialID, Secret: confidentialSecret, RedirectURIs: []string{confidentialRedirect}},
			{ID: publicID, RedirectURIs: []string{publicRedirect}},
		},
	}
}

func (u *unstarted) start(t testing.TB, p *Provider) *testEnv {
	t.Helper()
	u.srv.Config.Handler = p
	u.srv.Start()
	t.Cleanup(func() {
		u.srv.Close()
		_ = p.Close()
	})
	ctx := oidc.ClientContext(t.Context(), u.srv.Client())
	rp, err := oidc.NewProvider(ctx, u.issuer)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{p: p, srv: u.srv, issuer: u.issuer, rp: rp, ctx: ctx}
}
