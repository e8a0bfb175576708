package schedule

import (
	"fmt"
	"strings"
	"time"
)

// daySeconds is the length of a day on the wall clock.
const daySeconds = 24 * 60 * 60

// dayNames maps every accepted spelling to its weekday.
var dayNames = map[string]time.Weekday{
	"mon": time.Monday, "monday": time.Monday,
	"tue": time.Tuesday, "tuesday": time.Tuesday,
	"wed": time.Wednesday, "wednesday": time.Wednesday,
	"thu": time.Thursday, "thursday": time.Thursday,
	"fri": time.Friday, "friday": time.Friday,
	"sat": time.Saturday, "saturday": time.Saturday,
	"sun": time.Sunday, "sunday": time.Sunday,
}

// dayMask is a set of weekdays: bit d is time.Weekday(d).
type dayMask uint8

const allDays dayMask = 1<<7 - 1

func (m dayMask) has(d time.Weekday) bool { return m&(1<<d) != 0 }

// parseDays parses the items of a days: value. Each item is a
// comma-separated list of day names ("mon", "monday", any case) and ranges
// ("mon-fri"; a range may wrap: "fri-mon" is Fri, Sat, Sun, Mon). A day
// named twice is an error: it is almost always a typo for another day.
func parseDays(items []string) (dayMask, error) {
	if len(items) == 0 {
		return 0, fmt.Errorf(`required (e.g. "mon-fri", "sat,sun" or [mon, wed])`)
	}
	var m dayMask
	for _, item := range items {
		if strings.TrimSpace(item) == "" {
			return 0, fmt.Errorf("expected a day or a range such as mon-fri, got an empty item")
		}
		for _, part := range strings.Split(item, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				return 0, fmt.Errorf("expected a day or a range such as mon-fri, got an empty item in %q", item)
			}
			add, err := parseDayRange(part)
			if err != nil {
				return 0, err
			}
			if dup := m & add; dup != 0 {
				return 0, fmt.Errorf("%s is listed twice", dup.first())
			}
			m |= add
		}
	}
	return m, nil
}

// first names the earliest day of m in the order Mon..Sun.
func (m dayMask) first() string {
	for i := 0; i < 7; i++ {
		d := time.Weekday((i + 1) % 7)
		if m.has(d) {
			return shortDay(d)
		}
	}
	return ""
}

func parseDayRange(s string) (dayMask, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		d, err := parseDay(s)
		if err != nil {
			return 0, err
		}
		return 1 << d, nil
	}
	a, err := parseDay(strings.TrimSpace(lo))
	if err != nil {
		return 0, err
	}
	b, err := parseDay(strings.TrimSpace(hi))
	if err != nil {
		return 0, err
	}
	if a == b {
		return 0, fmt.Errorf("expected a range of two different days, got %q (write %q for one day)", s, shortDay(a))
	}
	var m dayMask
	for d := a; ; d = (d + 1) % 7 {
		m |= 1 << d
		if d == b {
			break
		}
	}
	return m, nil
}

func parseDay(s string) (time.Weekday, error) {
	d, ok := dayNames[strings.ToLower(s)]
	if !ok {
		return 0, fmt.Errorf("%q is not a day (expected mon, tue, wed, thu, fri, sat or sun)", s)
	}
	return d, nil
}

// shortDay is the lower-case three-letter name used in the grammar.
func shortDay(d time.Weekday) string {
	return strings.ToLower(d.String()[:3])
}

// parseClock parses a wall-clock time "HH:MM" (two digits each, 00:00 to
// 23:59) into seconds since midnight. "24:00" (the end of the day) is
// accepted only when end is true.
func parseClock(s string, end bool) (int32, error) {
	if len(s) != 5 || s[2] != ':' || !digits(s[:2]) || !digits(s[3:]) {
		return 0, fmt.Errorf("%q is not a time of day (expected HH:MM from 00:00 to 23:59, or 24:00 as an end)", s)
	}
	h := int32(s[0]-'0')*10 + int32(s[1]-'0')
	m := int32(s[3]-'0')*10 + int32(s[4]-'0')
	switch {
	case h == 24 && m == 0:
		if !end {
			return 0, fmt.Errorf(`"24:00" is only allowed as an end (to); a window that starts at midnight starts at "00:00"`)
		}
		return daySeconds, nil
	case h > 23 || m > 59:
		return 0, fmt.Errorf("%q is not a time of day (expected HH:MM from 00:00 to 23:59, or 24:00 as an end)", s)
	}
	return h*3600 + m*60, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseDate parses a calendar date "YYYY-MM-DD" (years 0001 to 9999) into a
// day number: days since 1970-01-01 on the wall-clock calendar.
func parseDate(s string) (int64, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || len(s) != len(time.DateOnly) || t.Year() < 1 {
		return 0, fmt.Errorf("%q is not a date (expected YYYY-MM-DD, e.g. 2026-12-24)", s)
	}
	return dayNumber(t), nil
}

// dayNumber is the number of the civil date of t (read in t's location)
// counted from 1970-01-01.
func dayNumber(t time.Time) int64 {
	y, m, d := t.Date()
	return floorDiv(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix(), daySeconds)
}

// dateOf formats a day number as YYYY-MM-DD.
func dateOf(day int64) string {
	return time.Unix(day*daySeconds, 0).UTC().Format(time.DateOnly)
}

// weekdayOf is the weekday of a day number (1970-01-01 was a Thursday).
func weekdayOf(day int64) time.Weekday {
	return time.Weekday(floorMod(day+4, 7))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 {
	return a - floorDiv(a, b)*b
}
