package test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/breakglass"
)

// windowConfig: the console opens 17:00–21:00 Mon–Fri in Berlin; on-call
// engineers may break glass with an incident of the static rota. The
// status route has the same window but no break-glass.
const windowConfig = `
  - name: console
    host: {{.Host}}
    path: /console
    upstream: {{.Upstream}}
    rules:
      allow:
        - domains: [example.com]
    require:
      time_window: {schedules: [evenings]}
      break_glass: {policy: oncall}
  - name: reports
    host: {{.Host}}
    path: /reports
    upstream: {{.Upstream}}
    rules:
      allow:
        - domains: [example.com]
    require:
      time_window: {schedules: [evenings]}
      break_glass: {policy: oncall}
  - name: status
    host: {{.Host}}
    path: /status
    upstream: {{.Upstream}}
    rules:
      allow:
        - domains: [example.com]
    require:
      time_window: {schedules: [evenings]}
schedules:
  evenings:
    time_zone: Europe/Berlin
    windows:
      - {days: mon-fri, from: "17:00", to: "21:00"}
break_glass:
  policies:
    oncall:
      groups: [oncall]
      lifts: [time_window]
      max_duration: 30m
      provider: rota
      daily_limit: 2
      recheck_interval: 1m
  providers:
    rota:
      type: static
      rota:
        time_zone: Europe/Berlin
        weekly:
          - {days: mon-sun, from: "00:00", to: "24:00", users: [olive@example.com, ivy@example.com]}
        incidents:
          - {id: INC-1, title: "Checkout errors", status: {{.Data.Inc1}}}
          - {id: INC-2, title: "Search slow", status: active}
          - {id: INC-0, title: "Yesterday", status: resolved}
  notifications:
    hook: {type: webhook, url: "{{.Data.Hook}}"}
  notify_retry: {attempts: 5, initial: 10ms, max: 20ms}
  reviewers: [security]
`

// failingWriter fails while failing is set (the audit sink is down).
type failingWriter struct {
	w       io.Writer
	failing atomic.Bool
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.failing.Load() {
		return 0, errors.New("disk full")
	}
	return f.w.Write(p)
}

var (
	bgCSRF     = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	bgReturn   = regexp.MustCompile(`name="return" value="([^"]+)"`)
	offerLink  = regexp.MustCompile(`href="(/\.gateway/break-glass\?return=[^"]+)"`)
	reviewForm = regexp.MustCompile(`name="id" value="([^"]+)"><input type="hidden" name="action" value="reviewed"`)
)

func postForm(t *testing.T, c *http.Client, g *gateway, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", g.URL)
	return do(t, c, req)
}

// breakGlass asks for a grant on the page at link and returns the answer.
func breakGlass(t *testing.T, c *http.Client, g *gateway, link, incident string) (*http.Response, string) {
	t.Helper()
	resp, page := get(t, c, g.URL+htmlUnescape(link))
	if resp.StatusCode != http.StatusOK {
		return resp, page
	}
	return postForm(t, c, g, "/.gateway/break-glass", url.Values{
		"csrf": {htmlUnescape(bgCSRF.FindStringSubmatch(page)[1])}, "return": {htmlUnescape(bgReturn.FindStringSubmatch(page)[1])},
		"incident": {incident}, "reason": {"checkout is failing for every customer"}, "duration": {"30m"}})
}

// TestTimeWindowAndBreakGlass is the on-call journey at exact instants: a
// Saturday night outside the window is denied with the next opening; the
// on-call engineer breaks glass with an active incident and gets in, the
// grant marked in the token and the audit log, announced by webhook (after
// the webhook failed twice); the grant holds for its route only, ends when
// the incident resolves, at its expiry and when a reviewer revokes it; the
// daily limit holds; users outside the groups or off call get nothing; and
// no grant is made while the audit log cannot be written.
func TestTimeWindowAndBreakGlass(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	clock := &clockAt{t: time.Date(2026, 12, 5, 3, 0, 0, 0, berlin)} // Saturday 03:00
	var hookCalls atomic.Int32
	var hookMu sync.Mutex
	var hookBodies []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hookCalls.Add(1) <= 2 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		hookMu.Lock()
		hookBodies = append(hookBodies, string(b))
		hookMu.Unlock()
	}))
	defer hook.Close()
	m := newIdP(t)
	up := newTokenUpstream(t)
	vars := idpVars(m, up.upstream)
	vars.Data = map[string]string{"Hook": hook.URL, "Inc1": "active"}
	vars.Now = clock.Now
	vars.AuditFile = "auto" // the review page reads it back
	g := startGateway(t, vars, baseConfig+windowConfig)
	up.use(t, g, clock.Now)

	// Outside the window: denied, with the next opening, and break-glass
	// offered to the on-call engineer.
	olive := user("olive@example.com", "oncall")
	c, resp, body := signIn(t, g, m, olive, "/console")
	mustStatus(t, resp, body, http.StatusForbidden)
	for _, want := range []string{"outside-window", "Mon 7 Dec 2026 17:00 Europe/Berlin", "Break glass"} {
		if !strings.Contains(body, want) {
			t.Fatalf("window page lacks %q: %.1200s", want, body)
		}
	}
	link := offerLink.FindStringSubmatch(body)
	if link == nil {
		t.Fatalf("no break-glass offer: %.800s", body)
	}
	// A route without break-glass offers none.
	resp, body = get(t, c, g.URL+"/status")
	mustStatus(t, resp, body, http.StatusForbidden)
	if strings.Contains(body, "Break glass") {
		t.Fatal("break-glass offered on a route without it")
	}

	// A resolved incident is refused.
	resp, body = breakGlass(t, c, g, link[1], "INC-0")
	mustStatus(t, resp, body, http.StatusForbidden)
	if !strings.Contains(body, "break-glass-incident-inactive") {
		t.Fatalf("resolved incident: %.600s", body)
	}

	// The grant: in, with the claim; announced after two failed deliveries.
	resp, body = breakGlass(t, c, g, link[1], "INC-1")
	mustStatus(t, resp, body, http.StatusOK)
	claims := up.lastClaims(t)
	if bg := claims.BreakGlass; bg == nil || bg.ID != "INC-1" || bg.Reason == "" || bg.ExpiresAt == 0 {
		t.Fatalf("break_glass claim = %+v", claims.BreakGlass)
	}
	if exp := claims.Expiry.Time(); exp.After(clock.Now().Add(30 * time.Minute)) {
		t.Fatalf("token exp %v outlives the grant", exp)
	}
	eventually(t, "the webhook receives the grant", func() bool {
		hookMu.Lock()
		defer hookMu.Unlock()
		return len(hookBodies) == 1 && strings.Contains(hookBodies[0], "INC-1")
	})
	// The grant is for the console only.
	resp, body = get(t, c, g.URL+"/reports")
	mustStatus(t, resp, body, http.StatusForbidden)

	// The incident resolves: at the next recheck the grant ends.
	setInc := func(state string) {
		v := withAddrs(vars, g)
		v.Data["Inc1"] = state
		g.writeConfig(v, baseConfig+windowConfig)
		if err := g.srv.Reload(context.Background()); err != nil {
			t.Fatalf("reload: %v", err)
		}
	}
	// The request that finds it says so, and offers to ask again; the
	// next ones are the window's denial again.
	setInc("resolved")
	clock.Add(61 * time.Second)
	resp, body = get(t, c, g.URL+"/console")
	mustStatus(t, resp, body, http.StatusForbidden)
	for _, want := range []string{"break-glass-incident-inactive", "Break-glass grant ended", "INC-1", "no longer active", "Break glass"} {
		if !strings.Contains(body, want) {
			t.Fatalf("the denial after the incident resolved lacks %q: %s", want, pageSummary(body))
		}
	}
	resp, body = get(t, c, g.URL+"/console")
	mustStatus(t, resp, body, http.StatusForbidden)
	if !strings.Contains(body, "outside-window") {
		t.Fatalf("after the grant's end: %s", pageSummary(body))
	}
	setInc("active")

	// The daily limit (2) holds: this second grant is the last.
	resp, body = breakGlass(t, c, g, link[1], "INC-2")
	mustStatus(t, resp, body, http.StatusOK)
	// While it is in force, no second grant for the route is made.
	resp, body = breakGlass(t, c, g, link[1], "INC-2")
	mustStatus(t, resp, body, http.StatusConflict)
	if !strings.Contains(body, "break-glass-already-granted") {
		t.Fatalf("second grant while one is in force: %.600s", body)
	}
	// It expires: 30 minutes later the window's denial is back.
	clock.Add(30 * time.Minute)
	resp, body = get(t, c, g.URL+"/console")
	mustStatus(t, resp, body, http.StatusForbidden)
	resp, body = breakGlass(t, c, g, link[1], "INC-2")
	mustStatus(t, resp, body, http.StatusForbidden)
	if !strings.Contains(body, "break-glass-limit-reached") {
		t.Fatalf("third grant of the day: %.600s", body)
	}

	// Others: outside the groups, no offer and a refusal; off call, refused.
	sam := user("sam@example.com", "support")
	cs, resp, body := signIn(t, g, m, sam, "/console")
	mustStatus(t, resp, body, http.StatusForbidden)
	if strings.Contains(body, "Break glass") {
		t.Fatal("break-glass offered outside the policy's groups")
	}
	resp, body = get(t, cs, g.URL+htmlUnescape(link[1]))
	mustStatus(t, resp, body, http.StatusForbidden)
	otto := user("otto@example.com", "oncall")
	co, _, _ := signIn(t, g, m, otto, "/console")
	resp, body = breakGlass(t, co, g, link[1], "INC-1")
	mustStatus(t, resp, body, http.StatusForbidden)
	if !strings.Contains(body, "break-glass-not-on-call") {
		t.Fatalf("off call: %.600s", body)
	}

	// Ivy's grant is revoked by a reviewer, then the reviewer marks both
	// of Olive's grants reviewed; Ivy may not review her own.
	ivy := user("ivy@example.com", "oncall", "security")
	ci, _, _ := signIn(t, g, m, ivy, "/console")
	resp, body = breakGlass(t, ci, g, link[1], "INC-1")
	mustStatus(t, resp, body, http.StatusOK)
	lee := user("lee@example.com", "security")
	cl, _, _ := signIn(t, g, m, lee, "/")
	resp, body = get(t, cl, g.URL+"/.gateway/break-glass/review")
	mustStatus(t, resp, body, http.StatusOK)
	ids := reviewForm.FindAllStringSubmatch(body, -1)
	if len(ids) != 3 || !strings.Contains(body, "GET /console → 200") {
		t.Fatalf("review page: %d grants (want 3), usage shown? %.2000s", len(ids), body)
	}
	csrf := htmlUnescape(bgCSRF.FindStringSubmatch(body)[1])
	var ivyGrant string
	for _, id := range ids {
		if strings.Contains(body[:strings.Index(body, id[0])], "ivy@example.com") {
			ivyGrant = id[1]
		}
	}
	_ = ivyGrant
	// Revoke Ivy's active grant (the one in "active" state).
	revoke := regexp.MustCompile(`name="id" value="([^"]+)"><input type="hidden" name="action" value="revoke"`).FindStringSubmatch(body)
	if revoke == nil {
		t.Fatalf("no active grant to revoke: %.1500s", body)
	}
	resp, _ = postForm(t, cl, g, "/.gateway/break-glass/review", url.Values{"csrf": {csrf}, "id": {revoke[1]}, "action": {"revoke"}})
	mustStatus(t, resp, "", http.StatusOK)
	// Ivy's requests say who revoked it, on every request until it would
	// have expired; for API clients too.
	for range 2 {
		resp, body = get(t, ci, g.URL+"/console")
		mustStatus(t, resp, body, http.StatusForbidden)
		if !strings.Contains(body, "break-glass-grant-ended") || !strings.Contains(body, "revoked by lee@example.com") {
			t.Fatalf("the denial after the revocation: %s", pageSummary(body))
		}
	}
	resp, body = get(t, ci, g.URL+"/console", "Accept", "application/json")
	mustStatus(t, resp, body, http.StatusForbidden)
	if !strings.Contains(body, `"error":"break-glass-grant-ended"`) || !strings.Contains(body, "revoked by lee@example.com") {
		t.Fatalf("JSON denial after the revocation: %s", body)
	}
	// Self-review is refused.
	resp, body = get(t, ci, g.URL+"/.gateway/break-glass/review")
	mustStatus(t, resp, body, http.StatusOK)
	resp, body = postForm(t, ci, g, "/.gateway/break-glass/review", url.Values{"csrf": {htmlUnescape(bgCSRF.FindStringSubmatch(body)[1])}, "id": {revoke[1]}, "action": {"reviewed"}})
	if !strings.Contains(body, "Not done: a grant is reviewed by someone else than its holder.") {
		t.Fatalf("self-review accepted, or refused without saying why: %.600s", body)
	}
	// Olive's grants ended (incident resolved; expired): reviewable once
	// past MaxClockSkew after expiry, while a replica's clock may lag.
	clock.Add(breakglass.MaxClockSkew)
	for _, id := range ids {
		_, _ = postForm(t, cl, g, "/.gateway/break-glass/review", url.Values{"csrf": {csrf}, "id": {id[1]}, "action": {"reviewed"}})
	}
	resp, body = get(t, cl, g.URL+"/.gateway/break-glass/review")
	if n := len(reviewForm.FindAllStringSubmatch(body, -1)); n != 0 {
		t.Fatalf("%d grants left to review after marking all", n)
	}

	// The audit log: every grant before use, allowed requests marked.
	var granted, allowedBG, notified int
	for _, r := range g.audit() {
		switch {
		case r.Kind == "break-glass" && r.Decision == "granted":
			granted++
		case r.Kind == audit.KindDecision && r.Decision == "allow" && r.BreakGlass != nil:
			allowedBG++
			if !strings.Contains(strings.Join(r.Reasons, " "), "lifted:outside-window") || len(r.Grants) == 0 {
				t.Errorf("allowed record lacks the lifted window or the grant: %+v", r)
			}
		case r.Kind == "break-glass" && r.Event == "break-glass.notify":
			notified++
		}
	}
	if granted != 3 || allowedBG == 0 || notified < 2 {
		t.Errorf("audit: %d grants (want 3), %d break-glass allows, %d notification failures (want ≥ 2)", granted, allowedBG, notified)
	}
}

// No grant is made while the audit log cannot be written; allowed requests
// are refused meanwhile, and both recover by themselves with the sink.
func TestNoBreakGlassGrantWithoutAuditRecord(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	clock := &clockAt{t: time.Date(2026, 12, 5, 3, 0, 0, 0, berlin)}
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer hook.Close()
	m := newIdP(t)
	up := newTokenUpstream(t)
	vars := idpVars(m, up.upstream)
	vars.Data = map[string]string{"Hook": hook.URL, "Inc1": "active"}
	vars.Now = clock.Now
	fw := &failingWriter{}
	vars.AuditWriter = func(w io.Writer) io.Writer { fw.w = w; return fw }
	g := startGateway(t, vars, baseConfig+windowConfig)
	up.use(t, g, clock.Now)
	c, resp, body := signIn(t, g, m, user("olive@example.com", "oncall"), "/console")
	mustStatus(t, resp, body, http.StatusForbidden)
	link := offerLink.FindStringSubmatch(body)[1]

	fw.failing.Store(true)
	resp, body = breakGlass(t, c, g, link, "INC-1")
	mustStatus(t, resp, body, http.StatusServiceUnavailable)
	fw.failing.Store(false)
	eventually(t, "the audit log recovers", func() bool { return g.auditL.Healthy() == nil })
	resp, body = get(t, c, g.URL+"/console")
	mustStatus(t, resp, body, http.StatusForbidden)
	if up.hits.Load() != 0 {
		t.Fatal("the upstream was reached without a grant")
	}
	// With the sink back, a grant works.
	resp, body = breakGlass(t, c, g, link, "INC-1")
	mustStatus(t, resp, body, http.StatusOK)

	// An allowed request while the sink fails is refused with 503 and does
	// not reach the upstream.
	hits := up.hits.Load()
	fw.failing.Store(true)
	resp, body = get(t, c, g.URL+"/console")
	mustStatus(t, resp, body, http.StatusServiceUnavailable)
	if up.hits.Load() != hits {
		t.Fatal("an allowed request reached the upstream without its audit record")
	}
	fw.failing.Store(false)
	eventually(t, "allowed requests go through again", func() bool {
		resp, _ := get(t, c, g.URL+"/console")
		return resp.StatusCode == http.StatusOK
	})
}
