package route

import (
	"regexp"
	"regexp/syntax"
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
