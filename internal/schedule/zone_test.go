package schedule

import (
	"testing"
	"time"
)

// TestZoneEndsAfter pins the guard in zone: beyond a zone's last listed
// change Go's ZoneBounds can end a zone at or before the instant asked
// about (31 December of a leap year), which would stall Open and Next.
func TestZoneEndsAfter(t *testing.T) {
	for _, z := range referenceZones {
		loc, err := time.LoadLocation(z.zone)
		if err != nil {
			t.Fatal(err)
		}
		c := &Compiled{loc: loc}
		from := time.Date(1850, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
		to := time.Date(2150, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
		for s := from; s < to; s += 12 * 3600 {
			off, end := c.zone(s)
			if end <= s {
				t.Fatalf("%s: zone(%s) ends at %s, expected after it", z.zone, time.Unix(s, 0).UTC(), time.Unix(end, 0).UTC())
			}
			if _, o := time.Unix(end-1, 0).In(loc).Zone(); int64(o) != off {
				t.Fatalf("%s: zone(%s) = offset %d until %s, but the offset just before that is %d", z.zone, time.Unix(s, 0).UTC(), off, time.Unix(end, 0).UTC(), o)
			}
		}
	}
	// The case itself: Los Angeles on 31 December 2040 (a leap year).
	la, _ := time.LoadLocation("America/Los_Angeles")
	c := compile(t, Schedule{TimeZone: la.String(), Windows: []Window{win("mon-fri", "09:00", "17:00")}})
	if got, want := c.Next(instant(t, "2040-12-31T01:00:00Z")), instant(t, "2040-12-31T09:00:00-08:00"); !got.Equal(want) {
		t.Fatalf("Next on 2040-12-31 = %s, want %s", got, want)
	}
	if got, want := c.Next(instant(t, "2040-12-31T17:00:00-08:00")), instant(t, "2041-01-01T09:00:00-08:00"); !got.Equal(want) {
		t.Fatalf("Next on 2040-12-31 = %s, want %s", got, want)
	}
	if open, until := c.Open(instant(t, "2040-12-31T16:00:00-08:00")); !open || !until.Equal(instant(t, "2040-12-31T17:00:00-08:00")) {
		t.Fatalf("Open on 2040-12-31 = %v until %s, want open until 17:00", open, until)
	}
}
