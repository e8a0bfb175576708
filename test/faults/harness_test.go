package faults

import (
	"bufio"
	"bytes"
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/token"

	"github.com/accessgateway/gateway/internal/gatewaytest"
)

// gatewayBinary is the release build of cmd/gateway (-tags prod, as
// `make build` and the Dockerfile do), built once per test run.
func gatewayBinary(t testing.TB) string { return gatewaytest.ReleaseBinary(t, "../..") }

func TestMain(m *testing.M) {
	code := m.Run()
	gatewaytest.RemoveReleaseBinary()
	os.Exit(code)
}

// config is what gatewayConfig is filled in with.
type config struct {
	Addr, Admin, Issuer, ClientID, ClientSecret, Upstream string
	Redis                                                 string // session.store redis at this address; memory when empty
	Extra                                                 string // YAML appended (more routes)
}

const gatewayConfig = `public_url: http://{{.Addr}}
listen: {address: "{{.Addr}}", shutdown_grace: 2s}
admin: {address: "{{.Admin}}"}
oidc: {issuer: "{{.Issuer}}", client_id: "{{.ClientID}}", client_secret: "{{.ClientSecret}}", scopes: [openid, email, profile, groups]}
session:
  lifetime: 1h
  encryption_keys: [{file: session.key, state: active}]
{{- if .Redis}}
  store: redis
  redis: {addrs: ["{{.Redis}}"], dial_timeout: 300ms, read_timeout: 300ms, write_timeout: 300ms}
{{- end}}
token: {keys: [{file: token.pem, state: active}]}
audit: {file: audit.log}
log: {level: info}
routes:
  - {name: tool, host: 127.0.0.1, upstream: "{{.Upstream}}", rules: {allow: [{domains: [example.com]}]}}
{{.Extra}}`

// gateway is one `gateway serve` process of the release binary, run in its
// own directory (gateway.yaml, token.pem, audit.log).
type gateway struct {
	t                testing.TB
	dir, addr, admin string
	url              string // http://addr
	cmd              *exec.Cmd
	exited           chan struct{}
	exitErr          error
	// cfg is the configuration last written by configure; started is
	// set once a process of g answered.
	cfg     config
	started bool
}

// newGateway writes the configuration for c (its Addr and Admin filled in
// here) and the keys into a new directory, and starts the gateway.
func newGateway(t testing.TB, c config) *gateway {
	t.Helper()
	g := prepareGateway(t, c)
	g.start(true)
	return g
}

// prepareGateway is newGateway without the start.
func prepareGateway(t testing.TB, c config) *gateway {
	t.Helper()
	g := &gateway{t: t, dir: t.TempDir(), addr: freeAddr(t), admin: freeAddr(t)}
	g.url = "http://" + g.addr
	if _, err := token.WriteKeyFile(filepath.Join(g.dir, "token.pem"), "ES256"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(g.dir, "session.key"), []byte(auth.NewKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	g.configure(c)
	return g
}

// configure writes gateway.yaml for c (atomically, as a deploy would).
func (g *gateway) configure(c config) {
	g.t.Helper()
	c.Addr, c.Admin = g.addr, g.admin
	g.cfg = c
	var b bytes.Buffer
	if err := template.Must(template.New("cfg").Parse(gatewayConfig)).Execute(&b, c); err != nil {
		g.t.Fatal(err)
	}
	g.writeConfig(b.Bytes())
}

func (g *gateway) writeConfig(data []byte) {
	g.t.Helper()
	path := filepath.Join(g.dir, "gateway.yaml")
	if err := os.WriteFile(path+".tmp", data, 0o600); err != nil {
		g.t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		g.t.Fatal(err)
	}
}

// start runs `gateway serve` in g.dir; with waitReady it returns once
// /readyz answers 200, else once the admin listener answers at all.
func (g *gateway) start(waitReady bool) {
	g.t.Helper()
	logf, err := os.OpenFile(filepath.Join(g.dir, "gateway.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		g.t.Fatal(err)
	}
	g.exited = make(chan struct{})
	g.cmd = exec.Command(gatewayBinary(g.t), "serve", "--config", "gateway.yaml")
	g.cmd.Dir = g.dir
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	cmd, exited := g.cmd, g.exited
	go func() { g.exitErr = cmd.Wait(); logf.Close(); close(exited) }()
	g.t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
		if g.t.Failed() {
			g.t.Logf("output of gateway %d (and those before it in %s):\n%s", cmd.Process.Pid, g.dir, g.log())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _ := g.ready()
		if code == http.StatusOK || (!waitReady && code != 0) {
			g.started = true
			return
		}
		select {
		case <-exited:
			if !g.started && strings.Contains(g.log(), "address already in use") {
				// The free addresses were taken by another test between
				// choosing and binding them: choose again (first start only;
				// a restart keeps its address).
				g.addr, g.admin = freeAddr(g.t), freeAddr(g.t)
				g.url = "http://" + g.addr
				g.configure(g.cfg)
				_ = os.Remove(filepath.Join(g.dir, "gateway.log"))
				g.start(waitReady)
				return
			}
			g.t.Fatalf("gateway exited before it was ready (%v):\n%s", g.exitErr, g.log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("gateway not ready after 20s:\n%s", g.log())
		}
	}
}

// log is what the gateway processes run in g.dir wrote.
func (g *gateway) log() string {
	b, _ := os.ReadFile(filepath.Join(g.dir, "gateway.log"))
	return string(b)
}

// stop sends sig and waits for the process to exit.
func (g *gateway) stop(sig syscall.Signal) error {
	g.t.Helper()
	if err := g.cmd.Process.Signal(sig); err != nil {
		g.t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-g.exited:
		return g.exitErr
	case <-time.After(15 * time.Second):
		g.t.Fatalf("gateway still running 15s after %v", sig)
		return nil
	}
}

// ready is the admin listener's /readyz: status and body (0 when it did
// not answer).
func (g *gateway) ready() (int, string) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + g.admin + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric is the value of the sample named exactly name (with its labels)
// on /metrics; -1 when absent.
func (g *gateway) metric(name string) float64 {
	g.t.Helper()
	resp, err := http.Get("http://" + g.admin + "/metrics")
	if err != nil {
		g.t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return -1
}

// record is an audit record, the members the tests read.
type record struct {
	Seq       int64    `json:"seq"`
	Kind      string   `json:"kind"`
	RequestID string   `json:"request_id"`
	Route     string   `json:"route"`
	Path      string   `json:"path"`
	Decision  string   `json:"decision"`
	Reasons   []string `json:"reasons"`
	Status    int      `json:"status"`
	Event     string   `json:"event"`
	Detail    string   `json:"detail"`
}

// audit reads the records of the gateway's audit file (lines that do not
// decode, such as a torn last line, are left out).
func (g *gateway) audit() []record {
	g.t.Helper()
	b, err := os.ReadFile(filepath.Join(g.dir, "audit.log"))
	if err != nil {
		g.t.Fatal(err)
	}
	var out []record
	for _, line := range bytes.Split(b, []byte("\n")) {
		var r record
		if json.Unmarshal(line, &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// verifyAudit runs `gateway audit verify` on the gateway's audit file with
// its signing key and returns the output and the exit error.
func (g *gateway) verifyAudit() (string, error) {
	cmd := exec.Command(gatewayBinary(g.t), "audit", "verify", "--key", "token.pem", "audit.log")
	cmd.Dir = g.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// freeAddr returns a loopback host:port that was free a moment ago, never
// one handed out before.
func freeAddr(t testing.TB) string { return gatewaytest.FreeAddr(t) }

// audited reports whether a record matching match reaches the audit file
// within 5 s (denials and session events are written asynchronously; only
// an allow waits for its record).
func (g *gateway) audited(match func(record) bool) bool {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(25 * time.Millisecond) {
		for _, r := range g.audit() {
			if match(r) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// eventually is gatewaytest.Eventually.
var eventually = gatewaytest.Eventually

// idp is a standard OIDC provider (mockoidc) on a fixed address, so that it
// can be stopped and started again where the gateway expects it.
type idp struct {
	t    testing.TB
	addr string
	m    *mockoidc.MockOIDC
	id   string // client ID and secret, kept across restarts
	sec  string
}

// newIdP runs a provider on a free address.
func newIdP(t testing.TB) *idp {
	p := &idp{t: t, addr: freeAddr(t)}
	p.start()
	return p
}

// issuer is the provider's issuer URL, whether it runs or not.
func (p *idp) issuer() string { return "http://" + p.addr + "/oidc" }

// start runs the provider (again) on its address with its client. A
// restarted provider signs with a new key: the gateway finds it in the JWKS.
func (p *idp) start() {
	p.t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	if p.id == "" {
		p.id, p.sec = m.ClientID, m.ClientSecret
	}
	m.ClientID, m.ClientSecret = p.id, p.sec
	m.CodeChallengeMethodsSupported = []string{"S256"}
	var ln net.Listener
	for range 50 { // the old listener's port may take a moment to be free
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		p.t.Fatal(err)
	}
	p.m = m
	p.t.Cleanup(func() { _ = m.Shutdown() })
}

// stop shuts the provider down: connections to it are refused.
func (p *idp) stop() {
	p.t.Helper()
	if err := p.m.Shutdown(); err != nil {
		p.t.Fatal(err)
	}
}

// gatewayFor is the configuration of a gateway in front of up that signs in
// at p.
func (p *idp) gatewayFor(up string) config {
	return config{Issuer: p.issuer(), ClientID: p.id, ClientSecret: p.sec, Upstream: up}
}

// browser is a client with a cookie jar; it follows redirects unless
// noFollow.
func browser(noFollow bool) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	if noFollow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

// signIn signs jane@example.com in at g through p and returns her browser
// (following redirects) after checking that path answers 200.
func signIn(t testing.TB, g *gateway, p *idp, path string) *http.Client {
	t.Helper()
	p.m.QueueUser(&mockoidc.MockUser{Subject: "sub-jane", Email: "jane@example.com", EmailVerified: true, Groups: []string{"eng"}})
	c := browser(false)
	if code, body := get(t, c, g.url+path); code != http.StatusOK {
		t.Fatalf("sign-in at %s: expected 200, got %d: %.400s", path, code, body)
	}
	return c
}

// get requests url with c and returns the status and body; headers are
// name, value pairs.
func get(t testing.TB, c *http.Client, url string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// noFollow is c without following redirects (same cookies).
func noFollow(c *http.Client) *http.Client {
	return &http.Client{Jar: c.Jar, Timeout: c.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// tool is the upstream: it records the gateway's request IDs and answers
// by path: /hang never answers, /stall sends its headers and a first chunk
// and then nothing, /stream sends a chunk every 20 ms for 10 s; anything
// else answers "ok". inFlight counts the handlers still running.
type tool struct {
	*httptest.Server
	mu       sync.Mutex
	ids      map[string]bool
	hits     atomic.Int64
	inFlight atomic.Int64
}

func newTool(t testing.TB) *tool {
	u := &tool{ids: map[string]bool{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.inFlight.Add(1)
		defer u.inFlight.Add(-1)
		u.mu.Lock()
		u.ids[r.Header.Get("X-Gateway-Request-Id")] = true
		u.mu.Unlock()
		switch {
		case strings.HasPrefix(r.URL.Path, "/hang"):
			<-r.Context().Done()
		case strings.HasPrefix(r.URL.Path, "/stall"):
			w.WriteHeader(http.StatusOK)
			fmt.Fprintln(w, "first chunk")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case strings.HasPrefix(r.URL.Path, "/stream"):
			w.WriteHeader(http.StatusOK)
			for i := 0; i < 500; i++ {
				fmt.Fprintf(w, "chunk %d\n", i)
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		default:
			fmt.Fprintf(w, "ok %s\n", r.URL.Path)
		}
	}))
	t.Cleanup(u.Close)
	return u
}

// requestIDs are the gateway request IDs the tool received.
func (u *tool) requestIDs() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, 0, len(u.ids))
	for id := range u.ids {
		out = append(out, id)
	}
	return out
}
