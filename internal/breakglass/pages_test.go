package breakglass

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/store"
)

// pageHost is a requirement.Host for the break-glass pages: one signed-in
// session, one route (billing) that requires break-glass.
type pageHost struct {
	sess  *auth.Session
	sid   string
	route *Requirement
	pages []requirement.Page
}

func (h *pageHost) Session(*http.Request) (*auth.Session, string, error) { return h.sess, h.sid, nil }
func (h *pageHost) Render(w http.ResponseWriter, _ *http.Request, p requirement.Page) {
	h.pages = append(h.pages, p)
	status := p.Status
	if status == 0 {
		status = http.StatusForbidden
	}
	w.WriteHeader(status)
}
func (h *pageHost) Request(*http.Request) *requirement.Request { return &requirement.Request{} }
func (h *pageHost) RouteFor(_ *http.Request, raw, _ string) (requirement.RouteMatch, bool) {
	if raw != "https://billing.corp.example/" {
		return requirement.RouteMatch{}, false
	}
	return requirement.RouteMatch{Name: "billing", Title: "Billing", Requirement: h.route, Policy: billingRules}, true
}

// billingRules are the billing route's rules in these tests: everyone at
// corp.example but mallory.
var billingRules = func() *policy.Route {
	r, err := policy.Compile("billing", false, policy.Rules{
		Allow: []policy.Condition{{Domains: []string{"corp.example"}}},
		Deny:  []policy.Condition{{Emails: []string{"mallory@corp.example"}}}}, nil)
	if err != nil {
		panic(err)
	}
	return r
}()

func (h *pageHost) SafeReturn(_ *http.Request, raw string) (string, bool) {
	return raw, strings.HasPrefix(raw, "https://billing.corp.example/")
}

// recorder collects audit records.
type recorder struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (r *recorder) audit(_ context.Context, rec audit.Record) {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
}

func (r *recorder) commit(ctx context.Context, rec audit.Record) error { r.audit(ctx, rec); return nil }

func (r *recorder) find(event string) *audit.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.recs {
		if r.recs[i].Event == event {
			return &r.recs[i]
		}
	}
	return nil
}

// failingLimitStore fails every daily-limit slot.
type failingLimitStore struct{ store.Store }

func (f failingLimitStore) SetNX(ctx context.Context, key string, v []byte, ttl time.Duration) (bool, error) {
	if strings.HasPrefix(key, keyLimit) {
		return false, errors.New("store: connection refused")
	}
	return f.Store.SetNX(ctx, key, v, ttl)
}

func newPages(t *testing.T, st store.Store, u User) (*kindService, *pageHost, *recorder) {
	t.Helper()
	clk := newClock(t0)
	if st == nil {
		st = newMemStore(t)
	}
	svc, err := New(testConfig(), Options{Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	rec := &recorder{}
	k := &kindService{svc: svc, env: requirement.Env{Store: st, Now: clk.Now, Logger: slog.New(slog.DiscardHandler),
		Audit: rec.audit, Commit: rec.commit}}
	h := &pageHost{sess: &auth.Session{Email: u.Email, Groups: u.Groups, CSRF: "csrf-token"}, sid: u.Session,
		route: &Requirement{Route: "billing", Policy: "oncall", lifts: []string{LiftTimeWindow}}}
	return k, h, rec
}

func post(path string, form url.Values) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "https://gateway.corp.example/.gateway"+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// Every refused break-glass form is in the audit log, whatever refused it:
// the shared store, a form not sent by the gateway's page, a user who is
// not a reviewer.
func TestRefusedFormsAreAudited(t *testing.T) {
	t.Run("store fails during the request", func(t *testing.T) {
		k, h, rec := newPages(t, failingLimitStore{newMemStore(t)}, alice)
		w := httptest.NewRecorder()
		k.submit(w, post("/break-glass", url.Values{"csrf": {"csrf-token"}, "return": {"https://billing.corp.example/"},
			"incident": {"INC-1"}, "reason": {"checkout is down"}}), h)
		if w.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", w.Code)
		}
		r := rec.find("break-glass.request")
		if r == nil || r.Decision == "granted" || len(r.Reasons) == 0 || r.Reasons[0] != string(ReasonUnavailable) {
			t.Fatalf("audit record of the refused request = %+v, want one with reason %s", r, ReasonUnavailable)
		}
	})
	t.Run("form without the session's CSRF token", func(t *testing.T) {
		k, h, rec := newPages(t, nil, alice)
		w := httptest.NewRecorder()
		k.submit(w, post("/break-glass", url.Values{"csrf": {"forged"}, "return": {"https://billing.corp.example/"},
			"incident": {"INC-1"}, "reason": {"checkout is down"}}), h)
		if w.Code != http.StatusForbidden {
			t.Fatalf("status %d, want 403", w.Code)
		}
		if r := rec.find("break-glass.request"); r == nil || r.Decision != "refused" {
			t.Fatalf("audit record of the refused form = %+v, want decision refused", r)
		}
	})
	t.Run("review action by a non-reviewer", func(t *testing.T) {
		k, h, rec := newPages(t, nil, bob)
		g, err := k.svc.Request(context.Background(), alice, request("billing", "INC-1"))
		if err != nil {
			t.Fatal(err)
		}
		if err := k.svc.Activate(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		k.reviewAction(w, post("/break-glass/review", url.Values{"csrf": {"csrf-token"}, "id": {g.ID}, "action": {"reviewed"}}), h)
		if w.Code != http.StatusForbidden {
			t.Fatalf("status %d, want 403", w.Code)
		}
		if r := rec.find("break-glass.review"); r == nil || r.Decision != "refused" || !strings.Contains(r.Detail, g.ID) {
			t.Fatalf("audit record of the refused review = %+v, want decision refused naming the grant", r)
		}
	})
}

// A grant stands in for the policy's groups only while its holder is in
// them: a user removed from every group of the policy (their session's
// groups refreshed from the identity provider) no longer uses a grant made
// before.
func TestGrantNeedsThePolicysGroups(t *testing.T) {
	ctx := context.Background()
	k, _, _ := newPages(t, nil, alice)
	grantOn(t, k.svc, alice, request("billing", "INC-1"))
	q := &Requirement{Route: "billing", Policy: "oncall", lifts: []string{LiftTimeWindow}}
	gather := func(groups []string) *Facts {
		t.Helper()
		r := &requirement.Request{SessionID: alice.Session, Identity: &policy.Identity{Email: alice.Email, Groups: groups}}
		f, err := k.Gather(ctx, q, r)
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		facts, _ := f.(*Facts)
		return facts
	}
	if f := gather(alice.Groups); f == nil || f.Grant == nil || f.Problem != "" {
		t.Fatalf("in the groups: facts %+v, want the grant", f)
	}
	if res := q.Check(gather([]string{"eng"}), nil, t0); res.Met() {
		t.Fatalf("no longer in the policy's groups: Check = %+v, want unmet", res)
	}
}

// A grant lifts what it was granted (and announced, and reviewed) to lift:
// after a reload that widens its policy's lifts (device added), a grant
// made before does not stand in for the newly lifted kinds.
func TestGrantLiftsOnlyWhatItWasGrantedFor(t *testing.T) {
	g := &Grant{ID: "g", Policy: "oncall", Route: "billing", Lifts: []string{LiftTimeWindow, LiftJustification},
		GrantedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	same := &Requirement{Route: "billing", Policy: "oncall", lifts: []string{LiftTimeWindow, LiftJustification}}
	if res := same.Check(&Facts{Grant: g}, nil, t0); !res.Met() {
		t.Fatalf("policy unchanged: Check = %+v, want met", res)
	}
	narrower := &Requirement{Route: "billing", Policy: "oncall", lifts: []string{LiftTimeWindow}}
	if res := narrower.Check(&Facts{Grant: g}, nil, t0); !res.Met() {
		t.Fatalf("policy narrowed: Check = %+v, want met (the route lifts less)", res)
	}
	wider := &Requirement{Route: "billing", Policy: "oncall", lifts: []string{LiftTimeWindow, LiftJustification, LiftDevice}}
	if res := wider.Check(&Facts{Grant: g}, nil, t0); res.Met() {
		t.Fatalf("policy widened to lift device: Check = %+v, want unmet for a grant that lifts %v", res, g.Lifts)
	}
}

// A reload that shortens a policy's max_duration shortens the grants made
// before it: a 1h grant under a policy now of 10m ends 10m after it was
// granted, not at the hour it was granted for.
func TestShorterMaxDurationShortensEarlierGrants(t *testing.T) {
	g := &Grant{ID: "g", Policy: "oncall", Route: "billing", Lifts: []string{LiftTimeWindow}, GrantedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	q := &Requirement{Route: "billing", Policy: "oncall", lifts: []string{LiftTimeWindow}, maxDuration: 10 * time.Minute}
	if res := q.Check(&Facts{Grant: g}, nil, t0.Add(5*time.Minute)); !res.Met() || !res.NotAfter.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("within the new max_duration: Check = %+v, want met until %v", res, t0.Add(10*time.Minute))
	}
	if res := q.Check(&Facts{Grant: g}, nil, t0.Add(15*time.Minute)); res.Met() {
		t.Fatalf("past the new max_duration: Check = %+v, want unmet", res)
	}
	longer := &Requirement{Route: "billing", Policy: "oncall", lifts: []string{LiftTimeWindow}, maxDuration: 2 * time.Hour}
	if res := longer.Check(&Facts{Grant: g}, nil, t0.Add(30*time.Minute)); !res.Met() || !res.NotAfter.Equal(g.ExpiresAt) {
		t.Fatalf("a longer max_duration: Check = %+v, want met until the grant's own end %v", res, g.ExpiresAt)
	}
}

// A duration written on the form is checked as written: "0s" is not the
// field left out (which asks for the longest grant) but a duration under a
// minute, refused like "30s", with no grant; one that does not parse is
// refused too, and each refusal is audited.
func TestFormDurationZeroIsRefused(t *testing.T) {
	for _, d := range []string{"0s", "0", "-0s", "0h0m", "30x", "1h0m0s1"} {
		t.Run(d, func(t *testing.T) {
			k, h, rec := newPages(t, nil, alice)
			w := httptest.NewRecorder()
			k.submit(w, post("/break-glass", url.Values{"csrf": {"csrf-token"}, "return": {"https://billing.corp.example/"},
				"incident": {"INC-1"}, "reason": {"checkout is down"}, "duration": {d}}), h)
			if w.Code < 400 {
				t.Errorf("status %d, want a refusal", w.Code)
			}
			if r := rec.find("break-glass.granted"); r != nil {
				t.Fatalf("duration %q granted: %+v", d, r)
			}
			if r := rec.find("break-glass.request"); r == nil || r.Decision != "refused" || len(r.Reasons) == 0 || r.Reasons[0] != string(ReasonInvalidRequest) {
				t.Fatalf("audit record of the refused form = %+v, want %s", r, ReasonInvalidRequest)
			}
		})
	}
}

// The review of a grant still in use is refused on the review page: 409,
// a note that says why and what to do (revoke it, or review it once it has
// ended), an audit record, and no review recorded.
func TestReviewPageRefusesAnActiveGrant(t *testing.T) {
	ctx := context.Background()
	k, h, rec := newPages(t, nil, rev)
	g := grantOn(t, k.svc, alice, request("billing", "INC-1"))
	w := httptest.NewRecorder()
	k.reviewAction(w, post("/break-glass/review", url.Values{"csrf": {"csrf-token"}, "id": {g.ID}, "action": {"reviewed"}}), h)
	if w.Code != http.StatusConflict {
		t.Fatalf("status %d, want 409", w.Code)
	}
	p := h.pages[len(h.pages)-1]
	if !strings.Contains(p.Next, "still active") || !strings.Contains(p.Next, "Revoke") || p.Reason != ReviewStillActive {
		t.Fatalf("page %+v; want a note that the grant is still active and how to proceed, reason %s", p, ReviewStillActive)
	}
	if r := rec.find("break-glass.review"); r == nil || r.Decision != "refused" || !strings.Contains(r.Detail, g.ID) || !strings.Contains(r.Detail, "still active") {
		t.Fatalf("audit record of the refused review = %+v, want decision refused naming the grant and why", r)
	}
	if rec.find("break-glass.reviewed") != nil {
		t.Fatal("a refused review was audited as reviewed")
	}
	if e, _ := k.svc.Get(ctx, g.ID); e.Reviewed != nil {
		t.Fatalf("refused review was recorded: %+v", e.Reviewed)
	}
}

// Break-glass lifts a route's requirements, never its rules: someone the
// route's rules refuse gets a refusal that says so, audited, and nothing is
// asked of the provider or the store for them.
func TestFormRefusesSomeoneTheRulesRefuse(t *testing.T) {
	mallory := User{Email: "mallory@corp.example", Groups: []string{"sre"}, Session: "session-mallory"}
	k, h, rec := newPages(t, nil, mallory)
	w := httptest.NewRecorder()
	k.submit(w, post("/break-glass", url.Values{"csrf": {"csrf-token"}, "return": {"https://billing.corp.example/"},
		"incident": {"INC-1"}, "reason": {"checkout is down"}}), h)
	if w.Code != http.StatusForbidden {
		t.Fatalf("status %d, want 403", w.Code)
	}
	p := h.pages[len(h.pages)-1]
	if p.Reason != policy.ReasonNoAllowRule || !strings.Contains(p.Message, "do not admit you") {
		t.Fatalf("page %+v; want the rules' refusal", p)
	}
	if r := rec.find("break-glass.request"); r == nil || r.Decision != "refused" || len(r.Reasons) == 0 || r.Reasons[0] != string(policy.ReasonNoAllowRule) {
		t.Fatalf("audit record %+v; want a refusal for the rules", r)
	}
	if rec.find("break-glass.granted") != nil {
		t.Fatal("a grant was made")
	}
}
