package justify

import (
	"errors"
	"flag"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
)

// Kind is justification as a requirement kind: routes[].require.justification
// and the top-level justification: section. See internal/requirement.
type Kind struct{}

// Spec is a route's require.justification section.
//
//	require:
//	  justification:
//	    systems: [jira, pd]                 # default: every configured system
//	    bind: {customer: "{customer_id}"}   # the ticket must name this customer
//	    bind_case: sensitive                # or insensitive (ASCII letters)
//	    reverify: 5m                        # ask the system again this often
//	    max_age: 8h                         # the longest life of a grant
type Spec struct {
	// Systems are the configured systems whose tickets the route accepts;
	// empty means all of them.
	Systems []string `yaml:"systems"`
	// Bind ties the ticket to one resource of the request: a name (what
	// the form calls it, "customer") and a template over the route's path
	// variables ("{customer_id}", "acme-{id}", "{org}/{id}"). With two or
	// more variables, text must separate them and the template must hold
	// no '%'; a value's characters that occur in the text between them
	// (and '%') are percent-encoded: see Requirement.Resource.
	Bind map[string]string `yaml:"bind"`
	// BindCase is how the bound resource is compared with the ticket's:
	// sensitive (default; byte for byte) or insensitive (ASCII letters
	// folded). Only for resources whose IDs ignore case: with insensitive,
	// a ticket about cus_Ab12 also justifies cus_aB12.
	BindCase string `yaml:"bind_case"`
	// Reverify is how often a grant is checked again with its system while
	// it is used (default 5m, at least 10s).
	Reverify time.Duration `yaml:"reverify"`
	// MaxAge is the longest life of a grant (default 8h, at most 7 days).
	MaxAge time.Duration `yaml:"max_age"`
}

// Spec defaults.
const (
	DefaultReverify = 5 * time.Minute
	DefaultMaxAge   = 8 * time.Hour
)

// Requirement is a compiled require.justification: the pure check.
type Requirement struct {
	// Route is the route's name: a grant holds for its route only.
	Route string
	// Systems are the accepted systems (never empty once compiled).
	Systems []string
	// ResourceName names the bound resource ("customer"); empty when the
	// route binds none.
	ResourceName string
	// FoldCase compares the bound resource ignoring ASCII case
	// (bind_case: insensitive).
	FoldCase bool
	tmpl     []tmplPart
	// escape lists the bytes percent-encoded in a variable's value: those
	// of the literal text between variables, and '%' (empty with one
	// variable).
	escape   string
	Reverify time.Duration
	MaxAge   time.Duration
}

var resourceName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// tmplPart is a literal, or a path variable when v is set.
type tmplPart struct{ lit, v string }

// Kind implements policy.Requirement.
func (*Requirement) Kind() string { return "justification" }

// Resource is the bound resource of a request with the route's path
// variables vars ("" when the route binds none).
//
// With two or more variables the values are joined by the template's
// literal text, so a value holding that text could be read as another
// split: "{org}-{id}" would bind (a, b-c) and (a-b, c) both as "a-b-c",
// and one ticket (and one grant) would cover both. Each value's bytes that
// occur in the literal text between the variables, and '%', are therefore
// percent-encoded (uppercase hex): (a, b-c) binds "a-b%2Dc" and (a-b, c)
// "a%2Db-c", which is what a ticket must name to justify them. Compile
// requires text between variables and no '%' in the template, so every
// resource has one reading. A single variable is used as it is: the text
// around it is fixed.
func (q *Requirement) Resource(vars map[string]string) string {
	switch len(q.tmpl) {
	case 0:
		return ""
	case 1:
		if q.tmpl[0].v != "" {
			return vars[q.tmpl[0].v]
		}
		return q.tmpl[0].lit
	}
	var b strings.Builder
	for _, p := range q.tmpl {
		if p.v != "" {
			writeEscaped(&b, vars[p.v], q.escape)
		} else {
			b.WriteString(p.lit)
		}
	}
	return b.String()
}

// writeEscaped writes v to b with the bytes of escape percent-encoded.
func writeEscaped(b *strings.Builder, v, escape string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		if strings.IndexByte(escape, c) < 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

// judge is Check (or CheckFoldCase, as the route's bind_case says).
func (q *Requirement) judge(t Ticket, user, resource string) policy.Reason {
	return check(t, user, resource, q.FoldCase)
}

// Facts are what the justification kind found for a request: the grant of
// this session (or API client), route and bound resource, or why there is
// none usable.
type Facts struct {
	Grant *Grant
	// Problem is why the grant no longer holds (the last re-verification
	// found the ticket closed, or the system unreachable) or why the
	// ticket an API client named was refused.
	Problem policy.Reason
	// Ticket names the ticket a Problem is about ("jira:SUP-1"), for pages.
	Ticket string
	// Detail says more about Problem, safe to show the user.
	Detail string
}

// Check implements policy.Requirement: a grant for this route and this
// resource, of this user, from a system the route accepts now, not
// expired, whose last verification found the ticket open, involving the
// user and naming the resource. It holds until the grant expires. (A
// reload may have taken the grant's system off the route: its grants stop
// at once, not when they expire.)
func (q *Requirement) Check(facts any, in *policy.Input, now time.Time) policy.Result {
	f, _ := facts.(*Facts)
	switch {
	case f == nil:
		return policy.Result{Reason: ReasonRequired}
	case f.Problem != "":
		return policy.Result{Reason: f.Problem}
	case f.Grant == nil:
		return policy.Result{Reason: ReasonRequired}
	}
	g := f.Grant
	switch {
	case !now.Before(g.ExpiresAt), g.Route != q.Route, !slices.Contains(q.Systems, g.System):
		return policy.Result{Reason: ReasonRequired}
	case !sameResource(g.Resource, q.Resource(in.Request.Vars), q.FoldCase):
		return policy.Result{Reason: ReasonResourceMismatch}
	case in.Identity == nil || !asciiEqualFold(g.User, in.Identity.Email):
		return policy.Result{Reason: ReasonNotAssigned}
	}
	return policy.Result{NotAfter: g.ExpiresAt, Grant: "justification"}
}

// Name implements requirement.Kind.
func (Kind) Name() string { return "justification" }

// Reasons implements requirement.Kind.
func (Kind) Reasons() []policy.Reason { return Reasons }

// NewSpec implements requirement.Kind.
func (Kind) NewSpec() any { return &Spec{} }

// Compile implements requirement.Kind.
func (Kind) Compile(spec, section any, r requirement.Route) (policy.Requirement, []requirement.Problem) {
	s := spec.(*Spec)
	var probs []requirement.Problem
	c, _ := section.(*Config)
	if c == nil || len(c.Systems) == 0 {
		return nil, []requirement.Problem{requirement.Problemf("", "requires the justification section with at least one system (justification.systems)")}
	}
	q := &Requirement{Route: r.Name, Systems: slices.Clone(s.Systems), Reverify: s.Reverify, MaxAge: s.MaxAge}
	if len(q.Systems) == 0 {
		for name := range c.Systems {
			q.Systems = append(q.Systems, name)
		}
		slices.Sort(q.Systems)
	}
	for i, name := range s.Systems {
		if _, ok := c.Systems[name]; !ok {
			probs = append(probs, requirement.Problemf(fmt.Sprintf(".systems[%d]", i), "unknown system %q (configured: %s)", name, strings.Join(sortedKeys(c.Systems), ", ")))
		}
	}
	if q.Reverify == 0 {
		q.Reverify = DefaultReverify
	}
	if q.MaxAge == 0 {
		q.MaxAge = DefaultMaxAge
	}
	if q.Reverify < 10*time.Second || q.Reverify > 24*time.Hour {
		probs = append(probs, requirement.Problemf(".reverify", "expected between 10s and 24h, got %s", q.Reverify))
	}
	if q.MaxAge < time.Minute || q.MaxAge > 7*24*time.Hour {
		probs = append(probs, requirement.Problemf(".max_age", "expected between 1m and 168h, got %s", q.MaxAge))
	}
	switch len(s.Bind) {
	case 0:
	case 1:
		for name, t := range s.Bind {
			if !resourceName.MatchString(name) {
				probs = append(probs, requirement.Problemf(".bind", "expected a resource name such as customer, got %q", name))
			}
			parts, err := parseTemplate(t, r.Vars)
			if err != nil {
				probs = append(probs, requirement.Problemf(".bind."+name, "%v", err))
			}
			q.ResourceName, q.tmpl, q.escape = name, parts, escapeSet(parts)
		}
	default:
		probs = append(probs, requirement.Problemf(".bind", "expected one resource (such as customer: \"{customer_id}\"), got %d", len(s.Bind)))
	}
	switch s.BindCase {
	case "", BindCaseSensitive:
	case BindCaseInsensitive:
		q.FoldCase = true
	default:
		probs = append(probs, requirement.Problemf(".bind_case", "expected sensitive or insensitive, got %q", s.BindCase))
	}
	if s.BindCase != "" && len(s.Bind) == 0 {
		probs = append(probs, requirement.Problemf(".bind_case", "set without bind: there is no resource to compare"))
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return q, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Bind cases.
const (
	BindCaseSensitive   = "sensitive"
	BindCaseInsensitive = "insensitive"
)

// escapeSet is what Resource percent-encodes in values: with two or more
// variables, the bytes of the literal text between the first and the last
// variable, and '%'; nothing with one.
func escapeSet(parts []tmplPart) string {
	first, last := -1, -1
	for i, p := range parts {
		if p.v != "" {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first == last {
		return ""
	}
	set := "%"
	for _, p := range parts[first:last] {
		for i := 0; i < len(p.lit); i++ {
			if strings.IndexByte(set, p.lit[i]) < 0 {
				set += p.lit[i : i+1]
			}
		}
	}
	return set
}

// parseTemplate reads "{var}" and literal parts; every variable must be one
// of the route's path variables, and there must be at least one. Between
// two variables there must be literal text without '%' (else no escaping
// could keep two splits of the values apart).
func parseTemplate(t string, vars []string) ([]tmplPart, error) {
	var out []tmplPart
	hasVar := false
	for rest := t; rest != ""; {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			out = append(out, tmplPart{lit: rest})
			break
		}
		if open > 0 {
			out = append(out, tmplPart{lit: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("expected a path variable such as \"{customer_id}\", got %q", t)
		}
		name := rest[open+1 : open+end]
		if !slices.Contains(vars, name) {
			if len(vars) == 0 {
				return nil, fmt.Errorf("the route's path has no variables; bind takes one such as {customer_id} from routes[].path, got %q", t)
			}
			return nil, fmt.Errorf("unknown path variable %q in %q (the route's path has %s)", name, t, strings.Join(vars, ", "))
		}
		if n := len(out); n > 0 && out[n-1].v != "" {
			return nil, fmt.Errorf("expected text between {%s} and {%s} in %q (such as \"{%s}/{%s}\"): without it, values could be split in more than one way", out[n-1].v, name, t, out[n-1].v, name)
		}
		out = append(out, tmplPart{v: name})
		hasVar = true
		rest = rest[open+end+1:]
	}
	if !hasVar {
		return nil, fmt.Errorf("expected a path variable such as \"{customer_id}\", got %q", t)
	}
	if set := escapeSet(out); set != "" {
		for _, p := range out {
			if strings.IndexByte(p.lit, '%') >= 0 {
				return nil, fmt.Errorf("expected no '%%' in the text of a template with several variables (values are percent-encoded), got %q", t)
			}
		}
	}
	return out, nil
}

// Section implements requirement.Sectioned.
func (Kind) Section() (string, any) { return "justification", &Config{} }

// SectionProblems implements requirement.Sectioned.
func (Kind) SectionProblems(section any) []requirement.Problem {
	var out []requirement.Problem
	for _, p := range section.(*Config).FieldProblems() {
		out = append(out, requirement.Problem{Path: p.Path, Msg: p.Msg})
	}
	return out
}

// ResolvePaths implements requirement.Sectioned.
func (Kind) ResolvePaths(section any, dir string) { section.(*Config).ResolvePaths(dir) }

// ConsumedHeaders implements requirement.HeaderConsumer: the header API
// clients name their ticket in.
func (Kind) ConsumedHeaders(section any) []string {
	return []string{section.(*Config).WithDefaults().Header}
}

// Assumption is a policy test's (or `gateway explain`'s) ticket:
// tests[].justification.
//
//	justification: {ticket: "jira:SUP-1", state: open, customers: ["42"]}
type Assumption struct {
	// Ticket is "system:ID".
	Ticket string `yaml:"ticket"`
	// State is open (default) or closed.
	State string `yaml:"state"`
	// Involved says whether the ticket involves the test's user (default
	// true).
	Involved *bool `yaml:"involved"`
	// Customers are the resources the ticket names.
	Customers []string `yaml:"customers"`
	// Unavailable assumes the system cannot be reached.
	Unavailable bool `yaml:"unavailable"`
}

// NewAssumption implements requirement.Assumer.
func (Kind) NewAssumption() any { return &Assumption{} }

// AssumptionProblems implements requirement.Assumer.
func (Kind) AssumptionProblems(assumption any) []requirement.Problem {
	a := assumption.(*Assumption)
	var probs []requirement.Problem
	if sys, id, ok := strings.Cut(a.Ticket, ":"); !ok || sys == "" || id == "" {
		probs = append(probs, requirement.Problemf(".ticket", "expected system:ID such as jira:SUP-1, got %q", a.Ticket))
	}
	if a.State != "" && a.State != "open" && a.State != "closed" {
		probs = append(probs, requirement.Problemf(".state", "expected open or closed, got %q", a.State))
	}
	return probs
}

// Assume implements requirement.Assumer: the ticket is judged by the same
// Check a live one is, and a ticket that passes is a fresh grant.
func (Kind) Assume(assumption any, req policy.Requirement, in *policy.Input, now time.Time) any {
	a, _ := assumption.(*Assumption)
	q, _ := req.(*Requirement)
	if a == nil || q == nil {
		return nil
	}
	sys, id, _ := strings.Cut(a.Ticket, ":")
	user := ""
	if in.Identity != nil {
		user = in.Identity.Email
	}
	if !slices.Contains(q.Systems, sys) {
		return &Facts{Problem: ReasonRequired, Ticket: a.Ticket, Detail: "the route does not accept tickets of " + sys}
	}
	if a.Unavailable {
		return &Facts{Problem: ReasonUnavailable, Ticket: a.Ticket}
	}
	t := Ticket{System: sys, ID: id, Open: a.State != "closed", Resources: a.Customers}
	if a.Involved == nil || *a.Involved {
		t.Involved = []string{strings.ToLower(user)}
	}
	res := q.Resource(in.Request.Vars)
	if reason := q.judge(t, user, res); reason != "" {
		return &Facts{Problem: reason, Ticket: a.Ticket}
	}
	return &Facts{Grant: &Grant{System: sys, ID: id, User: user, Route: q.Route, Resource: res,
		GrantedAt: now, VerifiedAt: now, ExpiresAt: now.Add(q.MaxAge)}}
}

// ExplainFlags implements requirement.Assumer.
func (Kind) ExplainFlags(fs *flag.FlagSet) func() (any, error) {
	ticket := fs.String("ticket", "", "assume a ticket, system:ID (e.g. jira:SUP-1)")
	state := fs.String("ticket-state", "open", "the assumed ticket's state: open or closed")
	notInvolved := fs.Bool("ticket-not-involved", false, "the assumed ticket does not involve the user")
	var customers multiFlag
	fs.Var(&customers, "ticket-customer", "a customer the assumed ticket names (repeatable)")
	unavailable := fs.Bool("ticket-unavailable", false, "assume the ticket system cannot be reached")
	return func() (any, error) {
		if *ticket == "" {
			if len(customers) > 0 || *notInvolved || *unavailable {
				return nil, errors.New("explain: the --ticket-* flags need --ticket")
			}
			return nil, nil
		}
		involved := !*notInvolved
		a := &Assumption{Ticket: *ticket, State: *state, Involved: &involved, Customers: customers, Unavailable: *unavailable}
		if p := (Kind{}).AssumptionProblems(a); len(p) > 0 {
			return nil, fmt.Errorf("explain: --ticket%s: %s", p[0].Path, p[0].Msg)
		}
		return a, nil
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
