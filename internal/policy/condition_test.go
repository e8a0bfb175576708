package policy

import (
	"reflect"
	"testing"
)

// A blank claim or path variable value (an empty ${VAR}) is refused like a
// blank group name: no identity or path has it, so a deny entry on it would
// deny no one while reading as if it denied someone.
func TestConditionBlankValues(t *testing.T) {
	c := Condition{
		Claims: map[string][]string{"employment_type": {"contractor", ""}, "level": {" "}},
		Vars:   map[string][]string{"customer_id": {"", "42"}},
	}
	want := []string{
		`.claims.employment_type[1]: expected a claim value, got ""`,
		`.claims.level[0]: expected a claim value, got " "`,
		`.vars.customer_id[0]: expected a value of the path variable, got ""`,
	}
	if got := c.Problems(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Problems() =\n%q\nwant\n%q", got, want)
	}
	if _, err := Compile("r", false, Rules{Allow: []Condition{{Everyone: true}}, Deny: []Condition{c}}, nil); err == nil {
		t.Error("Compile accepted a deny entry on a blank claim value")
	}
}
