package config

import (
	"strings"
	"testing"
)

// A YAML syntax error prints the lines around it (`gateway check`, and the
// log of a rejected reload); secrets written inline near the mistake are
// replaced there, and the caret still points at the mistake.
func TestYAMLErrorsRedactSecrets(t *testing.T) {
	doc := "public_url: https://gw.corp.example\n" +
		"session: {redis: {addrs: [\"r:6379\"], password: s3cr3t-two, key_prefix: \"gw:\"}, encryption_keys: [{key: s3cr3t-three, state: active}]}\n" +
		"tracing: {otlp_endpoint: c:4317, headers: {Authorization: Bearer s3cr3t-four}}\n" +
		"oidc: {issuer: https://login.corp.example, client_id: gw, client_secret: \"s3cr3t-one\", scopes: [openid]}\n" +
		"  lifetime: [\n"
	_, err := Load([]byte(doc), Options{})
	if err == nil {
		t.Fatal("loaded a file with a syntax error")
	}
	msg := err.Error()
	if strings.Contains(msg, "s3cr3t") {
		t.Errorf("a secret is in the error:\n%s", msg)
	}
	for _, kept := range []string{"client_secret: [redacted]", "password: [redacted]", "key: [redacted]",
		"Authorization: [redacted]", "client_id: gw", `key_prefix: "gw:"`, "scopes: [openid]"} {
		if !strings.Contains(msg, kept) {
			t.Errorf("expected %q in the error:\n%s", kept, msg)
		}
	}
}

func TestRedactExcerptKeepsTheCaret(t *testing.T) {
	in := "yaml: [1:40] mapping value is not allowed\n" +
		">  1 | a: {password: hunter2, x: 1, b: c: d}\n" +
		"                                           ^\n"
	want := "yaml: [1:40] mapping value is not allowed\n" +
		">  1 | a: {password: [redacted], x: 1, b: c: d}\n" +
		"                                              ^\n"
	if got := redactExcerpt(in); got != want {
		t.Errorf("redactExcerpt:\n%s\nwant:\n%s", got, want)
	}
	// Lines that are not source lines are left alone.
	if got := redactExcerpt("yaml: password: x"); got != "yaml: password: x" {
		t.Errorf("the message itself was changed: %q", got)
	}
}

// A URL's user info and query are secrets as often as not (an upstream's
// basic auth, an API key in a query, a Redis password, all from ${ENV}):
// the problems and warnings that quote a URL show neither, wherever the URL
// is in the file, and the problem itself is still reported.
func TestProblemsDoNotShowURLSecrets(t *testing.T) {
	const secret = "hunter2-s3cret"
	lookup := func(k string) (string, bool) {
		if k == "PW" {
			return secret, true
		}
		return "", false
	}
	for _, tc := range []struct{ name, yaml, path string }{
		{"upstream user info", strings.Replace(minimal, "http://127.0.0.1:9000", "https://svc:${PW}@tool.internal", 1), "routes[0].upstream"},
		{"upstream user info with a slash", strings.Replace(minimal, "http://127.0.0.1:9000", `"https://svc:a/${PW}@tool.internal"`, 1), "routes[0].upstream"},
		{"upstream query", strings.Replace(minimal, "http://127.0.0.1:9000", "https://tool.internal/?api_key=${PW}", 1), "routes[0].upstream"},
		{"public_url", strings.Replace(minimal, "public_url: https://gw.corp.example", "public_url: https://u:${PW}@gw.corp.example", 1), "public_url"},
		{"issuer", strings.Replace(minimal, "issuer: https://login.corp.example", "issuer: https://u:${PW}@login.corp.example", 1), "oidc.issuer"},
		{"issuer query", strings.Replace(minimal, "issuer: https://login.corp.example", "issuer: https://login.corp.example/?k=${PW}", 1), "oidc.issuer"},
		{"post-logout URL", strings.Replace(minimal, "  client_id: gw\n", "  client_id: gw\n  post_logout_redirect_url: \"https://u:${PW}@gw.corp.example/#x\"\n", 1), "oidc.post_logout_redirect_url"},
		{"redis address", minimal + "session:\n  store: redis\n  encryption_keys: [{key: \"" + strings.Repeat("A", 43) + "=\", state: active}]\n  redis: {addrs: [\"redis://:${PW}@redis:6379\"]}\n", "session.redis.addrs[0]"},
		{"tracing endpoint", minimal + "tracing: {otlp_endpoint: \"ftp://u:${PW}@otel:4318\"}\n", "tracing.otlp_endpoint"},
		{"ticket system", minimal + "justification:\n  systems:\n    jira:\n      type: jira\n      base_url: \"https://u:${PW}@corp.atlassian.net\"\n      auth: {username: gw@corp.example, password: x}\n", "base_url"},
	} {
		_, err := Load([]byte(tc.yaml), Options{Lookup: lookup})
		if err == nil {
			t.Errorf("%s: loaded", tc.name)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the problems show the secret:\n%v", tc.name, err)
		}
		if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("%s: want a problem at %s with the secret [redacted], got:\n%v", tc.name, tc.path, err)
		}
	}
	for in, want := range map[string]string{
		`got "https://u:p@ss@host/x"`:         `got "https://[redacted]@host/x"`,
		`got "https://host/x?a=1&b=2#frag" y`: `got "https://host/x?[redacted]#frag" y`,
		`got "https://u:p\"w@host"`:           `got "https://[redacted]@host"`,
		`got "https://host/a" and "b@c"`:      `got "https://host/a" and "b@c"`,
		`no URL here: a@b?c`:                  `no URL here: a@b?c`,
	} {
		if got := redactURLs(in); got != want {
			t.Errorf("redactURLs(%s) = %s, want %s", in, got, want)
		}
	}
}
