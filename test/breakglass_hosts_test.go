package test

import (
	"context"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// gatewayDialer is a browser whose every connection to a host under domain
// goes to the gateway's listener (addr), whatever the name; other hosts (the
// identity provider) are dialed as named. Its cookie jar keys cookies by the
// names in the URLs, as a browser does.
func gatewayDialer(t *testing.T, addr, domain string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		if h, _, err := net.SplitHostPort(a); err == nil && strings.HasSuffix(h, "."+domain) {
			a = addr
		}
		return d.DialContext(ctx, network, a)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second}
}

func postTo(t *testing.T, c *http.Client, target string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	u, _ := url.Parse(target)
	req.Header.Set("Origin", u.Scheme+"://"+u.Host) // same-origin: CrossOriginProtection lets it pass
	return do(t, c, req)
}

// TestBreakGlassFormsOnlyOnTheGatewaysHost: the gateway's public_url is
// on gw.corp.example, the tools on tool.corp.example (one cookie domain).
// A script of the tool's origin can read the session's CSRF token from any
// page of that origin; so the break-glass forms are served on the gateway's
// own host only. On the tool's host a GET is sent there (its return address
// made absolute), and a POST — even with a valid CSRF token and a
// same-origin Origin — is refused and does nothing: no grant, no review, no
// revocation. On the gateway's host the whole flow works and comes back to
// the tool, the form page's CSP allowing that redirect.
func TestBreakGlassFormsOnlyOnTheGatewaysHost(t *testing.T) {
	const (
		pub  = "http://gw.corp.example"
		tool = "http://tool.corp.example"
	)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	clock := &clockAt{t: time.Date(2026, 12, 5, 3, 0, 0, 0, berlin)} // Saturday 03:00: outside the window
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer hook.Close()
	m := newIdP(t)
	up := newUpstream(t)
	vars := idpVars(m, up)
	vars.Data = map[string]string{"Hook": hook.URL, "Inc1": "active"}
	vars.Now = clock.Now
	vars.PublicHost, vars.RouteHost, vars.CookieDomain = "gw.corp.example", "tool.corp.example", "corp.example"
	g := startGateway(t, vars, baseConfig+windowConfig)

	signInAt := func(email string, groups ...string) *http.Client {
		c := gatewayDialer(t, g.Addr, "corp.example")
		m.QueueUser(user(email, groups...))
		resp, body := get(t, c, tool+"/")
		mustStatus(t, resp, body, http.StatusOK)
		return c
	}
	countEvents := func(events ...string) int {
		n := 0
		for _, r := range g.audit() {
			for _, e := range events {
				if r.Kind == "break-glass" && r.Event == e {
					n++
				}
			}
		}
		return n
	}

	olive := signInAt("olive@example.com", "oncall")
	oliveNF := noFollow(olive)

	// The denial page on the tool's host offers the gateway's page, with a
	// return address on the tool's host.
	resp, body := get(t, olive, tool+"/console")
	mustStatus(t, resp, body, http.StatusForbidden)
	wantOffer := pub + "/.gateway/break-glass?return=" + url.QueryEscape(tool+"/console")
	if !strings.Contains(htmlUnescape(body), `href="`+wantOffer+`"`) {
		t.Fatalf("the offer does not link to %s: %s", wantOffer, body)
	}

	// A GET (or HEAD) of the form on the tool's host is sent to the
	// gateway's host, the return address made absolute.
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req, _ := http.NewRequest(method, tool+"/.gateway/break-glass?return=/x", nil)
		resp, body = do(t, oliveNF, req)
		mustStatus(t, resp, body, http.StatusSeeOther)
		if loc, want := resp.Header.Get("Location"), pub+"/.gateway/break-glass?return="+url.QueryEscape(tool+"/x"); loc != want {
			t.Fatalf("%s on the tool's host: Location %q, want %q", method, loc, want)
		}
	}
	resp, body = get(t, oliveNF, tool+"/.gateway/break-glass/review")
	mustStatus(t, resp, body, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != pub+"/.gateway/break-glass/review" {
		t.Fatalf("review on the tool's host: Location %q", loc)
	}

	// The form on the gateway's host; its CSP lets the form's redirect go
	// back to the tool.
	resp, page := get(t, olive, wantOffer)
	mustStatus(t, resp, page, http.StatusOK)
	if resp.Request.URL.Host != "gw.corp.example" {
		t.Fatalf("the form was served on %s", resp.Request.URL.Host)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	_, formAction, _ := strings.Cut(csp, "form-action ")
	if !strings.Contains(" "+formAction+" ", " "+tool+" ") {
		t.Fatalf("form-action %q lacks the tool's origin %s (CSP %q)", formAction, tool, csp)
	}
	csrf := htmlUnescape(bgCSRF.FindStringSubmatch(page)[1])
	ret := htmlUnescape(bgReturn.FindStringSubmatch(page)[1])
	if ret != tool+"/console" {
		t.Fatalf("the form returns to %q", ret)
	}
	grant := url.Values{"csrf": {csrf}, "return": {ret}, "incident": {"INC-1"},
		"reason": {"checkout is failing for every customer"}, "duration": {"30m"}}

	// A tool's script posts the form on its own origin with the token it
	// read: refused, nothing granted.
	resp, body = postTo(t, oliveNF, tool+"/.gateway/break-glass", grant)
	mustStatus(t, resp, body, http.StatusForbidden)
	if !strings.Contains(body, "gateway&#39;s own address") && !strings.Contains(body, "gateway's own address") {
		t.Fatalf("the refusal does not say where the form is served: %s", pageSummary(body))
	}
	if n := countEvents("break-glass.granted", "break-glass.request"); n != 0 {
		t.Fatalf("a POST on the tool's host was acted on: %d break-glass records", n)
	}
	resp, body = get(t, olive, tool+"/console")
	mustStatus(t, resp, body, http.StatusForbidden)

	// On the gateway's host: granted, and back on the tool.
	resp, body = postTo(t, olive, pub+"/.gateway/break-glass", grant)
	mustStatus(t, resp, body, http.StatusOK)
	if got := resp.Request.URL.String(); got != tool+"/console" {
		t.Fatalf("after the grant the browser is at %s, want %s/console", got, tool)
	}
	if up.hits.Load() == 0 {
		t.Fatal("the grant did not open the console")
	}
	if n := countEvents("break-glass.granted"); n != 1 {
		t.Fatalf("%d grants recorded, want 1", n)
	}

	// A reviewer's browser on the tool's host: a script posts "reviewed"
	// and "revoke" with the reviewer's token: refused, nothing done.
	lee := signInAt("lee@example.com", "security")
	resp, body = get(t, lee, pub+"/.gateway/break-glass/review")
	mustStatus(t, resp, body, http.StatusOK)
	ids := reviewForm.FindAllStringSubmatch(body, -1)
	if len(ids) != 1 {
		t.Fatalf("review page: %d grants, want 1: %s", len(ids), pageSummary(body))
	}
	leeCSRF := htmlUnescape(bgCSRF.FindStringSubmatch(body)[1])
	for _, action := range []string{"revoke", "reviewed"} {
		resp, body = postTo(t, noFollow(lee), tool+"/.gateway/break-glass/review",
			url.Values{"csrf": {leeCSRF}, "id": {ids[0][1]}, "action": {action}})
		mustStatus(t, resp, body, http.StatusForbidden)
	}
	if n := countEvents("break-glass.reviewed", "break-glass.revoked"); n != 0 {
		t.Fatalf("a review POST on the tool's host was acted on: %d records", n)
	}
	resp, body = get(t, olive, tool+"/console")
	mustStatus(t, resp, body, http.StatusOK) // not revoked
	resp, body = get(t, lee, pub+"/.gateway/break-glass/review")
	mustStatus(t, resp, body, http.StatusOK)
	if n := len(reviewForm.FindAllStringSubmatch(body, -1)); n != 1 {
		t.Fatalf("after the refused POSTs %d grants await review, want 1", n)
	}

	// Each refused POST is audited, with whose browser sent it.
	var refused []string
	for _, r := range g.audit() {
		if r.Kind == "break-glass" && r.Event == "break-glass.wrong-host" {
			if r.Decision != "refused" || r.Host != "tool.corp.example" {
				t.Errorf("wrong-host record: %+v", r)
			}
			refused = append(refused, r.User)
		}
	}
	if strings.Join(refused, " ") != "olive@example.com lee@example.com lee@example.com" {
		t.Errorf("wrong-host records name %q, want olive's and lee's two", refused)
	}

	// On the gateway's host the reviewer's forms work: the grant, still
	// active, is refused a review until it is revoked.
	resp, body = postTo(t, lee, pub+"/.gateway/break-glass/review",
		url.Values{"csrf": {leeCSRF}, "id": {ids[0][1]}, "action": {"reviewed"}})
	mustStatus(t, resp, body, http.StatusConflict)
	resp, body = postTo(t, lee, pub+"/.gateway/break-glass/review",
		url.Values{"csrf": {leeCSRF}, "id": {ids[0][1]}, "action": {"revoke"}})
	mustStatus(t, resp, body, http.StatusOK)
	resp, body = postTo(t, lee, pub+"/.gateway/break-glass/review",
		url.Values{"csrf": {leeCSRF}, "id": {ids[0][1]}, "action": {"reviewed"}})
	mustStatus(t, resp, body, http.StatusOK)
	if n := len(reviewForm.FindAllStringSubmatch(body, -1)); n != 0 {
		t.Fatalf("%d grants left to review after marking it", n)
	}
	if n := countEvents("break-glass.reviewed"); n != 1 {
		t.Fatalf("%d reviewed records, want 1", n)
	}
}
