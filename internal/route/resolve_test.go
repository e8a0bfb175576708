package route

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
)

// resolveBoth answers with Resolve and with NormalizeRequest + Lookup.
func resolveBoth(t testing.TB, tab *Table[string], host, raw string) (one, two resolved) {
	// As the server receives it: the request target as sent.
	r := &http.Request{Method: http.MethodGet, Host: host, RequestURI: raw, URL: &url.URL{Path: "/"}, Header: http.Header{}}
	one.path, one.v, one.vars, one.ok, one.err = tab.Resolve(host, r)
	two.path, two.err = tab.NormalizeRequest(host, r)
	if two.err == nil {
		two.v, two.vars, two.ok = tab.Lookup(host, two.path)
	}
	return one, two
}

type resolved struct {
	path, v string
	vars    map[string]string
	ok      bool
	err     error
}

func (a resolved) equal(b resolved) bool {
	return a.path == b.path && a.v == b.v && reflect.DeepEqual(a.vars, b.vars) && a.ok == b.ok &&
		(a.err == nil) == (b.err == nil) && (a.err == nil || a.err.Error() == b.err.Error())
}

// TestResolve: Resolve answers what NormalizeRequest then Lookup answer —
// route, variables, "no route", and every refusal with its error.
func TestResolve(t *testing.T) {
	tab := newTestTable(t)
	tests := []struct {
		name, host, raw string
		wantOK          bool
		wantBad         bool
	}{
		{name: "root", host: "app.corp.example", raw: "/", wantOK: true},
		{name: "variable, decoded", host: "app.corp.example", raw: "/customers/acme%20corp", wantOK: true},
		{name: "dot segments resolved", host: "app.corp.example", raw: "/admin/../customers/42", wantOK: true},
		{name: "unknown host", host: "nowhere.example", raw: "/", wantOK: false},
		{name: "encoded slash refused", host: "app.corp.example", raw: "/customers/a%2Fb", wantBad: true},
		{name: "ambiguous for a case-insensitive upstream", host: "app.corp.example", raw: "/CUSTOMERS/export", wantBad: true},
		{name: "query is not the path", host: "app.corp.example", raw: "/customers/42?x=/admin", wantOK: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			one, two := resolveBoth(t, tab, tc.host, tc.raw)
			if !one.equal(two) {
				t.Fatalf("route: Resolve = %+v; NormalizeRequest + Lookup = %+v", one, two)
			}
			if tc.wantBad != errors.Is(one.err, ErrBadPath) || (!tc.wantBad && one.ok != tc.wantOK) {
				t.Fatalf("route: expected ok %v bad %v, got %+v", tc.wantOK, tc.wantBad, one)
			}
		})
	}
}

// FuzzResolve: for any request target, Resolve agrees with NormalizeRequest
// followed by Lookup.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"/", "/admin;x", "/Customers/43", "/customers/43;v=1/x", "/adm%C4%B1n", "/a/../b", "/x%2Fy", "//a"} {
		f.Add("app.corp.example", s)
		f.Add("ci.corp.example", s)
	}
	tab := newTestTable(f)
	f.Fuzz(func(t *testing.T, host, raw string) {
		one, two := resolveBoth(t, tab, host, raw)
		if !one.equal(two) {
			t.Fatalf("route: Resolve(%q, %q) = %+v; NormalizeRequest + Lookup = %+v", host, raw, one, two)
		}
	})
}

// BenchmarkRoutingStep is the request path's routing step at 10,000 routes:
// NormalizeRequest then Lookup (two walks), against Resolve (one).
func BenchmarkRoutingStep(b *testing.B) {
	tab, host, path := benchTable(b, 1000, 10)
	r := httptest.NewRequest(http.MethodGet, "http://"+host+path, nil)
	b.Run("normalize+lookup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := tab.NormalizeRequest(host, r)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, ok := tab.Lookup(host, p); !ok {
				b.Fatal("no route")
			}
		}
	})
	b.Run("resolve", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, _, ok, err := tab.Resolve(host, r); err != nil || !ok {
				b.Fatal(err)
			}
		}
	})
}
