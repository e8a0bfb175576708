package ops

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/token"
)

const shutdownConfig = `public_url: http://{{.Addr}}
listen: {address: "{{.Addr}}", shutdown_grace: {{.Grace}}}
admin: {address: "{{.Admin}}"}
oidc: {issuer: "{{.Issuer}}", client_id: gw, client_secret: s}
token: {keys: [{file: token.pem, state: active}]}
audit: {file: audit.log}
routes:
  - {name: slow, host: 127.0.0.1, upstream: "{{.Upstream}}", public: true}
`

// SIGTERM drains: a request in flight to a slow upstream finishes within
// listen.shutdown_grace and the process exits 0; new connections are
// refused at once. A request still running when the grace ends is cut off
// and the exit status says so.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateway processes")
	}
	idp := newIdP(t)
	for _, tc := range []struct {
		name      string
		grace     time.Duration
		upstream  time.Duration
		wantOK    bool // the in-flight request answers 200
		wantClean bool // exit status 0
	}{
		{"the request finishes within the grace", 5 * time.Second, time.Second, true, true},
		{"the grace ends first", 300 * time.Millisecond, 4 * time.Second, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t)
			up.delay.Store(int64(tc.upstream))
			dir := t.TempDir()
			if _, err := token.WriteKeyFile(filepath.Join(dir, "token.pem"), "ES256"); err != nil {
				t.Fatal(err)
			}
			addr, admin := freeAddr(t), freeAddr(t)
			cfgPath := filepath.Join(dir, "gateway.yaml")
			writeTemplate(t, cfgPath, shutdownConfig, map[string]string{"Addr": addr, "Admin": admin,
				"Grace": tc.grace.String(), "Issuer": idp.Config().Issuer, "Upstream": up.URL})
			g := startProc(t, "gateway", cfgPath, addr, admin)

			type result struct {
				status int
				err    error
			}
			res := make(chan result, 1)
			go func() {
				resp, err := http.Get("http://" + addr + "/slow/report")
				if err != nil {
					res <- result{err: err}
					return
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				res <- result{status: resp.StatusCode, err: err}
			}()
			eventually(t, 5*time.Second, "the request to reach the upstream", func() bool { return up.hits.Load() == 1 })
			start := time.Now()
			g.signal(syscall.SIGTERM)
			eventually(t, 2*time.Second, "new connections to be refused", func() bool {
				c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
				if err == nil {
					c.Close()
				}
				return err != nil
			})
			r := <-res
			exitErr := g.wait(tc.grace + 5*time.Second)
			took := time.Since(start)
			t.Logf("exited %s after SIGTERM: %v", took, exitErr)
			if tc.wantOK && (r.err != nil || r.status != 200) {
				t.Errorf("in-flight request: expected 200, got %d %v", r.status, r.err)
			}
			if !tc.wantOK && r.err == nil && r.status == 200 {
				t.Errorf("in-flight request: expected it cut off after the grace, got 200")
			}
			var ee *exec.ExitError
			if tc.wantClean && exitErr != nil {
				t.Errorf("exit: expected status 0, got %v", exitErr)
			}
			if !tc.wantClean && !errors.As(exitErr, &ee) {
				t.Errorf("exit: expected a non-zero status after cutting requests off, got %v", exitErr)
			}
			if !tc.wantClean && took > tc.grace+3*time.Second {
				t.Errorf("exit: expected it within the grace (%s) and a little, took %s", tc.grace, took)
			}
			// The audit log was flushed: the drained request has its record.
			if tc.wantOK {
				b, err := os.ReadFile(filepath.Join(dir, "audit.log"))
				if err != nil || len(b) == 0 {
					t.Errorf("audit.log: expected the drained request's record, got %q, %v", b, err)
				}
			}
		})
	}
}

// A connection that never began a request (a browser's preconnect, a
// proxy's pool) does not hold the shutdown: the process exits 0 about a
// second after SIGTERM, not after Go's five seconds for new connections or
// the grace, and does not report requests cut off.
func TestShutdownDoesNotWaitForPreconnects(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateway processes")
	}
	idp := newIdP(t)
	up := newUpstream(t)
	dir := t.TempDir()
	if _, err := token.WriteKeyFile(filepath.Join(dir, "token.pem"), "ES256"); err != nil {
		t.Fatal(err)
	}
	addr, admin := freeAddr(t), freeAddr(t)
	cfgPath := filepath.Join(dir, "gateway.yaml")
	writeTemplate(t, cfgPath, shutdownConfig, map[string]string{"Addr": addr, "Admin": admin,
		"Grace": "6s", "Issuer": idp.Config().Issuer, "Upstream": up.URL})
	g := startProc(t, "gateway", cfgPath, addr, admin)
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	time.Sleep(200 * time.Millisecond) // accepted
	start := time.Now()
	g.signal(syscall.SIGTERM)
	err := g.wait(10 * time.Second)
	took := time.Since(start)
	if err != nil {
		t.Errorf("exit: expected status 0, got %v after %s", err, took)
	}
	if took > 3*time.Second {
		t.Errorf("exit took %s: idle preconnected sockets held the shutdown", took)
	}
	_ = conns[0].SetReadDeadline(time.Now().Add(time.Second))
	if _, err := conns[0].Read(make([]byte, 1)); err == nil {
		t.Error("a preconnected socket got bytes, expected it closed")
	}
}
