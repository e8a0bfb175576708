package breakglass

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
)

// A request denied because the user's grant no longer lets them in gets a
// break-glass page that says what became of the grant and what to do —
// the grant's reason comes first (policy.Result.Held) — rather than the
// lifted requirement's page offering break-glass again: a provider that
// cannot answer (503, try again), a misconfigured one (500, tell the
// operators), the holder no longer in the policy's groups, the incident
// resolved or the grant revoked (ask again, or talk to the reviewer). A
// grant the holder ended themselves, or none at all, is no such denial.
func TestDeniedGrantPages(t *testing.T) {
	ctx := context.Background()
	p := &stubProvider{onCall: true, incident: Incident{Provider: "rota", Status: "triggered", Active: true}}
	cfg := testConfig()
	pol := cfg.Policies["oncall"]
	pol.DailyLimit = 10
	cfg.Policies["oncall"] = pol
	f := newFixture(t, cfg, Options{Providers: map[string]Provider{"rota": p}})
	rec := &recorder{}
	k := &kindService{svc: f.svc, env: requirement.Env{Store: f.st, Now: f.clk.Now, Logger: slog.New(slog.DiscardHandler), Audit: rec.audit}}
	q := &Requirement{Route: "billing", Policy: "oncall", lifts: []string{LiftTimeWindow, LiftJustification}}
	deny := func(groups []string) (policy.Result, requirement.Page, bool) {
		t.Helper()
		r := &requirement.Request{HTTP: httptest.NewRequest(http.MethodGet, "https://billing.corp.example/invoices", nil),
			Route: "billing", Title: "Billing", Path: "/invoices", SessionID: alice.Session,
			Identity: &policy.Identity{Email: alice.Email, Groups: groups}, Now: f.clk.Now()}
		facts, err := k.Gather(ctx, q, r)
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		res := q.Check(facts, nil, f.clk.Now())
		if res.Met() {
			t.Fatalf("Check = %+v: the grant still lets the request in", res)
		}
		page, ok := k.Page(ctx, res.Reason, q, facts, r, nil)
		return res, page, ok
	}
	want := func(name string, res policy.Result, page requirement.Page, ok bool, reason policy.Reason, status int, says []string, offer bool) {
		t.Helper()
		if !res.Held || res.Reason != reason {
			t.Fatalf("%s: Check = %+v; want reason %s, held", name, res, reason)
		}
		if !ok || page.Reason != reason || page.Status != status {
			t.Fatalf("%s: page %+v (%v); want reason %s, status %d", name, page, ok, reason, status)
		}
		text := page.Title + " " + page.Message + " " + page.Next
		for _, s := range says {
			if !strings.Contains(text, s) {
				t.Errorf("%s: page %q does not say %q", name, text, s)
			}
		}
		if got := len(page.Offers) == 1 && strings.HasPrefix(page.Offers[0].URL, pagePath+"?return="); got != offer {
			t.Errorf("%s: offers %+v; want an offer to ask again: %v", name, page.Offers, offer)
		}
	}
	interval := testConfig().WithDefaults().Policies["oncall"].RecheckInterval

	f.grant(t, alice, request("billing", "INC-1"))
	f.clk.Advance(interval)
	p.set(func(p *stubProvider) { p.incErr = &UnavailableError{Provider: "rota", Status: http.StatusBadGateway} })
	res, page, ok := deny(alice.Groups)
	want("provider unavailable", res, page, ok, ReasonProviderUnavailable, http.StatusServiceUnavailable,
		[]string{"INC-1", "cannot reach the paging system", "is kept", "Try again in a minute"}, false)

	f.clk.Advance(recheckErrorWait)
	p.set(func(p *stubProvider) {
		p.incErr = &MisconfiguredError{Provider: "rota", Status: http.StatusUnauthorized}
	})
	res, page, ok = deny(alice.Groups)
	want("provider misconfigured", res, page, ok, ReasonProviderMisconfigured, http.StatusInternalServerError,
		[]string{"refused the gateway's API key", "Trying again will not help", "tell the gateway's operators"}, false)

	res, page, ok = deny([]string{"eng"})
	want("not in the groups any more", res, page, ok, ReasonNotAllowed, http.StatusForbidden,
		[]string{"none of the groups", "sre", "identity team"}, false)

	f.clk.Advance(recheckErrorWait)
	p.set(func(p *stubProvider) { p.incErr = nil; p.incident.Active = false })
	res, page, ok = deny(alice.Groups)
	want("incident resolved", res, page, ok, ReasonIncidentInactive, http.StatusForbidden,
		[]string{"has ended", "no longer active", "ask for a new grant"}, true)

	p.set(func(p *stubProvider) { p.incident.Active = true })
	g := f.grant(t, alice, request("billing", "INC-1"))
	if err := f.svc.Revoke(ctx, g.ID, rev.Email); err != nil {
		t.Fatal(err)
	}
	for range 2 { // on every request until the grant would have expired
		res, page, ok = deny(alice.Groups)
		want("revoked", res, page, ok, ReasonGrantEnded, http.StatusForbidden,
			[]string{"was revoked by rita@corp.example", "Talk to the reviewer"}, true)
	}
	f.clk.Set(g.ExpiresAt)
	r := &requirement.Request{SessionID: alice.Session, Identity: &policy.Identity{Email: alice.Email, Groups: alice.Groups}}
	if facts, err := k.Gather(ctx, q, r); err != nil || facts != nil {
		t.Fatalf("after the revoked grant's expiry: facts %+v, %v; want none", facts, err)
	}

	// A new grant clears the news of the revoked one; ending it oneself is
	// no news either.
	g = f.grant(t, alice, request("billing", "INC-1"))
	if err := f.svc.Revoke(ctx, g.ID, rev.Email); err != nil {
		t.Fatal(err)
	}
	g = f.grant(t, alice, request("billing", "INC-1"))
	if _, err := f.svc.EndByHolder(ctx, alice, g.ID); err != nil {
		t.Fatal(err)
	}
	if facts, err := k.Gather(ctx, q, r); err != nil || facts != nil {
		t.Fatalf("after the holder ended a newer grant: facts %+v, %v; want none (the earlier revocation is old news)", facts, err)
	}
	// Another user's session on the route learns nothing of it.
	g = f.grant(t, alice, request("billing", "INC-1"))
	if err := f.svc.Revoke(ctx, g.ID, rev.Email); err != nil {
		t.Fatal(err)
	}
	other := &requirement.Request{SessionID: "session-of-someone-else", Identity: &policy.Identity{Email: alice.Email, Groups: alice.Groups}}
	if facts, err := k.Gather(ctx, q, other); err != nil || facts != nil {
		t.Fatalf("another session: facts %+v, %v; want none", facts, err)
	}
}
