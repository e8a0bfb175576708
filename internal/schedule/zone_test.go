package schedule

import (
	"strings"
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

// Etc/GMT+N is valid and means UTC−N: accepted, with a warning that says
// so; other zones get none.
func TestEtcOffsetZonesWarn(t *testing.T) {
	cfg := Config{
		"plus":   {TimeZone: "Etc/GMT+2"},
		"minus":  {TimeZone: "Etc/GMT-10"},
		"zero":   {TimeZone: "Etc/GMT+0"},
		"utc":    {TimeZone: "UTC"},
		"berlin": {TimeZone: "Europe/Berlin"},
	}
	got := Kind{}.SectionWarnings(&cfg)
	if len(got) != 2 {
		t.Fatalf("warnings %+v, want 2", got)
	}
	if got[0].Path != ".minus.time_zone" || !strings.Contains(got[0].Msg, "Etc/GMT-10 is UTC+10, not UTC-10") ||
		got[1].Path != ".plus.time_zone" || !strings.Contains(got[1].Msg, "Etc/GMT+2 is UTC-2, not UTC+2") || !strings.Contains(got[1].Msg, "write Etc/GMT-2") {
		t.Fatalf("warnings %+v", got)
	}
}
