package ops

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/accessgateway/gateway/internal/gatewaytest"
)

// proc is one `gateway serve` process of the release binary.
type proc struct {
	t       testing.TB
	name    string
	cmd     *exec.Cmd
	addr    string // public listener host:port
	admin   string // admin listener host:port
	out     *lockedBuffer
	exited  chan struct{}
	exitErr error
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freeAddr returns a free loopback host:port, never one handed out before.
func freeAddr(t testing.TB) string { return gatewaytest.FreeAddr(t) }

// startProc runs `gateway serve --config cfgPath` and waits until its
// admin listener answers /readyz with 200. The process is killed when the
// test ends, if it is still running.
func startProc(t testing.TB, name, cfgPath, addr, admin string, env ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, addr: addr, admin: admin, out: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(gatewayBinary(t), "serve", "--config", cfgPath)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exitErr = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.name, p.out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before it was ready (%v):\n%s", name, p.exitErr, p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 20s:\n%s", name, p.out.String())
		}
	}
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: signal %v: %v", p.name, sig, err)
	}
}

// wait returns the process's exit error once it exited, or fails after d.
func (p *proc) wait(d time.Duration) error {
	select {
	case <-p.exited:
		return p.exitErr
	case <-time.After(d):
		p.t.Fatalf("%s still running after %s", p.name, d)
		return nil
	}
}

// metric returns the value of the first sample of the metric line that
// starts with prefix on the admin listener's /metrics ("" when absent).
func (p *proc) metric(prefix string) string {
	p.t.Helper()
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		p.t.Fatalf("%s: /metrics: %v", p.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, prefix+" ") {
			return strings.TrimSpace(strings.TrimPrefix(line, prefix))
		}
	}
	return ""
}

// eventually is gatewaytest.Eventually.
var eventually = gatewaytest.Eventually

// upstream is a tool behind the gateways; it counts the requests it got by
// the gateway's request ID and can be slowed down per path.
type upstream struct {
	*httptest.Server
	mu    sync.Mutex
	ids   map[string]string // request ID -> context token
	hits  atomic.Int64
	delay atomic.Int64 // ns, for paths under /slow
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{ids: map[string]string{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		u.ids[r.Header.Get("X-Gateway-Request-Id")] = r.Header.Get("X-Gateway-Context")
		u.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/slow") {
			select {
			case <-time.After(time.Duration(u.delay.Load())):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("X-Seen-Request-Id", r.Header.Get("X-Gateway-Request-Id"))
		fmt.Fprintf(w, "ok %s\n", r.URL.Path)
	}))
	t.Cleanup(u.Close)
	return u
}

// requestIDs returns the gateway request IDs the upstream saw.
func (u *upstream) requestIDs() map[string]string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]string, len(u.ids))
	for k, v := range u.ids {
		out[k] = v
	}
	return out
}

// newIdP is a standard OIDC provider (mockoidc) that signs queued users in
// without a form.
// newIdP and user are gatewaytest's: a mockoidc provider (code flow with
// PKCE) on loopback, and a user with a verified email and groups.
var (
	newIdP = gatewaytest.NewIdP
	user   = gatewaytest.User
)

// browser is a client with a cookie jar that follows redirects; tlsCfg may
// be nil.
func browser(tlsCfg *tls.Config) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg, DisableKeepAlives: tlsCfg != nil}}
}

// signIn signs u in at base (through the IdP) and returns the browser,
// after checking that path answers 200.
func signIn(t testing.TB, c *http.Client, m *mockoidc.MockOIDC, u *mockoidc.MockUser, url string) {
	t.Helper()
	m.QueueUser(u)
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("sign-in at %s: %v", url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in at %s: expected 200, got %d: %.400s", url, resp.StatusCode, b)
	}
}

// writeTemplate renders tmpl with vars into path (atomically).
func writeTemplate(t testing.TB, path, tmpl string, vars any) {
	t.Helper()
	var b bytes.Buffer
	if err := template.Must(template.New("cfg").Parse(tmpl)).Execute(&b, vars); err != nil {
		t.Fatal(err)
	}
	writeFileAtomic(t, path, b.Bytes())
}

func writeFileAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// secretVolume lays files out as the kubelet does for a Secret volume:
// dir/..<version>/<name>, dir/..data -> ..<version>, dir/<name> ->
// ..data/<name>. update swaps in a new version atomically (a new version
// directory, a "..data_tmp" symlink renamed over "..data").
type secretVolume struct {
	t       testing.TB
	dir     string
	version int
}

func newSecretVolume(t testing.TB, dir string, files map[string][]byte) *secretVolume {
	t.Helper()
	v := &secretVolume{t: t, dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	v.update(files)
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func (v *secretVolume) path(name string) string { return filepath.Join(v.dir, name) }

// update writes a new version holding files and swaps ..data to it.
func (v *secretVolume) update(files map[string][]byte) {
	v.t.Helper()
	v.version++
	ver := fmt.Sprintf("..2026_12_01_00_00_%02d.%d", v.version, os.Getpid())
	if err := os.Mkdir(filepath.Join(v.dir, ver), 0o755); err != nil {
		v.t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(v.dir, ver, name), data, 0o600); err != nil {
			v.t.Fatal(err)
		}
	}
	old, _ := os.Readlink(filepath.Join(v.dir, "..data"))
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(ver, tmp); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
	if old != "" {
		_ = os.RemoveAll(filepath.Join(v.dir, old))
	}
}

// ctxTimeout is a context that ends after d, cancelled at the test's end.
func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
