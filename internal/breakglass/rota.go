package breakglass

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/accessgateway/gateway/internal/yamlcheck"
)

// Rota is a static on-call rota and a list of incidents, for the quickstart
// and for small teams without a paging service. Written inline under a
// static provider's rota: or in its own file (rota_file:):
//
//	time_zone: Europe/Berlin
//	weekly:                        # every week, in time_zone
//	  - users: [alice@corp.example]
//	    days: mon-fri              # or [mon, wed, fri], "sat,sun", fri-mon
//	    from: "09:00"
//	    to: "17:00"
//	  - users: [bob@corp.example]
//	    days: mon-fri
//	    from: "17:00"
//	    to: "09:00"                # crosses midnight: belongs to the day it starts
//	shifts:                        # explicit ranges: RFC 3339, or "YYYY-MM-DD HH:MM" in time_zone
//	  - users: [carol@corp.example]
//	    from: 2026-12-24 18:00
//	    until: 2026-12-27 08:00
//	incidents:
//	  - id: INC-42
//	    title: Payments API returns 500
//	    status: active             # or resolved
//	    url: https://status.corp.example/INC-42
//
// A shift covers [from, to): from inclusive, to exclusive. "24:00" is allowed
// as an end. A weekly shift whose to is not after from ends the next day: it
// belongs to the day it starts (fri 22:00-02:00 is Friday night).
//
// Daylight-saving time: a wall-clock time (of a weekly shift, or of an
// explicit "YYYY-MM-DD HH:MM" range) stands for the earliest instant at
// which the zone's clock shows that time or a later one. In a skipped hour
// (spring forward) that is the instant of the jump; in a repeated hour (fall
// back) it is the first occurrence. A shift lasts the real time between its
// two instants (a 17:00-09:00 night shift is an hour shorter or longer on
// the nights the clocks change).
type Rota struct {
	TimeZone  string           `yaml:"time_zone"`
	Weekly    []WeeklyShift    `yaml:"weekly"`
	Shifts    []Shift          `yaml:"shifts"`
	Incidents []StaticIncident `yaml:"incidents"`
}

// WeeklyShift repeats every week on Days from From to To, in the rota's zone.
type WeeklyShift struct {
	Users []string `yaml:"users"`
	Days  Days     `yaml:"days"`
	From  string   `yaml:"from"`
	To    string   `yaml:"to"`
}

// Shift is one explicit range.
type Shift struct {
	Users []string `yaml:"users"`
	From  string   `yaml:"from"`
	Until string   `yaml:"until"`
}

// StaticIncident is an incident known to the static provider.
type StaticIncident struct {
	ID     string `yaml:"id"`
	Title  string `yaml:"title"`
	Status string `yaml:"status"` // active | resolved
	URL    string `yaml:"url"`
}

// Days lists day specifications: "mon", "mon-fri", "fri-mon" (ranges wrap
// around the week), comma-separated in one string or as a YAML list.
type Days []string

// UnmarshalYAML accepts a string ("mon-fri", "sat,sun") or a list of them.
func (d *Days) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err == nil {
		*d = Days{s}
		return nil
	}
	var l []string
	if err := unmarshal(&l); err != nil {
		return fmt.Errorf("expected days such as mon-fri or [mon, wed]")
	}
	*d = Days(l)
	return nil
}

// Static incident statuses.
const (
	StatusActive   = "active"
	StatusResolved = "resolved"
)

// maxRotaSize bounds a rota file.
const maxRotaSize = 1 << 20

// Limits that keep a rota small enough to scan on each check.
const (
	maxRotaEntries = 10000
	maxUsersPer    = 1000
)

// LoadRota reads and checks a rota file.
func LoadRota(path string) (Rota, error) {
	f, err := os.Open(path)
	if err != nil {
		return Rota{}, fmt.Errorf("breakglass: read rota: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRotaSize+1))
	if err != nil {
		return Rota{}, fmt.Errorf("breakglass: read rota: %w", err)
	}
	if len(b) > maxRotaSize {
		return Rota{}, fmt.Errorf("breakglass: rota %s: expected at most %d bytes", path, maxRotaSize)
	}
	r, err := ParseRota(b)
	if err != nil {
		return Rota{}, fmt.Errorf("%w (in %s)", err, path)
	}
	return r, nil
}

// ParseRota decodes a rota strictly (unknown keys are errors) and checks it:
// every problem is reported with its field path.
func ParseRota(data []byte) (Rota, error) {
	if len(data) > maxRotaSize {
		return Rota{}, fmt.Errorf("breakglass: rota: expected at most %d bytes, got %d", maxRotaSize, len(data))
	}
	var r Rota
	if err := decodeYAML(data, &r); err != nil {
		if err == io.EOF {
			return Rota{}, fmt.Errorf("breakglass: rota: expected a mapping, got an empty document")
		}
		return Rota{}, fmt.Errorf("breakglass: rota: %s", yaml.FormatError(err, false, false))
	}
	if probs := r.Problems(); len(probs) > 0 {
		return Rota{}, fmt.Errorf("breakglass: rota: %s", strings.Join(probs, "; "))
	}
	return r, nil
}

// decodeYAML decodes strictly. goccy/go-yaml v1.19.2 panics on some
// malformed input (a tag on a scalar where a sequence is expected, e.g.
// "weekly:\n  ! 00"; goccy/go-yaml#735, fixed upstream after that
// release): the panic becomes an error here.
func decodeYAML(data []byte, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed YAML (decoder failure: %v)", p)
		}
	}()
	// Aliases repeat a shift's users wherever they stand: bound them.
	if err := yamlcheck.CheckBytes(data); err != nil {
		return err
	}
	return yaml.NewDecoder(bytes.NewReader(data), yaml.Strict()).Decode(v)
}

// Problems returns every problem of the rota with its field path.
func (r *Rota) Problems() []string {
	_, probs := r.compile()
	return probs
}

// rota is a compiled Rota.
type rota struct {
	loc       *time.Location
	weekly    []weekly
	shifts    []span
	incidents map[string]StaticIncident
}

type weekly struct {
	users    map[string]bool
	days     uint8 // bit d set: shifts start on time.Weekday(d)
	from, to int   // minutes since midnight; to may be 1440 (24:00)
}

type span struct {
	users       map[string]bool
	from, until time.Time
}

// compile parses r; it returns the compiled rota only when there is no
// problem.
func (r *Rota) compile() (*rota, []string) {
	var probs []string
	add := func(path, format string, a ...any) {
		probs = append(probs, path+": "+fmt.Sprintf(format, a...))
	}
	c := &rota{incidents: map[string]StaticIncident{}}
	if r.TimeZone == "" {
		add("time_zone", "expected an IANA time zone such as Europe/Berlin")
	} else if loc, msg := loadZone(r.TimeZone); msg != "" {
		add("time_zone", "%s", msg)
	} else {
		c.loc = loc
	}
	if n := len(r.Weekly) + len(r.Shifts) + len(r.Incidents); n > maxRotaEntries {
		add("weekly", "expected at most %d entries in all, got %d", maxRotaEntries, n)
		return nil, probs
	}
	users := func(path string, list []string) map[string]bool {
		if len(list) == 0 {
			add(path, "expected at least one user")
		}
		if len(list) > maxUsersPer {
			add(path, "expected at most %d users, got %d", maxUsersPer, len(list))
			return nil
		}
		m := make(map[string]bool, len(list))
		for i, u := range list {
			e, err := normalizeEmail(u)
			if err != nil {
				add(fmt.Sprintf("%s[%d]", path, i), "expected an email address, got %q", u)
				continue
			}
			m[e] = true
		}
		return m
	}
	for i, w := range r.Weekly {
		path := fmt.Sprintf("weekly[%d]", i)
		cw := weekly{users: users(path+".users", w.Users)}
		var err error
		if cw.days, err = parseDays(w.Days); err != nil {
			add(path+".days", "%v", err)
		}
		from, errF := parseClock(w.From, false)
		if errF != nil {
			add(path+".from", "%v", errF)
		}
		to, errT := parseClock(w.To, true)
		if errT != nil {
			add(path+".to", "%v", errT)
		}
		if errF == nil && errT == nil && from == to {
			add(path+".to", "expected an end different from from (%q), got %q", w.From, w.To)
		}
		cw.from, cw.to = from, to
		c.weekly = append(c.weekly, cw)
	}
	for i, s := range r.Shifts {
		path := fmt.Sprintf("shifts[%d]", i)
		sp := span{users: users(path+".users", s.Users)}
		var errF, errU error
		sp.from, errF = parseInstant(s.From, c.loc)
		if errF != nil {
			add(path+".from", "%v", errF)
		}
		sp.until, errU = parseInstant(s.Until, c.loc)
		if errU != nil {
			add(path+".until", "%v", errU)
		}
		if errF == nil && errU == nil && !sp.until.After(sp.from) {
			add(path+".until", "expected an instant after from (%q), got %q", s.From, s.Until)
		}
		c.shifts = append(c.shifts, sp)
	}
	for i, inc := range r.Incidents {
		path := fmt.Sprintf("incidents[%d]", i)
		if !incidentIDRE.MatchString(inc.ID) {
			add(path+".id", "expected an ID of 1 to 128 letters, digits, '.', '_', ':' and '-', got %q", inc.ID)
		} else if _, dup := c.incidents[inc.ID]; dup {
			add(path+".id", "incident %q listed twice", inc.ID)
		}
		if inc.Status != StatusActive && inc.Status != StatusResolved {
			add(path+".status", "expected %s or %s, got %q", StatusActive, StatusResolved, inc.Status)
		}
		if len(inc.Title) > 500 {
			add(path+".title", "expected at most 500 bytes, got %d", len(inc.Title))
		}
		if inc.URL != "" {
			if err := checkLinkURL(inc.URL); err != nil {
				add(path+".url", "%v, got %q", err, inc.URL)
			}
		}
		c.incidents[inc.ID] = inc
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return c, nil
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// parseDays parses day specifications into a weekday bit set.
func parseDays(d Days) (uint8, error) {
	if len(d) == 0 {
		return 0, fmt.Errorf("expected days such as mon-fri")
	}
	var mask uint8
	for _, item := range d {
		for part := range strings.SplitSeq(item, ",") {
			part = strings.ToLower(strings.TrimSpace(part))
			first, last, isRange := strings.Cut(part, "-")
			a, okA := dayNames[strings.TrimSpace(first)]
			b := a
			okB := true
			if isRange {
				b, okB = dayNames[strings.TrimSpace(last)]
			}
			if !okA || !okB {
				return 0, fmt.Errorf("expected days such as mon, mon-fri or sat,sun, got %q", part)
			}
			for day := a; ; day = (day + 1) % 7 {
				mask |= 1 << day
				if day == b {
					break
				}
			}
		}
	}
	return mask, nil
}

// parseClock parses "HH:MM" into minutes since midnight; "24:00" only when
// end is true.
func parseClock(s string, end bool) (int, error) {
	bad := func() (int, error) { return 0, fmt.Errorf("expected a time of day HH:MM, got %q", s) }
	if len(s) != 5 || s[2] != ':' {
		return bad()
	}
	digits := func(a, b byte) (int, bool) {
		if a < '0' || a > '9' || b < '0' || b > '9' {
			return 0, false
		}
		return int(a-'0')*10 + int(b-'0'), true
	}
	h, ok1 := digits(s[0], s[1])
	m, ok2 := digits(s[3], s[4])
	if !ok1 || !ok2 || m > 59 {
		return bad()
	}
	if h == 24 && m == 0 {
		if !end {
			return 0, fmt.Errorf("expected a start before 24:00, got %q", s)
		}
		return 24 * 60, nil
	}
	if h > 23 {
		return bad()
	}
	return h*60 + m, nil
}

// parseInstant parses RFC 3339, or "YYYY-MM-DD HH:MM" in loc. A local time
// follows the rota's daylight-saving rule (wallInstant): a time in a
// skipped hour is the instant of the jump, a repeated one its first
// occurrence — never an instant at which the clock shows an earlier time.
func parseInstant(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if loc == nil {
		loc = time.UTC // the zone's own problem is reported already
	}
	if w, err := time.Parse("2006-01-02 15:04", s); err == nil {
		return wallInstant(w.Year(), w.Month(), w.Day(), w.Hour()*60+w.Minute(), loc), nil
	}
	return time.Time{}, fmt.Errorf("expected an RFC 3339 instant or YYYY-MM-DD HH:MM, got %q", s)
}

// onCall reports whether email (normalized) is on call at t.
func (c *rota) onCall(email string, t time.Time) bool {
	for _, s := range c.shifts {
		if s.users[email] && !t.Before(s.from) && t.Before(s.until) {
			return true
		}
	}
	if len(c.weekly) == 0 {
		return false
	}
	lt := t.In(c.loc)
	y, m, d := lt.Date()
	for _, w := range c.weekly {
		if !w.users[email] {
			continue
		}
		// A shift starts today, or started yesterday and crosses midnight.
		for _, off := range [2]int{0, -1} {
			day := time.Date(y, m, d+off, 0, 0, 0, 0, c.loc)
			if w.days&(1<<day.Weekday()) == 0 {
				continue
			}
			start, end := w.span(day, c.loc)
			if !t.Before(start) && t.Before(end) {
				return true
			}
		}
	}
	return false
}

// span returns the instants of the shift that starts on the calendar day of
// day (midnight in loc).
func (w weekly) span(day time.Time, loc *time.Location) (time.Time, time.Time) {
	y, m, d := day.Date()
	start := wallInstant(y, m, d, w.from, loc)
	endDay := d
	if w.to <= w.from {
		endDay++
	}
	return start, wallInstant(y, m, endDay, w.to, loc)
}

// wallInstant returns the earliest instant at which the clock of loc shows
// y-m-d plus min minutes or a later time. time.Date alone leaves both the
// skipped and the repeated hour unspecified (in practice it differs between
// zones), so the answer is pinned here.
func wallInstant(y int, m time.Month, d, min int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, min, 0, 0, loc)
	want := time.Date(y, m, d, 0, min, 0, 0, time.UTC)
	wall := func(x time.Time) time.Time {
		l := x.In(loc)
		return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
	}
	start, end := t.ZoneBounds()
	switch w := wall(t); {
	case w.Before(want):
		// A skipped time taken before the jump: the clock passes want
		// when the next zone period begins.
		if !end.IsZero() {
			return end
		}
	case w.After(want):
		// A skipped time taken after the jump: the jump itself.
		if !start.IsZero() {
			return start
		}
	case !start.IsZero():
		// A repeated time taken at its second occurrence: go back to
		// the first.
		_, off := t.Zone()
		_, prev := start.Add(-time.Nanosecond).Zone()
		if prev > off {
			early := t.Add(-time.Duration(prev-off) * time.Second)
			if early.Before(start) && wall(early).Equal(want) {
				return early
			}
		}
	}
	return t
}

// Static is the static provider: a compiled Rota. It does no I/O.
type Static struct {
	name string
	r    *rota
}

// NewStatic compiles r into a provider named name.
func NewStatic(name string, r Rota) (*Static, error) {
	c, probs := r.compile()
	if len(probs) > 0 {
		return nil, fmt.Errorf("breakglass: provider %s: rota: %s", name, strings.Join(probs, "; "))
	}
	return &Static{name: name, r: c}, nil
}

// OnCall reports whether email is on call at at by the rota.
func (s *Static) OnCall(_ context.Context, email string, at time.Time) (bool, error) {
	e, err := normalizeEmail(email)
	if err != nil {
		return false, nil
	}
	return s.r.onCall(e, at), nil
}

// Incident returns a static incident, or ErrNotFound.
func (s *Static) Incident(_ context.Context, id string) (Incident, error) {
	inc, ok := s.r.incidents[id]
	if !ok {
		return Incident{}, fmt.Errorf("%w: %s has no incident %q", ErrNotFound, s.name, id)
	}
	return Incident{
		ID: inc.ID, Provider: s.name, Title: inc.Title, URL: inc.URL,
		Status: inc.Status, Active: inc.Status == StatusActive,
	}, nil
}
