package config

import (
	"strings"
	"testing"
)

// Two routes of a host with different expressions for the variable at one
// position that share a segment: the table tries the last added first, so
// the order of the file would choose between them (a DELETE refused by the
// stricter route allowed by the looser one).
func TestOverlappingVariableRoutesAreRefused(t *testing.T) {
	route := func(name, path string) string {
		return "  - {name: " + name + ", host: gw.corp.example, path: \"" + path + "\", upstream: \"http://127.0.0.1:9000\", rules: {allow: [{domains: [corp.example]}]}}\n"
	}
	tests := []loadTest{
		{name: "[0-9]+ and \\d+",
			yaml: minimal + route("records", `/customers/{customer_id:[0-9]+}`) + route("export", `/customers/{id:\\d+}`),
			want: []string{`routes[2].path: /customers/{id:\d+} and routes[1].path /customers/{customer_id:[0-9]+} (records) have different expressions for the variable at segment 2 that both match "0": which route serves such a path would depend on the order of the file; write the same expression in both, or expressions that share no segment`}},
		{name: "overlap deeper, after a shared variable",
			yaml: minimal + route("a", `/t/{team}/m/{id:[a-z0-9]+}/x`) + route("b", `/t/{t}/m/{name:[a-z]+}`),
			want: []string{`routes[2].path: /t/{t}/m/{name:[a-z]+} and routes[1].path /t/{team}/m/{id:[a-z0-9]+}/x (a) have different expressions for the variable at segment 4 that both match "a": which route serves such a path would depend on the order of the file; write the same expression in both, or expressions that share no segment`}},
		{name: "the same expression: one variable edge",
			yaml: minimal + route("a", `/customers/{customer_id:[0-9]+}`) + route("b", `/customers/{id:[0-9]+}/orders`)},
		{name: "disjoint expressions",
			yaml: minimal + route("a", `/v/{id:[0-9]+}`) + route("b", `/v/{name:[a-z][a-z-]*}`) + route("c", `/v/{x:v[0-9]}/y`)},
		{name: "a constrained and an unconstrained variable: the constrained one first, as documented",
			yaml: minimal + route("a", `/v/{id:[0-9]+}`) + route("b", `/v/{slug}`)},
		{name: "different hosts",
			yaml: strings.Replace(minimal, "routes:\n", "session: {cookie_domain: corp.example}\nroutes:\n", 1) + route("a", `/v/{id:[0-9]+}`) +
				strings.Replace(route("b", `/v/{n:\\d+}`), "gw.corp", "other.corp", 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}
