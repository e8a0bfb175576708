package policy

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync/atomic"
	"unicode"
)

// Rules are a route's allow and deny conditions as written in YAML. A request
// is allowed when no deny entry matches and at least one allow entry matches.
// Within one entry every listed field must match (AND); within a field any
// value does (OR).
type Rules struct {
	Allow []Condition `yaml:"allow"`
	Deny  []Condition `yaml:"deny"`
}

// Condition is one allow or deny entry. An entry with no field set is invalid
// (it would silently match everyone); Everyone says so explicitly.
type Condition struct {
	Emails  []string            `yaml:"emails"`
	Domains []string            `yaml:"domains"`
	Groups  []string            `yaml:"groups"`
	Claims  map[string][]string `yaml:"claims"`
	// Vars match the route's path variables ({customer_id}), taken from the
	// same normalized path the upstream gets: {customer_id: ["42", "43"]}.
	Vars        map[string][]string `yaml:"vars"`
	Methods     []string            `yaml:"methods"`
	SourceCIDRs []string            `yaml:"source_cidrs"`
	Everyone    bool                `yaml:"everyone"`
}

// Route is a compiled route's policy: what Decide needs, nothing more.
type Route struct {
	Name   string
	Public bool
	allow  []condition
	deny   []condition
	// requires are the route's requirements, in the order Decide checks them.
	requires []Requirement
	// denyNames are "deny[i]", for Decision.Rule without allocating.
	denyNames []string
	// lifters are the indexes of the requirements that implement Lifter,
	// consulted only when another requirement is unmet.
	lifters []int
	// grantLists hold, per requirement, the one-grant list of its last
	// grant, shared by the decisions that rely on that grant alone (see
	// oneGrant).
	grantLists []atomic.Pointer[[]string]
	// judgesMethods says an allow or deny entry lists methods.
	judgesMethods bool
}

// oneGrant returns the list holding only grant g of requirement i: the one
// of the decision before when it named the same grant (kinds name theirs
// with a constant), so that an allowed decision allocates none. The list
// has no spare capacity: an append copies it.
func (r *Route) oneGrant(i int, g string) []string {
	if p := r.grantLists[i].Load(); p != nil && (*p)[0] == g {
		return *p
	}
	l := []string{g}[:1:1]
	r.grantLists[i].Store(&l)
	return l
}

// Requirements returns the route's requirements in the order Decide checks
// them (the caller gathers facts for each, aligned with this slice).
func (r *Route) Requirements() []Requirement { return r.requires }

// IsLifter reports whether requirement i is a Lifter. Decide consults a
// lifter only when another requirement is unmet, so a caller may gather a
// lifter's facts only then (and decide again).
func (r *Route) IsLifter(i int) bool {
	for _, j := range r.lifters {
		if i == j {
			return true
		}
	}
	return false
}

// HasLifters reports whether the route has a Lifter requirement.
func (r *Route) HasLifters() bool { return len(r.lifters) > 0 }

// JudgesMethods reports whether an allow or deny entry of the route lists
// methods: only then can a method override (Request.MethodOverrides)
// change a decision, so only then is it worth finding.
func (r *Route) JudgesMethods() bool { return r.judgesMethods }

type condition struct {
	emails  map[string]bool
	domains map[string]bool
	groups  map[string]bool
	claims  map[string]map[string]bool
	vars    map[string]map[string]bool
	// foldVars compares path variables ignoring ASCII case (deny entries:
	// /customers/VIP must not escape a deny on vip where an upstream or its
	// database reads both as one).
	foldVars bool
	// deny marks a deny entry (foldDeny): method overrides widen its match.
	deny bool
	// numericVars are the deny entry's variables whose values are all
	// decimal numbers: a value that holds a digit but is not a plain
	// decimal number matches them too (see looseNumber).
	numericVars map[string]bool
	methods     map[string]bool
	cidrs       []netip.Prefix
	everyone    bool
}

// Compile builds a Route from its YAML rules and its compiled requirements
// (in the order they are to be checked). It fails on any value that would
// not parse; config validation reports the same problems earlier.
func Compile(name string, public bool, rules Rules, reqs []Requirement) (*Route, error) {
	r := &Route{Name: name, Public: public, requires: reqs, grantLists: make([]atomic.Pointer[[]string], len(reqs))}
	for i, q := range reqs {
		if q == nil {
			return nil, fmt.Errorf("policy: route %q has a nil requirement", name)
		}
		if _, ok := q.(Lifter); ok {
			r.lifters = append(r.lifters, i)
		}
	}
	if public && len(reqs) > 0 {
		return nil, fmt.Errorf("policy: route %q is public and has requirements", name)
	}
	for i, c := range rules.Allow {
		cc, err := compileCondition(c)
		if err != nil {
			return nil, fmt.Errorf("policy: route %q allow[%d]: %w", name, i, err)
		}
		r.allow = append(r.allow, cc)
		r.judgesMethods = r.judgesMethods || cc.methods != nil
	}
	for i, c := range rules.Deny {
		cc, err := compileCondition(c)
		if err == nil {
			cc.foldDeny()
		}
		if err != nil {
			return nil, fmt.Errorf("policy: route %q deny[%d]: %w", name, i, err)
		}
		r.deny = append(r.deny, cc)
		r.judgesMethods = r.judgesMethods || cc.methods != nil
		r.denyNames = append(r.denyNames, fmt.Sprintf("deny[%d]", i))
	}
	if !public && len(r.allow) == 0 {
		return nil, fmt.Errorf("policy: route %q has no allow entry", name)
	}
	return r, nil
}

// Problems returns every problem of the condition, each prefixed with the
// field it concerns (relative to the condition).
func (c Condition) Problems() []string {
	var out []string
	if !c.Everyone && len(c.Emails)+len(c.Domains)+len(c.Groups)+len(c.Claims)+len(c.Vars)+len(c.Methods)+len(c.SourceCIDRs) == 0 {
		out = append(out, ": empty condition would match everyone; set a field, or everyone: true to say so")
	}
	for i, e := range c.Emails {
		if _, err := ParseEmail(e); err != nil {
			out = append(out, fmt.Sprintf(".emails[%d]: %v", i, err))
		}
	}
	for i, d := range c.Domains {
		if !isASCII(d) || !validDomain(strings.ToLower(d)) { // ToLower folds the Kelvin sign onto 'k'
			out = append(out, fmt.Sprintf(".domains[%d]: expected a DNS domain such as corp.example, got %q", i, d))
		}
	}
	for i, g := range c.Groups {
		if strings.TrimSpace(g) == "" {
			out = append(out, fmt.Sprintf(".groups[%d]: empty group name", i))
		}
	}
	// A blank value (an empty ${VAR}, a null) is refused like an empty
	// group name: no identity or path has it, so a deny on it denies no one.
	for _, k := range sortedKeys(c.Claims) {
		vals := c.Claims[k]
		if strings.TrimSpace(k) == "" || len(vals) == 0 {
			out = append(out, fmt.Sprintf(".claims.%s: expected a claim name with at least one value", k))
		}
		for i, val := range vals {
			if strings.TrimSpace(val) == "" {
				out = append(out, fmt.Sprintf(".claims.%s[%d]: expected a claim value, got %q", k, i, val))
			}
		}
	}
	for _, k := range sortedKeys(c.Vars) {
		vals := c.Vars[k]
		if k == "" || len(vals) == 0 {
			out = append(out, fmt.Sprintf(".vars.%s: expected a path variable with at least one value", k))
		}
		for i, val := range vals {
			if strings.TrimSpace(val) == "" {
				out = append(out, fmt.Sprintf(".vars.%s[%d]: expected a value of the path variable, got %q", k, i, val))
			}
		}
	}
	for i, m := range c.Methods {
		if !validMethod(m) {
			out = append(out, fmt.Sprintf(".methods[%d]: expected an HTTP method such as GET, got %q", i, m))
		}
	}
	for i, s := range c.SourceCIDRs {
		p, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf(".source_cidrs[%d]: expected a CIDR such as 10.0.0.0/8, got %q", i, s))
		case p.Addr().Is4In6():
			// Sources are compared unmapped, so such a prefix would never
			// match: a deny entry would be silently off.
			hint := ""
			if p.Bits() >= 96 {
				hint = " such as " + netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked().String()
			}
			out = append(out, fmt.Sprintf(".source_cidrs[%d]: expected an IPv4 CIDR%s for IPv4 addresses, got IPv4-mapped %q", i, hint, s))
		}
	}
	return out
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// String describes the condition for pages and explanations, e.g.
// "domains contractors.example; methods DELETE".
func (c Condition) String() string {
	var parts []string
	add := func(name string, vals []string) {
		if len(vals) > 0 {
			parts = append(parts, name+" "+strings.Join(vals, ", "))
		}
	}
	if c.Everyone {
		parts = append(parts, "everyone")
	}
	add("emails", c.Emails)
	add("domains", c.Domains)
	add("groups", c.Groups)
	keys := make([]string, 0, len(c.Claims))
	for k := range c.Claims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add("claim "+k, c.Claims[k])
	}
	vkeys := make([]string, 0, len(c.Vars))
	for k := range c.Vars {
		vkeys = append(vkeys, k)
	}
	sort.Strings(vkeys)
	for _, k := range vkeys {
		add("path variable "+k, c.Vars[k])
	}
	add("methods", c.Methods)
	add("source_cidrs", c.SourceCIDRs)
	return strings.Join(parts, "; ")
}

func validMethod(m string) bool {
	if m == "" || len(m) > 20 {
		return false
	}
	for _, c := range m {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

func compileCondition(c Condition) (condition, error) {
	if p := c.Problems(); len(p) > 0 {
		return condition{}, fmt.Errorf("condition%s", p[0])
	}
	set := func(vals []string, f func(string) string) map[string]bool {
		if len(vals) == 0 {
			return nil
		}
		m := make(map[string]bool, len(vals))
		for _, v := range vals {
			m[f(v)] = true
		}
		return m
	}
	same := func(s string) string { return s }
	out := condition{
		domains:  set(c.Domains, strings.ToLower),
		groups:   set(c.Groups, same),
		methods:  set(c.Methods, strings.ToUpper),
		everyone: c.Everyone,
	}
	if out.methods["GET"] {
		// HEAD is GET without the body (RFC 9110 §9.3.2), and upstreams
		// serve it with their GET handlers: a deny on GET that let HEAD
		// through would show the resource's status and headers.
		out.methods["HEAD"] = true
	}
	if len(c.Emails) > 0 {
		out.emails = map[string]bool{}
		for _, e := range c.Emails {
			pe, _ := ParseEmail(e)
			out.emails[pe.String()] = true
		}
	}
	for k, vals := range c.Claims {
		if out.claims == nil {
			out.claims = map[string]map[string]bool{}
		}
		out.claims[k] = set(vals, same)
	}
	for k, vals := range c.Vars {
		if out.vars == nil {
			out.vars = map[string]map[string]bool{}
		}
		out.vars[k] = set(vals, same)
	}
	for _, s := range c.SourceCIDRs {
		p, _ := netip.ParsePrefix(s)
		out.cidrs = append(out.cidrs, p.Masked())
	}
	return out, nil
}

// matchMethods: the request's method is listed; with method overrides, a
// deny entry matches if any of the methods the tool may execute is listed,
// an allow entry only if all of them are (fail closed both ways). AnyMethod
// stands for every method: a deny entry on methods matches it, an allow
// entry on methods does not.
func (c *condition) matchMethods(req *Request) bool {
	m := c.methods[upperASCII(req.Method)]
	for _, o := range req.MethodOverrides {
		if o == AnyMethod {
			if c.deny {
				return true
			}
			m = false
			continue
		}
		if c.deny {
			m = m || c.methods[upperASCII(o)]
		} else {
			m = m && c.methods[upperASCII(o)]
		}
	}
	return m
}

// foldDeny makes a deny entry's path variables match every spelling an
// upstream or its database may read as the same value (denyForm): deny
// entries fail closed by matching more spellings.
func (c *condition) foldDeny() {
	c.deny = true
	c.foldVars = true
	for k, vals := range c.vars {
		folded := make(map[string]bool, len(vals))
		numeric := len(vals) > 0
		for v := range vals {
			f := denyForm(v)
			folded[f] = true
			numeric = numeric && plainDecimal(f)
		}
		c.vars[k] = folded
		if numeric {
			if c.numericVars == nil {
				c.numericVars = map[string]bool{}
			}
			c.numericVars[k] = true
		}
	}
}

// plainDecimal reports whether s is a decimal number in denyForm: digits
// without a leading zero (or "0").
func plainDecimal(s string) bool {
	return allDigits(s) && (s == "0" || s[0] != '0')
}

// looseNumber reports whether a path variable in denyForm holds a digit
// (any script's) but is not a plain decimal number: "42.0", "4.2e1",
// "42abc", "4_2", "0x2a", full-width "４２". Tools read such values as
// numbers in more ways than any list could follow — MySQL compares '42abc'
// with an integer column as 42, Python's int() takes "4_2" and "４２",
// JavaScript's Number() "0x2a", PHP and parseInt "42abc" — so a deny entry
// on numbers matches every such value, failing closed.
func looseNumber(s string) bool {
	if plainDecimal(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsDigit(r) {
			return true
		}
	}
	return false
}

// denyForm is the spelling a deny entry compares a path variable in: ASCII
// lower case (case-insensitive collations, ASP.NET and Express routing), no
// leading or trailing ASCII white space (PAD SPACE collations ignore
// trailing spaces; "%20" decodes to one), and a decimal integer without
// its "+" and leading zeros (integer binders, int(), and SQL comparing a
// string with an integer column all read "042" and "+42" as 42). A deny on
// customer 42 then also denies /customers/042, /customers/+42 and
// /customers/42%20. It returns s itself when s is already in that form
// (no allocation on the request path).
func denyForm(s string) string {
	s = strings.Trim(s, " \t\r\n\v\f")
	if d, ok := strings.CutPrefix(s, "+"); ok && allDigits(d) {
		s = d
	}
	if len(s) > 1 && s[0] == '0' && allDigits(s) {
		if s = strings.TrimLeft(s, "0"); s == "" {
			s = "0"
		}
	}
	return lowerASCII(s)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func (c *condition) match(id *Identity, email Email, req *Request) bool {
	if c.emails != nil && !c.emails[email.String()] {
		return false
	}
	if c.domains != nil && !c.domains[email.Domain] {
		return false
	}
	if c.groups != nil && !anyIn(id.Groups, c.groups) {
		return false
	}
	for k, allowed := range c.claims {
		if !anyIn(id.Claims[k], allowed) {
			return false
		}
	}
	for k, allowed := range c.vars {
		v, ok := req.Vars[k]
		if !ok {
			return false
		}
		if c.foldVars {
			v = denyForm(v)
			if !allowed[v] && !(c.numericVars[k] && looseNumber(v)) {
				return false
			}
			continue
		}
		if !allowed[v] {
			return false
		}
	}
	// Methods compare in ASCII upper case: some upstream frameworks
	// upper-case the method, so a deny rule on DELETE must match "delete".
	if c.methods != nil && !c.matchMethods(req) {
		return false
	}
	if c.cidrs != nil {
		// An unknown source address may be any: a deny entry on addresses
		// matches it, an allow entry does not (fail closed both ways).
		ok := c.deny && !req.SourceIP.IsValid()
		for _, p := range c.cidrs {
			if req.SourceIP.IsValid() && p.Contains(req.SourceIP.Unmap()) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// upperASCII upper-cases ASCII letters only (strings.ToUpper would fold
// "\u017F" onto "S").
func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func anyIn(vals []string, set map[string]bool) bool {
	for _, v := range vals {
		if set[v] {
			return true
		}
	}
	return false
}
