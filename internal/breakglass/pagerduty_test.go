package breakglass

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/breakglass/breakglasstest"
)

const pdToken = "pd-test-token"

// pdFixture: Olivia is user POLIVIA, on call on escalation policy PEP1
// through schedule PSCHED1 (level 1) from t0-1h to t0+8h; Sal (whose address
// contains "al@corp.example", like Al's) is on call on another policy.
func pdFixture(t *testing.T) *breakglasstest.PagerDuty {
	pd := breakglasstest.NewPagerDuty(t, pdToken)
	pd.AddUser("POLIVIA", "Olivia Oncall", "olivia@corp.example")
	pd.AddUser("PSAL", "Sal", "sal@corp.example")
	pd.AddUser("PAL", "Al", "al@corp.example")
	pd.SetOnCall(breakglasstest.OnCall{UserID: "POLIVIA", EscalationPolicyID: "PEP1", ScheduleID: "PSCHED1",
		Start: t0.Add(-time.Hour), End: t0.Add(8 * time.Hour)})
	pd.SetOnCall(breakglasstest.OnCall{UserID: "PSAL", EscalationPolicyID: "PEP2", EscalationLevel: 2})
	pd.SetIncident("PINC1", 101, "triggered", "Checkout down", "PEP1")
	pd.SetIncident("PINC2", 102, "acknowledged", "Checkout slow", "PEP1")
	pd.SetIncident("PINC3", 103, "resolved", "Old", "PEP1")
	pd.SetIncident("PINC4", 104, "triggered", "Someone else's", "PEP2")
	pd.SetIncident("PINC5", 105, "snoozed", "Odd status", "PEP1")
	return pd
}

func newPD(t *testing.T, pd *breakglasstest.PagerDuty, clk *clock, mod func(*ProviderConfig)) *PagerDuty {
	t.Helper()
	pc := ProviderConfig{Type: TypePagerDuty, BaseURL: pd.URL, Token: pdToken}
	if mod != nil {
		mod(&pc)
	}
	cfg := Config{Providers: map[string]ProviderConfig{"pd": pc}}.WithDefaults()
	p, err := NewPagerDuty("pd", cfg.Providers["pd"], noRedirects(nil), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPagerDutyOnCall(t *testing.T) {
	pd := pdFixture(t)
	cases := []struct {
		name  string
		mod   func(*ProviderConfig)
		email string
		at    time.Time
		want  bool
	}{
		{name: "on call now", email: "olivia@corp.example", at: t0, want: true},
		{name: "address in another case", email: "Olivia@Corp.Example", at: t0, want: true},
		{name: "at the start of the shift", email: "olivia@corp.example", at: t0.Add(-time.Hour), want: true},
		{name: "at the end of the shift (exclusive)", email: "olivia@corp.example", at: t0.Add(8 * time.Hour), want: false},
		{name: "before the shift", email: "olivia@corp.example", at: t0.Add(-2 * time.Hour), want: false},
		{name: "open-ended on-call", email: "sal@corp.example", at: t0, want: true},
		{name: "substring match is not the user", email: "al@corp.example", at: t0, want: false},
		{name: "unknown address", email: "nobody@corp.example", at: t0, want: false},
		{name: "malformed address", email: "olivia@corp.example@evil.example", at: t0, want: false},
		{name: "escalation policy filter", mod: func(p *ProviderConfig) { p.EscalationPolicyIDs = []string{"PEP1"} }, email: "sal@corp.example", at: t0, want: false},
		{name: "escalation policy filter admits", mod: func(p *ProviderConfig) { p.EscalationPolicyIDs = []string{"PEP1"} }, email: "olivia@corp.example", at: t0, want: true},
		{name: "schedule filter excludes direct entries", mod: func(p *ProviderConfig) { p.ScheduleIDs = []string{"PSCHED1"} }, email: "sal@corp.example", at: t0, want: false},
		{name: "level filter", mod: func(p *ProviderConfig) { p.MaxEscalationLevel = 1 }, email: "sal@corp.example", at: t0, want: false},
		{name: "level filter admits level 2", mod: func(p *ProviderConfig) { p.MaxEscalationLevel = 2 }, email: "sal@corp.example", at: t0, want: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPD(t, pd, newClock(t0), tc.mod)
			got, err := p.OnCall(context.Background(), tc.email, tc.at)
			if err != nil || got != tc.want {
				t.Fatalf("OnCall = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// The filters are applied to the answer too: a server that ignored them
// would not make anyone on call.
func TestPagerDutyFiltersTheAnswer(t *testing.T) {
	clk := newClock(t0)
	body := `{"oncalls":[{"user":{"id":"PX","type":"user_reference"},"escalation_policy":{"id":"PEP9"},"schedule":null,"escalation_level":1,"start":null,"end":null}],"more":false}`
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == "/users" {
			return jsonResponse(200, `{"users":[{"id":"PX","email":"x@corp.example"}],"more":false}`), nil
		}
		return jsonResponse(200, body), nil
	})}
	cfg := Config{Providers: map[string]ProviderConfig{"pd": {Type: TypePagerDuty, BaseURL: "https://pd.example", Token: "t",
		EscalationPolicyIDs: []string{"PEP1"}}}}.WithDefaults()
	p, err := NewPagerDuty("pd", cfg.Providers["pd"], client, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := p.OnCall(context.Background(), "x@corp.example", t0); got || err != nil {
		t.Fatalf("expected false for an entry outside the configured policies, got %v, %v", got, err)
	}
}

func TestPagerDutyRequests(t *testing.T) {
	pd := pdFixture(t)
	p := newPD(t, pd, newClock(t0), func(c *ProviderConfig) { c.EscalationPolicyIDs = []string{"PEP1"} })
	if _, err := p.OnCall(context.Background(), "olivia@corp.example", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := p.OnCall(context.Background(), "olivia@corp.example", t0); err != nil {
		t.Fatal(err)
	}
	reqs := pd.Requests()
	want := []string{
		"GET /users?limit=100&query=olivia%40corp.example",
		"GET /oncalls?escalation_policy_ids%5B%5D=PEP1&limit=100&offset=0&since=2026-11-04T10%3A00%3A00Z&until=2026-11-04T10%3A00%3A01Z&user_ids%5B%5D=POLIVIA",
		// The address is resolved again: it may belong to another user now.
		"GET /users?limit=100&query=olivia%40corp.example",
		"GET /oncalls?escalation_policy_ids%5B%5D=PEP1&limit=100&offset=0&since=2026-11-04T10%3A00%3A00Z&until=2026-11-04T10%3A00%3A01Z&user_ids%5B%5D=POLIVIA",
	}
	if strings.Join(reqs, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests =\n%s\nwant\n%s", strings.Join(reqs, "\n"), strings.Join(want, "\n"))
	}
}

func TestPagerDutyPaging(t *testing.T) {
	pd := breakglasstest.NewPagerDuty(t, pdToken)
	pd.AddUser("PU", "U", "u@corp.example")
	// 150 entries at level 3 that the level filter discards, then the one
	// that counts, on the second page.
	for range 150 {
		pd.SetOnCall(breakglasstest.OnCall{UserID: "PU", EscalationPolicyID: "PEP1", EscalationLevel: 3})
	}
	pd.SetOnCall(breakglasstest.OnCall{UserID: "PU", EscalationPolicyID: "PEP1", EscalationLevel: 1, Start: t0.Add(-time.Hour)})
	p := newPD(t, pd, newClock(t0), func(c *ProviderConfig) { c.MaxEscalationLevel = 1 })
	if got, err := p.OnCall(context.Background(), "u@corp.example", t0); !got || err != nil {
		t.Fatalf("OnCall = %v, %v; want true", got, err)
	}
	var pages int
	for _, r := range pd.Requests() {
		if strings.HasPrefix(r, "GET /oncalls?") {
			pages++
		}
	}
	if pages != 2 {
		t.Fatalf("expected 2 pages of on-calls, got %d", pages)
	}
}

func TestPagerDutyIncident(t *testing.T) {
	pd := pdFixture(t)
	cases := []struct {
		name       string
		mod        func(*ProviderConfig)
		id         string
		wantActive bool
		wantStatus string
		wantErr    string // "notfound", "unavailable" or ""
	}{
		{name: "triggered", id: "PINC1", wantActive: true, wantStatus: "triggered"},
		{name: "acknowledged", id: "PINC2", wantActive: true, wantStatus: "acknowledged"},
		{name: "resolved", id: "PINC3", wantStatus: "resolved"},
		{name: "by incident number", id: "101", wantActive: true, wantStatus: "triggered"},
		{name: "unknown", id: "PNOPE", wantErr: "notfound"},
		{name: "malformed ID", id: "a/../b", wantErr: "notfound"},
		{name: "unknown status fails closed", id: "PINC5", wantErr: "unavailable"},
		{name: "other escalation policy", mod: func(c *ProviderConfig) { c.EscalationPolicyIDs = []string{"PEP1"} }, id: "PINC4", wantErr: "notfound"},
		{name: "own escalation policy", mod: func(c *ProviderConfig) { c.EscalationPolicyIDs = []string{"PEP1"} }, id: "PINC1", wantActive: true, wantStatus: "triggered"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPD(t, pd, newClock(t0), tc.mod)
			inc, err := p.Incident(context.Background(), tc.id)
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
			if inc.ID != tc.id || inc.Active != tc.wantActive || inc.Status != tc.wantStatus || inc.Provider != "pd" ||
				!strings.HasPrefix(inc.URL, "https://acme.pagerduty.com/incidents/") || inc.Title == "" {
				t.Fatalf("Incident = %+v", inc)
			}
		})
	}
}

func TestPagerDutyFailures(t *testing.T) {
	type testCase struct {
		name   string
		inject func(pd *breakglasstest.PagerDuty)
		token  Secret
		status int
	}
	cases := []testCase{
		{name: "server error", inject: func(pd *breakglasstest.PagerDuty) { pd.FailNext(1, 500) }, status: 500},
		{name: "bad gateway", inject: func(pd *breakglasstest.PagerDuty) { pd.FailNext(1, 502) }, status: 502},
		{name: "garbage body", inject: func(pd *breakglasstest.PagerDuty) { pd.RespondNext(1, 200, nil, "<html>oops</html>") }, status: 200},
		{name: "wrong JSON shape", inject: func(pd *breakglasstest.PagerDuty) { pd.RespondNext(1, 200, nil, `{"incident":"PINC1"}`) }, status: 200},
		{name: "no incident object", inject: func(pd *breakglasstest.PagerDuty) { pd.RespondNext(1, 200, nil, `{}`) }, status: 200},
		{name: "oversized body", inject: func(pd *breakglasstest.PagerDuty) {
			pd.RespondNext(1, 200, nil, `{"incident":{"id":"PINC1","status":"triggered","title":"`+strings.Repeat("x", maxBody)+`"}}`)
		}, status: 200},
		{name: "redirect not followed", inject: func(pd *breakglasstest.PagerDuty) {
			pd.RespondNext(1, 302, http.Header{"Location": {"https://evil.example/"}}, "")
		}, status: 302},
		{name: "timeout", inject: func(pd *breakglasstest.PagerDuty) { pd.Hang(1) }, status: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pd := pdFixture(t)
			if tc.inject != nil {
				tc.inject(pd)
			}
			p := newPD(t, pd, newClock(t0), func(c *ProviderConfig) {
				c.Timeout = 200 * time.Millisecond
				if tc.token != "" {
					c.Token = tc.token
				}
			})
			_, err := p.Incident(context.Background(), "PINC1")
			var ue *UnavailableError
			if !errors.As(err, &ue) || ue.Status != tc.status || ue.Provider != "pd" {
				t.Fatalf("expected *UnavailableError with status %d, got %#v", tc.status, err)
			}
			if strings.Contains(err.Error(), pdToken) {
				t.Fatalf("expected the error without the token, got %v", err)
			}
			// The next call, without fault, works.
			if tc.token == "" {
				if _, err := p.Incident(context.Background(), "PINC1"); err != nil {
					t.Fatalf("after the fault: %v", err)
				}
			}
		})
	}
}

// A refused token is not an outage: it is a *MisconfiguredError (the
// operators must fix the configuration), and it names no secret.
func TestPagerDutyWrongToken(t *testing.T) {
	pd := pdFixture(t)
	p := newPD(t, pd, newClock(t0), func(c *ProviderConfig) { c.Token = "wrong" })
	_, err := p.Incident(context.Background(), "PINC1")
	var me *MisconfiguredError
	if !errors.As(err, &me) || me.Status != 401 || me.Provider != "pd" {
		t.Fatalf("expected *MisconfiguredError with status 401, got %#v", err)
	}
	if strings.Contains(err.Error(), pdToken) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("expected the error without the token, got %v", err)
	}
}

// A 429 keeps the client away from PagerDuty until Retry-After has passed.
func TestPagerDutyRateLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		wait   time.Duration
	}{
		{"Retry-After seconds", http.Header{"Retry-After": {"120"}}, 120 * time.Second},
		{"ratelimit-reset", http.Header{"Ratelimit-Reset": {"7"}}, 7 * time.Second},
		{"Retry-After date", http.Header{"Retry-After": {t0.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{"no header", nil, defaultRateLimitWait},
		{"absurd wait is capped", http.Header{"Retry-After": {"86400"}}, maxRateLimitWait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pd := pdFixture(t)
			clk := newClock(t0)
			p := newPD(t, pd, clk, nil)
			pd.RespondNext(1, 429, tc.header, `{"error":{"message":"Rate Limit Exceeded","code":2020}}`)
			_, err := p.Incident(context.Background(), "PINC1")
			var ue *UnavailableError
			if !errors.As(err, &ue) || ue.Status != 429 || !ue.RetryAfter.Equal(t0.Add(tc.wait)) {
				t.Fatalf("expected 429 until %s, got %v", t0.Add(tc.wait), err)
			}
			n := len(pd.Requests())
			clk.Set(t0.Add(tc.wait - time.Nanosecond))
			if _, err := p.Incident(context.Background(), "PINC1"); !errors.As(err, &ue) || len(pd.Requests()) != n {
				t.Fatalf("expected no request before Retry-After, got %v and %d requests", err, len(pd.Requests())-n)
			}
			clk.Set(t0.Add(tc.wait))
			if _, err := p.Incident(context.Background(), "PINC1"); err != nil || len(pd.Requests()) != n+1 {
				t.Fatalf("expected one request after Retry-After, got %v and %d requests", err, len(pd.Requests())-n)
			}
		})
	}
}

// The service against the fake: allowed on call with an active incident,
// refused off call, with a resolved incident, and when PagerDuty fails.
func TestServiceWithPagerDuty(t *testing.T) {
	pd := pdFixture(t)
	cfg := testConfig()
	cfg.Providers = map[string]ProviderConfig{"pd": {Type: TypePagerDuty, BaseURL: pd.URL, Token: pdToken,
		EscalationPolicyIDs: []string{"PEP1"}}}
	pol := cfg.Policies["oncall"]
	pol.Provider = "pd"
	cfg.Policies["oncall"] = pol
	f := newFixture(t, cfg, Options{})
	olivia := User{Email: "olivia@corp.example", Groups: []string{"sre"}, Session: "s-olivia"}
	sal := User{Email: "sal@corp.example", Groups: []string{"sre"}, Session: "s-sal"}
	ctx := context.Background()

	g, err := f.svc.Request(ctx, olivia, request("billing", "PINC1"))
	wantReason(t, err, "")
	if g.Incident.Title != "Checkout down" || g.Incident.Status != "triggered" {
		t.Fatalf("expected the incident in the grant, got %+v", g.Incident)
	}
	_, err = f.svc.Request(ctx, sal, request("billing", "PINC1"))
	wantReason(t, err, ReasonNotOnCall)
	_, err = f.svc.Request(ctx, olivia, request("billing", "PINC3"))
	wantReason(t, err, ReasonIncidentInactive)
	_, err = f.svc.Request(ctx, olivia, request("billing", "PINC4"))
	wantReason(t, err, ReasonIncidentNotFound)
	pd.FailNext(1, 503)
	_, err = f.svc.Request(ctx, olivia, request("billing", "PINC1"))
	wantReason(t, err, ReasonProviderUnavailable)

	// Resolved mid-grant.
	if err := f.svc.Activate(ctx, g); err != nil {
		t.Fatal(err)
	}
	pd.SetIncident("PINC1", 101, "resolved", "Checkout down", "PEP1")
	f.clk.Advance(DefaultRecheckInterval)
	active, _ := f.svc.Active(ctx, olivia, "billing")
	if still, err := f.svc.Recheck(ctx, *active); still || err != nil {
		t.Fatalf("expected the grant to end with its incident, got %v, %v", still, err)
	}
}

func jsonResponse(status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body))}
}

// An address moved from one PagerDuty user to another is decided on the
// user who has it now: the old user's on-call entries stop counting at
// once, not after a cached mapping expires.
func TestPagerDutyReassignedAddress(t *testing.T) {
	pd := breakglasstest.NewPagerDuty(t, pdToken)
	pd.AddUser("POLD", "Former owner", "oncall-lead@corp.example")
	pd.AddUser("PNEW", "New owner", "someone-else@corp.example")
	pd.SetOnCall(breakglasstest.OnCall{UserID: "POLD", EscalationPolicyID: "PEP1"})
	clk := newClock(t0)
	p := newPD(t, pd, clk, nil)
	ctx := context.Background()
	if got, err := p.OnCall(ctx, "oncall-lead@corp.example", clk.Now()); !got || err != nil {
		t.Fatalf("before the move: OnCall = %v, %v; want true, nil", got, err)
	}
	pd.SetUserEmail("POLD", "former-owner@corp.example")
	pd.SetUserEmail("PNEW", "oncall-lead@corp.example")
	clk.Advance(time.Minute)
	if got, err := p.OnCall(ctx, "oncall-lead@corp.example", clk.Now()); got || err != nil {
		t.Fatalf("after the address moved to a user not on call: OnCall = %v, %v; want false, nil", got, err)
	}
	// An address not known a moment ago counts once it is: the on-call
	// engineer added in the middle of the night is not refused for minutes.
	if got, err := p.OnCall(ctx, "newcomer@corp.example", clk.Now()); got || err != nil {
		t.Fatalf("unknown address: OnCall = %v, %v; want false, nil", got, err)
	}
	pd.AddUser("PTHIRD", "Newcomer", "newcomer@corp.example")
	pd.SetOnCall(breakglasstest.OnCall{UserID: "PTHIRD", EscalationPolicyID: "PEP1"})
	if got, err := p.OnCall(ctx, "newcomer@corp.example", clk.Now()); !got || err != nil {
		t.Fatalf("newcomer added and on call: OnCall = %v, %v; want true, nil", got, err)
	}
}
