package oidc

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/server"
	"github.com/accessgateway/gateway/internal/token"
)

// TestMain silences the default logger: zitadel's example provider logs
// every request through it.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

// upstream is a tool behind the gateway: it verifies the context token
// against the gateway's JWKS (as any tool would, with package contexttoken)
// and answers the verified claims as JSON.
type upstream struct {
	*httptest.Server
	gatewayURL atomic.Pointer[string]
	once       sync.Once
	verifier   *contexttoken.Verifier
	verr       error
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.once.Do(func() {
			gw := *u.gatewayURL.Load()
			u.verifier, u.verr = contexttoken.NewVerifier(r.Context(), contexttoken.Config{
				JWKSURL: gw + "/.well-known/gateway/jwks.json", Issuer: gw, Audiences: []string{u.URL},
			})
		})
		if u.verr != nil {
			http.Error(w, "verifier: "+u.verr.Error(), http.StatusInternalServerError)
			return
		}
		c, err := u.verifier.Verify(r.Context(), r.Header.Get(contexttoken.DefaultHeader))
		if err != nil {
			http.Error(w, "context token: "+err.Error(), http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c)
	}))
	t.Cleanup(u.Close)
	return u
}

// gwVars fill the gateway's config template.
type gwVars struct {
	PublicURL, Upstream, Issuer, ClientID, ClientSecret string
	// OIDCExtra is more lines under oidc: (indented by two spaces).
	OIDCExtra string
	// RedisAddr selects the redis store; empty: memory.
	RedisAddr string
	Dir       string
}

const gatewayYAML = `public_url: {{.PublicURL}}
listen: {address: "127.0.0.1:0"}
admin: {address: "127.0.0.1:1"}
oidc:
  issuer: {{.Issuer}}
  client_id: {{.ClientID}}
  client_secret: {{.ClientSecret}}
{{.OIDCExtra}}
session:
{{- if .RedisAddr}}
  store: redis
  redis: {addrs: ["{{.RedisAddr}}"]}
{{- end}}
  encryption_keys: [{file: session.key, state: active}]
log: {level: error}
token:
  keys: [{file: token.pem, state: active}]
routes:
  - name: tool
    host: 127.0.0.1
    upstream: {{.Upstream}}
    allow_bearer: true
    rules:
      allow:
        - everyone: true
`

// gateway is one gateway built from a file as `gateway serve` builds it:
// config.LoadFile without the dev allowances (http is accepted because
// every address is on loopback), then server.New.
type gateway struct {
	h     atomic.Pointer[http.Handler]
	srv   *server.Server
	ts    *httptest.Server
	admin *httptest.Server
	URL   string
	cfg   *config.Config
}

// newGateway reserves the gateway's address (providers need its callback
// URL before the gateway can be configured with theirs).
func newGateway(t *testing.T) *gateway {
	g := &gateway{}
	g.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*g.h.Load()).ServeHTTP(w, r) }))
	g.URL = "http://" + g.ts.Listener.Addr().String()
	t.Cleanup(g.ts.Close)
	return g
}

// start writes the config (and its key files, once per directory) and
// starts the gateway; up is told the gateway's URL for its verifier.
func (g *gateway) start(t *testing.T, v gwVars, up *upstream, opts server.Options) *gateway {
	t.Helper()
	up.gatewayURL.CompareAndSwap(nil, &g.URL)
	v.PublicURL, v.Upstream = g.URL, up.URL
	if v.Dir == "" {
		v.Dir = t.TempDir()
	}
	if _, err := os.Stat(filepath.Join(v.Dir, "token.pem")); err != nil {
		if _, err := token.WriteKeyFile(filepath.Join(v.Dir, "token.pem"), "ES256"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(v.Dir, "session.key"), []byte(auth.NewKey()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(v.Dir, fmt.Sprintf("gateway-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(path, []byte(render(gatewayYAML, v)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(path, config.Options{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	g.cfg = cfg
	if opts.DiscoveryBackoff == 0 {
		opts.DiscoveryBackoff = 20 * time.Millisecond
	}
	srv, err := server.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	g.srv = srv
	handler := srv.Handler()
	g.h.Store(&handler)
	g.ts.Start()
	g.admin = httptest.NewServer(srv.AdminHandler())
	t.Cleanup(func() {
		g.admin.Close()
		g.ts.Close()
		srv.Close()
	})
	return g
}

func render(tmpl string, v gwVars) string {
	var b strings.Builder
	if err := template.Must(template.New("cfg").Parse(tmpl)).Execute(&b, v); err != nil {
		panic(err)
	}
	return b.String()
}

// readyz answers the admin listener's readiness: status and body.
func (g *gateway) readyz(t *testing.T) (int, string) {
	t.Helper()
	resp, body := get(t, http.DefaultClient, g.admin.URL+"/readyz")
	return resp.StatusCode, body
}

// browser is an HTTP client with a cookie jar that follows redirects; tls,
// when set, is trusted for the provider's pages.
func browser(t *testing.T, tlsCfg *tls.Config) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	if tlsCfg != nil {
		c.Transport = &http.Transport{TLSClientConfig: tlsCfg}
	}
	return c
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func postForm(t *testing.T, c *http.Client, u string, v url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, v)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func mustStatus(t *testing.T, resp *http.Response, body string, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: expected status %d, got %d; body: %.600s", resp.Request.Method, resp.Request.URL, want, resp.StatusCode, body)
	}
}

// claimsOf decodes the upstream's answer: the verified context-token claims.
func claimsOf(t *testing.T, body string) contexttoken.Claims {
	t.Helper()
	var c contexttoken.Claims
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatalf("upstream answer is not the verified claims: %v: %.400s", err, body)
	}
	return c
}

var (
	csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	// providerForm and hiddenField read the page that sends the browser on
	// to the provider's end_session_endpoint.
	providerForm = regexp.MustCompile(`<form method="post" action="([^"]+)" id="provider-sign-out">`)
	hiddenField  = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// signOut opens the gateway's sign-out page and posts its form; when the
// answer is the page that continues at the provider, it posts that page's
// form as the browser's script would. It returns the final response (after
// any redirect by the provider).
func signOut(t *testing.T, c *http.Client, g *gateway) (*http.Response, string) {
	t.Helper()
	resp, body := get(t, c, g.URL+"/.gateway/sign-out")
	mustStatus(t, resp, body, http.StatusOK)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("sign-out page has no form: %.500s", body)
	}
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/.gateway/sign-out", strings.NewReader(url.Values{"csrf": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", g.URL)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("sign-out: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := providerForm.FindStringSubmatch(string(b))
	if form == nil {
		return resp, string(b)
	}
	if loc := resp.Header.Get("Location"); loc != "" || strings.Contains(resp.Request.URL.String(), "id_token_hint") {
		t.Errorf("sign-out: the ID token must not travel in a URL (Location %q, URL %s)", loc, resp.Request.URL)
	}
	v := url.Values{}
	for _, f := range hiddenField.FindAllStringSubmatch(string(b), -1) {
		v.Add(html.UnescapeString(f[1]), html.UnescapeString(f[2]))
	}
	return postForm(t, c, html.UnescapeString(form[1]), v)
}

// noFollow is c without following redirects.
func noFollow(c *http.Client) *http.Client {
	return &http.Client{Jar: c.Jar, Transport: c.Transport, Timeout: c.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// eventually polls f every 10 ms until it holds or 10 s pass.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
