package config

import (
	"strings"
	"testing"
)

// YAML reads an unquoted 0042 as the octal number 34, 0x2A as 42 and 1_000
// as 1000, and the decoder then turns the number into the string "34": a
// deny on customer 0042 would deny customer 34. Wherever a string is
// expected, a value YAML reads as a number or a boolean is refused with
// what was written; quoted, it is taken as written.
func TestUnquotedScalarsWhereStringsGoAreRefused(t *testing.T) {
	sub := func(old, new string) string { return strings.Replace(minimal, old, new, 1) }
	tests := []loadTest{
		{name: "octal, hex and underscores in a deny on a path variable",
			yaml: withRules("/customers/{customer_id:[0-9]+}", "    rules:\n      allow: [{domains: [corp.example]}]\n"+
				"      deny: [{vars: {customer_id: [0042, 0o42, 0x2A, 1_000, 42]}}]\n"),
			want: []string{
				`routes[0].rules.deny[0].vars.customer_id[0]: expected a string, got the number 0042 (write "0042" in quotes)`,
				`routes[0].rules.deny[0].vars.customer_id[1]: expected a string, got the number 0o42 (write "0o42" in quotes)`,
				`routes[0].rules.deny[0].vars.customer_id[2]: expected a string, got the number 0x2A (write "0x2A" in quotes)`,
				`routes[0].rules.deny[0].vars.customer_id[3]: expected a string, got the number 1_000 (write "1_000" in quotes)`,
				`routes[0].rules.deny[0].vars.customer_id[4]: expected a string, got the number 42 (write "42" in quotes)`,
			}},
		{name: "claims, groups and a tag that does not help",
			yaml: withRules("/", "    rules:\n      allow: [{groups: [1.50, true], claims: {level: [!!str 0042], \"007\": [x]}}]\n"),
			want: []string{
				`routes[0].rules.allow[0].claims.level[0]: expected a string, got the number 0042 (write "0042" in quotes)`,
				`routes[0].rules.allow[0].groups[0]: expected a string, got the number 1.50 (write "1.50" in quotes)`,
				`routes[0].rules.allow[0].groups[1]: expected a string, got the boolean true (write "true" in quotes)`,
			}},
		{name: "a number as a claim name",
			yaml: withRules("/", "    rules:\n      allow: [{claims: {0042: [x]}}]\n"),
			want: []string{`routes[0].rules.allow[0].claims: expected names as keys, got the number 0042 (write "0042" in quotes)`}},
		{name: "policy test inputs and other string fields",
			yaml: sub("  client_id: gw\n", "  client_id: 0123\n") +
				"tests:\n  - {name: 7, route: app, expect: allow, user: {email: a@corp.example, groups: [0x10], claims: {dept: [010]}}}\n",
			want: []string{
				`oidc.client_id: expected a string, got the number 0123 (write "0123" in quotes)`,
				`tests[0].name: expected a string, got the number 7 (write "7" in quotes)`,
				`tests[0].user.claims.dept[0]: expected a string, got the number 010 (write "010" in quotes)`,
				`tests[0].user.groups[0]: expected a string, got the number 0x10 (write "0x10" in quotes)`,
			}},
		{name: "a secret's value is not shown",
			yaml: sub("  client_id: gw\n", "  client_id: gw\n  client_secret: 0123456\n"),
			want: []string{`oidc.client_secret: expected a string, got a number (write it in quotes)`}},
		{name: "null in a list of strings",
			yaml: sub("  client_id: gw\n", "  client_id: gw\n  scopes: [openid, ~]\n"),
			want: []string{`oidc.scopes[1]: expected a string, got nothing (null): write the value, or remove the entry`}},
		// The requirement kinds' parts are checked the same way.
		{name: "in a requirement kind's section",
			yaml: minimal + "justification:\n  systems:\n    t: {type: static, static: {tickets: [{id: T-1, state: open, assignees: [a@corp.example], customers: [0042]}]}}\n",
			want: []string{`justification.systems.t.static.tickets[0].customers[0]: expected a string, got the number 0042 (write "0042" in quotes)`}},
		// Quoted, every one of them is a string as written; words YAML 1.1
		// read as booleans are strings here; times of day and dates too.
		{name: "quoted values, yes and times stay strings",
			yaml: withRules("/customers/{customer_id:[0-9]+}", "    rules:\n      allow: [{groups: [yes, \"true\"], claims: {level: [\"0042\"]}}]\n"+
				"      deny: [{vars: {customer_id: [\"0042\", '0x2A']}}]\n") +
				"tests:\n  - {name: t, route: app, path: /customers/1, expect: deny, time: 2026-12-01T12:00:00Z, user: {email: a@corp.example, groups: [on]}}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// Quoted, a value is taken exactly as written.
func TestQuotedNumbersAreTakenAsWritten(t *testing.T) {
	c, err := Load([]byte(withRules("/customers/{customer_id:[0-9]+}", "    rules:\n      allow: [{groups: [\"0x2A\"]}]\n"+
		"      deny: [{vars: {customer_id: [\"0042\"]}}]\n")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Routes[0].Rules
	if got := r.Deny[0].Vars["customer_id"]; len(got) != 1 || got[0] != "0042" {
		t.Errorf("deny vars: expected [0042], got %q", got)
	}
	if got := r.Allow[0].Groups; len(got) != 1 || got[0] != "0x2A" {
		t.Errorf("allow groups: expected [0x2A], got %q", got)
	}
}
