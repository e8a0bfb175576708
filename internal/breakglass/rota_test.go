package breakglass

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const berlinRota = `
time_zone: Europe/Berlin
weekly:
  - users: [dana@corp.example]
    days: mon-fri
    from: "09:00"
    to: "17:00"
  - users: [erin@corp.example]
    days: mon-fri
    from: "22:00"
    to: "06:00"
  - users: [frank@corp.example]
    days: sun
    from: "02:30"
    to: "03:30"
  - users: [gina@corp.example]
    days: "fri-mon"
    from: "10:00"
    to: "11:00"
  - users: [ida@corp.example]
    days: "sat, sun"
    from: "00:00"
    to: "24:00"
shifts:
  - users: [hank@corp.example]
    from: 2026-12-24 18:00
    until: 2026-12-27 08:00
  - users: [hank@corp.example, ida@corp.example]
    from: 2026-12-31T23:00:00Z
    until: 2027-01-01T01:00:00Z
incidents:
  - id: INC-1
    title: Payments
    status: active
  - id: INC-2
    status: resolved
`

const laRota = `
time_zone: America/Los_Angeles
weekly:
  - users: [ivy@corp.example]
    days: sun
    from: "02:00"
    to: "03:00"
  - users: [jay@corp.example]
    days: sun
    from: "01:00"
    to: "02:00"
`

// laShifts: explicit local ranges whose ends fall on the changes of
// 2026 in Los Angeles: 02:30 on 2026-03-08 does not exist (the clock jumps
// from 02:00 PST to 03:00 PDT, 10:00 UTC), 01:30 on 2026-11-01 happens twice
// (08:30 UTC in PDT, 09:30 UTC in PST).
const laShifts = `
time_zone: America/Los_Angeles
shifts:
  - users: [kim@corp.example]
    from: 2026-03-07 20:00
    until: 2026-03-08 02:30
  - users: [lou@corp.example]
    from: 2026-03-08 02:30
    until: 2026-03-08 06:00
  - users: [max@corp.example]
    from: 2026-10-31 20:00
    until: 2026-11-01 01:30
`

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestRotaOnCall(t *testing.T) {
	cases := []struct {
		name, rota, user, at string
		want                 bool
	}{
		// 2026-11-04 is a Wednesday; Berlin is UTC+1 (CET).
		{"day shift, at its start", berlinRota, "dana@corp.example", "2026-11-04T08:00:00Z", true},
		{"day shift, 1ns before it", berlinRota, "dana@corp.example", "2026-11-04T07:59:59.999999999Z", false},
		{"day shift, 1ns before its end", berlinRota, "dana@corp.example", "2026-11-04T15:59:59.999999999Z", true},
		{"day shift, at its end", berlinRota, "dana@corp.example", "2026-11-04T16:00:00Z", false},
		{"day shift, Saturday", berlinRota, "dana@corp.example", "2026-11-07T10:00:00Z", false},
		{"address in another case", berlinRota, "Dana@CORP.example", "2026-11-04T10:00:00Z", true},
		{"someone else", berlinRota, "zoe@corp.example", "2026-11-04T10:00:00Z", false},
		{"night shift, Friday 23:00", berlinRota, "erin@corp.example", "2026-11-06T22:00:00Z", true},
		{"night shift after midnight belongs to Friday", berlinRota, "erin@corp.example", "2026-11-07T04:59:59Z", true},
		{"night shift, Saturday 06:00 (end)", berlinRota, "erin@corp.example", "2026-11-07T05:00:00Z", false},
		{"Sunday night is no shift", berlinRota, "erin@corp.example", "2026-11-09T02:00:00Z", false},
		{"Monday night is", berlinRota, "erin@corp.example", "2026-11-10T02:00:00Z", true},
		{"wrapping day range, Sunday", berlinRota, "gina@corp.example", "2026-11-08T09:30:00Z", true},
		{"wrapping day range, Monday", berlinRota, "gina@corp.example", "2026-11-09T09:30:00Z", true},
		{"wrapping day range, Tuesday", berlinRota, "gina@corp.example", "2026-11-10T09:30:00Z", false},
		{"whole weekend, Saturday 00:00", berlinRota, "ida@corp.example", "2026-11-06T23:00:00Z", true},
		{"whole weekend, Monday 00:00 (end)", berlinRota, "ida@corp.example", "2026-11-08T23:00:00Z", false},
		{"whole weekend, Sunday 23:59", berlinRota, "ida@corp.example", "2026-11-08T22:59:59Z", true},
		// Spring forward 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC);
		// 02:30 does not exist, so the shift starts at the jump.
		{"skipped hour: before the jump", berlinRota, "frank@corp.example", "2026-03-29T00:59:59Z", false},
		{"skipped hour: at the jump", berlinRota, "frank@corp.example", "2026-03-29T01:00:00Z", true},
		{"skipped hour: 03:29:59 CEST", berlinRota, "frank@corp.example", "2026-03-29T01:29:59Z", true},
		{"skipped hour: 03:30 CEST (end)", berlinRota, "frank@corp.example", "2026-03-29T01:30:00Z", false},
		// Fall back 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:30
		// happens twice, the shift starts at the first and ends at 03:30 CET.
		{"repeated hour: first 02:30", berlinRota, "frank@corp.example", "2026-10-25T00:30:00Z", true},
		{"repeated hour: before the first 02:30", berlinRota, "frank@corp.example", "2026-10-25T00:29:59Z", false},
		{"repeated hour: second 02:30", berlinRota, "frank@corp.example", "2026-10-25T01:30:00Z", true},
		{"repeated hour: 03:30 CET (end)", berlinRota, "frank@corp.example", "2026-10-25T02:30:00Z", false},
		// Los Angeles: spring forward 2026-03-08 at 02:00 PST (10:00 UTC);
		// a shift wholly inside the skipped hour is empty that day.
		{"LA shift inside the skipped hour", laRota, "ivy@corp.example", "2026-03-08T10:00:00Z", false},
		{"LA shift a week later", laRota, "ivy@corp.example", "2026-03-15T09:30:00Z", true},
		// Fall back 2026-11-01: 01:00-02:00 happens twice; the shift runs
		// until the clock first shows 02:00 (PST, 10:00 UTC): two real hours.
		{"LA repeated hour: first 01:00 PDT", laRota, "jay@corp.example", "2026-11-01T08:00:00Z", true},
		{"LA repeated hour: second 01:30 PST", laRota, "jay@corp.example", "2026-11-01T09:30:00Z", true},
		{"LA repeated hour: 02:00 PST (end)", laRota, "jay@corp.example", "2026-11-01T10:00:00Z", false},
		// Explicit local ranges follow the same rule as weekly shifts: a
		// skipped time is the jump, a repeated one its first occurrence.
		{"explicit end in the skipped hour: at the jump", laShifts, "kim@corp.example", "2026-03-08T10:00:00Z", false},
		{"explicit end in the skipped hour: 03:15 PDT", laShifts, "kim@corp.example", "2026-03-08T10:15:00Z", false},
		{"explicit end in the skipped hour: before the jump", laShifts, "kim@corp.example", "2026-03-08T09:59:59Z", true},
		{"explicit start in the skipped hour: at the jump", laShifts, "lou@corp.example", "2026-03-08T10:00:00Z", true},
		{"explicit start in the skipped hour: 01:45 PST, before it", laShifts, "lou@corp.example", "2026-03-08T09:45:00Z", false},
		{"explicit end in the repeated hour: first 01:30 PDT", laShifts, "max@corp.example", "2026-11-01T08:30:00Z", false},
		{"explicit end in the repeated hour: just before", laShifts, "max@corp.example", "2026-11-01T08:29:59Z", true},
		{"explicit local range, start", berlinRota, "hank@corp.example", "2026-12-24T17:00:00Z", true},
		{"explicit local range, before", berlinRota, "hank@corp.example", "2026-12-24T16:59:59Z", false},
		{"explicit local range, end", berlinRota, "hank@corp.example", "2026-12-27T07:00:00Z", false},
		{"explicit RFC 3339 range", berlinRota, "hank@corp.example", "2027-01-01T00:59:59Z", true},
		{"explicit range on a leap day", berlinRota, "hank@corp.example", "2028-02-29T12:00:00Z", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRota([]byte(tc.rota))
			if err != nil {
				t.Fatal(err)
			}
			s, err := NewStatic("rota", r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.OnCall(context.Background(), tc.user, utc(tc.at))
			if err != nil || got != tc.want {
				t.Fatalf("OnCall(%s, %s) = %v, %v; want %v", tc.user, tc.at, got, err, tc.want)
			}
		})
	}
}

func TestWallInstant(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	la, _ := time.LoadLocation("America/Los_Angeles")
	cases := []struct {
		name     string
		y        int
		m        time.Month
		d, h, mi int
		loc      *time.Location
		want     string
	}{
		{"ordinary", 2026, 11, 4, 9, 0, berlin, "2026-11-04T08:00:00Z"},
		{"Berlin skipped", 2026, 3, 29, 2, 30, berlin, "2026-03-29T01:00:00Z"},
		{"Berlin repeated: first", 2026, 10, 25, 2, 30, berlin, "2026-10-25T00:30:00Z"},
		{"LA skipped", 2026, 3, 8, 2, 30, la, "2026-03-08T10:00:00Z"},
		{"LA repeated: first", 2026, 11, 1, 1, 30, la, "2026-11-01T08:30:00Z"},
		{"24:00 is the next midnight", 2026, 2, 28, 24, 0, berlin, "2026-02-28T23:00:00Z"},
		{"leap day", 2028, 2, 29, 12, 0, time.UTC, "2028-02-29T12:00:00Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := wallInstant(tc.y, tc.m, tc.d, tc.h*60+tc.mi, tc.loc)
			if !got.Equal(utc(tc.want)) {
				t.Fatalf("wallInstant = %s, want %s", got.UTC(), tc.want)
			}
		})
	}
}

func TestParseRotaProblems(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"unknown key", "time_zone: UTC\nweekley: []\n", `unknown field "weekley"`},
		{"empty", "", "expected a mapping"},
		{"not a mapping", "- a\n", "breakglass: rota:"},
		{"no zone", "weekly: []\n", "time_zone: expected an IANA time zone"},
		{"Local zone", "time_zone: Local\n", `time_zone: expected an IANA time zone such as Europe/Berlin, got "Local"`},
		{"machine's zone file", "time_zone: localtime\n", `time_zone: expected an IANA time zone such as Europe/Berlin, got "localtime" (it depends on the machine)`},
		{"leap-second copy", "time_zone: right/UTC\n", `time_zone: expected an IANA time zone such as Europe/Berlin, got "right/UTC" (a copy in the system's zone directory only; write UTC)`},
		{"unknown zone", "time_zone: Europe/Atlantis\n", `got "Europe/Atlantis"`},
		{"bad day", "time_zone: UTC\nweekly: [{users: [a@corp.example], days: funday, from: '09:00', to: '10:00'}]\n", `weekly[0].days: expected days such as mon, mon-fri or sat,sun, got "funday"`},
		{"no days", "time_zone: UTC\nweekly: [{users: [a@corp.example], from: '09:00', to: '10:00'}]\n", "weekly[0].days: expected days such as mon-fri"},
		{"days as a number", "time_zone: UTC\nweekly: [{users: [a@corp.example], days: {a: 1}, from: '09:00', to: '10:00'}]\n", "expected days such as mon-fri or [mon, wed]"},
		{"short hour", "time_zone: UTC\nweekly: [{users: [a@corp.example], days: mon, from: '9:00', to: '10:00'}]\n", `weekly[0].from: expected a time of day HH:MM, got "9:00"`},
		{"25:00", "time_zone: UTC\nweekly: [{users: [a@corp.example], days: mon, from: '09:00', to: '25:00'}]\n", `weekly[0].to: expected a time of day HH:MM, got "25:00"`},
		{"24:01", "time_zone: UTC\nweekly: [{users: [a@corp.example], days: mon, from: '09:00', to: '24:01'}]\n", `got "24:01"`},
		{"minute 60", "time_zone: UTC\nweekly: [{users: [a@corp.example], days: mon, from: '09:60', to: '10:00'}]\n", `got "09:60"`},
		{"start at 24:00", "time_zone: UTC\nweekly: [{users: [a@corp.example], days: mon, from: '24:00', to: '10:00'}]\n", `weekly[0].from: expected a start before 24:00`},
		{"from equals to", "time_zone: UTC\nweekly: [{users: [a@corp.example], days: mon, from: '09:00', to: '09:00'}]\n", `weekly[0].to: expected an end different from from ("09:00"), got "09:00"`},
		{"no users", "time_zone: UTC\nweekly: [{days: mon, from: '09:00', to: '10:00'}]\n", "weekly[0].users: expected at least one user"},
		{"bad user", "time_zone: UTC\nweekly: [{users: ['Alice <a@corp.example>'], days: mon, from: '09:00', to: '10:00'}]\n", `weekly[0].users[0]: expected an email address, got "Alice <a@corp.example>"`},
		{"until before from", "time_zone: UTC\nshifts: [{users: [a@corp.example], from: 2026-01-02 00:00, until: 2026-01-01 00:00}]\n", `shifts[0].until: expected an instant after from`},
		{"bad instant", "time_zone: UTC\nshifts: [{users: [a@corp.example], from: tomorrow, until: 2026-01-01 00:00}]\n", `shifts[0].from: expected an RFC 3339 instant or YYYY-MM-DD HH:MM, got "tomorrow"`},
		{"duplicate incident", "time_zone: UTC\nincidents: [{id: A, status: active}, {id: A, status: resolved}]\n", `incidents[1].id: incident "A" listed twice`},
		{"bad incident status", "time_zone: UTC\nincidents: [{id: A, status: open}]\n", `incidents[0].status: expected active or resolved, got "open"`},
		{"bad incident id", "time_zone: UTC\nincidents: [{id: 'a b', status: active}]\n", `incidents[0].id: expected an ID`},
		{"bad incident url", "time_zone: UTC\nincidents: [{id: A, status: active, url: 'javascript:alert(1)'}]\n", `incidents[0].url: expected an http(s) URL`},
		{"duplicate key", "time_zone: UTC\ntime_zone: UTC\n", "time_zone"},
		{"tag on a scalar where a list belongs (decoder panic upstream)", "weekly:\n  ! 00", "breakglass: rota: malformed YAML"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRota([]byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseRota: expected an error containing %q, got %v", tc.want, err)
			}
		})
	}
	big := make([]byte, maxRotaSize+1)
	if _, err := ParseRota(big); err == nil {
		t.Fatal("expected an oversized rota to be refused")
	}
}

// A rota file whose aliases repeat a long list of users is refused before
// it is decoded and compiled: each alias would be walked again.
func TestParseRotaRefusesAliasExpansion(t *testing.T) {
	var b strings.Builder
	b.WriteString("time_zone: UTC\nweekly:\n  - &w {days: mon, from: '09:00', to: '10:00', users: [")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "u%d@corp.example", i)
	}
	b.WriteString("]}\n")
	for range 1100 {
		b.WriteString("  - *w\n")
	}
	_, err := ParseRota([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases (*name, <<: *name) expand") {
		t.Fatalf("ParseRota of 1100 aliases to 1000 users: %.300v", err)
	}
}

func TestStaticIncident(t *testing.T) {
	r, err := ParseRota([]byte(berlinRota))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewStatic("rota", r)
	inc, err := s.Incident(context.Background(), "INC-1")
	if err != nil || inc != (Incident{ID: "INC-1", Provider: "rota", Title: "Payments", Status: StatusActive, Active: true}) {
		t.Fatalf("Incident(INC-1) = %+v, %v", inc, err)
	}
	if inc, err := s.Incident(context.Background(), "INC-2"); err != nil || inc.Active {
		t.Fatalf("Incident(INC-2) = %+v, %v", inc, err)
	}
	if _, err := s.Incident(context.Background(), "inc-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expected IDs to be case-sensitive, got %v", err)
	}
}

func TestParseDays(t *testing.T) {
	cases := []struct {
		in   Days
		want uint8
	}{
		{Days{"mon"}, 1 << time.Monday},
		{Days{"mon-fri"}, 0b0111110},
		{Days{"sat,sun"}, 1<<time.Saturday | 1<<time.Sunday},
		{Days{"fri-mon"}, 1<<time.Friday | 1<<time.Saturday | 1<<time.Sunday | 1<<time.Monday},
		{Days{"MON", " wed "}, 1<<time.Monday | 1<<time.Wednesday},
		{Days{"sun-sat"}, 0b1111111},
		{Days{"mon-mon"}, 1 << time.Monday},
	}
	for _, tc := range cases {
		got, err := parseDays(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseDays(%q) = %07b, %v; want %07b", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []Days{{}, {""}, {"mon-"}, {"-fri"}, {"monday"}, {"mon,,tue"}, {"mon-fri-sun"}} {
		if _, err := parseDays(bad); err == nil {
			t.Errorf("parseDays(%q): expected an error", bad)
		}
	}
}
