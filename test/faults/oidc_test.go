package faults

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
)

// The gateway starts while its provider is down: it serves anyway, /readyz
// and sign-ins answer 503 that name the identity provider (audited, nothing
// reaches the tool), and discovery is retried in the background (1 s, then
// doubling: docs/config.md) until the provider answers; then /readyz is 200
// and sign-in works, without a restart.
func TestProviderDownAtStartThenUp(t *testing.T) {
	t.Parallel()
	p := &idp{t: t, addr: freeAddr(t), id: "gateway", sec: "gateway-secret"}
	up := newTool(t)
	g := prepareGateway(t, p.gatewayFor(up.URL))
	g.start(false)

	if code, body := g.ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, "identity provider") {
		t.Errorf("/readyz with the provider down: expected 503 naming the identity provider, got %d %q", code, body)
	}
	code, body := get(t, browser(true), g.url+"/")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "cannot reach the identity provider") {
		t.Errorf("sign-in with the provider down: expected 503 saying the provider cannot be reached, got %d: %.300s", code, body)
	}
	if v := g.metric("gateway_identity_provider_up"); v != 0 {
		t.Errorf("gateway_identity_provider_up: expected 0, got %v", v)
	}
	if !g.audited(func(r record) bool {
		return r.Kind == "decision" && r.Decision == "deny" && r.Status == http.StatusServiceUnavailable
	}) {
		t.Error("audit: no denial with status 503 for the sign-in that could not start")
	}

	p.start()
	eventually(t, 10*time.Second, "discovery to succeed (/readyz 200)", func() bool {
		code, _ := g.ready()
		return code == http.StatusOK
	})
	signIn(t, g, p, "/after-discovery")
	if v := g.metric("gateway_identity_provider_up"); v != 1 {
		t.Errorf("gateway_identity_provider_up after discovery: expected 1, got %v", v)
	}
	if up.hits.Load() != 1 {
		t.Errorf("the tool got %d requests, want only the one after the sign-in", up.hits.Load())
	}
}

// The provider goes down after users signed in. Their sessions keep working
// (no refresh token was issued: the identity is fixed until the session
// ends, docs/config.md). A sign-in whose code exchange finds the provider
// gone fails with 503 that names the provider, sets no session and is
// audited; once the provider is back (a new process, new signing key), the
// same browser signs in.
func TestProviderDownAfterSignIn(t *testing.T) {
	t.Parallel()
	p := newIdP(t)
	up := newTool(t)
	g := newGateway(t, p.gatewayFor(up.URL))
	signedIn := noFollow(signIn(t, g, p, "/"))

	// A second browser goes to the provider while it is up; the provider
	// goes down before the browser brings the code back.
	c := browser(true)
	code, loc := redirect(t, c, g.url+"/newcomer")
	if code != http.StatusFound || !strings.HasPrefix(loc, p.issuer()) {
		t.Fatalf("expected a redirect to the provider, got %d %q", code, loc)
	}
	p.m.QueueUser(&mockoidc.MockUser{Subject: "sub-ann", Email: "ann@example.com", EmailVerified: true})
	code, callback := redirect(t, c, loc)
	if code != http.StatusFound || !strings.HasPrefix(callback, g.url+"/.gateway/callback") {
		t.Fatalf("expected the provider to send the browser back with a code, got %d %q", code, callback)
	}
	p.stop()

	if code, body := get(t, signedIn, g.url+"/while-provider-down"); code != http.StatusOK {
		t.Errorf("existing session with the provider down: expected 200, got %d: %.300s", code, body)
	}
	hits := up.hits.Load()
	code, body := get(t, c, callback)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "identity provider did not answer") {
		t.Errorf("callback with the provider down: expected 503 saying the provider did not answer, got %d: %.400s", code, body)
	}
	if code, _ := get(t, c, g.url+"/newcomer"); code != http.StatusFound {
		t.Errorf("after the failed sign-in: expected a redirect to sign in (no session), got %d", code)
	}
	if up.hits.Load() != hits {
		t.Error("the failed sign-in reached the tool")
	}
	if !g.audited(func(r record) bool {
		return r.Event == "sign-in-failed" && strings.Contains(r.Detail, "did not answer")
	}) {
		t.Error("audit: no sign-in-failed event naming the provider")
	}

	p.start()
	c.CheckRedirect = nil
	p.m.QueueUser(&mockoidc.MockUser{Subject: "sub-ann", Email: "ann@example.com", EmailVerified: true})
	if code, body := get(t, c, g.url+"/newcomer"); code != http.StatusOK {
		t.Errorf("sign-in with the provider back: expected 200, got %d: %.300s", code, body)
	}
}

// redirect requests u with c (which must not follow redirects) and returns
// the status and the absolute Location.
func redirect(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return resp.StatusCode, ""
	}
	return resp.StatusCode, (&url.URL{Scheme: loc.Scheme, Host: loc.Host, Path: loc.Path, RawQuery: loc.RawQuery}).String()
}
