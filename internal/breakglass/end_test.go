package breakglass

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/breakglass/breakglasstest"
)

// The holder ends their own grant before its expiry: the route stops
// accepting it, the end is recorded (ended-by-holder, by the holder) and
// announced like every other end, and the grant can be reviewed at once.
func TestHolderEndsTheirGrant(t *testing.T) {
	ctx := context.Background()
	hook := breakglasstest.NewReceiver(t, 0, 0, nil)
	f := newFixture(t, notifyConfig(map[string]NotifyTarget{"siem": {Type: TargetWebhook, URL: Secret(hook.URL)}}, RetryConfig{}), Options{})
	g := f.grant(t, alice, request("billing", "INC-1"))
	var ev Event
	if err := json.Unmarshal(hook.Next(t, 10*time.Second).Body, &ev); err != nil || ev.Type != EventGranted {
		t.Fatalf("expected the granted event, got %+v, %v", ev, err)
	}
	f.clk.Advance(5 * time.Minute)

	got, err := f.svc.EndByHolder(ctx, alice, g.ID)
	if err != nil || got.ID != g.ID {
		t.Fatalf("EndByHolder = %+v, %v; want grant %s ended", got, err, g.ID)
	}
	if a, err := f.svc.Active(ctx, alice, "billing"); err != nil || a != nil {
		t.Fatalf("after the end: Active = %+v, %v; want none", a, err)
	}
	e, err := f.svc.Get(ctx, g.ID)
	if err != nil || e.Ended == nil || e.Ended.Cause != CauseEndedByHolder || e.Ended.By != "alice@corp.example" || !e.Ended.At.Equal(f.clk.Now()) {
		t.Fatalf("recorded end %+v, %v; want cause %s by the holder, now", e.Ended, err, CauseEndedByHolder)
	}
	if s := e.State(f.clk.Now()); s != StateEndedByHolder {
		t.Fatalf("state %q; want %s", s, StateEndedByHolder)
	}
	if err := json.Unmarshal(hook.Next(t, 10*time.Second).Body, &ev); err != nil || ev.Type != EventEnded || ev.Cause != CauseEndedByHolder || ev.By != "alice@corp.example" || ev.Grant.ID != g.ID {
		t.Fatalf("expected the ended event with cause %s by the holder, got %+v, %v", CauseEndedByHolder, ev, err)
	}
	if err := f.svc.MarkReviewed(ctx, g.ID, rev.Email); err != nil {
		t.Fatalf("MarkReviewed right after the holder ended it: %v", err)
	}
	// Ending it again changes nothing and says it ended already.
	_, err = f.svc.EndByHolder(ctx, alice, g.ID)
	var ended *EndedError
	if !errors.As(err, &ended) || !errors.Is(err, ErrEnded) || ended.Cause != CauseEndedByHolder {
		t.Fatalf("second end: %v; want an *EndedError (%s)", err, CauseEndedByHolder)
	}
	f.svc.Close()
	if n := hook.Count(); n != 2 {
		t.Fatalf("%d notifications; want 2 (granted, ended once)", n)
	}
}

// Only the session the grant is bound to ends it: not another user, not
// another user holding the grant's ID, not the same user's other session.
// A grant that ended already (revoked, expired) answers so.
func TestEndByHolderRefusesOthers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, testConfig(), Options{})
	g := f.grant(t, alice, request("billing", "INC-1"))
	for name, u := range map[string]User{
		"another user":                         bob,
		"another user with the holder's email": {Email: bob.Email, Groups: alice.Groups, Session: alice.Session},
		"the holder's other session":           {Email: alice.Email, Groups: alice.Groups, Session: "session-alice-laptop-2"},
		"no session":                           {Email: alice.Email, Groups: alice.Groups},
	} {
		if _, err := f.svc.EndByHolder(ctx, u, g.ID); !errors.Is(err, ErrNotHolder) {
			t.Errorf("%s: EndByHolder = %v; want ErrNotHolder", name, err)
		}
	}
	if _, err := f.svc.EndByHolder(ctx, alice, "0123456789abcdef0123456789abcdef"); !errors.Is(err, ErrGrantNotFound) {
		t.Errorf("unknown grant: %v; want ErrGrantNotFound", err)
	}
	if a, _ := f.svc.Active(ctx, alice, "billing"); a == nil || a.ID != g.ID {
		t.Fatalf("after the refused ends: Active = %+v; want the grant still in force", a)
	}
	if err := f.svc.Revoke(ctx, g.ID, rev.Email); err != nil {
		t.Fatal(err)
	}
	var ended *EndedError
	if _, err := f.svc.EndByHolder(ctx, alice, g.ID); !errors.As(err, &ended) || ended.Cause != CauseRevoked {
		t.Fatalf("revoked grant: %v; want an *EndedError (%s)", err, CauseRevoked)
	}
	if e, _ := f.svc.Get(ctx, g.ID); e.Ended == nil || e.Ended.Cause != CauseRevoked {
		t.Fatalf("the revocation was overwritten: %+v", e.Ended)
	}
	// Expired: nothing to end.
	f.clk.Advance(10 * time.Minute)
	g2 := f.grant(t, alice, GrantRequest{Route: "admin", IncidentID: "INC-1", Reason: "admin page", Duration: time.Minute})
	f.clk.Advance(time.Minute)
	if _, err := f.svc.EndByHolder(ctx, alice, g2.ID); !errors.As(err, &ended) || ended.Cause != StateExpired {
		t.Fatalf("expired grant: %v; want an *EndedError (%s)", err, StateExpired)
	}
	if e, _ := f.svc.Get(ctx, g2.ID); e.Ended != nil {
		t.Fatalf("an expired grant was recorded as ended early: %+v", e.Ended)
	}
}

// Ending a grant that a newer one of the same session and route replaced
// leaves the newer one in force.
func TestEndByHolderKeepsTheNewerGrant(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, testConfig(), Options{})
	old := f.grant(t, alice, request("billing", "INC-1"))
	f.widenLifts(t)
	newer := f.grant(t, alice, request("billing", "INC-1"))
	var ended *EndedError
	if _, err := f.svc.EndByHolder(ctx, alice, old.ID); !errors.As(err, &ended) || ended.Cause != CauseSuperseded {
		t.Fatalf("superseded grant: %v; want an *EndedError (%s)", err, CauseSuperseded)
	}
	if a, _ := f.svc.Active(ctx, alice, "billing"); a == nil || a.ID != newer.ID {
		t.Fatalf("Active = %+v; want the newer grant %s", a, newer.ID)
	}
	if _, err := f.svc.EndByHolder(ctx, alice, newer.ID); err != nil {
		t.Fatal(err)
	}
	if a, _ := f.svc.Active(ctx, alice, "billing"); a != nil {
		t.Fatalf("Active = %+v; want none", a)
	}
}

// The form: the break-glass page shows the holder's grant with a button
// that ends it; the form needs the session's CSRF token and the holder's
// session; every refusal and the end are audited.
func TestEndGrantForm(t *testing.T) {
	ctx := context.Background()
	k, h, rec := newPages(t, nil, alice)
	g := grantOn(t, k.svc, alice, request("billing", "INC-1"))
	ret := "https://billing.corp.example/"
	show := httptest.NewRequest(http.MethodGet, "https://gateway.corp.example"+pagePath+"?return="+url.QueryEscape(ret), nil)
	k.show(httptest.NewRecorder(), show, h, nil, "")
	if p := h.pages[len(h.pages)-1]; p.Extra["EndID"] != g.ID || p.Extra["EndAction"] != endPath {
		t.Fatalf("break-glass page extra %+v; want the end form for grant %s", p.Extra, g.ID)
	}
	end := func(h *pageHost, csrf, id string) (int, string) {
		w := httptest.NewRecorder()
		k.endAction(w, post("/break-glass/end", url.Values{"csrf": {csrf}, "id": {id}, "return": {ret}}), h)
		return w.Code, h.pages[len(h.pages)-1].Title
	}
	still := func(when string) {
		t.Helper()
		if a, _ := k.svc.Active(ctx, alice, "billing"); a == nil {
			t.Fatalf("%s: the grant ended", when)
		}
	}

	if code, _ := end(h, "forged", g.ID); code != http.StatusForbidden {
		t.Fatalf("without the CSRF token: %d; want 403", code)
	}
	if r := rec.find("break-glass.end"); r == nil || r.Decision != "refused" || !strings.Contains(r.Detail, "CSRF") {
		t.Fatalf("audit of the forged form = %+v", r)
	}
	still("forged form")

	bobs := &pageHost{sess: &auth.Session{Email: bob.Email, Groups: bob.Groups, CSRF: "bob-csrf"}, sid: bob.Session, route: h.route}
	if code, title := end(bobs, "bob-csrf", g.ID); code != http.StatusForbidden || title != "Not your grant" {
		t.Fatalf("another user: %d %q; want 403 Not your grant", code, title)
	}
	rec.mu.Lock()
	last := rec.recs[len(rec.recs)-1]
	rec.mu.Unlock()
	if last.Event != "break-glass.end" || last.Decision != "refused" || last.User != bob.Email || !strings.Contains(last.Detail, "not held by this session") {
		t.Fatalf("audit of another user's end = %+v", last)
	}
	still("another user's form")

	if code, title := end(h, "csrf-token", g.ID); code != http.StatusOK || title != "Break-glass grant ended" {
		t.Fatalf("the holder: %d %q; want 200 Break-glass grant ended", code, title)
	}
	p := h.pages[len(h.pages)-1]
	if len(p.Offers) != 1 || !strings.HasPrefix(p.Offers[0].URL, pagePath+"?return=") {
		t.Fatalf("ended page offers %+v; want the way back to the break-glass page", p.Offers)
	}
	if r := rec.find("break-glass.ended"); r == nil || r.Decision != CauseEndedByHolder || r.User != "alice@corp.example" || r.Route != "billing" || r.BreakGlass == nil {
		t.Fatalf("audit of the end = %+v; want break-glass.ended, %s, naming the grant", r, CauseEndedByHolder)
	}
	if a, _ := k.svc.Active(ctx, alice, "billing"); a != nil {
		t.Fatalf("after the end: Active = %+v", a)
	}

	if code, title := end(h, "csrf-token", g.ID); code != http.StatusConflict || title != "Grant already ended" {
		t.Fatalf("ended twice: %d %q; want 409 Grant already ended", code, title)
	}
	if p := h.pages[len(h.pages)-1]; !strings.Contains(p.Message, "you ended it") {
		t.Fatalf("ended twice: message %q; want how it ended", p.Message)
	}
}
