package security

// The classes of ../notes/attacks.md: the ways identity-aware proxies like
// this one have been broken in public advisories, each tried here in the
// variants an attacker reading this gateway's code would try.

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/gatewaytest"
)

// escapes reports whether loc (a Location header) sends the browser to a
// host other than the gateway's or the identity provider's.
func (f *fixture) escapes(loc string) bool {
	if loc == "" {
		return false
	}
	u, err := url.Parse(loc)
	if err != nil {
		return true
	}
	if u.Host == "" && strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(u.Path, "//") && !strings.Contains(loc, `\`) {
		return false // a path on the gateway
	}
	return u.Host != f.g.Addr && u.Host != f.g.Host && u.Host != f.idp.Addr()
}

// TestOpenRedirectAfterSignIn (oauth2-proxy CVE-2017-1000070, CVE-2020-5233,
// CVE-2020-4037): no sign-in link, and no address the sign-in starts from,
// sends the browser anywhere but to the gateway's own hosts.
func TestOpenRedirectAfterSignIn(t *testing.T) {
	f := newFixture(t, nil, "forward_auth: {enabled: true}\ntrusted_proxies: [192.0.2.0/24]\n")
	base := "http://" + f.g.Addr
	t.Run("sign-in link", func(t *testing.T) {
		for _, rd := range []string{
			"//evil.example/", "/%5Cevil.example/", "/%09/evil.example", "https://evil.example/", "http://evil.example/",
			"HTTP://EVIL.EXAMPLE/", "http://127.0.0.1.evil.example/", "http://" + f.g.Addr + ".evil.example/",
			"http://127.0.0.1@evil.example/", "http://evil.example%5C@127.0.0.1/", "http://evil.example%23@127.0.0.1/",
			"http:%2F%2Fevil.example/", "http%3A%2F%2Fevil.example%2F", "http%3A%2F%2F127.0.0.1%40evil.example%2F",
			"javascript:alert(1)//127.0.0.1/", "http:/evil.example/", "http:evil.example", "///evil.example/",
			base + "//evil.example/", base + "/%09/evil.example", "data:text/html,<script>", "http://evil.example%00.127.0.0.1/",
			"http://[::1]/", "http://localhost/", "",
		} {
			t.Run(rd, func(t *testing.T) {
				resp := f.g.Raw(t, "GET /.gateway/sign-in?rd="+rd+" HTTP/1.1\r\nHost: "+f.g.Host+"\r\nConnection: close\r\n\r\n")
				if resp.Status != http.StatusBadRequest {
					t.Errorf("status %d, want 400; Location %q", resp.Status, resp.Header.Get("Location"))
				}
				if f.escapes(resp.Header.Get("Location")) {
					t.Errorf("redirected to %q", resp.Header.Get("Location"))
				}
			})
		}
		// The control: a link to a routed address starts the sign-in.
		resp := f.g.Raw(t, "GET /.gateway/sign-in?rd="+base+"/x HTTP/1.1\r\nHost: "+f.g.Host+"\r\nConnection: close\r\n\r\n")
		if loc := resp.Header.Get("Location"); resp.Status != http.StatusFound || !strings.HasPrefix(loc, f.idp.AuthorizationEndpoint()) {
			t.Errorf("a link to %s/x: status %d, Location %q; want the provider's sign-in", base, resp.Status, loc)
		}
	})
	t.Run("address the sign-in starts from", func(t *testing.T) {
		for _, target := range []string{
			"//evil.example/", "///evil.example/", "/%2F%2Fevil.example/", "/%5Cevil.example/", "/.//evil.example/",
			"//evil.example/%2e%2e", "/%09/evil.example", "//evil.example?x=1", "/x?next=//evil.example",
		} {
			t.Run(target, func(t *testing.T) {
				final := f.signInFrom(t, target)
				if final != nil && final.Hostname() != f.g.Host {
					t.Errorf("after signing in from %s the browser was sent to %s", target, final)
				}
			})
		}
	})
}

// signInFrom starts a sign-in with a request for target (sent as written),
// completes it at the provider and returns the address the gateway sent the
// browser to afterwards (nil when the gateway refused the target).
func (f *fixture) signInFrom(t *testing.T, target string) *url.URL {
	t.Helper()
	resp := f.g.Raw(t, f.get(target, ""))
	if resp.Status != http.StatusFound {
		if resp.Status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want a sign-in or 400", target, resp.Status)
		}
		return nil
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, f.idp.AuthorizationEndpoint()) {
		t.Fatalf("%s: sent to %q, not to the provider", target, loc)
	}
	c := f.browserWith(resp.Header)
	f.idp.QueueUser(gatewaytest.User("sam@example.com", "support"))
	var last *url.URL
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		last = req.URL
		if h := req.URL.Hostname(); h != "127.0.0.1" || (req.URL.Host != f.g.Addr && req.URL.Host != f.idp.Addr()) {
			return http.ErrUseLastResponse
		}
		if len(via) > 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}
	r, err := c.Get(loc)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	r.Body.Close()
	if last == nil {
		t.Fatalf("%s: the provider did not send the browser back", target)
	}
	return last
}

// browserWith is a browser holding the cookies h sets on the gateway.
func (f *fixture) browserWith(h http.Header) *http.Client {
	c := gatewaytest.Browser()
	u, _ := url.Parse(f.g.URL)
	c.Jar.SetCookies(u, (&http.Response{Header: h}).Cookies())
	return c
}

// TestLookAlikeDomains (oauth2-proxy CVE-2021-21291): a rule for
// example.com matches that domain exactly, never a suffix, prefix or
// sub-domain of it.
func TestLookAlikeDomains(t *testing.T) {
	f := newFixture(t, nil, "")
	for _, email := range []string{
		"x@evilexample.com", "x@example.com.evil.example", "x@EXAMPLE.COM.evil.example", "x@sub.example.com",
		"x@example.co", "x@xexample.com", "x@example-com.example", "x@example.comm", "x@example.com.",
		"x@exаmple.com", // Cyrillic а
	} {
		t.Run(email, func(t *testing.T) {
			f.deniedIdentity(t, email)
		})
	}
	// The control: letter case of the domain does not matter.
	c := f.g.SignIn(t, f.idp, gatewaytest.User("Kim@Example.COM"), "/")
	f.reached(t, f.get("/k", f.g.SessionCookie(c)), "/k")
}

// deniedIdentity signs in as email through the provider and asserts that
// nothing behind the home route (which allows example.com) is reached: the
// sign-in is refused, or the session it made is denied.
func (f *fixture) deniedIdentity(t *testing.T, email string) {
	t.Helper()
	before := f.up.Hits()
	c := gatewaytest.Browser()
	f.idp.QueueUser(gatewaytest.User(email))
	resp, err := c.Get(f.g.URL + "/home")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || f.up.Hits() != before {
		t.Fatalf("signing in as %q reached the upstream (status %d)", email, resp.StatusCode)
	}
	if ck := f.g.SessionCookie(c); ck != "" {
		f.blocked(t, f.get("/home", ck), http.StatusForbidden)
	}
}

// TestEmailParsing (oauth2-proxy CVE-2026-40574): an email claim that is not
// one plain address is never read as the address its last part names.
func TestEmailParsing(t *testing.T) {
	f := newFixture(t, nil, "")
	for _, email := range []string{
		"a@evil.example@example.com", `"a@evil.example"@example.com`, "<a@evil.example>@example.com",
		"a@evil.example,b@example.com", "a@evil.example (x)@example.com", "a@evil.example\x00@example.com",
		"a@example.com\n", " a@example.com", "Evil <a@example.com>", "a@example.com <b@evil.example>",
		"a@evil.example%40example.com", "a@[127.0.0.1]", "@example.com", "a@", "example.com",
	} {
		t.Run(fmt.Sprintf("%q", email), func(t *testing.T) { f.deniedIdentity(t, email) })
	}
}

// TestUnsignedSignInParameters (Pomerium CVE-2021-29651/29652): the sign-in
// callback accepts only the state it issued, to the browser it issued it
// to, once; a forged, swapped or replayed parameter signs no one in.
func TestUnsignedSignInParameters(t *testing.T) {
	f := newFixture(t, nil, "")
	// start begins a sign-in of email in a fresh browser and returns the
	// browser and the callback address the provider sent it to.
	start := func(t *testing.T, email string) (*http.Client, *url.URL) {
		t.Helper()
		resp := f.g.Raw(t, f.get("/start", ""))
		if resp.Status != http.StatusFound {
			t.Fatalf("status %d, want a sign-in", resp.Status)
		}
		c := f.browserWith(resp.Header)
		var cb *url.URL
		c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
			if req.URL.Path == "/.gateway/callback" {
				cb = req.URL
				return http.ErrUseLastResponse
			}
			return nil
		}
		f.idp.QueueUser(gatewaytest.User(email, "engineering"))
		r, err := c.Get(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if cb == nil || cb.Query().Get("state") == "" || cb.Query().Get("code") == "" {
			t.Fatalf("the provider did not send a callback with state and code: %v", cb)
		}
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return c, cb
	}
	// refused asserts that calling back to u with c signs no one in.
	refused := func(t *testing.T, c *http.Client, u *url.URL) {
		t.Helper()
		resp, err := c.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, ck := range resp.Cookies() {
			if ck.Name == "_gateway_session" && ck.Value != "" {
				t.Errorf("callback %s set a session", u.RawQuery)
			}
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("callback: status %d, want 400", resp.StatusCode)
		}
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			n := 0
			for _, rec := range f.g.Audit(t) {
				if rec["event"] == "sign-in-failed" {
					n++
				}
			}
			if n > f.failedSignIns {
				f.failedSignIns = n
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("no sign-in-failed audit record for the refused callback")
				return
			}
		}
	}
	with := func(u *url.URL, key, val string) *url.URL {
		q := u.Query()
		q.Set(key, val)
		v := *u
		v.RawQuery = q.Encode()
		return &v
	}
	t.Run("forged state", func(t *testing.T) {
		c, cb := start(t, "eve@example.com")
		refused(t, c, with(cb, "state", "forged"))
		refused(t, c, with(cb, "state", cb.Query().Get("state")+"x"))
		refused(t, c, with(cb, "state", ""))
	})
	t.Run("forged code", func(t *testing.T) {
		c, cb := start(t, "eve@example.com")
		refused(t, c, with(cb, "code", "forged"))
	})
	t.Run("callback in another browser", func(t *testing.T) {
		_, cb := start(t, "eve@example.com")
		other := gatewaytest.Browser()
		other.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		refused(t, other, cb) // login CSRF: the victim's browser never started this sign-in
	})
	t.Run("swapped between browsers", func(t *testing.T) {
		a, cbA := start(t, "eve@example.com")
		_, cbB := start(t, "mallory@example.com")
		refused(t, a, cbB)
		_ = cbA
	})
	t.Run("replayed", func(t *testing.T) {
		c, cb := start(t, "eve@example.com")
		resp, err := c.Get(cb.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("the first callback: status %d, want 302", resp.StatusCode)
		}
		refused(t, c, cb)
	})
}

// TestCraftedRequests (Pomerium CVE-2023-33189): requests shaped to confuse
// routing get the decision of the path the upstream will read, or are
// refused. sam may use the home route only.
func TestCraftedRequests(t *testing.T) {
	f := newFixture(t, nil, "")
	host := f.g.Host
	for _, tc := range []struct{ name, raw string }{
		{"absolute-form", "GET http://" + f.g.Addr + "/admin HTTP/1.1\r\nHost: " + host + "\r\nCookie: " + f.sam + "\r\n\r\n"},
		{"absolute-form, other host", "GET http://evil.example/admin HTTP/1.1\r\nHost: " + host + "\r\nCookie: " + f.sam + "\r\n\r\n"},
		{"absolute-form, home host", "GET http://evil.example/home HTTP/1.1\r\nHost: " + host + "\r\nCookie: " + f.sam + "\r\n\r\n"},
		{"two Host headers", "GET /home HTTP/1.1\r\nHost: " + host + "\r\nHost: evil.example\r\nCookie: " + f.sam + "\r\n\r\n"},
		{"no Host", "GET /admin HTTP/1.0\r\nCookie: " + f.sam + "\r\n\r\n"},
		{"Host with user info", "GET /admin HTTP/1.1\r\nHost: x@" + host + "\r\nCookie: " + f.sam + "\r\n\r\n"},
		{"CONNECT", "CONNECT " + f.g.Addr + " HTTP/1.1\r\nHost: " + f.g.Addr + "\r\nCookie: " + f.sam + "\r\n\r\n"},
		{"fragment in target", f.get("/admin#/home", f.sam)},
		{"no leading slash", f.get("admin", f.sam)},
		{"encoded letters", f.get("/%61dmin", f.sam)},
		{"dot segments", f.get("/home/../admin", f.sam)},
		{"encoded dot segments", f.get("/home/%2e%2E/admin", f.sam)},
		{"merged slashes", f.get("//admin", f.sam)},
		{"dot", f.get("/./admin/.", f.sam)},
		{"trailing slash", f.get("/admin/", f.sam)},
		{"below", f.get("/admin/users?x=1", f.sam)},
		{"NUL", f.get("/admin%00", f.sam)},
		{"encoded slash", f.get("/admin%2fusers", f.sam)},
		{"lower-case method", "get /admin HTTP/1.1\r\nHost: " + host + "\r\nCookie: " + f.sam + "\r\n\r\n"},
		{"HTTP/0.9-style", "GET /admin\r\n\r\n"},
		{"tab in target", "GET /home\t/admin HTTP/1.1\r\nHost: " + host + "\r\nCookie: " + f.sam + "\r\n\r\n"},
		{"obs-fold", "GET /admin HTTP/1.1\r\nHost: " + host + "\r\nX-Forwarded-User: sam\r\n admin\r\nCookie: " + f.sam + "\r\n\r\n"},
		{"template route, upper case", f.get("/CUSTOMERS/43", f.sam)},
		{"template variable with parameters", f.get("/customers/43;x=1", f.sam)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw
			if !strings.Contains(raw, "Connection: close") {
				raw = strings.TrimSuffix(raw, "\r\n") + "Connection: close\r\n\r\n"
			}
			f.blocked(t, raw, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound,
				http.StatusMethodNotAllowed, http.StatusNotImplemented, 505)
		})
	}
	t.Run("OPTIONS *", func(t *testing.T) {
		// Go answers "OPTIONS *" itself; it must not reach a tool.
		f.blocked(t, "OPTIONS * HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n", http.StatusOK, http.StatusBadRequest)
	})
}

// TestRulesMatchTheNormalizedPathOnly (oauth2-proxy CVE-2025-54576,
// CVE-2026-41059, CVE-2026-40575): the route that does not ask for a
// sign-in (/public) is chosen by the normalized path, never by the query,
// the fragment or a header the client sends.
func TestRulesMatchTheNormalizedPathOnly(t *testing.T) {
	f := newFixture(t, nil, "forward_auth: {enabled: true}\ntrusted_proxies: [192.0.2.0/24]\n")
	for _, tc := range []struct{ name, raw string }{
		{"query", f.get("/admin?/public", "")},
		{"query value", f.get("/admin?x=/public&y=/public/", "")},
		{"fragment", f.get("/admin#/public", "")},
		{"encoded fragment", f.get("/admin%23/public", "")},
		{"encoded query", f.get("/admin%3F/public", "")},
		{"dot segments", f.get("/public/../admin", "")},
		{"encoded dot segments", f.get("/public/%2e%2e/admin", "")},
		{"encoded slash", f.get("/public%2F..%2Fadmin", "")},
		{"parameters", f.get("/public;/../admin", "")},
		{"backslash", f.get("/public\\..\\admin", "")},
		{"X-Forwarded-Uri", f.get("/admin", "", "X-Forwarded-Uri: /public")},
		{"X-Original-URL", f.get("/admin", "", "X-Original-URL: /public")},
		{"X-Rewrite-URL", f.get("/admin", "", "X-Rewrite-URL: /public")},
		{"X-Original-URI", f.get("/admin", "", "X-Original-URI: /public")},
		{"X-Envoy-Original-Path", f.get("/admin", "", "X-Envoy-Original-Path: /public")},
		{"X-Forwarded-Prefix", f.get("/admin", "", "X-Forwarded-Prefix: /public")},
		{"forward-auth check from a client", f.get("/.gateway/auth", "",
			"X-Forwarded-Method: GET", "X-Forwarded-Proto: http", "X-Forwarded-Host: "+f.g.Host, "X-Forwarded-Uri: /public")},
		{"nginx check from a client", f.get("/.gateway/auth/nginx", "",
			"X-Original-Method: GET", "X-Forwarded-Host: "+f.g.Host, "X-Original-URI: /public")},
		{"nginx page check from a client", f.get("/.gateway/auth/nginx/page", "",
			"X-Original-Method: GET", "X-Forwarded-Host: "+f.g.Host, "X-Original-URI: /public")},
		{"envoy check from a client", f.get("/.gateway/auth/envoy/public", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.g.Raw(t, tc.raw)
			if resp.Status == http.StatusOK {
				t.Fatalf("status 200: treated as the public route")
			}
			f.blocked(t, tc.raw, http.StatusFound, http.StatusUnauthorized, http.StatusBadRequest, http.StatusForbidden)
		})
	}
	// The control: /public itself needs no sign-in.
	f.reached(t, f.get("/public", ""), "/public")
}

// TestHealthCheckShortcut (oauth2-proxy CVE-2026-34457): no User-Agent,
// header or path spelling of a health check is treated as signed in; the
// gateway's health endpoints live on the admin listener only.
func TestHealthCheckShortcut(t *testing.T) {
	f := newFixture(t, nil, "")
	agents := []string{"kube-probe/1.34", "GoogleHC/1.0", "ELB-HealthChecker/2.0", "Consul Health Check",
		"Prometheus/3.0", "oauth2-proxy", "Go-http-client/1.1", "Pomerium", "gateway", "curl/8.0"}
	for _, ua := range agents {
		t.Run(ua, func(t *testing.T) {
			f.blocked(t, f.get("/admin", "", "User-Agent: "+ua), http.StatusFound, http.StatusUnauthorized)
			f.blocked(t, f.get("/home", "", "User-Agent: "+ua, "X-Health-Check: 1"), http.StatusFound, http.StatusUnauthorized)
		})
	}
	for _, p := range []string{"/healthz", "/readyz", "/livez", "/ping", "/health", "/ready", "/metrics",
		"/healthz/../admin", "/ping?/admin", "/.gateway/healthz", "/.gateway/readyz", "/.gateway/ping"} {
		t.Run(p, func(t *testing.T) {
			f.blocked(t, f.get(p, "", "User-Agent: kube-probe/1.34"), http.StatusFound, http.StatusUnauthorized, http.StatusNotFound)
		})
	}
}

// TestGatewayPagesThatAreNotHereAreAudited: every address under /.gateway/
// that serves nothing on this gateway — an unknown page, and the pages of
// what is switched off (forward-auth's check endpoints and sign-in link,
// justification, break-glass, an unknown path of the device API) — is a
// 404 with a deny record: someone probing the gateway's own paths leaves a
// trace whichever path they try.
func TestGatewayPagesThatAreNotHereAreAudited(t *testing.T) {
	f := newFixture(t, nil, "")
	for _, target := range []string{"/.gateway/nothing", "/.gateway/api/nothing",
		"/.gateway/auth", "/.gateway/auth/nginx", "/.gateway/auth/nginx/page", "/.gateway/auth/envoy/admin",
		"/.gateway/sign-in?rd=http://" + f.g.Host + "/admin", "/.gateway/justify?return=/admin",
		"/.gateway/break-glass?return=/admin", "/.gateway/break-glass/review",
		"/.gateway/api/device/nothing", "/.gateway/api/breakglass/grant"} {
		t.Run(target, func(t *testing.T) {
			resp := f.g.Raw(t, f.get(target, f.sam))
			if resp.Status != http.StatusNotFound {
				t.Fatalf("status %d, want 404; body: %.300s", resp.Status, resp.Body)
			}
			path, _, _ := strings.Cut(target, "?")
			for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				found := false
				for _, rec := range f.g.Audit(t) {
					if rec["kind"] == "decision" && rec["path"] == path && rec["decision"] == "deny" && rec["status"] == float64(http.StatusNotFound) {
						found = true
					}
				}
				if found {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no deny record for %s (request %q)", path, resp.RequestID)
				}
			}
		})
	}
}

// TestCrossOriginFormPostsAreAudited: a post from another site to one of
// the gateway's forms (sign-out, justification, break-glass) is refused
// with the gateway's 403 page and a deny record, not a bare text answer
// that leaves no trace of the attempt.
func TestCrossOriginFormPostsAreAudited(t *testing.T) {
	f := newFixture(t, nil, "")
	for _, target := range []string{"/.gateway/sign-out", "/.gateway/justify", "/.gateway/break-glass", "/.gateway/break-glass/review"} {
		for _, h := range []string{"Sec-Fetch-Site: cross-site", "Origin: https://evil.example"} {
			t.Run(target+" "+h, func(t *testing.T) {
				raw := "POST " + target + " HTTP/1.1\r\nHost: " + f.g.Host + "\r\nCookie: " + f.sam + "\r\n" + h +
					"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\nConnection: close\r\n\r\ncsrf=x"
				resp := f.g.Raw(t, raw)
				if resp.Status != http.StatusForbidden || resp.RequestID == "" {
					t.Fatalf("status %d, request ID %q: want the gateway's 403 page; body: %.200s", resp.Status, resp.RequestID, resp.Body)
				}
				f.audited(t, resp.RequestID, target)
			})
		}
	}
}

// TestMisconfigurationRefused (oauth2-proxy CVE-2021-21411): a configuration
// whose rules would check less than they seem to is refused with the field
// that is wrong; none loads with authorization weakened.
func TestMisconfigurationRefused(t *testing.T) {
	head := "public_url: http://127.0.0.1:8080\nlisten: {address: \"127.0.0.1:8080\"}\n" +
		"oidc: {issuer: \"http://127.0.0.1:9/\", client_id: gw, client_secret: s}\n" +
		"devices: {inventory: [{id: lt-1, serial: S1, owner: a@example.com, ek_pub_sha256: \"" + strings.Repeat("ab", 32) + "\", status: active}]}\n" +
		"routes:\n  - name: r\n    host: 127.0.0.1\n    upstream: http://127.0.0.1:9\n"
	load := func(route string) error {
		p := filepath.Join(t.TempDir(), "gateway.yaml")
		if err := os.WriteFile(p, []byte(head+route), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := config.LoadFile(p, config.Options{Dev: true})
		return err
	}
	if err := load("    rules: {allow: [{groups: [admins]}]}\n"); err != nil {
		t.Fatalf("the control configuration: %v", err)
	}
	for _, tc := range []struct{ name, route, field string }{
		{"empty entry", "    rules: {allow: [{}]}\n", "allow[0]"},
		{"emptied list", "    rules: {allow: [{groups: []}]}\n", "allow[0]"},
		{"empty group", "    rules: {allow: [{groups: [\"\"]}]}\n", "groups[0]"},
		{"blank group", "    rules: {allow: [{groups: [\" \"]}]}\n", "groups[0]"},
		{"misspelt field", "    rules: {allow: [{group: [admins]}]}\n", "group"},
		{"misspelt list", "    rules: {alow: [{groups: [admins]}]}\n", "alow"},
		{"no allow", "    rules: {}\n", "allow"},
		{"no rules", "", "allow"},
		{"rules null", "    rules:\n", "rules"},
		{"allow null", "    rules: {allow: }\n", "allow"},
		{"wildcard domain", "    rules: {allow: [{domains: [\"*\"]}]}\n", "domains[0]"},
		{"dotted domain", "    rules: {allow: [{domains: [.example.com]}]}\n", "domains[0]"},
		{"email with two @", "    rules: {allow: [{emails: [\"a@evil.example@example.com\"]}]}\n", "emails[0]"},
		{"everyone false", "    rules: {allow: [{everyone: false}]}\n", "allow[0]"},
		{"claim without values", "    rules: {allow: [{claims: {groups: []}}]}\n", "claims"},
		{"group as a string", "    rules: {allow: [{groups: admins}]}\n", "groups"},
		{"duplicate allow", "    rules:\n      allow: [{groups: [admins]}]\n      allow: [{everyone: true}]\n", "allow"},
		{"duplicate route key", "    rules: {allow: [{groups: [admins]}]}\n    rules: {allow: [{everyone: true}]}\n", "rules"},
		{"misspelt require", "    rules: {allow: [{groups: [admins]}]}\n    require: {devise: {}}\n", "devise"},
		{"require on a public route", "    public: true\n    require: {device: {}}\n", "require"},
		{"public with rules", "    public: true\n    rules: {allow: [{groups: [admins]}]}\n", "public"},
		{"public as a string", "    public: \"false\"\n    rules: {allow: [{groups: [admins]}]}\n", "public"},
		{"deny misspelt", "    rules: {allow: [{groups: [admins]}], deny: [{emial: [a@example.com]}]}\n", "emial"},
		{"source CIDR mapped", "    rules: {allow: [{groups: [admins]}], deny: [{source_cidrs: [\"::ffff:10.0.0.0/104\"]}]}\n", "source_cidrs"},
		// CVE-2021-21411's class: settings that load and silently weaken.
		{"emptied list beside another field", "    rules: {allow: [{domains: [example.com], groups: []}]}\n", "allow[0].groups"},
		{"list items all commented out", "    rules:\n      allow:\n        - domains: [example.com]\n          groups:\n          #  - admins\n", "allow[0].groups"},
		{"emptied network restriction", "    rules: {allow: [{groups: [admins], source_cidrs: []}]}\n", "source_cidrs"},
		{"emptied deny list", "    rules: {allow: [{groups: [admins]}], deny: []}\n", "deny"},
		{"emptied require", "    rules: {allow: [{groups: [admins]}]}\n    require:\n", "require"},
		{"octal number in a deny", "    rules: {allow: [{groups: [admins]}], deny: [{claims: {customer: [0042]}}]}\n", "0042"},
		{"hex number in a group", "    rules: {allow: [{groups: [0x2A]}]}\n", "groups[0]"},
		{"blank claim value", "    rules: {allow: [{groups: [admins]}], deny: [{claims: {type: [\"\"]}}]}\n", "claims.type[0]"},
		{"protocol claim", "    rules: {allow: [{groups: [admins]}], deny: [{claims: {azp: [legacy-cli]}}]}\n", "claims.azp"},
		{"later route shadows a stricter one", "    path: /c/{id:[0-9]+}\n    rules: {allow: [{groups: [admins]}]}\n" +
			"  - {name: r2, host: 127.0.0.1, path: \"/c/{n:\\\\d+}\", upstream: \"http://127.0.0.1:9\", rules: {allow: [{everyone: true}]}}\n", "routes[1].path"},
		{"identity headers no longer stripped", "    rules: {allow: [{groups: [admins]}]}\nstrip_headers: {replace: []}\n", "strip_headers.replace"},
		{"dev gRPC on every interface", "    rules: {allow: [{groups: [admins]}]}\ntrusted_proxies: [10.0.0.0/8]\nforward_auth: {enabled: true, grpc_address: \"0.0.0.0:9191\"}\n", "grpc_address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := load(tc.route)
			if err == nil {
				t.Fatalf("loaded:\n%s", tc.route)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("the error does not name %q: %v", tc.field, err)
			}
		})
	}
}

// TestClientAddressIsNotTakenFromTheClient (oauth2-proxy issue #3506): with
// no trusted proxies, no header makes a client look like it comes from the
// network a rule allows, and the audit record names the real peer.
func TestClientAddressIsNotTakenFromTheClient(t *testing.T) {
	f := newFixture(t, nil, "")
	for _, h := range []string{
		"X-Forwarded-For: 10.1.2.3", "X-Forwarded-For: 10.1.2.3, 10.1.2.4", "X_Forwarded_For: 10.1.2.3",
		"X-Real-IP: 10.1.2.3", "Forwarded: for=10.1.2.3", "Forwarded: for=\"[::ffff:10.1.2.3]\"",
		"True-Client-IP: 10.1.2.3", "CF-Connecting-IP: 10.1.2.3", "X-Client-IP: 10.1.2.3", "X-Cluster-Client-IP: 10.1.2.3",
		"Fastly-Client-IP: 10.1.2.3", "X-Original-Forwarded-For: 10.1.2.3", "Client-IP: 10.1.2.3",
	} {
		t.Run(h, func(t *testing.T) {
			id := f.blocked(t, f.get("/office", f.sam, h), http.StatusForbidden)
			for _, rec := range f.g.Audit(t) {
				if rec["request_id"] == id && rec["source_ip"] != "127.0.0.1" {
					t.Errorf("audit source_ip %v, want the peer 127.0.0.1", rec["source_ip"])
				}
			}
		})
	}
}

// TestDeviceCheckNotSkipped (Teleport #69681): a route that requires a
// device is never reached without one, whatever the client claims, and a
// bearer token (which carries no device) does not stand in for it.
func TestDeviceCheckNotSkipped(t *testing.T) {
	f := newFixture(t, nil, "")
	for _, h := range [][]string{
		nil, {"X-Client-Cert: -----BEGIN%20CERTIFICATE-----"}, {"X-SSL-Client-Cert: x"}, {"X-Forwarded-Client-Cert: Hash=x"},
		{"X-Gateway-Device: lt-1"}, {"X-Device-Id: lt-1"}, {"Ssl-Client-Verify: SUCCESS", "Ssl-Client-S-Dn: CN=lt-1"},
	} {
		t.Run(fmt.Sprint(h), func(t *testing.T) {
			id := f.blocked(t, f.get("/secure", f.eng, h...), http.StatusForbidden)
			for _, rec := range f.g.Audit(t) {
				if rec["request_id"] == id && !strings.Contains(fmt.Sprint(rec["reasons"]), "device-not-verified") {
					t.Errorf("audit reasons %v, want device-not-verified", rec["reasons"])
				}
			}
		})
	}
	t.Run("forged device cookie", func(t *testing.T) {
		for _, ck := range []string{"_gateway_device=lt-1", "_gateway_session_device=lt-1", "_gateway_binding=lt-1"} {
			f.blocked(t, f.get("/secure", f.eng+"; "+ck), http.StatusForbidden, http.StatusBadRequest)
		}
	})
	t.Run("device query parameter", func(t *testing.T) {
		f.blocked(t, f.get("/secure?device=lt-1&device_id=lt-1", f.eng), http.StatusForbidden)
	})
	t.Run("bearer token", func(t *testing.T) {
		tok := f.idToken(t, f.idp.Keypair.PrivateKey, nil)
		f.blocked(t, f.get("/secure-api", "", "Authorization: Bearer "+tok), http.StatusForbidden)
	})
}

// idToken signs an ID token for eve@example.com with key, as the provider
// would; change alters its claims (nil values delete).
func (f *fixture) idToken(t *testing.T, key *rsa.PrivateKey, change map[string]any) string {
	t.Helper()
	kid, err := f.idp.Keypair.KeyID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := map[string]any{
		"iss": f.idp.Issuer(), "aud": f.idp.Config().ClientID, "sub": "sub-eve", "email": "eve@example.com",
		"email_verified": true, "groups": []string{"engineering"}, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
	for k, v := range change {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	b, _ := json.Marshal(claims)
	return oidctest.SignIDToken(key, kid, oidc.RS256, string(b))
}

// TestServiceTokenValidation (Pomerium CVE-2024-47616): a route that takes
// bearer ID tokens takes only the provider's, for this gateway's client,
// unexpired; not the gateway's own context token, nor one signed by anyone
// else, nor an unsigned one. A route that does not take them ignores them.
func TestServiceTokenValidation(t *testing.T) {
	f := newFixture(t, nil, "")
	key := f.idp.Keypair.PrivateKey
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	// The gateway's own context token, as a tool receives it.
	ctxTok := f.reached(t, f.get("/home", f.eng), "/home").Header.Get("X-Gateway-Context")
	if ctxTok == "" {
		t.Fatal("no context token upstream")
	}
	unsigned := func(claims string) string {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(claims)) + "."
	}
	good := f.idToken(t, key, nil)
	goodClaims, _ := base64.RawURLEncoding.DecodeString(strings.Split(good, ".")[1])
	for _, tc := range []struct{ name, tok string }{
		{"garbage", "abc"},
		{"empty", ""},
		{"alg none", unsigned(string(goodClaims))},
		{"signature stripped", strings.Join(strings.Split(good, ".")[:2], ".") + "."},
		{"signed by another key", f.idToken(t, other, nil)},
		{"another audience", f.idToken(t, key, map[string]any{"aud": "another-client"})},
		{"audience list without ours", f.idToken(t, key, map[string]any{"aud": []string{"a", "b"}})},
		{"another issuer", f.idToken(t, key, map[string]any{"iss": "https://evil.example"})},
		{"expired", f.idToken(t, key, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})},
		{"no expiry", f.idToken(t, key, map[string]any{"exp": nil})},
		{"unverified email", f.idToken(t, key, map[string]any{"email_verified": false})},
		{"two emails", f.idToken(t, key, map[string]any{"email": "a@evil.example@example.com"})},
		{"the gateway's context token", ctxTok},
		{"the gateway's context token, re-signed claims", unsigned(string(mustSegment(t, ctxTok)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// (An empty one is no token: the browser is sent to sign in.)
			f.blocked(t, f.get("/api/x", "", "Authorization: Bearer "+tc.tok), http.StatusUnauthorized, http.StatusForbidden,
				http.StatusBadRequest, http.StatusFound)
		})
	}
	t.Run("route without allow_bearer", func(t *testing.T) {
		f.blocked(t, f.get("/home", "", "Authorization: Bearer "+good), http.StatusFound, http.StatusUnauthorized)
	})
	// The control: the provider's token for this client is accepted.
	f.reached(t, f.get("/api/x", "", "Authorization: Bearer "+good), "/api/x")
}

func mustSegment(t *testing.T, jwt string) []byte {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}
