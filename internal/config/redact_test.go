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
