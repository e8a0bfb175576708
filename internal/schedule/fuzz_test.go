package schedule

import (
	"strings"
	"testing"
	"time"
)

// FuzzWindow feeds arbitrary days/from/to strings to the window parser.
// A window is either refused with a problem naming its field, or compiles
// into a week of sorted, disjoint, non-touching spans within the day that
// agree with the naive definition.
func FuzzWindow(f *testing.F) {
	for _, s := range [][3]string{
		{"mon-fri", "17:00", "21:00"}, {"sat,sun", "22:00", "02:00"}, {"fri-mon", "", ""}, {"Monday", "00:00", "24:00"},
		{"mon-mon", "09:00", "09:00"}, {"mon,,fri", "24:00", "25:00"}, {"", "9:00", "17:0"}, {"sun , sat", "23:59", "00:00"},
		{"tue-", "-1:00", "+1:00"}, {"wed-thu-fri", "12:00", ""}, {"\x00", "٠٩:٠٠", "17:00"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	zone := time.FixedZone("fuzz", 0)
	f.Fuzz(func(t *testing.T, days, from, to string) {
		w := Window{Days: Days{days}, From: from, To: to}
		c, probs := compileSchedule("s", Schedule{TimeZone: "UTC", Windows: []Window{w}})
		if c == nil {
			if len(probs) == 0 {
				t.Fatal("refused without a problem")
			}
			for _, p := range probs {
				if !strings.HasPrefix(p.Path, ".s.windows[0]") {
					t.Fatalf("problem %q does not name the window", p)
				}
			}
			return
		}
		if len(probs) > 0 {
			t.Fatalf("compiled with problems %q", probs)
		}
		for d, spans := range c.week {
			for i, sp := range spans {
				if sp.from < 0 || sp.to > daySeconds || sp.from >= sp.to {
					t.Fatalf("day %d: bad span %+v", d, sp)
				}
				if i > 0 && spans[i-1].to >= sp.from {
					t.Fatalf("day %d: spans %+v not sorted, disjoint and apart", d, spans)
				}
			}
		}
		if c.Describe() == "" {
			t.Fatal("empty Describe")
		}
		// Probe a week of quarter hours against the naive definition.
		ref := newNaive(Schedule{TimeZone: "UTC", Windows: []Window{w}})
		start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
		for i := 0; i < 7*24*4; i++ {
			at := start.Add(time.Duration(i) * 15 * time.Minute)
			if got, want := c.wallOpenAt(at), ref.open(zone, at); got != want {
				t.Fatalf("%+v at %s: open %v, want %v", w, at, got, want)
			}
		}
	})
}

// wallOpenAt is Open without the zone lookup or cache (for UTC).
func (c *Compiled) wallOpenAt(t time.Time) bool {
	open, _ := c.wallOpen(t.Unix(), t.Unix()+1)
	return open
}

// fuzzZones are the zones FuzzOpenNext picks from.
var fuzzZones = []string{"UTC", "Europe/Berlin", "America/Los_Angeles", "Australia/Lord_Howe", "America/Santiago", "Pacific/Apia", "Asia/Kathmandu", "America/Havana"}

// FuzzOpenNext checks the invariants of Open and Next for arbitrary
// windows, zones, holidays and instants:
//   - Open agrees with the naive definition;
//   - Open(t) open => until > t, Open(until-1ns) is open, and the schedule
//     is closed at until (unless the stretch was cut at 31 days);
//   - Next(t) is zero or >= t and open, and closed a nanosecond before
//     (unless it is t itself).
func FuzzOpenNext(f *testing.F) {
	f.Add("mon-fri", "17:00", "21:00", "sat", "22:00", "02:00", uint8(1), int64(1796680800), int64(0), "2026-12-25")
	f.Add("sun", "02:00", "03:00", "sun", "01:30", "02:30", uint8(2), int64(1772960000), int64(5), "")
	f.Add("sun", "01:00", "02:00", "sat", "23:00", "24:00", uint8(2), int64(1793520000), int64(999999999), "2026-11-01")
	f.Add("mon-sun", "", "", "sun", "00:00", "01:00", uint8(4), int64(1788667200), int64(0), "2026-09-06")
	f.Add("fri", "", "", "thu", "23:00", "01:00", uint8(5), int64(1325152799), int64(1), "2011-12-31")
	f.Fuzz(func(t *testing.T, d1, f1, t1, d2, f2, t2 string, zi uint8, sec, nsec int64, holiday string) {
		s := Schedule{
			TimeZone: fuzzZones[int(zi)%len(fuzzZones)],
			Windows:  []Window{{Days: Days{d1}, From: f1, To: t1}, {Days: Days{d2}, From: f2, To: t2}},
		}
		if holiday != "" {
			s.Except = []string{holiday}
		}
		c, probs := compileSchedule("s", s)
		if c == nil {
			if len(probs) == 0 {
				t.Fatal("refused without a problem")
			}
			return
		}
		// Instants from 1900 to 2200, where zone offsets are whole minutes
		// in these zones (before that, local mean time has seconds).
		lo, hi := int64(-2208988800), int64(7258118400)
		sec = lo + mod(sec, hi-lo)
		at := time.Unix(sec, mod(nsec, 1e9))
		loc := c.loc
		if got, want := c.mustOpen(at), naiveOpen(s, loc, at); got != want {
			t.Fatalf("%+v: Open(%s) = %v, naive %v", s, at.In(loc).Format(time.RFC3339Nano), got, want)
		}
		if open, until := c.Open(at); open {
			if !until.After(at) {
				t.Fatalf("Open(%s) until %s, not after t", at, until)
			}
			if !c.mustOpen(until.Add(-time.Nanosecond)) {
				t.Fatalf("Open(%s) until %s, but closed just before", at, until)
			}
			if u, _ := c.openUntil(at.Unix()); u-at.Unix() < maxStretch && c.mustOpen(until) {
				t.Fatalf("Open(%s) until %s, but still open then", at.In(loc), until.In(loc))
			}
		}
		next := c.Next(at)
		if next.IsZero() {
			return
		}
		if next.Before(at) || !c.mustOpen(next) {
			t.Fatalf("Next(%s) = %s: before t or closed", at, next)
		}
		if !next.Equal(at) && c.mustOpen(next.Add(-time.Nanosecond)) {
			t.Fatalf("Next(%s) = %s, but open a nanosecond earlier", at.In(loc), next.In(loc))
		}
	})
}

// mustOpen is Open's answer without the cache.
func (c *Compiled) mustOpen(t time.Time) bool {
	_, ok := c.openUntil(t.Unix())
	return ok
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// FuzzParseICS: any bytes as an except_ics file either yield problems or
// holiday dates within the years a date can have, and never panic.
func FuzzParseICS(f *testing.F) {
	f.Add([]byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261225\r\nRRULE:FREQ=YEARLY\r\nEXDATE;VALUE=DATE:20271225\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"))
	f.Add([]byte("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20261224\nDURATION:P2D\nRDATE;VALUE=DATE:20281224\nEND:VEVENT\nEND:VCALENDAR\n"))
	f.Add([]byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261126\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4TH\r\nEND:VEVENT\r\nEND:VCALENDAR"))
	f.Add([]byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;TZID=Europe/Berlin:20261224T100000\r\n SUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"))
	f.Add([]byte("END:VCALENDAR"))
	min, max := dayNumber(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)), dayNumber(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC))
	f.Fuzz(func(t *testing.T, b []byte) {
		days, probs := parseICS("f.ics", b)
		if len(probs) > 0 {
			return
		}
		if len(days) > maxICSDays+maxEventDays {
			t.Fatalf("%d days", len(days))
		}
		for _, d := range days {
			if d < min || d > max+maxEventDays {
				t.Fatalf("day %d out of range", d)
			}
		}
	})
}
