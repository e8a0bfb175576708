package security

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/config"
)

// TestEncodedSlashBesideRawBytes: a %2F (or %5C) is refused whatever raw
// byte stands next to it. url.URL.EscapedPath re-escapes the decoded path
// when the raw one holds a byte that should have been escaped, turning
// "/admin%2F|" into "/admin/%7C"; the gateway reads the raw target.
func TestEncodedSlashBesideRawBytes(t *testing.T) {
	f := newFixture(t, nil, "")
	for _, target := range []string{
		"/admin%2F|", "/public%2F..%2Fadmin|", "/x/..%2F|admin", "/customers%2F43^", "/a%2f%7C", "/a|%2Fb",
		"/admin%2F{", "/admin%2F\"", "/admin%5C|", "/admin%2F%20|", "/public/%2e%2e%2F|admin",
	} {
		t.Run(target, func(t *testing.T) { f.blocked(t, f.get(target, f.sam), http.StatusBadRequest) })
	}
	t.Run("absolute-form target", func(t *testing.T) {
		f.blocked(t, f.get("http://"+f.g.Host+"/admin%2F|", f.sam), http.StatusBadRequest)
	})
}

// TestTrustedProxiesUnion: trusted_proxies is judged as a union, so a list
// of entries that each look narrow cannot trust the whole Internet.
func TestTrustedProxiesUnion(t *testing.T) {
	const base = `public_url: https://gw.corp.example
oidc: {issuer: https://login.corp.example, client_id: gw}
token: {keys: [{file: k.pem, state: active}]}
routes: [{name: app, host: gw.corp.example, upstream: "http://127.0.0.1:9000", rules: {allow: [{domains: [corp.example]}]}}]
`
	for _, list := range []string{
		`[0.0.0.0/1, 128.0.0.0/1]`, `["::/1"]`, `["::/1", "8000::/1"]`, `[0.0.0.0/2, 64.0.0.0/2, 128.0.0.0/2, 192.0.0.0/2]`,
		`[1.0.0.0/8, 2.0.0.0/8, 3.0.0.0/8, 4.0.0.0/8, 5.0.0.0/8, 6.0.0.0/8]`, `[0.0.0.0/0]`, `["::/0"]`, `["::ffff:0.0.0.0/96"]`,
	} {
		t.Run(list, func(t *testing.T) {
			_, err := config.Load([]byte(base+"trusted_proxies: "+list+"\n"), config.Options{Lookup: func(string) (string, bool) { return "", false }})
			if err == nil || !strings.Contains(err.Error(), "trusted_proxies") {
				t.Fatalf("Load accepted trusted_proxies %s (error %v)", list, err)
			}
		})
	}
	if _, err := config.Load([]byte(base+"trusted_proxies: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, \"fc00::/7\"]\n"),
		config.Options{Lookup: func(string) (string, bool) { return "", false }}); err != nil {
		t.Fatalf("the private ranges were refused: %v", err)
	}
}

// TestContextTokenDatesAreNumbers: a correctly signed token whose exp, nbf,
// iat or a nested date is a JSON string is refused by contexttoken, as its
// documentation says (a string could hide a date far in the future from a
// reader that compares it as text, and is not a NumericDate).
func TestContextTokenDatesAreNumbers(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const kid, iss, aud = "k1", "https://gw.example.com", "https://tool.example.com"
	now := time.Unix(1_800_000_000, 0)
	v, err := contexttoken.NewStaticVerifier(contexttoken.Config{Issuer: iss, Audiences: []string{aud}, Now: func() time.Time { return now }},
		jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType(contexttoken.Type).WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(claims map[string]any) string {
		b, _ := json.Marshal(claims)
		obj, err := signer.Sign(b)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := obj.CompactSerialize()
		return s
	}
	good := func() map[string]any {
		return map[string]any{"iss": iss, "aud": aud, "sub": "u", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Unix() + 300,
			"device": map[string]any{"id": "d", "trust": "tpm-attested", "attested_at": now.Unix() - 60}}
	}
	if _, err := v.Verify(context.Background(), sign(good())); err != nil {
		t.Fatalf("the control token does not verify: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(map[string]any)
	}{
		{"exp", func(m map[string]any) { m["exp"] = "99999999999" }},
		{"exp with spaces", func(m map[string]any) { m["exp"] = " 1800000300" }},
		{"nbf", func(m map[string]any) { m["nbf"] = "0" }},
		{"iat", func(m map[string]any) { m["iat"] = "1800000000" }},
		{"device.attested_at", func(m map[string]any) { m["device"].(map[string]any)["attested_at"] = "1800000000" }},
		{"exp beyond int64", func(m map[string]any) { m["exp"] = 1e300 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := good()
			tc.edit(m)
			c, err := v.Verify(context.Background(), sign(m))
			if err == nil || !errors.Is(err, contexttoken.ErrMalformed) {
				t.Fatalf("Verify accepted %s as a string: %+v, %v", tc.name, c, err)
			}
		})
	}
}
