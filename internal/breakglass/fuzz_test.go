package breakglass

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// FuzzParseRota: the parser never panics, what it accepts compiles, and an
// explicit shift's user is on call at the shift's start.
func FuzzParseRota(f *testing.F) {
	for _, s := range []string{
		berlinRota, laRota,
		"time_zone: UTC\n",
		"time_zone: UTC\nweekly: [{users: [a@b.example], days: [mon, sat-sun], from: '23:59', to: '00:01'}]\n",
		"time_zone: Asia/Kolkata\nshifts: [{users: [a@b.example], from: 2026-01-01 00:00, until: 2026-01-01T00:00:01Z}]\n",
		"time_zone: UTC\nincidents: [{id: X, status: active, url: 'https://x.example/'}]\n",
		"a: &a [x]\nb: *a\n",
		"time_zone: UTC\nweekly: [{users: [a@b.example], days: 'fri-mon', from: '00:00', to: '24:00'}]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRota(data)
		if err != nil {
			return
		}
		if p := r.Problems(); len(p) > 0 {
			t.Fatalf("accepted a rota with problems %q", p)
		}
		s, err := NewStatic("fuzz", r)
		if err != nil {
			t.Fatalf("accepted rota does not compile: %v", err)
		}
		for i, sh := range s.r.shifts {
			for u := range sh.users {
				if ok, _ := s.OnCall(context.Background(), u, sh.from); !ok {
					t.Fatalf("shift %d: %s is not on call at its start %s", i, u, sh.from)
				}
				break
			}
		}
		for _, w := range r.Weekly {
			for _, u := range w.Users {
				for _, at := range []time.Time{t0, t0.Add(13 * time.Hour), utc("2026-03-29T01:00:00Z"), utc("2026-10-25T01:30:00Z")} {
					_, _ = s.OnCall(context.Background(), u, at)
				}
			}
		}
	})
}

// FuzzWeeklyShift: any days/from/to the parser accepts gives a shift that
// holds from its start until just before its end, on every listed day (in a
// zone without DST that week).
func FuzzWeeklyShift(f *testing.F) {
	f.Add("mon-fri", "09:00", "17:00", "UTC")
	f.Add("sat,sun", "22:00", "06:00", "Europe/Berlin")
	f.Add("fri-mon", "00:00", "24:00", "America/Los_Angeles")
	f.Add("sun", "23:59", "00:00", "Asia/Kathmandu")
	f.Fuzz(func(t *testing.T, days, from, to, zone string) {
		loc, err := time.LoadLocation(zone)
		if err != nil || zone == "Local" || zone == "" {
			return
		}
		r := Rota{TimeZone: zone, Weekly: []WeeklyShift{{Users: []string{"u@corp.example"}, Days: Days{days}, From: from, To: to}}}
		s, err := NewStatic("fuzz", r)
		if err != nil {
			return
		}
		w := s.r.weekly[0]
		// The week of Monday 2026-01-12: no DST change anywhere.
		for d := range 7 {
			day := time.Date(2026, 1, 12+d, 0, 0, 0, 0, loc)
			if w.days&(1<<day.Weekday()) == 0 {
				continue
			}
			start, end := w.span(day, loc)
			if !end.After(start) {
				t.Fatalf("%s %s-%s: empty shift on %s", days, from, to, day)
			}
			for _, at := range []time.Time{start, end.Add(-time.Nanosecond), start.Add(end.Sub(start) / 2)} {
				if ok := s.r.onCall("u@corp.example", at); !ok {
					t.Fatalf("%s %s-%s in %s: not on call at %s (shift %s-%s)", days, from, to, zone, at, start, end)
				}
			}
		}
	})
}

// FuzzProviderResponse: whatever a provider answers, the clients neither
// panic nor call an incident active unless it said so.
func FuzzProviderResponse(f *testing.F) {
	f.Add(200, []byte(`{"incident":{"id":"P1","status":"triggered","title":"t","html_url":"https://x.example/i/P1"}}`))
	f.Add(200, []byte(`{"users":[{"id":"U1","email":"a@corp.example"}],"oncalls":[{"user":{"id":"U1"},"start":null,"end":"2030-01-01T00:00:00Z"}],"more":false}`))
	f.Add(200, []byte(`{"data":{"id":"x","status":"open","onCallRecipients":["a@corp.example"]}}`))
	f.Add(200, []byte(`{"data":{"_parent":{"id":"s","name":"S","enabled":true},"onCallRecipients":["a@corp.example"]}}`))
	f.Add(200, []byte(`{"data":{"_parent":{"id":"s","name":"S","enabled":false},"onCallRecipients":["a@corp.example"]}}`))
	f.Add(429, []byte(`{}`))
	f.Add(200, []byte(`{"oncalls":[{"user":{"id":"U1"},"start":"yesterday"}],"users":[{"id":"U1","email":"A@CORP.EXAMPLE"}]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {string(body[:min(len(body), 8)])}},
				Body: io.NopCloser(strings.NewReader(string(body)))}, nil
		})}
		clk := newClock(t0)
		cfg := Config{Providers: map[string]ProviderConfig{
			"pd": {Type: TypePagerDuty, BaseURL: "https://pd.example", Token: "t", MaxEscalationLevel: 2},
			"og": {Type: TypeOpsgenie, BaseURL: "https://og.example", APIKey: "k", Schedules: []string{"s"}},
		}}.WithDefaults()
		pd, _ := NewPagerDuty("pd", cfg.Providers["pd"], client, clk.Now)
		og, _ := NewOpsgenie("og", cfg.Providers["og"], client, clk.Now)
		for _, p := range []Provider{pd, og} {
			on, err := p.OnCall(context.Background(), "a@corp.example", t0)
			if err != nil && on {
				t.Fatal("on call together with an error")
			}
			if p == Provider(og) && on {
				// Only an enabled schedule puts anyone on call.
				var r struct {
					Data struct {
						Parent struct {
							Enabled *bool `json:"enabled"`
						} `json:"_parent"`
					} `json:"data"`
				}
				if json.Unmarshal(body, &r) != nil || r.Data.Parent.Enabled == nil || !*r.Data.Parent.Enabled {
					t.Fatalf("on call in a schedule not said to be enabled: %s", body)
				}
			}
			inc, err := p.Incident(context.Background(), "P1")
			if err != nil {
				var ue *UnavailableError
				if !errors.As(err, &ue) && !errors.Is(err, ErrNotFound) {
					t.Fatalf("expected unavailable or not found, got %T %v", err, err)
				}
				continue
			}
			if status < 200 || status > 299 {
				t.Fatalf("status %d answered an incident %+v", status, inc)
			}
			if inc.Active != (inc.Status == "triggered" || inc.Status == "acknowledged" || inc.Status == "open") {
				t.Fatalf("incident %+v: active does not follow the status", inc)
			}
			if inc.URL != "" && checkLinkURL(inc.URL) != nil {
				t.Fatalf("incident URL %q is not a clean link", inc.URL)
			}
		}
	})
}

// FuzzReason: an accepted reason is bounded, clean text, and its Slack
// form cannot open a link or mention.
func FuzzReason(f *testing.F) {
	for _, s := range []string{"checkout down", "<!channel>", "a\u202eb", "x\x00", strings.Repeat("é", 500), "&lt;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		esc := slackEscape(s)
		if strings.ContainsAny(esc, "<>") {
			t.Fatalf("escaped %q still has < or >: %q", s, esc)
		}
		if checkReason(s) != "" {
			return
		}
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxReason || s == "" {
			t.Fatalf("accepted reason %q", s)
		}
		for _, c := range s {
			if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) {
				t.Fatalf("accepted reason %q with %U", s, c)
			}
		}
	})
}
