package token

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const testIssuer = "https://gw.example.com"

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

func writeKey(t testing.TB, dir, name, alg string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if _, err := WriteKeyFile(p, alg); err != nil {
		t.Fatal(err)
	}
	return p
}

func oneKeySigner(t testing.TB, alg string, now func() time.Time) *Signer {
	t.Helper()
	s, err := NewSigner(Config{Algorithm: alg, Keys: []KeyConfig{{File: writeKey(t, t.TempDir(), "k.pem", alg), State: StateActive}}}, testIssuer, WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// payload decodes a token's header and claims without verifying (the
// contexttoken tests verify).
func payload(t *testing.T, tok string) (hdr map[string]any, claims []byte) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("expected a compact JWS, got %d parts", len(parts))
	}
	h, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(h, &hdr); err != nil {
		t.Fatal(err)
	}
	c, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return hdr, c
}

var jtiRE = regexp.MustCompile(`"jti": "[A-Za-z0-9_-]{22}"`)

func TestMintGolden(t *testing.T) {
	s := oneKeySigner(t, contexttoken.ES256, fixed(t0))
	full := contexttoken.Claims{
		Audience: contexttoken.Audience{"https://wiki.internal.example.com"},
		Subject:  "00u1abcd2EFGH3ijk4l5", Email: "ada@example.com",
		Groups: []string{"engineering", "sre"},
		Route:  "wiki", SourceIP: "203.0.113.7",
		Device:        &contexttoken.Device{ID: "dev_9f2c1e", Trust: "tpm-attested", AttestedAt: contexttoken.NewNumericDate(t0.Add(-2 * time.Hour))},
		Justification: &contexttoken.Justification{System: "jira", ID: "OPS-1234", VerifiedAt: contexttoken.NewNumericDate(t0.Add(-time.Minute)), Resource: "cust-42"},
		BreakGlass:    &contexttoken.BreakGlass{ID: "PD-Q1W2E3", Reason: "database down", ExpiresAt: contexttoken.NewNumericDate(t0.Add(time.Hour))},
		// Set by the caller and overwritten by Mint:
		Issuer: "https://evil.example.com", ID: "chosen", Expiry: contexttoken.NewNumericDate(t0.Add(24 * time.Hour)),
	}
	minimal := contexttoken.Claims{Audience: contexttoken.Audience{"https://wiki.internal.example.com"}, Subject: "00u1abcd2EFGH3ijk4l5"}
	tests := []struct {
		name     string
		claims   contexttoken.Claims
		notAfter time.Time
	}{
		{"full", full, t0.Add(8 * time.Hour)},
		{"minimal", minimal, t0.Add(8 * time.Hour)},
		// The session ends in 90 s: exp is capped there, to the second below.
		{"capped_by_session", minimal, t0.Add(90*time.Second + 900*time.Millisecond)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := s.Mint(tc.claims, tc.notAfter)
			if err != nil {
				t.Fatal(err)
			}
			hdr, raw := payload(t, tok)
			if hdr["alg"] != "ES256" || hdr["typ"] != contexttoken.Type || hdr["kid"] != s.KeyID() || len(hdr) != 3 {
				t.Fatalf("unexpected header %v", hdr)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, raw, "", "  "); err != nil {
				t.Fatal(err)
			}
			got := pretty.Bytes()
			if !jtiRE.Match(got) {
				t.Fatalf("expected a 128-bit base64url jti, got %s", got)
			}
			got = append(jtiRE.ReplaceAll(got, []byte(`"jti": "<random>"`)), '\n')
			golden := filepath.Join("testdata", "claims_"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("claims differ from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

func TestMintRefuses(t *testing.T) {
	s := oneKeySigner(t, contexttoken.ES256, fixed(t0.Add(500*time.Millisecond)))
	ok := contexttoken.Claims{Audience: contexttoken.Audience{"https://a.example.com"}, Subject: "u"}
	noSub := ok
	noSub.Subject = ""
	noAud := ok
	noAud.Audience = nil
	emptyAud := ok
	emptyAud.Audience = contexttoken.Audience{""}
	tests := []struct {
		name     string
		claims   contexttoken.Claims
		notAfter time.Time
		want     string
	}{
		{"no subject", noSub, t0.Add(time.Hour), "token: expected a subject (sub), got none"},
		{"no audience", noAud, t0.Add(time.Hour), `token: expected non-empty audiences (aud), got []`},
		{"empty audience", emptyAud, t0.Add(time.Hour), `token: expected non-empty audiences (aud), got [""]`},
		{"no notAfter", ok, time.Time{}, "token: expected notAfter (the end of the session or grant), got the zero time"},
		{"session already over", ok, t0.Add(-time.Minute), "token: expected notAfter after 2026-11-30T10:00:01Z, got 2026-11-30T09:59:00Z"},
		{"less than a second left", ok, t0.Add(900 * time.Millisecond), "token: expected notAfter after 2026-11-30T10:00:01Z, got 2026-11-30T10:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := s.Mint(tc.claims, tc.notAfter)
			if err == nil || err.Error() != tc.want || tok != "" {
				t.Fatalf("expected error %q and no token, got %q, %v", tc.want, tok, err)
			}
		})
	}
}

func TestMintUniqueJTI(t *testing.T) {
	s := oneKeySigner(t, contexttoken.EdDSA, fixed(t0))
	c := contexttoken.Claims{Audience: contexttoken.Audience{"https://a.example.com"}, Subject: "u"}
	seen := map[string]bool{}
	for range 100 {
		tok, err := s.Mint(c, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		_, raw := payload(t, tok)
		var got contexttoken.Claims
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		if seen[got.ID] {
			t.Fatalf("jti %q repeated", got.ID)
		}
		seen[got.ID] = true
	}
}

// TestRotationStates checks which key signs and which keys are published
// before, during and after a retired key's overlap.
func TestRotationStates(t *testing.T) {
	dir := t.TempDir()
	a := writeKey(t, dir, "a.pem", contexttoken.ES256)
	b := writeKey(t, dir, "b.pem", contexttoken.ES256)
	c := writeKey(t, dir, "c.pem", contexttoken.ES256)
	kid := func(p string) string {
		k, _, err := InspectKeyFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	until := t0.Add(10 * time.Minute)
	cfg := Config{Keys: []KeyConfig{
		{File: "c.pem", State: StateRetired, Until: until},
		{File: "b.pem", State: StateActive},
		{File: "a.pem", State: StateNext},
	}}
	tests := []struct {
		name string
		now  time.Time
		want []string // published kids, in order
	}{
		{"during overlap", t0, []string{kid(b), kid(a), kid(c)}},
		{"just before until", until.Add(-time.Second), []string{kid(b), kid(a), kid(c)}},
		{"at until", until, []string{kid(b), kid(a)}},
		{"after until", until.Add(time.Hour), []string{kid(b), kid(a)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSigner(cfg, testIssuer, WithClock(fixed(tc.now)), WithBaseDir(dir))
			if err != nil {
				t.Fatal(err)
			}
			if s.KeyID() != kid(b) {
				t.Fatalf("expected the active key %s to sign, got %s", kid(b), s.KeyID())
			}
			tok, err := s.Mint(contexttoken.Claims{Audience: contexttoken.Audience{"x"}, Subject: "u"}, tc.now.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if hdr, _ := payload(t, tok); hdr["kid"] != kid(b) {
				t.Fatalf("expected tokens signed by the active key %s, got %v", kid(b), hdr["kid"])
			}
			var got []string
			for _, k := range s.PublicKeys().Keys {
				if !k.IsPublic() {
					t.Fatalf("key %s is not public", k.KeyID)
				}
				got = append(got, k.KeyID)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("expected published %v, got %v", tc.want, got)
			}
		})
	}
}

func TestNewSignerErrors(t *testing.T) {
	dir := t.TempDir()
	es := writeKey(t, dir, "es.pem", contexttoken.ES256)
	ed := writeKey(t, dir, "ed.pem", contexttoken.EdDSA)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	rsaSmall, _ := rsa.GenerateKey(rand.Reader, 1024)
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	esData, _ := os.ReadFile(es)
	pub := write("pub.pem", pemOf("PUBLIC KEY", mustPKIX(t, p384.Public())))
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings, all must appear
	}{
		{"missing file", Config{Keys: []KeyConfig{{File: filepath.Join(dir, "nope.pem"), State: StateActive}}},
			[]string{"keys[0].file: reading key:", "no such file"}},
		{"not PEM", Config{Keys: []KeyConfig{{File: write("junk.pem", []byte("hello")), State: StateActive}}},
			[]string{"keys[0].file: expected a PEM private key, found no PEM block"}},
		{"public key", Config{Keys: []KeyConfig{{File: pub, State: StateActive}}},
			[]string{`keys[0].file: expected a PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block, got "PUBLIC KEY"`}},
		{"P-384", Config{Keys: []KeyConfig{{File: write("p384.pem", pemOf("PRIVATE KEY", p384DER)), State: StateActive}}},
			[]string{"keys[0].file: expected an ECDSA key on P-256 for ES256, got curve P-384"}},
		{"small RSA", Config{Keys: []KeyConfig{{File: write("rsa.pem", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaSmall))), State: StateActive}}},
			[]string{"keys[0].file: expected an RSA key of at least 2048 bits, got 1024"}},
		{"two keys in a file", Config{Keys: []KeyConfig{{File: write("two.pem", append(append([]byte{}, esData...), esData...)), State: StateActive}}},
			[]string{`keys[0].file: expected one private key in the PEM file, got another "PRIVATE KEY" block`}},
		{"active key for another algorithm", Config{Keys: []KeyConfig{{File: ed, State: StateActive}}},
			[]string{"keys[0].file: expected a key for algorithm ES256, got a key for EdDSA"}},
		{"same key in two files", Config{Keys: []KeyConfig{{File: es, State: StateActive}, {File: write("copy.pem", esData), State: StateNext}}},
			[]string{"keys[1].file: expected a key different from keys[0], got the same key"}},
		{"invalid config", Config{Keys: []KeyConfig{{File: es, State: "nxt"}}},
			[]string{`token: invalid config: keys[0].state: expected active, next or retired, got "nxt"`}},
		{"all bad keys at once", Config{Keys: []KeyConfig{{File: filepath.Join(dir, "nope.pem"), State: StateActive}, {File: write("junk2.pem", []byte("x")), State: StateNext}}},
			[]string{"keys[0].file:", "keys[1].file:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSigner(tc.cfg, testIssuer)
			if err == nil || s != nil {
				t.Fatalf("expected an error and no signer, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("expected error to contain %q, got %v", w, err)
				}
			}
		})
	}
	if _, err := NewSigner(Config{Keys: []KeyConfig{{File: es, State: StateActive}}}, ""); err == nil {
		t.Fatal("expected an error without issuer")
	}
}

func mustPKIX(t *testing.T, pub any) []byte {
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeyFormats(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	// As written by `openssl ecparam -name prime256v1 -genkey`.
	withParams := append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...)
	tests := []struct {
		name    string
		data    []byte
		wantAlg string
	}{
		{"SEC 1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), "ES256"},
		{"SEC 1 with EC PARAMETERS", withParams, "ES256"},
		{"PKCS 1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), "RS256"},
	}
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		data, err := GenerateKeyPEM(alg)
		if err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct {
			name    string
			data    []byte
			wantAlg string
		}{"generated " + alg, data, alg})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := parseKeyPEM(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if k.alg != tc.wantAlg || len(k.kid) != 43 {
				t.Fatalf("expected alg %s and a 43-char kid, got %s %q", tc.wantAlg, k.alg, k.kid)
			}
		})
	}
	if _, err := GenerateKeyPEM("HS256"); err == nil {
		t.Fatal("expected an error for HS256")
	}
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: sec1})
	if _, err := parseKeyPEM(encrypted); err == nil || !strings.Contains(err.Error(), "unencrypted") {
		t.Fatalf("expected an error for an encrypted key, got %v", err)
	}
}

func TestWriteKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k.pem")
	kid, err := WriteKeyFile(p, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("expected mode 0600, got %v", fi.Mode().Perm())
	}
	gotKid, alg, err := InspectKeyFile(p)
	if err != nil || gotKid != kid || alg != "ES256" {
		t.Fatalf("InspectKeyFile: expected %s ES256, got %s %s %v", kid, gotKid, alg, err)
	}
	before, _ := os.ReadFile(p)
	if _, err := WriteKeyFile(p, "ES256"); err == nil || !errors.Is(err, os.ErrExist) {
		t.Fatalf("expected a refusal to overwrite, got %v", err)
	}
	after, _ := os.ReadFile(p)
	if !bytes.Equal(before, after) {
		t.Fatal("the existing key file changed")
	}
	// Nor through a symlink to another file.
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("keep"), 0o600)
	link := filepath.Join(dir, "link.pem")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteKeyFile(link, "ES256"); err == nil {
		t.Fatal("expected a refusal to write through a symlink")
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Fatal("the symlink target changed")
	}
	if _, err := WriteKeyFile(filepath.Join(dir, "x.pem"), "none"); err == nil {
		t.Fatal("expected an error for alg none")
	}
	if _, err := os.Stat(filepath.Join(dir, "x.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a failed generation left a file")
	}
}

// TestNoKeyMaterialInLogs checks that a signer and its keys log only their
// IDs.
func TestNoKeyMaterialInLogs(t *testing.T) {
	dir := t.TempDir()
	p := writeKey(t, dir, "k.pem", "ES256")
	s, err := NewSigner(Config{Keys: []KeyConfig{{File: p, State: StateActive}}}, testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("signer", "signer", s, "key", s.active)
	fmt.Fprintf(&buf, "%v %+v %s", s.active, s.active, s.active)
	data, _ := os.ReadFile(p)
	block, _ := pem.Decode(data)
	priv, _ := x509.ParsePKCS8PrivateKey(block.Bytes)
	d := priv.(*ecdsa.PrivateKey).D
	for _, secret := range []string{d.String(), base64.RawURLEncoding.EncodeToString(d.Bytes()), fmt.Sprintf("%x", d.Bytes())} {
		if strings.Contains(buf.String(), secret) {
			t.Fatalf("log output contains the private key: %s", buf.String())
		}
	}
	if !strings.Contains(buf.String(), s.KeyID()) {
		t.Fatalf("expected the kid in the log, got %s", buf.String())
	}
}

func TestDevSigner(t *testing.T) {
	s, err := NewDevSigner(testIssuer, WithClock(fixed(t0)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Algorithm() != "ES256" || s.Header() != "X-Gateway-Context" || s.Lifetime() != 5*time.Minute || len(s.PublicKeys().Keys) != 1 {
		t.Fatalf("unexpected dev signer %v", s.LogValue())
	}
	v, err := contexttoken.NewStaticVerifier(contexttoken.Config{Issuer: testIssuer, Audiences: []string{"x"}, Now: fixed(t0)}, s.PublicKeys())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Mint(contexttoken.Claims{Audience: contexttoken.Audience{"x"}, Subject: "u"}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}
