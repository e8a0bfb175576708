package schedule

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	_ "time/tzdata" // the zone database, for machines (and scratch images) without one
)

// Set is a compiled Config: every schedule parsed once, ready for Open and
// Next on every request. It is safe for concurrent use.
type Set struct {
	m map[string]*Compiled
}

// Compile parses and checks every schedule of c (the same checks as
// Problems, reading the except_ics files once). On any problem it returns
// an error listing all of them and no Set.
func Compile(c Config) (*Set, error) {
	s, fp := compileConfig(c)
	if len(fp) == 0 {
		return s, nil
	}
	return nil, compileError(fp)
}

// compileConfig compiles every schedule of c in one pass (each except_ics
// file read once) and returns the set, nil on any problem, and the
// problems in the order of FieldProblems.
func compileConfig(c Config) (*Set, []FieldProblem) {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	s := &Set{m: make(map[string]*Compiled, len(c))}
	var probs []FieldProblem
	for _, n := range names {
		cs, ps := compileSchedule(n, c[n])
		probs = append(probs, ps...)
		s.m[n] = cs
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return s, nil
}

// compileError is Compile's error listing every problem.
func compileError(fp []FieldProblem) error {
	probs := make([]string, len(fp))
	for i, p := range fp {
		probs[i] = p.String()
	}
	if len(probs) == 1 {
		return errors.New("schedule: " + probs[0])
	}
	return fmt.Errorf("schedule: %d problems:\n  %s", len(probs), strings.Join(probs, "\n  "))
}

// Get returns the schedule called name, or nil if there is none (or s is
// nil). Callers must treat nil as closed.
func (s *Set) Get(name string) *Compiled {
	if s == nil {
		return nil
	}
	return s.m[name]
}

// Names lists the schedules of s, sorted.
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	out := make([]string, 0, len(s.m))
	for n := range s.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Compiled is one schedule, parsed. Its methods are pure functions of the
// configuration and their time argument (a cache of the last open stretch
// only saves work), and safe for concurrent use.
type Compiled struct {
	name    string
	loc     *time.Location
	windows []window
	// week[d] are the open spans of a day whose weekday is d, merged and
	// sorted: the windows that start that day, and the parts after
	// midnight of the windows that started the day before.
	week [7][]span
	// fromDay and untilDay bound the open days (inclusive day numbers).
	fromDay, untilDay int64
	// holidays are closed day numbers, sorted, without repeats.
	holidays []int64
	describe string
	// last is the most recent open stretch Open found.
	last atomic.Pointer[stretch]
}

// window is a parsed Window. to <= from crosses midnight.
type window struct {
	days     dayMask
	from, to int32
}

func (w window) crosses() bool { return w.to <= w.from }

// span is a half-open range of seconds of a wall-clock day, from < to <=
// daySeconds.
type span struct{ from, to int32 }

// stretch is a half-open range of Unix seconds during which the schedule
// is open throughout.
type stretch struct{ lo, hi int64 }

// compileSchedule parses s; problems carry paths that start with "."+name.
func compileSchedule(name string, s Schedule) (*Compiled, []FieldProblem) {
	var probs []FieldProblem
	add := func(path, format string, a ...any) {
		probs = append(probs, FieldProblem{Path: "." + name + path, Msg: fmt.Sprintf(format, a...)})
	}
	if !namePattern.MatchString(name) {
		add("", "expected a schedule name of letters, digits, '-' and '_' (at most 64, starting with a letter or digit), got %q", name)
	}
	c := &Compiled{name: name, fromDay: math.MinInt64, untilDay: math.MaxInt64}
	loc, err := loadZone(s.TimeZone)
	if err != nil {
		add(".time_zone", "%v", err)
	}
	c.loc = loc
	if len(s.Windows) == 0 {
		add(".windows", "expected at least one window, got none")
	}
	for i, w := range s.Windows {
		path := fmt.Sprintf(".windows[%d]", i)
		var pw window
		ok := true
		days, err := parseDays(w.Days)
		if err != nil {
			add(path+".days", "%v", err)
			ok = false
		}
		pw.days = days
		switch {
		case w.From == "" && w.To == "":
			pw.from, pw.to = 0, daySeconds
		case w.From == "":
			add(path+".from", `required when to is set (or leave out both for the whole day)`)
			ok = false
		case w.To == "":
			add(path+".to", `required when from is set (or leave out both for the whole day)`)
			ok = false
		default:
			from, err := parseClock(w.From, false)
			if err != nil {
				add(path+".from", "%v", err)
				ok = false
			}
			to, err := parseClock(w.To, true)
			if err != nil {
				add(path+".to", "%v", err)
				ok = false
			}
			if ok && from == to {
				add(path, "from and to are both %q; expected a window of some length (leave out both, or 00:00 to 24:00, for the whole day)", w.From)
				ok = false
			}
			pw.from, pw.to = from, to
		}
		if ok {
			c.windows = append(c.windows, pw)
		}
	}
	if s.From != "" {
		d, err := parseDate(s.From)
		if err != nil {
			add(".from", "%v", err)
		} else {
			c.fromDay = d
		}
	}
	if s.Until != "" {
		d, err := parseDate(s.Until)
		if err != nil {
			add(".until", "%v", err)
		} else {
			c.untilDay = d
		}
	}
	if s.From != "" && s.Until != "" && c.fromDay != math.MinInt64 && c.untilDay != math.MaxInt64 && c.untilDay < c.fromDay {
		add(".until", "expected a date on or after from (%s), got %s", s.From, s.Until)
	}
	for i, e := range s.Except {
		d, err := parseDate(e)
		if err != nil {
			add(fmt.Sprintf(".except[%d]", i), "%v", err)
			continue
		}
		c.holidays = append(c.holidays, d)
	}
	if s.ExceptICS != "" {
		days, ps := readICS(s.ExceptICS)
		for _, p := range ps {
			add(".except_ics", "%s", p)
		}
		c.holidays = append(c.holidays, days...)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	slices.Sort(c.holidays)
	c.holidays = slices.Compact(c.holidays)
	c.holidays = slices.Clip(c.holidays)
	c.buildWeek()
	ics := ""
	if s.ExceptICS != "" {
		ics = filepath.Base(s.ExceptICS)
	}
	c.describe = describe(c, s.From, s.Until, len(s.Except), ics)
	return c, nil
}

// buildWeek fills c.week from c.windows.
func (c *Compiled) buildWeek() {
	for d := time.Sunday; d <= time.Saturday; d++ {
		prev := (d + 6) % 7
		var spans []span
		for _, w := range c.windows {
			if w.days.has(d) {
				if w.crosses() {
					spans = append(spans, span{w.from, daySeconds})
				} else {
					spans = append(spans, span{w.from, w.to})
				}
			}
			if w.days.has(prev) && w.crosses() && w.to > 0 {
				spans = append(spans, span{0, w.to})
			}
		}
		c.week[d] = mergeSpans(spans)
	}
}

// mergeSpans sorts spans and joins those that overlap or touch.
func mergeSpans(spans []span) []span {
	if len(spans) == 0 {
		return nil
	}
	slices.SortFunc(spans, func(a, b span) int { return int(a.from - b.from) })
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s.from <= last.to {
			last.to = max(last.to, s.to)
			continue
		}
		out = append(out, s)
	}
	return slices.Clip(out)
}

// Name is the schedule's name in the configuration.
func (c *Compiled) Name() string { return c.name }

// Location is the schedule's time zone.
func (c *Compiled) Location() *time.Location { return c.loc }
