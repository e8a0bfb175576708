package justify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/justify"
	"github.com/accessgateway/gateway/internal/justify/justifytest"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/store"
)

// serviceFor builds the kind's service for section on st, with the clock
// now and the audit records collected.
func serviceFor(t *testing.T, section *justify.Config, st store.Store, now func() time.Time) (requirement.Service, *[]audit.Record) {
	t.Helper()
	var recs []audit.Record
	env := requirement.Env{Store: st, Logger: slog.New(slog.DiscardHandler), Now: now,
		Audit:  func(_ context.Context, r audit.Record) { recs = append(recs, r) },
		Commit: func(_ context.Context, r audit.Record) error { recs = append(recs, r); return nil }}
	svc, err := justify.Kind{}.NewService(section, env)
	if err != nil {
		t.Fatal(err)
	}
	return svc, &recs
}

func compileFor(t *testing.T, spec *justify.Spec, section *justify.Config, vars ...string) *justify.Requirement {
	t.Helper()
	q, probs := justify.Kind{}.Compile(spec, section, requirement.Route{Name: "records", Vars: vars})
	if len(probs) > 0 {
		t.Fatalf("Compile: %v", probs)
	}
	return q.(*justify.Requirement)
}

// bearerRequest is an API client's request naming ticket in the header.
func bearerRequest(id *policy.Identity, ticket string, vars map[string]string, now time.Time) *requirement.Request {
	req := httptest.NewRequest("GET", "/records", nil)
	req.Header.Set(justify.DefaultHeader, ticket)
	return &requirement.Request{HTTP: req, Identity: id, Vars: vars, Now: now}
}

func gather(t *testing.T, svc requirement.Service, q *justify.Requirement, r *requirement.Request) *justify.Facts {
	t.Helper()
	f, err := svc.Gather(context.Background(), q, r)
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	facts, _ := f.(*justify.Facts)
	if facts == nil {
		t.Fatalf("Gather: expected facts, got %#v", f)
	}
	return facts
}

// A GitHub assignee involves the caller only through github.users, or
// through the claim github.login_claim names; never through
// preferred_username, which people choose and which OIDC does not make
// unique, and never for a login github.users gives to someone else.
func TestGitHubLoginOnlyFromTheConfiguredClaim(t *testing.T) {
	gh := justifytest.NewGitHub(t)
	gh.SetIssue(justifytest.GitHubIssue{Repo: "corp/support", Number: 7, State: "open", Assignees: []string{"ana-gh", "cy-gh"}})
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	section := func(loginClaim string) *justify.Config {
		sc := gh.SystemConfig("corp/support")
		sc.GitHub.Users = map[string]string{"ana-gh": ana}
		sc.GitHub.LoginClaim = loginClaim
		return &justify.Config{Systems: map[string]justify.SystemConfig{"gh": sc}}
	}
	for _, c := range []struct {
		name       string
		loginClaim string
		email      string
		claims     map[string][]string
		want       policy.Reason
	}{
		{name: "preferred_username equal to a mapped login", email: "mallory@corp.example",
			claims: map[string][]string{"preferred_username": {"ana-gh"}}, want: justify.ReasonNotAssigned},
		{name: "preferred_username equal to an unmapped login", email: "cy@corp.example",
			claims: map[string][]string{"preferred_username": {"cy-gh"}}, want: justify.ReasonNotAssigned},
		{name: "github_login without login_claim", email: "cy@corp.example",
			claims: map[string][]string{"github_login": {"cy-gh"}}, want: justify.ReasonNotAssigned},
		{name: "login_claim names an unmapped assignee", loginClaim: "github_login", email: "cy@corp.example",
			claims: map[string][]string{"github_login": {"Cy-GH"}}},
		{name: "login_claim names a login mapped to someone else", loginClaim: "github_login", email: "mallory@corp.example",
			claims: map[string][]string{"github_login": {"ana-gh"}, "preferred_username": {"ana-gh"}}, want: justify.ReasonNotAssigned},
		{name: "login_claim with two values", loginClaim: "github_login", email: "cy@corp.example",
			claims: map[string][]string{"github_login": {"cy-gh", "x"}}, want: justify.ReasonNotAssigned},
		{name: "login_claim with a value that is no login", loginClaim: "github_login", email: "cy@corp.example",
			claims: map[string][]string{"github_login": {"cy-gh/"}}, want: justify.ReasonNotAssigned},
		{name: "mapped user needs no claim", email: ana},
	} {
		t.Run(c.name, func(t *testing.T) {
			svc, _ := serviceFor(t, section(c.loginClaim), store.NewMemory(), func() time.Time { return now })
			q := compileFor(t, &justify.Spec{}, section(c.loginClaim))
			id := &policy.Identity{Subject: c.email, Email: c.email, Claims: c.claims}
			f := gather(t, svc, q, bearerRequest(id, "gh:corp/support#7", nil, now))
			if f.Problem != c.want || (c.want == "") != (f.Grant != nil) {
				t.Fatalf("expected %q, got %+v", c.want, f)
			}
		})
	}
}

// A reload that takes a system off a route ends that system's grants on
// the route at once: the next request denies (the grant is deleted and the
// end audited; the old system is not asked), and the pure check refuses
// such a grant too.
func TestGrantEndsWhenTheRouteNoLongerAcceptsItsSystem(t *testing.T) {
	section := &justify.Config{Systems: map[string]justify.SystemConfig{
		"jira": {Type: justify.TypeStatic, Static: &justify.StaticConfig{Tickets: []justify.StaticTicket{{ID: "OPS-1", State: "open", Assignees: []string{"x@corp.example"}}}}},
		"gh": {Type: justify.TypeStatic, Static: &justify.StaticConfig{Tickets: []justify.StaticTicket{
			{ID: "SUP-1", State: "open", Assignees: []string{ana}}}}},
	}}
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	st := store.NewMemory()
	g := justify.Grant{System: "gh", ID: "SUP-1", User: ana, Route: "records",
		GrantedAt: clock, VerifiedAt: clock, ExpiresAt: clock.Add(8 * time.Hour)}
	b, _ := json.Marshal(g)
	key := justify.SessionGrantKey("sess-1", "records", "")
	if err := st.Set(context.Background(), key, b, 8*time.Hour); err != nil {
		t.Fatal(err)
	}
	// The reload: the route now accepts jira only.
	clock = clock.Add(time.Minute)
	svc, recs := serviceFor(t, section, st, func() time.Time { return clock })
	q := compileFor(t, &justify.Spec{Systems: []string{"jira"}}, section)
	clock = clock.Add(time.Minute)
	id := &policy.Identity{Subject: "a", Email: ana, NotAfter: clock.Add(8 * time.Hour)}
	r := &requirement.Request{HTTP: httptest.NewRequest("GET", "/records", nil), Identity: id, SessionID: "sess-1", Now: clock}
	f := gather(t, svc, q, r)
	if f.Problem != justify.ReasonRequired || !strings.Contains(f.Detail, "no longer accepts gh tickets (it accepts jira)") {
		t.Fatalf("expected %s with the route's systems, got %+v", justify.ReasonRequired, f)
	}
	wantGrantEnded(t, st, key, *recs)

	// The pure check, for a grant gathered before the reload took effect.
	route, err := policy.Compile("records", false, policy.Rules{Allow: []policy.Condition{{Everyone: true}}}, []policy.Requirement{q})
	if err != nil {
		t.Fatal(err)
	}
	in := policy.Input{Route: route, Identity: id, Request: policy.Request{Method: "GET", Path: "/records"}, Facts: []any{&justify.Facts{Grant: &g}}}
	if d := policy.Decide(&in, clock); d.Allow || d.Reasons[0] != justify.ReasonRequired {
		t.Fatalf("a gh grant on a route that accepts %v: expected %s, got %+v", q.Systems, justify.ReasonRequired, d)
	}
}

// Customer IDs may be case-sensitive (cus_Ab12 and cus_aB12 are two Stripe
// customers): a ticket about one does not justify the other, unless the
// route says its resources ignore case (bind_case: insensitive).
func TestResourceBindingIsCaseSensitiveUnlessTheRouteOptsOut(t *testing.T) {
	section := &justify.Config{Systems: map[string]justify.SystemConfig{
		"tickets": {Type: justify.TypeStatic, Static: &justify.StaticConfig{Tickets: []justify.StaticTicket{
			{ID: "SUP-1", State: "open", Assignees: []string{ana}, Customers: []string{"cus_Ab12"}}}}},
	}}
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		bindCase, customer string
		want               policy.Reason
	}{
		{"", "cus_Ab12", ""},
		{"", "cus_aB12", justify.ReasonResourceMismatch},
		{"", "CUS_AB12", justify.ReasonResourceMismatch},
		{"", " cus_Ab12", justify.ReasonResourceMismatch},
		{justify.BindCaseSensitive, "cus_aB12", justify.ReasonResourceMismatch},
		{justify.BindCaseInsensitive, "cus_aB12", ""},
		{justify.BindCaseInsensitive, "cus_Ab13", justify.ReasonResourceMismatch},
	} {
		t.Run(c.bindCase+" "+c.customer, func(t *testing.T) {
			svc, _ := serviceFor(t, section, store.NewMemory(), func() time.Time { return now })
			q := compileFor(t, &justify.Spec{Bind: map[string]string{"customer": "{customer_id}"}, BindCase: c.bindCase}, section, "customer_id")
			vars := map[string]string{"customer_id": c.customer}
			f := gather(t, svc, q, bearerRequest(&policy.Identity{Subject: "a", Email: ana}, "tickets:SUP-1", vars, now))
			if f.Problem != c.want || (c.want == "") != (f.Grant != nil) {
				t.Fatalf("expected %q, got %+v", c.want, f)
			}
			if f.Grant == nil {
				return
			}
			// The grant holds for the spelling it was made for, and for
			// another only when the route folds case.
			route, _ := policy.Compile("records", false, policy.Rules{Allow: []policy.Condition{{Everyone: true}}}, []policy.Requirement{q})
			in := policy.Input{Route: route, Identity: &policy.Identity{Email: ana, NotAfter: now.Add(time.Hour)},
				Request: policy.Request{Method: "GET", Path: "/records", Vars: map[string]string{"customer_id": "cus_AB12"}}, Facts: []any{f}}
			if d := policy.Decide(&in, now); d.Allow != q.FoldCase {
				t.Fatalf("grant for %q used for cus_AB12 with bind_case %q: %+v", c.customer, c.bindCase, d)
			}
		})
	}
}

// A bind template with several variables gives every tuple of values its
// own resource: a value holding the template's separator is
// percent-encoded, so "{org}-{id}" binds (a, b-c) and (a-b, c) apart, and
// one ticket does not cover both.
func TestBindTemplateKeepsVariablesApart(t *testing.T) {
	q := compileFor(t, &justify.Spec{Bind: map[string]string{"customer": "{org}-{id}"}}, staticSection, "org", "id")
	for _, c := range []struct {
		org, id, want string
	}{
		{"a", "b", "a-b"},
		{"a", "b-c", "a-b%2Dc"},
		{"a-b", "c", "a%2Db-c"},
		{"a%2Db", "c", "a%252Db-c"},
		{"acme", "cus_Ab12", "acme-cus_Ab12"},
	} {
		if got := q.Resource(map[string]string{"org": c.org, "id": c.id}); got != c.want {
			t.Errorf("Resource(org=%q, id=%q): expected %q, got %q", c.org, c.id, c.want, got)
		}
	}
	// A single variable is used as it is: the text around it is fixed.
	one := compileFor(t, &justify.Spec{Bind: map[string]string{"customer": "acme-{id}"}}, staticSection, "id")
	if got := one.Resource(map[string]string{"id": "b-c%"}); got != "acme-b-c%" {
		t.Errorf("single variable: expected acme-b-c%%, got %q", got)
	}
	// Through the check: a ticket naming "a-b-c" justifies neither split.
	section := &justify.Config{Systems: map[string]justify.SystemConfig{
		"tickets": {Type: justify.TypeStatic, Static: &justify.StaticConfig{Tickets: []justify.StaticTicket{
			{ID: "SUP-1", State: "open", Assignees: []string{ana}, Customers: []string{"a-b-c", "a-b%2Dc"}}}}},
	}}
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	q = compileFor(t, &justify.Spec{Bind: map[string]string{"customer": "{org}-{id}"}}, section, "org", "id")
	for _, c := range []struct {
		org, id string
		want    policy.Reason
	}{
		{"a", "b-c", ""},
		{"a-b", "c", justify.ReasonResourceMismatch},
	} {
		svc, _ := serviceFor(t, section, store.NewMemory(), func() time.Time { return now })
		f := gather(t, svc, q, bearerRequest(&policy.Identity{Subject: "a", Email: ana}, "tickets:SUP-1", map[string]string{"org": c.org, "id": c.id}, now))
		if f.Problem != c.want {
			t.Errorf("org=%q id=%q: expected %q, got %+v", c.org, c.id, c.want, f)
		}
	}
}

// When a cached answer stands in for an unavailable system
// (on_unavailable: allow-cached), the grant, the token and the audit
// record keep the time the system last answered, and the record says a
// stale answer was used; re-verification is still spaced by reverify.
func TestStaleAnswerKeepsTheTimeOfTheRealVerification(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	jira := justifytest.NewJira(t)
	jira.SetIssue(inProgress("SUP-1"))
	sc := jira.SystemConfig(justify.JiraCloudV3)
	sc.OnUnavailable = justify.OnUnavailableAllowCached
	sc.Cache = justify.CacheConfig{TTL: time.Minute, MaxStale: 15 * time.Minute}
	section := &justify.Config{Systems: map[string]justify.SystemConfig{"jira": sc}}
	svc, recs := serviceFor(t, section, store.NewMemory(), clk.Now)
	q := compileFor(t, &justify.Spec{Reverify: 5 * time.Minute}, section)
	id := &policy.Identity{Subject: "a", Email: ana}

	f := gather(t, svc, q, bearerRequest(id, "jira:SUP-1", nil, clk.Now()))
	if f.Grant == nil || !f.Grant.VerifiedAt.Equal(t0) {
		t.Fatalf("expected a grant verified at %v, got %+v", t0, f)
	}
	clk.Advance(6 * time.Minute)
	jira.SetFault(&justifytest.Fault{Status: 503})
	asked := jira.Requests()
	f = gather(t, svc, q, bearerRequest(id, "jira:SUP-1", nil, clk.Now()))
	if f.Problem != "" || f.Grant == nil {
		t.Fatalf("expected the stale answer to stand in, got %+v", f)
	}
	if !f.Grant.VerifiedAt.Equal(t0) || !f.Grant.CheckedAt.Equal(clk.Now()) {
		t.Fatalf("expected verified_at %v (the system's answer) and checked_at %v, got %v and %v",
			t0, clk.Now(), f.Grant.VerifiedAt, f.Grant.CheckedAt)
	}
	var claims contexttoken.Claims
	svc.(requirement.Claimer).Claim(f, &claims)
	if claims.Justification == nil || !claims.Justification.VerifiedAt.Time().Equal(t0) {
		t.Fatalf("expected the token's verified_at %v, got %+v", t0, claims.Justification)
	}
	var rec audit.Record
	svc.(requirement.Auditor).Audit(f, &rec)
	if rec.Justification == nil || !rec.Justification.VerifiedAt.Equal(t0) {
		t.Fatalf("expected the decision record's verified_at %v, got %+v", t0, rec.Justification)
	}
	last := (*recs)[len(*recs)-1]
	if last.Event != "justification.reverify" || last.Decision != "stale" || !last.Justification.VerifiedAt.Equal(t0) ||
		!strings.Contains(last.Detail, "its answer of "+t0.Format(time.RFC3339)+" stood in") {
		t.Fatalf("expected a stale justification.reverify record, got %+v", last)
	}
	// The next re-verification is due reverify after this check, not at
	// once (the verification time is older than that).
	clk.Advance(time.Minute)
	n := len(*recs)
	if f = gather(t, svc, q, bearerRequest(id, "jira:SUP-1", nil, clk.Now())); f.Grant == nil || len(*recs) != n || jira.Requests() != asked+1 {
		t.Fatalf("expected the grant without asking again, got %+v, %d records, %d requests", f, len(*recs)-n, jira.Requests()-asked)
	}
}

// A reload that narrows a system's id_pattern ends the grants of tickets
// the system no longer accepts, as a ticket typed now would be refused
// (justification-required, audited as justification.ended), instead of
// denying them as if the system were unreachable on every request while
// the grant stays.
func TestGrantEndsWhenItsIDNoLongerMatchesIDPattern(t *testing.T) {
	jira := justifytest.NewJira(t)
	jira.SetIssue(inProgress("SUP-1"))
	sc := jira.SystemConfig(justify.JiraCloudV3)
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	st := store.NewMemory()
	g := justify.Grant{System: "jira", ID: "SUP-1", User: ana, Route: "records",
		GrantedAt: clock, VerifiedAt: clock, CheckedAt: clock, ExpiresAt: clock.Add(8 * time.Hour)}
	b, _ := json.Marshal(g)
	key := justify.SessionGrantKey("sess-1", "records", "")
	if err := st.Set(context.Background(), key, b, 8*time.Hour); err != nil {
		t.Fatal(err)
	}
	// The reload: only OPS tickets from now on.
	clock = clock.Add(time.Minute)
	sc.IDPattern = "OPS-[0-9]+"
	section := &justify.Config{Systems: map[string]justify.SystemConfig{"jira": sc}}
	svc, recs := serviceFor(t, section, st, func() time.Time { return clock })
	q := compileFor(t, &justify.Spec{}, section)
	clock = clock.Add(time.Minute)
	id := &policy.Identity{Subject: "a", Email: ana, NotAfter: clock.Add(8 * time.Hour)}
	r := &requirement.Request{HTTP: httptest.NewRequest("GET", "/records", nil), Identity: id, SessionID: "sess-1", Now: clock}
	f := gather(t, svc, q, r)
	if f.Problem != justify.ReasonRequired || !strings.Contains(f.Detail, "not accepted by jira") {
		t.Fatalf("expected %s saying jira no longer accepts the ID, got %+v", justify.ReasonRequired, f)
	}
	wantGrantEnded(t, st, key, *recs)
	if jira.Requests() != 0 {
		t.Fatalf("expected jira not asked about a ticket it no longer accepts, got %d requests", jira.Requests())
	}
}

// A decision record names the grant it looked at with what became of it:
// "verified" when the check took it, the check's reason when it did not
// (the grant names another customer or user, or has expired) — not
// "verified" beside a denial.
func TestDecisionRecordSaysWhetherTheGrantApplied(t *testing.T) {
	clk := newClock()
	section := &justify.Config{Systems: map[string]justify.SystemConfig{"st": {Type: "static",
		Static: &justify.StaticConfig{Tickets: []justify.StaticTicket{{ID: "SUP-1", State: "open", Assignees: []string{ana}}}}}}}
	svc, _ := serviceFor(t, section, store.NewMemory(), clk.Now)
	f := &justify.Facts{Grant: &justify.Grant{System: "st", ID: "SUP-1", User: ana, Route: "records", Resource: "42", VerifiedAt: clk.Now()}}
	for _, tc := range []struct {
		reasons []string
		want    string
	}{
		{[]string{"allow-rule-matched"}, "verified"},
		{[]string{"ticket-resource-mismatch"}, "ticket-resource-mismatch"},
		{[]string{"ticket-not-assigned"}, "ticket-not-assigned"},
		{[]string{"deny-rule-matched"}, "verified"}, // the grant held; a rule denied
	} {
		rec := audit.Record{Reasons: tc.reasons}
		svc.(requirement.Auditor).Audit(f, &rec)
		if rec.Justification == nil || rec.Justification.Outcome != tc.want || rec.Justification.ID != "SUP-1" {
			t.Errorf("reasons %v: justification %+v, want outcome %q", tc.reasons, rec.Justification, tc.want)
		}
	}
}

// A configuration that is replaced closes its connections to the ticket
// systems (the next one has its own), instead of leaving them open until
// the systems time them out — one set more at every reload.
func TestCloseEndsTheConnectionsToTheSystems(t *testing.T) {
	clk := newClock()
	jira := justifytest.NewJira(t)
	jira.SetIssue(inProgress("SUP-1"))
	section := &justify.Config{Systems: map[string]justify.SystemConfig{"jira": jira.SystemConfig(justify.JiraCloudV3)}}
	svc, _ := serviceFor(t, section, store.NewMemory(), clk.Now)
	q := compileFor(t, &justify.Spec{}, section)
	if f := gather(t, svc, q, bearerRequest(&policy.Identity{Subject: "a", Email: ana}, "jira:SUP-1", nil, clk.Now())); f.Grant == nil {
		t.Fatalf("expected a grant, got %+v", f)
	}
	if n := jira.OpenConns(); n == 0 {
		t.Fatal("no connection to the system was kept open; the test checks nothing")
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for jira.OpenConns() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections to the system still open after Close", jira.OpenConns())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// One user naming ticket after ticket (a script on the form, an API client
// with a new ID per request) gets lookups up to the per-user bound, then a
// rate-limited denial without the system being asked, and audited; another
// user is not held up; a minute later the user may look up again.
func TestTicketLookupsAreBoundedPerUser(t *testing.T) {
	clk := newClock()
	jira := justifytest.NewJira(t)
	section := &justify.Config{Systems: map[string]justify.SystemConfig{"jira": jira.SystemConfig(justify.JiraCloudV3)}}
	svc, recs := serviceFor(t, section, store.NewMemory(), clk.Now)
	q := compileFor(t, &justify.Spec{}, section)
	ann := &policy.Identity{Subject: "a", Email: ana}
	var limited *justify.Facts
	asked := 0
	for i := range 40 {
		f := gather(t, svc, q, bearerRequest(ann, fmt.Sprintf("jira:SUP-%d", 100+i), nil, clk.Now()))
		if f.Problem == justify.ReasonRateLimited {
			limited = f
			break
		}
		asked = jira.Requests()
	}
	if limited == nil || asked == 0 || asked > 12 {
		t.Fatalf("expected a rate-limited denial after about 10 lookups, got %+v after %d requests to the system", limited, asked)
	}
	if jira.Requests() != asked {
		t.Fatal("the system was asked for a rate-limited ticket")
	}
	last := (*recs)[len(*recs)-1]
	if last.Event != "justification.verify" || len(last.Reasons) != 1 || last.Reasons[0] != string(justify.ReasonRateLimited) {
		t.Fatalf("expected a rate-limited justification.verify record, got %+v", last)
	}
	bob := &policy.Identity{Subject: "b", Email: "bob@corp.example"}
	if f := gather(t, svc, q, bearerRequest(bob, "jira:SUP-999", nil, clk.Now())); f.Problem == justify.ReasonRateLimited {
		t.Fatal("another user was held up")
	}
	clk.Advance(time.Minute)
	if f := gather(t, svc, q, bearerRequest(ann, "jira:SUP-998", nil, clk.Now())); f.Problem == justify.ReasonRateLimited {
		t.Fatal("still limited a minute later")
	}
}

// Opsgenie reuses tiny IDs: a grant made by one (1791) is re-verified by
// the alert's full ID, so once that alert closes the grant ends — also
// when a newer open alert involving the user has taken the tiny ID over.
func TestGrantByTinyIDFollowsItsOwnAlert(t *testing.T) {
	clk := newClock()
	og := justifytest.NewOpsgenie(t)
	og.AddUser(ogUserAna, ana)
	const first, second = "1b7e3f1c-1111-4111-8111-111111111111", "2c8f4a2d-2222-4222-8222-222222222222"
	og.SetAlert(justifytest.OpsgenieAlert{ID: first, TinyID: "1791", Status: "open", Owner: ana})
	section := &justify.Config{Systems: map[string]justify.SystemConfig{"og": og.SystemConfig()}}
	svc, _ := serviceFor(t, section, store.NewMemory(), clk.Now)
	q := compileFor(t, &justify.Spec{Reverify: time.Minute}, section)
	id := &policy.Identity{Subject: "a", Email: ana}
	if f := gather(t, svc, q, bearerRequest(id, "og:1791", nil, clk.Now())); f.Grant == nil {
		t.Fatalf("expected a grant by the tiny ID, got %+v", f)
	}
	// The alert closes; a new one, also Ana's, gets the tiny ID.
	og.SetAlert(justifytest.OpsgenieAlert{ID: first, TinyID: "", Status: "closed", Owner: ana})
	og.SetAlert(justifytest.OpsgenieAlert{ID: second, TinyID: "1791", Status: "open", Owner: ana})
	clk.Advance(2 * time.Minute)
	if f := gather(t, svc, q, bearerRequest(id, "og:1791", nil, clk.Now())); f.Problem != justify.ReasonClosed {
		t.Fatalf("after its alert closed: %+v, want %s", f, justify.ReasonClosed)
	}
}

// wantGrantEnded: the grant under key is gone from st, and recs are one
// justification.ended record with reason justification-required.
func wantGrantEnded(t *testing.T, st store.Store, key string, recs []audit.Record) {
	t.Helper()
	if _, err := st.Get(context.Background(), key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expected the grant deleted, got %v", err)
	}
	if len(recs) != 1 || recs[0].Event != "justification.ended" || recs[0].Reasons[0] != string(justify.ReasonRequired) {
		t.Fatalf("expected one justification.ended record, got %+v", recs)
	}
}
