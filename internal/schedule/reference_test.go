package schedule

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// referenceSchedules are shaped to hit the edges: windows around the
// hours that daylight-saving changes skip or repeat (01:00–03:00 in most
// zones, midnight in some), windows across midnight, whole days, windows
// that merge into one stretch, and holidays.
var referenceSchedules = []Schedule{
	{Windows: []Window{win("mon-fri", "09:00", "17:00")}},
	{Windows: []Window{win("sun", "02:00", "03:00"), win("sun", "01:30", "02:30"), win("sat", "23:30", "00:30")}},
	{Windows: []Window{win("sat,sun", "01:00", "02:00"), win("mon-fri", "02:15", "02:45")}},
	{Windows: []Window{win("fri-sun", "22:00", "02:00")}},
	{Windows: []Window{win("sat", "17:00", "24:00"), win("sun", "00:00", "03:00"), win("sun", "03:00", "04:00")}},
	{Windows: []Window{{Days: Days{"mon-sun"}}}, // all day, with holidays on change days
		Except: []string{"2026-03-08", "2026-03-29", "2026-10-25", "2026-11-01", "2026-04-05", "2026-09-06"}},
	{Windows: []Window{win("mon-fri", "08:00", "20:00"), win("sat", "23:00", "02:00")}, From: "2026-03-08", Until: "2026-10-25"},
	{Windows: []Window{win("mon-sun", "23:00", "01:00"), win("tue,thu", "00:30", "23:30")}},
	{Windows: []Window{win("sun", "00:00", "24:00")}},
}

// referenceZones have the daylight-saving shapes that matter: the US and EU
// rules, a 30-minute change (Lord Howe), changes at midnight (Santiago,
// Havana), southern hemisphere, odd offsets (Kathmandu, St John's), none
// (UTC), and a skipped calendar day (Apia, 2011-12-30).
var referenceZones = []struct {
	zone string
	year int
}{
	{"America/Los_Angeles", 2026},
	{"Europe/Berlin", 2026},
	{"Australia/Lord_Howe", 2026},
	{"America/Santiago", 2026},
	{"America/Havana", 2026},
	{"America/St_Johns", 2026},
	{"Asia/Kathmandu", 2026},
	{"UTC", 2026},
	{"Pacific/Apia", 2011},
}

// transitions finds the instants in year at which loc's offset changes.
func transitions(loc *time.Location, year int) []time.Time {
	var out []time.Time
	t := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(year+1, 1, 1, 0, 0, 0, 0, time.UTC)
	for t.Before(end) {
		_, e := t.In(loc).ZoneBounds()
		if e.IsZero() || !e.Before(end) {
			break
		}
		out = append(out, e)
		t = e
	}
	return out
}

// TestReferenceAroundTransitions compares Open and Next, minute by minute
// (and at each minute's last nanosecond), with the naive definition over
// four days around every offset change of a year, in zones with every kind of
// change. Until and next are checked against the first closed and first
// open minute found by scanning.
func TestReferenceAroundTransitions(t *testing.T) {
	for _, z := range referenceZones {
		loc, err := time.LoadLocation(z.zone)
		if err != nil {
			t.Fatal(err)
		}
		trs := transitions(loc, z.year)
		if z.zone != "UTC" && z.zone != "Asia/Kathmandu" && len(trs) == 0 {
			t.Fatalf("%s: expected offset changes in %d, found none", z.zone, z.year)
		}
		if len(trs) == 0 {
			trs = []time.Time{time.Date(z.year, 2, 28, 12, 0, 0, 0, time.UTC)}
		}
		for si, s := range referenceSchedules {
			s.TimeZone = z.zone
			c := compile(t, s)
			for _, tr := range trs {
				name := fmt.Sprintf("%s/schedule%d/%s", z.zone, si, tr.UTC().Format(time.DateTime))
				t.Run(name, func(t *testing.T) {
					checkRange(t, c, s, loc, tr.Add(-2*24*time.Hour).Truncate(time.Minute), 4*24*60)
				})
			}
		}
	}
}

// checkRange checks n minutes from start.
func checkRange(t *testing.T, c *Compiled, s Schedule, loc *time.Location, start time.Time, n int) {
	t.Helper()
	ref := newNaive(s)
	open := make([]bool, n)
	for i := range open {
		open[i] = ref.open(loc, start.Add(time.Duration(i)*time.Minute))
	}
	// firstClosed[i], firstOpen[i]: first minute index >= i that is closed
	// or open; n means "not within the range".
	firstClosed, firstOpen := make([]int, n+1), make([]int, n+1)
	firstClosed[n], firstOpen[n] = n, n
	for i := n - 1; i >= 0; i-- {
		firstClosed[i], firstOpen[i] = firstClosed[i+1], firstOpen[i+1]
		if open[i] {
			firstOpen[i] = i
		} else {
			firstClosed[i] = i
		}
	}
	fails := 0
	fail := func(format string, a ...any) {
		t.Helper()
		if fails++; fails <= 10 {
			t.Errorf(format, a...)
		}
	}
	minute := func(i int) time.Time { return start.Add(time.Duration(i) * time.Minute) }
	for i := 0; i < n; i++ {
		for _, at := range []time.Time{minute(i), minute(i).Add(59*time.Second + 999999999)} {
			got, until := c.Open(at)
			u, uncached := c.openUntil(at.Unix())
			if got != open[i] || uncached != open[i] {
				fail("Open(%s) = %v (uncached %v), want %v", at.In(loc).Format(time.RFC3339Nano), got, uncached, open[i])
				continue
			}
			if got {
				// The cache answers with the end it found for an earlier
				// instant of the stretch; that differs only when the
				// stretch is longer than maxStretch.
				if u-at.Unix() < maxStretch && !until.Equal(time.Unix(u, 0)) {
					fail("Open(%s): cached until %s, uncached %s", at.In(loc).Format(time.RFC3339), until, time.Unix(u, 0).In(loc))
				}
				if fc := firstClosed[i]; fc < n && !until.Equal(minute(fc)) {
					fail("Open(%s) until %s, want %s", at.In(loc).Format(time.RFC3339), until.Format(time.RFC3339), minute(fc).In(loc).Format(time.RFC3339))
				} else if fc == n && until.Before(minute(n)) {
					fail("Open(%s) until %s, want after %s", at.In(loc).Format(time.RFC3339), until.Format(time.RFC3339), minute(n).In(loc).Format(time.RFC3339))
				}
			}
			next := c.Next(at)
			switch fo := firstOpen[i]; {
			case open[i]:
				if !next.Equal(at) {
					fail("Next(%s) = %s, want itself (open)", at.In(loc).Format(time.RFC3339Nano), next)
				}
			case fo < n:
				want := minute(fo)
				if !next.Equal(want) {
					fail("Next(%s) = %s, want %s", at.In(loc).Format(time.RFC3339Nano), next.Format(time.RFC3339), want.In(loc).Format(time.RFC3339))
				}
			default:
				if !next.IsZero() && next.Before(minute(n)) {
					fail("Next(%s) = %s, want none before %s", at.In(loc).Format(time.RFC3339), next.Format(time.RFC3339), minute(n).In(loc).Format(time.RFC3339))
				}
			}
		}
	}
}

// TestReferenceRandomInstants compares Open with the naive definition at
// random instants from 1850 to 2150 (before 1900 zones had offsets of odd
// seconds, after 2037 the rules come from the zone's rule string).
func TestReferenceRandomInstants(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	lo := time.Date(1850, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2150, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for _, z := range referenceZones {
		loc, err := time.LoadLocation(z.zone)
		if err != nil {
			t.Fatal(err)
		}
		for si, s := range referenceSchedules {
			s.TimeZone = z.zone
			c := compile(t, s)
			ref := newNaive(s)
			for i := 0; i < 1000; i++ {
				at := time.Unix(lo+r.Int64N(hi-lo), r.Int64N(1e9))
				want := ref.open(loc, at)
				got, until := c.Open(at)
				if got != want {
					t.Fatalf("%s schedule%d: Open(%s) = %v, want %v", z.zone, si, at.In(loc).Format(time.RFC3339Nano), got, want)
				}
				if got && (!until.After(at) || !ref.open(loc, until.Add(-time.Nanosecond))) {
					t.Fatalf("%s schedule%d: Open(%s) until %s: not after t, or closed just before", z.zone, si, at.In(loc).Format(time.RFC3339Nano), until)
				}
				if n := c.Next(at); !n.IsZero() && (n.Before(at) || !ref.open(loc, n)) {
					t.Fatalf("%s schedule%d: Next(%s) = %s: before t, or closed", z.zone, si, at.In(loc).Format(time.RFC3339Nano), n)
				}
			}
		}
	}
}
