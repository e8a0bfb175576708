package justify_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/justify"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/store"
)

func init() { policy.RegisterReasons("justification", justify.Reasons...) }

var staticSection = &justify.Config{Systems: map[string]justify.SystemConfig{
	"tickets": {Type: justify.TypeStatic, Static: &justify.StaticConfig{Tickets: []justify.StaticTicket{
		{ID: "SUP-1", State: "open", Assignees: []string{"ana@corp.example"}, Customers: []string{"42"}},
	}}},
}}

func compileReq(t testing.TB, spec *justify.Spec) *justify.Requirement {
	t.Helper()
	q, probs := justify.Kind{}.Compile(spec, staticSection, requirement.Route{Name: "records", Vars: []string{"customer_id"}})
	if len(probs) > 0 {
		t.Fatalf("Compile: %v", probs)
	}
	return q.(*justify.Requirement)
}

func TestKindCompileProblems(t *testing.T) {
	tests := []struct {
		name string
		spec justify.Spec
		sec  *justify.Config
		want []string
	}{
		{"no section", justify.Spec{}, nil, []string{": requires the justification section with at least one system (justification.systems)"}},
		{"unknown system", justify.Spec{Systems: []string{"jira"}}, staticSection, []string{`.systems[0]: unknown system "jira" (configured: tickets)`}},
		{"bind to an unknown variable", justify.Spec{Bind: map[string]string{"customer": "{id}"}}, staticSection,
			[]string{`.bind.customer: unknown path variable "id" in "{id}" (the route's path has customer_id)`}},
		{"bind without a variable", justify.Spec{Bind: map[string]string{"customer": "acme"}}, staticSection,
			[]string{`.bind.customer: expected a path variable such as "{customer_id}", got "acme"`}},
		{"two resources", justify.Spec{Bind: map[string]string{"a": "{customer_id}", "b": "{customer_id}"}}, staticSection,
			[]string{`.bind: expected one resource (such as customer: "{customer_id}"), got 2`}},
		{"bind_case unknown", justify.Spec{Bind: map[string]string{"customer": "{customer_id}"}, BindCase: "ignore"}, staticSection,
			[]string{`.bind_case: expected sensitive or insensitive, got "ignore"`}},
		{"bind_case without bind", justify.Spec{BindCase: justify.BindCaseInsensitive}, staticSection,
			[]string{".bind_case: set without bind: there is no resource to compare"}},
		{"two variables without text between", justify.Spec{Bind: map[string]string{"customer": "{customer_id}{customer_id}"}}, staticSection,
			[]string{`.bind.customer: expected text between {customer_id} and {customer_id} in "{customer_id}{customer_id}" (such as "{customer_id}/{customer_id}"): without it, values could be split in more than one way`}},
		{"percent in a template of two variables", justify.Spec{Bind: map[string]string{"customer": "{customer_id}%{customer_id}"}}, staticSection,
			[]string{`.bind.customer: expected no '%' in the text of a template with several variables (values are percent-encoded), got "{customer_id}%{customer_id}"`}},
		{"reverify too short, max_age too long", justify.Spec{Reverify: time.Second, MaxAge: 30 * 24 * time.Hour}, staticSection,
			[]string{".reverify: expected between 10s and 24h, got 1s", ".max_age: expected between 1m and 168h, got 720h0m0s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sec any
			if tc.sec != nil {
				sec = tc.sec
			}
			_, probs := justify.Kind{}.Compile(&tc.spec, sec, requirement.Route{Name: "r", Vars: []string{"customer_id"}})
			var got []string
			for _, p := range probs {
				got = append(got, p.Path+": "+p.Msg)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("problems\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// The pure check, through the whole decision, at exact instants.
func TestKindCheck(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	q := compileReq(t, &justify.Spec{Bind: map[string]string{"customer": "{customer_id}"}})
	route, err := policy.Compile("records", false, policy.Rules{Allow: []policy.Condition{{Everyone: true}}}, []policy.Requirement{q})
	if err != nil {
		t.Fatal(err)
	}
	ana := &policy.Identity{Email: "ana@corp.example", NotAfter: t0.Add(8 * time.Hour)}
	grant := func(mut func(*justify.Grant)) *justify.Facts {
		g := &justify.Grant{System: "tickets", ID: "SUP-1", User: "ana@corp.example", Route: "records", Resource: "42",
			GrantedAt: t0, VerifiedAt: t0, ExpiresAt: t0.Add(2 * time.Hour)}
		if mut != nil {
			mut(g)
		}
		return &justify.Facts{Grant: g}
	}
	allow := func(until time.Time) policy.Decision {
		return policy.Decision{Allow: true, Reasons: []policy.Reason{policy.ReasonAllowRule}, NotAfter: until, Grants: []string{"justification"}}
	}
	deny := func(r policy.Reason) policy.Decision { return policy.Decision{Reasons: []policy.Reason{r}} }
	tests := []struct {
		name  string
		facts any
		vars  map[string]string
		id    *policy.Identity
		now   time.Time
		want  policy.Decision
	}{
		{name: "no grant", want: deny(justify.ReasonRequired)},
		{name: "a grant for this customer", facts: grant(nil), want: allow(t0.Add(2 * time.Hour))},
		{name: "the session ends first", facts: grant(nil), id: &policy.Identity{Email: "ana@corp.example", NotAfter: t0.Add(time.Hour)}, want: allow(t0.Add(time.Hour))},
		{name: "one nanosecond before expiry", facts: grant(nil), now: t0.Add(2*time.Hour - 1), want: allow(t0.Add(2 * time.Hour))},
		{name: "at expiry", facts: grant(nil), now: t0.Add(2 * time.Hour), want: deny(justify.ReasonRequired)},
		{name: "another customer", facts: grant(nil), vars: map[string]string{"customer_id": "43"}, want: deny(justify.ReasonResourceMismatch)},
		{name: "another route's grant", facts: grant(func(g *justify.Grant) { g.Route = "other" }), want: deny(justify.ReasonRequired)},
		{name: "another user's grant", facts: grant(func(g *justify.Grant) { g.User = "bob@corp.example" }), want: deny(justify.ReasonNotAssigned)},
		// Not even an identity: a domain must be ASCII (policy.ParseEmail).
		{name: "Kelvin sign is not K", facts: grant(func(g *justify.Grant) { g.User = "ana@corp.example" }),
			id: &policy.Identity{Email: "ana@corp.examp\u212Ae", NotAfter: t0.Add(8 * time.Hour)}, want: deny(policy.ReasonInvalidIdentity)},
		{name: "the last re-verification found it closed", facts: &justify.Facts{Problem: justify.ReasonClosed}, want: deny(justify.ReasonClosed)},
		{name: "the system is unreachable", facts: &justify.Facts{Grant: grant(nil).Grant, Problem: justify.ReasonUnavailable}, want: deny(justify.ReasonUnavailable)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vars := tc.vars
			if vars == nil {
				vars = map[string]string{"customer_id": "42"}
			}
			id := tc.id
			if id == nil {
				id = ana
			}
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			in := policy.Input{Route: route, Identity: id, Request: policy.Request{Method: "GET", Path: "/records/" + vars["customer_id"], Vars: vars}}
			if tc.facts != nil {
				in.Facts = []any{tc.facts}
			}
			if got := policy.Decide(&in, now); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Decide() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// kindEnv builds the kind's service on a memory store.
func kindEnv(tb testing.TB, now func() time.Time) (requirement.Service, store.Store, *[]audit.Record) {
	tb.Helper()
	st := store.NewMemory()
	var recs []audit.Record
	env := requirement.Env{Store: st, Logger: slog.New(slog.DiscardHandler), Now: now,
		Audit:  func(_ context.Context, r audit.Record) { recs = append(recs, r) },
		Commit: func(_ context.Context, r audit.Record) error { recs = append(recs, r); return nil }}
	svc, err := justify.Kind{}.NewService(staticSection, env)
	if err != nil {
		tb.Fatal(err)
	}
	return svc, st, &recs
}

// An API client's header makes a grant (audited), reused on later requests
// without asking again until it is due.
func TestGatherBearerHeader(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	svc, _, recs := kindEnv(t, func() time.Time { return now })
	q := compileReq(t, &justify.Spec{Bind: map[string]string{"customer": "{customer_id}"}})
	req := httptest.NewRequest("GET", "/records/42", nil)
	req.Header.Set(justify.DefaultHeader, "tickets:sup-1")
	r := &requirement.Request{HTTP: req, Identity: &policy.Identity{Subject: "s", Email: "ana@corp.example"},
		Vars: map[string]string{"customer_id": "42"}, Now: now}
	f, err := svc.Gather(context.Background(), q, r)
	if err != nil {
		t.Fatal(err)
	}
	facts := f.(*justify.Facts)
	if facts.Grant == nil || facts.Grant.ID != "SUP-1" || facts.Grant.Resource != "42" {
		t.Fatalf("facts = %+v", facts)
	}
	if len(*recs) != 1 || (*recs)[0].Event != "justification.grant" {
		t.Fatalf("audit = %+v", *recs)
	}
	r.Vars = map[string]string{"customer_id": "43"}
	f, _ = svc.Gather(context.Background(), q, r)
	if p := f.(*justify.Facts).Problem; p != justify.ReasonResourceMismatch {
		t.Fatalf("customer 43 with a ticket about 42: %q", p)
	}
	req.Header.Set(justify.DefaultHeader, "not a ticket")
	f, _ = svc.Gather(context.Background(), q, r)
	if ff := f.(*justify.Facts); ff.Problem != justify.ReasonRequired || !strings.Contains(ff.Detail, "ticket") {
		t.Fatalf("garbage header: %+v", ff)
	}
}

// BenchmarkDecideWithGrant is the decision of a route that requires a
// justification, with the grant gathered; BenchmarkDecideWithoutRequirement
// the same route without it: the difference is what the check adds.
func BenchmarkDecideWithGrant(b *testing.B) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	q := compileReq(b, &justify.Spec{Bind: map[string]string{"customer": "{customer_id}"}})
	route, _ := policy.Compile("records", false, policy.Rules{Allow: []policy.Condition{{Groups: []string{"support"}}}}, []policy.Requirement{q})
	in := policy.Input{Route: route, Identity: &policy.Identity{Email: "ana@corp.example", Groups: []string{"support"}, NotAfter: t0.Add(8 * time.Hour)},
		Request: policy.Request{Method: "GET", Path: "/records/42", Vars: map[string]string{"customer_id": "42"}},
		Facts: []any{&justify.Facts{Grant: &justify.Grant{System: "tickets", ID: "SUP-1", User: "ana@corp.example", Route: "records",
			Resource: "42", VerifiedAt: t0, ExpiresAt: t0.Add(2 * time.Hour)}}}}
	if d := policy.Decide(&in, t0); !d.Allow {
		b.Fatal(d)
	}
	b.ReportAllocs()
	for b.Loop() {
		policy.Decide(&in, t0)
	}
}

func BenchmarkDecideWithoutRequirement(b *testing.B) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	route, _ := policy.Compile("records", false, policy.Rules{Allow: []policy.Condition{{Groups: []string{"support"}}}}, nil)
	in := policy.Input{Route: route, Identity: &policy.Identity{Email: "ana@corp.example", Groups: []string{"support"}, NotAfter: t0.Add(8 * time.Hour)},
		Request: policy.Request{Method: "GET", Path: "/records/42", Vars: map[string]string{"customer_id": "42"}}}
	b.ReportAllocs()
	for b.Loop() {
		policy.Decide(&in, t0)
	}
}

// BenchmarkGatherSteadyGrant is the steady path of gathering: the grant of a
// browser session, not due for re-verification, read from the store (memory
// here: no I/O; with Redis it is one GET). The ticket system is not asked.
func BenchmarkGatherSteadyGrant(b *testing.B) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clock := now.Add(-time.Second)
	svc, _, _ := kindEnv(b, func() time.Time { return clock })
	q := compileReq(b, &justify.Spec{Bind: map[string]string{"customer": "{customer_id}"}})
	// Make the grant through the API path, then read it as a session would.
	req := httptest.NewRequest("GET", "/records/42", nil)
	req.Header.Set(justify.DefaultHeader, "tickets:SUP-1")
	r := &requirement.Request{HTTP: req, Identity: &policy.Identity{Subject: "s", Email: "ana@corp.example"},
		Vars: map[string]string{"customer_id": "42"}, Now: now}
	if f, err := svc.Gather(context.Background(), q, r); err != nil || f.(*justify.Facts).Grant == nil {
		b.Fatalf("grant: %v %+v", err, f)
	}
	b.ReportAllocs()
	for b.Loop() {
		f, err := svc.Gather(context.Background(), q, r)
		if err != nil || f.(*justify.Facts).Grant == nil {
			b.Fatal(err)
		}
	}
}
