package schedule

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
)

// ReasonOutsideWindow: the request came outside every time window of the
// route (and no break-glass grant lifted the window).
const ReasonOutsideWindow policy.Reason = "outside-window"

// Kind is time windows as a requirement kind: routes[].require.time_window
// and the top-level schedules: section. See internal/requirement.
type Kind struct{}

// Spec is a route's require.time_window section.
//
//	require:
//	  time_window: {schedules: [support-evenings]}
type Spec struct {
	// Schedules name entries of the schedules: section; the route is open
	// when any of them is.
	Schedules []string `yaml:"schedules"`
}

// Requirement is a compiled require.time_window: the pure check.
type Requirement struct {
	Names     []string
	schedules []*Compiled
}

// Kind implements policy.Requirement.
func (*Requirement) Kind() string { return "time_window" }

// Check implements policy.Requirement: met when one of the schedules is
// open at now, until the latest end of the open stretches. It needs no
// facts: the schedule and the instant are all there is to know, so every
// request is judged at its own instant and access that began inside the
// window stops at its end.
func (q *Requirement) Check(_ any, _ *policy.Input, now time.Time) policy.Result {
	var until time.Time
	open := false
	for _, c := range q.schedules {
		if ok, u := c.Open(now); ok {
			open = true
			if u.After(until) {
				until = u
			}
		}
	}
	if !open {
		return policy.Result{Reason: ReasonOutsideWindow}
	}
	return policy.Result{NotAfter: until}
}

// Schedules returns the compiled schedules (for pages and explain).
func (q *Requirement) Schedules() []*Compiled { return q.schedules }

// Next is the earliest instant after now at which one of the schedules
// opens (zero when none does within four years).
func (q *Requirement) Next(now time.Time) (time.Time, *Compiled) {
	var best time.Time
	var which *Compiled
	for _, c := range q.schedules {
		if n := c.Next(now); !n.IsZero() && (best.IsZero() || n.Before(best)) {
			best, which = n, c
		}
	}
	return best, which
}

// Name implements requirement.Kind.
func (Kind) Name() string { return "time_window" }

// Reasons implements requirement.Kind.
func (Kind) Reasons() []policy.Reason { return []policy.Reason{ReasonOutsideWindow} }

// NewSpec implements requirement.Kind.
func (Kind) NewSpec() any { return &Spec{} }

// Compile implements requirement.Kind. The schedules are compiled here, once
// per configuration load (time zones from the embedded database, holiday
// files read).
func (Kind) Compile(spec, section any, _ requirement.Route) (policy.Requirement, []requirement.Problem) {
	s := spec.(*Spec)
	c, _ := section.(*Config)
	if c == nil || len(*c) == 0 {
		return nil, []requirement.Problem{requirement.Problemf("", "requires the schedules section (named time windows)")}
	}
	if len(s.Schedules) == 0 {
		return nil, []requirement.Problem{requirement.Problemf(".schedules", "expected at least one schedule name (configured: %s)", strings.Join(names(*c), ", "))}
	}
	set, fp := compiled(c)
	if set == nil {
		// The section's own problems are reported under schedules: (from
		// this same compilation). The route says so too: a route whose
		// time window did not compile must never load without it.
		msg := "the schedules section has problems"
		if len(fp) > 0 {
			msg += " (" + fp[0].String()
			if len(fp) > 1 {
				msg += fmt.Sprintf(", and %d more", len(fp)-1)
			}
			msg += ")"
		}
		return nil, []requirement.Problem{requirement.Problemf(".schedules", "%s", msg)}
	}
	q := &Requirement{}
	var probs []requirement.Problem
	for i, n := range s.Schedules {
		sc := set.Get(n)
		if sc == nil {
			probs = append(probs, requirement.Problemf(fmt.Sprintf(".schedules[%d]", i), "unknown schedule %q (configured: %s)", n, strings.Join(names(*c), ", ")))
			continue
		}
		q.Names = append(q.Names, n)
		q.schedules = append(q.schedules, sc)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return q, nil
}

// compiled compiles a section once per loaded configuration (routes share
// the compiled schedules and their caches), reading its holiday files once:
// the section's problems (SectionProblems) and the routes' requirements
// (Compile) come from the same reading, so a file that changes between
// the two cannot pass the check and then fail to compile. The set is nil
// when there are problems.
func compiled(c *Config) (*Set, []FieldProblem) {
	compileMu.Lock()
	defer compileMu.Unlock()
	if e, ok := compileCache[c]; ok {
		return e.set, e.probs
	}
	set, probs := compileConfig(*c)
	if len(compileCache) >= maxCompiled {
		clear(compileCache)
	}
	compileCache[c] = compiledEntry{set, probs}
	return set, probs
}

func names(c Config) []string {
	out := make([]string, 0, len(c))
	for n := range c {
		out = append(out, n)
	}
	sortStrings(out)
	return out
}

// Section implements requirement.Sectioned.
func (Kind) Section() (string, any) { return "schedules", &Config{} }

// SectionProblems implements requirement.Sectioned.
func (Kind) SectionProblems(section any) []requirement.Problem {
	var out []requirement.Problem
	_, fp := compiled(section.(*Config))
	for _, p := range fp {
		out = append(out, requirement.Problem{Path: p.Path, Msg: p.Msg})
	}
	return out
}

// SectionWarnings implements requirement.SectionWarner: a time zone named
// Etc/GMT+N is UTC−N (the IANA names of fixed offsets invert the sign, as
// POSIX does), so a schedule written for UTC+2 as Etc/GMT+2 opens four
// hours late.
func (Kind) SectionWarnings(section any) []requirement.Problem {
	var out []requirement.Problem
	cfg := *section.(*Config)
	names := make([]string, 0, len(cfg))
	for n := range cfg {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if w := etcOffsetWarning(cfg[n].TimeZone); w != "" {
			out = append(out, requirement.Problem{Path: "." + n + ".time_zone", Msg: w})
		}
	}
	return out
}

// etcOffsetWarning says what an Etc/GMT±N zone means, or "".
func etcOffsetWarning(zone string) string {
	rest, ok := strings.CutPrefix(zone, "Etc/GMT")
	if !ok || len(rest) < 2 || rest[0] != '+' && rest[0] != '-' {
		return ""
	}
	n := rest[1:]
	if _, err := strconv.Atoi(n); err != nil || n == "0" {
		return ""
	}
	meant, is := "-", "+"
	if rest[0] == '-' {
		meant, is = "+", "-"
	}
	return fmt.Sprintf("%s is UTC%s%s, not UTC%s%s (IANA's Etc/GMT zones invert the sign); for UTC%s%s write Etc/GMT%s%s, or better a city zone such as Europe/Berlin, which follows daylight-saving time",
		zone, meant, n, is, n, is, n, meant, n)
}

// ResolvePaths implements requirement.Sectioned.
func (Kind) ResolvePaths(section any, dir string) { section.(*Config).ResolvePaths(dir) }

// WatchFiles implements requirement.FileWatcher: holiday calendars.
func (Kind) WatchFiles(section any) []string { return section.(*Config).ICSFiles() }

// NewService implements requirement.Kind. A time window gathers nothing: it
// is judged from the instant alone.
func (Kind) NewService(_ any, env requirement.Env) (requirement.Service, error) {
	return &kindService{env: env}, nil
}

type kindService struct{ env requirement.Env }

// windowFacts tells the audit record which schedules the route has.
type windowFacts struct{ names string }

// Gather implements requirement.Service: no I/O.
func (k *kindService) Gather(_ context.Context, req policy.Requirement, _ *requirement.Request) (any, error) {
	return &windowFacts{names: strings.Join(req.(*Requirement).Names, ",")}, nil
}

// Close implements requirement.Service.
func (k *kindService) Close() error { return nil }

// Audit implements requirement.Auditor: the schedules of the route.
func (k *kindService) Audit(facts any, rec *audit.Record) {
	if f, ok := facts.(*windowFacts); ok {
		rec.Schedule = f.names
	}
}

// Page implements requirement.Pager: when the route opens next, in the
// schedule's zone (and, by the page's script, in the browser's).
func (k *kindService) Page(_ context.Context, reason policy.Reason, req policy.Requirement, _ any, r *requirement.Request, _ requirement.Host) (requirement.Page, bool) {
	q, ok := req.(*Requirement)
	if !ok || reason != ReasonOutsideWindow {
		return requirement.Page{}, false
	}
	var hours []string
	for _, c := range q.schedules {
		hours = append(hours, c.Describe())
	}
	p := requirement.Page{Template: "window.html", Reason: reason, Title: r.Title + " is closed right now",
		Message: r.Title + " can be used " + strings.Join(hours, "; or ") + ".",
		Extra:   map[string]any{}}
	next, c := q.Next(r.Now)
	if next.IsZero() {
		p.Next = "It does not open again within the next four years; ask the tool's owners."
		return p, true
	}
	p.Next = "It opens next " + c.FormatNext(r.Now, nil) + "."
	p.Extra["NextISO"] = next.UTC().Format(time.RFC3339)
	p.Extra["NextZone"] = next.In(c.Location()).Format("Mon 2 Jan 2006 15:04") + " " + c.Location().String()
	p.Status = http.StatusForbidden
	return p, true
}

// compileCache keeps the compiled sets of the last few loaded sections, so
// the routes of one configuration share one compiled set (and its caches).
// It is bounded: a reload adds one entry, and old ones are dropped.
var (
	compileMu    sync.Mutex
	compileCache = map[*Config]compiledEntry{}
)

type compiledEntry struct {
	set   *Set
	probs []FieldProblem
}

const maxCompiled = 8

func sortStrings(s []string) { sort.Strings(s) }
