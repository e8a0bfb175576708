package schedule

import (
	"testing"
	"time"
)

// compile compiles one schedule called "s" or fails the test.
func compile(t testing.TB, s Schedule) *Compiled {
	t.Helper()
	set, err := Compile(Config{"s": s})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return set.Get("s")
}

// instant parses an RFC 3339 time with its offset: an exact instant even
// in a repeated hour.
func instant(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad test instant %q: %v", s, err)
	}
	return v
}

// win builds a window.
func win(days, from, to string) Window {
	return Window{Days: Days{days}, From: from, To: to}
}

// naiveOpen is the definition of the schedule, written independently of
// the wall-axis code: read t on the zone's wall clock; it is open when that
// date is allowed and a window covers that time of day, either a window of
// that day or the after-midnight part of a window of the day before.
func naiveOpen(s Schedule, loc *time.Location, t time.Time) bool {
	return newNaive(s).open(loc, t)
}

// naive is a schedule prepared for naiveOpen (the windows' days parsed).
type naive struct {
	s       Schedule
	windows []naiveWindow
}

type naiveWindow struct {
	days     dayMask
	from, to int // minutes
}

func newNaive(s Schedule) naive {
	n := naive{s: s}
	for _, w := range s.Windows {
		days, err := parseDays(w.Days)
		if err != nil {
			panic(err)
		}
		nw := naiveWindow{days: days, from: 0, to: 24 * 60}
		if w.From != "" {
			nw.from, nw.to = naiveClock(w.From), naiveClock(w.To)
		}
		n.windows = append(n.windows, nw)
	}
	return n
}

func (n naive) open(loc *time.Location, t time.Time) bool {
	l := t.In(loc)
	date := l.Format(time.DateOnly)
	if n.s.From != "" && date < n.s.From || n.s.Until != "" && date > n.s.Until {
		return false
	}
	for _, h := range n.s.Except {
		if h == date {
			return false
		}
	}
	tod := l.Hour()*60 + l.Minute()
	today, yesterday := l.Weekday(), (l.Weekday()+6)%7
	for _, w := range n.windows {
		switch {
		case w.from < w.to:
			if w.days.has(today) && w.from <= tod && tod < w.to {
				return true
			}
		default: // crosses midnight
			if w.days.has(today) && tod >= w.from || w.days.has(yesterday) && tod < w.to {
				return true
			}
		}
	}
	return false
}

func naiveClock(s string) int {
	if s == "24:00" {
		return 24 * 60
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		panic(err)
	}
	return t.Hour()*60 + t.Minute()
}
