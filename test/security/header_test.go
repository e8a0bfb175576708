package security

import (
	"strings"
	"testing"
)

// TestIdentityHeaders: a tool that used to sit behind another
// authenticating proxy may still believe its headers. None reaches the
// upstream from a client, in any letter case or with '_' or '.' for '-'
// (CGI, WSGI, PHP and Rack read them all as one), and neither do the
// gateway's own, path overrides or method overrides.
func TestIdentityHeaders(t *testing.T) {
	f := newFixture(t, nil, "strip_headers: {add: [X-Tool-User, X-Legacy-*]}\n")
	spoofed := []string{
		"X-Forwarded-User: admin", "X_Forwarded_User: admin", "x-forwarded-email: admin@example.com",
		"X-FORWARDED-GROUPS: admins", "X-Forwarded-Preferred-Username: admin", "X-Forwarded-Access-Token: t",
		"X-Auth-Request-User: admin", "X_Auth_Request_Email: admin@example.com", "X-Auth-Request-Groups: admins",
		"Remote-User: admin", "remote_user: admin", "X-Remote-User: admin", "X-Remote-Email: admin@example.com",
		"X-Remote-Group: system:masters", "X-Webauth-User: admin", "X-WEBAUTH-ROLE: Admin", "X.Webauth.Email: admin@example.com",
		"X-Authentik-Username: admin", "Cf-Access-Authenticated-User-Email: admin@example.com",
		"X-Goog-Authenticated-User-Email: accounts.google.com:admin@example.com", "X-Amzn-Oidc-Identity: admin",
		"X-Ms-Client-Principal-Name: admin", "X-Forwarded-Client-Cert: Hash=forged", "X-Ssl-Client-Verify: SUCCESS",
		"True-Client-IP: 10.0.0.1", "CF-Connecting-IP: 10.0.0.1", "X-Real-IP: 10.0.0.1", "X_Real_IP: 10.0.0.1",
		"X-Forwarded-For: 10.0.0.1", "Forwarded: for=10.0.0.1", "X-Forwarded-Ssl: on", "X-Forwarded-Scheme: https",
		"Front-End-Https: on", "X-Forwarded-Host: admin.example.com", "X-Host: admin.example.com",
		"X-Original-URL: /admin", "X-Rewrite-URL: /admin", "X_Original_URL: /admin", "X-Forwarded-Prefix: /admin",
		"X-Forwarded-Uri: /admin", "X-Envoy-Original-Path: /admin", "SCRIPT_NAME: /admin", "script_name: /admin",
		"PATH_INFO: /admin", "X-HTTP-Method-Override: DELETE",
		"X-Gateway-Context: forged", "x_gateway_context: forged", "X-Gateway-Request-Id: forged",
		"X-Tool-User: admin", "x_tool_user: admin", "X-Legacy-Role: admin",
	}
	seen := f.reached(t, f.get("/welcome", f.sam, spoofed...), "/welcome")
	for name, vals := range seen.Header {
		for _, v := range vals {
			if strings.Contains(v, "admin") || strings.Contains(v, "10.0.0.1") || strings.Contains(v, "forged") ||
				v == "DELETE" || v == "on" || v == "SUCCESS" || v == "t" {
				t.Errorf("the upstream received %s: %s", name, v)
			}
		}
	}
	// What the gateway says instead.
	if got := seen.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the peer", got)
	}
	if got := seen.Header.Get("X-Forwarded-Host"); got != f.g.Host {
		t.Errorf("X-Forwarded-Host = %q, want %q", got, f.g.Host)
	}
	if id := seen.Header.Get("X-Gateway-Request-Id"); len(id) != 24 {
		t.Errorf("X-Gateway-Request-Id = %q", id)
	}
	if tok := seen.Header.Get("X-Gateway-Context"); strings.Count(tok, ".") != 2 {
		t.Errorf("X-Gateway-Context = %q, want the gateway's token", tok)
	}
	// The same headers on a public route, and one by one.
	for _, h := range spoofed {
		name, _, _ := strings.Cut(h, ":")
		t.Run(name, func(t *testing.T) {
			s := f.reached(t, f.get("/public/x", "", h), "/public/x")
			for k := range s.Header {
				if strings.EqualFold(strings.NewReplacer("_", "-", ".", "-").Replace(k), strings.NewReplacer("_", "-", ".", "-").Replace(name)) &&
					!strings.EqualFold(k, "X-Forwarded-For") && !strings.EqualFold(k, "X-Forwarded-Host") &&
					!strings.EqualFold(k, "X-Gateway-Request-Id") {
					t.Errorf("the upstream received %s: %q", k, s.Header[k])
				}
			}
		})
	}
}
