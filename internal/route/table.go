package route

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// ErrAmbiguous is wrapped by the error of a path that common upstreams read
// as different routes or with different path variables (see Table.Check).
// It wraps ErrBadPath: such requests get a 400.
var ErrAmbiguous = fmt.Errorf("%w: ambiguous", ErrBadPath)

// Options are a route's matching settings.
type Options struct {
	// Exact makes the pattern match only itself (with or without a trailing
	// slash), not the paths below it.
	Exact bool
	// CaseInsensitive matches the pattern's static segments and the
	// expressions of its variables without regard to letter case, the way
	// Express and Koa (by default), ASP.NET Core and case-insensitive Spring
	// read paths: "/Customers/43" matches "/customers/{id}". Variables keep
	// the request's spelling ("/customers/AB" binds "AB").
	CaseInsensitive bool
	// FormatSuffix says the upstream reads a trailing ".ext" of the last
	// segment as a response format (Rails' "(.:format)": "/customers/43.json"
	// is customers#show with id 43). It adds that reading to every path of
	// the route's host (Check): a path that reads as another route or with
	// other variables without its suffix is ambiguous.
	FormatSuffix bool
}

// Table maps host and path to a value (the gateway's compiled route).
// A Table is immutable once built; build a new one to change routes.
//
// Lookup answers only when every reading of the path that common upstreams
// make selects the same route with the same path variables (see Check).
type Table[T any] struct {
	hosts map[string]*tree[T]
}

type tree[T any] struct {
	root *node[T]
	// upper is set when a case-sensitive static segment has an upper-case
	// letter, or a case-sensitive variable's expression accepts a letter
	// whose lower case it refuses (caseMatters): then even an
	// all-lower-case path can read as another route to a case-insensitive
	// upstream, and the folded reading always runs.
	upper bool
	// constrained is set when a route of the host has a variable with an
	// expression: a segment that a lenient parser reads as another number
	// (numberReading) then makes the folded reading run.
	constrained bool
	// formats is set when a route of the host has Options.FormatSuffix:
	// the reading without a format suffix runs for every path.
	formats bool
	// keys holds each route's pattern with static segments folded and
	// whether it is exact, to refuse routes that differ only in letter case.
	keys map[string]string
	// conflicts files the routes' patterns to refuse variable conflicts
	// (VariableConflict), under their index in paths.
	conflicts ConflictIndex
	paths     []string
}

type node[T any] struct {
	static map[string]*node[T]   // case-sensitive static edges, by segment
	ci     map[string]*node[T]   // case-insensitive static edges, by folded segment
	folded map[string][]*node[T] // every static edge, by folded segment (the folded reading)
	params []*paramEdge[T]
	prefix *leaf[T]
	exact  *leaf[T]
	// sensitive: the edge to this node is a case-sensitive static one.
	sensitive bool
}

type paramEdge[T any] struct {
	seg Segment
	ci  bool
	// fold is seg.Re without regard to case; nil when seg.Re is nil.
	fold  *regexp.Regexp
	child *node[T]
}

type leaf[T any] struct {
	value T
	vars  []string // variable names in path order
}

// NewTable returns an empty table.
func NewTable[T any]() *Table[T] { return &Table[T]{hosts: map[string]*tree[T]{}} }

// Add inserts a case-sensitive route: AddRoute with Options{Exact: exact}.
func (t *Table[T]) Add(host, path string, exact bool, v T) error {
	return t.AddRoute(host, path, Options{Exact: exact}, v)
}

// AddRoute inserts a route. host must be lowercase without port. With
// o.Exact the pattern matches only itself; otherwise it matches itself and
// every path below it on segment boundaries. Two routes of a host whose
// patterns differ only in letter case (and variable names) are refused: a
// case-insensitive upstream reads them as one.
func (t *Table[T]) AddRoute(host, path string, o Options, v T) error {
	pat, err := ParsePattern(path)
	if err != nil {
		return err
	}
	h := t.hosts[host]
	if h == nil {
		h = &tree[T]{root: &node[T]{}, keys: map[string]string{}}
		t.hosts[host] = h
	}
	key := foldedKey(pat, o.Exact)
	if prev, dup := h.keys[key]; dup {
		kind := "route"
		if o.Exact {
			kind = "exact route"
		}
		if prev == exactKey(pat) {
			return fmt.Errorf("route: duplicate %s %s%s", kind, host, path)
		}
		return fmt.Errorf("route: %s %s%s differs from another only in letter case; a case-insensitive upstream reads them as one", kind, host, path)
	}
	h.formats = h.formats || o.FormatSuffix
	// Refuse a constrained variable that would share segments with another
	// route's at the same position before changing anything: paramChild
	// tries the last added first, so the order of the file would decide.
	if c := h.conflicts.Conflicts(pat, o.CaseInsensitive); len(c) > 0 {
		return fmt.Errorf("route: %s%s: its variable at segment %d and that of another route there (%s) both match %q; which route serves such a path would depend on their order", host, path, c[0].Pos, h.paths[c[0].ID], c[0].Sample)
	}
	h.conflicts.Add(len(h.paths), pat, o.CaseInsensitive)
	h.paths = append(h.paths, path)
	n := h.root
	var vars []string
	for _, s := range pat {
		if s.Var == "" {
			n = n.staticChild(s.Static, o.CaseInsensitive)
			if !o.CaseInsensitive && hasUpperASCII(s.Static) {
				h.upper = true
			}
			continue
		}
		vars = append(vars, s.Var)
		h.constrained = h.constrained || s.Re != nil
		if !o.CaseInsensitive && s.Re != nil && caseMatters(s.Re) {
			h.upper = true
		}
		n = n.paramChild(s, o.CaseInsensitive)
	}
	l := &leaf[T]{value: v, vars: vars}
	if o.Exact {
		n.exact = l
	} else {
		n.prefix = l
	}
	h.keys[key] = exactKey(pat)
	return nil
}

func (n *node[T]) staticChild(s string, ci bool) *node[T] {
	f := strings.ToLower(s) // static segments are ASCII (ParsePattern)
	edges := &n.static
	k := s
	if ci {
		edges, k = &n.ci, f
	}
	if *edges == nil {
		*edges = map[string]*node[T]{}
	}
	c := (*edges)[k]
	if c == nil {
		c = &node[T]{sensitive: !ci}
		(*edges)[k] = c
		if n.folded == nil {
			n.folded = map[string][]*node[T]{}
		}
		// The folded reading walks case-sensitive edges before
		// case-insensitive ones, in the order the literal reading does, so
		// that ties at equal depth break the same way in both.
		l := n.folded[f]
		at := len(l)
		if !ci {
			at = 0
			for at < len(l) && l[at].sensitive {
				at++
			}
		}
		n.folded[f] = append(l[:at], append([]*node[T]{c}, l[at:]...)...)
	}
	return c
}

func (n *node[T]) paramChild(s Segment, ci bool) *node[T] {
	for _, e := range n.params {
		if e.ci == ci && sameRe(e.seg, s) {
			return e.child
		}
	}
	e := &paramEdge[T]{seg: s, ci: ci, child: &node[T]{}}
	if s.Re != nil {
		// ParsePattern compiled "^(?:re)$"; the same with (?i) cannot fail.
		e.fold = regexp.MustCompile("(?i)" + s.Re.String())
		// Constrained variables are tried before unconstrained ones. Two
		// constrained ones that share a segment are refused (AddRoute), so
		// their order here decides nothing.
		n.params = append([]*paramEdge[T]{e}, n.params...)
	} else {
		n.params = append(n.params, e)
	}
	return e.child
}

func sameRe(a, b Segment) bool {
	if (a.Re == nil) != (b.Re == nil) {
		return false
	}
	return a.Re == nil || a.Re.String() == b.Re.String()
}

// exactKey and foldedKey identify a pattern for duplicate checks: variable
// names do not count; in foldedKey static segments are lower-cased.
func exactKey(pat Pattern) string { return patternKey(pat, false) }
func foldedKey(pat Pattern, exact bool) string {
	k := patternKey(pat, true)
	if exact {
		k += " exact"
	}
	return k
}

func patternKey(pat Pattern, fold bool) string {
	var b strings.Builder
	for _, s := range pat {
		b.WriteByte('/')
		switch {
		case s.Var == "" && fold:
			b.WriteString(strings.ToLower(s.Static))
		case s.Var == "":
			b.WriteString(s.Static)
		case s.Re != nil:
			b.WriteString("{:" + s.Re.String() + "}")
		default:
			b.WriteString("{}")
		}
	}
	return b.String()
}

// HasHost reports whether host has any route.
func (t *Table[T]) HasHost(host string) bool { return t.hosts[host] != nil }

// Lookup finds the route for host and a normalized path (Normalize): the
// most specific route, the one matching the most segments; at equal depth a
// static segment beats a variable. vars holds the path variables, decoded
// (nil when there are none). When the readings of Check disagree, Lookup
// finds nothing (ok false): callers that want to tell the client why use
// Check or NormalizeRequest first.
func (t *Table[T]) Lookup(host, path string) (v T, vars map[string]string, ok bool) {
	var buf [8]string
	l, vals, err := t.resolve(host, path, buf[:0])
	if err != nil || l == nil {
		return v, nil, false
	}
	return l.value, l.varsOf(vals), true
}

// varsOf maps the leaf's variable names to their decoded values (nil when
// it has none).
func (l *leaf[T]) varsOf(vals []string) map[string]string {
	if len(l.vars) == 0 {
		return nil
	}
	vars := make(map[string]string, len(l.vars))
	for i, name := range l.vars {
		val := vals[i]
		if u, err := url.PathUnescape(val); err == nil {
			val = u
		}
		vars[name] = val
	}
	return vars
}

// Resolve is NormalizeRequest followed by Lookup of the normalized path, in
// one walk of the table instead of two: the request path's routing step.
// It returns the normalized path, the route and its variables (ok false
// when no route matches), or NormalizeRequest's error (wrapping ErrBadPath;
// ErrAmbiguous for a path that common upstreams read as another route).
func (t *Table[T]) Resolve(host string, r *http.Request) (path string, v T, vars map[string]string, ok bool, err error) {
	p, err := Normalize(RawPath(r))
	if err != nil {
		return "", v, nil, false, err
	}
	var buf [8]string
	l, vals, err := t.resolve(host, p, buf[:0])
	if err != nil {
		return "", v, nil, false, err
	}
	if l == nil {
		return p, v, nil, false, nil
	}
	return p, l.value, l.varsOf(vals), true, nil
}

// Check reports, with an error wrapping ErrAmbiguous, whether host and the
// normalized path select different routes, or the same route with different
// path variables, under the readings common upstreams make of one path:
//
//   - as sent: Go's ServeMux, nginx, Django, Rails; and the case-insensitive
//     routes of the table;
//   - with path parameters removed from every segment (";jsessionid=1"):
//     Servlet containers (Tomcat, Jetty, Spring);
//   - without regard to letter case: Express and Koa by default, ASP.NET
//     Core, case-insensitive Spring; and both of the last two at once;
//   - without a format suffix on the last segment ("/customers/43.json" is
//     "/customers/43"): Rails, when a route of the host has FormatSuffix.
//
// A path that no reading routes, or that every reading routes the same way,
// is not ambiguous. The readings cost one walk each and run only when they
// can differ (the path has ';', or an upper-case letter or escape, or the
// host has a route with an upper-case letter).
func (t *Table[T]) Check(host, path string) error {
	var buf [8]string
	_, _, err := t.resolve(host, path, buf[:0])
	return err
}

// NormalizeRequest normalizes the raw path of r (RawPath) and checks it
// against the routes of host (Check): the one call the request path makes
// before routing. Its errors wrap ErrBadPath.
func (t *Table[T]) NormalizeRequest(host string, r *http.Request) (string, error) {
	p, err := Normalize(RawPath(r))
	if err != nil {
		return "", err
	}
	if err := t.Check(host, p); err != nil {
		return "", err
	}
	return p, nil
}

// resolve walks every reading of path that can differ and returns the
// literal reading's leaf and raw variable values, or ErrAmbiguous.
func (t *Table[T]) resolve(host, path string, vals []string) (*leaf[T], []string, error) {
	h := t.hosts[host]
	if h == nil {
		return nil, nil, nil
	}
	lit := h.walk(path, false, vals)
	fold := h.upper || hasUpperASCII(path) || h.constrained && lenientNumbers(path)
	params := strings.IndexByte(path, ';') >= 0
	format := ""
	if h.formats {
		format = stripFormat(path)
	}
	if !fold && !params && format == "" {
		return lit.best, lit.bestVals, nil
	}
	var other [8]string
	if fold {
		if r := h.walk(path, true, other[:0]); !lit.same(&r) {
			return nil, nil, fmt.Errorf("%w: %q is another route or other path variables to an upstream that ignores letter case", ErrAmbiguous, path)
		}
	}
	if params {
		stripped := stripParams(path)
		if r := h.walk(stripped, false, other[:0]); !lit.same(&r) {
			return nil, nil, fmt.Errorf("%w: %q is another route or other path variables to a Servlet container, which reads %q", ErrAmbiguous, path, stripped)
		}
		if fold {
			if r := h.walk(stripped, true, other[:0]); !lit.same(&r) {
				return nil, nil, fmt.Errorf("%w: %q is another route or other path variables to a case-insensitive Servlet application, which reads %q", ErrAmbiguous, path, stripped)
			}
		}
	}
	if format != "" {
		if r := h.walk(format, false, other[:0]); !lit.same(&r) {
			return nil, nil, fmt.Errorf("%w: %q is another route or other path variables to an upstream that reads a format suffix (Rails), which reads %q", ErrAmbiguous, path, format)
		}
		if fold {
			if r := h.walk(format, true, other[:0]); !lit.same(&r) {
				return nil, nil, fmt.Errorf("%w: %q is another route or other path variables to a case-insensitive upstream that reads a format suffix, which reads %q", ErrAmbiguous, path, format)
			}
		}
	}
	return lit.best, lit.bestVals, nil
}

// stripFormat returns p without the format suffix of its last segment, the
// way Rails reads it ("/a/43.json" and "/a/43.tar.gz/" are "/a/43"), or ""
// when the last segment has none (no '.' after its first byte). Path
// parameters are not a concern here: ';' is a plain character to Rails.
func stripFormat(p string) string {
	end := len(p)
	if end > 1 && p[end-1] == '/' {
		end--
	}
	start := strings.LastIndexByte(p[:end], '/') + 1
	i := strings.IndexByte(p[start:end], '.')
	if i <= 0 {
		return ""
	}
	return p[:start+i]
}

// stripParams removes the path parameters of every segment: "/a;x/b;y=1/"
// is "/a/b/". Normalize has refused segments that are only parameters.
func stripParams(p string) string {
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); {
		j := strings.IndexByte(p[i:], ';')
		if j < 0 {
			b.WriteString(p[i:])
			break
		}
		b.WriteString(p[i : i+j])
		i += j
		k := strings.IndexByte(p[i:], '/')
		if k < 0 {
			break
		}
		i += k
	}
	return b.String()
}

func hasUpperASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// walk matches path in one reading: fold false is the path as sent (static
// edges of case-insensitive routes compared folded), fold true compares
// every static edge and expression without regard to case.
func (h *tree[T]) walk(path string, fold bool, vals []string) match[T] {
	m := match[T]{path: path, fold: fold, vals: vals}
	m.walk(h.root, 1, 0)
	return m
}

type match[T any] struct {
	path      string
	fold      bool
	vals      []string
	best      *leaf[T]
	bestDepth int
	bestVals  []string
}

// same reports whether two readings chose the same route and variables.
func (m *match[T]) same(o *match[T]) bool {
	if m.best != o.best || len(m.bestVals) != len(o.bestVals) {
		return false
	}
	for i := range m.bestVals {
		if m.bestVals[i] != o.bestVals[i] {
			return false
		}
	}
	return true
}

func (m *match[T]) consider(l *leaf[T], depth int) {
	if l == nil || (m.best != nil && depth <= m.bestDepth) {
		return
	}
	m.best, m.bestDepth = l, depth
	m.bestVals = append(m.bestVals[:0], m.vals...)
}

// walk matches the path from byte offset i (just after a '/') at depth.
func (m *match[T]) walk(n *node[T], i, depth int) {
	if i >= len(m.path) {
		// Path consumed ("/" or "/a/b" or "/a/b/").
		m.consider(n.exact, depth)
		m.consider(n.prefix, depth)
		return
	}
	end := strings.IndexByte(m.path[i:], '/')
	var seg string
	next := len(m.path)
	if end < 0 {
		seg = m.path[i:]
	} else {
		seg = m.path[i : i+end]
		next = i + end + 1
	}
	if seg == "" && next >= len(m.path) {
		// Trailing slash: "/a/" is "/a" for matching (Express's non-strict
		// mode; Go's ServeMux and others differ only by a redirect or 404).
		m.consider(n.exact, depth)
		m.consider(n.prefix, depth)
		return
	}
	if seg != "" {
		var fbuf [128]byte
		var f []byte
		if m.fold || n.ci != nil {
			f = foldSegment(fbuf[:0], seg)
		}
		if m.fold {
			for _, c := range n.folded[string(f)] {
				m.walk(c, next, depth+1)
			}
		} else {
			if c := n.static[seg]; c != nil {
				m.walk(c, next, depth+1)
			}
			if c := n.ci[string(f)]; c != nil {
				m.walk(c, next, depth+1)
			}
		}
		// A lenient parser's number is read only where no variable takes
		// the segment as it is: an upstream that routes such a segment to
		// a variable of its own must constrain the other one as well.
		// The expressions match the folded segment as a string: a copy,
		// made in the folded reading only (passing fbuf itself to the
		// regexp would put it on the heap in every reading).
		var fs string
		if m.fold && len(n.params) > 0 {
			fs = string(f)
		}
		lenient := m.fold && len(n.params) > 0
		if lenient {
			for _, e := range n.params {
				if e.fold == nil || e.fold.MatchString(fs) {
					lenient = false
					break
				}
			}
		}
		for _, e := range n.params {
			re := e.seg.Re
			if m.fold || e.ci {
				re = e.fold
			}
			// The folded reading matches the folded segment (its Unicode
			// digits as ASCII ones), or the number a lenient parser reads
			// in it (numberReading), and keeps the value as sent.
			if re != nil && (m.fold && !re.MatchString(fs) || !m.fold && !re.MatchString(seg)) {
				if !lenient {
					continue
				}
				var nbuf [24]byte
				if num := numberReading(nbuf[:0], f); len(num) == 0 || !re.MatchString(string(num)) {
					continue
				}
			}
			m.vals = append(m.vals, seg)
			m.walk(e.child, next, depth+1)
			m.vals = m.vals[:len(m.vals)-1]
		}
	}
	m.consider(n.prefix, depth)
}
