package test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/accessgateway/gateway/internal/justify/justifytest"
)

// justifyConfig is a customer-records route that requires a ticket naming
// the customer in the path, from a Jira (its fake) or a static system.
const justifyConfig = `
  - name: records
    host: {{.Host}}
    path: /records/{customer_id}
    upstream: {{.Upstream}}
    allow_bearer: true
    rules:
      allow:
        - domains: [example.com]
      deny:
        - emails: [mallory@example.com]
    require:
      justification:
        systems: [jira, tickets]
        bind: {customer: "{customer_id}"}
        reverify: 1m
        max_age: 2h
justification:
  systems:
    jira:
      type: jira
      base_url: {{.Data.JiraURL}}
      auth: {username: gateway@corp.example, password: jira-api-token}
      tls: {ca_file: {{.Data.JiraCA}}}
      jira: {api: cloud-v3, involved: [assignee, watchers], customer_field: customfield_10050}
      cache: {ttl: 30s, negative_ttl: 5s}
    tickets:
      type: static
      static:
        tickets:
          - {id: SUP-1, state: {{.Data.StaticState}}, assignees: [jane@example.com], customers: ["42"]}
`

// clockAt is a settable clock for the gateway.
type clockAt struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clockAt) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clockAt) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var formCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
var formReturn = regexp.MustCompile(`name="return" value="([^"]+)"`)

// submitTicket posts the justification form of page body and returns the
// answer (redirects followed).
func submitTicket(t *testing.T, c *http.Client, g *gateway, body, ticket string) (*http.Response, string) {
	t.Helper()
	csrf, ret := formCSRF.FindStringSubmatch(body), formReturn.FindStringSubmatch(body)
	if csrf == nil || ret == nil {
		t.Fatalf("no justification form in: %.600s", body)
	}
	form := url.Values{"csrf": {htmlUnescape(csrf[1])}, "return": {htmlUnescape(ret[1])}, "ticket": {ticket}}
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/.gateway/justify", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", g.URL)
	return do(t, c, req)
}

// justifyEnv is a gateway with the records route, its IdP, its Jira fake
// and its tool.
type justifyEnv struct {
	g    *gateway
	idp  *mockoidc.MockOIDC
	jira *justifytest.Jira
	up   *tokenUpstream
	vars envVars
}

func startJustifyGateway(t *testing.T, clock *clockAt) *justifyEnv {
	t.Helper()
	return newJustifyEnvAt(t, newIdP(t), clock)
}

// setStatic rewrites the static ticket's state in the file and reloads.
func (e *justifyEnv) setStatic(t *testing.T, state string) {
	t.Helper()
	v := withAddrs(e.vars, e.g)
	v.Data["StaticState"] = state
	e.g.writeConfig(v, baseConfig+justifyConfig)
	if err := e.g.srv.Reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
}

// TestJustificationEndToEnd: a route bound to the customer in its path asks
// for a ticket on a form; a ticket naming another customer, a closed one and
// one that does not involve the user are refused with their reasons; a
// ticket naming the customer lets the user in with a justification claim;
// re-verification ends access when the ticket closes (Jira) and a reload
// that closes a static ticket ends it too.
func TestJustificationEndToEnd(t *testing.T) {
	clock := &clockAt{t: time.Now().Truncate(time.Second)}
	e := startJustifyGateway(t, clock)
	g, jira, up, idp := e.g, e.jira, e.up, e.idp
	jira.SetIssue(justifytest.JiraIssue{Key: "SUP-7", Status: "In Progress", Category: "indeterminate",
		Assignee: "jane@example.com", Fields: map[string]any{"customfield_10050": "42"}})
	jira.SetIssue(justifytest.JiraIssue{Key: "SUP-8", Status: "In Progress", Category: "indeterminate",
		Assignee: "jane@example.com", Fields: map[string]any{"customfield_10050": "43"}})
	jira.SetIssue(justifytest.JiraIssue{Key: "SUP-9", Status: "Done", Category: "done",
		Assignee: "jane@example.com", Fields: map[string]any{"customfield_10050": "42"}})
	jira.SetIssue(justifytest.JiraIssue{Key: "SUP-10", Status: "In Progress", Category: "indeterminate",
		Assignee: "bob@example.com", Fields: map[string]any{"customfield_10050": "42"}})

	c, resp, body := signIn(t, g, idp, user("jane@example.com"), "/records/42")
	mustStatus(t, resp, body, http.StatusForbidden)
	if !strings.Contains(body, `id="reason">justification-required`) || !strings.Contains(body, "customer") {
		t.Fatalf("expected the justification form naming the customer: %.800s", body)
	}
	if up.hits.Load() != 0 {
		t.Fatal("the upstream was reached without a justification")
	}

	for _, tc := range []struct{ ticket, reason string }{
		{"jira:SUP-8", "ticket-resource-mismatch"},
		{"jira:SUP-9", "ticket-closed"}, // done, even without a resolution
		{"jira:SUP-10", "ticket-not-assigned"},
		{"jira:SUP-404", "ticket-not-found"},
		{"jira:SUP-٤٢", "justification-required"}, // Arabic-Indic digits are refused
	} {
		resp, b := submitTicket(t, c, g, body, tc.ticket)
		if resp.StatusCode == http.StatusOK || !strings.Contains(b, `id="reason">`+tc.reason) {
			t.Errorf("ticket %s: status %d, want reason %s: %.500s", tc.ticket, resp.StatusCode, tc.reason, b)
		}
	}
	if up.hits.Load() != 0 {
		t.Fatal("the upstream was reached with a refused ticket")
	}

	// The right ticket: back to the record, with the claim.
	resp, b := submitTicket(t, c, g, body, "https://"+strings.TrimPrefix(jira.URL(), "https://")+"/browse/SUP-7")
	mustStatus(t, resp, b, http.StatusOK)
	claims := up.lastClaims(t)
	if j := claims.Justification; j == nil || j.System != "jira" || j.ID != "SUP-7" || j.Resource != "42" {
		t.Fatalf("justification claim = %+v", claims.Justification)
	}
	if !claims.Expiry.Time().After(clock.Now()) {
		t.Fatalf("token exp %v not after now", claims.Expiry.Time())
	}

	// Every spelling of the same record reaches the same grant; another
	// customer does not.
	for _, p := range []string{"/records/42", "/records/42/", "//records/42", "/records/./42", "/records/%34%32"} {
		resp, b := get(t, c, g.URL+p)
		mustStatus(t, resp, b, http.StatusOK)
	}
	resp, b = get(t, c, g.URL+"/records/43")
	mustStatus(t, resp, b, http.StatusForbidden)
	if !strings.Contains(b, "justification-required") {
		t.Fatalf("customer 43 with a grant for 42: %.400s", b)
	}

	// The ticket is reassigned: within the re-verification interval the
	// grant holds; once it is due (and the answer cache expired) it ends.
	jira.SetIssue(justifytest.JiraIssue{Key: "SUP-7", Status: "In Progress", Category: "indeterminate",
		Assignee: "bob@example.com", Fields: map[string]any{"customfield_10050": "42"}})
	resp, b = get(t, c, g.URL+"/records/42")
	mustStatus(t, resp, b, http.StatusOK)
	clock.Add(61 * time.Second)
	resp, b = get(t, c, g.URL+"/records/42")
	mustStatus(t, resp, b, http.StatusForbidden)
	if !strings.Contains(b, "ticket-not-assigned") {
		t.Fatalf("after reassignment: %.400s", b)
	}
	// And it stays ended: the grant was deleted.
	jira.SetIssue(justifytest.JiraIssue{Key: "SUP-7", Status: "In Progress", Category: "indeterminate",
		Assignee: "jane@example.com", Fields: map[string]any{"customfield_10050": "42"}})
	resp, b = get(t, c, g.URL+"/records/42")
	mustStatus(t, resp, b, http.StatusForbidden)

	// A static ticket, closed by editing the YAML (hot reload).
	resp, b = submitTicket(t, c, g, b, "tickets:SUP-1")
	mustStatus(t, resp, b, http.StatusOK)
	e.setStatic(t, "closed")
	resp, b = get(t, c, g.URL+"/records/42")
	mustStatus(t, resp, b, http.StatusForbidden)
	if !strings.Contains(b, "ticket-closed") {
		t.Fatalf("after closing the static ticket: %.400s", b)
	}

	// Every verification and grant is audited.
	var granted, rejected int
	for _, r := range g.audit() {
		if r.Kind == "justification" {
			switch r.Decision {
			case "granted":
				granted++
			case "rejected":
				rejected++
			}
		}
	}
	if granted != 2 || rejected < 4 {
		t.Errorf("audit: %d grants, %d rejections; want 2 and at least 4", granted, rejected)
	}
}

// The form's POST is refused without the session's CSRF token or from
// another origin, and it never redirects off the gateway's hosts.
func TestJustificationFormIsProtected(t *testing.T) {
	clock := &clockAt{t: time.Now()}
	e := startJustifyGateway(t, clock)
	g, jira, idp := e.g, e.jira, e.idp
	jira.SetIssue(justifytest.JiraIssue{Key: "SUP-7", Category: "indeterminate", Assignee: "jane@example.com",
		Fields: map[string]any{"customfield_10050": "42"}})
	c, _, body := signIn(t, g, idp, user("jane@example.com"), "/records/42")
	post := func(form url.Values, origin string) int {
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/.gateway/justify", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		defer func() { c.CheckRedirect = nil }()
		resp, _ := do(t, c, req)
		return resp.StatusCode
	}
	csrf := htmlUnescape(formCSRF.FindStringSubmatch(body)[1])
	ok := url.Values{"csrf": {csrf}, "return": {g.URL + "/records/42"}, "ticket": {"jira:SUP-7"}}
	for _, tc := range []struct {
		name   string
		form   url.Values
		origin string
	}{
		{"no CSRF token", url.Values{"return": {g.URL + "/records/42"}, "ticket": {"jira:SUP-7"}}, g.URL},
		{"wrong CSRF token", url.Values{"csrf": {"x"}, "return": {g.URL + "/records/42"}, "ticket": {"jira:SUP-7"}}, g.URL},
		{"cross-origin", ok, "https://evil.example"},
		{"return off the gateway", url.Values{"csrf": {csrf}, "return": {"https://evil.example/records/42"}, "ticket": {"jira:SUP-7"}}, g.URL},
		{"return to a route without justification", url.Values{"csrf": {csrf}, "return": {g.URL + "/"}, "ticket": {"jira:SUP-7"}}, g.URL},
	} {
		if got := post(tc.form, tc.origin); got == http.StatusSeeOther {
			t.Errorf("%s: accepted (303)", tc.name)
		}
	}
	if got := post(ok, g.URL); got != http.StatusSeeOther {
		t.Fatalf("the real form: status %d, want 303", got)
	}
}

// API clients (bearer ID tokens) name their ticket in a header.
func TestJustificationHeaderForAPIClients(t *testing.T) {
	clock := &clockAt{t: time.Now()}
	e := startJustifyGateway(t, clock)
	g, jira, up, idp := e.g, e.jira, e.up, e.idp
	jira.SetIssue(justifytest.JiraIssue{Key: "SUP-7", Category: "indeterminate", Assignee: "jane@example.com",
		Fields: map[string]any{"customfield_10050": "42"}})
	tok := fetchIDToken(t, idp, g, user("jane@example.com"))
	cli := &http.Client{Timeout: 10 * time.Second}
	resp, body := get(t, cli, g.URL+"/records/42", "Authorization", "Bearer "+tok, "Accept", "application/json")
	mustStatus(t, resp, body, http.StatusForbidden)
	if jsonField(t, body, "error") != "justification-required" || !strings.Contains(body, "X-Gateway-Justification") {
		t.Fatalf("without the header: %s", body)
	}
	resp, body = get(t, cli, g.URL+"/records/42", "Authorization", "Bearer "+tok, "X-Gateway-Justification", "jira:SUP-7")
	mustStatus(t, resp, body, http.StatusOK)
	if r := up.lastRequest(); r.Header.Get("X-Gateway-Justification") != "" {
		t.Fatal("the justification header reached the upstream")
	}
	resp, body = get(t, cli, g.URL+"/records/43", "Authorization", "Bearer "+tok, "X-Gateway-Justification", "jira:SUP-7", "Accept", "application/json")
	mustStatus(t, resp, body, http.StatusForbidden)
	if jsonField(t, body, "error") != "ticket-resource-mismatch" {
		t.Fatalf("another customer: %s", body)
	}
}

// A justification header named outside the gateway's namespace is the
// gateway's all the same: the tool never receives it, in any spelling — it
// names a ticket the gateway verified for this request, not one the tool
// may take as verified on another.
func TestJustificationHeaderOfAnyNameNeverReachesTheTool(t *testing.T) {
	clock := &clockAt{t: time.Now()}
	e := newJustifyEnvWith(t, newIdP(t), clock, strings.Replace(justifyConfig, "justification:\n  systems:", "justification:\n  header: X-Ticket\n  systems:", 1))
	g, jira, up, idp := e.g, e.jira, e.up, e.idp
	jira.SetIssue(justifytest.JiraIssue{Key: "SUP-7", Category: "indeterminate", Assignee: "jane@example.com",
		Fields: map[string]any{"customfield_10050": "42"}})
	tok := fetchIDToken(t, idp, g, user("jane@example.com"))
	cli := &http.Client{Timeout: 10 * time.Second}
	resp, body := get(t, cli, g.URL+"/records/42", "Authorization", "Bearer "+tok, "X-Ticket", "jira:SUP-7", "X_Ticket", "jira:SUP-9")
	mustStatus(t, resp, body, http.StatusOK)
	r := up.lastRequest()
	for name := range r.Header {
		if proxyFold(name) == "x-ticket" {
			t.Fatalf("the justification header reached the tool as %s: %q", name, r.Header[name])
		}
	}
}

// proxyFold folds a header name the way upstream frameworks read it.
func proxyFold(name string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
}

// The gateway's forms act for the user: a session whose refresh is due is
// refreshed before a form is taken, as before a proxied request, so a user
// the provider no longer vouches for cannot make a grant between two
// proxied requests.
func TestJustificationFormRefreshesTheSession(t *testing.T) {
	clock := &clockAt{t: time.Now()}
	idp, refuse := idpRefreshing(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
	})
	e := newJustifyEnvAt(t, idp, clock)
	g := e.g
	e.jira.SetIssue(justifytest.JiraIssue{Key: "SUP-7", Category: "indeterminate", Assignee: "jane@example.com",
		Fields: map[string]any{"customfield_10050": "42"}})
	c, _, body := signIn(t, g, idp, user("jane@example.com"), "/records/42")
	csrf := htmlUnescape(formCSRF.FindStringSubmatch(body)[1])

	// The user is gone at the provider; the session's refresh is due.
	refuse.Store(true)
	clock.Add(6 * time.Minute)
	form := url.Values{"csrf": {csrf}, "return": {g.URL + "/records/42"}, "ticket": {"jira:SUP-7"}}
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/.gateway/justify", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", g.URL)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, body := do(t, c, req)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a form posted after the provider refused the session's refresh: status %d, want 401 (sign in first): %.300s", resp.StatusCode, body)
	}
	// The refusal ended the session: the tool asks to sign in again.
	resp, body = get(t, noFollow(c), g.URL+"/records/42")
	mustStatus(t, resp, body, http.StatusFound)
}

// A form whose session's due refresh cannot reach the provider (past the
// session's grace) answers 503 and says so: the provider, not the session
// store, did not answer; nothing was changed.
func TestJustificationFormSaysTheProviderDidNotAnswer(t *testing.T) {
	clock := &clockAt{t: time.Now()}
	idp, down := idpRefreshing(t, func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
	e := newJustifyEnvAt(t, idp, clock)
	g := e.g
	c, _, body := signIn(t, g, idp, user("jane@example.com"), "/records/42")
	csrf := htmlUnescape(formCSRF.FindStringSubmatch(body)[1])

	down.Store(true)
	clock.Add(20 * time.Minute) // the refresh is due, and its grace has passed
	form := url.Values{"csrf": {csrf}, "return": {g.URL + "/records/42"}, "ticket": {"jira:SUP-7"}}
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/.gateway/justify", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", g.URL)
	resp, body := do(t, noFollow(c), req)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "identity provider") || strings.Contains(body, "session store") {
		t.Fatalf("a form posted while the provider cannot refresh the session: expected 503 naming the identity provider, got %d: %s", resp.StatusCode, pageSummary(body))
	}
	resp, body = get(t, noFollow(c), g.URL+"/.gateway/justify?return="+url.QueryEscape(g.URL+"/records/42"))
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "identity provider") {
		t.Fatalf("the form's page: expected 503 naming the identity provider, got %d: %s", resp.StatusCode, pageSummary(body))
	}
}

// newJustifyEnvAt is a justification setup on idp whose gateway reads
// clock (the forms' tests move it to make the session's refresh due).
func newJustifyEnvAt(t *testing.T, idp *mockoidc.MockOIDC, clock *clockAt) *justifyEnv {
	return newJustifyEnvWith(t, idp, clock, justifyConfig)
}

// newJustifyEnvWith is newJustifyEnvAt with another routes-and-section
// configuration (justifyConfig's placeholders).
func newJustifyEnvWith(t *testing.T, idp *mockoidc.MockOIDC, clock *clockAt, config string) *justifyEnv {
	e := &justifyEnv{jira: justifytest.NewJira(t), idp: idp, up: newTokenUpstream(t)}
	e.vars = idpVars(e.idp, e.up.upstream)
	e.vars.Data = map[string]string{"JiraURL": e.jira.URL(), "JiraCA": e.jira.CAFile(), "StaticState": "open"}
	e.vars.Now = clock.Now
	e.g = startGateway(t, e.vars, baseConfig+config)
	e.up.use(t, e.g, clock.Now)
	return e
}

// idpRefreshing is a provider whose token endpoint, once the flag returned
// is set, answers refresh-token grants with answer.
func idpRefreshing(t *testing.T, answer func(http.ResponseWriter)) (*mockoidc.MockOIDC, *atomic.Bool) {
	var on atomic.Bool
	idp := newIdP(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if on.Load() && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") {
				_ = r.ParseForm()
				if r.PostForm.Get("grant_type") == "refresh_token" {
					answer(w)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	return idp, &on
}

// Someone the route's rules refuse gets no ticket looked up for them — not
// on the form, not through the header — and no grant: the gateway's ticket
// account must not answer, for them, whether a ticket exists or is open.
func TestJustificationIsNotLookedUpForSomeoneTheRulesRefuse(t *testing.T) {
	clock := &clockAt{t: time.Now()}
	e := startJustifyGateway(t, clock)
	g, jira, idp := e.g, e.jira, e.idp
	jira.SetIssue(justifytest.JiraIssue{Key: "SUP-7", Category: "indeterminate", Assignee: "mallory@example.com",
		Fields: map[string]any{"customfield_10050": "42"}})
	c, resp, body := signIn(t, g, idp, user("mallory@example.com"), "/records/42")
	mustStatus(t, resp, body, http.StatusForbidden)
	before := jira.Requests()

	// The form page: not shown.
	resp, body = get(t, c, g.URL+"/.gateway/justify?return="+url.QueryEscape(g.URL+"/records/42"))
	mustStatus(t, resp, body, http.StatusForbidden)
	if strings.Contains(body, `name="ticket"`) || !strings.Contains(body, "do not admit you") {
		t.Fatalf("the form page for a refused user: %s", body[strings.Index(body, "</style>"):])
	}
	// The form, posted with the session's own CSRF token (every page
	// carries it, for sign-out): refused, nothing looked up.
	m := formCSRF.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the page: %.400s", body)
	}
	form := url.Values{"csrf": {htmlUnescape(m[1])}, "return": {g.URL + "/records/42"}, "ticket": {"jira:SUP-7"}}
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/.gateway/justify", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", g.URL)
	resp, body = do(t, c, req)
	mustStatus(t, resp, body, http.StatusForbidden)
	// The header of an API client.
	tok := fetchIDToken(t, idp, g, user("mallory@example.com"))
	cli := &http.Client{Timeout: 10 * time.Second}
	resp, body = get(t, cli, g.URL+"/records/42", "Authorization", "Bearer "+tok, "X-Gateway-Justification", "jira:SUP-7", "Accept", "application/json")
	mustStatus(t, resp, body, http.StatusForbidden)
	if jsonField(t, body, "error") != "deny-rule-matched" {
		t.Fatalf("the header of a refused API client: %s", body)
	}
	if n := jira.Requests() - before; n != 0 {
		t.Fatalf("Jira was asked %d times for a user the route refuses", n)
	}
}
