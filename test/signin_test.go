package test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"
)

func TestSignInThroughIdPReachesUpstream(t *testing.T) {
	m := newIdP(t)
	up := newUpstream(t)
	g := startGateway(t, idpVars(m, up), baseConfig)

	c, resp, body := signIn(t, g, m, user("jane@example.com", "engineering"), "/reports/q3?x=1&y=%2F")
	mustStatus(t, resp, body, http.StatusOK)
	if got := resp.Request.URL.String(); got != g.URL+"/reports/q3?x=1&y=%2F" {
		t.Errorf("landed on %q, want the original URL", got)
	}
	if got := jsonField(t, body, "path"); got != "/reports/q3" {
		t.Errorf("upstream path = %v", got)
	}
	if got := jsonField(t, body, "query"); got != "x=1&y=%2F" {
		t.Errorf("upstream query = %v", got)
	}
	last := up.lastRequest()
	if strings.Contains(last.Header.Get("Cookie"), "_gateway_session") {
		t.Errorf("upstream saw the gateway session cookie: %q", last.Header.Get("Cookie"))
	}
	if last.Header.Get("X-Gateway-Request-Id") == "" {
		t.Error("upstream got no X-Gateway-Request-Id")
	}
	if xff := last.Header.Get("X-Forwarded-For"); xff != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the peer only", xff)
	}
	// The session cookie is HttpOnly, SameSite=Lax, opaque.
	var sc *http.Cookie
	for _, ck := range c.Jar.Cookies(mustURL(g.URL)) {
		if ck.Name == "_gateway_session" {
			sc = ck
		}
	}
	if sc == nil || len(sc.Value) < 40 {
		t.Fatalf("no opaque session cookie in the jar: %+v", c.Jar.Cookies(mustURL(g.URL)))
	}

	// A second request reuses the session without the IdP.
	resp, body = get(t, c, g.URL+"/other")
	mustStatus(t, resp, body, http.StatusOK)
	if len(resp.Request.URL.Host) == 0 || resp.Request.URL.Host != mustURL(g.URL).Host {
		t.Errorf("second request was redirected to %s", resp.Request.URL)
	}

	recs := g.audit()
	var allows int
	for _, r := range recs {
		if r.Kind == "decision" && r.Decision == "allow" && r.User == "jane@example.com" && r.Route == "tool" {
			allows++
		}
	}
	if allows != 2 {
		t.Errorf("audit: %d allow records for jane on tool, want 2; records: %+v", allows, recs)
	}
}

func TestRulesAtTheGateway(t *testing.T) {
	m := newIdP(t)
	up := newUpstream(t)
	g := startGateway(t, idpVars(m, up), baseConfig)

	type tc struct {
		name   string
		user   []string // email, groups...
		method string
		path   string
		want   int
		reason string
	}
	cases := []tc{
		{"domain allowed", []string{"ann@example.com"}, "GET", "/", 200, ""},
		{"contractor denied by deny rule", []string{"con@example.com", "contractors"}, "GET", "/", 403, "deny-rule-matched"},
		{"other domain denied", []string{"x@example.org"}, "GET", "/", 403, "no-allow-rule-matched"},
		{"look-alike domain denied", []string{"x@evilexample.com"}, "GET", "/", 403, "no-allow-rule-matched"},
		{"admin route needs admins", []string{"ann@example.com", "engineering"}, "GET", "/admin/users", 403, "no-allow-rule-matched"},
		{"admin route for admins", []string{"root@example.com", "admins"}, "GET", "/admin/users", 200, ""},
		{"dot segments resolve before rules", []string{"ann@example.com"}, "GET", "/public/%2e%2e/admin", 403, "no-allow-rule-matched"},
		{"duplicate slashes resolve before rules", []string{"ann@example.com"}, "GET", "//admin", 403, "no-allow-rule-matched"},
		{"prefix on segment boundary", []string{"ann@example.com"}, "GET", "/administrator", 200, ""},
		{"template route with variable", []string{"eng@example.com", "engineering"}, "GET", "/customers/42/orders", 200, ""},
		{"template regex does not match", []string{"eng@example.com", "engineering"}, "GET", "/customers/abc", 200, ""},
		{"encoded slash rejected", []string{"ann@example.com"}, "GET", "/admin%2Fusers", 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, resp, body := signIn(t, g, m, user(c.user[0], c.user[1:]...), "/")
			if c.user[0] != "con@example.com" && c.user[0] != "x@example.org" && c.user[0] != "x@evilexample.com" {
				mustStatus(t, resp, body, 200)
			}
			req, _ := http.NewRequest(c.method, g.URL+c.path, nil)
			req.URL.Opaque = "//" + req.URL.Host + c.path // send the path as written
			resp, body = do(t, b, req)
			mustStatus(t, resp, body, c.want)
			if c.reason != "" && !strings.Contains(body, c.reason) {
				t.Errorf("page does not name reason %q: %.300s", c.reason, body)
			}
		})
	}
}

func TestNonBrowserClients(t *testing.T) {
	m := newIdP(t)
	up := newUpstream(t)
	g := startGateway(t, idpVars(m, up), baseConfig)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, body := get(t, c, g.URL+"/api", "Accept", "application/json")
	mustStatus(t, resp, body, http.StatusUnauthorized)
	if jsonField(t, body, "error") != "sign-in-required" {
		t.Errorf("JSON error = %s", body)
	}
	mustRequestID(t, resp, body)
	// A denial's JSON tells the client to quote the request ID: it carries
	// it, as the page does.
	b, resp, body := signIn(t, g, m, user("eve@example.com"), "/")
	mustStatus(t, resp, body, http.StatusOK)
	resp, body = get(t, b, g.URL+"/admin", "Accept", "application/json")
	mustStatus(t, resp, body, http.StatusForbidden)
	if jsonField(t, body, "error") != "no-allow-rule-matched" || !strings.Contains(body, "quote the request ID") {
		t.Errorf("JSON error = %s", body)
	}
	mustRequestID(t, resp, body)
	resp, body = get(t, c, g.URL+"/api", "Authorization", "Bearer not.a.token", "Accept", "application/json")
	mustStatus(t, resp, body, http.StatusUnauthorized)
	mustRequestID(t, resp, body)
	resp, body = get(t, c, g.URL+"/api")
	mustStatus(t, resp, body, http.StatusFound)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if !strings.HasPrefix(loc.String(), m.Issuer()) || loc.Query().Get("code_challenge_method") != "S256" ||
		loc.Query().Get("state") == "" || loc.Query().Get("nonce") == "" {
		t.Errorf("browser redirect lacks PKCE/state/nonce: %s", loc)
	}
	if strings.Contains(loc.RawQuery, "api") {
		t.Errorf("the return URL travels through the IdP: %s", loc)
	}

	// A bearer ID token from the same IdP works on a route that allows it,
	// and is not forwarded upstream.
	idToken := fetchIDToken(t, m, g, user("bot@example.com", "engineering"))
	resp, body = get(t, c, g.URL+"/api", "Authorization", "Bearer "+idToken, "Accept", "application/json")
	mustStatus(t, resp, body, http.StatusOK)
	if up.lastRequest().Header.Get("Authorization") != "" {
		t.Error("the bearer token was forwarded upstream")
	}
	bearerAudited := false
	for _, r := range g.audit() {
		if r.Decision == "allow" && r.User == "bot@example.com" && r.Path == "/api" {
			bearerAudited = true
		}
	}
	if !bearerAudited {
		t.Error("the bearer request's audit record does not name its user")
	}
	// ... but not on a route that does not allow it.
	resp, body = get(t, c, g.URL+"/admin", "Authorization", "Bearer "+idToken, "Accept", "application/json")
	mustStatus(t, resp, body, http.StatusUnauthorized)
	// A forged token is refused.
	resp, body = get(t, c, g.URL+"/api", "Authorization", "Bearer "+idToken[:len(idToken)-4]+"AAAA", "Accept", "application/json")
	mustStatus(t, resp, body, http.StatusUnauthorized)
}

// fetchIDToken runs a code flow against the IdP directly (as a CLI would).
func fetchIDToken(t *testing.T, m *mockoidc.MockOIDC, g *gateway, u *mockoidc.MockUser) string {
	t.Helper()
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, m.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	cfg := m.Config()
	oc := oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: "http://127.0.0.1:1/cb", Scopes: []string{"openid", "email", "groups"}}
	v := oauth2.GenerateVerifier()
	m.QueueUser(u)
	nr := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ := get(t, nr, oc.AuthCodeURL("s", oauth2.S256ChallengeOption(v)))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	tok, err := oc.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token")
	}
	return raw
}

func TestSpoofedHeadersNeverReachUpstream(t *testing.T) {
	m := newIdP(t)
	up := newUpstream(t)
	g := startGateway(t, idpVars(m, up), baseConfig)
	c, resp, body := signIn(t, g, m, user("jane@example.com"), "/")
	mustStatus(t, resp, body, 200)

	req, _ := http.NewRequest("GET", g.URL+"/x", nil)
	spoofed := []string{"X-Gateway-User", "x-gateway-user", "X_Gateway_User", "X-GATEWAY_CONTEXT", "x_gateway-context",
		"X-Gateway-Context", "X-Gateway-Request-Id", "X_Forwarded_For", "X-Forwarded-For", "X-Real-Ip", "Forwarded", "X-Forwarded-Host"}
	for _, h := range spoofed {
		req.Header[h] = []string{"admin@example.com"}
	}
	req.Header.Set("Cookie", "theme=dark")
	resp, body = do(t, c, req)
	mustStatus(t, resp, body, 200)
	got := up.lastRequest().Header
	for name, vals := range got {
		for _, v := range vals {
			if strings.Contains(v, "admin@example.com") {
				t.Errorf("upstream received spoofed %s: %q", name, v)
			}
		}
	}
	if !strings.Contains(got.Get("Cookie"), "theme=dark") || strings.Contains(got.Get("Cookie"), "_gateway") {
		t.Errorf("cookies upstream = %q; want theme=dark only", got.Get("Cookie"))
	}
}

func TestSignOutEndsSessionWithCSRF(t *testing.T) {
	m := newIdP(t)
	up := newUpstream(t)
	g := startGateway(t, idpVars(m, up), baseConfig)
	c, resp, body := signIn(t, g, m, user("jane@example.com"), "/")
	mustStatus(t, resp, body, 200)

	resp, body = get(t, c, g.URL+"/.gateway/sign-out")
	mustStatus(t, resp, body, 200)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if csrf == nil {
		t.Fatalf("sign-out page has no CSRF token: %.500s", body)
	}
	post := func(token, origin string) (*http.Response, string) {
		req, _ := http.NewRequest("POST", g.URL+"/.gateway/sign-out", strings.NewReader(url.Values{"csrf": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}
		return do(t, c, req)
	}
	resp, body = post("wrong", "")
	mustStatus(t, resp, body, http.StatusForbidden)
	resp, body = post(csrf[1], "https://evil.example")
	mustStatus(t, resp, body, http.StatusForbidden)
	// Still signed in.
	resp, body = get(t, c, g.URL+"/still")
	mustStatus(t, resp, body, 200)
	if resp.Request.URL.Host != mustURL(g.URL).Host {
		t.Fatal("session ended by a forged sign-out")
	}
	resp, body = post(csrf[1], "")
	mustStatus(t, resp, body, 200)
	if !strings.Contains(body, "Signed out") {
		t.Errorf("sign-out page: %.300s", body)
	}
	nr := &http.Client{Jar: c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, body = get(t, nr, g.URL+"/after")
	mustStatus(t, resp, body, http.StatusFound)
}

func TestCallbackRejectsForgedAndReplayedState(t *testing.T) {
	m := newIdP(t)
	up := newUpstream(t)
	g := startGateway(t, idpVars(m, up), baseConfig)
	nr := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, body := get(t, nr, g.URL+"/.gateway/callback?state=forged&code=x")
	mustStatus(t, resp, body, http.StatusBadRequest)

	// A real flow whose callback is replayed: the second use fails.
	c := browser(t)
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.Path, "/.gateway/callback") {
			return http.ErrUseLastResponse
		}
		return nil
	}
	m.QueueUser(user("jane@example.com"))
	resp, _ = get(t, c, g.URL+"/x")
	cb := resp.Header.Get("Location")
	if !strings.Contains(cb, "/.gateway/callback") {
		t.Fatalf("expected a redirect to the callback, got %d %q", resp.StatusCode, cb)
	}
	// Another browser (no binding cookie) cannot complete this sign-in.
	resp, body = get(t, nr, cb)
	mustStatus(t, resp, body, http.StatusBadRequest)
	// The state was consumed by that attempt: the real browser must start again.
	resp, body = get(t, c, cb)
	mustStatus(t, resp, body, http.StatusBadRequest)
}

func TestUnknownHostAndUpstreamDown(t *testing.T) {
	m := newIdP(t)
	up := newUpstream(t)
	vars := idpVars(m, up)
	g := startGateway(t, vars, baseConfig+`
  - name: down
    host: {{.Host}}
    path: /down
    upstream: http://127.0.0.1:1
    rules:
      allow: [{everyone: true}]
`)
	c, resp, body := signIn(t, g, m, user("jane@example.com"), "/")
	mustStatus(t, resp, body, 200)
	req, _ := http.NewRequest("GET", g.URL+"/", nil)
	req.Host = "unknown.example"
	resp, body = do(t, c, req)
	mustStatus(t, resp, body, http.StatusNotFound)
	// Reserved endpoints exist only on routed hosts.
	for _, p := range []string{"/.gateway/sign-out", "/.gateway/device", "/.well-known/gateway/jwks.json"} {
		req, _ = http.NewRequest("GET", g.URL+p, nil)
		req.Host = "unknown.example"
		resp, body = do(t, c, req)
		mustStatus(t, resp, body, http.StatusNotFound)
	}
	resp, body = get(t, c, g.URL+"/down")
	mustStatus(t, resp, body, http.StatusBadGateway)
	if !strings.Contains(body, "not answering") {
		t.Errorf("502 page: %.300s", body)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// mustRequestID: a JSON error names the request ID the gateway gave the
// request (24 hex digits), the one its audit record and log lines carry.
func mustRequestID(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	id, _ := jsonField(t, body, "request_id").(string)
	if len(id) != 24 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Errorf("JSON error without the request ID: %s", body)
	}
}
