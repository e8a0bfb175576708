package forward

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ingress is a running nginx or Caddy in front of up, asking g.
type ingress struct {
	name string
	URL  string
	// spoof are the headers a client might send to choose the URI that
	// is judged (the ingress's own names for the original request).
	spoof []string
	// removes: the ingress removes the client's copies of the gateway's
	// headers when the gateway says so (Envoy), instead of the gateway
	// refusing such requests.
	removes bool
}

func startNginx(t *testing.T, port int, g *gateway, up *upstream) *ingress {
	bin := binary(t, "nginx")
	dir := t.TempDir()
	for _, d := range []string{"body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(t, dir, port, hostPort(g.URL), hostPort(up.URL), os.Geteuid() == 0)), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, port, bin, []string{"-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")})
	return &ingress{name: "nginx", URL: fmt.Sprintf("http://127.0.0.1:%d", port), spoof: []string{"X-Original-URI", "X-Original-Method"}}
}

func startCaddy(t *testing.T, port int, g *gateway, up *upstream) *ingress {
	bin := binary(t, "caddy")
	dir := t.TempDir()
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, []byte(caddyConfig(t, dir, port, hostPort(g.URL), hostPort(up.URL))), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, port, bin, []string{"run", "--config", conf, "--adapter", "caddyfile"},
		"HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	return &ingress{name: "caddy", URL: fmt.Sprintf("http://127.0.0.1:%d", port), spoof: []string{"X-Forwarded-Uri", "X-Forwarded-Method"}}
}

func hostPort(u string) string { return strings.TrimPrefix(u, "http://") }

func TestNginx(t *testing.T) { testIngress(t, "nginx", startNginx) }
func TestCaddy(t *testing.T) { testIngress(t, "forward-auth", startCaddy) }

// testIngress runs every scenario through one ingress. transport is what
// the gateway's audit records must name.
func testIngress(t *testing.T, transport string, start func(*testing.T, int, *gateway, *upstream) *ingress) {
	idp := newIdP(t)
	up := newUpstream(t)
	port := reservePort(t)
	g := startGateway(t, idp, up, fmt.Sprintf("http://127.0.0.1:%d", port))
	in := start(t, port, g, up)
	v := g.verifier(t, up)

	// The context token the tool received: it verifies against the
	// gateway's JWKS (fetched through the ingress) and names the user and
	// the browser's address.
	checkToken := func(t *testing.T, email string) {
		t.Helper()
		r := up.last()
		if r == nil {
			t.Fatal("the tool received nothing")
		}
		if got := r.Header.Values("X-Gateway-Context"); len(got) != 1 {
			t.Fatalf("the tool received %d X-Gateway-Context headers, want 1", len(got))
		}
		c, err := v.Verify(context.Background(), r.Header.Get("X-Gateway-Context"))
		if err != nil {
			t.Fatalf("the context token the tool received does not verify: %v", err)
		}
		if c.Email != email || c.Route != "reports" || c.SourceIP != browserAddr {
			t.Fatalf("claims email %q route %q source %q; want %s reports %s", c.Email, c.Route, c.SourceIP, email, browserAddr)
		}
		if r.Header.Get("X-Gateway-Request-Id") == "" {
			t.Fatal("no request ID upstream")
		}
		// The gateway's cookies never reach the tool; the tool's do.
		for _, c := range r.Cookies() {
			if strings.HasPrefix(c.Name, "_gateway_session") {
				t.Fatalf("the tool received the gateway's cookie %s", c.Name)
			}
		}
		if !strings.Contains(r.Header.Get("Cookie"), "tool_pref=dark") {
			t.Fatalf("the tool's own cookie was lost: %q", r.Header.Get("Cookie"))
		}
	}

	ann := client(browserAddr)
	// A cookie of the tool's own, beside the gateway's: it must reach the
	// tool, the gateway's must not.
	if u, err := url.Parse(in.URL); err == nil {
		ann.Jar.SetCookies(u, []*http.Cookie{{Name: "tool_pref", Value: "dark"}})
	}
	t.Run("signed out: redirected to sign in, through the provider and back, allowed", func(t *testing.T) {
		idp.QueueUser(user("ann@example.com", "support"))
		resp, body := get(t, ann, in.URL+"/reports/2026?a=1&b=two")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"tool":"reports"`) {
			t.Fatalf("status %d, body %.300s", resp.StatusCode, body)
		}
		if got := resp.Request.URL.String(); got != in.URL+"/reports/2026?a=1&b=two" {
			t.Fatalf("landed on %s, not where the sign-in started", got)
		}
		if up.last().RequestURI != "/reports/2026?a=1&b=two" {
			t.Fatalf("the tool received %q", up.last().RequestURI)
		}
		checkToken(t, "ann@example.com")
	})
	t.Run("signed in: allowed", func(t *testing.T) {
		before := up.hits()
		resp, _ := get(t, ann, in.URL+"/reports")
		if resp.StatusCode != http.StatusOK || up.hits() != before+1 {
			t.Fatalf("status %d, tool hits %d → %d", resp.StatusCode, before, up.hits())
		}
		checkToken(t, "ann@example.com")
		if a := up.last().Header.Get("Authorization"); a != "" {
			t.Fatalf("the tool received Authorization %q, which the client never sent", a)
		}
	})
	t.Run("the tool never receives a client's address or host headers", func(t *testing.T) {
		// Proxy mode sends the tool only the address and host the rules
		// judged; the documented ingress configurations must do the same,
		// and Envoy removes what the gateway names (the gRPC service sees
		// every header, the HTTP service those of its allowed_headers).
		// The Traefik play applies the documented headers middleware.
		before := up.hits()
		resp, _ := get(t, ann, in.URL+"/reports", "X-Real-IP", "10.9.9.9", "X-Forwarded-For", "10.9.9.9",
			"Forwarded", "for=10.9.9.9;host=admin.example", "X-Client-IP", "10.9.9.9", "X-Forwarded-Host", "admin.example",
			"X-Forwarded-Port", "8443")
		if resp.StatusCode != http.StatusOK || up.hits() != before+1 {
			t.Fatalf("status %d, tool hits %d → %d", resp.StatusCode, before, up.hits())
		}
		r := up.last()
		for _, name := range []string{"X-Real-Ip", "X-Forwarded-For", "Forwarded", "X-Client-Ip", "X-Forwarded-Host", "X-Forwarded-Port"} {
			for _, v := range r.Header.Values(name) {
				if strings.Contains(v, "10.9.9.9") || strings.Contains(v, "admin.example") || strings.Contains(v, "8443") {
					t.Errorf("the tool received the client's %s %q", name, v)
				}
			}
		}
	})
	t.Run("a bearer token the gateway consumed never reaches the tool", func(t *testing.T) {
		tok := idToken(t, idp, "bob@example.com")
		bob := client(browserAddr)
		if u, err := url.Parse(in.URL); err == nil {
			bob.Jar.SetCookies(u, []*http.Cookie{{Name: "tool_pref", Value: "dark"}})
		}
		before := up.hits()
		resp, body := get(t, bob, in.URL+"/api/items", "Authorization", "Bearer "+tok, "Accept", "application/json")
		if resp.StatusCode != http.StatusOK || up.hits() != before+1 {
			t.Fatalf("status %d, tool hits %d → %d, body %.300s", resp.StatusCode, before, up.hits(), body)
		}
		r := up.last()
		for k, v := range r.Header {
			if strings.Contains(strings.Join(v, ","), tok) {
				t.Fatalf("the tool received the bearer token the gateway consumed in %s", k)
			}
		}
		c, err := v.Verify(context.Background(), r.Header.Get("X-Gateway-Context"))
		if err != nil || c.Email != "bob@example.com" || c.Route != "api" {
			t.Fatalf("context token %+v, %v; want bob on api", c, err)
		}
		if !strings.Contains(r.Header.Get("Cookie"), "tool_pref=dark") {
			t.Fatalf("the tool's own cookie was lost: %q", r.Header.Get("Cookie"))
		}
	})
	t.Run("the tool's own Authorization reaches it", func(t *testing.T) {
		const basic = "Basic dG9vbDpzZWNyZXQ="
		resp, body := get(t, ann, in.URL+"/reports", "Authorization", basic)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, body %.300s", resp.StatusCode, body)
		}
		checkToken(t, "ann@example.com")
		if got := up.last().Header.Values("Authorization"); len(got) != 1 || got[0] != basic {
			t.Fatalf("the tool received Authorization %q, want %q", got, basic)
		}
	})
	t.Run("signed out without following: the redirect is to the provider, never the tool", func(t *testing.T) {
		c := client(browserAddr)
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		before := up.hits()
		resp, _ := get(t, c, in.URL+"/reports")
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || up.hits() != before {
			t.Fatalf("status %d (Location %q), tool hits %d → %d", resp.StatusCode, loc, before, up.hits())
		}
		if !strings.HasPrefix(loc, idp.AuthorizationEndpoint()) && !strings.HasPrefix(loc, in.URL+"/.gateway/sign-in?rd=") {
			t.Fatalf("Location %q is neither the provider nor the gateway's sign-in", loc)
		}
	})
	t.Run("denied with the page", func(t *testing.T) {
		before := up.hits()
		resp, body := get(t, ann, in.URL+"/admin/users")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "None of the access rules of admin includes you") {
			t.Fatalf("status %d, body %.400s", resp.StatusCode, body)
		}
		if up.hits() != before {
			t.Fatal("the tool was reached")
		}
	})
	t.Run("a requirement kind's page: outside the time window", func(t *testing.T) {
		before := up.hits()
		resp, body := get(t, ann, in.URL+"/night/rota")
		if resp.StatusCode != http.StatusForbidden || up.hits() != before {
			t.Fatalf("status %d, tool hits %d → %d, body %.300s", resp.StatusCode, before, up.hits(), body)
		}
		found := false
		for _, r := range g.records() {
			found = found || (r.Route == "night-shift" && r.Decision == "deny" && len(r.Reasons) > 0 && r.Reasons[0] == "outside-window")
		}
		if !found {
			t.Fatal("no outside-window decision record")
		}
	})
	t.Run("a deny rule's page", func(t *testing.T) {
		cat := client(browserAddr)
		idp.QueueUser(user("cat@example.com", "contractors"))
		resp, body := get(t, cat, in.URL+"/reports")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "A deny rule of reports excludes you") {
			t.Fatalf("status %d, body %.400s", resp.StatusCode, body)
		}
	})
	t.Run("an API client signed out: 401 JSON", func(t *testing.T) {
		resp, body := get(t, client(browserAddr), in.URL+"/reports", "Accept", "application/json")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"sign-in-required"`) {
			t.Fatalf("status %d, body %.300s", resp.StatusCode, body)
		}
	})
	t.Run("spoofed original URI from the client: ignored", func(t *testing.T) {
		before := up.hits()
		hdr := []string{}
		for _, h := range in.spoof {
			v := "/reports"
			if strings.HasSuffix(h, "Method") {
				v = "GET"
			}
			hdr = append(hdr, h, v)
		}
		resp, _ := get(t, ann, in.URL+"/admin/users", hdr...)
		// Denied on the real path (403), or refused for carrying a header
		// the tool could take for the gateway's word (400: a describing
		// header of another ingress kind, which this one does not set).
		if (resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest) || up.hits() != before {
			t.Fatalf("status %d, tool hits %d → %d: the spoofed URI was believed", resp.StatusCode, before, up.hits())
		}
	})
	t.Run("a client's Host naming another route is not what is judged", func(t *testing.T) {
		// The ingress serves the tool's host and proxies to the tool: the
		// decision must be about that host, not about the Host header the
		// client chose (status.test is a public route of the gateway). An
		// absolute request target makes nginx choose its server by the
		// target's host while $http_host is still the client's header.
		addr := hostPort(in.URL)
		for _, target := range []string{"/admin/users", in.URL + "/admin/users"} {
			before := up.hits()
			status := rawGet(t, addr, target, "status.test")
			if up.hits() != before {
				t.Fatalf("GET %s with Host status.test: status %d, and the tool was reached without signing in", target, status)
			}
		}
	})
	t.Run("an allow answer never reaches the client", func(t *testing.T) {
		// A header the check refuses (another ingress's describing header)
		// makes nginx ask again for the page, where it sets that header
		// itself: the second check may allow. Its answer (the context
		// token, the client's cookies and Authorization echoed for the
		// tool) must not be sent to the client.
		for _, h := range []string{"X-Forwarded-Uri", "X-Forwarded-Method", "X-Original-URI", "X-Original-Method"} {
			v := "/reports"
			if strings.HasSuffix(h, "Method") {
				v = "GET"
			}
			before := up.hits()
			resp, _ := get(t, ann, in.URL+"/reports", h, v, "Authorization", "Basic dG9vbDpzZWNyZXQ=")
			for _, name := range []string{"X-Gateway-Context", "X-Gateway-Request-Id", "Cookie", "Authorization"} {
				if got := resp.Header.Get(name); got != "" {
					t.Fatalf("%s sent: status %d, the client received the allow answer's %s %.80q", h, resp.StatusCode, name, got)
				}
			}
			// With nginx, which refuses another ingress's describing
			// headers at its check: not forwarded, and not an empty 200
			// either — the page check refuses what the check refused.
			// (nginx sets X-Original-* itself; Caddy sets X-Forwarded-*.)
			if transport == "nginx" && strings.HasPrefix(h, "X-Forwarded-") && (up.hits() != before || resp.StatusCode != http.StatusBadRequest) {
				t.Fatalf("%s sent: status %d, tool hits %d → %d", h, resp.StatusCode, before, up.hits())
			}
		}
		if transport == "nginx" {
			// No decision record says allow for a request nginx refused.
			for _, r := range g.records() {
				if r.Kind == "decision" && r.Decision == "allow" && r.Transport != "nginx" {
					t.Fatalf("an allow recorded by a check that is not nginx's: %+v", r)
				}
			}
		}
	})
	t.Run("the check endpoints through the ingress: not found", func(t *testing.T) {
		for _, p := range []string{"/.gateway/auth", "/.gateway/auth/nginx", "/.gateway/auth/envoy/reports"} {
			resp, _ := get(t, ann, in.URL+p, "X-Original-URI", "/reports", "X-Original-Method", "GET",
				"X-Forwarded-Uri", "/reports", "X-Forwarded-Method", "GET", "X-Forwarded-Host", "127.0.0.1")
			if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Gateway-Context") != "" {
				t.Fatalf("%s: status %d, token %q", p, resp.StatusCode, resp.Header.Get("X-Gateway-Context"))
			}
		}
	})
	t.Run("an untrusted peer asking the gateway directly: refused and audited", func(t *testing.T) {
		stranger := client(strangerAddr)
		for _, p := range []string{"/.gateway/auth", "/.gateway/auth/nginx"} {
			resp, _ := get(t, stranger, g.URL+p, "X-Original-URI", "/reports", "X-Original-Method", "GET",
				"X-Forwarded-Uri", "/reports", "X-Forwarded-Method", "GET", "X-Forwarded-Host", "127.0.0.1")
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Gateway-Context") != "" {
				t.Fatalf("%s: status %d, token %q", p, resp.StatusCode, resp.Header.Get("X-Gateway-Context"))
			}
		}
		found := false
		for _, r := range g.records() {
			found = found || (r.SourceIP == strangerAddr && r.Decision == "deny" && strings.Contains(r.Detail, "not in trusted_proxies"))
		}
		if !found {
			t.Fatal("no audit record of the untrusted peer's check")
		}
	})
	t.Run("a client's X-Gateway-Context never reaches the tool", func(t *testing.T) {
		for _, name := range []string{"X-Gateway-Context", "x-gateway-context", "X_Gateway_Context", "X-Gateway-Request-Id"} {
			before := up.hits()
			resp, body := get(t, ann, in.URL+"/reports", name, "forged")
			switch {
			case resp.StatusCode == http.StatusBadRequest && !in.removes:
				// The gateway refuses it (nginx, Caddy, Traefik cannot
				// remove a header family).
				if !strings.Contains(body, "only the gateway may set") || up.hits() != before {
					t.Fatalf("%s: body %.300s, tool hits %d → %d", name, body, before, up.hits())
				}
			case resp.StatusCode == http.StatusOK && (in.removes || strings.Contains(name, "_")):
				// Envoy removes it as the gateway says; nginx drops
				// names with '_' (underscores_in_headers off).
				checkToken(t, "ann@example.com")
				for k, v := range up.last().Header {
					if strings.Contains(strings.Join(v, ","), "forged") {
						t.Fatalf("the tool received the client's %s: %q", k, v)
					}
				}
			default:
				t.Fatalf("%s: status %d, body %.300s", name, resp.StatusCode, body)
			}
		}
	})
	t.Run("an ingress's header spelled with '_' or '.' never reaches the tool", func(t *testing.T) {
		if in.name == "envoy-http" {
			t.Skip("Envoy's HTTP service sends only allowed_headers: the gateway cannot name others (docs/forward-auth.md)")
		}
		// The ingress (or a CDN in front) sets X-Forwarded-Prefix, -Uri,
		// -For… in their '-' spelling; CGI, PHP, WSGI and Rack read
		// X_Forwarded_Prefix as the same header, and only a client sends it.
		for _, name := range []string{"X_Forwarded_Prefix", "X_Forwarded_Uri", "X_Forwarded_For", "X.Forwarded.Prefix", "X_Original_Host", "X_Original_URI"} {
			forgedNeverForwarded(t, in, up, ann, name, "only the gateway may set")
		}
	})
	t.Run("a client's copy of a describing header never reaches the tool", func(t *testing.T) {
		if in.name == "envoy-http" {
			t.Skip("Envoy's HTTP service sends only allowed_headers: the gateway cannot name others (docs/forward-auth.md)")
		}
		// The ingress sets X-Forwarded-Uri (Traefik also -Prefix) or
		// X-Original-URI on its question to the gateway, which exempts them
		// there, not on the request it forwards: a client's copy, a path
		// override for some frameworks, must not reach the tool.
		for _, name := range []string{"X-Forwarded-Uri", "X-Forwarded-Prefix", "X-Original-URI"} {
			forgedNeverForwarded(t, in, up, ann, name, "")
		}
	})
	t.Run("a POST whose body names a method a rule denies never reaches the tool", func(t *testing.T) {
		// Rack reads a POST without a Content-Type as a form, and
		// Rack::MethodOverride executes it as the _method it names; the
		// ingress keeps the body, so the gateway must judge such a POST as
		// naming any method (docs/config.md#rules) — whatever the ingress
		// does with the body and its Content-Length on its question.
		const mixed = "--XX\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--XX--\r\n"
		for _, tc := range []struct {
			name, ctype, body string
			chunked           bool
		}{
			{"form", "application/x-www-form-urlencoded", "_method=DELETE", false},
			{"untyped", "", "_method=DELETE", false},
			{"untyped chunked", "", "_method=DELETE", true},
			// Rack parses multipart/mixed and multipart/related bodies as
			// forms too (PARSEABLE_DATA_MEDIA_TYPES).
			{"multipart/mixed", "multipart/mixed; boundary=XX", mixed, false},
			{"multipart/related", "multipart/related; boundary=XX", mixed, false},
			// Laravel reads a JSON body when the whole Content-Type
			// contains /json or +json (isJson), a parameter included.
			{"text/plain naming /json", `text/plain; profile="/json"`, `{"_method":"DELETE"}`, false},
		} {
			before := up.hits()
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(strings.NewReader(tc.body))
			}
			req, err := http.NewRequest(http.MethodPost, in.URL+"/wiki/page", body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := ann.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if up.hits() != before || resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s POST naming _method DELETE: status %d, tool hits %d → %d", tc.name, resp.StatusCode, before, up.hits())
			}
		}
		// Symfony upper-cases the method before it reads _method, and Caddy
		// (like Go and Apache) passes a "post" on: it is a POST (nginx
		// refuses a method in lower case).
		u, _ := url.Parse(in.URL)
		var cookies []string
		for _, c := range ann.Jar.Cookies(u) {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
		for _, raw := range []string{
			"post /wiki/page?_method=DELETE HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
			"post /wiki/page HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 14\r\nConnection: close\r\n\r\n_method=DELETE",
		} {
			before := up.hits()
			status := rawRequest(t, hostPort(in.URL), fmt.Sprintf(raw, hostPort(in.URL), strings.Join(cookies, "; ")))
			if up.hits() != before {
				t.Errorf("%.40q: status %d, and the tool was reached", raw, status)
			}
		}
		// On a route whose rules list no method, a POST is the POST it is.
		before := up.hits()
		req, _ := http.NewRequest(http.MethodPost, in.URL+"/reports", strings.NewReader("_method=DELETE"))
		resp, err := ann.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if up.hits() != before+1 || resp.StatusCode != http.StatusOK {
			t.Errorf("POST on a route without method rules: status %d, tool hits %d → %d", resp.StatusCode, before, up.hits())
		}
	})
	t.Run("an upgrade the route does not list never reaches the tool", func(t *testing.T) {
		// routes[].upgrades allow-lists the protocols a request may
		// upgrade to (docs/security.md#upgrades); the ingress forwards the
		// Upgrade header, so the check must judge it as proxy mode does.
		u, _ := url.Parse(in.URL)
		var cookies []string
		for _, c := range ann.Jar.Cookies(u) {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
		for _, tc := range []struct{ path, upgrade string }{{"/feed/live", "websocket"}, {"/reports", "foo"}} {
			before := up.hits()
			status := rawRequest(t, hostPort(in.URL), fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n"+
				"Upgrade: %s\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
				tc.path, hostPort(in.URL), strings.Join(cookies, "; "), tc.upgrade))
			if up.hits() != before && len(up.last().Header.Values("Upgrade")) > 0 {
				t.Errorf("%s upgrading to %s: status %d, and the tool received Upgrade %q", tc.path, tc.upgrade, status, up.last().Header.Values("Upgrade"))
			}
		}
		// The route's own protocol still passes (or the ingress does not
		// forward upgrades at all: nginx's snippet).
		before := up.hits()
		status := rawRequest(t, hostPort(in.URL), fmt.Sprintf("GET /reports HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n"+
			"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
			hostPort(in.URL), strings.Join(cookies, "; ")))
		if up.hits() != before+1 {
			t.Errorf("/reports upgrading to websocket: status %d, tool hits %d → %d", status, before, up.hits())
		}
	})
	t.Run("every decision is audited with the transport", func(t *testing.T) {
		n := 0
		for _, r := range g.records() {
			if r.Kind != "decision" || r.SourceIP == strangerAddr {
				continue
			}
			if r.Transport != transport && r.Transport != transport+"-page" && r.Transport != "forward-auth" {
				t.Fatalf("decision record with transport %q: %+v", r.Transport, r)
			}
			if r.Transport == transport {
				n++
			}
		}
		if n < 8 {
			t.Fatalf("%d decision records with transport %q, want at least 8", n, transport)
		}
	})
}

// rawGet sends "GET target" with the Host header host to addr from the
// browser's address, as written (an absolute target included), and returns
// the status.
func rawGet(t *testing.T, addr, target, host string) int {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(browserAddr)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, host); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// rawRequest sends raw to addr from the browser's address, as written, and
// returns the status.
func rawRequest(t *testing.T, addr, raw string) int {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(browserAddr)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%.40q: %v", raw, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// forgedNeverForwarded sends a request with the header name set to
// "forged" through the ingress as c, and fails unless the gateway refused
// it (400, its body holding wantBody, the tool not reached; where the
// ingress cannot remove headers) or the tool got it with no header holding
// the forged value.
func forgedNeverForwarded(t *testing.T, in *ingress, up *upstream, c *http.Client, name, wantBody string) {
	t.Helper()
	before := up.hits()
	resp, body := get(t, c, in.URL+"/reports", name, "forged")
	switch {
	case resp.StatusCode == http.StatusBadRequest && !in.removes:
		if !strings.Contains(body, wantBody) || up.hits() != before {
			t.Fatalf("%s: body %.300s, tool hits %d → %d", name, body, before, up.hits())
		}
	case resp.StatusCode == http.StatusOK:
		for k, v := range up.last().Header {
			if strings.Contains(strings.Join(v, ","), "forged") {
				t.Fatalf("%s: the tool received the client's %s: %q", name, k, v)
			}
		}
	default:
		t.Fatalf("%s: status %d, body %.300s", name, resp.StatusCode, body)
	}
}
