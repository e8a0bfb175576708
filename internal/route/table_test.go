package route

import (
	"fmt"
	"reflect"
	"testing"
)

type tableRoute struct {
	host, path string
	exact      bool
}

// testRoutes is one table shared by the lookup cases; a route's value is its
// name, "host path" plus " exact" when exact.
var testRoutes = []tableRoute{
	{"app.corp.example", "/", false},
	{"app.corp.example", "/admin", false},
	{"app.corp.example", "/admin/public", false},
	{"app.corp.example", "/health", true},
	{"app.corp.example", "/customers/{customer_id}", false},
	{"app.corp.example", "/customers/export", false},
	{"app.corp.example", "/orders/{id:[0-9]+}", true},
	{"app.corp.example", "/orders/{slug}", true},
	{"app.corp.example", "/teams/{team}/members/{member}", false},
	{"app.corp.example", "/files/{name}", false},
	{"app.corp.example", "/docs", false},
	{"app.corp.example", "/{lang}/guide", false},
	{"api.corp.example", "/v1", false},
	{"api.corp.example", "/v1", true},
}

func (r tableRoute) value() string {
	v := r.host + " " + r.path
	if r.exact {
		v += " exact"
	}
	return v
}

func newTestTable(t testing.TB) *Table[string] {
	t.Helper()
	tab := NewTable[string]()
	for _, r := range testRoutes {
		if err := tab.Add(r.host, r.path, r.exact, r.value()); err != nil {
			t.Fatalf("Add(%q, %q, %v): %v", r.host, r.path, r.exact, err)
		}
	}
	return tab
}

type lookupTest struct {
	name       string
	host, path string
	// want is the matched route's value; "" means no match.
	want     string
	wantVars map[string]string
}

func (tc lookupTest) run(t *testing.T, tab *Table[string]) {
	t.Helper()
	got, vars, ok := tab.Lookup(tc.host, tc.path)
	if ok != (tc.want != "") {
		t.Fatalf("Lookup(%q, %q) ok = %v (value %q), want match %q", tc.host, tc.path, ok, got, tc.want)
	}
	if got != tc.want {
		t.Fatalf("Lookup(%q, %q) = %q, want %q", tc.host, tc.path, got, tc.want)
	}
	if !reflect.DeepEqual(vars, tc.wantVars) {
		t.Fatalf("Lookup(%q, %q) vars = %#v, want %#v", tc.host, tc.path, vars, tc.wantVars)
	}
}

func TestTableLookup(t *testing.T) {
	const app = "app.corp.example"
	root := app + " /"
	admin := app + " /admin"
	cust := app + " /customers/{customer_id}"
	tests := []lookupTest{
		{name: "root", host: app, path: "/", want: root},
		{name: "unknown path falls back to root prefix", host: app, path: "/nothing/here", want: root},
		{name: "prefix itself", host: app, path: "/admin", want: admin},
		{name: "prefix with trailing slash", host: app, path: "/admin/", want: admin},
		{name: "below prefix", host: app, path: "/admin/users/7", want: admin},
		{name: "segment boundary: administrator is not admin", host: app, path: "/administrator", want: root},
		{name: "segment boundary: admin-x is not admin", host: app, path: "/admin-x/y", want: root},
		{name: "case matters in paths", host: app, path: "/ADMIN", want: root},
		{name: "most specific wins", host: app, path: "/admin/public/x", want: app + " /admin/public"},
		{name: "most specific boundary", host: app, path: "/admin/publicity", want: admin},
		{name: "exact matches itself", host: app, path: "/health", want: app + " /health exact"},
		{name: "exact with trailing slash", host: app, path: "/health/", want: app + " /health exact"},
		{name: "exact does not match below", host: app, path: "/health/deep", want: root},
		{name: "variable", host: app, path: "/customers/42", want: cust,
			wantVars: map[string]string{"customer_id": "42"}},
		{name: "variable prefix below", host: app, path: "/customers/42/orders", want: cust,
			wantVars: map[string]string{"customer_id": "42"}},
		{name: "static beats variable", host: app, path: "/customers/export", want: app + " /customers/export"},
		{name: "static prefix beats variable below", host: app, path: "/customers/export/all", want: app + " /customers/export"},
		{name: "variable needs a segment", host: app, path: "/customers/", want: root},
		{name: "vars decoded", host: app, path: "/customers/acme%20corp", want: cust,
			wantVars: map[string]string{"customer_id": "acme corp"}},
		{name: "vars decoded non-ASCII", host: app, path: "/files/caf%C3%A9", want: app + " /files/{name}",
			wantVars: map[string]string{"name": "café"}},
		{name: "regex variable first", host: app, path: "/orders/123", want: app + " /orders/{id:[0-9]+} exact",
			wantVars: map[string]string{"id": "123"}},
		{name: "regex is anchored", host: app, path: "/orders/123abc", want: app + " /orders/{slug} exact",
			wantVars: map[string]string{"slug": "123abc"}},
		{name: "exact variable not below", host: app, path: "/orders/123/x", want: root},
		{name: "two variables", host: app, path: "/teams/blue/members/ann/x", want: app + " /teams/{team}/members/{member}",
			wantVars: map[string]string{"team": "blue", "member": "ann"}},
		{name: "variables of a failed deeper branch do not leak", host: app, path: "/teams/blue/other", want: root},
		{name: "deeper variable route beats shallower static", host: app, path: "/docs/guide/x", want: app + " /{lang}/guide",
			wantVars: map[string]string{"lang": "docs"}},
		{name: "shallower static when the deeper fails", host: app, path: "/docs/other", want: app + " /docs"},
		// Path parameters: Tomcat and Jetty serve "/admin;x" as "/admin", so
		// it gets the /admin route, never a less specific one.
		{name: "path parameter on a static segment", host: app, path: "/admin;jsessionid=1", want: admin},
		{name: "path parameter below a prefix", host: app, path: "/admin;x/users", want: admin},
		{name: "path parameter deeper", host: app, path: "/admin/public;x/y", want: app + " /admin/public"},
		{name: "path parameter on an exact route", host: app, path: "/health;x", want: app + " /health exact"},
		{name: "path parameter does not change the name", host: app, path: "/administrator;x", want: root},
		{name: "path parameter on a regex variable keeps the whole segment", host: app, path: "/orders/123;x",
			want: app + " /orders/{id:[0-9]+} exact", wantVars: map[string]string{"id": "123;x"}},
		{name: "parameter-only segment", host: app, path: "/;x", want: root},
		{name: "exact and prefix on same path: exact first", host: "api.corp.example", path: "/v1", want: "api.corp.example /v1 exact"},
		{name: "exact and prefix on same path: prefix below", host: "api.corp.example", path: "/v1/x", want: "api.corp.example /v1"},
		{name: "no root on host", host: "api.corp.example", path: "/v2"},
		{name: "unknown host", host: "evil.example", path: "/"},
		{name: "host is exact, not suffix", host: "x.app.corp.example", path: "/"},
		{name: "host with port is not routed", host: app + ":443", path: "/"},
		{name: "host is case-sensitive (callers lowercase)", host: "APP.corp.example", path: "/"},
	}
	tab := newTestTable(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, tab) })
	}
}

func TestTableAddErrors(t *testing.T) {
	tests := []struct {
		name    string
		first   tableRoute // added before, must succeed
		add     tableRoute
		wantErr string
	}{
		{name: "duplicate prefix", first: tableRoute{"h", "/a", false}, add: tableRoute{"h", "/a/", false},
			wantErr: "route: duplicate route h/a/"},
		{name: "duplicate exact", first: tableRoute{"h", "/a", true}, add: tableRoute{"h", "/a", true},
			wantErr: "route: duplicate exact route h/a"},
		{name: "duplicate variable with another name", first: tableRoute{"h", "/c/{x}", false}, add: tableRoute{"h", "/c/{y}", false},
			wantErr: "route: duplicate route h/c/{y}"},
		{name: "bad pattern", first: tableRoute{"h", "/", false}, add: tableRoute{"h", "a", false},
			wantErr: `route: expected a path starting with '/', got "a"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := NewTable[int]()
			if err := tab.Add(tc.first.host, tc.first.path, tc.first.exact, 1); err != nil {
				t.Fatalf("first Add: %v", err)
			}
			err := tab.Add(tc.add.host, tc.add.path, tc.add.exact, 2)
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("Add(%v) error = %v, want %q", tc.add, err, tc.wantErr)
			}
		})
	}
}

func TestTableHasHost(t *testing.T) {
	tab := newTestTable(t)
	for host, want := range map[string]bool{
		"app.corp.example": true, "api.corp.example": true, "corp.example": false, "": false,
	} {
		if got := tab.HasHost(host); got != want {
			t.Errorf("HasHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// benchTable builds routes over hosts × paths; each route has a static
// prefix, a variable route below it and an exact one.
func benchTable(b *testing.B, hosts, pathsPerHost int) (*Table[int], string, string) {
	b.Helper()
	tab := NewTable[int]()
	n := 0
	for h := 0; h < hosts; h++ {
		host := fmt.Sprintf("tool-%d.corp.example", h)
		for p := 0; p < pathsPerHost; p++ {
			var path string
			switch p % 3 {
			case 0:
				path = fmt.Sprintf("/svc-%d", p)
			case 1:
				path = fmt.Sprintf("/svc-%d/customers/{customer_id}", p)
			case 2:
				path = fmt.Sprintf("/svc-%d/orders/{id:[0-9]+}/items", p)
			}
			if err := tab.Add(host, path, false, n); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	// Look up a path in the middle host, below a variable route.
	mid := pathsPerHost / 2
	mid -= mid % 3
	mid++ // a customers route
	host := fmt.Sprintf("tool-%d.corp.example", hosts/2)
	path := fmt.Sprintf("/svc-%d/customers/42/orders/7", mid)
	if pathsPerHost == 1 {
		path = "/svc-0/customers/42"
	}
	return tab, host, path
}

func BenchmarkLookup(b *testing.B) {
	for _, bc := range []struct {
		name                string
		hosts, pathsPerHost int
	}{
		{"routes=1", 1, 1},
		{"routes=10000", 1000, 10},
		{"routes=10000/one-host", 1, 10000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tab, host, path := benchTable(b, bc.hosts, bc.pathsPerHost)
			if _, _, ok := tab.Lookup(host, path); !ok {
				b.Fatalf("Lookup(%q, %q) found nothing", host, path)
			}
			b.ReportAllocs()
			for b.Loop() {
				tab.Lookup(host, path)
			}
		})
	}
}
