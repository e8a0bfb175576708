package schedule

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-ical"
	"github.com/teambition/rrule-go"
)

// Limits of an except_ics file.
const (
	// maxICSSize bounds the file read (a country's holidays for decades fit
	// in a few kilobytes).
	maxICSSize = 4 << 20
	// maxICSDays bounds the holiday dates one file may expand to.
	maxICSDays = 100_000
	// maxEventDays bounds the length of one all-day event.
	maxEventDays = 366
)

// icsHorizon is the last day yearly recurrences are expanded through
// (2100-12-31): a recurring holiday has no effect after it.
var icsHorizon = dayNumber(time.Date(2100, 12, 31, 0, 0, 0, 0, time.UTC))

// readICS reads an iCalendar file of holidays and returns the day numbers it
// closes, unsorted and possibly repeated. Every event must be all-day
// (DTSTART;VALUE=DATE); a multi-day event closes every day from DTSTART up
// to DTEND (exclusive) or for its DURATION in whole days. STATUS:CANCELLED
// events are skipped. RRULE (one per event) must be FREQ=YEARLY (with any
// BY… parts), and DTSTART is closed whether the rule matches it or not;
// EXDATE and RDATE lists of dates are honoured. Each problem names the
// event by its position and SUMMARY.
func readICS(path string) ([]int64, []string) {
	f, err := os.Open(path)
	if err != nil {
		return nil, []string{fmt.Sprintf("expected a readable iCalendar file, got %v", err)}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxICSSize+1))
	if err != nil {
		return nil, []string{fmt.Sprintf("read %s: %v", path, err)}
	}
	if len(b) > maxICSSize {
		return nil, []string{fmt.Sprintf("%s: expected at most %d bytes, got more", path, maxICSSize)}
	}
	return parseICS(path, b)
}

// parseICS parses the contents of an except_ics file (see readICS). name is
// used in problems only.
func parseICS(name string, b []byte) ([]int64, []string) {
	// The decoder reads a file cut short inside a calendar as the end of
	// the input; refuse a truncated file instead of using half of it.
	trimmed := strings.ToUpper(strings.TrimSpace(string(b)))
	if !strings.HasSuffix(trimmed, "END:VCALENDAR") {
		return nil, []string{fmt.Sprintf("%s: expected an iCalendar file (RFC 5545) ending with END:VCALENDAR, got a file that does not", name)}
	}
	var days []int64
	var probs []string
	dec := ical.NewDecoder(strings.NewReader(string(b)))
	calendars := 0
	for {
		cal, err := decodeCalendar(dec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, []string{fmt.Sprintf("%s: expected an iCalendar file (RFC 5545), got %v", name, err)}
		}
		calendars++
		for i, ev := range cal.Events() {
			d, err := eventDays(ev)
			if err != nil {
				probs = append(probs, fmt.Sprintf("%s: event %d%s: %v", name, i+1, summaryOf(ev), err))
				continue
			}
			days = append(days, d...)
			if len(days) > maxICSDays {
				return nil, []string{fmt.Sprintf("%s: expected at most %d holiday dates, got more", name, maxICSDays)}
			}
		}
	}
	if calendars == 0 {
		return nil, []string{fmt.Sprintf("%s: expected an iCalendar file (RFC 5545) with BEGIN:VCALENDAR, got none", name)}
	}
	return days, probs
}

// decodeCalendar decodes one VCALENDAR, turning the decoder's panics on
// malformed input (it has none known, but the input is a file an operator
// may have got from anywhere) into errors.
func decodeCalendar(dec *ical.Decoder) (cal *ical.Calendar, err error) {
	defer func() {
		if r := recover(); r != nil {
			cal, err = nil, fmt.Errorf("malformed calendar: %v", r)
		}
	}()
	return dec.Decode()
}

func summaryOf(ev ical.Event) string {
	s, err := ev.Props.Text(ical.PropSummary)
	if err != nil || s == "" {
		return ""
	}
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return fmt.Sprintf(" (%q)", s)
}

// eventDays returns the days an all-day event closes.
func eventDays(ev ical.Event) ([]int64, error) {
	if st, err := ev.Status(); err != nil {
		return nil, err
	} else if st == ical.EventCancelled {
		return nil, nil
	}
	startProp := ev.Props.Get(ical.PropDateTimeStart)
	if startProp == nil {
		return nil, fmt.Errorf("expected DTSTART, got none")
	}
	start, err := icsDate(startProp)
	if err != nil {
		return nil, fmt.Errorf("DTSTART: %w", err)
	}
	length := int64(1)
	endProp := ev.Props.Get(ical.PropDateTimeEnd)
	durProp := ev.Props.Get(ical.PropDuration)
	switch {
	case endProp != nil && durProp != nil:
		return nil, fmt.Errorf("expected DTEND or DURATION, got both")
	case endProp != nil:
		end, err := icsDate(endProp)
		if err != nil {
			return nil, fmt.Errorf("DTEND: %w", err)
		}
		length = end - start
	case durProp != nil:
		d, err := durProp.Duration()
		if err != nil {
			return nil, fmt.Errorf("DURATION: %w", err)
		}
		if d%(24*time.Hour) != 0 {
			return nil, fmt.Errorf("DURATION: expected whole days for an all-day event, got %s", durProp.Value)
		}
		length = int64(d / (24 * time.Hour))
	}
	if length < 1 || length > maxEventDays {
		return nil, fmt.Errorf("expected an event of 1 to %d days, got %d", maxEventDays, length)
	}
	// DTSTART always counts as the first occurrence (RFC 5545, 3.3.10),
	// also when the rule does not match it or its UNTIL comes before it;
	// the rule library yields only the dates that match, so the start is
	// kept here.
	starts := []int64{start}
	if n := len(ev.Props.Values(ical.PropRecurrenceRule)); n > 1 {
		// Only the first would be expanded: the others' holidays would
		// stay open.
		return nil, fmt.Errorf("RRULE: expected one rule per event, got %d (write one event per rule)", n)
	}
	if ev.Props.Get(ical.PropRecurrenceRule) != nil {
		more, err := yearly(ev, start)
		if err != nil {
			return nil, err
		}
		starts = append(starts, more...)
	}
	for _, p := range ev.Props.Values(ical.PropRecurrenceDates) {
		ds, err := icsDateList(&p)
		if err != nil {
			return nil, fmt.Errorf("RDATE: %w", err)
		}
		starts = append(starts, ds...)
	}
	excluded := map[int64]bool{}
	for _, p := range ev.Props.Values(ical.PropExceptionDates) {
		ds, err := icsDateList(&p)
		if err != nil {
			return nil, fmt.Errorf("EXDATE: %w", err)
		}
		for _, d := range ds {
			excluded[d] = true
		}
	}
	var out []int64
	for _, s := range starts {
		if excluded[s] {
			continue
		}
		for i := int64(0); i < length; i++ {
			out = append(out, s+i)
		}
		if len(out) > maxICSDays {
			return nil, fmt.Errorf("expected at most %d holiday dates, got more", maxICSDays)
		}
	}
	return out, nil
}

// yearly expands a FREQ=YEARLY rule from start through icsHorizon.
func yearly(ev ical.Event, start int64) ([]int64, error) {
	opt, err := ev.Props.RecurrenceRule()
	if err != nil {
		return nil, fmt.Errorf("RRULE: %w", err)
	}
	if opt.Freq != rrule.YEARLY {
		return nil, fmt.Errorf("RRULE: expected FREQ=YEARLY (holidays), got FREQ=%s", opt.Freq)
	}
	if len(opt.Byhour)+len(opt.Byminute)+len(opt.Bysecond) > 0 {
		return nil, fmt.Errorf("RRULE: expected no BYHOUR, BYMINUTE or BYSECOND in an all-day rule")
	}
	opt.Dtstart = time.Unix(start*daySeconds, 0).UTC()
	r, err := rrule.NewRRule(*opt)
	if err != nil {
		return nil, fmt.Errorf("RRULE: %w", err)
	}
	var out []int64
	next := r.Iterator()
	for {
		t, ok := next()
		if !ok {
			break
		}
		d := dayNumber(t)
		if d > icsHorizon {
			break
		}
		out = append(out, d)
		if len(out) > maxICSDays {
			return nil, fmt.Errorf("RRULE: expected at most %d occurrences, got more", maxICSDays)
		}
	}
	return out, nil
}

// icsDate reads a DATE value (YYYYMMDD), the only kind an all-day event has.
// A value of eight digits without VALUE=DATE is read as a date too (some
// calendar exports omit the parameter).
func icsDate(p *ical.Prop) (int64, error) {
	vt := ical.ValueType(p.Params.Get(ical.ParamValue))
	if vt != ical.ValueDate && !(vt == ical.ValueDefault && len(p.Value) == 8) {
		return 0, fmt.Errorf("expected an all-day date (VALUE=DATE, YYYYMMDD), got %q", p.Value)
	}
	return icsDay(p.Value)
}

// icsDateList reads a comma-separated list of DATE values (EXDATE, RDATE).
func icsDateList(p *ical.Prop) ([]int64, error) {
	var out []int64
	for _, v := range strings.Split(p.Value, ",") {
		if len(v) != 8 {
			return nil, fmt.Errorf("expected all-day dates (YYYYMMDD), got %q", v)
		}
		d, err := icsDay(v)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func icsDay(v string) (int64, error) {
	t, err := time.Parse("20060102", v)
	if err != nil || len(v) != 8 || !digits(v) || t.Year() < 1 {
		return 0, fmt.Errorf("expected a date YYYYMMDD, got %q", v)
	}
	return dayNumber(t), nil
}
