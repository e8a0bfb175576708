package route

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestVariableConflict(t *testing.T) {
	tests := []struct {
		name     string
		a, b     string
		aCI, bCI bool
		// wantPos is the conflicting segment (0: none); wantSeg the
		// shortest segment both expressions match.
		wantPos int
		wantSeg string
	}{
		{name: "[0-9]+ and \\d+", a: `/customers/{customer_id:[0-9]+}`, b: `/customers/{id:\d+}`, wantPos: 2, wantSeg: "0"},
		{name: "overlapping classes", a: `/v/{id:[a-f0-9]{8}}`, b: `/v/{name:[a-z]+}`, wantPos: 2, wantSeg: "aaaaaaaa"},
		{name: "a literal inside a class", a: `/v/{id:me}`, b: `/v/{name:[a-z]+}`, wantPos: 2, wantSeg: "me"},
		{name: "alternation", a: `/v/{k:draft|final}`, b: `/v/{s:[df][a-z]*t}`, wantPos: 2, wantSeg: "draft"},
		{name: "deeper, after shared segments", a: `/t/{team}/m/{id:[0-9]+}`, b: `/t/{x}/m/{n:0*[1-9]}/y`, wantPos: 4, wantSeg: "1"},
		// Case rules differ: the edges part at the first static segment
		// (case-sensitive edges are walked first), so compare at the root.
		{name: "case-insensitive edge folds", a: `/{id:[A-Z]+}`, b: `/{name:[a-z]+}`, bCI: true, wantPos: 1, wantSeg: "A"},
		{name: "the same expression, case rule differs", a: `/{id:[a-z]+}`, b: `/{n:[a-z]+}`, bCI: true, wantPos: 1, wantSeg: "a"},
		{name: "escaped segments count", a: `/f/{name:\x25[0-9A-F]{2}.*}`, b: `/f/{id:.+}`, wantPos: 2, wantSeg: "%00"},

		{name: "the same expression: one edge", a: `/c/{customer_id:[0-9]+}`, b: `/c/{id:[0-9]+}/orders`},
		{name: "digits and letters", a: `/v/{id:[0-9]+}`, b: `/v/{name:[a-z]+}`},
		{name: "different lengths", a: `/v/{y:[0-9]{4}}`, b: `/v/{m:[0-9]{2}}`},
		{name: "different literal prefixes", a: `/v/{id:u-[0-9]+}`, b: `/v/{id:g-[0-9]+}`},
		{name: "case matters on a case-sensitive edge", a: `/{id:[A-Z]+}`, b: `/{name:[a-z]+}`},
		{name: "static segments of different case rules part", a: `/v/{id:[a-z]+}`, b: `/v/{n:[a-z]+}`, bCI: true},
		{name: "constrained and unconstrained: documented order", a: `/v/{id:[0-9]+}`, b: `/v/{slug}`},
		{name: "static and variable: documented order", a: `/v/new`, b: `/v/{id:[a-z]+}`},
		{name: "different static prefixes", a: `/a/{id:[0-9]+}`, b: `/b/{id:\d+}`},
		{name: "one path ends before", a: `/v`, b: `/v/{id:\d+}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParsePattern(tc.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ParsePattern(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			pos, seg, ok := VariableConflict(a, tc.aCI, b, tc.bCI)
			if ok != (tc.wantPos != 0) || pos != tc.wantPos || seg != tc.wantSeg {
				t.Fatalf("VariableConflict(%s, %s) = %d, %q, %v; want %d, %q", tc.a, tc.b, pos, seg, ok, tc.wantPos, tc.wantSeg)
			}
			if ok {
				// The segment is one both edges really match.
				for _, e := range []struct {
					re *regexp.Regexp
					ci bool
				}{{a[pos-1].Re, tc.aCI}, {b[pos-1].Re, tc.bCI}} {
					if !matcher(e.re, e.ci).MatchString(seg) {
						t.Errorf("%q does not match %s", seg, e.re)
					}
				}
			}
			// The answer does not depend on the order of the two.
			if p2, s2, ok2 := VariableConflict(b, tc.bCI, a, tc.aCI); ok2 != ok || p2 != pos || (ok && s2 == "") {
				t.Errorf("swapped: %d, %q, %v", p2, s2, ok2)
			}
		})
	}
}

// Before, the route added last won every path both expressions match: the
// looser route's rules judged /customers/42 when it came second, the
// stricter one's when it came first. The table refuses the pair in either
// order, so the order of a file can no longer choose.
func TestTableRefusesConflictingVariables(t *testing.T) {
	for _, order := range [][2]string{
		{`/customers/{customer_id:[0-9]+}`, `/customers/{id:\d+}`},
		{`/customers/{id:\d+}`, `/customers/{customer_id:[0-9]+}`},
	} {
		tab := NewTable[string]()
		if err := tab.Add("app.corp.example", order[0], false, "first"); err != nil {
			t.Fatal(err)
		}
		err := tab.Add("app.corp.example", order[1], false, "second")
		if err == nil || !strings.Contains(err.Error(), `both match "0"`) {
			t.Fatalf("Add(%s) after %s: expected a conflict, got %v", order[1], order[0], err)
		}
		if v, vars, ok := tab.Lookup("app.corp.example", "/customers/42"); !ok || v != "first" || len(vars) != 1 {
			t.Errorf("Lookup after the refused route: %q %v %v, want the first route", v, vars, ok)
		}
	}
	// Disjoint expressions and a shared one are fine, on one host or two.
	tab := NewTable[string]()
	for _, r := range []struct{ host, path string }{
		{"app.corp.example", `/v/{id:[0-9]+}`}, {"app.corp.example", `/v/{name:[a-z]+}`},
		{"app.corp.example", `/v/{n:[0-9]+}/x`}, {"api.corp.example", `/v/{id:\d+}`},
	} {
		if err := tab.Add(r.host, r.path, false, r.path); err != nil {
			t.Errorf("Add(%s %s): %v", r.host, r.path, err)
		}
	}
}

// The index answers what comparing every pair with VariableConflict
// answers — the same earlier patterns, positions and segments — on random
// patterns drawn from segments that part, share an edge or conflict.
func TestConflictIndexAgreesWithEveryPair(t *testing.T) {
	segs := []string{"a", "A", "b", "{v}", `{v:[0-9]+}`, `{v:\d+}`, `{v:[a-z]+}`, `{v:[A-Z]+}`, `{v:me}`, `{v:[0-9]{4}}`}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		type added struct {
			pat Pattern
			ci  bool
		}
		var prev []added
		var x ConflictIndex
		found := 0
		for i := range 150 {
			var b strings.Builder
			for k := range 1 + rng.IntN(4) {
				b.WriteString("/" + strings.Replace(segs[rng.IntN(len(segs))], "{v", fmt.Sprintf("{v%d", k), 1))
			}
			pat, err := ParsePattern(b.String())
			if err != nil {
				t.Fatal(err)
			}
			ci := rng.IntN(3) == 0
			var want []Conflict
			for id, p := range prev {
				if pos, s, ok := VariableConflict(p.pat, p.ci, pat, ci); ok {
					want = append(want, Conflict{ID: id, Pos: pos, Sample: s})
				}
			}
			got := x.Conflicts(pat, ci)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d, pattern %d %s (ci %v): index %v, every pair %v", round, i, b.String(), ci, got, want)
			}
			found += len(got)
			x.Add(i, pat, ci)
			prev = append(prev, added{pat, ci})
		}
		if found == 0 {
			t.Fatalf("round %d: no conflict drawn; the test compares nothing", round)
		}
	}
}

// BenchmarkConflictIndex files 10,000 routes of one host behind one
// prefix, the shape that made the pairwise check quadratic.
func BenchmarkConflictIndex(b *testing.B) {
	pats := make([]Pattern, 10000)
	for i := range pats {
		pats[i], _ = ParsePattern(fmt.Sprintf("/api/{tenant}/r%d/{id:[0-9]+}", i))
	}
	for b.Loop() {
		var x ConflictIndex
		for i, p := range pats {
			if len(x.Conflicts(p, false)) > 0 {
				b.Fatal("conflict")
			}
			x.Add(i, p, false)
		}
	}
}
