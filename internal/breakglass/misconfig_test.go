package breakglass

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/breakglass/breakglasstest"
	"github.com/accessgateway/gateway/internal/policy"
)

// wantMisconfigured is the reason of a provider whose answer says the
// gateway's configuration of it is wrong.
const wantMisconfigured policy.Reason = "break-glass-provider-misconfigured"

// A provider that answers "your configuration is wrong" (a refused key, a
// schedule that does not exist or is disabled, a query refused) is not an
// outage: the refusal has its own reason, the page tells the user to tell
// the operators instead of trying again, and the operators' log says what
// is wrong. Real outages (5xx, timeouts, connection errors) stay
// unavailable. Neither takes a daily slot.
func TestProviderMisconfigurationIsNotAnOutage(t *testing.T) {
	type testCase struct {
		name  string
		setup func(t *testing.T) (ProviderConfig, string) // provider config and an incident ID
		want  policy.Reason
	}
	pd := func(mod func(pc *ProviderConfig, pd *breakglasstest.PagerDuty)) func(t *testing.T) (ProviderConfig, string) {
		return func(t *testing.T) (ProviderConfig, string) {
			srv := pdFixture(t)
			pc := ProviderConfig{Type: TypePagerDuty, BaseURL: srv.URL, Token: pdToken, Timeout: 200 * time.Millisecond}
			mod(&pc, srv)
			return pc, "PINC1"
		}
	}
	og := func(mod func(pc *ProviderConfig, og *breakglasstest.Opsgenie)) func(t *testing.T) (ProviderConfig, string) {
		return func(t *testing.T) (ProviderConfig, string) {
			srv := ogFixture(t)
			pc := ProviderConfig{Type: TypeOpsgenie, BaseURL: srv.URL, APIKey: ogKey, Schedules: []string{"sched-1"}, Timeout: 200 * time.Millisecond}
			mod(&pc, srv)
			return pc, "8418d193-2dab-4490-b331-8c02cdd196b7"
		}
	}
	cases := []testCase{
		{name: "PagerDuty refuses the token (401)", want: wantMisconfigured,
			setup: pd(func(pc *ProviderConfig, _ *breakglasstest.PagerDuty) { pc.Token = "wrong" })},
		{name: "PagerDuty forbids the token (403)", want: wantMisconfigured,
			setup: pd(func(_ *ProviderConfig, s *breakglasstest.PagerDuty) {
				s.RespondNext(1, 403, nil, `{"error":{"message":"Access Denied"}}`)
			})},
		{name: "PagerDuty refuses the query (400, unknown escalation policy)", want: wantMisconfigured,
			setup: pd(func(pc *ProviderConfig, s *breakglasstest.PagerDuty) {
				pc.EscalationPolicyIDs = []string{"PNOPE"}
				s.RespondNext(1, 400, nil, `{"error":{"message":"Invalid Input Provided","code":2001}}`)
			})},
		{name: "PagerDuty list endpoint not found (404, wrong base_url)", want: wantMisconfigured,
			setup: pd(func(_ *ProviderConfig, s *breakglasstest.PagerDuty) {
				s.RespondNext(1, 404, nil, `{"error":{"message":"Not Found"}}`)
			})},
		{name: "Opsgenie schedule does not exist", want: wantMisconfigured,
			setup: og(func(pc *ProviderConfig, _ *breakglasstest.Opsgenie) { pc.Schedules = []string{"missing"} })},
		{name: "Opsgenie schedule disabled", want: wantMisconfigured,
			setup: og(func(_ *ProviderConfig, s *breakglasstest.Opsgenie) { s.SetEnabled("sched-1", false) })},
		{name: "Opsgenie refuses the key (401)", want: wantMisconfigured,
			setup: og(func(pc *ProviderConfig, _ *breakglasstest.Opsgenie) { pc.APIKey = "wrong" })},

		{name: "PagerDuty answers 500", want: ReasonProviderUnavailable,
			setup: pd(func(_ *ProviderConfig, s *breakglasstest.PagerDuty) { s.FailNext(1, 500) })},
		{name: "PagerDuty times out", want: ReasonProviderUnavailable,
			setup: pd(func(_ *ProviderConfig, s *breakglasstest.PagerDuty) { s.Hang(1) })},
		{name: "Opsgenie answers 503", want: ReasonProviderUnavailable,
			setup: og(func(_ *ProviderConfig, s *breakglasstest.Opsgenie) { s.FailNext(1, 503) })},
		{name: "nothing listens", want: ReasonProviderUnavailable,
			setup: func(t *testing.T) (ProviderConfig, string) {
				srv := httptest.NewServer(http.NotFoundHandler())
				srv.Close()
				return ProviderConfig{Type: TypePagerDuty, BaseURL: srv.URL, Token: pdToken, Timeout: 200 * time.Millisecond}, "PINC1"
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pc, incident := tc.setup(t)
			cfg := testConfig()
			cfg.Providers = map[string]ProviderConfig{"p": pc}
			pol := cfg.Policies["oncall"]
			pol.Provider = "p"
			cfg.Policies["oncall"] = pol
			var logs bytes.Buffer
			f := newFixture(t, cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			olivia := User{Email: "olivia@corp.example", Groups: []string{"sre"}, Session: "s-olivia"}
			_, err := f.svc.Request(context.Background(), olivia, request("billing", incident))
			wantReason(t, err, tc.want)
			if used, _, _ := f.svc.Used(context.Background(), "", olivia.Email); used != 0 {
				t.Fatalf("Used = %d; want 0 (a refused request takes no slot)", used)
			}
			r, _ := err.(*Refusal)
			txt := refusalText(r)
			if tc.want == wantMisconfigured {
				if !strings.Contains(txt, "operators") || strings.Contains(txt, "Try again") {
					t.Fatalf("page text %q; want it to send the user to the operators, not to try again", txt)
				}
				if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "provider=p") {
					t.Fatalf("log %q; want an error naming the provider, for the operators", logs.String())
				}
			} else if !strings.Contains(txt, "Try again") {
				t.Fatalf("page text %q; want it to say to try again", txt)
			}
		})
	}
}

// The form answers a misconfigured provider with 500 (not 503: trying
// again does not help), the reason, and the operators as the next step;
// the refusal is audited with what is wrong.
func TestFormProviderMisconfigured(t *testing.T) {
	srv := ogFixture(t)
	srv.SetEnabled("sched-1", false)
	st := newMemStore(t)
	k, h, rec := newPages(t, st, User{Email: "olivia@corp.example", Groups: []string{"sre"}, Session: "s-olivia"})
	cfg := testConfig()
	cfg.Providers = map[string]ProviderConfig{"og": {Type: TypeOpsgenie, BaseURL: srv.URL, APIKey: ogKey, Schedules: []string{"sched-1"}}}
	pol := cfg.Policies["oncall"]
	pol.Provider = "og"
	cfg.Policies["oncall"] = pol
	svc, err := New(cfg, Options{Store: st, Now: k.env.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	k.svc = svc
	w := httptest.NewRecorder()
	k.submit(w, post("/break-glass", url.Values{"csrf": {"csrf-token"}, "return": {"https://billing.corp.example/"},
		"incident": {"8418d193-2dab-4490-b331-8c02cdd196b7"}, "reason": {"checkout down"}}), h)
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d; want 500", w.Code)
	}
	p := h.pages[len(h.pages)-1]
	if p.Reason != wantMisconfigured || !strings.Contains(p.Next, "operators") {
		t.Fatalf("page %+v; want reason %s and the operators as the next step", p, wantMisconfigured)
	}
	r := rec.find("break-glass.request")
	if r == nil || r.Decision != "refused" || len(r.Reasons) == 0 || r.Reasons[0] != string(wantMisconfigured) || !strings.Contains(r.Detail, `schedule "sched-1" is disabled`) {
		t.Fatalf("audit record %+v; want the refusal naming the disabled schedule", r)
	}
}

// A recheck that finds the provider misconfigured refuses with that reason
// and keeps the grant: it works again once the configuration is fixed.
func TestRecheckProviderMisconfigured(t *testing.T) {
	p := &stubProvider{onCall: true, incident: Incident{Provider: "rota", Status: "triggered", Active: true}}
	f := newFixture(t, testConfig(), Options{Providers: map[string]Provider{"rota": p}})
	g := f.grant(t, alice, request("billing", "PINC1"))
	p.set(func(p *stubProvider) { p.incErr = &MisconfiguredError{Provider: "rota", Status: 401} })
	f.clk.Advance(DefaultRecheckInterval)
	ctx := context.Background()
	active, err := f.svc.Active(ctx, alice, "billing")
	if err != nil || active == nil {
		t.Fatalf("Active = %v, %v", active, err)
	}
	still, err := f.svc.Recheck(ctx, *active)
	if still || ReasonOf(err) != ReasonProviderMisconfigured {
		t.Fatalf("Recheck = %v, %v; want false, %s", still, err, ReasonProviderMisconfigured)
	}
	p.set(func(p *stubProvider) { p.incErr = nil })
	f.clk.Advance(recheckErrorWait)
	if still, err := f.svc.Recheck(ctx, *active); !still || err != nil {
		t.Fatalf("after the fix: Recheck = %v, %v; want the grant %s to hold", still, err, g.ID)
	}
}
