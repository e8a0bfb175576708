package breakglass

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/breakglass/breakglasstest"
)

const ogKey = "og-test-key"

func ogFixture(t *testing.T) *breakglasstest.Opsgenie {
	og := breakglasstest.NewOpsgenie(t, ogKey)
	og.AddSchedule("sched-1", "SRE primary")
	og.AddSchedule("sched-2", "SRE secondary")
	og.SetOnCall("sched-1", "olivia@corp.example", t0.Add(-time.Hour), t0.Add(8*time.Hour))
	og.SetOnCall("sched-2", "sal@corp.example", time.Time{}, time.Time{})
	og.SetAlert(breakglasstest.Alert{ID: "8418d193-2dab-4490-b331-8c02cdd196b7", TinyID: "1791", Alias: "checkout-down", Message: "Checkout down", Status: "open"})
	og.SetAlert(breakglasstest.Alert{ID: "70413a06-38d6-4c85-92b8-5ebc900d42e2", TinyID: "1792", Message: "Old", Status: "closed"})
	og.SetAlert(breakglasstest.Alert{ID: "weird", TinyID: "1793", Message: "Odd", Status: "snoozed"})
	og.SetIncident(breakglasstest.Alert{ID: "inc-open", TinyID: "7", Message: "Incident open", Status: "open"})
	og.SetIncident(breakglasstest.Alert{ID: "inc-resolved", TinyID: "8", Message: "Incident resolved", Status: "resolved"})
	return og
}

func newOG(t *testing.T, og *breakglasstest.Opsgenie, clk *clock, mod func(*ProviderConfig)) *Opsgenie {
	t.Helper()
	pc := ProviderConfig{Type: TypeOpsgenie, BaseURL: og.URL, APIKey: ogKey, Schedules: []string{"sched-1", "sched-2"}}
	if mod != nil {
		mod(&pc)
	}
	cfg := Config{Providers: map[string]ProviderConfig{"og": pc}}.WithDefaults()
	if probs := providerProblems("og", cfg.Providers["og"]); len(probs) > 0 {
		t.Fatalf("config problems: %q", probs)
	}
	o, err := NewOpsgenie("og", cfg.Providers["og"], noRedirects(nil), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOpsgenieOnCall(t *testing.T) {
	og := ogFixture(t)
	cases := []struct {
		name  string
		mod   func(*ProviderConfig)
		email string
		at    time.Time
		want  bool
	}{
		{name: "on call in the first schedule", email: "olivia@corp.example", at: t0, want: true},
		{name: "on call in the second schedule", email: "SAL@corp.example", at: t0, want: true},
		{name: "after the shift", email: "olivia@corp.example", at: t0.Add(8 * time.Hour), want: false},
		{name: "not on call", email: "nobody@corp.example", at: t0, want: false},
		{name: "only the first schedule", mod: func(c *ProviderConfig) { c.Schedules = []string{"sched-1"} }, email: "sal@corp.example", at: t0, want: false},
		{name: "schedules by name", mod: func(c *ProviderConfig) {
			c.Schedules = []string{"SRE primary"}
			c.ScheduleIdentifierType = "name"
		}, email: "olivia@corp.example", at: t0, want: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newOG(t, og, newClock(t0), tc.mod)
			got, err := o.OnCall(context.Background(), tc.email, tc.at)
			if err != nil || got != tc.want {
				t.Fatalf("OnCall = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestOpsgenieOnCallErrors(t *testing.T) {
	og := ogFixture(t)
	// A configured schedule that does not exist is not "not on call".
	o := newOG(t, og, newClock(t0), func(c *ProviderConfig) { c.Schedules = []string{"sched-1", "missing"} })
	var ue *UnavailableError
	var me *MisconfiguredError
	if _, err := o.OnCall(context.Background(), "sal@corp.example", t0); !errors.As(err, &me) || me.Status != 404 {
		t.Fatalf("expected misconfigured (404 schedule), got %v", err)
	}
	// ... but a user found in another schedule is on call.
	if got, err := o.OnCall(context.Background(), "olivia@corp.example", t0); !got || err != nil {
		t.Fatalf("expected true from the schedule that answered, got %v, %v", got, err)
	}
	og.FailNext(2, 503)
	if _, err := o.OnCall(context.Background(), "olivia@corp.example", t0); !errors.As(err, &ue) || ue.Status != 503 {
		t.Fatalf("expected unavailable 503, got %v", err)
	}
	bad := newOG(t, og, newClock(t0), func(c *ProviderConfig) { c.APIKey = "wrong" })
	if _, err := bad.OnCall(context.Background(), "olivia@corp.example", t0); !errors.As(err, &me) || me.Status != 401 {
		t.Fatalf("expected misconfigured 401, got %v", err)
	}
	og.RespondNext(1, 200, nil, `{"took":0.1}`)
	if _, err := o.OnCall(context.Background(), "olivia@corp.example", t0); !errors.As(err, &ue) {
		t.Fatalf("expected unavailable for a missing data object, got %v", err)
	}
	for _, r := range og.Requests() {
		if strings.Contains(r, "on-calls") && (!strings.Contains(r, "flat=true") || !strings.Contains(r, "date=2026-11-04T10%3A00%3A00Z")) {
			t.Fatalf("expected flat=true and the instant in %q", r)
		}
	}
}

func TestOpsgenieIncident(t *testing.T) {
	og := ogFixture(t)
	cases := []struct {
		name       string
		mod        func(*ProviderConfig)
		id         string
		wantActive bool
		wantPID    string
		wantErr    string
	}{
		{name: "open alert by id", id: "8418d193-2dab-4490-b331-8c02cdd196b7", wantActive: true},
		{name: "closed alert", id: "70413a06-38d6-4c85-92b8-5ebc900d42e2"},
		{name: "alert by tiny id", mod: func(c *ProviderConfig) { c.IncidentIdentifierType = "tiny" }, id: "1791", wantActive: true, wantPID: "8418d193-2dab-4490-b331-8c02cdd196b7"},
		{name: "alert by alias", mod: func(c *ProviderConfig) { c.IncidentIdentifierType = "alias" }, id: "checkout-down", wantActive: true, wantPID: "8418d193-2dab-4490-b331-8c02cdd196b7"},
		{name: "unknown alert", id: "nope", wantErr: "notfound"},
		{name: "unknown alert status", id: "weird", wantErr: "unavailable"},
		{name: "open incident", mod: func(c *ProviderConfig) { c.Incidents = "incidents" }, id: "inc-open", wantActive: true},
		{name: "resolved incident", mod: func(c *ProviderConfig) { c.Incidents = "incidents" }, id: "inc-resolved"},
		{name: "incident by tiny id", mod: func(c *ProviderConfig) { c.Incidents = "incidents"; c.IncidentIdentifierType = "tiny" }, id: "7", wantActive: true, wantPID: "inc-open"},
		{name: "unknown incident", mod: func(c *ProviderConfig) { c.Incidents = "incidents" }, id: "inc-none", wantErr: "notfound"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newOG(t, og, newClock(t0), tc.mod)
			inc, err := o.Incident(context.Background(), tc.id)
			var ue *UnavailableError
			switch tc.wantErr {
			case "notfound":
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("expected ErrNotFound, got %v", err)
				}
				return
			case "unavailable":
				if !errors.As(err, &ue) {
					t.Fatalf("expected *UnavailableError, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if inc.ID != tc.id || inc.ProviderID != tc.wantPID || inc.Active != tc.wantActive || inc.Title == "" || inc.Provider != "og" {
				t.Fatalf("Incident = %+v", inc)
			}
		})
	}
}

func TestOpsgenieRateLimit(t *testing.T) {
	og := ogFixture(t)
	clk := newClock(t0)
	o := newOG(t, og, clk, nil)
	og.RespondNext(1, 429, http.Header{"X-Ratelimit-State": {"THROTTLED"}, "X-Ratelimit-Period-In-Sec": {"60"}}, `{"message":"Too many requests"}`)
	var ue *UnavailableError
	if _, err := o.Incident(context.Background(), "8418d193-2dab-4490-b331-8c02cdd196b7"); !errors.As(err, &ue) || !ue.RetryAfter.Equal(t0.Add(time.Minute)) {
		t.Fatalf("expected rate limited for 60s, got %v", err)
	}
	n := len(og.Requests())
	if _, err := o.OnCall(context.Background(), "olivia@corp.example", t0); err == nil || len(og.Requests()) != n {
		t.Fatalf("expected no request while rate limited, got %v and %d requests", err, len(og.Requests())-n)
	}
	clk.Advance(time.Minute)
	if got, err := o.OnCall(context.Background(), "olivia@corp.example", t0); !got || err != nil {
		t.Fatalf("after the wait: %v, %v", got, err)
	}
}

// Rechecks ask with the identifier the user typed, not the provider's ID.
func TestServiceWithOpsgenieTinyIDs(t *testing.T) {
	og := ogFixture(t)
	cfg := testConfig()
	cfg.Providers = map[string]ProviderConfig{"og": {Type: TypeOpsgenie, BaseURL: og.URL, APIKey: ogKey,
		Schedules: []string{"sched-1"}, IncidentIdentifierType: "tiny"}}
	pol := cfg.Policies["oncall"]
	pol.Provider = "og"
	cfg.Policies["oncall"] = pol
	f := newFixture(t, cfg, Options{})
	olivia := User{Email: "olivia@corp.example", Groups: []string{"sre"}, Session: "s-olivia"}
	g := f.grant(t, olivia, request("billing", "1791"))
	if g.Incident.ID != "1791" || g.Incident.ProviderID != "8418d193-2dab-4490-b331-8c02cdd196b7" {
		t.Fatalf("expected the typed and the provider's IDs, got %+v", g.Incident)
	}
	f.clk.Advance(DefaultRecheckInterval)
	active, _ := f.svc.Active(context.Background(), olivia, "billing")
	if still, err := f.svc.Recheck(context.Background(), *active); !still || err != nil {
		t.Fatalf("Recheck = %v, %v; want true", still, err)
	}
	og.SetAlert(breakglasstest.Alert{ID: "8418d193-2dab-4490-b331-8c02cdd196b7", TinyID: "1791", Message: "Checkout down", Status: "closed"})
	f.clk.Advance(DefaultRecheckInterval)
	if still, err := f.svc.Recheck(context.Background(), *active); still || err != nil {
		t.Fatalf("Recheck = %v, %v; want false after the alert closed", still, err)
	}
}

// An alias names one open alert at a time: when the grant's alert closes,
// a new alert may open under the same alias (Opsgenie's de-duplication
// key). The grant was for the first; the recheck must not take the new
// one for it.
func TestRecheckIsTheGrantsOwnIncident(t *testing.T) {
	og := ogFixture(t)
	cfg := testConfig()
	cfg.Providers = map[string]ProviderConfig{"og": {Type: TypeOpsgenie, BaseURL: og.URL, APIKey: ogKey,
		Schedules: []string{"sched-1"}, IncidentIdentifierType: "alias"}}
	pol := cfg.Policies["oncall"]
	pol.Provider = "og"
	cfg.Policies["oncall"] = pol
	f := newFixture(t, cfg, Options{})
	olivia := User{Email: "olivia@corp.example", Groups: []string{"sre"}, Session: "s-olivia"}
	g := f.grant(t, olivia, request("billing", "checkout-down"))
	if g.Incident.ProviderID != "8418d193-2dab-4490-b331-8c02cdd196b7" {
		t.Fatalf("expected the alert's own ID, got %+v", g.Incident)
	}
	og.SetAlert(breakglasstest.Alert{ID: "8418d193-2dab-4490-b331-8c02cdd196b7", TinyID: "1791", Alias: "checkout-down", Message: "Checkout down", Status: "closed"})
	og.SetAlert(breakglasstest.Alert{ID: "0c7d9e51-5f0e-4a55-9a43-3f1b1f0b7a11", TinyID: "1800", Alias: "checkout-down", Message: "Checkout down again", Status: "open"})
	f.clk.Advance(DefaultRecheckInterval)
	active, err := f.svc.Active(context.Background(), olivia, "billing")
	if err != nil || active == nil {
		t.Fatalf("Active = %v, %v", active, err)
	}
	if still, err := f.svc.Recheck(context.Background(), *active); still || err != nil {
		t.Fatalf("Recheck = %v, %v; want false: the grant's alert closed (another alert now has its alias)", still, err)
	}
	if g, err := f.svc.Active(context.Background(), olivia, "billing"); g != nil || err != nil {
		t.Fatalf("Active after the recheck = %v, %v; want no grant", g, err)
	}
}

// A disabled schedule puts nobody on call, whatever its rotations say: its
// recipients do not count, and when no enabled schedule lists the user the
// answer is a misconfiguration error naming the disabled schedule (like a
// schedule that does not exist), not a grant.
func TestOpsgenieDisabledScheduleConfersNothing(t *testing.T) {
	og := ogFixture(t)
	og.SetEnabled("sched-1", false)
	o := newOG(t, og, newClock(t0), nil)
	got, err := o.OnCall(context.Background(), "olivia@corp.example", t0)
	var ue *UnavailableError
	var me *MisconfiguredError
	if got || !errors.As(err, &me) || !errors.Is(err, ErrScheduleDisabled) || !strings.Contains(err.Error(), `schedule "sched-1" is disabled`) {
		t.Fatalf("on call only in a disabled schedule: OnCall = %v, %v; want false and an error naming the disabled schedule", got, err)
	}
	// A user on call in an enabled schedule still is.
	if got, err := o.OnCall(context.Background(), "sal@corp.example", t0); !got || err != nil {
		t.Fatalf("on call in an enabled schedule: OnCall = %v, %v; want true, nil", got, err)
	}
	// An answer that does not say whether the schedule is enabled is not
	// the documented JSON.
	og.RespondNext(1, 200, nil, `{"data":{"_parent":{"id":"sched-1","name":"SRE primary"},"onCallRecipients":["olivia@corp.example"]},"took":0.1}`)
	o1 := newOG(t, og, newClock(t0), func(c *ProviderConfig) { c.Schedules = []string{"sched-1"} })
	if got, err := o1.OnCall(context.Background(), "olivia@corp.example", t0); got || !errors.As(err, &ue) {
		t.Fatalf("no _parent.enabled: OnCall = %v, %v; want false and an unavailable error", got, err)
	}

	// Through the service: refused, and the reason is in the refusal.
	cfg := testConfig()
	cfg.Providers = map[string]ProviderConfig{"og": {Type: TypeOpsgenie, BaseURL: og.URL, APIKey: ogKey, Schedules: []string{"sched-1"}}}
	pol := cfg.Policies["oncall"]
	pol.Provider = "og"
	cfg.Policies["oncall"] = pol
	f := newFixture(t, cfg, Options{})
	olivia := User{Email: "olivia@corp.example", Groups: []string{"sre"}, Session: "s-olivia"}
	_, err = f.svc.Request(context.Background(), olivia, request("billing", "8418d193-2dab-4490-b331-8c02cdd196b7"))
	wantReason(t, err, ReasonProviderMisconfigured)
	var ref *Refusal
	if errors.As(err, &ref); !strings.Contains(ref.Detail, `schedule "sched-1" is disabled`) {
		t.Fatalf("refusal detail %q; want it to name the disabled schedule", ref.Detail)
	}
	if txt := refusalText(ref); !strings.Contains(txt, "disabled") || strings.Contains(txt, "Try again") {
		t.Fatalf("page text %q; want it to say a schedule is disabled, not to try again", txt)
	}
}
