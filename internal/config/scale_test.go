package config

import (
	"fmt"
	"strings"
	"testing"
)

// manyRoutes is a file of n routes in one of the shapes large
// installations write: spread over hosts, or all on one host with path
// variables (constrained and not) behind shared static prefixes.
func manyRoutes(n int, shape string) []byte {
	var b strings.Builder
	b.WriteString(strings.Replace(strings.SplitAfter(minimal, "routes:\n")[0], "routes:\n", "session: {cookie_domain: corp.example}\nroutes:\n", 1))
	for i := range n {
		host, path := "gw.corp.example", ""
		switch shape {
		case "hosts":
			host = fmt.Sprintf("t%d.corp.example", i%100)
			path = fmt.Sprintf("/r%d/{id:[0-9]+}", i)
		case "one-host":
			path = fmt.Sprintf("/api/{tenant}/r%d/{id:[0-9]+}", i)
		case "one-prefix":
			path = fmt.Sprintf("/api/{id:[0-9]+}/r%d", i)
		}
		b.WriteString(routeYAML(fmt.Sprintf("r%d", i), host, path))
	}
	return []byte(b.String())
}

// BenchmarkLoadManyRoutes is what a start or a reload of a file of 10,000
// routes spends in parsing and validation.
func BenchmarkLoadManyRoutes(b *testing.B) {
	for _, shape := range []string{"hosts", "one-host", "one-prefix"} {
		data := manyRoutes(10000, shape)
		b.Run(shape, func(b *testing.B) {
			for b.Loop() {
				if _, err := Load(data, Options{Lookup: func(string) (string, bool) { return "", false }}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
