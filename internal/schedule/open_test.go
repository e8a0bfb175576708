package schedule

import (
	"strings"
	"testing"
	"time"
)

// instantCase is one exact instant. Every instant is written with the
// zone's UTC offset at that instant (checked), so the repeated hour of a
// fall-back night is unambiguous: 01:30-07:00 and 01:30-08:00 are the two
// passes of 01:30 in Los Angeles on 2026-11-01.
type instantCase struct {
	name  string
	at    string
	open  bool
	until string // when open
	next  string // when closed; "" means never (zero Time)
}

type scheduleCase struct {
	name  string
	s     Schedule
	cases []instantCase
}

func (tc scheduleCase) run(t *testing.T) {
	c := compile(t, tc.s)
	for _, ic := range tc.cases {
		t.Run(ic.name, func(t *testing.T) {
			at := zonedInstant(t, c.loc, ic.at)
			for _, cached := range []bool{false, true} {
				if !cached {
					c.last.Store(nil)
				}
				open, until := c.Open(at)
				if open != ic.open {
					t.Fatalf("Open(%s) = %v, want %v (cached %v)", ic.at, open, ic.open, cached)
				}
				if open {
					if want := zonedInstant(t, c.loc, ic.until); !until.Equal(want) {
						t.Fatalf("Open(%s) until %s, want %s", ic.at, until.Format(time.RFC3339), ic.until)
					}
					if until.Location() != c.loc {
						t.Fatalf("Open(%s) until in %s, want the schedule's zone", ic.at, until.Location())
					}
				} else if !until.IsZero() {
					t.Fatalf("Open(%s) = closed until %s, want the zero Time", ic.at, until)
				}
			}
			next := c.Next(at)
			switch {
			case ic.open:
				if !next.Equal(at) {
					t.Fatalf("Next(%s) = %s, want itself (open)", ic.at, next.Format(time.RFC3339Nano))
				}
			case ic.next == "":
				if !next.IsZero() {
					t.Fatalf("Next(%s) = %s, want never (zero)", ic.at, next.Format(time.RFC3339))
				}
			default:
				if want := zonedInstant(t, c.loc, ic.next); !next.Equal(want) {
					t.Fatalf("Next(%s) = %s, want %s", ic.at, next.Format(time.RFC3339), ic.next)
				}
				if open, _ := c.Open(next); !open {
					t.Fatalf("Next(%s) = %s is closed", ic.at, ic.next)
				}
				if open, _ := c.Open(next.Add(-time.Nanosecond)); open {
					t.Fatalf("Next(%s) = %s, but it is open a nanosecond earlier", ic.at, ic.next)
				}
			}
		})
	}
}

// zonedInstant parses s and checks that its offset is the one loc has at
// that instant (so a test cannot name a wall time that does not exist),
// unless s is written in UTC ("Z").
func zonedInstant(t *testing.T, loc *time.Location, s string) time.Time {
	t.Helper()
	v := instant(t, s)
	if strings.HasSuffix(s, "Z") {
		return v
	}
	_, want := v.In(loc).Zone()
	if _, got := v.Zone(); got != want {
		t.Fatalf("test instant %s: %s has offset %+d s at that instant, not %+d s", s, loc, want, got)
	}
	return v
}

func TestOpenAtExactInstants(t *testing.T) {
	berlin := "Europe/Berlin"
	la := "America/Los_Angeles"
	tests := []scheduleCase{
		{
			name: "edges: from inclusive, to exclusive",
			s:    Schedule{TimeZone: berlin, Windows: []Window{win("mon-fri", "17:00", "21:00")}},
			cases: []instantCase{
				{name: "a nanosecond before from", at: "2026-12-07T16:59:59.999999999+01:00", next: "2026-12-07T17:00:00+01:00"},
				{name: "at from", at: "2026-12-07T17:00:00+01:00", open: true, until: "2026-12-07T21:00:00+01:00"},
				{name: "last nanosecond", at: "2026-12-07T20:59:59.999999999+01:00", open: true, until: "2026-12-07T21:00:00+01:00"},
				{name: "at to", at: "2026-12-07T21:00:00+01:00", next: "2026-12-08T17:00:00+01:00"},
				{name: "friday night to monday", at: "2026-12-04T21:00:00+01:00", next: "2026-12-07T17:00:00+01:00"},
				{name: "saturday", at: "2026-12-05T18:00:00+01:00", next: "2026-12-07T17:00:00+01:00"},
				{name: "given in another zone", at: "2026-12-07T16:30:00Z", open: true, until: "2026-12-07T20:00:00Z"},
			},
		},
		{
			name: "across midnight belongs to the day it starts",
			s:    Schedule{TimeZone: berlin, Windows: []Window{win("fri", "22:00", "02:00")}},
			cases: []instantCase{
				{name: "friday before", at: "2026-12-04T21:59:59+01:00", next: "2026-12-04T22:00:00+01:00"},
				{name: "friday 22:00", at: "2026-12-04T22:00:00+01:00", open: true, until: "2026-12-05T02:00:00+01:00"},
				{name: "saturday midnight", at: "2026-12-05T00:00:00+01:00", open: true, until: "2026-12-05T02:00:00+01:00"},
				{name: "saturday 01:59:59", at: "2026-12-05T01:59:59+01:00", open: true, until: "2026-12-05T02:00:00+01:00"},
				{name: "saturday 02:00", at: "2026-12-05T02:00:00+01:00", next: "2026-12-11T22:00:00+01:00"},
				{name: "thursday night is not friday's", at: "2026-12-03T23:00:00+01:00", next: "2026-12-04T22:00:00+01:00"},
				{name: "sunday after midnight is not friday's", at: "2026-12-06T00:30:00+01:00", next: "2026-12-11T22:00:00+01:00"},
			},
		},
		{
			name: "touching windows across midnight make one stretch",
			s:    Schedule{TimeZone: berlin, Windows: []Window{win("fri", "17:00", "24:00"), win("sat", "00:00", "02:00")}},
			cases: []instantCase{
				{name: "friday 17:00", at: "2026-12-04T17:00:00+01:00", open: true, until: "2026-12-05T02:00:00+01:00"},
				{name: "friday 23:59:59", at: "2026-12-04T23:59:59+01:00", open: true, until: "2026-12-05T02:00:00+01:00"},
				{name: "saturday 02:00", at: "2026-12-05T02:00:00+01:00", next: "2026-12-11T17:00:00+01:00"},
			},
		},
		{
			name: "overlapping and touching windows on one day merge",
			s: Schedule{TimeZone: berlin, Windows: []Window{
				win("mon", "09:00", "13:00"), win("mon", "12:00", "17:00"), win("mon", "17:00", "18:00"), win("mon", "19:00", "20:00")}},
			cases: []instantCase{
				{name: "morning", at: "2026-12-07T09:00:00+01:00", open: true, until: "2026-12-07T18:00:00+01:00"},
				{name: "gap", at: "2026-12-07T18:30:00+01:00", next: "2026-12-07T19:00:00+01:00"},
				{name: "evening", at: "2026-12-07T19:00:00+01:00", open: true, until: "2026-12-07T20:00:00+01:00"},
			},
		},
		{
			name: "24:00 ends at midnight",
			s:    Schedule{TimeZone: berlin, Windows: []Window{win("mon", "20:00", "24:00")}},
			cases: []instantCase{
				{name: "last second", at: "2026-12-07T23:59:59+01:00", open: true, until: "2026-12-08T00:00:00+01:00"},
				{name: "midnight", at: "2026-12-08T00:00:00+01:00", next: "2026-12-14T20:00:00+01:00"},
			},
		},
		{
			name: "00:00 starts at midnight",
			s:    Schedule{TimeZone: berlin, Windows: []Window{win("mon", "00:00", "01:00")}},
			cases: []instantCase{
				{name: "sunday last second", at: "2026-12-06T23:59:59+01:00", next: "2026-12-07T00:00:00+01:00"},
				{name: "midnight", at: "2026-12-07T00:00:00+01:00", open: true, until: "2026-12-07T01:00:00+01:00"},
			},
		},
		{
			name: "22:00 to 00:00 ends at midnight",
			s:    Schedule{TimeZone: berlin, Windows: []Window{win("mon", "22:00", "00:00")}},
			cases: []instantCase{
				{name: "monday night", at: "2026-12-07T23:00:00+01:00", open: true, until: "2026-12-08T00:00:00+01:00"},
				{name: "tuesday midnight", at: "2026-12-08T00:00:00+01:00", next: "2026-12-14T22:00:00+01:00"},
			},
		},
		{
			name: "whole days merge over the weekend",
			s:    Schedule{TimeZone: berlin, Windows: []Window{{Days: Days{"sat,sun"}}}},
			cases: []instantCase{
				{name: "saturday midnight", at: "2026-12-05T00:00:00+01:00", open: true, until: "2026-12-07T00:00:00+01:00"},
				{name: "friday", at: "2026-12-04T12:00:00+01:00", next: "2026-12-05T00:00:00+01:00"},
			},
		},
		{
			name: "always open reports at most 31 days",
			s:    Schedule{TimeZone: "UTC", Windows: []Window{{Days: Days{"mon-sun"}}}},
			cases: []instantCase{
				{name: "any time", at: "2026-12-07T10:00:00Z", open: true, until: "2027-01-07T10:00:00Z"},
			},
		},
		{
			name: "Los Angeles spring forward: 02:00-03:00 does not occur",
			s:    Schedule{TimeZone: la, Windows: []Window{win("sun", "02:00", "03:00")}},
			cases: []instantCase{
				{name: "a Sunday before", at: "2026-03-01T02:30:00-08:00", open: true, until: "2026-03-01T03:00:00-08:00"},
				{name: "the last second of standard time", at: "2026-03-08T01:59:59-08:00", next: "2026-03-15T02:00:00-07:00"},
				{name: "the first second of summer time", at: "2026-03-08T03:00:00-07:00", next: "2026-03-15T02:00:00-07:00"},
			},
		},
		{
			name: "Los Angeles spring forward: 01:30-02:30 straddles the gap",
			s:    Schedule{TimeZone: la, Windows: []Window{win("sun", "01:30", "02:30")}},
			cases: []instantCase{
				{name: "before", at: "2026-03-08T01:29:59-08:00", next: "2026-03-08T01:30:00-08:00"},
				{name: "opens, for 30 real minutes", at: "2026-03-08T01:30:00-08:00", open: true, until: "2026-03-08T03:00:00-07:00"},
				{name: "last second before the jump", at: "2026-03-08T01:59:59-08:00", open: true, until: "2026-03-08T03:00:00-07:00"},
				{name: "after the jump 03:00 is past 02:30", at: "2026-03-08T03:00:00-07:00", next: "2026-03-15T01:30:00-07:00"},
			},
		},
		{
			name: "Los Angeles fall back: 01:00-02:00 is open for both passes",
			s:    Schedule{TimeZone: la, Windows: []Window{win("sun", "01:00", "02:00")}},
			cases: []instantCase{
				{name: "before", at: "2026-11-01T00:59:59-07:00", next: "2026-11-01T01:00:00-07:00"},
				{name: "first pass: two real hours", at: "2026-11-01T01:00:00-07:00", open: true, until: "2026-11-01T02:00:00-08:00"},
				{name: "end of the first pass", at: "2026-11-01T01:59:59.999999999-07:00", open: true, until: "2026-11-01T02:00:00-08:00"},
				{name: "second pass", at: "2026-11-01T01:00:00-08:00", open: true, until: "2026-11-01T02:00:00-08:00"},
				{name: "after", at: "2026-11-01T02:00:00-08:00", next: "2026-11-08T01:00:00-08:00"},
			},
		},
		{
			name: "Los Angeles fall back: a window ending in the repeated hour ends at its first pass",
			s:    Schedule{TimeZone: la, Windows: []Window{win("sat", "22:00", "01:30")}},
			cases: []instantCase{
				{name: "saturday night", at: "2026-10-31T23:00:00-07:00", open: true, until: "2026-11-01T01:30:00-07:00"},
				{name: "second pass of 01:00 is open again", at: "2026-11-01T01:00:00-08:00", open: true, until: "2026-11-01T01:30:00-08:00"},
				{name: "between the passes", at: "2026-11-01T01:45:00-07:00", next: "2026-11-01T01:00:00-08:00"},
			},
		},
		{
			name: "Berlin spring forward: 02:00-03:00 does not occur",
			s:    Schedule{TimeZone: berlin, Windows: []Window{win("sun", "02:00", "03:00")}},
			cases: []instantCase{
				{name: "the last second of winter time", at: "2026-03-29T01:59:59+01:00", next: "2026-04-05T02:00:00+02:00"},
			},
		},
		{
			name: "Berlin spring forward: 01:30-02:30 straddles the gap",
			s:    Schedule{TimeZone: berlin, Windows: []Window{win("sun", "01:30", "02:30")}},
			cases: []instantCase{
				{name: "opens, for 30 real minutes", at: "2026-03-29T01:30:00+01:00", open: true, until: "2026-03-29T03:00:00+02:00"},
				{name: "after the jump", at: "2026-03-29T03:00:00+02:00", next: "2026-04-05T01:30:00+02:00"},
			},
		},
		{
			name: "Berlin fall back: 02:00-03:00 is open for both passes",
			s:    Schedule{TimeZone: berlin, Windows: []Window{win("sun", "02:00", "03:00")}},
			cases: []instantCase{
				{name: "first pass: two real hours", at: "2026-10-25T02:00:00+02:00", open: true, until: "2026-10-25T03:00:00+01:00"},
				{name: "second pass", at: "2026-10-25T02:30:00+01:00", open: true, until: "2026-10-25T03:00:00+01:00"},
				{name: "after", at: "2026-10-25T03:00:00+01:00", next: "2026-11-01T02:00:00+01:00"},
			},
		},
		{
			name: "Berlin fall back: 01:00-02:00 is an ordinary hour",
			s:    Schedule{TimeZone: berlin, Windows: []Window{win("sun", "01:00", "02:00")}},
			cases: []instantCase{
				{name: "one real hour", at: "2026-10-25T01:00:00+02:00", open: true, until: "2026-10-25T02:00:00+02:00"},
				{name: "the repeated 02:00 stays closed", at: "2026-10-25T02:00:00+01:00", next: "2026-11-01T01:00:00+01:00"},
			},
		},
		{
			name: "Santiago: the change at midnight skips 00:00-01:00",
			s:    Schedule{TimeZone: "America/Santiago", Windows: []Window{win("sun", "00:00", "01:00"), win("sat", "23:00", "24:00")}},
			cases: []instantCase{
				{name: "saturday 23:00 ends at the jump", at: "2026-09-05T23:00:00-04:00", open: true, until: "2026-09-06T01:00:00-03:00"},
				{name: "sunday begins at 01:00", at: "2026-09-06T01:00:00-03:00", next: "2026-09-12T23:00:00-03:00"},
			},
		},
		{
			name: "Apia skipped Friday 2011-12-30",
			s:    Schedule{TimeZone: "Pacific/Apia", Windows: []Window{{Days: Days{"fri"}}}},
			cases: []instantCase{
				{name: "thursday's last second", at: "2011-12-29T23:59:59-10:00", next: "2012-01-06T00:00:00+14:00"},
				{name: "a Friday before", at: "2011-12-23T12:00:00-10:00", open: true, until: "2011-12-24T00:00:00-10:00"},
			},
		},
		{
			name: "holiday closes its whole day",
			s:    Schedule{TimeZone: berlin, Windows: []Window{win("mon-fri", "09:00", "17:00")}, Except: []string{"2026-12-25"}},
			cases: []instantCase{
				{name: "day before", at: "2026-12-24T16:00:00+01:00", open: true, until: "2026-12-24T17:00:00+01:00"},
				{name: "holiday", at: "2026-12-25T10:00:00+01:00", next: "2026-12-28T09:00:00+01:00"},
				{name: "evening before", at: "2026-12-24T17:00:00+01:00", next: "2026-12-28T09:00:00+01:00"},
			},
		},
		{
			name: "holiday after midnight cuts a night window",
			s:    Schedule{TimeZone: berlin, Windows: []Window{win("fri", "22:00", "02:00")}, Except: []string{"2026-12-05"}},
			cases: []instantCase{
				{name: "friday night ends at the holiday", at: "2026-12-04T23:00:00+01:00", open: true, until: "2026-12-05T00:00:00+01:00"},
				{name: "holiday morning", at: "2026-12-05T00:30:00+01:00", next: "2026-12-11T22:00:00+01:00"},
			},
		},
		{
			name: "holiday on the start day leaves the part after midnight",
			s:    Schedule{TimeZone: berlin, Windows: []Window{win("fri", "22:00", "02:00")}, Except: []string{"2026-12-04"}},
			cases: []instantCase{
				{name: "holiday night", at: "2026-12-04T22:00:00+01:00", next: "2026-12-05T00:00:00+01:00"},
				{name: "saturday morning", at: "2026-12-05T00:00:00+01:00", open: true, until: "2026-12-05T02:00:00+01:00"},
			},
		},
		{
			name: "date range, inclusive",
			s:    Schedule{TimeZone: berlin, Windows: []Window{{Days: Days{"mon-sun"}}}, From: "2026-12-01", Until: "2026-12-31"},
			cases: []instantCase{
				{name: "day before from", at: "2026-11-30T23:59:59+01:00", next: "2026-12-01T00:00:00+01:00"},
				{name: "years before from", at: "2020-01-01T00:00:00+01:00", next: "2026-12-01T00:00:00+01:00"},
				{name: "until day", at: "2026-12-31T12:00:00+01:00", open: true, until: "2027-01-01T00:00:00+01:00"},
				{name: "after until", at: "2027-01-01T00:00:00+01:00"},
				{name: "long after until", at: "2040-06-01T00:00:00+02:00"},
			},
		},
		{
			name: "leap day",
			s:    Schedule{TimeZone: berlin, Windows: []Window{win("tue", "10:00", "11:00")}, From: "2028-02-29", Until: "2028-02-29"},
			cases: []instantCase{
				{name: "a Tuesday before from", at: "2028-02-22T10:00:00+01:00", next: "2028-02-29T10:00:00+01:00"},
				{name: "Feb 29 is a Tuesday", at: "2028-02-29T10:00:00+01:00", open: true, until: "2028-02-29T11:00:00+01:00"},
				{name: "after", at: "2028-02-29T11:00:00+01:00"},
			},
		},
		{
			name: "leap day holiday",
			s:    Schedule{TimeZone: berlin, Windows: []Window{{Days: Days{"mon-sun"}}}, Except: []string{"2028-02-29"}},
			cases: []instantCase{
				{name: "Feb 28", at: "2028-02-28T12:00:00+01:00", open: true, until: "2028-02-29T00:00:00+01:00"},
				{name: "Feb 29", at: "2028-02-29T12:00:00+01:00", next: "2028-03-01T00:00:00+01:00"},
			},
		},
		{
			name: "Feb 28 to Mar 1 in a common year",
			s:    Schedule{TimeZone: berlin, Windows: []Window{win("sun", "23:00", "01:00")}},
			cases: []instantCase{
				{name: "Sunday Feb 28 2027 into Monday Mar 1", at: "2027-02-28T23:30:00+01:00", open: true, until: "2027-03-01T01:00:00+01:00"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// TestOutOfRange: instants before year 1 or after 9999 are closed and
// have no next opening.
func TestOutOfRange(t *testing.T) {
	c := compile(t, Schedule{TimeZone: "UTC", Windows: []Window{{Days: Days{"mon-sun"}}}})
	for _, at := range []time.Time{time.Unix(minUnix-1, 0), time.Unix(maxUnix+1, 0), time.Time{}.Add(-time.Hour)} {
		if open, _ := c.Open(at); open {
			t.Errorf("Open(%s) = open, want closed", at)
		}
		if n := c.Next(at); !n.IsZero() {
			t.Errorf("Next(%s) = %s, want zero", at, n)
		}
	}
	if open, until := c.Open(time.Unix(maxUnix-10, 0)); !open || until.Unix() > maxUnix+1 {
		t.Errorf("Open near 9999 = %v until %s", open, until)
	}
}

// TestOpenConcurrent runs Open from many goroutines over a day of
// instants (with -race, it checks the stretch cache).
func TestOpenConcurrent(t *testing.T) {
	c := compile(t, Schedule{TimeZone: "Europe/Berlin", Windows: []Window{win("mon-fri", "09:00", "12:00"), win("mon-fri", "13:00", "17:00")}})
	start := instant(t, "2026-12-07T00:00:00+01:00")
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 24*60; i += 7 {
				at := start.Add(time.Duration(i+g) * time.Minute)
				h := at.In(c.loc).Hour()
				want := h >= 9 && h < 12 || h >= 13 && h < 17
				if open, _ := c.Open(at); open != want {
					done <- &openError{at, open}
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

type openError struct {
	at   time.Time
	open bool
}

func (e *openError) Error() string {
	return "Open(" + e.at.Format(time.RFC3339) + ") gave the wrong answer"
}
