// Package forward tests forward-auth mode end to end with real ingresses:
// nginx (auth_request) and Caddy (forward_auth) started as processes on
// loopback in front of an httptest upstream, with the gateway as the
// authorizer and mockoidc as the identity provider. The ingress
// configurations are the ones docs/forward-auth.md shows.
package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/accessgateway/gateway/internal/gatewaytest"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/server"
)

// Loopback addresses play the parties: the ingress and the gateway are on
// 127.0.0.1 (the ingress is the gateway's only trusted proxy); employees'
// browsers connect from 127.0.0.3; a stranger reaching the gateway directly
// connects from 127.0.0.2.
const (
	browserAddr  = "127.0.0.3"
	strangerAddr = "127.0.0.2"
)

// upstream is the tool behind the ingress; it records what it received.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, r.Clone(context.Background()))
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"tool": "reports", "uri": r.RequestURI})
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) hits() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func (u *upstream) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		return nil
	}
	return u.reqs[len(u.reqs)-1]
}

// reserved holds the listeners of ports reservePort handed out until the
// ingress takes them (an in-process front) or they are closed for an
// ingress process to bind (startProcess): between choosing the port and
// starting the ingress, the gateway and parallel tests open listeners of
// their own, and one of them could otherwise be given the same port.
var reserved sync.Map // port → net.Listener

// reservePort returns a loopback port held open for the ingress.
func reservePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	reserved.Store(port, ln)
	t.Cleanup(func() { releasePort(port) })
	return port
}

// takeListener returns the listener reservePort holds for port, or a new
// one if none is held.
func takeListener(port int) (net.Listener, error) {
	if ln, ok := reserved.LoadAndDelete(port); ok {
		return ln.(net.Listener), nil
	}
	return net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
}

// releasePort closes the listener held for port, so a process can bind it.
func releasePort(port int) {
	if ln, ok := reserved.LoadAndDelete(port); ok {
		_ = ln.(net.Listener).Close()
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gateway is the authorizer: the real server package, as test/ builds it.
type gateway struct {
	t   *testing.T
	srv *server.Server
	URL string // where the ingress reaches it
	// grpcAddr serves the ext_authz gRPC service.
	grpcAddr string
	Public   string // public_url: the ingress
	auditW   *syncBuffer
	auditL   *audit.Log
}

const gatewayConfig = `public_url: {{.Public}}
listen: {address: "127.0.0.1:0"}
admin: {address: "127.0.0.1:1"}
oidc:
  issuer: {{.Issuer}}
  client_id: {{.ClientID}}
  client_secret: {{.ClientSecret}}
  scopes: [openid, email, profile, groups]
session: {lifetime: 1h}
log: {level: error}
trusted_proxies: [127.0.0.1]
forward_auth: {enabled: true}
routes:
  - name: reports
    host: 127.0.0.1
    upstream: {{.Upstream}}
    rules:
      allow: [{domains: [example.com]}]
      deny: [{groups: [contractors]}]
  - name: admin
    host: 127.0.0.1
    path: /admin
    upstream: {{.Upstream}}
    rules:
      allow: [{groups: [admins]}]
  - name: api
    host: 127.0.0.1
    path: /api
    allow_bearer: true
    upstream: {{.Upstream}}
    rules:
      allow: [{domains: [example.com]}]
  - name: wiki
    host: 127.0.0.1
    path: /wiki
    upstream: {{.Upstream}}
    rules:
      allow: [{domains: [example.com]}]
      deny: [{methods: [DELETE]}]
  - name: feed
    host: 127.0.0.1
    path: /feed
    upgrades: []
    upstream: {{.Upstream}}
    rules:
      allow: [{domains: [example.com]}]
  - name: status
    host: status.test
    public: true
    upstream: {{.Upstream}}
  - name: night-shift
    host: 127.0.0.1
    path: /night
    upstream: {{.Upstream}}
    rules:
      allow: [{domains: [example.com]}]
    require:
      time_window: {schedules: [last-winter]}
schedules:
  last-winter:
    time_zone: UTC
    windows: [{days: mon-sun}]
    from: 2020-01-01
    until: 2020-01-31
`

// startGateway serves the gateway for the ingress at public (its URL).
func startGateway(t *testing.T, idp *mockoidc.MockOIDC, up *upstream, public string) *gateway {
	t.Helper()
	c := idp.Config()
	var b bytes.Buffer
	err := template.Must(template.New("cfg").Parse(gatewayConfig)).Execute(&b, map[string]string{
		"Public": public, "Issuer": c.Issuer, "ClientID": c.ClientID, "ClientSecret": c.ClientSecret, "Upstream": up.URL})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(path, config.Options{Dev: true})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	g := &gateway{t: t, Public: public, auditW: &syncBuffer{}}
	g.auditL = audit.New(g.auditW, nil, nil)
	srv, err := server.New(context.Background(), cfg, server.Options{Audit: g.auditL})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	g.srv = srv
	ts := httptest.NewServer(srv.Handler())
	g.URL = ts.URL
	t.Cleanup(func() { ts.Close(); srv.Close(); g.auditL.Close() })
	g.serveGRPC(t)
	return g
}

// records returns the audit records written so far (the writer flushes
// when its queue is empty; poll until the count is stable).
func (g *gateway) records() []audit.Record {
	var out []audit.Record
	for deadline, n := time.Now().Add(2*time.Second), -1; time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out = out[:0]
		for _, line := range strings.Split(strings.TrimSpace(g.auditW.String()), "\n") {
			var r audit.Record
			if line != "" && json.Unmarshal([]byte(line), &r) == nil {
				out = append(out, r)
			}
		}
		if len(out) == n && n > 0 {
			break
		}
		n = len(out)
	}
	return out
}

// verifier checks context tokens the way a tool does: against the JWKS the
// gateway publishes (here through the ingress, at the public URL).
func (g *gateway) verifier(t *testing.T, up *upstream) *contexttoken.Verifier {
	v, err := contexttoken.NewVerifier(context.Background(), contexttoken.Config{
		JWKSURL: g.Public + "/.well-known/gateway/jwks.json", Issuer: g.Public, Audiences: []string{up.URL}})
	if err != nil {
		t.Fatalf("contexttoken.NewVerifier: %v", err)
	}
	return v
}

// newIdP and user are gatewaytest's: a mockoidc provider (code flow with
// PKCE) on loopback, and a user with a verified email and groups.
var (
	newIdP = gatewaytest.NewIdP
	user   = gatewaytest.User
)

// idToken is an ID token for email as idp issues it to the gateway's
// client: what an allow_bearer route accepts.
func idToken(t *testing.T, idp *mockoidc.MockOIDC, email string) string {
	t.Helper()
	kid, err := idp.Keypair.KeyID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	b, _ := json.Marshal(map[string]any{"iss": idp.Issuer(), "aud": idp.Config().ClientID, "sub": "sub-" + email,
		"email": email, "email_verified": true, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
	return oidctest.SignIDToken(idp.Keypair.PrivateKey, kid, oidc.RS256, string(b))
}

// client is a browser (cookie jar, follows redirects) connecting from
// local, a loopback address.
func client(local string) *http.Client {
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	return &http.Client{Jar: jar, Timeout: 15 * time.Second,
		Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

func get(t *testing.T, c *http.Client, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// binary returns the path of an ingress's binary. Missing, the test fails
// when apt could install it (scripts/test-deps.sh does: `make test` runs
// it) and skips only when it could not (not root, or no apt-get).
func binary(t *testing.T, name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		t.Skipf("%s is not installed and apt-get cannot install it here (install the Debian package %q)", name, name)
	}
	t.Fatalf("%s is not installed: run scripts/test-deps.sh (make test-deps) to install it", name)
	return ""
}

func fileExists(p string) bool { st, err := os.Stat(p); return err == nil && !st.IsDir() }

// process runs an ingress until the test ends and waits until it accepts
// connections on port.
type process struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func startProcess(t *testing.T, port int, name string, args []string, env ...string) *process {
	t.Helper()
	releasePort(port)
	p := &process{out: &syncBuffer{}}
	p.cmd = exec.Command(name, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), p.out.String())
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("%s exited at start:\n%s", name, p.out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %d:\n%s", name, port, p.out.String())
		}
	}
}
