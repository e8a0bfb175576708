package config

import "testing"

// A claim rule must name a claim an identity can carry: the protocol
// claims are verified and never kept, so a rule (or a policy test) on one
// would pass `gateway check` and never match a real sign-in. Dotted names
// are paths into nested objects, as in oidc.groups_claim, and are carried.
func TestClaimRulesNameClaimsAnIdentityCarries(t *testing.T) {
	tests := []loadTest{
		{name: "protocol claims in rules and tests",
			yaml: withRules("/", "    rules:\n      allow: [{domains: [corp.example]}]\n      deny: [{claims: {azp: [legacy-cli], auth_time: [\"0\"]}}]\n") +
				"tests:\n  - {name: t, route: app, expect: deny, user: {email: a@corp.example, claims: {sid: [x]}}}\n",
			want: []string{
				`routes[0].rules.deny[0].claims.auth_time: "auth_time" is a protocol claim of the ID token, which the gateway checks and never keeps in an identity: a rule on it would never match; decide on identity claims (email, groups, or the provider's own)`,
				`routes[0].rules.deny[0].claims.azp: "azp" is a protocol claim of the ID token, which the gateway checks and never keeps in an identity: a rule on it would never match; decide on identity claims (email, groups, or the provider's own)`,
				`tests[0].user.claims.sid: "sid" is a protocol claim of the ID token, which a signed-in identity never carries: the test would pass where a real request does not`,
			}},
		{name: "a dotted path and a namespaced claim",
			yaml: withRules("/", "    rules:\n      allow: [{domains: [corp.example]}]\n      deny: [{claims: {realm_access.roles: [contractor], \"https://corp.example/type\": [temp]}}]\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}
