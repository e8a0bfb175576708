package schedule

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Config is the top-level `schedules:` section: schedules by name. Routes
// refer to them by that name.
//
//	schedules:
//	  support-evenings:
//	    time_zone: Europe/Berlin
//	    windows:
//	      - {days: mon-fri, from: "17:00", to: "21:00"}
//	      - {days: [sat, sun], from: "22:00", to: "02:00"}   # crosses midnight
//	    from: 2026-12-01            # optional date range, inclusive, in the zone
//	    until: 2027-03-31
//	    except: [2026-12-24, 2026-12-25]
//	    except_ics: holidays.ics    # all-day events; relative to the config file
type Config map[string]Schedule

// Schedule is one named schedule. The grammar and its semantics (midnight,
// daylight-saving changes, holidays) are in docs/schedules.md.
type Schedule struct {
	// TimeZone is an IANA zone name such as Europe/Berlin; required. Every
	// day, time and date of the schedule is read on this zone's wall clock.
	TimeZone string `yaml:"time_zone"`
	// Windows are the weekly open hours; at least one.
	Windows []Window `yaml:"windows"`
	// From and Until bound the schedule to a range of dates (YYYY-MM-DD,
	// both inclusive, in the zone). Either may be empty.
	From  string `yaml:"from,omitempty"`
	Until string `yaml:"until,omitempty"`
	// Except lists holiday dates (YYYY-MM-DD): the schedule is closed from
	// 00:00 to 24:00 of each, in the zone.
	Except []string `yaml:"except,omitempty"`
	// ExceptICS is an iCalendar file of holidays (all-day events; yearly
	// recurrences are expanded). Relative paths are resolved by ResolvePaths.
	ExceptICS string `yaml:"except_ics,omitempty"`
}

// Window is one weekly window: on each of Days, from From to To on the wall
// clock. To before From crosses midnight: the window belongs to the day it
// starts on ("fri 22:00-02:00" runs from Friday 22:00 to Saturday 02:00).
// Without From and To the window is the whole day.
type Window struct {
	// Days: "mon-fri", "sat,sun", or a list such as [mon, wed]; ranges wrap
	// ("fri-mon").
	Days Days `yaml:"days"`
	// From is the opening time, "HH:MM", inclusive.
	From string `yaml:"from,omitempty"`
	// To is the closing time, "HH:MM" or "24:00", exclusive.
	To string `yaml:"to,omitempty"`
}

// Days is the days: value of a window. In YAML it is one string ("mon-fri",
// "sat, sun") or a list of strings ([mon, wed-fri]); each string is kept as
// written and parsed by Problems and Compile.
type Days []string

// UnmarshalYAML accepts a string or a list of strings; the days are
// checked by Problems, with the field's path. A value of another shape
// (a mapping) is a decode error with its line.
func (d *Days) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err == nil {
		*d = nil
		if s != "" {
			*d = Days{s}
		}
		return nil
	}
	var l []string
	if err := unmarshal(&l); err != nil {
		return err
	}
	*d = l
	return nil
}

// namePattern is what a schedule's name may look like (it appears in route
// YAML, on pages and in audit records).
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// FieldProblem is one problem with its field path relative to the
// section, written with a leading dot (".support.windows[0].to"), the
// convention of the gateway's requirement kinds.
type FieldProblem struct {
	Path, Msg string
}

// String renders p as "path: message" without the leading dot.
func (p FieldProblem) String() string {
	return strings.TrimPrefix(p.Path, ".") + ": " + p.Msg
}

// FieldProblems reports every problem in c, sorted by schedule name and,
// within a schedule, in the order of its fields. It reads the except_ics
// files (a missing or malformed file is a problem) and changes nothing.
func (c Config) FieldProblems() []FieldProblem {
	_, probs := compileConfig(c)
	return probs
}

// Problems reports every problem in c as "path: message", the path
// relative to the section (`support.windows[0].to: "25:00" is not a time
// of day …`), in the order of FieldProblems.
func (c Config) Problems() []string {
	fp := c.FieldProblems()
	if len(fp) == 0 {
		return nil
	}
	out := make([]string, len(fp))
	for i, p := range fp {
		out[i] = p.String()
	}
	return out
}

// ResolvePaths makes every relative except_ics path absolute against dir
// (the configuration file's directory). An empty dir changes nothing.
func (c *Config) ResolvePaths(dir string) {
	if c == nil || dir == "" {
		return
	}
	for n, s := range *c {
		if s.ExceptICS != "" && !filepath.IsAbs(s.ExceptICS) {
			s.ExceptICS = filepath.Join(dir, s.ExceptICS)
			(*c)[n] = s
		}
	}
}

// ICSFiles returns the except_ics files of every schedule, sorted and
// without repeats, for a caller that reloads the configuration when they
// change.
func (c Config) ICSFiles() []string {
	var out []string
	for _, s := range c {
		if s.ExceptICS != "" {
			out = append(out, s.ExceptICS)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// loadZone loads an IANA zone (see LoadZone).
func loadZone(name string) (*time.Location, error) {
	if name == "" {
		return nil, fmt.Errorf("required (an IANA name such as Europe/Berlin)")
	}
	loc, err := LoadZone(name)
	if err != nil {
		return nil, err
	}
	return loc, nil
}

// zoneName is the shape of an IANA zone name: components of letters,
// digits, '_', '+' and '-', each starting with a letter, joined by single
// slashes (Europe/Berlin, America/Argentina/Buenos_Aires, Etc/GMT+2).
var zoneName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z][A-Za-z0-9_+-]*)*$`)

// LoadZone loads the IANA time zone name for a setting that every replica
// must read alike (a schedule's time_zone, break-glass's limit_time_zone,
// a rota's time_zone). Refused: the empty name (time.LoadLocation reads
// it as UTC); the names that stand for the machine's own zone ("Local",
// and "localtime" and "posixrules", which the system's zone directory
// links to /etc/localtime and to a zone its packager chose); the posix/
// and right/ copies of the database, which only the system's directory
// holds (right/ counts leap seconds); and spellings only a file system
// resolves ("./UTC", "Europe//Berlin"). Each would make the answer
// depend on the machine: another zone on a replica set up differently, or
// a configuration that loads on one machine and fails in a scratch
// container (which has only the database embedded in the binary).
func LoadZone(name string) (*time.Location, error) {
	if name == "" {
		return nil, &ZoneError{Note: "none given"}
	}
	switch strings.ToLower(name) {
	case "local", "localtime", "posixrules":
		return nil, &ZoneError{Name: name, Note: "it depends on the machine"}
	}
	if dir, rest, ok := strings.Cut(name, "/"); ok && (strings.EqualFold(dir, "posix") || strings.EqualFold(dir, "right")) {
		return nil, &ZoneError{Name: name, Note: "a copy in the system's zone directory only; write " + rest}
	}
	if !zoneName.MatchString(name) {
		return nil, &ZoneError{Name: name}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, &ZoneError{Name: name}
	}
	return loc, nil
}

// ZoneError is LoadZone's refusal of a name: Note says why a name that
// exists on this machine is refused ("it depends on the machine"); it is
// empty for a name no zone has.
type ZoneError struct {
	Name, Note string
}

func (e *ZoneError) Error() string {
	if e.Note == "" {
		return fmt.Sprintf("unknown time zone %q (expected an IANA name such as Europe/Berlin)", e.Name)
	}
	return fmt.Sprintf("expected an IANA name such as Europe/Berlin, got %q (%s)", e.Name, e.Note)
}
