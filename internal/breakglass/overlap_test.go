package breakglass

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/policy"
)

// The reason and end causes of overlapping requests, spelled out so that
// the tests say what the product promises.
const (
	wantAlreadyGranted policy.Reason = "break-glass-already-granted"
	wantNotActivated                 = "not-activated"
	wantSuperseded                   = "superseded"
)

// A session that holds a grant in force for a route gets no second one for
// it: the request is refused (it takes no daily slot), and the first grant
// stays the one in force, revocable as before.
func TestSecondRequestWhileGrantIsActiveIsRefused(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	p := cfg.Policies["oncall"]
	p.DailyLimit = 5
	cfg.Policies["oncall"] = p
	f := newFixture(t, cfg, Options{})
	first := f.grant(t, alice, request("billing", "INC-1"))
	f.clk.Advance(10 * time.Minute)

	_, err := f.svc.Request(ctx, alice, request("billing", "INC-1"))
	wantReason(t, err, wantAlreadyGranted)
	if !strings.Contains(err.Error(), first.ID) || !strings.Contains(err.Error(), "2026-11-04T11:00:00Z") {
		t.Fatalf("expected the refusal to name the grant in force and its end, got %v", err)
	}
	if used, _, err := f.svc.Used(ctx, "", alice.Email); err != nil || used != 1 {
		t.Fatalf("Used = %d, %v; want 1 (a refused request takes no slot)", used, err)
	}
	if got, err := f.svc.Active(ctx, alice, "billing"); err != nil || got == nil || got.ID != first.ID {
		t.Fatalf("Active = %+v, %v; want the first grant %s", got, err, first.ID)
	}
	// Another route, or another session, is another grant.
	f.grant(t, alice, request("admin", "INC-1"))
	f.grant(t, User{Email: alice.Email, Groups: alice.Groups, Session: "second-browser"}, request("billing", "INC-1"))

	// Once the first is revoked (or has expired), the user may ask again.
	if err := f.svc.Revoke(ctx, first.ID, rev.Email); err != nil {
		t.Fatal(err)
	}
	again := f.grant(t, alice, request("billing", "INC-1"))
	if got, _ := f.svc.Active(ctx, alice, "billing"); got == nil || got.ID != again.ID {
		t.Fatalf("after revocation: Active = %+v; want the new grant %s", got, again.ID)
	}
}

// Two requests of one session at once (a form sent twice) both pass the
// checks, but only one grant is activated: the other is refused, recorded
// as never activated, and gives its daily slot back.
func TestConcurrentRequestsActivateOneGrant(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, testConfig(), Options{})
	g1, err := f.svc.Request(ctx, alice, request("billing", "INC-1"))
	if err != nil {
		t.Fatal(err)
	}
	g2, err := f.svc.Request(ctx, alice, request("billing", "INC-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Activate(ctx, g1); err != nil {
		t.Fatal(err)
	}
	err = f.svc.Activate(ctx, g2)
	wantReason(t, err, wantAlreadyGranted)
	if got, err := f.svc.Active(ctx, alice, "billing"); err != nil || got == nil || got.ID != g1.ID {
		t.Fatalf("Active = %+v, %v; want the first grant %s", got, err, g1.ID)
	}
	if used, _, _ := f.svc.Used(ctx, "", alice.Email); used != 1 {
		t.Fatalf("Used = %d; want 1 (the grant never activated gives its slot back)", used)
	}
	e, err := f.svc.Get(ctx, g2.ID)
	if err != nil || e.Ended == nil || e.Ended.Cause != wantNotActivated {
		t.Fatalf("second grant: %+v, %v; want it ended as %s", e.Ended, err, wantNotActivated)
	}
	// Revoking the first ends access: nothing of the second is left.
	if err := f.svc.Revoke(ctx, g1.ID, rev.Email); err != nil {
		t.Fatal(err)
	}
	if got, err := f.svc.Active(ctx, alice, "billing"); err != nil || got != nil {
		t.Fatalf("after revoking the grant in force: Active = %+v, %v; want none", got, err)
	}
}

// A grant that no longer stands in for its route (a reload widened its
// policy's lifts) does not block a new request: the new grant supersedes
// it, and the old one ends explicitly (recorded, announced).
func TestNewGrantSupersedesOneThatNoLongerStands(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, testConfig(), Options{})
	old := f.grant(t, alice, request("billing", "INC-1"))
	wider := testConfig()
	p := wider.Policies["oncall"]
	p.Lifts = append(p.Lifts, LiftDevice)
	p.LiftsDevice = true
	wider.Policies["oncall"] = p
	b, err := New(wider, Options{Store: f.st, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	newer, err := b.Request(ctx, alice, request("billing", "INC-1"))
	if err != nil {
		t.Fatalf("Request after the policy widened: %v", err)
	}
	if newer.Supersedes != old.ID {
		t.Fatalf("Supersedes = %q; want %s", newer.Supersedes, old.ID)
	}
	if err := b.Activate(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Active(ctx, alice, "billing"); got == nil || got.ID != newer.ID {
		t.Fatalf("Active = %+v; want the new grant %s", got, newer.ID)
	}
	e, err := b.Get(ctx, old.ID)
	if err != nil || e.Ended == nil || e.Ended.Cause != wantSuperseded {
		t.Fatalf("old grant: %+v, %v; want it ended as %s", e.Ended, err, wantSuperseded)
	}
	// Revoking the superseded grant leaves the new one in force.
	if err := b.Revoke(ctx, old.ID, rev.Email); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Active(ctx, alice, "billing"); got == nil || got.ID != newer.ID {
		t.Fatalf("after revoking the superseded grant: Active = %+v; want %s", got, newer.ID)
	}
}

// The form: a second request is answered 409 with what is in force and
// what to do (end it from the page, then ask again), and audited as
// refused.
func TestFormRefusesASecondGrant(t *testing.T) {
	k, h, rec := newPages(t, nil, alice)
	g := grantOn(t, k.svc, alice, request("billing", "INC-1"))
	w := httptest.NewRecorder()
	k.submit(w, post("/break-glass", url.Values{"csrf": {"csrf-token"}, "return": {"https://billing.corp.example/"},
		"incident": {"INC-1"}, "reason": {"still down"}}), h)
	if w.Code != http.StatusConflict {
		t.Fatalf("status %d; want 409", w.Code)
	}
	p := h.pages[len(h.pages)-1]
	if p.Reason != wantAlreadyGranted || !strings.Contains(p.Next, "until 11:00 UTC") || !strings.Contains(p.Next, "end it with the button below") {
		t.Fatalf("page %+v; want reason %s saying until when and what to do", p, wantAlreadyGranted)
	}
	// The holder may end the grant in force from this page, then ask again.
	if p.Extra["EndID"] != g.ID || p.Extra["EndAction"] != endPath {
		t.Fatalf("page extra %+v; want the form that ends grant %s", p.Extra, g.ID)
	}
	r := rec.find("break-glass.request")
	if r == nil || r.Decision != "refused" || len(r.Reasons) == 0 || r.Reasons[0] != string(wantAlreadyGranted) || !strings.Contains(r.Detail, g.ID) {
		t.Fatalf("audit record %+v; want the refusal, naming grant %s", r, g.ID)
	}
	if rec.find("break-glass.granted") != nil {
		t.Fatal("expected no grant record")
	}
}
