package server

import (
	"testing"

	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/policy"
)

func TestRulesNameGroups(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules policy.Rules
		want  bool
	}{
		{"domains only", policy.Rules{Allow: []policy.Condition{{Domains: []string{"corp.example"}}}}, false},
		{"an allow on groups", policy.Rules{Allow: []policy.Condition{{Groups: []string{"support"}}}}, true},
		{"a deny on groups", policy.Rules{Allow: []policy.Condition{{Everyone: true}}, Deny: []policy.Condition{{Groups: []string{"contractors"}}}}, true},
	} {
		cfg := &config.Config{Routes: []config.Route{{Name: "a", Rules: policy.Rules{Allow: []policy.Condition{{Everyone: true}}}}, {Name: "b", Rules: tc.rules}}}
		if got := rulesNameGroups(cfg); got != tc.want {
			t.Errorf("%s: rulesNameGroups = %v, want %v", tc.name, got, tc.want)
		}
	}
}
