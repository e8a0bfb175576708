package policy

import "testing"

// The memo gives ParseEmail's answers, valid and invalid, on first and
// repeated calls.
func TestParseEmailCachedMatchesParseEmail(t *testing.T) {
	inputs := []string{"ann@corp.example", "ANN@Corp.Example", "a@evil.example@corp.example",
		"Ann <ann@corp.example>", "", "\u212Aen@corp.example", "x@localhost"}
	for round := 0; round < 2; round++ {
		for _, in := range inputs {
			want, wantErr := ParseEmail(in)
			got, gotErr := parseEmailCached(in)
			if got != want || (gotErr == nil) != (wantErr == nil) {
				t.Errorf("round %d %q: cached (%v, %v), direct (%v, %v)", round, in, got, gotErr, want, wantErr)
			}
		}
	}
}
