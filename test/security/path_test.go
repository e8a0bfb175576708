package security

import (
	"net/http"
	"testing"

	"github.com/accessgateway/gateway/internal/gatewaytest"
)

// TestPathReadings: the upstream must read the path the rules judged. Sam
// may use the home route only; each variant tries to reach the customers or
// admin route's paths through it, the way a Servlet container (path
// parameters dropped per segment, Servlet 6.0 §3.5.2), a case-insensitive
// router (Express and Koa by default, ASP.NET Core, whose OrdinalIgnoreCase
// reads the dotless ı as i), or a decoding router (Go's ServeMux, Django)
// would read it.
func TestPathReadings(t *testing.T) {
	f := newFixture(t, nil, "")
	const bad, denied = http.StatusBadRequest, http.StatusForbidden
	for _, tc := range []struct {
		name, target string
		want         int
	}{
		// Path parameters.
		{"parameter-only first segment", "/;x/customers/43", bad},
		{"empty parameter-only first segment", "/;/customers/43", bad},
		{"jsessionid segment before admin", "/;jsessionid=1/admin", bad},
		{"parameter on the route's segment", "/customers;x/43", bad},
		{"parameter on the variable", "/customers/43;x", bad},
		{"parameter on a prefix route", "/admin;x", bad},
		{"empty parameter below a prefix route", "/admin;/users", bad},
		{"dotdot with parameter", "/public/..;/admin", bad},
		{"encoded dotdot with parameter", "/public/%2e%2e;/admin", bad},
		{"parameter-only segment after merged slashes", "//;x//admin", bad},
		// Letter case.
		{"capitalized route", "/Customers/43", bad},
		{"upper-case route, trailing slash", "/CUSTOMERS/43/", bad},
		{"upper-case prefix route", "/ADMIN", bad},
		{"capitalized prefix route, below", "/Admin/users", bad},
		{"escaped upper-case letter", "/%41dmin", bad},
		{"dotless i", "/adm%C4%B1n", bad},
		{"long s", "/cu%C5%BFtomers/43", bad},
		{"parameter and case", "/ADMIN;x/users", bad},
		// Readings that agree: judged by the stricter route, and denied.
		{"merged slashes", "//customers//43", denied},
		{"dot segments", "/public/../customers/./43", denied},
		{"escaped digits", "/customers/%34%33", denied},
		{"escaped letter", "/adm%69n", denied},
		{"case-insensitive route in another case", "/TOOLS/hammer", denied},
	} {
		t.Run(tc.name, func(t *testing.T) { f.blocked(t, f.get(tc.target, f.sam), tc.want) })
	}

	// What reads the same everywhere goes through, as judged.
	for _, tc := range []struct{ name, target, want string }{
		{"home", "/welcome?x=1", "/welcome?x=1"},
		{"upper case that routes the same", "/Welcome/Page", "/Welcome/Page"},
		{"not a customer ID in any reading", "/customers/abc", "/customers/abc"},
		{"encoded semicolon is not a parameter", "/admin%3busers", "/admin%3Busers"},
		{"parameter below the route's segments", "/reports/q3;jsessionid=1", "/reports/q3;jsessionid=1"},
	} {
		t.Run(tc.name, func(t *testing.T) { f.reached(t, f.get(tc.target, f.sam), tc.want) })
	}
	// path_case: insensitive: the engineer reaches the tools route in any
	// case, and the upstream reads the path as sent.
	t.Run("case-insensitive route", func(t *testing.T) {
		f.reached(t, f.get("/TOOLS/Hammer", f.eng), "/TOOLS/Hammer")
		f.reached(t, f.get("/too%C5%BFs/x", f.eng), "/too%C5%BFs/x")
	})
}

// TestFormatSuffix: Rails reads "/customers/43.json" as customer 43 and
// "/admin.json" as the admin page. On a host whose routes say so
// (format_suffix), such a path is refused when it would be another route
// or other path variables without its suffix; without the setting the
// suffix stays part of the segment (an upstream that does not strip it).
func TestFormatSuffix(t *testing.T) {
	idp := gatewaytest.NewIdP(t)
	up := gatewaytest.NewUpstream(t, nil)
	g := gatewaytest.Start(t, gatewaytest.Vars{IdP: idp, Upstream: up.URL}, `routes:
  - name: home
    host: {{.Host}}
    upstream: {{.Upstream}}
    format_suffix: true
    rules: {allow: [{domains: [example.com]}]}
  - name: customers
    host: {{.Host}}
    path: /customers/{customer_id:[0-9]+}
    upstream: {{.Upstream}}
    format_suffix: true
    rules: {allow: [{groups: [engineering]}]}
  - name: admin
    host: {{.Host}}
    path: /admin
    upstream: {{.Upstream}}
    format_suffix: true
    rules: {allow: [{groups: [admins]}]}
`)
	f := &fixture{g: g, idp: idp, up: up}
	f.sam = g.SessionCookie(g.SignIn(t, idp, gatewaytest.User("sam@example.com", "support"), "/"))
	for _, target := range []string{"/admin.json", "/admin.json/", "/admin.xml?x=1", "/customers/43.json", "/customers/43.tar.gz",
		"/Admin.json", "/customers/43.json;x"} {
		t.Run(target, func(t *testing.T) { f.blocked(t, f.get(target, f.sam), http.StatusBadRequest) })
	}
	f.blocked(t, f.get("/admin/users.json", f.sam), http.StatusForbidden)
	f.reached(t, f.get("/app.js", f.sam), "/app.js")
	f.reached(t, f.get("/customers/abc.json", f.sam), "/customers/abc.json")
}
