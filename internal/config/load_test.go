package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/proxy"
)

// minimal is the smallest configuration that passes outside dev.
const minimal = `public_url: https://gw.corp.example
oidc:
  issuer: https://login.corp.example
  client_id: gw
token:
  keys: [{file: k.pem, state: active}]
routes:
  - name: app
    host: gw.corp.example
    upstream: http://127.0.0.1:9000
    rules:
      allow: [{domains: [corp.example]}]
`

// routeYAML returns one route entry (for the routes: list) with an allow rule.
func routeYAML(name, host, path string) string {
	return "  - name: " + name + "\n    host: " + host + "\n    path: " + path +
		"\n    upstream: http://127.0.0.1:9000\n    rules: {allow: [{domains: [corp.example]}]}\n"
}

type loadTest struct {
	name string
	yaml string
	dev  bool
	env  map[string]string
	// want are the problems, in order; nil means the file loads.
	want []string
}

func (tc loadTest) run(t *testing.T) {
	t.Helper()
	lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
	c, err := Load([]byte(tc.yaml), Options{Lookup: lookup, Dev: tc.dev})
	if tc.want == nil {
		if err != nil {
			t.Fatalf("Load() error:\n%v", err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate() of a loaded config:\n%v", err)
		}
		return
	}
	if c != nil {
		t.Fatalf("Load() returned a config with its error")
	}
	var probs Problems
	if !errors.As(err, &probs) || !IsProblems(err) {
		t.Fatalf("Load() error %v (%T) is not Problems", err, err)
	}
	if !reflect.DeepEqual([]string(probs), tc.want) {
		t.Fatalf("Load() problems:\n  %s\nwant:\n  %s", strings.Join(probs, "\n  "), strings.Join(tc.want, "\n  "))
	}
}

func TestLoad(t *testing.T) {
	tests := []loadTest{
		{name: "minimal", yaml: minimal},
		{name: "minimal in dev", yaml: minimal, dev: true},
		{name: "rules on path variables",
			yaml: minimal + strings.Replace(routeYAML("c", "gw.corp.example", "/c/{customer_id}"),
				"rules: {allow: [{domains: [corp.example]}]}", "rules: {allow: [{domains: [corp.example]}], deny: [{vars: {customer_id: [\"13\"]}}, {vars: {id: [\"1\"]}}]}", 1) +
				strings.Replace(routeYAML("d", "gw.corp.example", "/d"), "domains: [corp.example]", "vars: {id: [\"1\"]}", 1),
			want: []string{
				`routes[1].rules.deny[1].vars.id: unknown path variable "id" (the route's path has customer_id)`,
				`routes[2].rules.allow[0].vars.id: the route's path has no variables; vars match variables of routes[].path such as /customers/{customer_id}`,
			}},
		{name: "dev needs no token and takes http",
			yaml: strings.NewReplacer("https://", "http://", "token:\n  keys: [{file: k.pem, state: active}]\n", "").Replace(minimal),
			dev:  true},
		{name: "http outside dev",
			yaml: strings.ReplaceAll(minimal, "https://", "http://"),
			want: []string{
				`public_url: expected https, got "http://gw.corp.example" (plain http is accepted only for a loopback host such as http://localhost:8080, or in gateway dev --config FILE)`,
				`oidc.issuer: expected https, got "http://login.corp.example" (plain http is accepted only for a provider on a loopback host such as http://localhost:9998; to try the gateway locally, run gateway dev --config FILE, or leave oidc.issuer out there to use the embedded development provider)`,
			}},
		{name: "token required outside dev",
			yaml: strings.Replace(minimal, "token:\n  keys: [{file: k.pem, state: active}]\n", "", 1),
			want: []string{`token: required: the keys that sign the context token (create one with: gateway keys generate --out FILE)`}},

		// Syntax and shape.
		{name: "empty file", yaml: "", want: []string{"file is empty"}},
		{name: "comment only", yaml: "# nothing\n", want: []string{"file is empty"}},
		{name: "list at top level", yaml: "- a\n- b\n", want: []string{"expected a mapping at the top level, got a list"}},
		// Inputs that crash goccy/go-yaml's plain decoder (goccy/go-yaml#735).
		{name: "tag where a list is expected", yaml: "routes:\n  ! 00", want: []string{`routes: expected a list, got "00"`}},
		{name: "tag where a test list is expected", yaml: "tests:\n  ! 00", want: []string{`tests: expected a list, got "00"`}},
		{name: "unknown keys at several depths, all reported",
			yaml: minimal + strings.Replace(routeYAML("x", "gw.corp.example", "/x"), "    rules:", "    upstreams: []\n    rules:", 1) +
				"bogus: 1\nsession: {stor: memory}\ntests:\n  - {name: t, route: app, expect: allow, user: {emial: a@corp.example}}\n",
			want: []string{
				"bogus: unknown key",
				"routes[1].upstreams: unknown key",
				"session.stor: unknown key",
				"tests[0].user.emial: unknown key",
			}},
		{name: "unknown keys in routes, rules and require",
			yaml: strings.Replace(minimal, "      allow: [{domains: [corp.example]}]\n",
				"      allow: [{domains: [corp.example], group: [x]}]\n      deny: [{nope: 1}]\n    require: {device: {age: 1h}}\n    hots: x\n", 1),
			want: []string{
				"routes[0].hots: unknown key",
				"routes[0].rules.allow[0].group: unknown key",
				"routes[0].rules.deny[0].nope: unknown key",
				// The requirement kinds' sections are decoded by their kinds, after the rest.
				"routes[0].require.device.age: unknown key",
				// The rest of the file is still checked in the same run.
				"routes[0].rules.deny[0]: empty condition would match everyone; set a field, or everyone: true to say so",
				"routes[0].require.device: requires the devices section (inventory and attestation policy)",
			}},

		// Every kind of value problem, all at once.
		{name: "many problems reported together",
			yaml: `public_url: https://gw.corp.example/path
listen: {address: nope}
oidc: {issuer: "ftp://login", client_id: "", scopes: [email], refresh_interval: 1s}
session: {store: redis, lifetime: 1s, cookie_name: "a b"}
log: {format: xml, level: loud}
trusted_proxies: [0.0.0.0/0, "::/0", not-a-cidr, 10.0.0.1, 10.0.0.0/8]
token: {keys: [{file: k.pem, state: active}]}
routes:
  - name: App
    host: gw.corp.example:443
    path: /a//b
    upstream: ftp://x
    rules: {allow: [{}], deny: [{emails: [a@evil.example@corp.example]}]}
  - name: pub
    host: gw.corp.example
    path: /pub
    upstream: http://u:p@x/?q
    public: true
    allow_bearer: true
    rules: {allow: [{everyone: true}]}
  - name: pub
    host: gw.corp.example
    path: /.gateway/x
    upstream: http://x
  - name: c1
    host: gw.corp.example
    path: /c/{a}
    upstream: http://x
    rules: {allow: [{everyone: true}]}
    require: {device: {trust: self-reported, max_age: -1h}}
  - name: c2
    host: GW.corp.example
    path: /c/{b}/
    upstream: http://x
    rules: {allow: [{domains: [corp], source_cidrs: [10.0.0.0/33], methods: [get!]}]}
  - name: other
    host: evilcorp.example
    path: /
    upstream: http://x
    rules: {allow: [{everyone: true}]}
tests:
  - {name: t, route: nope, expect: maybe, reasons: [bogus], time: yesterday, source_ip: x}
  - {route: c1, url: "https://gw.corp.example/", expect: allow}
  - {name: u, expect: deny}
`,
			want: []string{
				`public_url: expected scheme and host only, got "https://gw.corp.example/path"`,
				`listen.address: expected host:port, got "nope"`,
				`oidc.issuer: expected an absolute https URL, got "ftp://login"`,
				`oidc.client_id: required`,
				`oidc.scopes: must include "openid", got ["email"]`,
				`oidc.refresh_interval: expected at least 1m, got 1s`,
				`session.redis: required when session.store is "redis"`,
				"session.encryption_keys: required with store: redis: every replica needs the key that seals the refresh and ID tokens in Redis (create one with gateway keys generate --session --out FILE, then list it as {file: FILE, state: active})",
				`session.lifetime: expected between 1m and 720h, got 1s`,
				`session.cookie_name: expected letters, digits, '_', '.', '-', got "a b"`,
				`log.format: expected json or text, got "xml"`,
				`log.level: expected debug, info, warn or error, got "loud"`,
				`trusted_proxies[0]: "0.0.0.0/0" trusts every client's X-Forwarded-* headers; list your load balancers' addresses`,
				`trusted_proxies[1]: "::/0" trusts every client's X-Forwarded-* headers; list your load balancers' addresses`,
				`trusted_proxies[2]: expected a CIDR or IP address, got "not-a-cidr"`,
				`routes[0].name: expected lowercase letters, digits, '.', '_', '-' (1-63), got "App"`,
				`routes[0].host: expected a DNS host name without port, got "gw.corp.example:443"`,
				`routes[0].path: route: empty segment in "/a//b"`,
				`routes[0].upstream: expected an absolute http(s) URL, got "ftp://x"`,
				`routes[0].rules.allow[0]: empty condition would match everyone; set a field, or everyone: true to say so`,
				`routes[0].rules.deny[0].emails[0]: policy: expected an email address with exactly one '@', got "a@evil.example@corp.example"`,
				`routes[1].upstream: expected no user info, query or fragment, got "http://[redacted]@x/?[redacted]"`,
				`routes[1].rules: a public route has no rules; remove them or public: true`,
				`routes[1].allow_bearer: a public route takes no credentials`,
				`routes[2].name: duplicate of routes[1].name "pub"`,
				`routes[2].path: "/.gateway/x" is reserved for the gateway`,
				`routes[2].rules.allow: no allow entry: the route would deny everyone; add one (e.g. domains: [corp.example])`,
				`routes[3].require.device: requires the devices section (inventory and attestation policy)`,
				`routes[3].require.device.trust: expected "tpm-attested", got "self-reported"`,
				`routes[3].require.device.max_age: expected between 0 and 720h, got -1h0m0s`,
				`routes[4]: duplicate of routes[3]: same host, path and exact`,
				`routes[4].rules.allow[0].domains[0]: expected a DNS domain such as corp.example, got "corp"`,
				`routes[4].rules.allow[0].methods[0]: expected an HTTP method such as GET, got "GET!"`,
				`routes[4].rules.allow[0].source_cidrs[0]: expected a CIDR such as 10.0.0.0/8, got "10.0.0.0/33"`,
				`routes[5].host: "evilcorp.example" differs from the public_url host "gw.corp.example" and session.cookie_domain is not set, so the session cookie cannot reach it`,
				`tests[0].route: unknown route "nope"`,
				`tests[0].source_ip: expected an IP address, got "x"`,
				`tests[0].time: expected RFC 3339 such as 2026-11-30T18:00:00+01:00, got "yesterday"`,
				`tests[0].expect: expected allow or deny, got "maybe"`,
				`tests[0].reasons[0]: unknown reason "bogus"`,
				`tests[1].name: required`,
				`tests[1]: set route (with path) or url, not both`,
				`tests[2]: set route (with path) or url`,
			}},

		{name: "admin on the public listener",
			yaml: minimal + "listen: {address: \":8443\"}\nadmin: {address: \":8443\"}\n",
			want: []string{`admin.address: must differ from listen.address (":8443"): the admin listener is never routed`}},
		{name: "bad admin address",
			yaml: minimal + "admin: {address: localhost}\n",
			want: []string{`admin.address: expected host:port, got "localhost"`}},

		// Cookie name prefixes browsers enforce.
		{name: "__Host- cookie on https without a domain",
			yaml: strings.Replace(minimal, "routes:\n", "session: {cookie_name: __Host-gateway}\nroutes:\n", 1)},
		{name: "__Host- cookie with a cookie domain",
			yaml: strings.Replace(minimal, "routes:\n", "session: {cookie_name: __host-gateway, cookie_domain: corp.example}\nroutes:\n", 1),
			want: []string{`session.cookie_name: browsers refuse a __host- cookie with a domain, and session.cookie_domain is "corp.example": use __Secure- or no prefix to share the session across hosts`}},
		{name: "__Secure- cookie with a cookie domain",
			yaml: strings.Replace(minimal, "routes:\n", "session: {cookie_name: __Secure-gateway, cookie_domain: corp.example}\nroutes:\n", 1)},
		{name: "__Secure- cookie over http",
			yaml: strings.Replace(strings.Replace(minimal, "routes:\n", "session: {cookie_name: __SECURE-gw}\nroutes:\n", 1), "https://gw.corp.example", "http://localhost:8080", 1),
			want: []string{`session.cookie_name: browsers keep a __SECURE- cookie only over https, and public_url is "http://localhost:8080": drop the prefix, or serve https`,
				`routes[0].host: "gw.corp.example" differs from the public_url host "localhost" and session.cookie_domain is not set, so the session cookie cannot reach it`}},

		// Hosts and the session cookie.
		{name: "cookie domain covers subdomains",
			yaml: strings.Replace(minimal, "routes:\n", "session: {cookie_domain: .Corp.Example}\nroutes:\n", 1) +
				routeYAML("b", "b.corp.example", "/")},
		{name: "look-alike host outside cookie domain",
			yaml: strings.Replace(minimal, "routes:\n", "session: {cookie_domain: corp.example}\nroutes:\n", 1) + routeYAML("evil", "evilcorp.example", "/"),
			want: []string{`routes[1].host: "evilcorp.example" is not within session.cookie_domain "corp.example"`}},
		{name: "public_url outside cookie domain",
			yaml: strings.Replace(minimal, "routes:\n", "session: {cookie_domain: other.example}\nroutes:\n", 1),
			want: []string{
				`session.cookie_domain: public_url host "gw.corp.example" is not within "other.example"`,
				`routes[0].host: "gw.corp.example" is not within session.cookie_domain "other.example"`,
			}},
		{name: "duplicate host and path with another spelling",
			yaml: minimal + routeYAML("app2", "GW.Corp.Example", "/"),
			want: []string{`routes[1]: duplicate of routes[0]: same host, path and exact`}},
		{name: "same path exact and prefix is fine",
			yaml: minimal + strings.Replace(routeYAML("app2", "gw.corp.example", "/"), "    path: /\n", "    path: /\n    exact: true\n", 1)},
		{name: "reserved well-known path",
			yaml: minimal + routeYAML("jwks", "gw.corp.example", "/.well-known/gateway/jwks.json"),
			want: []string{`routes[1].path: "/.well-known/gateway/jwks.json" is reserved for the gateway`}},
		{name: "reserved path hidden behind a double slash",
			yaml: minimal + routeYAML("cb", "gw.corp.example", "//.gateway/callback"),
			want: []string{`routes[1].path: route: empty segment in "//.gateway/callback"`}},
		{name: "IPv4-mapped source CIDR",
			yaml: strings.Replace(minimal, "allow: [{domains: [corp.example]}]", "allow: [{everyone: true}]\n      deny: [{source_cidrs: [\"::ffff:203.0.113.0/120\"]}]", 1),
			want: []string{`routes[0].rules.deny[0].source_cidrs[0]: expected an IPv4 CIDR such as 203.0.113.0/24 for IPv4 addresses, got IPv4-mapped "::ffff:203.0.113.0/120"`}},
		{name: "missing upstream and empty names",
			yaml: minimal + "  - {host: gw.corp.example, path: /x, rules: {allow: [{everyone: true}]}}\n",
			want: []string{
				`routes[1].name: expected lowercase letters, digits, '.', '_', '-' (1-63), got ""`,
				`routes[1].upstream: required: the URL of the tool, e.g. http://10.0.0.5:8080`,
			}},
		{name: "no routes",
			yaml: strings.SplitAfter(minimal, "routes:\n")[0],
			want: []string{"routes: at least one route is required"}},

		// Environment.
		{name: "env substituted", yaml: strings.Replace(minimal, "client_id: gw", "client_id: ${CLIENT}", 1),
			env: map[string]string{"CLIENT": "gw"}},
		{name: "env missing, every reference reported",
			yaml: strings.Replace(minimal, "client_id: gw", "client_id: ${CLIENT}\n  client_secret: ${A}-${B}", 1),
			env:  map[string]string{"B": "x"},
			want: []string{
				"oidc.client_id: environment variable CLIENT is not set",
				"oidc.client_secret: environment variable A is not set",
			}},
		{name: "env missing in a list and a map",
			yaml: minimal + "tests:\n  - {name: t, route: app, expect: allow, user: {email: \"${WHO}\", claims: {dept: [\"${DEPT}\"]}}}\n",
			want: []string{
				"tests[0].user.email: environment variable WHO is not set",
				"tests[0].user.claims.dept[0]: environment variable DEPT is not set",
			}},
		{name: "env in a non-string field is a type error",
			yaml: strings.Replace(minimal, "routes:\n", "session:\n  lifetime: ${LIFE}\nroutes:\n", 1),
			env:  map[string]string{"LIFE": "1h"},
			want: []string{`session.lifetime: expected a duration such as 12h, 90m or 30s, got "${LIFE}" (${ENV} is substituted only in string values)`}},

		// Settings that would silently do nothing or weaken a check.
		{name: "reserved client certificate header, negative timeouts",
			yaml: strings.Replace(minimal, "routes:\n", "listen: {client_cert_header: Authorization, read_header_timeout: -1s, idle_timeout: -1s}\nroutes:\n", 1),
			want: []string{
				`listen.client_cert_header: expected a header of the load balancer's own such as X-Client-Cert, got the reserved "Authorization"`,
				"listen.read_header_timeout: expected a positive duration, got -1s",
				"listen.idle_timeout: expected a positive duration, got -1s",
			}},
		{name: "require on a public route",
			yaml: minimal + "  - {name: pub, host: gw.corp.example, path: /pub, upstream: \"http://127.0.0.1:9000\", public: true, require: {device: {max_age: 1h}}}\n" +
				"devices: {inventory: []}\n",
			want: []string{"routes[1].require: a public route checks nothing; remove require or public: true"}},
		// Hardening settings.
		{name: "trusted proxies that together cover the Internet",
			yaml: strings.Replace(minimal, "routes:\n", "trusted_proxies: [0.0.0.0/1, 128.0.0.0/1, \"::/1\", \"8000::/1\"]\nroutes:\n", 1),
			want: []string{
				"trusted_proxies: the IPv4 entries together cover 100% of all IPv4 addresses (at most 1.56% is accepted): every client there could choose its own address; list your load balancers' addresses or subnets",
				"trusted_proxies: the IPv6 entries together cover 100% of all IPv6 addresses (at most 1.56% is accepted): every client there could choose its own address; list your load balancers' addresses or subnets",
			}},
		{name: "trusted proxies: half of IPv6",
			yaml: strings.Replace(minimal, "routes:\n", "trusted_proxies: [\"::/1\"]\nroutes:\n", 1),
			want: []string{
				"trusted_proxies: the IPv6 entries together cover 50% of all IPv6 addresses (at most 1.56% is accepted): every client there could choose its own address; list your load balancers' addresses or subnets",
			}},
		{name: "trusted proxies: many small prefixes add up",
			yaml: strings.Replace(minimal, "routes:\n", "trusted_proxies: [1.0.0.0/8, 2.0.0.0/8, 3.0.0.0/8, 4.0.0.0/8, 5.0.0.0/8]\nroutes:\n", 1),
			want: []string{
				"trusted_proxies: the IPv4 entries together cover 1.95% of all IPv4 addresses (at most 1.56% is accepted): every client there could choose its own address; list your load balancers' addresses or subnets",
			}},
		{name: "trusted proxies: private ranges, nested and repeated entries are fine",
			yaml: strings.Replace(minimal, "routes:\n", "trusted_proxies: [10.0.0.0/8, 10.1.0.0/16, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, \"fc00::/7\", \"fd00::1\"]\nroutes:\n", 1)},
		{name: "trusted proxies: IPv4-mapped entries never match",
			yaml: strings.Replace(minimal, "routes:\n", "trusted_proxies: [\"::ffff:10.0.0.0/104\"]\nroutes:\n", 1),
			want: []string{
				`trusted_proxies[0]: expected an IPv4 CIDR for IPv4 proxies, got IPv4-mapped "::ffff:10.0.0.0/104" (it would never match)`,
			}},
		{name: "strip headers: add and replace at once, bad names, the namespace",
			yaml: strings.Replace(minimal, "routes:\n", "strip_headers: {add: [X-Tool-User, \"X Bad\", X_Gateway_User], replace: [\"*\"]}\nroutes:\n", 1),
			want: []string{
				"strip_headers: set add or replace, not both (list every header in replace)",
				`strip_headers.add[1]: proxy: expected a header name such as X-Remote-User, or a prefix such as X-Webauth-*, got "X Bad"`,
				`strip_headers.add[2]: "X_Gateway_User" is in the gateway's namespace, which is always stripped`,
				`strip_headers.replace[0]: proxy: expected a header name such as X-Remote-User, or a prefix such as X-Webauth-*, got "*"`,
			}},
		// An emptied replace list would strip none of the default identity
		// headers (Remote-User, X-Forwarded-User, ...); omitted, the defaults stay.
		{name: "strip headers: replace emptied",
			yaml: strings.Replace(minimal, "routes:\n", "strip_headers: {replace: []}\nroutes:\n", 1),
			want: []string{"strip_headers.replace: expected at least one header, got an empty list, which would strip none of the default identity headers; remove replace to keep the defaults"}},
		{name: "strip headers: replace null keeps the defaults",
			yaml: strings.Replace(minimal, "routes:\n", "strip_headers: {replace: ~}\nroutes:\n", 1)},
		{name: "path case and upgrades",
			yaml: minimal + "  - {name: a2, host: gw.corp.example, path: /a, upstream: \"http://127.0.0.1:9000\", path_case: Insensitive, upgrades: [h2c, websocket, \"spdy/3.1\"], rules: {allow: [{everyone: true}]}}\n",
			want: []string{
				`routes[1].path_case: expected sensitive or insensitive, got "Insensitive"`,
				`routes[1].upgrades[0]: "h2c" would tunnel HTTP requests the gateway never judges; it cannot be allowed`,
				`routes[1].upgrades[2]: expected a protocol name such as websocket, got "spdy/3.1"`,
			}},
		{name: "upstream timeout",
			yaml: minimal + "  - {name: a2, host: gw.corp.example, path: /a, upstream: \"http://127.0.0.1:9000\", upstream_timeout: -1s, rules: {allow: [{everyone: true}]}}\n" +
				"  - {name: a3, host: gw.corp.example, path: /b, upstream: \"http://127.0.0.1:9000\", upstream_timeout: 25h, rules: {allow: [{everyone: true}]}}\n",
			want: []string{
				`routes[1].upstream_timeout: expected between 0s (no limit) and 24h, got -1s`,
				`routes[2].upstream_timeout: expected between 0s (no limit) and 24h, got 25h0m0s`,
			}},
		{name: "method override body limit",
			yaml: minimal + "  - {name: a2, host: gw.corp.example, path: /a, upstream: \"http://127.0.0.1:9000\", method_override_body_limit: -1, rules: {allow: [{everyone: true}]}}\n" +
				"  - {name: a3, host: gw.corp.example, path: /b, upstream: \"http://127.0.0.1:9000\", method_override_body_limit: 67108865, rules: {allow: [{everyone: true}]}}\n",
			want: []string{
				`routes[1].method_override_body_limit: expected between 0 and 67108864 bytes (64 MiB), got -1`,
				`routes[2].method_override_body_limit: expected between 0 and 67108864 bytes (64 MiB), got 67108865`,
			}},
		{name: "routes that differ only in letter case",
			yaml: minimal + routeYAML("r1", "gw.corp.example", "/Reports/{id}") + routeYAML("r2", "gw.corp.example", "/reports/{x}"),
			want: []string{"routes[2]: differs from routes[1] only in letter case; a case-insensitive upstream reads them as one route"}},
		{name: "path parameters in a route path",
			yaml: minimal + routeYAML("r1", "gw.corp.example", "/a;jsessionid=1"),
			want: []string{`routes[1].path: route: path parameters (';') are not part of a route path, got "/a;jsessionid=1"`}},
		// The justification kind's problems, with their paths: a bind
		// that could read two requests as one resource, a case rule that
		// is not one, a GitHub login taken from a claim people choose.
		{name: "justification binding and identity problems",
			yaml: minimal + strings.Replace(routeYAML("c", "gw.corp.example", "/c/{org}/{id}"), "    rules:",
				"    require: {justification: {bind: {customer: \"{org}{id}\"}, bind_case: fold}}\n    rules:", 1) +
				"justification:\n  systems:\n    gh: {type: github, auth: {token: t}, github: {repos: [corp/support], login_claim: preferred_username}}\n",
			want: []string{
				`justification.systems.gh.github.login_claim: expected a claim the IdP sets from the person's verified GitHub account (such as github_login), got "preferred_username": OIDC defines it as neither unique nor stable, so it cannot stand for a GitHub account`,
				`routes[1].require.justification.bind.customer: expected text between {org} and {id} in "{org}{id}" (such as "{org}/{id}"): without it, values could be split in more than one way`,
				`routes[1].require.justification.bind_case: expected sensitive or insensitive, got "fold"`,
			}},
		{name: "policy test device and path checks",
			yaml: minimal + "tests:\n  - {name: t, url: \"https://gw.corp.example/x\", path: /y, expect: allow, device: {attested_at: yesterday, problem: sign-in-required}}\n",
			want: []string{
				"tests[0].path: set with url; put the path in the url",
				`tests[0].device.attested_at: expected RFC 3339, got "yesterday"`,
				`tests[0].device.problem: expected a device reason such as device-revoked, got "sign-in-required"`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// TestLoadValues pins what Load produces: defaults, normalization and ${ENV}.
func TestLoadValues(t *testing.T) {
	type values struct {
		ClientID, ClientSecret, Issuer, CookieDomain string
		Hosts                                        []string
		Domains, Methods                             []string
		TestMethod                                   string
	}
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want values
	}{
		{name: "defaults and normalization",
			yaml: strings.NewReplacer(
				"routes:\n", "session: {cookie_domain: .CORP.example}\nroutes:\n",
				"host: gw.corp.example", "host: GW.Corp.Example",
				"allow: [{domains: [corp.example]}]", "allow: [{domains: [CORP.example], methods: [get, Post]}]",
			).Replace(minimal) + "tests:\n  - {name: t, route: app, expect: allow, method: delete, user: {email: a@corp.example}}\n",
			want: values{ClientID: "gw", Issuer: "https://login.corp.example", CookieDomain: "corp.example",
				Hosts: []string{"gw.corp.example"}, Domains: []string{"corp.example"}, Methods: []string{"GET", "POST"},
				TestMethod: "DELETE"}},
		{name: "env with YAML syntax is a plain string",
			yaml: strings.Replace(minimal, "client_id: gw", "client_id: gw\n  client_secret: ${SECRET}", 1),
			env:  map[string]string{"SECRET": "x\nrouters: [1]\n{a: b}: 'c' # not yaml"},
			want: values{ClientID: "gw", ClientSecret: "x\nrouters: [1]\n{a: b}: 'c' # not yaml", Issuer: "https://login.corp.example",
				Hosts: []string{"gw.corp.example"}, Domains: []string{"corp.example"}}},
		{name: "env value is not expanded again",
			yaml: strings.Replace(minimal, "client_id: gw", "client_id: gw\n  client_secret: ${SECRET}", 1),
			env:  map[string]string{"SECRET": "${OTHER}$$"},
			want: values{ClientID: "gw", ClientSecret: "${OTHER}$$", Issuer: "https://login.corp.example",
				Hosts: []string{"gw.corp.example"}, Domains: []string{"corp.example"}}},
		{name: "dollar escapes",
			yaml: strings.Replace(minimal, "client_id: gw", "client_id: gw\n  client_secret: \"a$$b$${NOT}$$$$${S}\"", 1),
			env:  map[string]string{"S": "s"},
			want: values{ClientID: "gw", ClientSecret: "a$b${NOT}$$s", Issuer: "https://login.corp.example",
				Hosts: []string{"gw.corp.example"}, Domains: []string{"corp.example"}}},
		{name: "lone dollar is kept",
			yaml: strings.Replace(minimal, "client_id: gw", "client_id: gw\n  client_secret: \"p$ss{x} $X\"", 1),
			want: values{ClientID: "gw", ClientSecret: "p$ss{x} $X", Issuer: "https://login.corp.example",
				Hosts: []string{"gw.corp.example"}, Domains: []string{"corp.example"}}},
		{name: "env in several places",
			yaml: strings.NewReplacer("client_id: gw", "client_id: ${ID}", "https://login", "https://${IDP}").Replace(minimal),
			env:  map[string]string{"ID": "gw-${ID}", "IDP": "idp"},
			want: values{ClientID: "gw-${ID}", Issuer: "https://idp.corp.example",
				Hosts: []string{"gw.corp.example"}, Domains: []string{"corp.example"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load([]byte(tc.yaml), Options{Lookup: func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }})
			if err != nil {
				t.Fatalf("Load(): %v", err)
			}
			got := values{ClientID: c.OIDC.ClientID, ClientSecret: c.OIDC.ClientSecret, Issuer: c.OIDC.Issuer,
				CookieDomain: c.Session.CookieDomain}
			for _, r := range c.Routes {
				got.Hosts = append(got.Hosts, r.Host)
				for _, a := range r.Rules.Allow {
					got.Domains = append(got.Domains, a.Domains...)
					got.Methods = append(got.Methods, a.Methods...)
				}
			}
			for _, tt := range c.Tests {
				got.TestMethod = tt.Method
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Load() values\n  %+v\nwant\n  %+v", got, tc.want)
			}
		})
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load([]byte(minimal), Options{Lookup: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	type defaults struct {
		Listen, Admin, Store, Cookie, Audit, Format, Level, Path string
		Scopes                                                   []string
		Groups                                                   string
		VerifiedEmail                                            bool
		ReadHeader, Idle, Refresh, Lifetime                      time.Duration
	}
	got := defaults{c.Listen.Address, c.Admin.Address, c.Session.Store, c.Session.CookieName, c.Audit.File,
		c.Log.Format, c.Log.Level, c.Routes[0].Path, c.OIDC.Scopes, c.OIDC.GroupsClaim, *c.OIDC.RequireVerifiedEmail,
		c.Listen.ReadHeaderTimeout, c.Listen.IdleTimeout, c.OIDC.RefreshInterval, c.Session.Lifetime}
	want := defaults{":8080", "127.0.0.1:9090", "memory", "_gateway_session", "-", "json", "info", "/",
		[]string{"openid", "email", "profile"}, "groups", true,
		10 * time.Second, 120 * time.Second, 5 * time.Minute, 12 * time.Hour}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults\n  %+v\nwant\n  %+v", got, want)
	}
	if c.Dev {
		t.Fatal("Dev set without Options.Dev")
	}
	r := c.Routes[0]
	if r.PathCase != PathCaseSensitive || !reflect.DeepEqual(r.Upgrades, []string{"websocket"}) || r.RouteOptions().CaseInsensitive {
		t.Fatalf("route defaults: path_case %q, upgrades %q", r.PathCase, r.Upgrades)
	}
	if r.MethodOverrideBodyLimit == nil || *r.MethodOverrideBodyLimit != 1<<20 {
		t.Fatalf("route defaults: method_override_body_limit %v", r.MethodOverrideBodyLimit)
	}
	if r.UpstreamTimeout == nil || *r.UpstreamTimeout != 60*time.Second || r.FormatSuffix {
		t.Fatalf("route defaults: upstream_timeout %v, format_suffix %v", r.UpstreamTimeout, r.FormatSuffix)
	}
	if got := c.StripHeaderNames(); !reflect.DeepEqual(got, proxy.DefaultStripHeaders) {
		t.Fatalf("StripHeaderNames() = %q, want the default list", got)
	}
}

func TestHardeningSettings(t *testing.T) {
	yaml := strings.Replace(minimal, "routes:\n", "strip_headers: {add: [X-Tool-User]}\nroutes:\n", 1) +
		"  - {name: ws, host: gw.corp.example, path: /ws, upstream: \"http://127.0.0.1:9000\", path_case: insensitive, upgrades: [], rules: {allow: [{everyone: true}]}}\n"
	c, err := Load([]byte(yaml), Options{Lookup: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.StripHeaderNames(); len(got) != len(proxy.DefaultStripHeaders)+1 || got[len(got)-1] != "X-Tool-User" {
		t.Fatalf("StripHeaderNames() with add = %q", got)
	}
	ws := c.Routes[1]
	if !ws.RouteOptions().CaseInsensitive || ws.Upgrades == nil || len(ws.Upgrades) != 0 {
		t.Fatalf("route ws: options %+v, upgrades %#v; want case-insensitive and no upgrades", ws.RouteOptions(), ws.Upgrades)
	}
	c.StripHeaders = StripHeadersConfig{Replace: []string{"X-Only"}}
	if got := c.StripHeaderNames(); !reflect.DeepEqual(got, []string{"X-Only"}) {
		t.Fatalf("StripHeaderNames() with replace = %q", got)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(p, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Token.Keys[0].File, filepath.Join(dir, "k.pem"); got != want {
		t.Errorf("token.keys[0].file = %q, want %q", got, want)
	}
	if c.Dir() != dir {
		t.Fatalf("Dir() = %q, want %q", c.Dir(), dir)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml"), Options{}); err == nil || !strings.HasPrefix(err.Error(), "config: read: ") {
		t.Fatalf("LoadFile(missing) error = %v", err)
	}
	big := make([]byte, maxConfigSize+1)
	if _, err := Load(big, Options{}); err == nil || err.Error() != "config: file too large: 8388609 bytes, limit 8388608" {
		t.Fatalf("Load(big) error = %v", err)
	}
}

func TestProblemsError(t *testing.T) {
	for _, tc := range []struct {
		p    Problems
		want string
	}{
		{Problems{"a: b"}, "config: a: b"},
		{Problems{"a: b", "c: d"}, "config: 2 problems:\n  a: b\n  c: d"},
	} {
		if got := tc.p.Error(); got != tc.want {
			t.Errorf("Problems%q.Error() = %q, want %q", []string(tc.p), got, tc.want)
		}
	}
	if IsProblems(errors.New("x")) {
		t.Error("IsProblems(plain error) = true")
	}
}

// FuzzLoad: Load never panics, and a configuration it accepts validates
// again unchanged.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(minimal + "tests:\n  - {name: t, route: app, expect: allow, user: {email: a@corp.example}}\n"))
	f.Add([]byte("public_url: ${X}\nroutes: [{name: a, host: b, path: '/{a:[0-9]+}'}]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("{routes: [[1]], oidc: 3}"))
	if b, err := os.ReadFile("../../deploy/examples/basic.yaml"); err == nil {
		f.Add(b)
	}
	lookup := func(k string) (string, bool) {
		if k == "X" {
			return "https://gw.corp.example", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		c, err := Load(data, Options{Lookup: lookup})
		if err != nil {
			if c != nil {
				t.Fatal("Load returned a config with its error")
			}
			if !IsProblems(err) {
				t.Fatalf("Load error %v (%T) is not Problems", err, err)
			}
			return
		}
		before := *c
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config does not validate again: %v", err)
		}
		if !reflect.DeepEqual(before, *c) {
			t.Fatal("Validate changed an accepted config")
		}
	})
}

// Relative paths in a file mean "relative to the file", whatever the
// working directory.
func TestLoadFileResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	y := strings.Replace(minimal, "routes:\n", "listen: {tls: {cert_file: tls/c.pem, key_file: /abs/k.pem}}\naudit: {file: audit.jsonl}\nroutes:\n", 1)
	path := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Listen.TLS.CertFile, filepath.Join(dir, "tls/c.pem"); got != want {
		t.Errorf("cert_file = %q, want %q", got, want)
	}
	if c.Listen.TLS.KeyFile != "/abs/k.pem" {
		t.Errorf("absolute key_file changed to %q", c.Listen.TLS.KeyFile)
	}
	if got, want := c.Audit.File, filepath.Join(dir, "audit.jsonl"); got != want {
		t.Errorf("audit.file = %q, want %q", got, want)
	}
	if got, want := c.Token.Keys[0].File, filepath.Join(dir, "k.pem"); got != want {
		t.Errorf("token.keys[0].file = %q, want %q", got, want)
	}
	if c.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", c.Dir(), dir)
	}
}

// strip_headers.replace left out (or null) keeps the default list.
func TestStripHeadersReplaceNullKeepsDefaults(t *testing.T) {
	c, err := Load([]byte(strings.Replace(minimal, "routes:\n", "strip_headers: {replace: ~}\nroutes:\n", 1)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.StripHeaderNames(); len(got) != len(proxy.DefaultStripHeaders) {
		t.Errorf("StripHeaderNames: expected the %d defaults, got %q", len(proxy.DefaultStripHeaders), got)
	}
}

// aliasRepeats returns minimal with a deny entry whose groups are an
// anchored list of n groups, and m more deny entries that name it by alias.
func aliasRepeats(n, m int) string {
	var b strings.Builder
	b.WriteString(minimal + "      deny:\n        - groups: &g [")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "g%d", i)
	}
	b.WriteString("]\n")
	for range m {
		b.WriteString("        - {groups: *g}\n")
	}
	return b.String()
}

// A file whose aliases repeat a large value is refused before anything
// walks it: each alias is walked again by the checks and the validation,
// so 60 KB of aliases to a 2,000-item list cost seconds and a megabyte of
// them hours (a reload would hold the reload lock and a core meanwhile).
// Sharing a value a few times is fine.
func TestAliasesCannotExpandTheFile(t *testing.T) {
	if _, err := Load([]byte(aliasRepeats(20, 50)), Options{}); err != nil {
		t.Fatalf("a rule shared by alias: %v", err)
	}
	y := aliasRepeats(2000, 2000)
	start := time.Now()
	c, err := Load([]byte(y), Options{})
	took := time.Since(start)
	if c != nil || err == nil {
		t.Fatalf("a %d-byte file that aliases a 2000-item list 2000 times loaded (in %v)", len(y), took)
	}
	want := "yaml: aliases (*name, <<: *name) expand the file's"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
	if !IsProblems(err) {
		t.Fatalf("error %T is not Problems", err)
	}
	// Merge keys count the same.
	var b strings.Builder
	b.WriteString(minimal + "x0: &m0 {")
	for i := range 2000 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "k%d: v", i)
	}
	b.WriteString("}\nx1: [")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{<<: *m0}")
	}
	b.WriteString("]\n")
	if _, err := Load([]byte(b.String()), Options{}); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("merge keys: error %v does not contain %q", err, want)
	}
}

// A kind's production-only problems (requirement.ProductionChecker) are
// problems of `serve` and `check`, not of `gateway dev`: break-glass with
// no notification target.
func TestProductionProblemsOutsideDevOnly(t *testing.T) {
	y := minimal + `break_glass:
  policies:
    oncall: {groups: [oncall], lifts: [time_window], max_duration: 30m, provider: rota}
  providers:
    rota:
      type: static
      rota:
        time_zone: UTC
        weekly: [{days: mon-sun, from: "00:00", to: "24:00", users: [jane@corp.example]}]
        incidents: [{id: INC-1, title: "Checkout errors", status: active}]
  reviewers: [security]
`
	lookup := func(string) (string, bool) { return "", false }
	_, err := Load([]byte(y), Options{Lookup: lookup})
	if err == nil || !strings.Contains(err.Error(), "break_glass.notifications: required outside gateway dev") {
		t.Fatalf("serve: expected the notifications problem, got %v", err)
	}
	if _, err := Load([]byte(y), Options{Lookup: lookup, Dev: true}); err != nil {
		t.Fatalf("dev: %v", err)
	}
	if _, err := Load([]byte(y+"  notifications: {ops: {type: webhook, url: \"https://hooks.corp.example/x\"}}\n"), Options{Lookup: lookup}); err != nil {
		t.Fatalf("serve with a target: %v", err)
	}
}
