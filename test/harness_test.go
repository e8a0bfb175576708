// Package test holds the gateway's integration and end-to-end tests: a real
// OIDC provider (mockoidc, and the dev provider), real upstreams, a real
// redis-server, real Chromium, the TPM simulator.
package test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/gatewaytest"
	"github.com/accessgateway/gateway/internal/server"
)

// upstream is a tool behind the gateway that records what it received.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	last *http.Request
	hits atomic.Int64
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		u.last = r.Clone(context.Background())
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"path": r.URL.EscapedPath(), "query": r.URL.RawQuery, "headers": r.Header, "host": r.Host,
		})
	}))
	t.Cleanup(u.Close)
	return u
}

// tokenUpstream is a tool that verifies the gateway's context token with
// package contexttoken against the gateway's JWKS (fetched over HTTP once
// the gateway is up, see use) and records the claims it verified.
type tokenUpstream struct {
	*upstream
	mu     sync.Mutex
	v      *contexttoken.Verifier
	claims *contexttoken.Claims
}

func newTokenUpstream(t testing.TB) *tokenUpstream {
	tu := &tokenUpstream{upstream: &upstream{}}
	tu.upstream.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tu.upstream.hits.Add(1)
		tu.upstream.mu.Lock()
		tu.upstream.last = r.Clone(context.Background())
		tu.upstream.mu.Unlock()
		tu.mu.Lock()
		v := tu.v
		tu.mu.Unlock()
		if v == nil {
			http.Error(w, "tool: no verifier", http.StatusServiceUnavailable)
			return
		}
		c, err := v.Verify(r.Context(), r.Header.Get(contexttoken.DefaultHeader))
		if err != nil {
			http.Error(w, "tool: "+err.Error(), http.StatusUnauthorized)
			return
		}
		tu.mu.Lock()
		tu.claims = c
		tu.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c)
	}))
	t.Cleanup(tu.upstream.Close)
	return tu
}

// use points the tool at gateway g's JWKS; now is the tool's clock (nil:
// time.Now), the gateway's when a test moves it.
func (tu *tokenUpstream) use(t testing.TB, g *gateway, now func() time.Time) {
	t.Helper()
	v, err := contexttoken.NewVerifier(context.Background(), contexttoken.Config{
		JWKSURL: g.URL + "/.well-known/gateway/jwks.json", Issuer: g.URL, Audiences: []string{tu.URL}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	tu.mu.Lock()
	tu.v = v
	tu.mu.Unlock()
}

// lastClaims are the claims of the last verified request.
func (tu *tokenUpstream) lastClaims(t testing.TB) *contexttoken.Claims {
	t.Helper()
	tu.mu.Lock()
	defer tu.mu.Unlock()
	if tu.claims == nil {
		t.Fatal("the tool verified no context token")
	}
	return tu.claims
}

func (u *upstream) lastRequest() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// syncBuffer collects audit lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) records(t testing.TB) []audit.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if line == "" {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line is not JSON: %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// gateway is one running gateway for a test.
type gateway struct {
	t      testing.TB
	srv    *server.Server
	ts     *httptest.Server
	auditW *syncBuffer
	auditL *audit.Log
	// auditPath is the audit file, when the log is written to one.
	auditPath string
	cfgPath   string
	URL       string
	Host      string
	// Addr is the listener's address (host:port), for clients that dial
	// host names of their own to it (gatewayDialer).
	Addr     string
	adminURL string
}

// newAdmin serves the gateway's admin handler and returns a client for it.
func newAdmin(t testing.TB, g *gateway) *http.Client {
	ts := httptest.NewServer(g.srv.AdminHandler())
	t.Cleanup(ts.Close)
	g.adminURL = ts.URL
	return ts.Client()
}

// envVars feed a config template.
type envVars struct {
	PublicURL, Issuer, ClientID, ClientSecret, Upstream, Host string
	Store, RedisAddr                                          string
	Extra                                                     string
	// Device trust: the inventory's EK hash and status.
	EKHash, DeviceStatus string
	// Data holds more template values ({{.Data.JiraURL}}).
	Data map[string]string
	// Now, when set, is the gateway's clock (not part of the template).
	Now func() time.Time
	// AuditWriter, when set, wraps the audit writer (a sink that fails).
	AuditWriter func(io.Writer) io.Writer
	// AuditFile "auto" writes the audit log to a file beside the config
	// (audit.file), so that the gateway can read it back (review pages).
	AuditFile string
	// PublicHost and RouteHost, when set, are the public_url's host name
	// (public_url is http://PublicHost, no port) and the routes' host, for
	// tests with several host names; clients reach them through
	// gatewayDialer. CookieDomain is session.cookie_domain.
	PublicHost, RouteHost, CookieDomain string
}

// testSessionKey is the session encryption key of the replicas in tests.
const testSessionKey = "dGVzdC1zZXNzaW9uLWtleS0wMTIzNDU2Nzg5YWJjZGU="

const baseConfig = `public_url: {{.PublicURL}}
listen: {address: "127.0.0.1:0"}
admin: {address: "127.0.0.1:1"}
oidc:
  issuer: {{.Issuer}}
  client_id: {{.ClientID}}
  client_secret: {{.ClientSecret}}
  scopes: [openid, email, profile, groups]
session:
  store: {{.Store}}
{{- if eq .Store "redis"}}
  redis: {addrs: ["{{.RedisAddr}}"]}
  # Replicas share the key that seals refresh and ID tokens in Redis.
  encryption_keys: [{key: "` + testSessionKey + `", state: active}]
{{- end}}
  lifetime: 1h
{{- if .CookieDomain}}
  cookie_domain: {{.CookieDomain}}
{{- end}}
log: {level: error}
{{- if .AuditFile}}
audit: {file: "{{.AuditFile}}"}
{{- end}}
routes:
  - name: tool
    host: {{.Host}}
    upstream: {{.Upstream}}
    allow_bearer: true
    rules:
      allow:
        - domains: [example.com]
      deny:
        - groups: [contractors]
  - name: admin
    host: {{.Host}}
    path: /admin
    upstream: {{.Upstream}}
    rules:
      allow:
        - groups: [admins]
  - name: customers
    host: {{.Host}}
    path: /customers/{customer_id:[0-9]+}
    upstream: {{.Upstream}}
    rules:
      allow:
        - groups: [engineering]
          methods: [GET]
{{.Extra}}
`

// startGateway renders the config template and starts a gateway on a fresh
// loopback port. vars.PublicURL and vars.Host are filled in.
func startGateway(t testing.TB, vars envVars, tmpl string) *gateway {
	t.Helper()
	return startGatewayWith(t, vars, tmpl, nil)
}

// startGatewayWith is startGateway; with serverTLS it serves HTTPS with the
// gateway's TLS configuration (optional device client certificates).
func startGatewayWith(t testing.TB, vars envVars, tmpl string, serverTLS *tls.Config) *gateway {
	t.Helper()
	return startGatewayFull(t, vars, tmpl, serverTLS, nil)
}

// startGatewayAfter is startGateway with prepare(dir) run on the config's
// directory before the gateway starts (to write files the config names).
func startGatewayAfter(t testing.TB, vars envVars, tmpl string, prepare func(dir string)) *gateway {
	t.Helper()
	return startGatewayFull(t, vars, tmpl, nil, prepare)
}

func startGatewayFull(t testing.TB, vars envVars, tmpl string, serverTLS *tls.Config, prepare func(dir string)) *gateway {
	t.Helper()
	g := &gateway{t: t, auditW: &syncBuffer{}}
	var h atomic.Pointer[http.Handler]
	g.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*h.Load()).ServeHTTP(w, r)
	}))
	g.URL = "http://" + g.ts.Listener.Addr().String()
	if serverTLS != nil {
		g.URL = "https://" + g.ts.Listener.Addr().String()
	}
	g.Host = "127.0.0.1"
	g.Addr = g.ts.Listener.Addr().String()
	if vars.PublicHost != "" {
		g.URL, g.Host = "http://"+vars.PublicHost, vars.RouteHost
	}
	vars.PublicURL, vars.Host = g.URL, g.Host
	if vars.Store == "" {
		vars.Store = "memory"
	}
	g.cfgPath = filepath.Join(t.TempDir(), "gateway.yaml")
	if vars.AuditFile == "auto" {
		vars.AuditFile = filepath.Join(filepath.Dir(g.cfgPath), "audit.log")
		g.auditPath = vars.AuditFile
	}
	g.writeConfig(vars, tmpl)
	if prepare != nil {
		prepare(filepath.Dir(g.cfgPath))
	}
	cfg, err := config.LoadFile(g.cfgPath, config.Options{Dev: true})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	var aw io.Writer = g.auditW
	if vars.AuditWriter != nil {
		aw = vars.AuditWriter(aw)
	}
	if g.auditPath != "" {
		g.auditL, err = audit.OpenOptions(audit.Options{File: g.auditPath, Fsync: "never"})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		g.auditL = audit.New(aw, nil, nil)
	}
	srv, err := server.New(context.Background(), cfg, server.Options{
		Audit: g.auditL, ConfigPath: g.cfgPath, LoadOptions: config.Options{Dev: true}, Now: vars.Now,
	})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	g.srv = srv
	handler := srv.Handler()
	h.Store(&handler)
	if serverTLS != nil {
		g.ts.TLS = srv.TLSConfig(serverTLS)
		g.ts.EnableHTTP2 = true
		g.ts.StartTLS()
	} else {
		g.ts.Start()
	}
	t.Cleanup(func() {
		g.ts.Close()
		srv.Close()
		g.auditL.Close()
	})
	return g
}

func (g *gateway) writeConfig(vars envVars, tmpl string) {
	g.t.Helper()
	var b bytes.Buffer
	if err := template.Must(template.New("cfg").Parse(tmpl)).Execute(&b, vars); err != nil {
		g.t.Fatal(err)
	}
	tmp := g.cfgPath + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
		g.t.Fatal(err)
	}
	if err := os.Rename(tmp, g.cfgPath); err != nil {
		g.t.Fatal(err)
	}
}

// audit flushes and returns the audit records so far.
func (g *gateway) audit() []audit.Record {
	if g.auditPath != "" {
		b, _ := os.ReadFile(g.auditPath)
		var sb syncBuffer
		sb.b.Write(b)
		return sb.records(g.t)
	}
	// The writer flushes when its queue is empty; give it a moment.
	deadline := time.Now().Add(2 * time.Second)
	var n int
	for time.Now().Before(deadline) {
		recs := g.auditW.records(g.t)
		if len(recs) == n && n > 0 {
			return recs
		}
		n = len(recs)
		time.Sleep(20 * time.Millisecond)
	}
	return g.auditW.records(g.t)
}

// idp is a standard OIDC provider for tests (mockoidc: code flow, PKCE,
// refresh tokens; it signs in queued users without a form).
// newIdP and user are gatewaytest's.
var (
	newIdP = gatewaytest.NewIdP
	user   = gatewaytest.User
)

func idpVars(m *mockoidc.MockOIDC, up *upstream) envVars {
	c := m.Config()
	return envVars{Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret, Upstream: up.URL}
}

// browser is an HTTP client with a cookie jar that follows redirects.
func browser(t testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func get(t testing.TB, c *http.Client, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return do(t, c, req)
}

func do(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signIn signs u in through the IdP and returns the browser.
func signIn(t testing.TB, g *gateway, m *mockoidc.MockOIDC, u *mockoidc.MockUser, path string) (*http.Client, *http.Response, string) {
	t.Helper()
	c := browser(t)
	m.QueueUser(u)
	resp, body := get(t, c, g.URL+path)
	return c, resp, body
}

func mustStatus(t testing.TB, resp *http.Response, body string, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body: %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, want, pageSummary(body))
	}
}

func jsonField(t testing.TB, body, key string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not JSON: %v: %.300s", err, body)
	}
	return m[key]
}

func htmlUnescape(s string) string { return html.UnescapeString(s) }

var (
	summaryTags  = regexp.MustCompile(`(?s)<style>.*?</style>|<script>.*?</script>|<[^>]+>`)
	summarySpace = regexp.MustCompile(`\s+`)
)

// pageSummary is a page's text without markup, for failure messages.
func pageSummary(body string) string {
	s := summarySpace.ReplaceAllString(summaryTags.ReplaceAllString(body, " "), " ")
	if len(s) > 700 {
		s = s[:700] + "…"
	}
	return s
}
