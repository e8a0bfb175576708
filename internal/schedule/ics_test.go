package schedule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadICS reads testdata/holidays.ics: yearly rules (plain, with COUNT,
// by weekday), EXDATE, RDATE, a date without VALUE=DATE, DURATION, a
// cancelled event, a folded line and a VTIMEZONE.
func TestReadICS(t *testing.T) {
	days, probs := readICS(filepath.Join("testdata", "holidays.ics"))
	if len(probs) > 0 {
		t.Fatalf("problems: %q", probs)
	}
	set := map[string]bool{}
	for _, d := range days {
		set[dateOf(d)] = true
	}
	closed := []string{
		"2020-12-25", "2020-12-26", "2026-12-25", "2026-12-26", "2100-12-25", // yearly, two days
		"2027-01-01", "2028-01-01", "2029-01-01", // COUNT=3
		"2026-11-26", "2027-11-25", "2030-11-28", // fourth Thursday of November
		"2026-10-09",                                                         // DTSTART without VALUE=DATE
		"2026-08-03", "2026-08-04", "2026-08-05", "2026-08-06", "2026-08-07", // DURATION:P5D
		"2026-05-01", "2027-05-03", "2028-05-01", // DTSTART and RDATE
	}
	open := []string{
		"2023-12-25", "2023-12-26", // EXDATE removes the whole 2023 occurrence
		"2019-12-25", // before DTSTART
		"2030-01-01", // after COUNT
		"2026-08-08", // after the DURATION
		"2026-06-01", // cancelled
		"2101-12-25", // after the expansion horizon
		"2027-05-01", // RDATE adds dates; it does not repeat the DTSTART yearly
	}
	for _, d := range closed {
		if !set[d] {
			t.Errorf("%s: expected a holiday", d)
		}
	}
	for _, d := range open {
		if set[d] {
			t.Errorf("%s: expected no holiday", d)
		}
	}
}

// TestICSSchedule: a schedule with except_ics is closed on the file's
// holidays and says so in Describe.
func TestICSSchedule(t *testing.T) {
	c := compile(t, Schedule{TimeZone: "America/New_York", Windows: []Window{win("mon-fri", "09:00", "17:00")},
		ExceptICS: filepath.Join("testdata", "holidays.ics"), Except: []string{"2026-12-24"}})
	for _, tc := range []struct {
		at   string
		open bool
		next string
	}{
		{at: "2030-11-28T10:00:00-05:00", next: "2030-11-29T09:00:00-05:00"}, // Thanksgiving 2030
		{at: "2026-12-23T16:00:00-05:00", open: true},
		{at: "2026-12-24T10:00:00-05:00", next: "2026-12-28T09:00:00-05:00"}, // 24th (except), 25th (ics), weekend
		{at: "2026-08-03T10:00:00-04:00", next: "2026-08-10T09:00:00-04:00"}, // summer closure week
	} {
		at := instant(t, tc.at)
		if open, _ := c.Open(at); open != tc.open {
			t.Errorf("Open(%s) = %v, want %v", tc.at, open, tc.open)
		}
		if tc.next != "" {
			if got := c.Next(at); !got.Equal(instant(t, tc.next)) {
				t.Errorf("Next(%s) = %s, want %s", tc.at, got.Format(time.RFC3339), tc.next)
			}
		}
	}
	if got, want := c.Describe(), "Mon–Fri 09:00–17:00 America/New_York; except 1 date and holidays.ics"; got != want {
		t.Errorf("Describe() = %q, want %q", got, want)
	}
}

func TestParseICSProblems(t *testing.T) {
	cal := func(lines ...string) string {
		return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + strings.Join(lines, "\r\n") + "\r\nEND:VCALENDAR\r\n"
	}
	event := func(lines ...string) string {
		return "BEGIN:VEVENT\r\nUID:x\r\nSUMMARY:Holiday\r\n" + strings.Join(lines, "\r\n") + "\r\nEND:VEVENT"
	}
	tests := []struct {
		name, src, want string
	}{
		{"empty file", "", "f.ics: expected an iCalendar file (RFC 5545) ending with END:VCALENDAR"},
		{"not a calendar", "hello\n", "f.ics: expected an iCalendar file (RFC 5545) ending with END:VCALENDAR"},
		{"truncated", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261225\r\n", "ending with END:VCALENDAR"},
		{"wrong top level", "BEGIN:VEVENT\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "f.ics: expected an iCalendar file (RFC 5545), got ical: invalid toplevel component name"},
		{"mismatched END", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VTODO\r\nEND:VCALENDAR\r\n", "expected END property for \"VEVENT\""},
		{"no BEGIN", "VERSION:2.0\r\nEND:VCALENDAR\r\n", "expected BEGIN property"},
		{"timed event", cal(event("DTSTART:20261224T100000Z")), `f.ics: event 1 ("Holiday"): DTSTART: expected an all-day date (VALUE=DATE, YYYYMMDD), got "20261224T100000Z"`},
		{"timed event with VALUE=DATE-TIME", cal(event("DTSTART;VALUE=DATE-TIME:20261224")), `DTSTART: expected an all-day date`},
		{"no DTSTART", cal(event()), `event 1 ("Holiday"): expected DTSTART, got none`},
		{"impossible date", cal(event("DTSTART;VALUE=DATE:20260230")), `DTSTART: expected a date YYYYMMDD, got "20260230"`},
		{"year zero", cal(event("DTSTART;VALUE=DATE:00000101")), `DTSTART: expected a date YYYYMMDD, got "00000101"`},
		{"DTEND before DTSTART", cal(event("DTSTART;VALUE=DATE:20261225", "DTEND;VALUE=DATE:20261224")), "expected an event of 1 to 366 days, got -1"},
		{"DTEND equals DTSTART", cal(event("DTSTART;VALUE=DATE:20261225", "DTEND;VALUE=DATE:20261225")), "expected an event of 1 to 366 days, got 0"},
		{"too long", cal(event("DTSTART;VALUE=DATE:20260101", "DTEND;VALUE=DATE:20280101")), "expected an event of 1 to 366 days, got 730"},
		{"DTEND and DURATION", cal(event("DTSTART;VALUE=DATE:20261225", "DTEND;VALUE=DATE:20261226", "DURATION:P1D")), "expected DTEND or DURATION, got both"},
		{"hours", cal(event("DTSTART;VALUE=DATE:20261225", "DURATION:PT5H")), "DURATION: expected whole days for an all-day event, got PT5H"},
		{"weekly", cal(event("DTSTART;VALUE=DATE:20261225", "RRULE:FREQ=WEEKLY")), "RRULE: expected FREQ=YEARLY (holidays), got FREQ=WEEKLY"},
		{"bad rule", cal(event("DTSTART;VALUE=DATE:20261225", "RRULE:FREQ=YEARLY;BYMONTH=13")), "RRULE:"},
		{"by hour", cal(event("DTSTART;VALUE=DATE:20261225", "RRULE:FREQ=YEARLY;BYHOUR=9")), "RRULE: expected no BYHOUR"},
		// Only the first of two rules would be expanded: the second's
		// holidays would stay open.
		{"two rules", cal(event("DTSTART;VALUE=DATE:20261224", "RRULE:FREQ=YEARLY;COUNT=1", "RRULE:FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1")), "RRULE: expected one rule per event, got 2"},
		{"EXDATE date-time", cal(event("DTSTART;VALUE=DATE:20261225", "RRULE:FREQ=YEARLY", "EXDATE:20271225T000000Z")), `EXDATE: expected all-day dates (YYYYMMDD), got "20271225T000000Z"`},
		{"bad status", cal(event("DTSTART;VALUE=DATE:20261225", "STATUS:MAYBE")), `invalid VEVENT STATUS`},
		{"second event named", cal(event("DTSTART;VALUE=DATE:20261225"), event("DTSTART:x")), `event 2 ("Holiday"): DTSTART`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			days, probs := parseICS("f.ics", []byte(tt.src))
			if len(probs) == 0 {
				t.Fatalf("no problem reported (days %v)", days)
			}
			if !strings.Contains(strings.Join(probs, "\n"), tt.want) {
				t.Fatalf("problems %q, want one containing %q", probs, tt.want)
			}
		})
	}
}

// TestParseICSNoOccurrence: a yearly rule that never matches (Feb 30) ends
// instead of searching forever.
func TestParseICSNoOccurrence(t *testing.T) {
	src := "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260101\r\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	days, probs := parseICS("f.ics", []byte(src))
	if len(probs) > 0 {
		t.Fatalf("problems %q", probs)
	}
	// RFC 5545: DTSTART is the first instance even when the rule does not
	// match it.
	if len(days) != 1 || dateOf(days[0]) != "2026-01-01" {
		t.Fatalf("holidays %v, want only 2026-01-01", datesOf(days))
	}
}

// TestParseICSStartAlwaysCloses: the start date of a recurring holiday is
// closed whatever its rule says (RFC 5545: DTSTART always counts as the
// first occurrence) — a rule not in step with DTSTART, or one whose UNTIL
// comes before it, must not leave the holiday itself open.
func TestParseICSStartAlwaysCloses(t *testing.T) {
	for _, tc := range []struct{ rule, also string }{
		{"RRULE:FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25", "2026-12-25"},
		{"RRULE:FREQ=YEARLY;UNTIL=20250101", ""},
		{"RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4TH;COUNT=2", "2027-11-25"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			src := "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261224\r\n" + tc.rule + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
			days, probs := parseICS("f.ics", []byte(src))
			if len(probs) > 0 {
				t.Fatalf("problems %q", probs)
			}
			got := map[string]bool{}
			for _, d := range days {
				got[dateOf(d)] = true
			}
			if !got["2026-12-24"] {
				t.Fatalf("holidays %v: the event's own start, 2026-12-24, is not closed", datesOf(days))
			}
			if tc.also != "" && !got[tc.also] {
				t.Fatalf("holidays %v: want %s too", datesOf(days), tc.also)
			}
		})
	}
	// An EXDATE of the start still removes it.
	src := "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261224\r\nRRULE:FREQ=YEARLY\r\nEXDATE;VALUE=DATE:20261224\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	days, _ := parseICS("f.ics", []byte(src))
	for _, d := range days {
		if dateOf(d) == "2026-12-24" {
			t.Fatal("EXDATE of the start: 2026-12-24 closed anyway")
		}
	}
}

func datesOf(days []int64) []string {
	var out []string
	for _, d := range days {
		out = append(out, dateOf(d))
	}
	return out
}

func TestReadICSFile(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.ics")
	if err := os.WriteFile(big, make([]byte, maxICSSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, probs := readICS(big); len(probs) != 1 || !strings.Contains(probs[0], "expected at most 4194304 bytes") {
		t.Fatalf("problems %q", probs)
	}
	if _, probs := readICS(dir); len(probs) != 1 || !strings.Contains(probs[0], "is a directory") {
		t.Fatalf("problems %q", probs)
	}
}
