package oidc

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/devmode"
	"github.com/accessgateway/gateway/internal/gatewaytest"
)

// freePort is a loopback port free a moment ago, never handed out before.
func freePort(t *testing.T) int {
	_, p, _ := net.SplitHostPort(gatewaytest.FreeAddr(t))
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// `gateway dev --config FILE` runs an operator's own file — its routes and
// rules — with the dev allowances: no token section, plain http, and, with
// no oidc.issuer, the embedded development provider.
func TestDevWithOperatorsConfig(t *testing.T) {
	up := newUpstream(t)
	port, admin := freePort(t), freePort(t)
	gw := "http://127.0.0.1:" + strconv.Itoa(port)
	up.gatewayURL.Store(&gw)
	file := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`public_url: %s
listen: {address: ":%d"}
admin: {address: "127.0.0.1:%d"}
routes:
  - name: tool
    host: 127.0.0.1
    upstream: %s
    rules:
      allow: [{groups: [support]}]
tests:
  - {name: support may use the tool, route: tool, expect: allow, user: {email: s@dev.example, groups: [support]}}
`, gw, port, admin, up.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, errc := make(chan string, 1), make(chan error, 1)
	go func() {
		errc <- devmode.Run(ctx, devmode.Options{ConfigPath: file, Out: io.Discard, Ready: func(u string) { ready <- u }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-errc:
		case <-time.After(10 * time.Second):
			t.Error("gateway dev did not stop")
		}
	})
	select {
	case u := <-ready:
		if u != gw {
			t.Fatalf("expected the file's public_url %s, got %s", gw, u)
		}
	case err := <-errc:
		t.Fatalf("gateway dev --config: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("gateway dev --config did not start in 20 s")
	}

	c := browser(t, nil)
	resp, body := get(t, c, gw+"/x")
	// The embedded provider's sign-in page: pick the support agent.
	resp, body = devLogin(t, c, resp, body, "dev-support")
	mustStatus(t, resp, body, http.StatusOK)
	if cl := claimsOf(t, body); cl.Email != "support@dev.example" || cl.Route != "tool" {
		t.Errorf("expected the support agent on the file's route, got %+v", cl)
	}
	// Sign-out ends the dev provider's session too and lands back here.
	resp, body = signOut(t, c, &gateway{URL: gw})
	mustStatus(t, resp, body, http.StatusOK)
	if resp.Request.URL.String() != gw+"/.gateway/sign-out" {
		t.Errorf("after sign-out: expected %s/.gateway/sign-out, got %s", gw, resp.Request.URL)
	}
}
