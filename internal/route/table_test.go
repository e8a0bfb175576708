package route

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

type tableRoute struct {
	host, path string
	exact      bool
	ci         bool // case-insensitive
}

// testRoutes is one table shared by the lookup cases; a route's value is its
// name, "host path" plus " exact" when exact (and " ci" when
// case-insensitive).
var testRoutes = []tableRoute{
	{"app.corp.example", "/", false, false},
	{"app.corp.example", "/admin", false, false},
	{"app.corp.example", "/admin/public", false, false},
	{"app.corp.example", "/health", true, false},
	{"app.corp.example", "/customers/{customer_id}", false, false},
	{"app.corp.example", "/customers/export", false, false},
	{"app.corp.example", "/orders/{id:[0-9]+}", true, false},
	{"app.corp.example", "/orders/{slug}", true, false},
	{"app.corp.example", "/teams/{team}/members/{member}", false, false},
	{"app.corp.example", "/files/{name}", false, false},
	{"app.corp.example", "/docs", false, false},
	{"app.corp.example", "/{lang}/guide", false, false},
	{"api.corp.example", "/v1", false, false},
	{"api.corp.example", "/v1", true, false},
	// A host with case-insensitive routes (an Express app) and
	// case-sensitive ones, one of them with an upper-case letter.
	{"ci.corp.example", "/", false, false},
	{"ci.corp.example", "/customers/{id}", false, true},
	{"ci.corp.example", "/customers/export", false, false},
	{"ci.corp.example", "/orders/{id:[a-z]+}", false, true},
	{"ci.corp.example", "/admin", false, false},
	{"ci.corp.example", "/Reports", false, false},
	{"ci.corp.example", "/Tools", false, true},
}

func (r tableRoute) value() string {
	v := r.host + " " + r.path
	if r.exact {
		v += " exact"
	}
	if r.ci {
		v += " ci"
	}
	return v
}

func newTestTable(t testing.TB) *Table[string] {
	t.Helper()
	tab := NewTable[string]()
	for _, r := range testRoutes {
		if err := tab.AddRoute(r.host, r.path, Options{Exact: r.exact, CaseInsensitive: r.ci}, r.value()); err != nil {
			t.Fatalf("AddRoute(%q, %q, %v, %v): %v", r.host, r.path, r.exact, r.ci, err)
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
	// ambiguous means the readings disagree: Lookup finds nothing and Check
	// fails with ErrAmbiguous.
	ambiguous bool
}

func (tc lookupTest) run(t *testing.T, tab *Table[string]) {
	t.Helper()
	got, vars, ok := tab.Lookup(tc.host, tc.path)
	err := tab.Check(tc.host, tc.path)
	if tc.ambiguous {
		if ok || !errors.Is(err, ErrAmbiguous) || !errors.Is(err, ErrBadPath) {
			t.Fatalf("Lookup(%q, %q) = %q, %v; Check = %v; want no match and ErrAmbiguous", tc.host, tc.path, got, ok, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Check(%q, %q) = %v, want nil", tc.host, tc.path, err)
	}
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
		{name: "exact and prefix on same path: exact first", host: "api.corp.example", path: "/v1", want: "api.corp.example /v1 exact"},
		{name: "exact and prefix on same path: prefix below", host: "api.corp.example", path: "/v1/x", want: "api.corp.example /v1"},
		{name: "no root on host", host: "api.corp.example", path: "/v2"},
		{name: "unknown host", host: "evil.example", path: "/"},
		{name: "host is exact, not suffix", host: "x.app.corp.example", path: "/"},
		{name: "host with port is not routed", host: app + ":443", path: "/"},
		{name: "host is case-sensitive (callers lowercase)", host: "APP.corp.example", path: "/"},

		// Letter case. Express and Koa match routes without regard to case
		// by default (path-to-regexp's sensitive: false), so on a
		// case-sensitive route a path that only a case-insensitive reading
		// routes elsewhere is ambiguous.
		{name: "upper case that changes the route", host: app, path: "/ADMIN", ambiguous: true},
		{name: "upper case below a prefix that changes the route", host: app, path: "/Admin/users", ambiguous: true},
		{name: "upper case deeper that changes the route", host: app, path: "/admin/Public/x", ambiguous: true},
		{name: "upper case that changes a variable route", host: app, path: "/Customers/43", ambiguous: true},
		{name: "upper case that routes the same", host: app, path: "/Nothing/Here", want: root},
		{name: "upper case inside a variable", host: app, path: "/customers/AB-43", want: cust,
			wantVars: map[string]string{"customer_id": "AB-43"}},
		{name: "upper case below a route", host: app, path: "/admin/USERS", want: admin},
		{name: "dotless i reads as i to .NET and Java", host: app, path: "/adm%C4%B1n", ambiguous: true},
		{name: "Kelvin sign reads as k", host: app, path: "/health/%E2%84%AA", want: root},
		{name: "long s reads as s", host: app, path: "/customer%C5%BF/1", ambiguous: true},
		{name: "other non-ASCII does not fold", host: app, path: "/%C3%A0dmin", want: root},

		// Path parameters. Servlet containers remove ";…" from every
		// segment (Servlet 6.0 §3.5.2), so a path whose route or variables
		// change without them is ambiguous.
		{name: "path parameter on a static segment", host: app, path: "/admin;jsessionid=1", ambiguous: true},
		{name: "path parameter below a prefix", host: app, path: "/admin;x/users", ambiguous: true},
		{name: "path parameter deeper", host: app, path: "/admin/public;x/y", ambiguous: true},
		{name: "path parameter on an exact route", host: app, path: "/health;x", ambiguous: true},
		{name: "path parameter on a regex variable", host: app, path: "/orders/123;x", ambiguous: true},
		{name: "path parameter changes a variable", host: app, path: "/customers/42;v=1", ambiguous: true},
		{name: "path parameter changes a variable of a deeper route", host: app, path: "/docs;x/guide", ambiguous: true},
		{name: "path parameter below the route's segments", host: app, path: "/admin/users;jsessionid=1", want: admin},
		{name: "path parameter below a variable route", host: app, path: "/customers/42/orders;x", want: cust,
			wantVars: map[string]string{"customer_id": "42"}},
		{name: "path parameter does not change the name", host: app, path: "/administrator;x", want: root},
		{name: "path parameter and upper case", host: app, path: "/ADMIN;x/y", ambiguous: true},
	}
	tab := newTestTable(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, tab) })
	}
}

func TestTableLookupCaseInsensitive(t *testing.T) {
	const ci = "ci.corp.example"
	root := ci + " /"
	cust := ci + " /customers/{id} ci"
	tests := []lookupTest{
		{name: "as written", host: ci, path: "/customers/43", want: cust, wantVars: map[string]string{"id": "43"}},
		{name: "capitalized", host: ci, path: "/Customers/43", want: cust, wantVars: map[string]string{"id": "43"}},
		{name: "upper case with trailing slash", host: ci, path: "/CUSTOMERS/43/", want: cust, wantVars: map[string]string{"id": "43"}},
		{name: "variable keeps its case", host: ci, path: "/customers/AbC", want: cust, wantVars: map[string]string{"id": "AbC"}},
		{name: "long s folds like .NET", host: ci, path: "/cu%C5%BFtomers/7", want: cust, wantVars: map[string]string{"id": "7"}},
		{name: "expression without case", host: ci, path: "/Orders/ABC", want: ci + " /orders/{id:[a-z]+} ci",
			wantVars: map[string]string{"id": "ABC"}},
		{name: "case-sensitive static beats the variable as written", host: ci, path: "/customers/export", want: ci + " /customers/export"},
		{name: "case-sensitive static read without case", host: ci, path: "/CUSTOMERS/export", ambiguous: true},
		{name: "case-sensitive static in another case", host: ci, path: "/customers/EXPORT", ambiguous: true},
		{name: "case-sensitive route as written", host: ci, path: "/admin", want: ci + " /admin"},
		{name: "case-sensitive route in another case", host: ci, path: "/Admin", ambiguous: true},
		{name: "upper-case route as written", host: ci, path: "/Reports/q1", want: ci + " /Reports"},
		{name: "upper-case route in lower case", host: ci, path: "/reports/q1", ambiguous: true},
		{name: "case-insensitive upper-case route", host: ci, path: "/tools", want: ci + " /Tools ci"},
		{name: "case-insensitive upper-case route in upper case", host: ci, path: "/TOOLS/x", want: ci + " /Tools ci"},
		{name: "root in lower case", host: ci, path: "/other", want: root},
		{name: "path parameter on a case-insensitive variable", host: ci, path: "/Customers/43;x", ambiguous: true},
		{name: "path parameter on a case-insensitive static", host: ci, path: "/Customers;x/43", ambiguous: true},
	}
	tab := newTestTable(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, tab) })
	}
}

// TestTableLookupFormatSuffix: on a host whose upstream reads a format
// suffix (Rails), a path that is another route or other variables without
// its suffix is ambiguous; one that every reading routes the same way is
// not. Hosts without the setting keep reading the suffix as part of the
// segment.
func TestTableLookupFormatSuffix(t *testing.T) {
	const rails, plain = "rails.corp.example", "plain.corp.example"
	tab := NewTable[string]()
	for _, r := range []struct {
		host, path string
		o          Options
	}{
		{rails, "/", Options{FormatSuffix: true}},
		{rails, "/admin", Options{FormatSuffix: true}},
		{rails, "/customers/{id:[0-9]+}", Options{FormatSuffix: true}},
		{rails, "/files/{name}", Options{}}, // the setting of one route covers the host
		{rails, "/Tools", Options{CaseInsensitive: true}},
		{plain, "/", Options{}},
		{plain, "/admin", Options{}},
		{plain, "/customers/{id:[0-9]+}", Options{}},
	} {
		if err := tab.AddRoute(r.host, r.path, r.o, r.host+" "+r.path); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []lookupTest{
		{name: "static route with a format", host: rails, path: "/admin.json", ambiguous: true},
		{name: "static route with a format and a trailing slash", host: rails, path: "/admin.json/", ambiguous: true},
		{name: "variable failing its expression with a format", host: rails, path: "/customers/43.json", ambiguous: true},
		{name: "double extension", host: rails, path: "/customers/43.tar.gz", ambiguous: true},
		{name: "variable with a format", host: rails, path: "/files/report.pdf", ambiguous: true},
		{name: "case-insensitive route with a format", host: rails, path: "/TOOLS.json", ambiguous: true},
		{name: "below a route", host: rails, path: "/admin/users.json", want: rails + " /admin"},
		{name: "every reading the root", host: rails, path: "/app.js", want: rails + " /"},
		{name: "dot file", host: rails, path: "/.well-known", want: rails + " /"},
		{name: "no suffix", host: rails, path: "/customers/43", want: rails + " /customers/{id:[0-9]+}", wantVars: map[string]string{"id": "43"}},
		{name: "dot in an earlier segment", host: rails, path: "/v1.2/admin", want: rails + " /"},
		{name: "another host keeps the suffix", host: plain, path: "/admin.json", want: plain + " /"},
		{name: "another host, variable", host: plain, path: "/customers/43.json", want: plain + " /"},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, tab) })
	}
	for in, want := range map[string]string{"/a/43.json": "/a/43", "/a/43.tar.gz/": "/a/43", "/a.b/c": "", "/.x": "", "/": "", "/a.": "/a"} {
		if got := stripFormat(in); got != want {
			t.Errorf("stripFormat(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTableAddErrors(t *testing.T) {
	tests := []struct {
		name    string
		first   tableRoute // added before, must succeed
		add     tableRoute
		wantErr string
	}{
		{name: "duplicate prefix", first: tableRoute{"h", "/a", false, false}, add: tableRoute{"h", "/a/", false, false},
			wantErr: "route: duplicate route h/a/"},
		{name: "duplicate exact", first: tableRoute{"h", "/a", true, false}, add: tableRoute{"h", "/a", true, false},
			wantErr: "route: duplicate exact route h/a"},
		{name: "duplicate variable with another name", first: tableRoute{"h", "/c/{x}", false, false}, add: tableRoute{"h", "/c/{y}", false, false},
			wantErr: "route: duplicate route h/c/{y}"},
		{name: "duplicate with another case setting", first: tableRoute{"h", "/a", false, false}, add: tableRoute{"h", "/a", false, true},
			wantErr: "route: duplicate route h/a"},
		{name: "differs only in case", first: tableRoute{"h", "/Admin", false, false}, add: tableRoute{"h", "/admin", false, false},
			wantErr: "route: route h/admin differs from another only in letter case; a case-insensitive upstream reads them as one"},
		{name: "differs only in case, case-insensitive", first: tableRoute{"h", "/c/{x}/Items", true, true}, add: tableRoute{"h", "/C/{y}/items", true, false},
			wantErr: "route: exact route h/C/{y}/items differs from another only in letter case; a case-insensitive upstream reads them as one"},
		{name: "bad pattern", first: tableRoute{"h", "/", false, false}, add: tableRoute{"h", "a", false, false},
			wantErr: `route: expected a path starting with '/', got "a"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := NewTable[int]()
			if err := tab.AddRoute(tc.first.host, tc.first.path, Options{Exact: tc.first.exact, CaseInsensitive: tc.first.ci}, 1); err != nil {
				t.Fatalf("first Add: %v", err)
			}
			err := tab.AddRoute(tc.add.host, tc.add.path, Options{Exact: tc.add.exact, CaseInsensitive: tc.add.ci}, 2)
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
func benchTable(b testing.TB, hosts, pathsPerHost int) (*Table[int], string, string) {
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

// FuzzTableLookup looks up arbitrary paths in the test table: Lookup and
// Check never panic and agree, and a path that is accepted routes, with
// its path parameters removed, to the same route with the same variables
// (what a Servlet container reads is what the rules judged).
func FuzzTableLookup(f *testing.F) {
	for _, s := range []string{"/", "/admin;x", "/Customers/43", "/customers/43;v=1/x", "/adm%C4%B1n", "/orders/ABC",
		"/CUSTOMERS/export", "/teams/a;b/members/c", "/%E2%84%AA", "/Tools;x"} {
		f.Add("app.corp.example", s)
		f.Add("ci.corp.example", s)
	}
	tab := newTestTable(f)
	f.Fuzz(func(t *testing.T, host, raw string) {
		path, err := Normalize(raw)
		if err != nil {
			return
		}
		v, vars, ok := tab.Lookup(host, path)
		cerr := tab.Check(host, path)
		if cerr != nil && (ok || !errors.Is(cerr, ErrAmbiguous)) {
			t.Fatalf("Check(%q, %q) = %v but Lookup ok = %v", host, path, cerr, ok)
		}
		if cerr != nil || !strings.Contains(path, ";") {
			return
		}
		sv, svars, sok := tab.Lookup(host, stripParams(path))
		if sok != ok || sv != v || !reflect.DeepEqual(svars, vars) {
			t.Fatalf("Lookup(%q, %q) = %q %v %v, but without parameters %q: %q %v %v",
				host, path, v, vars, ok, stripParams(path), sv, svars, sok)
		}
	})
}

func BenchmarkLookupReadings(b *testing.B) {
	tab := newTestTable(b)
	for _, bc := range []struct{ name, host, path string }{
		{"lower-case", "app.corp.example", "/customers/42/orders/7"},
		{"upper-case", "app.corp.example", "/customers/AB-42/orders/7"},
		{"path-parameters", "app.corp.example", "/customers/42/orders;jsessionid=1"},
		{"case-insensitive-host", "ci.corp.example", "/Customers/42"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if _, _, ok := tab.Lookup(bc.host, bc.path); !ok {
				b.Fatalf("Lookup(%q, %q) found nothing", bc.host, bc.path)
			}
			b.ReportAllocs()
			for b.Loop() {
				tab.Lookup(bc.host, bc.path)
			}
		})
	}
}

// TestTableLookupExpressionCase: a case-sensitive route's variable
// expression that accepts an upper-case letter ("[A-Z]+") accepts its lower
// case too for an upstream that matches routes without regard to case
// (Express compiles the whole route, expressions included, with the 'i'
// flag; ASP.NET Core's regex constraints ignore case), so an all-lower-case
// path that the literal reading gives to a broader route is ambiguous.
func TestTableLookupExpressionCase(t *testing.T) {
	const h = "re.corp.example"
	tab := NewTable[string]()
	for _, p := range []string{"/", "/codes/{code:[A-Z]+}", `/kinds/{k:\x{212a}[0-9]}`, "/ids/{id:[0-9a-f]+}", "/any/{x:.+}"} {
		if err := tab.AddRoute(h, p, Options{}, h+" "+p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []lookupTest{
		{name: "upper case as the expression says", host: h, path: "/codes/ABC", want: h + " /codes/{code:[A-Z]+}", wantVars: map[string]string{"code": "ABC"}},
		{name: "lower case: the expression matches without case", host: h, path: "/codes/abc", ambiguous: true},
		{name: "Kelvin sign in the expression matches k without case", host: h, path: "/kinds/k1", ambiguous: true},
		{name: "lower-case expression, lower-case path", host: h, path: "/ids/0af3", want: h + " /ids/{id:[0-9a-f]+}", wantVars: map[string]string{"id": "0af3"}},
		{name: "digits only", host: h, path: "/codes/123", want: h + " /"},
		{name: "expression without letters", host: h, path: "/any/abc", want: h + " /any/{x:.+}", wantVars: map[string]string{"x": "abc"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, tab) })
	}
}

// TestTableLookupUnicodeDigits: Java's Long.parseLong and Python's int
// read Unicode decimal digits ("٤٢", "４２") as the number, and Python's \d
// matches them, so Spring (a long path variable) and Django (re_path with
// \d+) serve /customers/%D9%A4%D9%A2 as customer 42; a path that the gateway's literal reading gives to a broader route
// while its digits read as those of a constrained variable is ambiguous.
func TestTableLookupUnicodeDigits(t *testing.T) {
	const h = "digits.corp.example"
	tab := NewTable[string]()
	for _, p := range []string{"/", "/customers/{customer_id:[0-9]+}", "/v1"} {
		if err := tab.AddRoute(h, p, Options{}, h+" "+p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []lookupTest{
		{name: "ASCII digits", host: h, path: "/customers/42", want: h + " /customers/{customer_id:[0-9]+}", wantVars: map[string]string{"customer_id": "42"}},
		{name: "Arabic-Indic digits", host: h, path: "/customers/%D9%A4%D9%A2", ambiguous: true},
		{name: "fullwidth digits", host: h, path: "/customers/%EF%BC%94%EF%BC%92", ambiguous: true},
		{name: "mathematical digit", host: h, path: "/customers/%F0%9D%9F%9C", ambiguous: true},
		{name: "a static segment's digit", host: h, path: "/v%D9%A1", ambiguous: true},
		{name: "other letters are not digits", host: h, path: "/customers/caf%C3%A9", want: h + " /"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, tab) })
	}
}

// TestTableLookupLenientNumbers: Rails' find reads a record ID with Ruby's
// String#to_i ("42abc", "+42", " 42" are 42) and Spring converts a long path
// variable with Long.decode after trimming whitespace ("0x2a", "#2A",
// "+42" are 42): a path that the literal reading gives to a broader route
// while such a reading of a segment satisfies a constrained variable is
// ambiguous.
func TestTableLookupLenientNumbers(t *testing.T) {
	const h = "numbers.corp.example"
	tab := NewTable[string]()
	for _, p := range []string{"/", "/customers/{customer_id:[0-9]+}", "/customers/export"} {
		if err := tab.AddRoute(h, p, Options{}, h+" "+p); err != nil {
			t.Fatal(err)
		}
	}
	cust := h + " /customers/{customer_id:[0-9]+}"
	tests := []lookupTest{
		{name: "digits", host: h, path: "/customers/42", want: cust, wantVars: map[string]string{"customer_id": "42"}},
		{name: "leading zero is the variable as sent", host: h, path: "/customers/042", want: cust, wantVars: map[string]string{"customer_id": "042"}},
		{name: "trailing letters (to_i)", host: h, path: "/customers/42abc", ambiguous: true},
		{name: "plus sign", host: h, path: "/customers/+42", ambiguous: true},
		{name: "space around", host: h, path: "/customers/%2042%20", ambiguous: true},
		{name: "hexadecimal (Long.decode)", host: h, path: "/customers/0x2a", ambiguous: true},
		{name: "hexadecimal with '#'", host: h, path: "/customers/%232A", ambiguous: true},
		{name: "a static route is not a number", host: h, path: "/customers/export", want: h + " /customers/export"},
		{name: "letters only", host: h, path: "/customers/new", want: h + " /"},
		{name: "digits after letters", host: h, path: "/customers/v2", want: h + " /"},
		{name: "elsewhere on the host", host: h, path: "/reports/2fa", want: h + " /"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, tab) })
	}
}

// The routing step stays within its allocations: one for a route without
// variables (the match state), four at 10,000 routes with a variable (its
// values and the vars map) — the folded reading's segment buffer stays on
// the stack (it moved to the heap once, doubling them).
func TestLookupAllocations(t *testing.T) {
	for _, tc := range []struct {
		name                string
		hosts, pathsPerHost int
		max                 float64
	}{
		{"routes=1", 1, 1, 1},
		{"routes=10000", 1000, 10, 4},
	} {
		tab, host, path := benchTable(t, tc.hosts, tc.pathsPerHost)
		if n := testing.AllocsPerRun(200, func() { tab.Lookup(host, path) }); n > tc.max {
			t.Errorf("%s: %v allocations per Lookup, want at most %v", tc.name, n, tc.max)
		}
	}
}
