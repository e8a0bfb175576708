package yamlcheck

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// laughs is the classic: n levels, each a list of ten aliases to the one
// before; the last names 10^(n+1) values.
func laughs(n int) string {
	var b strings.Builder
	b.WriteString("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	return b.String()
}

func TestCheckBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		bad  bool
	}{
		{"no aliases", "a: [1, 2, 3]\nb: {c: d}\n", false},
		{"a few aliases", "base: &b {x: 1, y: [1, 2]}\none: *b\ntwo: {<<: *b, y: [3]}\n", false},
		{"four levels", laughs(4), false},   // about 10^5 values
		{"five levels", laughs(5), true},    // about 10^6
		{"thirty levels", laughs(30), true}, // counted without overflow, at once
		{"alias to its own anchor", "a: &a [*a, *a]\n", false},
		{"alias without anchor", "a: *nowhere\n", false},
		{"does not parse", "a: [\n", false},
	} {
		err := CheckBytes([]byte(tc.yaml))
		var ae *AliasError
		if got := errors.As(err, &ae); got != tc.bad {
			t.Errorf("%s: CheckBytes() = %v, want refused: %v", tc.name, err, tc.bad)
		}
	}
}
