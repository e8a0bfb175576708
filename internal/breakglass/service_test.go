package breakglass

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

func TestRequest(t *testing.T) {
	type testCase struct {
		name   string
		user   User
		req    GrantRequest
		want   policy.Reason
		detail string // a substring of the refusal's message
	}
	ok := request("billing", "INC-1")
	with := func(f func(r *GrantRequest)) GrantRequest {
		r := ok
		f(&r)
		return r
	}
	cases := []testCase{
		{name: "on call with an active incident", user: alice, req: ok},
		{name: "explicit policy and shorter duration", user: alice, req: with(func(r *GrantRequest) { r.Policy = "oncall"; r.Duration = 15 * time.Minute })},
		{name: "incident ID with surrounding spaces", user: alice, req: with(func(r *GrantRequest) { r.IncidentID = "  INC-1 " })},
		{name: "off call", user: bob, req: ok, want: ReasonNotOnCall, detail: "bob@corp.example is not on call"},
		{name: "incident resolved", user: alice, req: request("billing", "INC-2"), want: ReasonIncidentInactive, detail: "resolved"},
		{name: "incident unknown", user: alice, req: request("billing", "INC-9"), want: ReasonIncidentNotFound},
		{name: "outside the groups", user: carol, req: ok, want: ReasonNotAllowed, detail: `"sre"`},
		{name: "no groups", user: User{Email: "alice@corp.example", Session: "s"}, req: ok, want: ReasonNotAllowed},
		{name: "unknown policy", user: alice, req: with(func(r *GrantRequest) { r.Policy = "nope" }), want: ReasonInvalidRequest, detail: "policy:"},
		{name: "no session", user: User{Email: "alice@corp.example", Groups: []string{"sre"}}, req: ok, want: ReasonInvalidRequest, detail: "session:"},
		{name: "malformed email", user: User{Email: "a@evil.example@corp.example", Groups: []string{"sre"}, Session: "s"}, req: ok, want: ReasonInvalidRequest, detail: "email:"},
		{name: "empty route", user: alice, req: with(func(r *GrantRequest) { r.Route = "" }), want: ReasonInvalidRequest, detail: "route:"},
		{name: "route with a newline", user: alice, req: with(func(r *GrantRequest) { r.Route = "a\nb" }), want: ReasonInvalidRequest, detail: "route:"},
		{name: "empty incident", user: alice, req: with(func(r *GrantRequest) { r.IncidentID = " " }), want: ReasonInvalidRequest, detail: "incident:"},
		{name: "incident with a slash", user: alice, req: with(func(r *GrantRequest) { r.IncidentID = "../users" }), want: ReasonInvalidRequest, detail: "incident:"},
		{name: "incident too long", user: alice, req: with(func(r *GrantRequest) { r.IncidentID = strings.Repeat("A", 129) }), want: ReasonInvalidRequest, detail: "incident:"},
		{name: "empty reason", user: alice, req: with(func(r *GrantRequest) { r.Reason = "   " }), want: ReasonInvalidRequest, detail: "reason: expected 1 to 500 characters, got 0"},
		{name: "reason too long", user: alice, req: with(func(r *GrantRequest) { r.Reason = strings.Repeat("é", 501) }), want: ReasonInvalidRequest, detail: "got 501"},
		{name: "reason with a newline", user: alice, req: with(func(r *GrantRequest) { r.Reason = "a\nb" }), want: ReasonInvalidRequest, detail: "U+000A"},
		{name: "reason with a bidi override", user: alice, req: with(func(r *GrantRequest) { r.Reason = "fix \u202Eevil" }), want: ReasonInvalidRequest, detail: "U+202E"},
		{name: "reason not UTF-8", user: alice, req: with(func(r *GrantRequest) { r.Reason = "\xff" }), want: ReasonInvalidRequest, detail: "UTF-8"},
		{name: "duration over the maximum", user: alice, req: with(func(r *GrantRequest) { r.Duration = 2 * time.Hour }), want: ReasonInvalidRequest, detail: "duration: expected 1m to 1h0m0s, got 2h0m0s"},
		{name: "duration under a minute", user: alice, req: with(func(r *GrantRequest) { r.Duration = time.Second }), want: ReasonInvalidRequest, detail: "duration:"},
		{name: "negative duration", user: alice, req: with(func(r *GrantRequest) { r.Duration = -time.Minute }), want: ReasonInvalidRequest, detail: "duration:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testConfig(), Options{})
			g, err := f.svc.Request(context.Background(), tc.user, tc.req)
			wantReason(t, err, tc.want)
			if tc.want != "" {
				if !strings.Contains(err.Error(), tc.detail) {
					t.Fatalf("expected the refusal to mention %q, got %q", tc.detail, err)
				}
				if !reflect.DeepEqual(g, Grant{}) {
					t.Fatalf("expected no grant with a refusal, got %+v", g)
				}
				return
			}
			dur := tc.req.Duration
			if dur == 0 {
				dur = DefaultMaxDuration
			}
			want := Grant{
				ID: g.ID, User: strings.ToLower(tc.user.Email), Policy: "oncall", Route: "billing",
				Lifts: []string{LiftTimeWindow, LiftJustification},
				Incident: Incident{ID: "INC-1", Provider: "rota", Title: "Payments API returns 500",
					URL: "https://status.corp.example/INC-1", Status: StatusActive, Active: true},
				Reason: "checkout is down, need the admin page", GrantedAt: t0, ExpiresAt: t0.Add(dur),
				holder: holderHash(tc.user.Session), slot: g.slot,
			}
			if g.slot == "" {
				t.Fatal("expected the grant to hold the daily-limit slot it took")
			}
			if !reflect.DeepEqual(g, want) {
				t.Fatalf("Request =\n%+v\nwant\n%+v", g, want)
			}
			if !grantIDRE(g.ID) {
				t.Fatalf("expected a 32-hex-digit ID, got %q", g.ID)
			}
		})
	}
}

// The grant is not stored by Request: if the caller's audit write fails
// and Activate is never called, there is no grant.
func TestRequestStoresNothing(t *testing.T) {
	f := newFixture(t, testConfig(), Options{})
	if _, err := f.svc.Request(context.Background(), alice, request("billing", "INC-1")); err != nil {
		t.Fatal(err)
	}
	g, err := f.svc.Active(context.Background(), alice, "billing")
	if err != nil || g != nil {
		t.Fatalf("expected no active grant before Activate, got %+v, %v", g, err)
	}
	list, err := f.svc.List(context.Background())
	if err != nil || len(list) != 0 {
		t.Fatalf("expected an empty review list before Activate, got %d entries, %v", len(list), err)
	}
}

func TestProviderUnavailableRefuses(t *testing.T) {
	down := errors.New("connection refused")
	cases := []struct {
		name string
		set  func(p *stubProvider)
	}{
		{"on-call check fails", func(p *stubProvider) { p.onErr = &UnavailableError{Provider: "rota", Err: down} }},
		{"incident check fails", func(p *stubProvider) {
			p.onCall = true
			p.incErr = &UnavailableError{Provider: "rota", Status: 503, Err: down}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &stubProvider{}
			p.set(tc.set)
			f := newFixture(t, testConfig(), Options{Providers: map[string]Provider{"rota": p}})
			_, err := f.svc.Request(context.Background(), alice, request("billing", "INC-1"))
			wantReason(t, err, ReasonProviderUnavailable)
			if !errors.Is(err, down) {
				t.Fatalf("expected the provider's error to be wrapped, got %v", err)
			}
			if used, _, _ := f.svc.Used(context.Background(), "", alice.Email); used != 0 {
				t.Fatalf("expected a refused request to use no daily slot, got %d", used)
			}
		})
	}
}

func TestActivateActiveRevoke(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, testConfig(), Options{})
	g := f.grant(t, alice, request("billing", "INC-1"))

	got, err := f.svc.Active(ctx, alice, "billing")
	if err != nil || got == nil {
		t.Fatalf("Active = %v, %v; expected the grant", got, err)
	}
	stored := g
	stored.slot = "" // Request's, for Activate: not stored
	if !reflect.DeepEqual(*got, stored) {
		t.Fatalf("Active =\n%+v\nwant\n%+v", *got, stored)
	}
	for _, tc := range []struct {
		name  string
		user  User
		route string
	}{
		{"another route", alice, "admin"},
		{"another session of the same user", User{Email: alice.Email, Groups: alice.Groups, Session: "other"}, "billing"},
		{"another user with the same session", User{Email: "bob@corp.example", Session: alice.Session}, "billing"},
		{"a Kelvin-sign look-alike address", User{Email: "\u212Alice@corp.example", Session: alice.Session}, "billing"},
		{"no session", User{Email: alice.Email}, "billing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := f.svc.Active(ctx, tc.user, tc.route); err != nil || got != nil {
				t.Fatalf("expected no grant, got %+v, %v", got, err)
			}
		})
	}
	if err := f.svc.Activate(ctx, g); !errors.Is(err, ErrAlreadyActivated) {
		t.Fatalf("expected ErrAlreadyActivated on a second Activate, got %v", err)
	}
	if err := f.svc.Activate(ctx, Grant{ID: g.ID, Policy: "oncall", ExpiresAt: t0.Add(time.Hour)}); err == nil {
		t.Fatal("expected a grant not made by Request to be refused")
	}

	f.clk.Advance(10 * time.Minute)
	if err := f.svc.Revoke(ctx, g.ID, "rita@corp.example"); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if got, err := f.svc.Active(ctx, alice, "billing"); err != nil || got != nil {
		t.Fatalf("expected no grant after revocation, got %+v, %v", got, err)
	}
	e, err := f.svc.Get(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantEnd := &End{At: t0.Add(10 * time.Minute), By: "rita@corp.example", Cause: CauseRevoked}
	if !reflect.DeepEqual(e.Ended, wantEnd) || e.State(f.clk.Now()) != StateRevoked {
		t.Fatalf("expected ended %+v and state revoked, got %+v, %s", wantEnd, e.Ended, e.State(f.clk.Now()))
	}
	// Revoking again is harmless and keeps the first end.
	if err := f.svc.Revoke(ctx, g.ID, "someone@corp.example"); err != nil {
		t.Fatalf("second Revoke: %v", err)
	}
	if e, _ := f.svc.Get(ctx, g.ID); e.Ended.By != "rita@corp.example" {
		t.Fatalf("expected the first revocation to stand, got %+v", e.Ended)
	}
	for _, id := range []string{"", "nope", strings.Repeat("0", 32)} {
		if err := f.svc.Revoke(ctx, id, "rita@corp.example"); !errors.Is(err, ErrGrantNotFound) {
			t.Fatalf("Revoke(%q): expected ErrGrantNotFound, got %v", id, err)
		}
	}
	// A new grant for the same session and route replaces what Active
	// remembers of the old one.
	g2 := f.grant(t, alice, request("billing", "INC-1"))
	if got, err := f.svc.Active(ctx, alice, "billing"); err != nil || got == nil || got.ID != g2.ID || got.ID == g.ID {
		t.Fatalf("expected the new grant %s, got %+v, %v", g2.ID, got, err)
	}
}

// A reviewer who revokes a grant between its listing and its activation
// wins: Activate reports ErrEnded and the grant never works.
func TestRevokeDuringActivate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, testConfig(), Options{})
	g, err := f.svc.Request(ctx, alice, request("billing", "INC-1"))
	if err != nil {
		t.Fatal(err)
	}
	// What Activate does up to the listing, then the reviewer's Revoke.
	if err := f.st.Set(ctx, keyEnded+g.ID, []byte(`{"cause":"revoked"}`), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Activate(ctx, g); !errors.Is(err, ErrEnded) {
		t.Fatalf("expected ErrEnded, got %v", err)
	}
	if got, _ := f.svc.Active(ctx, alice, "billing"); got != nil {
		t.Fatalf("expected no grant, got %+v", got)
	}
}

func TestCheck(t *testing.T) {
	g := &Grant{ID: "x", Route: "billing", GrantedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	cases := []struct {
		name  string
		g     *Grant
		route string
		now   time.Time
		ok    bool
	}{
		{"at the grant instant", g, "billing", t0, true},
		{"one nanosecond before expiry", g, "billing", t0.Add(time.Hour - time.Nanosecond), true},
		{"at expiry (exclusive)", g, "billing", t0.Add(time.Hour), false},
		{"after expiry", g, "billing", t0.Add(2 * time.Hour), false},
		{"route B with a grant for route A", g, "admin", t0.Add(time.Minute), false},
		{"route differing in case", g, "Billing", t0.Add(time.Minute), false},
		{"empty route", g, "", t0, false},
		{"clock skew within a minute", g, "billing", t0.Add(-MaxClockSkew), true},
		{"before the grant beyond the skew", g, "billing", t0.Add(-MaxClockSkew - time.Nanosecond), false},
		{"nil grant", nil, "billing", t0, false},
		{"grant without a route", &Grant{GrantedAt: t0, ExpiresAt: t0.Add(time.Hour)}, "", t0, false},
		{"grant without an expiry", &Grant{Route: "billing", GrantedAt: t0}, "billing", t0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, until := Check(tc.g, tc.route, tc.now)
			wantUntil := time.Time{}
			if tc.ok {
				wantUntil = tc.g.ExpiresAt
			}
			if ok != tc.ok || !until.Equal(wantUntil) {
				t.Fatalf("Check = %v, %v; want %v, %v", ok, until, tc.ok, wantUntil)
			}
		})
	}
}

// The stored grant disappears at its expiry, at the exact instant.
func TestActiveExpiresExactly(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, testConfig(), Options{})
	r := request("billing", "INC-1")
	r.Duration = 30 * time.Minute
	g := f.grant(t, alice, r)

	f.clk.Set(g.ExpiresAt.Add(-time.Nanosecond))
	if got, err := f.svc.Active(ctx, alice, "billing"); err != nil || got == nil {
		t.Fatalf("expected the grant 1ns before expiry, got %v, %v", got, err)
	}
	f.clk.Set(g.ExpiresAt)
	if got, err := f.svc.Active(ctx, alice, "billing"); err != nil || got != nil {
		t.Fatalf("expected no grant at expiry, got %+v, %v", got, err)
	}
	e, err := f.svc.Get(ctx, g.ID)
	if err != nil || e.State(f.clk.Now()) != StateExpired {
		t.Fatalf("expected the grant listed as expired, got %+v, %v", e, err)
	}
	if err := f.svc.Activate(ctx, g); err == nil {
		t.Fatal("expected Activate of an expired grant to fail")
	}
}

func TestRecheck(t *testing.T) {
	ctx := context.Background()
	p := &stubProvider{onCall: true, incident: Incident{Provider: "rota", Status: "triggered", Active: true}}
	cfg := testConfig()
	pol := cfg.Policies["oncall"]
	pol.RecheckInterval = time.Minute
	cfg.Policies["oncall"] = pol
	f := newFixture(t, cfg, Options{Providers: map[string]Provider{"rota": p}})
	f.grant(t, alice, request("billing", "PINC1"))
	calls := p.count() // on-call and incident

	active := func() Grant {
		t.Helper()
		g, err := f.svc.Active(ctx, alice, "billing")
		if err != nil || g == nil {
			t.Fatalf("expected an active grant, got %v, %v", g, err)
		}
		return *g
	}
	still, err := f.svc.Recheck(ctx, active())
	if !still || err != nil || p.count() != calls {
		t.Fatalf("within the interval: expected true without asking the provider, got %v, %v, %d calls", still, err, p.count()-calls)
	}
	f.clk.Advance(time.Minute)
	still, err = f.svc.Recheck(ctx, active())
	if !still || err != nil || p.count() != calls+1 {
		t.Fatalf("after the interval: expected one provider call and true, got %v, %v, %d calls", still, err, p.count()-calls)
	}

	// The provider fails: the request is denied, the grant stays, and the
	// failure is remembered briefly instead of asked again on every request.
	f.clk.Advance(time.Minute)
	p.set(func(p *stubProvider) { p.incErr = &UnavailableError{Provider: "rota", Status: 502} })
	still, err = f.svc.Recheck(ctx, active())
	wantReason(t, err, ReasonProviderUnavailable)
	if still {
		t.Fatal("expected false while the provider is unavailable")
	}
	n := p.count()
	if _, err := f.svc.Recheck(ctx, active()); err == nil || p.count() != n {
		t.Fatalf("expected the remembered failure without a provider call, got %v, %d calls", err, p.count()-n)
	}
	f.clk.Advance(recheckErrorWait)
	p.set(func(p *stubProvider) { p.incErr = nil })
	if still, err := f.svc.Recheck(ctx, active()); !still || err != nil {
		t.Fatalf("expected the grant to hold once the provider answers, got %v, %v", still, err)
	}

	// The incident resolves mid-grant.
	f.clk.Advance(time.Minute)
	p.set(func(p *stubProvider) { p.incident.Active = false; p.incident.Status = "resolved" })
	g := active()
	still, err = f.svc.Recheck(ctx, g)
	if still || err != nil {
		t.Fatalf("expected false, nil after the incident resolved, got %v, %v", still, err)
	}
	if got, _ := f.svc.Active(ctx, alice, "billing"); got != nil {
		t.Fatalf("expected the grant gone once its incident resolved, got %+v", got)
	}
	e, _ := f.svc.Get(ctx, g.ID)
	if e.State(f.clk.Now()) != StateIncidentResolved {
		t.Fatalf("expected state %s, got %s", StateIncidentResolved, e.State(f.clk.Now()))
	}
}

// Two replicas on one store ask the provider once per interval between
// them; when one sees the incident resolved, the other's next request finds
// no grant.
func TestRecheckAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	p := &stubProvider{onCall: true, incident: Incident{Provider: "rota", Status: "triggered", Active: true}}
	a, b := twoReplicas(t, p)

	a.clk.Advance(DefaultRecheckInterval)
	base := p.count()
	for _, svc := range []*Service{a.svc, b, a.svc, b} {
		g, err := svc.Active(ctx, alice, "billing")
		if err != nil || g == nil {
			t.Fatalf("expected the grant on both replicas, got %v, %v", g, err)
		}
		if still, err := svc.Recheck(ctx, *g); !still || err != nil {
			t.Fatalf("Recheck = %v, %v", still, err)
		}
	}
	if got := p.count() - base; got != 1 {
		t.Fatalf("expected one provider call per interval across replicas, got %d", got)
	}
	a.clk.Advance(DefaultRecheckInterval)
	p.set(func(p *stubProvider) { p.incident.Active = false })
	g, _ := b.Active(ctx, alice, "billing")
	if still, _ := b.Recheck(ctx, *g); still {
		t.Fatal("expected replica b to see the incident resolved")
	}
	if g, err := a.svc.Active(ctx, alice, "billing"); g != nil || err != nil {
		t.Fatalf("expected replica a to find no grant, got %+v, %v", g, err)
	}
}

func TestRecheckPolicyRemoved(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, testConfig(), Options{})
	f.grant(t, alice, request("billing", "INC-1"))
	// The reloaded configuration has another policy only.
	cfg := testConfig()
	cfg.Policies = map[string]Policy{"other": cfg.Policies["oncall"]}
	svc2, err := New(cfg, Options{Store: f.st, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer svc2.Close()
	g, _ := svc2.Active(ctx, alice, "billing")
	if still, err := svc2.Recheck(ctx, *g); still || err != nil {
		t.Fatalf("expected false, nil for a removed policy, got %v, %v", still, err)
	}
	if g, _ := f.svc.Active(ctx, alice, "billing"); g != nil {
		t.Fatal("expected the grant of a removed policy to end")
	}
	// The event the kind writes names why it ended.
	if c := svc2.endCause(*g); c != CausePolicyRemoved {
		t.Fatalf("end cause %q, want %q", c, CausePolicyRemoved)
	}
	if c := f.svc.endCause(*g); c != CauseIncidentResolved {
		t.Fatalf("end cause with the policy present %q, want %q", c, CauseIncidentResolved)
	}
}

func TestReview(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.Retention = 48 * time.Hour
	f := newFixture(t, cfg, Options{})
	g1 := f.grant(t, alice, request("billing", "INC-1"))
	f.clk.Advance(23 * time.Hour) // the next UTC day
	g2 := f.grant(t, alice, request("admin", "INC-1"))
	f.clk.Advance(time.Minute)
	g3 := f.grant(t, alice, request("billing", "INC-1"))

	ids := func(es []Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	list, err := f.svc.Unreviewed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{g3.ID, g2.ID, g1.ID}; !reflect.DeepEqual(ids(list), want) {
		t.Fatalf("Unreviewed = %q, want newest first %q", ids(list), want)
	}

	if err := f.svc.MarkReviewed(ctx, g2.ID, "ALICE@corp.example"); !errors.Is(err, ErrSelfReview) {
		t.Fatalf("expected ErrSelfReview, got %v", err)
	}
	if err := f.svc.MarkReviewed(ctx, g2.ID, "not an address"); err == nil {
		t.Fatal("expected a malformed reviewer address to be refused")
	}
	// Reviewed once it has expired (TestReviewWaitsUntilTheGrantEnds).
	f.clk.Set(g2.ExpiresAt.Add(MaxClockSkew))
	if err := f.svc.MarkReviewed(ctx, g2.ID, rev.Email); err != nil {
		t.Fatalf("MarkReviewed: %v", err)
	}
	if err := f.svc.MarkReviewed(ctx, g2.ID, "other@corp.example"); !errors.Is(err, ErrAlreadyReviewed) {
		t.Fatalf("expected ErrAlreadyReviewed, got %v", err)
	}
	if err := f.svc.MarkReviewed(ctx, strings.Repeat("a", 32), rev.Email); !errors.Is(err, ErrGrantNotFound) {
		t.Fatalf("expected ErrGrantNotFound, got %v", err)
	}
	list, _ = f.svc.Unreviewed(ctx)
	if want := []string{g3.ID, g1.ID}; !reflect.DeepEqual(ids(list), want) {
		t.Fatalf("Unreviewed = %q, want %q", ids(list), want)
	}
	all, _ := f.svc.List(ctx)
	if len(all) != 3 || all[1].Reviewed == nil || all[1].Reviewed.By != rev.Email || !all[1].Reviewed.At.Equal(f.clk.Now()) {
		t.Fatalf("expected the reviewed grant in List with its review, got %+v", all)
	}

	// After the retention, grants leave the list.
	f.clk.Set(g1.GrantedAt.Add(48 * time.Hour))
	list, _ = f.svc.List(ctx)
	if want := []string{g3.ID, g2.ID}; !reflect.DeepEqual(ids(list), want) {
		t.Fatalf("after g1's retention List = %q, want %q", ids(list), want)
	}
	if !f.svc.MayReview(rev) || f.svc.MayReview(alice) {
		t.Fatal("MayReview: expected the security group only")
	}
	if !f.svc.MayBreakGlass(alice, "") || f.svc.MayBreakGlass(carol, "") || f.svc.MayBreakGlass(alice, "nope") {
		t.Fatal("MayBreakGlass: expected sre under the default policy only")
	}
}

// Revoking (or otherwise ending) an older grant leaves a newer grant of the
// same session and route alone: the route's active key names the newer one.
// (The older one was superseded: a reload widened its policy's lifts.) On
// the memory store and on a real Redis.
func TestRevokeOldGrantKeepsTheNewerOne(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) store.Store{
		"memory": func(t *testing.T) store.Store { return nil },
		"redis": func(t *testing.T) store.Store {
			srv := redistest.Start(t)
			st, err := store.NewRedis(context.Background(), store.RedisConfig{Addrs: []string{srv.Addr()}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, testConfig(), Options{Store: open(t)})
			old := f.grant(t, alice, request("billing", "INC-1"))
			f.clk.Advance(time.Minute)
			f.widenLifts(t)
			newer := f.grant(t, alice, request("billing", "INC-1"))
			if err := f.svc.Revoke(ctx, old.ID, rev.Email); err != nil {
				t.Fatalf("Revoke(old): %v", err)
			}
			got, err := f.svc.Active(ctx, alice, "billing")
			if err != nil || got == nil || got.ID != newer.ID {
				t.Fatalf("after revoking the older grant: Active = %+v, %v; want the newer grant %s", got, err, newer.ID)
			}
			if e, _ := f.svc.Get(ctx, old.ID); e.State(f.clk.Now()) != CauseSuperseded {
				t.Fatalf("older grant state %q; want %s", e.State(f.clk.Now()), CauseSuperseded)
			}
			// Revoking the newer one ends it.
			if err := f.svc.Revoke(ctx, newer.ID, rev.Email); err != nil {
				t.Fatalf("Revoke(newer): %v", err)
			}
			if got, err := f.svc.Active(ctx, alice, "billing"); err != nil || got != nil {
				t.Fatalf("after revoking the newer grant: Active = %+v, %v; want none", got, err)
			}
		})
	}
}

// A grant is reviewed once it can no longer be used: the review of an
// active grant is refused (ErrStillActive) and changes nothing; once the
// grant is revoked, or has expired (plus MaxClockSkew, while other replicas'
// clocks may still honour it), it can be reviewed.
func TestReviewWaitsUntilTheGrantEnds(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, testConfig(), Options{})
	g := f.grant(t, alice, GrantRequest{Route: "billing", IncidentID: "INC-1", Reason: "checkout is down", Duration: 30 * time.Minute})
	err := f.svc.MarkReviewed(ctx, g.ID, rev.Email)
	var sa *StillActiveError
	if !errors.Is(err, ErrStillActive) || !errors.As(err, &sa) || !sa.Until.Equal(g.ExpiresAt.Add(MaxClockSkew)) {
		t.Fatalf("review of an active grant: err = %v; want ErrStillActive until %v", err, g.ExpiresAt.Add(MaxClockSkew))
	}
	if e, _ := f.svc.Get(ctx, g.ID); e.Reviewed != nil {
		t.Fatalf("refused review was recorded: %+v", e.Reviewed)
	}
	f.clk.Set(g.ExpiresAt) // expired here, maybe not on a replica whose clock is behind
	if err := f.svc.MarkReviewed(ctx, g.ID, rev.Email); !errors.Is(err, ErrStillActive) {
		t.Fatalf("review at expiry: err = %v; want ErrStillActive", err)
	}
	f.clk.Set(g.ExpiresAt.Add(MaxClockSkew))
	if err := f.svc.MarkReviewed(ctx, g.ID, rev.Email); err != nil {
		t.Fatalf("review after expiry: %v", err)
	}

	revoked := f.grant(t, alice, request("billing", "INC-1"))
	if err := f.svc.Revoke(ctx, revoked.ID, rev.Email); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.MarkReviewed(ctx, revoked.ID, rev.Email); err != nil {
		t.Fatalf("review of a revoked grant: %v", err)
	}
}
