// Package gatewaytest runs a whole gateway for tests the way `gateway serve`
// runs it — server.Serve with its listeners, guards and audit file — in
// front of recording upstreams, with a standard OIDC provider (mockoidc)
// that signs in queued users without a form.
//
//	idp := gatewaytest.NewIdP(t)
//	up := gatewaytest.NewUpstream(t, nil)
//	g := gatewaytest.Start(t, gatewaytest.Vars{IdP: idp, Upstream: up.URL}, `
//	routes:
//	  - name: tool
//	    host: {{.Host}}
//	    upstream: {{.Upstream}}
//	    rules: {allow: [{domains: [example.com]}]}
//	`)
//	c := g.SignIn(t, idp, gatewaytest.User("sam@example.com", "support"), "/")
//	resp := g.Raw(t, "GET /x HTTP/1.1\r\nHost: "+g.Host+"\r\nCookie: "+g.SessionCookie(c)+"\r\n\r\n")
//
// The configuration is a text/template: Start fills in the top-level
// settings (public_url, listen, admin, oidc, audit, log) and the template
// gives the rest (routes and any other top-level section); Vars are its data.
package gatewaytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/accessgateway/gateway/internal/gatewaytest/mockidp"

	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/server"
)

// Seen is one request as an upstream received it.
type Seen struct {
	Method string
	// RequestURI is the request target exactly as received.
	RequestURI string
	Header     http.Header
	Body       string
}

// Upstream is a tool behind the gateway that records every request.
type Upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []Seen
}

// NewUpstream starts an upstream. h answers after the request is recorded;
// nil answers 200 with a JSON echo of the request target.
func NewUpstream(t testing.TB, h http.Handler) *Upstream {
	t.Helper()
	u := &Upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		u.mu.Lock()
		u.seen = append(u.seen, Seen{Method: r.Method, RequestURI: r.RequestURI, Header: r.Header.Clone(), Body: string(b)})
		u.mu.Unlock()
		if h != nil {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"request_uri": r.RequestURI})
	}))
	t.Cleanup(u.Close)
	return u
}

// Seen returns the requests received so far.
func (u *Upstream) Seen() []Seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Seen(nil), u.seen...)
}

// Hits is the number of requests received so far.
func (u *Upstream) Hits() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// NewIdP starts a mockoidc provider (code flow with PKCE) on loopback,
// with the given middleware in front of its endpoints (mockidp.Start).
func NewIdP(t testing.TB, middleware ...func(http.Handler) http.Handler) *mockoidc.MockOIDC {
	t.Helper()
	return mockidp.Start(t, middleware...)
}

// User is a mockoidc user with a verified email and groups.
func User(email string, groups ...string) *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: "sub-" + strings.Split(email, "@")[0], Email: email, EmailVerified: true, Groups: groups}
}

// Vars are the template data of a configuration.
type Vars struct {
	IdP *mockoidc.MockOIDC
	// Upstream is the URL routes usually point to; Extra is free for the
	// test's own values.
	Upstream string
	Extra    map[string]string
	// Filled in by Start.
	PublicURL, Host string
}

// Gateway is a running gateway.
type Gateway struct {
	// URL is http://Host:port; Addr is host:port.
	URL, Addr, Host string
	auditFile       string
}

const head = `public_url: {{.PublicURL}}
listen: {address: "{{.Host}}:{{.Port}}"}
admin: {address: "127.0.0.1:{{.AdminPort}}"}
oidc:
  issuer: {{.Issuer}}
  client_id: {{.ClientID}}
  client_secret: {{.ClientSecret}}
  scopes: [openid, email, profile, groups]
session: {lifetime: 1h}
audit: {file: {{.AuditFile}}}
log: {level: error}
`

// Start renders the configuration, loads it as `gateway dev` does (so no
// token key file is needed) and serves it with server.Serve on fresh
// loopback ports until the test ends.
func Start(t testing.TB, v Vars, tmpl string) *Gateway {
	t.Helper()
	// The ports are chosen free and bound a moment later: another test may
	// take one in between. Then the gateway fails to listen; try new ones.
	for attempt := 1; ; attempt++ {
		g, err := start(t, v, tmpl)
		if err == nil {
			return g
		}
		if !strings.Contains(err.Error(), "address already in use") || attempt == 3 {
			t.Fatalf("gatewaytest: serve: %v", err)
		}
	}
}

func start(t testing.TB, v Vars, tmpl string) (*Gateway, error) {
	t.Helper()
	port, adminPort := freePort(t), freePort(t)
	g := &Gateway{Host: "127.0.0.1"}
	g.Addr = net.JoinHostPort(g.Host, port)
	g.URL = "http://" + g.Addr
	v.PublicURL, v.Host = g.URL, g.Host
	dir := t.TempDir()
	g.auditFile = filepath.Join(dir, "audit.jsonl")
	data := struct {
		Vars
		Port, AdminPort, AuditFile, Issuer, ClientID, ClientSecret string
	}{Vars: v, Port: port, AdminPort: adminPort, AuditFile: g.auditFile}
	if v.IdP != nil {
		c := v.IdP.Config()
		data.Issuer, data.ClientID, data.ClientSecret = c.Issuer, c.ClientID, c.ClientSecret
	}
	var b bytes.Buffer
	if err := template.Must(template.New("cfg").Parse(head+tmpl)).Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(path, config.Options{Dev: true})
	if err != nil {
		t.Fatalf("gatewaytest: config: %v\n%s", err, b.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- server.Serve(ctx, cfg, server.Options{Logger: slog.New(slog.DiscardHandler), ConfigPath: path,
			LoadOptions: config.Options{Dev: true}}, func() { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		return nil, err
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("gatewaytest: the gateway did not start within 30 s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("gatewaytest: the gateway did not stop within 20 s")
		}
	})
	return g, nil
}

func freePort(t testing.TB) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(FreeAddr(t))
	return port
}

// handedOut are the ports FreeAddr returned in this process.
var handedOut sync.Map // int → struct{}

// FreeAddr returns a loopback host:port that was free a moment ago and
// that it never returned before in this process: the kernel may hand the
// port of a listener just closed to the next one, and two calls in a row
// (a gateway's listener and its admin listener) then got the same port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().(*net.TCPAddr)
		ln.Close()
		if _, dup := handedOut.LoadOrStore(addr.Port, struct{}{}); !dup {
			return addr.String()
		}
	}
	t.Fatal("gatewaytest: no loopback port that was not handed out before")
	return ""
}

// Browser is an HTTP client with a cookie jar that follows redirects.
func Browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 15 * time.Second}
}

// SignIn signs u in through the provider, starting at path, and returns
// the browser with its session.
func (g *Gateway) SignIn(t testing.TB, idp *mockoidc.MockOIDC, u *mockoidc.MockUser, path string) *http.Client {
	t.Helper()
	c := Browser()
	idp.QueueUser(u)
	resp, err := c.Get(g.URL + path)
	if err != nil {
		t.Fatalf("gatewaytest: sign-in: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if g.SessionCookie(c) == "" {
		t.Fatalf("gatewaytest: sign-in of %s ended with status %d and no session cookie", u.Email, resp.StatusCode)
	}
	return c
}

// SessionCookie returns the browser's gateway session cookie as a
// "name=value" pair, or "".
func (g *Gateway) SessionCookie(c *http.Client) string {
	u, _ := url.Parse(g.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "_gateway_session" {
			return ck.Name + "=" + ck.Value
		}
	}
	return ""
}

// Response is the gateway's answer to a raw request.
type Response struct {
	Status int
	Header http.Header
	Body   string
	// RequestID is the ID the gateway's page shows ("" when the request
	// was refused before it had one): the key to its audit records.
	RequestID string
	// Closed is true when the gateway closed the connection after it.
	Closed bool
}

var requestID = regexp.MustCompile(`[0-9a-f]{24}`)

// Raw sends request bytes exactly as written ("\n" is sent as "\r\n" unless
// the text already holds "\r\n") and reads one response.
func (g *Gateway) Raw(t testing.TB, req string) Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", g.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if !strings.Contains(req, "\r\n") {
		req = strings.ReplaceAll(req, "\n", "\r\n")
	}
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("gatewaytest: reading the response to %q: %v", firstLine(req), err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	out := Response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
	if strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		out.RequestID = requestID.FindString(out.Body)
	}
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = br.ReadByte()
	ne, isNet := err.(net.Error)
	out.Closed = !(isNet && ne.Timeout())
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// Audit returns the audit records written so far, each as a JSON object.
// A line the gateway is writing at that moment (no newline yet) is not one.
func (g *Gateway) Audit(t testing.TB) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(g.auditFile)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("gatewaytest: audit line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}
