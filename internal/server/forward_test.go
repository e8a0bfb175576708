package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"github.com/go-jose/go-jose/v4"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/config"
)

// fwdGateway is a gateway in forward-auth mode for package tests: a real
// Server (memory store, dev signing key) with a real OIDC provider
// (mockoidc) for discovery and sign-in redirects.
type fwdGateway struct {
	t      testing.TB
	srv    *Server
	idp    *mockoidc.MockOIDC
	auditW *lockedBuffer
	auditL *audit.Log
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

const fwdConfig = `public_url: http://gw.example
oidc: {issuer: "%ISSUER%", client_id: "%ID%", client_secret: "%SECRET%"}
session: {cookie_domain: example}
trusted_proxies: [%TRUSTED%]
forward_auth: {enabled: true}
log: {level: error}
routes:
  - name: tool
    host: tool.example
    upstream: http://127.0.0.1:1
    rules:
      allow: [{domains: [corp.example]}]
      deny: [{groups: [contractors]}, {methods: [DELETE]}]
  - name: status
    host: tool.example
    path: /status
    public: true
    upstream: http://127.0.0.1:1
`

// newFwdGateway starts a gateway whose trusted proxies are trusted (a
// comma-separated YAML list), with extra YAML (more routes) appended.
func newFwdGateway(t testing.TB, trusted string, extra ...string) *fwdGateway {
	t.Helper()
	cfg, m := fwdConfigFile(t, trusted, strings.Join(extra, ""))
	g := &fwdGateway{t: t, idp: m, auditW: &lockedBuffer{}}
	g.auditL = audit.New(g.auditW, nil, nil)
	var err error
	g.srv, err = New(context.Background(), cfg, Options{Audit: g.auditL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.srv.Close(); g.auditL.Close() })
	return g
}

// fwdConfigFile starts a provider and loads fwdConfig for it, with extra
// YAML appended.
func fwdConfigFile(t testing.TB, trusted, extra string) (*config.Config, *mockoidc.MockOIDC) {
	t.Helper()
	m := startMockIdP(t)
	c := m.Config()
	yml := strings.NewReplacer("%ISSUER%", c.Issuer, "%ID%", c.ClientID, "%SECRET%", c.ClientSecret, "%TRUSTED%", trusted).Replace(fwdConfig) + extra
	cfg := loadDevConfig(t, yml)
	return cfg, m
}

// session signs email in (a session in the store) and returns the cookie.
func (g *fwdGateway) session(email string, groups ...string) *http.Cookie {
	g.t.Helper()
	rt := g.srv.rt.Load()
	now := time.Now()
	id, err := rt.sessions.Create(context.Background(), &auth.Session{Subject: "sub-" + email, Email: email, Groups: groups,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		g.t.Fatal(err)
	}
	return &http.Cookie{Name: rt.cfg.Session.CookieName, Value: id}
}

// idToken is an ID token for email as the provider issues it to the
// gateway's client: what an allow_bearer route accepts.
func (g *fwdGateway) idToken(email string) string {
	g.t.Helper()
	kid, err := g.idp.Keypair.KeyID()
	if err != nil {
		g.t.Fatal(err)
	}
	now := time.Now()
	b, _ := json.Marshal(map[string]any{"iss": g.idp.Issuer(), "aud": g.idp.Config().ClientID, "sub": "sub-" + email,
		"email": email, "email_verified": true, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
	return oidctest.SignIDToken(g.idp.Keypair.PrivateKey, kid, oidc.RS256, string(b))
}

// verify checks a context token against the gateway's JWKS.
func (g *fwdGateway) verify(tok string) (*contexttoken.Claims, error) {
	var ks jose.JSONWebKeySet
	if err := json.Unmarshal(g.srv.rt.Load().signer.JWKS(), &ks); err != nil {
		g.t.Fatal(err)
	}
	v, err := contexttoken.NewStaticVerifier(contexttoken.Config{Issuer: "http://gw.example", Audiences: []string{"http://127.0.0.1:1"}}, ks)
	if err != nil {
		g.t.Fatal(err)
	}
	return v.Verify(context.Background(), tok)
}

// records closes the audit log and returns its decision records.
func (g *fwdGateway) records() []audit.Record {
	g.t.Helper()
	g.auditL.Close()
	g.auditW.mu.Lock()
	defer g.auditW.mu.Unlock()
	var out []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(g.auditW.b.String()), "\n") {
		if line == "" {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			g.t.Fatalf("audit line %q: %v", line, err)
		}
		if r.Kind == audit.KindDecision { // not the log's checkpoints
			out = append(out, r)
		}
	}
	return out
}

// fwdCase is one forward-auth check and what must come of it.
type fwdCase struct {
	name    string
	peer    string            // the check request's RemoteAddr
	target  string            // the check request's target
	host    string            // the check request's Host
	method  string            // the check request's method (default GET)
	headers map[string]string // the check request's headers
	add     [][2]string       // more header values (added)
	user    string            // sign in this user first ("" none)
	groups  []string

	wantStatus int
	// auditStatus is the status the record names when it differs from
	// the wire's (nginx's endpoint maps the gateway's to 401/403).
	auditStatus int
	// wantToken: the answer carries a context token that verifies, for
	// wantEmail and wantSource.
	wantToken              bool
	wantEmail, wantSource  string
	wantLocation           string // prefix of Location
	wantBody               string // substring of the body
	wantHeader, wantHValue string // one more response header
	// wantAudit: the one decision record's reasons, transport and detail
	// (substring).
	wantReason, wantTransport, wantDetail string
}

func (c fwdCase) run(t *testing.T, trusted string) {
	g := newFwdGateway(t, trusted)
	method := c.method
	if method == "" {
		method = http.MethodGet
	}
	r := httptest.NewRequest(method, c.target, nil)
	r.RemoteAddr = c.peer
	if c.host != "" {
		r.Host = c.host
	}
	for k, v := range c.headers {
		r.Header.Set(k, v)
	}
	for _, kv := range c.add {
		r.Header.Add(kv[0], kv[1])
	}
	if c.user != "" {
		r.AddCookie(g.session(c.user, c.groups...))
	}
	w := httptest.NewRecorder()
	g.srv.Handler().ServeHTTP(w, r)
	resp := w.Result()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != c.wantStatus {
		t.Fatalf("status %d, want %d; body %.300s", resp.StatusCode, c.wantStatus, body)
	}
	tok := resp.Header.Get("X-Gateway-Context")
	switch {
	case c.wantToken && tok == "":
		t.Fatal("no X-Gateway-Context in an allow")
	case c.wantToken:
		cl, err := g.verify(tok)
		if err != nil {
			t.Fatalf("the context token does not verify: %v", err)
		}
		if cl.Email != c.wantEmail || cl.SourceIP != c.wantSource || cl.Route != "tool" {
			t.Fatalf("claims email %q source %q route %q, want %q %q tool", cl.Email, cl.SourceIP, cl.Route, c.wantEmail, c.wantSource)
		}
		if resp.Header.Get(RequestIDHeader) == "" {
			t.Fatal("no request ID in an allow")
		}
	case tok != "":
		t.Fatalf("a context token in an answer that is not an allow of a signed-in user: %d", resp.StatusCode)
	}
	if c.wantLocation != "" && !strings.HasPrefix(resp.Header.Get("Location"), c.wantLocation) {
		t.Fatalf("Location %q, want prefix %q", resp.Header.Get("Location"), c.wantLocation)
	}
	if c.wantBody != "" && !strings.Contains(string(body), c.wantBody) {
		t.Fatalf("body does not contain %q: %.400s", c.wantBody, body)
	}
	if c.wantHeader != "" && resp.Header.Get(c.wantHeader) != c.wantHValue {
		t.Fatalf("%s = %q, want %q", c.wantHeader, resp.Header.Get(c.wantHeader), c.wantHValue)
	}
	recs := g.records()
	if len(recs) != 1 {
		t.Fatalf("audit records %+v, want one", recs)
	}
	rec := recs[0]
	auditStatus := c.auditStatus
	if auditStatus == 0 && c.wantStatus != http.StatusOK {
		auditStatus = c.wantStatus // an allow's record has no status: the response's is unknown here
	}
	if rec.Transport != c.wantTransport || rec.Status != auditStatus ||
		(c.wantReason != "" && (len(rec.Reasons) == 0 || rec.Reasons[0] != c.wantReason)) ||
		!strings.Contains(rec.Detail, c.wantDetail) {
		t.Fatalf("audit record %+v, want transport %q reason %q detail %q", rec, c.wantTransport, c.wantReason, c.wantDetail)
	}
	if c.wantToken && (rec.Decision != "allow" || rec.User != c.wantEmail || rec.SourceIP != c.wantSource) {
		t.Fatalf("audit record %+v of an allow for %s from %s", rec, c.wantEmail, c.wantSource)
	}
}

// traefik are the headers Traefik's ForwardAuth middleware sends
// (doc.traefik.io/traefik/middlewares/http/forwardauth: X-Forwarded-Method,
// -Proto, -Host, -Uri, -For); Caddy's forward_auth sends the same set.
func traefik(method, host, uri, client string, more ...string) map[string]string {
	h := map[string]string{"X-Forwarded-Method": method, "X-Forwarded-Proto": "https", "X-Forwarded-Host": host,
		"X-Forwarded-Uri": uri, "X-Forwarded-For": client}
	for i := 0; i+1 < len(more); i += 2 {
		h[more[i]] = more[i+1]
	}
	return h
}

// nginxHeaders are what the documented auth_request location sets.
func nginxHeaders(method, host, uri, client string, more ...string) map[string]string {
	h := map[string]string{"X-Original-Method": method, "X-Original-URI": uri, "X-Forwarded-Host": host,
		"X-Forwarded-Proto": "https", "X-Forwarded-For": client}
	for i := 0; i+1 < len(more); i += 2 {
		h[more[i]] = more[i+1]
	}
	return h
}

const (
	ingress   = "10.0.0.5:40000"
	stranger  = "192.0.2.9:40000"
	employee  = "198.51.100.7"
	trustedIn = "10.0.0.0/8"
)

func TestForwardAuthHTTP(t *testing.T) {
	cases := []fwdCase{
		{name: "signed in, allowed", peer: ingress, target: forwardAuthPath, user: "ann@corp.example",
			headers:    traefik("GET", "tool.example", "/reports?q=1", employee),
			wantStatus: 200, wantToken: true, wantEmail: "ann@corp.example", wantSource: employee,
			wantTransport: "forward-auth", wantReason: "allow-rule-matched"},
		{name: "public route: allowed without a token", peer: ingress, target: forwardAuthPath,
			headers:    traefik("GET", "tool.example", "/status", employee),
			wantStatus: 200, wantTransport: "forward-auth", wantReason: "public-route"},
		{name: "signed out browser: redirect to the provider", peer: ingress, target: forwardAuthPath,
			headers:    traefik("GET", "tool.example", "/reports", employee),
			wantStatus: 302, wantLocation: "http://127.0.0.1:", wantTransport: "forward-auth", wantReason: "sign-in-required"},
		{name: "signed out API client: 401 JSON", peer: ingress, target: forwardAuthPath,
			headers:    traefik("POST", "tool.example", "/reports", employee, "Accept", "application/json"),
			wantStatus: 401, wantBody: `"sign-in-required"`, wantTransport: "forward-auth", wantReason: "sign-in-required"},
		{name: "deny rule: the page", peer: ingress, target: forwardAuthPath, user: "cat@corp.example", groups: []string{"contractors"},
			headers:    traefik("GET", "tool.example", "/reports", employee),
			wantStatus: 403, wantBody: "A deny rule of tool excludes you", wantTransport: "forward-auth", wantReason: "deny-rule-matched"},
		{name: "untrusted peer: refused, whatever it claims", peer: stranger, target: forwardAuthPath, user: "ann@corp.example",
			headers:    traefik("GET", "tool.example", "/reports", employee),
			wantStatus: 403, wantTransport: "forward-auth", wantReason: "bad-request", wantDetail: "not in trusted_proxies"},
		{name: "untrusted peer with nginx's headers", peer: stranger, target: nginxAuthPath, user: "ann@corp.example",
			headers:    nginxHeaders("GET", "tool.example", "/reports", employee),
			wantStatus: 403, wantTransport: "nginx", wantReason: "bad-request", wantDetail: `X-Original-URI="/reports"`},
		{name: "no original URI", peer: ingress, target: forwardAuthPath, user: "ann@corp.example",
			headers:    map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Host": "tool.example"},
			wantStatus: 400, wantTransport: "forward-auth", wantReason: "bad-request", wantDetail: "X-Forwarded-Uri"},
		{name: "two original URIs", peer: ingress, target: forwardAuthPath, user: "ann@corp.example",
			headers: traefik("GET", "tool.example", "/status", employee), add: [][2]string{{"X-Forwarded-Uri", "/reports"}},
			wantStatus: 400, wantTransport: "forward-auth", wantReason: "bad-request", wantDetail: "expected one X-Forwarded-Uri header, got 2"},
		{name: "path not in normal form", peer: ingress, target: forwardAuthPath, user: "ann@corp.example",
			headers:    traefik("GET", "tool.example", "/status/../reports", employee),
			wantStatus: 400, wantBody: "normal form", wantTransport: "forward-auth", wantReason: "bad-request", wantDetail: "normal form"},
		{name: "escaped letters are not normal form", peer: ingress, target: forwardAuthPath, user: "ann@corp.example",
			headers:    traefik("GET", "tool.example", "/%73tatus", employee),
			wantStatus: 400, wantTransport: "forward-auth", wantReason: "bad-request", wantDetail: "normal form"},
		{name: "encoded slash", peer: ingress, target: forwardAuthPath,
			headers:    traefik("GET", "tool.example", "/status%2F..%2Freports", employee),
			wantStatus: 400, wantTransport: "forward-auth", wantReason: "bad-request"},
		{name: "encoded slash beside a raw byte", peer: ingress, target: forwardAuthPath,
			headers:    traefik("GET", "tool.example", "/status%2F|", employee),
			wantStatus: 400, wantTransport: "forward-auth", wantReason: "bad-request"},
		{name: "another route to a case-insensitive upstream", peer: ingress, target: forwardAuthPath, user: "ann@corp.example",
			headers:    traefik("GET", "tool.example", "/STATUS", employee),
			wantStatus: 400, wantBody: "ignores letter case", wantTransport: "forward-auth", wantReason: "bad-request"},
		{name: "another route to a Servlet container", peer: ingress, target: forwardAuthPath, user: "ann@corp.example",
			headers:    traefik("GET", "tool.example", "/status;x", employee),
			wantStatus: 400, wantBody: "Servlet", wantTransport: "forward-auth", wantReason: "bad-request"},
		{name: "a parameter-only segment", peer: ingress, target: forwardAuthPath, user: "ann@corp.example",
			headers:    traefik("GET", "tool.example", "/;x/status", employee),
			wantStatus: 400, wantTransport: "forward-auth", wantReason: "bad-request"},
		{name: "fragment", peer: ingress, target: forwardAuthPath,
			headers:    traefik("GET", "tool.example", "/status#x", employee),
			wantStatus: 400, wantTransport: "forward-auth", wantReason: "bad-request", wantDetail: "fragment"},
		{name: "bad method", peer: ingress, target: forwardAuthPath,
			headers:    traefik("GE T", "tool.example", "/status", employee),
			wantStatus: 400, wantTransport: "forward-auth", wantReason: "bad-request", wantDetail: "HTTP method"},
		{name: "client's X-Gateway-Context: refused", peer: ingress, target: forwardAuthPath, user: "ann@corp.example",
			headers:    traefik("GET", "tool.example", "/reports", employee, "X-Gateway-Context", "forged"),
			wantStatus: 400, wantBody: "only the gateway may set", wantTransport: "forward-auth", wantReason: "bad-request", wantDetail: "x-gateway-context"},
		{name: "client's underscore variant: refused", peer: ingress, target: forwardAuthPath, user: "ann@corp.example",
			headers:    traefik("GET", "tool.example", "/reports", employee, "X_Gateway_Context", "forged"),
			wantStatus: 400, wantTransport: "forward-auth", wantReason: "bad-request", wantDetail: "x_gateway_context"},
		{name: "method override: refused", peer: ingress, target: forwardAuthPath, user: "ann@corp.example",
			headers:    traefik("GET", "tool.example", "/reports", employee, "X-HTTP-Method-Override", "DELETE"),
			wantStatus: 400, wantTransport: "forward-auth", wantReason: "bad-request", wantDetail: "x-http-method-override"},
		{name: "asked about a gateway address", peer: ingress, target: forwardAuthPath, user: "ann@corp.example",
			headers:    traefik("GET", "tool.example", "/.gateway/callback?code=x", employee),
			wantStatus: 404, wantTransport: "forward-auth", wantReason: "route-not-found"},
		{name: "unknown host", peer: ingress, target: forwardAuthPath, user: "ann@corp.example",
			headers:    traefik("GET", "other.example", "/", employee),
			wantStatus: 404, wantTransport: "forward-auth", wantReason: "route-not-found"},

		{name: "nginx: signed in, allowed", peer: ingress, target: nginxAuthPath, user: "ann@corp.example",
			headers:    nginxHeaders("GET", "tool.example", "/reports", employee),
			wantStatus: 200, wantToken: true, wantEmail: "ann@corp.example", wantSource: employee,
			wantTransport: "nginx", wantReason: "allow-rule-matched"},
		{name: "nginx: signed out browser is 401, no redirect", peer: ingress, target: nginxAuthPath,
			headers:    nginxHeaders("GET", "tool.example", "/reports", employee),
			wantStatus: 401, wantHeader: "Location", wantHValue: "", wantTransport: "nginx", wantReason: "sign-in-required"},
		{name: "nginx: signed out API client is 403 (the page endpoint answers 401 JSON)", peer: ingress, target: nginxAuthPath,
			headers:    nginxHeaders("GET", "tool.example", "/reports", employee, "Accept", "application/json"),
			wantStatus: 403, auditStatus: 401, wantTransport: "nginx", wantReason: "sign-in-required"},
		{name: "nginx: deny is 403", peer: ingress, target: nginxAuthPath, user: "cat@corp.example", groups: []string{"contractors"},
			headers:    nginxHeaders("GET", "tool.example", "/reports", employee),
			wantStatus: 403, wantHeader: "Content-Type", wantHValue: "", wantTransport: "nginx", wantReason: "deny-rule-matched"},
		{name: "nginx: bad request is 403", peer: ingress, target: nginxAuthPath,
			headers:    nginxHeaders("GET", "tool.example", "/a//b", employee),
			wantStatus: 403, auditStatus: 400, wantTransport: "nginx", wantReason: "bad-request"},

		// A POST that Symfony or Laravel execute as DELETE (the query's
		// _method) is judged as a DELETE too.
		{name: "nginx: a POST overridden to DELETE is denied as a DELETE", peer: ingress, target: nginxAuthPath, user: "ann@corp.example",
			headers:    nginxHeaders("POST", "tool.example", "/reports?_method=DELETE", employee),
			wantStatus: 403, wantTransport: "nginx", wantReason: "deny-rule-matched"},
		{name: "nginx: a plain POST is allowed", peer: ingress, target: nginxAuthPath, user: "ann@corp.example",
			headers:    nginxHeaders("POST", "tool.example", "/reports?method=x", employee, "Content-Type", "text/plain"),
			wantStatus: 200, wantToken: true, wantEmail: "ann@corp.example", wantSource: employee, wantTransport: "nginx", wantReason: "allow-rule-matched"},

		// nginx's error_page 403 asks the page endpoint about the same
		// original request: the page with its own status, never an allow.
		{name: "nginx page: deny is the page with its status", peer: ingress, target: nginxPagePath, user: "cat@corp.example", groups: []string{"contractors"},
			headers:    nginxHeaders("GET", "tool.example", "/reports", employee),
			wantStatus: 403, wantHeader: "Content-Type", wantHValue: "text/html; charset=utf-8", wantTransport: "nginx-page", wantReason: "deny-rule-matched"},
		{name: "nginx page: signed out API client is 401 JSON", peer: ingress, target: nginxPagePath,
			headers:    nginxHeaders("GET", "tool.example", "/reports", employee, "Accept", "application/json"),
			wantStatus: 401, wantHeader: "Content-Type", wantHValue: "application/json", wantTransport: "nginx-page", wantReason: "sign-in-required"},
		{name: "nginx page: allowed now is a redirect to try again, not an allow", peer: ingress, target: nginxPagePath, user: "ann@corp.example",
			headers:    nginxHeaders("GET", "tool.example", "/reports?q=1", employee),
			wantStatus: 303, wantLocation: "/reports?q=1", wantTransport: "nginx-page", wantReason: "changed-since-check", wantDetail: "not forwarded"},
		{name: "nginx page: allowed now, a POST is told to send again", peer: ingress, target: nginxPagePath, user: "ann@corp.example",
			headers:    nginxHeaders("POST", "tool.example", "/reports", employee, "Content-Type", "text/plain"),
			wantStatus: 409, wantBody: "Send it again", wantTransport: "nginx-page", wantReason: "changed-since-check"},
		{name: "nginx page: a client's describing header is refused as at the check", peer: ingress, target: nginxPagePath, user: "ann@corp.example",
			headers:    nginxHeaders("GET", "tool.example", "/reports", employee, "X-Forwarded-Uri", "/reports"),
			wantStatus: 400, wantTransport: "nginx-page", wantReason: "bad-request", wantDetail: "client sent x-forwarded-uri"},
		{name: "nginx page: untrusted peer", peer: stranger, target: nginxPagePath, user: "ann@corp.example",
			headers:    nginxHeaders("GET", "tool.example", "/reports", employee),
			wantStatus: 403, wantTransport: "nginx-page", wantReason: "bad-request", wantDetail: "not in trusted_proxies"},

		{name: "envoy http: signed in, allowed, client copies removed", peer: ingress, target: envoyAuthPrefix + "/reports?q=1",
			host: "tool.example", user: "ann@corp.example",
			headers:    map[string]string{"X-Forwarded-For": employee, "X-Gateway-Context": "forged", "X_Gateway_Context": "forged"},
			wantStatus: 200, wantToken: true, wantEmail: "ann@corp.example", wantSource: employee,
			wantHeader: "X-Envoy-Auth-Headers-To-Remove", wantHValue: "x_gateway_context,cookie", // the session cookie was the only one
			wantTransport: "ext-authz-http", wantReason: "allow-rule-matched"},
		{name: "envoy http: original method judged", peer: ingress, target: envoyAuthPrefix + "/reports", method: http.MethodDelete,
			host: "tool.example", headers: map[string]string{"X-Forwarded-For": employee, "Accept": "application/json"},
			wantStatus: 401, wantTransport: "ext-authz-http", wantReason: "sign-in-required"},
		{name: "envoy http: signed out browser", peer: ingress, target: envoyAuthPrefix + "/reports", host: "tool.example",
			headers:    map[string]string{"X-Forwarded-For": employee},
			wantStatus: 302, wantLocation: "http://127.0.0.1:", wantTransport: "ext-authz-http", wantReason: "sign-in-required"},
		{name: "envoy http: dot segments after the prefix", peer: ingress, target: envoyAuthPrefix + "/../../../reports", host: "tool.example",
			user: "ann@corp.example", headers: map[string]string{"X-Forwarded-For": employee},
			wantStatus: 400, wantTransport: "ext-authz-http", wantReason: "bad-request", wantDetail: "normal form"},
		{name: "envoy http: untrusted peer", peer: stranger, target: envoyAuthPrefix + "/reports", host: "tool.example",
			user: "ann@corp.example", wantStatus: 403, wantTransport: "ext-authz-http", wantReason: "bad-request", wantDetail: "not in trusted_proxies"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, trustedIn) })
	}
}

// bearerRoute takes bearer ID tokens (allow_bearer) under /api of
// tool.example; the rest of the host is the "tool" route, which does not.
const bearerRoute = `  - name: api
    host: tool.example
    path: /api
    allow_bearer: true
    upstream: http://127.0.0.1:1
    rules:
      allow: [{domains: [corp.example]}]
`

// credCase is an allowed request with credentials, and what the answer
// lets the tool receive of them, asked through every transport.
type credCase struct {
	name string
	path string // the original request's path
	// session: ann's session cookie; cookie: the tool's own cookies.
	session bool
	cookie  string
	// bearer: an ID token of ann's in Authorization; else authorization
	// is the client's header ("" none).
	bearer        bool
	authorization string

	// consumed: the gateway used the Authorization header (the answer's
	// is empty); otherwise the answer echoes the client's.
	consumed bool
	// wantCookie is the answer's Cookie; wantRemoved what Envoy must
	// remove (sorted).
	wantCookie  string
	wantRemoved []string
}

var credCases = []credCase{
	{name: "bearer token on an allow_bearer route: consumed, removed", path: "/api/items", bearer: true,
		consumed: true, wantRemoved: []string{"authorization"}},
	{name: "bearer token consumed, the tool's cookie kept", path: "/api/items", bearer: true, cookie: "theme=dark",
		consumed: true, wantCookie: "theme=dark", wantRemoved: []string{"authorization"}},
	{name: "session, no Authorization: unaffected", path: "/reports", session: true, cookie: "theme=dark",
		wantCookie: "theme=dark"},
	{name: "session cookie only: removed", path: "/reports", session: true,
		wantRemoved: []string{"cookie"}},
	{name: "the tool's own Basic credentials: kept", path: "/reports", session: true, cookie: "theme=dark",
		authorization: "Basic dG9vbDpzZWNyZXQ=", wantCookie: "theme=dark"},
	{name: "a bearer token on a route without allow_bearer: never read, kept", path: "/reports", session: true, cookie: "theme=dark",
		bearer: true, wantCookie: "theme=dark"},
	{name: "Basic on an allow_bearer route: not a bearer token, kept", path: "/api/items", session: true, cookie: "theme=dark",
		authorization: "Basic dG9vbDpzZWNyZXQ=", wantCookie: "theme=dark"},
}

// credentials returns c's client headers (canonical names) for g.
func (c credCase) credentials(g *fwdGateway) http.Header {
	h := http.Header{}
	var cookies []string
	if c.session {
		s := g.session("ann@corp.example")
		cookies = append(cookies, s.Name+"="+s.Value)
	}
	if c.cookie != "" {
		cookies = append(cookies, c.cookie)
	}
	if len(cookies) > 0 {
		h.Set("Cookie", strings.Join(cookies, "; "))
	}
	if c.bearer {
		h.Set("Authorization", "Bearer "+g.idToken("ann@corp.example"))
	} else if c.authorization != "" {
		h.Set("Authorization", c.authorization)
	}
	return h
}

// In proxy mode the tool never receives the gateway's cookies or a bearer
// token the gateway consumed (handler.go: StripCookies, StripAuthorization);
// in forward-auth mode the allow answer has every ingress drop them: Cookie
// and Authorization to set (nginx, Traefik, Caddy), and for Envoy the
// emptied ones to remove. Authorization the gateway did not consume is the
// client's to the tool.
func TestForwardAuthCredentials(t *testing.T) {
	g := newFwdGateway(t, trustedIn, bearerRoute)
	for _, c := range credCases {
		for _, ep := range []struct{ name, target string }{
			{"forward-auth", forwardAuthPath}, {"nginx", nginxAuthPath}, {"envoy http", envoyAuthPrefix + c.path},
		} {
			t.Run(ep.name+": "+c.name, func(t *testing.T) {
				r := httptest.NewRequest(http.MethodGet, ep.target, nil)
				r.RemoteAddr, r.Host = ingress, "tool.example"
				switch ep.target {
				case forwardAuthPath:
					for k, v := range traefik("GET", "tool.example", c.path, employee) {
						r.Header.Set(k, v)
					}
				case nginxAuthPath:
					for k, v := range nginxHeaders("GET", "tool.example", c.path, employee) {
						r.Header.Set(k, v)
					}
				default:
					r.Header.Set("X-Forwarded-For", employee)
				}
				sent := c.credentials(g)
				for k, v := range sent {
					r.Header[k] = v
				}
				w := httptest.NewRecorder()
				g.srv.Handler().ServeHTTP(w, r)
				h := w.Result().Header
				if w.Code != http.StatusOK || h.Get("X-Gateway-Context") == "" {
					t.Fatalf("status %d, token %q; want an allow: %.300s", w.Code, h.Get("X-Gateway-Context"), w.Body)
				}
				wantAuth := sent.Get("Authorization")
				if c.consumed {
					wantAuth = ""
				}
				if got := h.Values("Authorization"); len(got) != 1 || got[0] != wantAuth {
					t.Errorf("answer's Authorization %q, want one, %q", got, wantAuth)
				}
				if got := h.Values("Cookie"); len(got) != 1 || got[0] != c.wantCookie {
					t.Errorf("answer's Cookie %q, want one, %q", got, c.wantCookie)
				}
				var removed []string
				if v := h.Get("X-Envoy-Auth-Headers-To-Remove"); v != "" {
					removed = strings.Split(v, ",")
					slices.Sort(removed)
				}
				if ep.target != forwardAuthPath && ep.target != nginxAuthPath {
					if !slices.Equal(removed, c.wantRemoved) {
						t.Errorf("X-Envoy-Auth-Headers-To-Remove %q, want %q", removed, c.wantRemoved)
					}
				} else if removed != nil {
					t.Errorf("X-Envoy-Auth-Headers-To-Remove %q in an answer to %s", removed, ep.name)
				}
			})
		}
	}
}

// The check endpoints answer their exact paths only: anything that merely
// normalizes to them is an ordinary reserved path (404, no decision).
func TestForwardAuthExactPaths(t *testing.T) {
	g := newFwdGateway(t, trustedIn)
	for _, p := range []string{"/.gateway//auth", "/.gateway/auth/", "/.gateway/./auth/nginx", "/.gateway/auth/envoy"} {
		r := httptest.NewRequest(http.MethodGet, p, nil)
		r.Host, r.RemoteAddr = "tool.example", ingress
		for k, v := range traefik("GET", "tool.example", "/reports", employee) {
			r.Header.Set(k, v)
		}
		r.AddCookie(g.session("ann@corp.example"))
		w := httptest.NewRecorder()
		g.srv.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusNotFound || w.Header().Get("X-Gateway-Context") != "" {
			t.Errorf("%s: status %d, token %q; want 404 and none", p, w.Code, w.Header().Get("X-Gateway-Context"))
		}
	}
}

// Forward-auth endpoints do not exist unless forward_auth.enabled.
func TestForwardAuthDisabled(t *testing.T) {
	g := newFwdGateway(t, trustedIn)
	rt := *g.srv.rt.Load()
	cfg := *rt.cfg
	cfg.ForwardAuth.Enabled = false
	rt.cfg = &cfg
	g.srv.rt.Store(&rt)
	for _, p := range []string{forwardAuthPath, nginxAuthPath, envoyAuthPrefix + "/reports", signInPath + "?rd=http://tool.example/"} {
		r := httptest.NewRequest(http.MethodGet, p, nil)
		r.Host, r.RemoteAddr = "tool.example", ingress
		for k, v := range traefik("GET", "tool.example", "/reports", employee) {
			r.Header.Set(k, v)
		}
		r.AddCookie(g.session("ann@corp.example"))
		w := httptest.NewRecorder()
		g.srv.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusNotFound || w.Header().Get("X-Gateway-Context") != "" {
			t.Errorf("%s: status %d; want 404", p, w.Code)
		}
	}
}

func TestForwardSignIn(t *testing.T) {
	cases := []struct {
		name   string
		query  string
		status int
	}{
		{"nginx's unescaped $request_uri", "rd=http://tool.example/reports?a=1&b=2", http.StatusFound},
		{"percent-encoded", "rd=http%3A%2F%2Ftool.example%2Freports%3Fa%3D1%26b%3D2", http.StatusFound},
		{"not a routed host", "rd=http://evil.example/", http.StatusBadRequest},
		{"look-alike host", "rd=http://tool.example.evil.example/", http.StatusBadRequest},
		{"scheme-relative", "rd=//evil.example/", http.StatusBadRequest},
		{"other scheme", "rd=javascript:alert(1)", http.StatusBadRequest},
		{"rd not first", "x=1&rd=http://tool.example/", http.StatusBadRequest},
		{"no rd", "", http.StatusBadRequest},
	}
	g := newFwdGateway(t, trustedIn)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, signInPath+"?"+c.query, nil)
			r.Host, r.RemoteAddr = "tool.example", ingress
			w := httptest.NewRecorder()
			g.srv.Handler().ServeHTTP(w, r)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d; %.300s", w.Code, c.status, w.Body)
			}
			if c.status != http.StatusFound {
				return
			}
			if loc := w.Header().Get("Location"); !strings.HasPrefix(loc, g.idp.AuthorizationEndpoint()+"?") {
				t.Fatalf("Location %q is not the provider's authorization endpoint", loc)
			}
			if !strings.Contains(w.Header().Get("Set-Cookie"), "HttpOnly") {
				t.Fatalf("no sign-in binding cookie: %q", w.Header().Get("Set-Cookie"))
			}
		})
	}
}

func FuzzOriginalValidate(f *testing.F) {
	f.Add("GET", "tool.example", "/a?b=c")
	f.Add("PROPFIND", "[::1]:8443", "/%2e%2e/x")
	f.Add("G\x00T", "a b", "/#x")
	f.Fuzz(func(t *testing.T, method, host, uri string) {
		o := original{method: method, host: host, uri: uri}
		if o.validate() != nil {
			return
		}
		if strings.ContainsAny(uri, " #\x00\r\n") || uri[0] != '/' || strings.ContainsAny(host, "/@ ") || method == "" {
			t.Fatalf("accepted %q %q %q", method, host, uri)
		}
	})
}

// The query's _method of a POST is the method Symfony and Laravel execute:
// the decision judges it too; other requests have none (nil, no parsing).
func TestMethodOverrides(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		want           []string
	}{
		{"POST", "/x?_method=DELETE", []string{"DELETE"}},
		{"POST", "/x?a=1&%5Fmeth%6Fd=PUT", []string{"PUT"}},
		{"POST", "/x?_method=PATCH&_method=DELETE", []string{"PATCH", "DELETE"}},
		{"POST", "/x?_method=DELETE&bad=%zz", []string{"DELETE"}},
		{"POST", "/x?method=DELETE", nil},
		{"POST", "/x", nil},
		{"GET", "/x?_method=DELETE", nil},
		// PHP builds $_GET (Symfony's and Laravel's query) from names with
		// leading spaces dropped, ' ' and '.' read as '_', cut at a NUL or
		// an array's '[': each of these is _method to them.
		{"POST", "/x?.method=DELETE", []string{"DELETE"}},
		{"POST", "/x?%2Emethod=DELETE", []string{"DELETE"}},
		{"POST", "/x?+_method=DELETE", []string{"DELETE"}},
		{"POST", "/x?%20%20_method=DELETE", []string{"DELETE"}},
		{"POST", "/x?_method%00=DELETE", []string{"DELETE"}},
		{"POST", "/x?_method%00;x=DELETE", []string{"DELETE"}},
		{"POST", "/x?_method[]=DELETE", []string{"DELETE"}},
		{"POST", "/x?_method=PUT&bad%zz=1&.method=DELETE", []string{"PUT", "DELETE"}},
		{"POST", "/x?_method=%zzDELETE", []string{"%zzDELETE"}},
		{"POST", "/x?x_method=DELETE&_methods=PUT&_METHOD=PATCH", nil},
		// Symfony upper-cases REQUEST_METHOD before it looks for
		// _method: a "post" (Go, Caddy, Apache pass it on) is a POST.
		{"post", "/x?_method=DELETE", []string{"DELETE"}},
		{"pOsT", "/x?_method=PUT", []string{"PUT"}},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		if got := methodOverrides(r); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.target, got, tc.want)
		}
	}
}
