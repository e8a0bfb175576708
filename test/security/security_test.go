// Package security is the attack suite: one test per class of bypass, each
// with the variants a skilled attacker who reads the gateway's code would
// try, each asserting that the request did not get through — the upstream
// saw nothing, or saw exactly the request the rules judged. The gateway runs
// as `gateway serve` runs it (gatewaytest), with a real OIDC provider and
// recording upstreams; real upstream servers (Express from npm, an h2c
// server) where the class depends on how they read requests.
//
// Every blocked attempt returns the gateway's request ID (when the gateway
// got as far as giving it one), so that a check of its audit record can be
// added to blocked in one place.
package security

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/accessgateway/gateway/internal/gatewaytest"
)

// routes is the policy every test runs against: a home route everyone at
// example.com may use, and stricter routes below it whose paths an
// attacker tries to reach through the home route.
const routes = `routes:
  - name: home
    host: {{.Host}}
    upstream: {{.Upstream}}
    rules: {allow: [{domains: [example.com]}]}
  - name: customers
    host: {{.Host}}
    path: /customers/{customer_id:[0-9]+}
    upstream: {{.Upstream}}
    rules: {allow: [{groups: [engineering]}]}
  - name: admin
    host: {{.Host}}
    path: /admin
    upstream: {{.Upstream}}
    rules: {allow: [{groups: [admins]}]}
  - name: tools
    host: {{.Host}}
    path: /tools/{tool}
    path_case: insensitive
    upstream: {{.Upstream}}
    rules: {allow: [{groups: [engineering]}]}
  - name: public
    host: {{.Host}}
    path: /public
    public: true
    upstream: {{.Upstream}}
  - name: no-upgrades
    host: {{.Host}}
    path: /no-upgrades
    upgrades: []
    upstream: {{.Upstream}}
    rules: {allow: [{domains: [example.com]}]}
  - name: office
    host: {{.Host}}
    path: /office
    upstream: {{.Upstream}}
    rules: {allow: [{source_cidrs: [10.0.0.0/8]}]}
  - name: api
    host: {{.Host}}
    path: /api
    allow_bearer: true
    upstream: {{.Upstream}}
    rules: {allow: [{domains: [example.com]}]}
  - name: secure
    host: {{.Host}}
    path: /secure
    upstream: {{.Upstream}}
    rules: {allow: [{domains: [example.com]}]}
    require: {device: {}}
  - name: secure-api
    host: {{.Host}}
    path: /secure-api
    allow_bearer: true
    upstream: {{.Upstream}}
    rules: {allow: [{domains: [example.com]}]}
    require: {device: {}}
devices:
  inventory:
    - {id: lt-1, serial: SN-1, owner: eve@example.com, ek_pub_sha256: "` + "abababababababababababababababababababababababababababababababab" + `", status: active}
`

// fixture is a running gateway with a recording upstream and two signed-in
// users: sam (support: the home route only) and eve (engineering).
type fixture struct {
	g      *gatewaytest.Gateway
	idp    *mockoidc.MockOIDC
	up     *gatewaytest.Upstream
	sam    string // "Cookie" value of sam's session
	eng    string // "Cookie" value of the engineer's session
	samWeb *http.Client
	// failedSignIns is how many sign-in-failed audit records were seen.
	failedSignIns int
}

func newFixture(t *testing.T, upstream http.Handler, extra string) *fixture {
	t.Helper()
	idp := gatewaytest.NewIdP(t)
	up := gatewaytest.NewUpstream(t, upstream)
	g := gatewaytest.Start(t, gatewaytest.Vars{IdP: idp, Upstream: up.URL}, extra+routes)
	f := &fixture{g: g, idp: idp, up: up}
	f.samWeb = g.SignIn(t, idp, gatewaytest.User("sam@example.com", "support"), "/")
	f.sam = g.SessionCookie(f.samWeb)
	f.eng = g.SessionCookie(g.SignIn(t, idp, gatewaytest.User("eve@example.com", "engineering"), "/"))
	return f
}

// get is a raw GET of target with cookie, keeping every byte as written.
func (f *fixture) get(target, cookie string, headers ...string) string {
	req := "GET " + target + " HTTP/1.1\r\nHost: " + f.g.Host + "\r\n"
	if cookie != "" {
		req += "Cookie: " + cookie + "\r\n"
	}
	for _, h := range headers {
		req += h + "\r\n"
	}
	return req + "Connection: close\r\n\r\n"
}

// blocked sends raw and asserts the attempt did not get through: the status
// is one of want and the upstream saw no request. It returns the request ID
// the gateway gave the attempt ("" when refused before it had one).
func (f *fixture) blocked(t *testing.T, raw string, want ...int) string {
	t.Helper()
	before := f.up.Hits()
	resp := f.g.Raw(t, raw)
	ok := false
	for _, w := range want {
		ok = ok || resp.Status == w
	}
	if !ok {
		t.Errorf("%s: status %d, want one of %v; body: %.300s", firstLine(raw), resp.Status, want, resp.Body)
	}
	if seen := f.up.Seen(); len(seen) != before {
		var uris []string
		for _, s := range seen[before:] {
			uris = append(uris, s.Method+" "+s.RequestURI)
		}
		t.Errorf("%s: the upstream received %q", firstLine(raw), uris)
	}
	if resp.RequestID != "" {
		f.audited(t, resp.RequestID, firstLine(raw))
	}
	return resp.RequestID
}

// audited asserts that the audit log holds the deny decision of the
// request id (records are written by group commit: it polls for 3 s).
// Requests refused before the gateway gave them an ID (proxy.Guard,
// proxy.GuardListener) have none to look for.
func (f *fixture) audited(t *testing.T, id, what string) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		for _, rec := range f.g.Audit(t) {
			if rec["request_id"] == id && rec["kind"] == "decision" {
				if rec["decision"] != "deny" {
					t.Errorf("%s: audit record %v, want a deny decision", what, rec)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: no audit record for request %s", what, id)
			return
		}
	}
}

// reached sends raw and asserts it got through as judged: status 200 and the
// upstream received exactly wantURI.
func (f *fixture) reached(t *testing.T, raw, wantURI string) gatewaytest.Seen {
	t.Helper()
	before := f.up.Hits()
	resp := f.g.Raw(t, raw)
	seen := f.up.Seen()
	if resp.Status != http.StatusOK || len(seen) != before+1 {
		t.Fatalf("%s: status %d and %d upstream request(s), want 200 and one; body: %.300s", firstLine(raw), resp.Status, len(seen)-before, resp.Body)
	}
	if got := seen[before].RequestURI; got != wantURI {
		t.Errorf("%s: the upstream received %q, want %q", firstLine(raw), got, wantURI)
	}
	return seen[before]
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

func netDial(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	}
	return c, err
}
