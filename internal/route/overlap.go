package route

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// VariableConflict reports whether two routes of one host reach the same
// position of a path through different constrained variables
// ({customer_id:[0-9]+} and {id:\d+}) whose expressions both match some
// segment. The table tries constrained variables in an order that depends
// on the order the routes were added, so which route serves such a path —
// and which rules judge it — would depend on the order of the file. aCI and
// bCI are the routes' Options.CaseInsensitive. It returns the segment's
// position (1 for the first) and a segment both expressions match.
//
// Expressions that share no segment (digits and letters) do not conflict.
// Routes that part earlier (a static segment against a variable, a
// constrained variable against an unconstrained one) are ordered by the
// documented precedence and do not conflict either.
func VariableConflict(a Pattern, aCI bool, b Pattern, bCI bool) (pos int, sample string, conflict bool) {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := a[i], b[i]
		switch {
		case x.Var == "" && y.Var == "":
			same := aCI == bCI && (x.Static == y.Static || aCI && strings.EqualFold(x.Static, y.Static))
			if !same {
				return 0, "", false
			}
		case x.Var == "" || y.Var == "" || x.Re == nil || y.Re == nil:
			if x.Var != "" && y.Var != "" && x.Re == nil && y.Re == nil && aCI == bCI {
				continue // one unconstrained edge
			}
			return 0, "", false
		case aCI == bCI && sameRe(x, y):
			continue // one edge
		default:
			if s, ok := commonSegment(matcher(x.Re, aCI), matcher(y.Re, bCI)); ok {
				return i + 1, s, true
			}
			return 0, "", false
		}
	}
	return 0, "", false
}

// matcher is the expression a variable edge matches with.
func matcher(re *regexp.Regexp, ci bool) *regexp.Regexp {
	if ci {
		return regexp.MustCompile("(?i)" + re.String())
	}
	return re
}

// segmentBytes are the bytes a normalized path segment may hold (Normalize
// escapes everything else, and '/' ends the segment).
var segmentBytes = func() []rune {
	var out []rune
	for c := rune('!'); c <= '~'; c++ {
		if c != '/' {
			out = append(out, c)
		}
	}
	return out
}()

// commonSegment looks for a non-empty segment both expressions match in
// full, walking the product of their compiled programs breadth-first, so
// the segment it returns is a shortest one. Zero-width assertions (^, $,
// \b) are taken as always satisfied: that can only find a common segment
// where there is none, never miss one, so two expressions it finds disjoint
// are.
func commonSegment(a, b *regexp.Regexp) (string, bool) {
	pa, err1 := compile(a)
	pb, err2 := compile(b)
	if err1 != nil || err2 != nil {
		return "", true // cannot tell: assume they overlap
	}
	type pair struct{ a, b uint32 }
	type step struct {
		from pair
		r    rune
	}
	seen := map[pair]step{}
	var queue []pair
	for _, x := range closure(pa, uint32(pa.Start)) {
		for _, y := range closure(pb, uint32(pb.Start)) {
			p := pair{x, y}
			if _, ok := seen[p]; !ok {
				seen[p] = step{from: pair{^uint32(0), 0}}
				queue = append(queue, p)
			}
		}
	}
	sample := func(p pair, last rune) string {
		s := []rune{last}
		for st := seen[p]; st.from.a != ^uint32(0); st = seen[st.from] {
			s = append(s, st.r)
		}
		for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
			s[i], s[j] = s[j], s[i]
		}
		return string(s)
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		ia, ib := &pa.Inst[p.a], &pb.Inst[p.b]
		if !isRune(ia.Op) || !isRune(ib.Op) {
			continue
		}
		for _, r := range segmentBytes {
			if !ia.MatchRune(r) || !ib.MatchRune(r) {
				continue
			}
			na, nb := closure(pa, ia.Out), closure(pb, ib.Out)
			if hasMatch(pa, na) && hasMatch(pb, nb) {
				return sample(p, r), true
			}
			for _, x := range na {
				for _, y := range nb {
					q := pair{x, y}
					if _, ok := seen[q]; !ok {
						seen[q] = step{from: p, r: r}
						queue = append(queue, q)
					}
				}
			}
		}
	}
	return "", false
}

func compile(re *regexp.Regexp) (*syntax.Prog, error) {
	t, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil, err
	}
	return syntax.Compile(t.Simplify())
}

func isRune(op syntax.InstOp) bool {
	switch op {
	case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
		return true
	}
	return false
}

func hasMatch(p *syntax.Prog, pcs []uint32) bool {
	for _, pc := range pcs {
		if p.Inst[pc].Op == syntax.InstMatch {
			return true
		}
	}
	return false
}

// closure returns the instructions that consume a rune or match, reachable
// from pc without consuming one.
func closure(p *syntax.Prog, pc uint32) []uint32 {
	var out []uint32
	seen := map[uint32]bool{}
	var visit func(uint32)
	visit = func(pc uint32) {
		if seen[pc] {
			return
		}
		seen[pc] = true
		i := &p.Inst[pc]
		switch i.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			visit(i.Out)
			visit(i.Arg)
		case syntax.InstCapture, syntax.InstNop, syntax.InstEmptyWidth:
			visit(i.Out)
		case syntax.InstFail:
		default:
			out = append(out, pc)
		}
	}
	visit(pc)
	return out
}

// ConflictIndex finds the patterns VariableConflict would report against a
// new one among every pattern added before it, without comparing each pair
// (one host of 10,000 routes was 50 million comparisons, seconds of every
// start and reload).
//
// Two patterns can only conflict at the first position where they differ
// through two constrained variables, and everything before that position
// must be the same for both: static segments equal under the same case
// rule, unconstrained variables under the same rule, constrained ones with
// the same expression and rule. So every constrained variable of a pattern
// is filed under that prefix (its signature), in a class of its expression
// and case rule; a new pattern conflicts exactly with the members of the
// other classes in the groups of its own prefixes whose expressions share a
// segment with its own. A pair of classes is compared once.
type ConflictIndex struct {
	groups map[string][]*conflictClass
	shared map[[2]*conflictClass]sharedSegment
}

type conflictClass struct {
	re      *regexp.Regexp
	ci      bool
	members []int
}

type sharedSegment struct {
	sample string
	ok     bool
}

// Conflict is an earlier pattern (the ID it was added with) that conflicts
// with a new one: Pos and Sample as VariableConflict returns them.
type Conflict struct {
	ID     int
	Pos    int
	Sample string
}

// Conflicts returns the conflicts of p against the patterns added, in the
// order of their IDs; it adds nothing.
func (x *ConflictIndex) Conflicts(p Pattern, ci bool) []Conflict {
	var out []Conflict
	x.walk(p, ci, false, func(pos int, classes []*conflictClass, own *conflictClass) {
		for _, c := range classes {
			if c.ci == own.ci && c.re.String() == own.re.String() {
				continue // the same edge
			}
			s := x.common(c, own)
			if !s.ok {
				continue
			}
			for _, id := range c.members {
				out = append(out, Conflict{ID: id, Pos: pos, Sample: s.sample})
			}
		}
	})
	slices.SortFunc(out, func(a, b Conflict) int { return a.ID - b.ID })
	return out
}

// Add files p under id.
func (x *ConflictIndex) Add(id int, p Pattern, ci bool) {
	if x.groups == nil {
		x.groups = map[string][]*conflictClass{}
	}
	x.walk(p, ci, true, func(_ int, _ []*conflictClass, own *conflictClass) {
		own.members = append(own.members, id)
	})
}

// walk calls f for each constrained variable of p with its position (1 for
// the first segment), the classes filed under the same prefix, and p's own
// class there: filed when add is set, else found or a new one to compare.
func (x *ConflictIndex) walk(p Pattern, ci, add bool, f func(pos int, classes []*conflictClass, own *conflictClass)) {
	var sig []byte
	rule := byte('s')
	if ci {
		rule = 'i'
	}
	for i, s := range p {
		switch {
		case s.Var == "":
			st := s.Static
			if ci {
				st = strings.ToLower(st) // static segments are ASCII (ParsePattern)
			}
			sig = append(sig, 's', rule)
			sig = strconv.AppendInt(sig, int64(len(st)), 10)
			sig = append(sig, ':')
			sig = append(sig, st...)
		case s.Re == nil:
			sig = append(sig, 'u', rule)
		default:
			key := string(sig)
			classes := x.groups[key]
			var own *conflictClass
			for _, c := range classes {
				if c.ci == ci && c.re.String() == s.Re.String() {
					own = c
					break
				}
			}
			if own == nil {
				own = &conflictClass{re: s.Re, ci: ci}
				if add {
					x.groups[key] = append(classes, own)
				}
			}
			f(i+1, classes, own)
			expr := s.Re.String()
			sig = append(sig, 'r', rule)
			sig = strconv.AppendInt(sig, int64(len(expr)), 10)
			sig = append(sig, ':')
			sig = append(sig, expr...)
		}
	}
}

// common is commonSegment of an earlier class's expression and a new one's,
// remembered for classes both filed.
func (x *ConflictIndex) common(prev, next *conflictClass) sharedSegment {
	k := [2]*conflictClass{prev, next}
	if s, ok := x.shared[k]; ok {
		return s
	}
	var s sharedSegment
	s.sample, s.ok = commonSegment(matcher(prev.re, prev.ci), matcher(next.re, next.ci))
	if len(next.members) > 0 {
		if x.shared == nil {
			x.shared = map[[2]*conflictClass]sharedSegment{}
		}
		x.shared[k] = s
	}
	return s
}
