package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Values of the wrong type name the field and say what was expected in an
// operator's words, all at once (not Go's struct and type names).
func TestLoadWrongTypes(t *testing.T) {
	sub := func(old, new string) string { return strings.Replace(minimal, old, new, 1) }
	tests := []loadTest{
		{name: "a number where a duration goes",
			yaml: sub("routes:\n", "session:\n  lifetime: 3600\nroutes:\n"),
			want: []string{"session.lifetime: expected a duration such as 12h, got 3600"}},
		{name: "a duration that does not parse",
			yaml: sub("routes:\n", "listen: {read_header_timeout: ten seconds}\nroutes:\n"),
			want: []string{`listen.read_header_timeout: expected a duration such as 12h, 90m or 30s, got "ten seconds"`}},
		{name: "yes is not a bool",
			yaml: sub("  client_id: gw\n", "  client_id: gw\n  require_verified_email: yes\n  end_provider_session: 1\n"),
			want: []string{
				`oidc.end_provider_session: expected true or false, got 1`,
				`oidc.require_verified_email: expected true or false, got "yes"`,
			}},
		{name: "a string where a list goes, a list where a mapping goes",
			yaml: sub("  client_id: gw\n", "  client_id: gw\n  scopes: openid\n") + "log: [json]\n",
			want: []string{
				`log: expected a mapping, got a list`,
				`oidc.scopes: expected a list, got "openid"`,
			}},
		{name: "a whole number",
			yaml: sub("routes:\n", "session: {store: redis, redis: {addrs: [\"r:6379\"], db: zero}}\nroutes:\n"),
			want: []string{`session.redis.db: expected a whole number, got "zero"`}},
		{name: "a mapping where a string goes, inside a list",
			yaml: minimal + "tests:\n  - {name: {a: b}, route: app, expect: allow, user: {email: a@corp.example, claims: [x]}}\n",
			want: []string{
				`tests[0].name: expected a string, got a mapping`,
				`tests[0].user.claims: expected a mapping, got a list`,
			}},
		{name: "wrong types and unknown keys are reported together",
			yaml: sub("routes:\n", "session:\n  lifetime: 3600\n  lifetme: 1h\nroutes:\n"),
			want: []string{"session.lifetme: unknown key", "session.lifetime: expected a duration such as 12h, got 3600"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestLoadOIDCAndSessionKeys(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(ca, testCAPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := func(old, new string) string { return strings.Replace(minimal, old, new, 1) }
	oidc := func(extra string) string { return sub("  client_id: gw\n", "  client_id: gw\n"+extra) }
	redis := func(extra string) string {
		return sub("routes:\n", "session:\n  store: redis\n  redis: {addrs: [\"r:6379\"]}\n"+extra+"routes:\n")
	}
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	tests := []loadTest{
		{name: "userinfo modes, a dotted groups claim, a CA file",
			yaml: oidc("  userinfo: always\n  groups_claim: resource_access.gateway.roles\n  ca_file: " + ca + "\n")},
		{name: "bad userinfo, groups claim, ca files, post-logout URL",
			yaml: oidc("  userinfo: sometimes\n  groups_claim: realm_access..roles\n  ca_file: " + notPEM + "\n  post_logout_redirect_url: /signed-out\n"),
			want: []string{
				`oidc.userinfo: expected auto, always or never, got "sometimes"`,
				`oidc.groups_claim: expected a claim name or a dotted path such as realm_access.roles, got "realm_access..roles"`,
				`oidc.ca_file: expected PEM certificates in "` + notPEM + `", found none`,
				`oidc.post_logout_redirect_url: expected an absolute https URL without fragment such as https://gateway.corp.example/.gateway/sign-out, got "/signed-out"`,
			}},
		{name: "a CA file for an http issuer",
			yaml: strings.Replace(oidc("  ca_file: "+ca+"\n"), "https://login.corp.example", "http://127.0.0.1:9998", 1),
			want: []string{"oidc.ca_file: set, but oidc.issuer is not https"}},
		{name: "a missing CA file",
			yaml: oidc("  ca_file: " + filepath.Join(dir, "missing.pem") + "\n"),
			want: []string{"oidc.ca_file: open " + filepath.Join(dir, "missing.pem") + ": no such file or directory"}},
		{name: "http on loopback hosts is accepted outside dev",
			yaml: strings.NewReplacer("https://login.corp.example", "http://[::1]:9998", "https://gw.corp.example", "http://localhost:8080",
				"host: gw.corp.example", "host: localhost").Replace(minimal)},
		{name: "http on 127.0.0.0/8 is accepted outside dev",
			yaml: strings.NewReplacer("https://login.corp.example", "http://127.0.0.2:9998").Replace(minimal)},
		{name: "http on a look-alike host is refused",
			yaml: strings.NewReplacer("https://login.corp.example", "http://localhost.corp.example:9998").Replace(minimal),
			want: []string{`oidc.issuer: expected https, got "http://localhost.corp.example:9998" (plain http is accepted only for a provider on a loopback host such as http://localhost:9998; to try the gateway locally, run gateway dev --config FILE, or leave oidc.issuer out there to use the embedded development provider)`}},
		{name: "redis needs encryption keys outside dev",
			yaml: redis(""),
			want: []string{"session.encryption_keys: required with store: redis: every replica needs the key that seals the refresh and ID tokens in Redis (create one with gateway keys generate --session --out FILE, then list it as {file: FILE, state: active})"}},
		{name: "redis with keys from a file and from the environment",
			yaml: redis("  encryption_keys:\n    - {file: keys/s1.key, state: active}\n    - {key: \"${OLD_KEY}\", state: retired}\n"),
			env:  map[string]string{"OLD_KEY": key}},
		{name: "redis without keys in dev",
			yaml: redis(""), dev: true},
		{name: "bad key entries",
			yaml: redis("  encryption_keys:\n    - {key: short, state: active}\n    - {file: a.key, key: \"" + key + "\", state: next}\n    - {state: active}\n"),
			want: []string{
				"session.encryption_keys[0].key: expected a base64 32-byte key, got 5 characters that are not base64",
				"session.encryption_keys[1]: set file or key, not both",
				"session.encryption_keys[2]: set file (created by gateway keys generate --session --out FILE) or key (a base64 key from ${ENV})",
				"session.encryption_keys: expected exactly one key with state: active, got 2",
			}},
		{name: "dev listens on loopback only",
			yaml: sub("routes:\n", "listen: {address: \"0.0.0.0:8080\"}\nroutes:\n"), dev: true,
			want: []string{`listen.address: gateway dev listens on loopback only (127.0.0.1, ::1, localhost), got "0.0.0.0:8080"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestLoadWarningsAndDevProvider(t *testing.T) {
	loop := strings.NewReplacer("https://login.corp.example", "http://localhost:9998").Replace(minimal)
	c, err := Load([]byte(loop), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], `oidc.issuer: plain http on a loopback host ("http://localhost:9998")`) {
		t.Errorf("expected one warning about the http issuer, got %q", w)
	}
	if c.OIDC.UserInfo != "auto" || c.OIDC.EndProviderSession == nil || !*c.OIDC.EndProviderSession {
		t.Errorf("defaults: expected userinfo auto and end_provider_session true, got %q %v", c.OIDC.UserInfo, c.OIDC.EndProviderSession)
	}

	// gateway dev --config: a file without oidc.issuer signs in at the dev provider.
	noIssuer := strings.NewReplacer("  issuer: https://login.corp.example\n  client_id: gw\n", "", "listen:", "listen:").Replace(minimal)
	dev := &OIDCConfig{Issuer: "http://127.0.0.1:4000", ClientID: "gateway-dev", ClientSecret: "s"}
	c, err = Load([]byte(noIssuer), Options{Dev: true, DevProvider: dev})
	if err != nil {
		t.Fatal(err)
	}
	if c.OIDC.Issuer != dev.Issuer || c.OIDC.ClientID != "gateway-dev" || c.OIDC.PostLogoutRedirectURL != "https://gw.corp.example/.gateway/sign-out" {
		t.Errorf("expected the dev provider filled in, got %+v", c.OIDC)
	}
	if c.Listen.Address != "127.0.0.1:8080" {
		t.Errorf("dev: expected the default listen address on loopback, got %q", c.Listen.Address)
	}
	// The same file outside dev still needs an issuer.
	if _, err := Load([]byte(noIssuer), Options{DevProvider: dev}); err == nil || !strings.Contains(err.Error(), "oidc.issuer: required") {
		t.Errorf("outside dev: expected oidc.issuer required, got %v", err)
	}
}

// testCAPEM returns a new self-signed CA certificate, PEM-encoded.
func testCAPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// A kind's section warnings are the config's (an Etc/GMT zone whose sign
// reads backwards).
func TestSectionWarnings(t *testing.T) {
	yml := minimal + "schedules:\n  evenings:\n    time_zone: Etc/GMT+2\n    windows: [{days: mon-fri, from: \"17:00\", to: \"21:00\"}]\n"
	c, err := Load([]byte(yml), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "schedules.evenings.time_zone: Etc/GMT+2 is UTC-2, not UTC+2") {
		t.Fatalf("warnings %q", w)
	}
}
