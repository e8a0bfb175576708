package schedule

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Describe returns a one-line summary for pages and `gateway explain`:
//
//	Mon–Fri 17:00–21:00 Europe/Berlin
//	Mon–Fri 09:00–17:00, Sat, Sun 22:00–02:00 next day America/Los_Angeles; from 2026-12-01 until 2027-03-31; except 2 dates and holidays.ics
func (c *Compiled) Describe() string { return c.describe }

func describe(c *Compiled, from, until string, except int, ics string) string {
	parts := make([]string, 0, len(c.windows))
	for _, w := range c.windows {
		parts = append(parts, daysText(w.days)+" "+hoursText(w))
	}
	var b strings.Builder
	b.WriteString(strings.Join(parts, ", "))
	b.WriteString(" ")
	b.WriteString(c.loc.String())
	switch {
	case from != "" && until != "":
		fmt.Fprintf(&b, "; from %s until %s", from, until)
	case from != "":
		fmt.Fprintf(&b, "; from %s", from)
	case until != "":
		fmt.Fprintf(&b, "; until %s", until)
	}
	var ex []string
	switch except {
	case 0:
	case 1:
		ex = append(ex, "1 date")
	default:
		ex = append(ex, fmt.Sprintf("%d dates", except))
	}
	if ics != "" {
		ex = append(ex, ics)
	}
	if len(ex) > 0 {
		b.WriteString("; except ")
		b.WriteString(strings.Join(ex, " and "))
	}
	return b.String()
}

// daysText writes a set of days as runs in week order, a run that wraps
// over the weekend kept whole: "Mon–Fri", "Mon, Wed", "Sat, Sun",
// "Fri–Mon", "Daily".
func daysText(m dayMask) string {
	if m == allDays {
		return "Daily"
	}
	// Start at the first day (Mon…Sun) that begins a run.
	start := time.Monday
	for i := 0; i < 7; i++ {
		d := time.Weekday((i + 1) % 7)
		if m.has(d) && !m.has((d+6)%7) {
			start = d
			break
		}
	}
	var runs []string
	for i := 0; i < 7; {
		d := (start + time.Weekday(i)) % 7
		if !m.has(d) {
			i++
			continue
		}
		n := 1
		for i+n < 7 && m.has((d+time.Weekday(n))%7) {
			n++
		}
		last := (d + time.Weekday(n-1)) % 7
		switch n {
		case 1:
			runs = append(runs, d.String()[:3])
		case 2:
			runs = append(runs, d.String()[:3]+", "+last.String()[:3])
		default:
			runs = append(runs, d.String()[:3]+"–"+last.String()[:3])
		}
		i += n
	}
	return strings.Join(runs, ", ")
}

func hoursText(w window) string {
	if w.from == 0 && w.to == daySeconds {
		return "all day"
	}
	s := clockText(w.from) + "–" + clockText(w.to)
	if w.crosses() {
		s += " next day"
	}
	return s
}

func clockText(sec int32) string {
	return fmt.Sprintf("%02d:%02d", sec/3600, sec%3600/60)
}

// FormatNext formats when the schedule next opens at or after t, for a
// denial page: in the schedule's zone, and in user's zone when user is not
// nil and differs ("Mon 7 Dec 2026 17:00 Europe/Berlin (11:00
// America/New_York)"; the user's date is shown when it differs). It returns
// "now" when the schedule is open at t and "not within the next four
// years" when Next finds no opening.
func (c *Compiled) FormatNext(t time.Time, user *time.Location) string {
	n := c.Next(t)
	switch {
	case n.IsZero():
		return "not within the next four years"
	case n.Equal(t):
		return "now"
	}
	s := n.In(c.loc).Format("Mon 2 Jan 2006 15:04") + " " + c.loc.String()
	if user == nil || user.String() == c.loc.String() {
		return s
	}
	here, there := n.In(c.loc), n.In(user)
	layout := "15:04"
	switch {
	case here.Year() != there.Year():
		layout = "Mon 2 Jan 2006 15:04"
	case here.YearDay() != there.YearDay():
		layout = "Mon 2 Jan 15:04"
	}
	return s + " (" + there.Format(layout) + " " + user.String() + ")"
}

// userZones caches the zones UserZone has loaded (only valid names, so it
// holds at most the zone database's few hundred entries).
var userZones sync.Map // string → *time.Location

// UserZone loads the time zone a browser reported (for example from
// Intl.DateTimeFormat().resolvedOptions().timeZone) for FormatNext. The
// name is untrusted: anything but a plain IANA name (letters, digits, '/',
// '_', '+', '-'; at most 64 bytes; not "Local") returns nil, as does an
// unknown zone. Loaded zones are cached.
func UserZone(name string) *time.Location {
	if name == "" || len(name) > 64 || name == "Local" || strings.Contains(name, "..") || name[0] == '/' {
		return nil
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || strings.IndexByte("/_+-", ch) >= 0) {
			return nil
		}
	}
	if l, ok := userZones.Load(name); ok {
		return l.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	userZones.Store(name, loc)
	return loc
}
