package route

import (
	"testing"
)

type patternTest struct {
	name    string
	in      string
	want    string // Canonical form when accepted
	wantErr string
}

func (tc patternTest) run(t *testing.T) {
	t.Helper()
	_, err := ParsePattern(tc.in)
	if tc.wantErr != "" {
		if err == nil || err.Error() != tc.wantErr {
			t.Fatalf("ParsePattern(%q) error = %v, want %q", tc.in, err, tc.wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("ParsePattern(%q): %v", tc.in, err)
	}
	if got := Canonical(tc.in); got != tc.want {
		t.Fatalf("Canonical(%q) = %q, want %q", tc.in, got, tc.want)
	}
}

func TestParsePattern(t *testing.T) {
	tests := []patternTest{
		{name: "root", in: "/", want: "/"},
		{name: "static", in: "/a/b", want: "/a/b"},
		{name: "trailing slash ignored", in: "/a/b/", want: "/a/b"},
		{name: "variable", in: "/customers/{customer_id}", want: "/customers/{}"},
		{name: "variable names do not matter", in: "/customers/{id}", want: "/customers/{}"},
		{name: "regex", in: "/v1/{id:[0-9]+}", want: "/v1/{:^(?:[0-9]+)$}"},
		{name: "regex with alternation", in: "/{env:prod|staging}/x", want: "/{:^(?:prod|staging)$}/x"},
		{name: "sub-delims in static", in: "/a!$&'()*+,=:@b", want: "/a!$&'()*+,=:@b"},
		{name: "upper case kept", in: "/Reports/{id}", want: "/Reports/{}"},

		// Only path characters in static segments: the normalized path holds
		// nothing else, so such a segment would never match here while an
		// upstream that decodes the path would match it.
		{name: "path parameters", in: "/a;b=c", wantErr: `route: path parameters (';') are not part of a route path, got "/a;b=c"`},
		{name: "path parameter after a variable", in: "/{a}/x;", wantErr: `route: path parameters (';') are not part of a route path, got "/{a}/x;"`},
		{name: "pipe in static", in: "/a|b", wantErr: `route: character '|' may appear only inside a {variable:expression}, got "/a|b"`},
		{name: "bracket in static", in: "/a[0]", wantErr: `route: character '[' may appear only inside a {variable:expression}, got "/a[0]"`},
		{name: "backslash in static", in: `/a\b`, wantErr: `route: character '\\' may appear only inside a {variable:expression}, got "/a\\b"`},

		{name: "relative", in: "a", wantErr: `route: expected a path starting with '/', got "a"`},
		{name: "empty", in: "", wantErr: `route: expected a path starting with '/', got ""`},
		{name: "query", in: "/a?b", wantErr: `route: expected a path without query or fragment, got "/a?b"`},
		{name: "fragment", in: "/a#b", wantErr: `route: expected a path without query or fragment, got "/a#b"`},
		{name: "percent", in: "/a%2e", wantErr: `route: character '%' must not appear raw in a path, got "/a%2e"`},
		{name: "space", in: "/a b", wantErr: `route: character ' ' must not appear raw in a path, got "/a b"`},
		{name: "non-ASCII", in: "/é", wantErr: `route: character 'Ã' must not appear raw in a path, got "/é"`},
		{name: "empty segment", in: "/a//b", wantErr: `route: empty segment in "/a//b"`},
		{name: "leading empty segment", in: "//a", wantErr: `route: empty segment in "//a"`},
		{name: "leading empty segment hides a reserved prefix", in: "//.gateway/x", wantErr: `route: empty segment in "//.gateway/x"`},
		{name: "double slash only", in: "//", wantErr: `route: empty segment in "//"`},
		{name: "trailing empty segment", in: "/a//", wantErr: `route: empty segment in "/a//"`},
		{name: "dot segment", in: "/a/./b", wantErr: `route: dot segment in "/a/./b"`},
		{name: "dotdot segment", in: "/a/..", wantErr: `route: dot segment in "/a/.."`},
		{name: "partial variable", in: "/a{id}", wantErr: `route: a variable must take a whole segment, got "a{id}" in "/a{id}"`},
		{name: "unclosed variable", in: "/{id", wantErr: `route: a variable must take a whole segment, got "{id" in "/{id"`},
		{name: "empty variable name", in: "/{}", wantErr: `route: bad variable name "" in "/{}"`},
		{name: "bad variable name", in: "/{1x}", wantErr: `route: bad variable name "1x" in "/{1x}"`},
		{name: "duplicate variable", in: "/{a}/{a}", wantErr: `route: variable "a" appears twice in "/{a}/{a}"`},
		{name: "empty regex", in: "/{a:}", wantErr: `route: empty expression for variable "a" in "/{a:}"`},
		{name: "bad regex", in: "/{a:[}", wantErr: "route: variable \"a\": error parsing regexp: missing closing ]: `[)$`"},
		{name: "regex cannot span segments", in: "/{a:x/y}", wantErr: `route: a variable must take a whole segment, got "{a:x" in "/{a:x/y}"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// FuzzParsePattern checks that ParsePattern never panics, and that a pattern
// it accepts can be added to a table and looked up without panicking.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"/", "/a/{b}", "/v1/{id:[0-9]+}/x", "/{a:}", "/{", "/}", "/{a:(}", "//", "/a/..", "/{a}/{a}"} {
		f.Add(s, "/a/b/c")
	}
	f.Fuzz(func(t *testing.T, pattern, path string) {
		if len(pattern) > 256 {
			return // keep regexp compilation cheap
		}
		pat, err := ParsePattern(pattern)
		if err != nil {
			return
		}
		for _, s := range pat {
			if (s.Var == "") == (s.Static == "") {
				t.Fatalf("ParsePattern(%q): segment %+v is neither static nor variable", pattern, s)
			}
		}
		tab := NewTable[int]()
		if err := tab.Add("h", pattern, false, 1); err != nil {
			t.Fatalf("Add(%q) after ParsePattern accepted it: %v", pattern, err)
		}
		if np, err := Normalize(path); err == nil {
			tab.Lookup("h", np)
		}
	})
}
