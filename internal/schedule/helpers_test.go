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
	l := t.In(loc)
	date := l.Format(time.DateOnly)
	if s.From != "" && date < s.From || s.Until != "" && date > s.Until {
		return false
	}
	for _, h := range s.Except {
		if h == date {
			return false
		}
	}
	tod := l.Hour()*60 + l.Minute()
	today, yesterday := l.Weekday(), (l.Weekday()+6)%7
	for _, w := range s.Windows {
		days, err := parseDays(w.Days)
		if err != nil {
			panic(err)
		}
		from, to := 0, 24*60
		if w.From != "" {
			from, to = naiveClock(w.From), naiveClock(w.To)
		}
		switch {
		case from < to:
			if days.has(today) && from <= tod && tod < to {
				return true
			}
		default: // crosses midnight
			if days.has(today) && tod >= from || days.has(yesterday) && tod < to {
				return true
			}
		}
	}
	return false
}

func naiveClock(s string) int {
	t, err := time.Parse("15:04", s)
	if s == "24:00" {
		return 24 * 60
	}
	if err != nil {
		panic(err)
	}
	return t.Hour()*60 + t.Minute()
}
