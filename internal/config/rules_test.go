package config

import (
	"strings"
	"testing"
)

// withRules is minimal with its route's rules: replaced by rules (YAML
// indented for the route) and its path by path.
func withRules(path, rules string) string {
	return strings.Replace(strings.Replace(minimal, "    rules:\n      allow: [{domains: [corp.example]}]\n", rules, 1),
		"    host: gw.corp.example\n", "    host: gw.corp.example\n    path: "+path+"\n", 1)
}

// A rule field that is written but holds nothing decodes like an absent
// one: the entry would match on its other fields alone (a user in no group
// passes {domains: [corp.example], groups: []}). Each is refused, with the
// field and what was found.
func TestEmptiedRuleFieldsAreRefused(t *testing.T) {
	tests := []loadTest{
		{name: "groups: [] beside domains",
			yaml: withRules("/", "    rules:\n      allow: [{domains: [corp.example], groups: []}]\n"),
			want: []string{"routes[0].rules.allow[0].groups: expected at least one group, got an empty list: the entry would match on its other fields alone; list the groups, or remove groups"}},
		{name: "groups whose items were all commented out",
			yaml: withRules("/", "    rules:\n      allow:\n        - domains: [corp.example]\n          groups:\n          #  - payroll-admins\n"),
			want: []string{"routes[0].rules.allow[0].groups: expected at least one group, got nothing (null): the entry would match on its other fields alone; list the groups, or remove groups"}},
		{name: "source_cidrs: [] beside groups",
			yaml: withRules("/", "    rules:\n      allow: [{groups: [payroll-admins], source_cidrs: []}]\n"),
			want: []string{"routes[0].rules.allow[0].source_cidrs: expected at least one CIDR, got an empty list: the entry would match on its other fields alone; list the CIDRs, or remove source_cidrs"}},
		{name: "every field of a deny entry emptied, each named",
			yaml: withRules("/c/{id}", "    rules:\n      allow: [{domains: [corp.example]}]\n"+
				"      deny: [{emails: [], domains: [], groups: ~, claims: {}, vars: {}, methods: [], source_cidrs: [], everyone: false}]\n"),
			want: []string{
				"routes[0].rules.deny[0].emails: expected at least one address, got an empty list: the entry would match on its other fields alone; list the addresses, or remove emails",
				"routes[0].rules.deny[0].domains: expected at least one domain, got an empty list: the entry would match on its other fields alone; list the domains, or remove domains",
				"routes[0].rules.deny[0].groups: expected at least one group, got nothing (null): the entry would match on its other fields alone; list the groups, or remove groups",
				"routes[0].rules.deny[0].claims: expected at least one claim, got an empty mapping: the entry would match on its other fields alone; list the claims, or remove claims",
				"routes[0].rules.deny[0].vars: expected at least one path variable, got an empty mapping: the entry would match on its other fields alone; list the path variables, or remove vars",
				"routes[0].rules.deny[0].methods: expected at least one method, got an empty list: the entry would match on its other fields alone; list the methods, or remove methods",
				"routes[0].rules.deny[0].source_cidrs: expected at least one CIDR, got an empty list: the entry would match on its other fields alone; list the CIDRs, or remove source_cidrs",
				"routes[0].rules.deny[0]: empty condition would match everyone; set a field, or everyone: true to say so",
			}},
		{name: "a deny list whose entries were all commented out",
			yaml: withRules("/", "    rules:\n      allow: [{domains: [corp.example]}]\n      deny:\n      #  - domains: [contractors.example]\n"),
			want: []string{"routes[0].rules.deny: expected at least one entry, got nothing (null): an emptied deny list denies no one; list the entries, or remove deny"}},
		{name: "deny: []",
			yaml: withRules("/", "    rules:\n      allow: [{domains: [corp.example]}]\n      deny: []\n"),
			want: []string{"routes[0].rules.deny: expected at least one entry, got an empty list: an emptied deny list denies no one; list the entries, or remove deny"}},
		// rules: emptied to null is refused (no allow entry); require:
		// emptied would silently drop the requirements.
		{name: "require emptied to null",
			yaml: withRules("/", "    rules:\n      allow: [{domains: [corp.example]}]\n    require:\n    #  device: {max_age: 8h}\n"),
			want: []string{"routes[0].require: expected at least one requirement, got nothing (null): list the requirements, or remove require"}},
		{name: "require: {}",
			yaml: withRules("/", "    rules:\n      allow: [{domains: [corp.example]}]\n    require: {}\n"),
			want: []string{"routes[0].require: expected at least one requirement, got an empty mapping: list the requirements, or remove require"}},
		{name: "rules emptied to null",
			yaml: withRules("/", "    rules:\n"),
			want: []string{"routes[0].rules.allow: no allow entry: the route would deny everyone; add one (e.g. domains: [corp.example])"}},
		// What stays valid: fields left out, everyone: true, lists with items.
		{name: "absent fields and explicit everyone",
			yaml: withRules("/c/{id}", "    rules:\n      allow: [{everyone: true}, {groups: [a], methods: [GET]}]\n      deny: [{vars: {id: [\"7\"]}}]\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// A claim or path variable value that is blank (an empty ${VAR}, a quoted
// null) is refused like an empty group name: no identity or path has it,
// so a deny on it would deny no one.
func TestBlankClaimAndVariableValuesAreRefused(t *testing.T) {
	tests := []loadTest{
		{name: "claim value from an empty variable",
			yaml: withRules("/", "    rules:\n      allow: [{domains: [corp.example]}]\n      deny: [{claims: {employment_type: [\"${CONTRACTOR_TYPE}\"]}}]\n"),
			env:  map[string]string{"CONTRACTOR_TYPE": ""},
			want: []string{`routes[0].rules.deny[0].claims.employment_type[0]: expected a claim value, got ""`}},
		{name: "claim value null",
			yaml: withRules("/", "    rules:\n      allow: [{domains: [corp.example]}]\n      deny: [{claims: {employment_type: [~]}}]\n"),
			want: []string{`routes[0].rules.deny[0].claims.employment_type[0]: expected a string, got nothing (null): write the value, or remove the entry`}},
		{name: "blank path variable value",
			yaml: withRules("/c/{id}", "    rules:\n      allow: [{domains: [corp.example]}]\n      deny: [{vars: {id: [\" \"]}}]\n"),
			want: []string{`routes[0].rules.deny[0].vars.id[0]: expected a value of the path variable, got " "`}},
		{name: "blank claim name",
			yaml: withRules("/", "    rules:\n      allow: [{claims: {\" \": [x]}}]\n"),
			want: []string{`routes[0].rules.allow[0].claims. : expected a claim name with at least one value`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}
