package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateKeys(t *testing.T) {
	k1, k2 := NewKey(), NewKey()
	tests := []struct {
		name string
		keys []KeyConfig
		want []string // each error, in order
	}{
		{name: "none (allowed: the caller decides whether keys are required)"},
		{name: "one active inline key", keys: []KeyConfig{{Key: k1, State: KeyActive}}},
		{name: "active, next and retired", keys: []KeyConfig{{Key: k1, State: KeyActive}, {File: "next.key", State: KeyNext}, {Key: k2, State: KeyRetired}}},
		{name: "both file and key", keys: []KeyConfig{{Key: k1, File: "x", State: KeyActive}},
			want: []string{"[0]: set file or key, not both"}},
		{name: "neither", keys: []KeyConfig{{State: KeyActive}},
			want: []string{"[0]: set file (created by gateway keys generate --session --out FILE) or key (a base64 key from ${ENV})"}},
		{name: "short key", keys: []KeyConfig{{Key: "c2hvcnQ=", State: KeyActive}},
			want: []string{"[0].key: expected 32 bytes of base64 key, got 5"}},
		{name: "not base64", keys: []KeyConfig{{Key: "not base64!", State: KeyActive}},
			want: []string{"[0].key: expected a base64 32-byte key, got 11 characters that are not base64"}},
		{name: "bad state and no active key", keys: []KeyConfig{{Key: k1, State: "current"}},
			want: []string{`[0].state: expected active, next or retired, got "current"`, ": expected exactly one key with state: active, got 0"}},
		{name: "two active keys", keys: []KeyConfig{{Key: k1, State: KeyActive}, {Key: k2, State: KeyActive}},
			want: []string{": expected exactly one key with state: active, got 2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := ValidateKeys(tc.keys)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("expected\n  %s\ngot\n  %s", strings.Join(tc.want, "\n  "), strings.Join(got, "\n  "))
			}
		})
	}
}

// Rotation: the active key seals; next and retired keys open; a key that is
// no longer listed does not.
func TestKeyringRotation(t *testing.T) {
	dir := t.TempDir()
	oldKey, newKey := NewKey(), NewKey()
	file := filepath.Join(dir, "new.key")
	if err := os.WriteFile(file, []byte(newKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := NewKeyring([]KeyConfig{{Key: oldKey, State: KeyActive}, {File: file, State: KeyNext}})
	if err != nil {
		t.Fatal(err)
	}
	after, err := NewKeyring([]KeyConfig{{File: file, State: KeyActive}, {Key: oldKey, State: KeyRetired}})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := NewKeyring([]KeyConfig{{File: file, State: KeyActive}})
	if err != nil {
		t.Fatal(err)
	}
	sealedBefore := before.seal("secret-1", "aad")
	sealedAfter := after.seal("secret-2", "aad")
	tests := []struct {
		name   string
		kr     *Keyring
		sealed string
		want   string // "" means ErrUnsealable
	}{
		{"before rotation, own token", before, sealedBefore, "secret-1"},
		{"before rotation, a token of a replica already rotated (next key)", before, sealedAfter, "secret-2"},
		{"after rotation, a token sealed before (retired key)", after, sealedBefore, "secret-1"},
		{"after rotation, own token", after, sealedAfter, "secret-2"},
		{"old key removed", gone, sealedBefore, ""},
		{"an unrelated keyring", EphemeralKeyring(), sealedAfter, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.kr.open(tc.sealed, "aad")
			if tc.want == "" {
				if !errors.Is(err, ErrUnsealable) {
					t.Fatalf("expected ErrUnsealable, got %q, %v", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("expected %q, got %q, %v", tc.want, got, err)
			}
		})
	}
	if _, err := NewKeyring([]KeyConfig{{File: filepath.Join(dir, "missing.key"), State: KeyActive}}); err == nil || !strings.Contains(err.Error(), "session.encryption_keys[0]") {
		t.Errorf("a missing key file: expected an error naming the entry, got %v", err)
	}
	if _, err := NewKeyring([]KeyConfig{{Key: oldKey, State: KeyActive}, {Key: oldKey, State: KeyRetired}}); err == nil {
		t.Error("the same key listed twice was accepted")
	}
}

func TestOpenRejectsTampering(t *testing.T) {
	kr := EphemeralKeyring()
	sealed := kr.seal("refresh-token", "session:abc|rt")
	if sealed == "refresh-token" || strings.Contains(sealed, "refresh-token") {
		t.Fatal("seal left the plaintext visible")
	}
	if again := kr.seal("refresh-token", "session:abc|rt"); again == sealed {
		t.Error("two seals of the same token are equal: the nonce is not random")
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := map[string]struct{ sealed, aad string }{
		"other session":      {sealed, "session:abd|rt"},
		"other role":         {sealed, "session:abc|idt"},
		"flipped ciphertext": {flip(sealed, len(sealed)-3), "session:abc|rt"},
		"truncated":          {sealed[:len(sealed)-10], "session:abc|rt"},
		"no version":         {strings.TrimPrefix(sealed, "v2."), "session:abc|rt"},
		"v2 read as v1":      {"v1." + strings.TrimPrefix(sealed, "v2."), "session:abc|rt"},
		"unknown version":    {"v3." + strings.TrimPrefix(sealed, "v2."), "session:abc|rt"},
		"unknown key id":     {"v2.00000000." + strings.SplitN(sealed, ".", 3)[2], "session:abc|rt"},
		"plaintext in store": {"refresh-token", "session:abc|rt"},
		"empty ciphertext":   {"v2." + strings.SplitN(sealed, ".", 3)[1] + ".", "session:abc|rt"},
		"ciphertext not b64": {"v2." + strings.SplitN(sealed, ".", 3)[1] + ".!!!", "session:abc|rt"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := kr.open(tc.sealed, tc.aad); !errors.Is(err, ErrUnsealable) {
				t.Fatalf("expected ErrUnsealable, got %q, %v", got, err)
			}
		})
	}
	if got, err := kr.open(sealed, "session:abc|rt"); err != nil || got != "refresh-token" {
		t.Fatalf("the untouched value: expected refresh-token, got %q, %v", got, err)
	}
}

// TestSealPacksTokens: every token opens as it was sealed; a JWS is sealed
// as its decoded parts (a quarter smaller than its text); values sealed in
// version 1 (before packing) still open.
func TestSealPacksTokens(t *testing.T) {
	kr := EphemeralKeyring()
	sig := strings.Repeat("Sx_-", 85) + "Sw" // 256 bytes, as an RS256 signature
	jws := "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0." +
		"eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwic3ViIjoiMTIzIiwiZW1haWwiOiJzYW1AY29ycC5leGFtcGxlIn0." + sig
	for _, tok := range []string{
		jws, "opaque-refresh-token", "", "a.b", "a.b.c.d.e", "a..c", "...", "eyJ9.e30.", "eyJ9.e30.AB", // AB: non-zero padding bits
		"eyJ9.e30.A", "abc.def.ghi!", strings.Repeat("x", 5000), "\x00.\x01.\xff",
	} {
		sealed := kr.seal(tok, "aad")
		if got, err := kr.open(sealed, "aad"); err != nil || got != tok {
			t.Errorf("seal/open %.40q: got %.40q, %v", tok, got, err)
		}
	}
	packed, text := len(kr.seal(jws, "aad")), len(sealPrefix)+9+base64.RawURLEncoding.EncodedLen(12+len(jws)+16)
	if packed > text*8/10 {
		t.Errorf("a sealed JWS takes %d bytes, sealed as text %d: not packed", packed, text)
	}
	// A value sealed before compression (packedJWS) still opens.
	aead := kr.aeads[kr.active]
	nonce := make([]byte, aead.NonceSize())
	h, rest, _ := strings.Cut(jws, ".")
	pl, sg, _ := strings.Cut(rest, ".")
	var form1 []byte
	form1 = append(form1, packedJWS)
	for i, seg := range []string{h, pl, sg} {
		b, _ := base64.RawURLEncoding.DecodeString(seg)
		if i < 2 {
			form1 = binary.AppendUvarint(form1, uint64(len(b)))
		}
		form1 = append(form1, b...)
	}
	old := sealPrefix + kr.active + "." + base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, form1, []byte(sealPrefix+"aad")))
	if got, err := kr.open(old, "aad"); err != nil || got != jws {
		t.Errorf("a value packed without compression: got %.40q, %v", got, err)
	}
	// A value of version 1: the plaintext sealed as it is.
	v1 := "v1." + kr.active + "." + base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(jws), []byte("aad")))
	if got, err := kr.open(v1, "aad"); err != nil || got != jws {
		t.Errorf("a version 1 value: got %.40q, %v", got, err)
	}
}

func TestKeyConfigRedacts(t *testing.T) {
	k := KeyConfig{Key: NewKey(), State: KeyActive}
	for _, s := range []string{k.String(), k.LogValue().String()} {
		if strings.Contains(s, k.Key) || !strings.Contains(s, "REDACTED") {
			t.Errorf("the key is not redacted: %s", s)
		}
	}
}

// FuzzOpen: a value read from the store (which an attacker with write access
// to Redis controls) never panics and opens only if it was sealed here.
func FuzzOpen(f *testing.F) {
	kr := EphemeralKeyring()
	f.Add(kr.seal("token", "aad"))
	f.Add("v1.")
	f.Add("v1.abcd.")
	f.Add("v1." + kr.active + ".AAAA")
	f.Add("v2." + kr.active + ".AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := kr.open(s, "aad")
		if err == nil && got != "token" {
			t.Fatalf("opened a value that was never sealed: %q → %q", s, got)
		}
	})
}

// A provider's token — an ID token's header and payload are mostly claim
// names and URLs — is packed compressed, and much smaller than its parts.
func TestPackCompressesProviderTokens(t *testing.T) {
	for name, tok := range map[string]string{"Keycloak ID token": keycloakIDToken(t), "Keycloak refresh token": keycloakRefreshToken(t)} {
		h, rest, _ := strings.Cut(tok, ".")
		p, _, _ := strings.Cut(rest, ".")
		plain := base64.RawURLEncoding.DecodedLen(len(h)) + base64.RawURLEncoding.DecodedLen(len(p))
		packed := pack(tok)
		if packed[0] != packedJWSDeflate {
			t.Errorf("%s: packed in form %d, want %d", name, packed[0], packedJWSDeflate)
		}
		sig := base64.RawURLEncoding.DecodedLen(len(tok) - len(h) - len(p) - 2)
		if z := len(packed) - sig; z > plain*6/10 {
			t.Errorf("%s: header and payload of %d bytes packed in %d (want ≤ 60 %%)", name, plain, z)
		}
		if got, err := unpack(packed); err != nil || got != tok {
			t.Errorf("%s: unpack(pack) = %.40q, %v", name, got, err)
		}
	}
	// A payload that does not compress is not stored compressed.
	random := make([]byte, 600)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	e := base64.RawURLEncoding
	tok := e.EncodeToString([]byte(`{"alg":"none"}`)) + "." + e.EncodeToString(random) + "." + e.EncodeToString(random[:32])
	if p := pack(tok); p[0] != packedJWS {
		t.Errorf("an incompressible payload: packed in form %d, want %d", p[0], packedJWS)
	}
}

// The dictionary of packedJWSDeflate is part of the stored format: tokens
// compressed with it must open after an upgrade.
func TestJWSDictUnchanged(t *testing.T) {
	const want = "8fb2d704fed4681441b1198917b44641b79a7ee524f1ec4216975ce951bf2ef5"
	if got := fmt.Sprintf("%x", sha256.Sum256([]byte(jwsDict))); got != want {
		t.Errorf("jwsDict changed (sha256 %s, want %s): sealed tokens in stores would no longer open; add a new packed form instead", got, want)
	}
}

// unpack of a value that was not made by pack (tampered lengths, truncated or
// trailing compressed data, a stream longer than its lengths) fails.
func TestUnpackRejectsMalformed(t *testing.T) {
	good := pack(keycloakIDToken(t))
	if good[0] != packedJWSDeflate {
		t.Fatalf("form %d", good[0])
	}
	rest := good[1:]
	var lens [3]uint64
	var hdrEnd int
	for i := range lens {
		n, k := binary.Uvarint(rest[hdrEnd:])
		lens[i] = n
		hdrEnd += k
	}
	frame := func(l0, l1, l2 uint64, body []byte) []byte {
		out := []byte{packedJWSDeflate}
		out = binary.AppendUvarint(out, l0)
		out = binary.AppendUvarint(out, l1)
		out = binary.AppendUvarint(out, l2)
		return append(out, body...)
	}
	body := rest[hdrEnd:]
	for name, b := range map[string][]byte{
		"payload longer than the stream":     frame(lens[0], lens[1]+1, lens[2], body),
		"payload shorter than the stream":    frame(lens[0], lens[1]-1, lens[2], body),
		"compressed length beyond the value": frame(lens[0], lens[1], uint64(len(body))+1, body),
		"compressed data cut short":          frame(lens[0], lens[1], lens[2]-5, body),
		"lengths over the bound":             frame(maxDeflated, 1, lens[2], body),
		"no lengths":                         {packedJWSDeflate},
		"unknown form":                       {3, 'x'},
	} {
		if got, err := unpack(b); err == nil {
			t.Errorf("%s: unpacked as %.40q", name, got)
		}
	}
}

func keycloakIDToken(t testing.TB) string {
	return testJWS(t, `{"alg":"RS256","typ":"JWT","kid":"kSCi0hKqYWvYmvY9yV_Tz0-nNHDqZfW2m2Y2h5mXQ1c"}`,
		`{"exp":1764758400,"iat":1764758100,"auth_time":1764758099,"jti":"4b1b9a3e-8f61-4a2b-9a6c-2c3f9d0b7e11","iss":"https://sso.corp.example/realms/staff","aud":"access-gateway","sub":"f1c2d3e4-5a6b-7c8d-9e0f-1a2b3c4d5e6f","typ":"ID","azp":"access-gateway","nonce":"Zr5cM2rYp0sQyG8nW1xK3vT6uA9bD4eF","sid":"7a6b5c4d-3e2f-1a0b-9c8d-7e6f5a4b3c2d","at_hash":"x3K9pQ2rS7tU1vW5yZ8aBc","acr":"1","email_verified":true,"realm_access":{"roles":["support","default-roles-staff","offline_access","uma_authorization"]},"name":"Alice Example","preferred_username":"alice","given_name":"Alice","family_name":"Example","email":"alice@corp.example"}`,
		256)
}

func keycloakRefreshToken(t testing.TB) string {
	return testJWS(t, `{"alg":"HS512","typ":"JWT","kid":"0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5"}`,
		`{"exp":1764759900,"iat":1764758100,"jti":"9e8d7c6b-5a4f-3e2d-1c0b-a9f8e7d6c5b4","iss":"https://sso.corp.example/realms/staff","aud":"https://sso.corp.example/realms/staff","sub":"f1c2d3e4-5a6b-7c8d-9e0f-1a2b3c4d5e6f","typ":"Refresh","azp":"access-gateway","nonce":"Zr5cM2rYp0sQyG8nW1xK3vT6uA9bD4eF","sid":"7a6b5c4d-3e2f-1a0b-9c8d-7e6f5a4b3c2d","scope":"openid profile email roles basic web-origins acr"}`,
		64)
}

// testJWS is a JWS of hdr and payload with a random signature of sig bytes
// (its bytes do not compress, as a real signature's do not).
func testJWS(t testing.TB, hdr, payload string, sig int) string {
	t.Helper()
	b := make([]byte, sig)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	e := base64.RawURLEncoding
	return e.EncodeToString([]byte(hdr)) + "." + e.EncodeToString([]byte(payload)) + "." + e.EncodeToString(b)
}

// FuzzUnpack: any bytes (what an AEAD opened is always pack's, but unpack
// does not rely on it) give a token or an error, never a panic, and inflate
// at most maxDeflated bytes.
func FuzzUnpack(f *testing.F) {
	for _, s := range []string{"", "a.b.c", "eyJ9.e30.AA", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwic3ViIjoiMSJ9.AAAA"} {
		f.Add(pack(s))
	}
	f.Add([]byte{packedJWSDeflate, 0x80, 0x80, 0x04, 1, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, err := unpack(b); err == nil && len(got) > 2*maxDeflated+4*len(b) {
			t.Fatalf("unpacked %d bytes from %d", len(got), len(b))
		}
	})
}

// FuzzPack: every token comes back from pack as it went in.
func FuzzPack(f *testing.F) {
	for _, s := range []string{"", "a.b.c", "eyJ9.e30.AA", "eyJ9.e30.AB", "x", "a..", "...."} {
		f.Add(s)
	}
	f.Add(keycloakIDToken(f))
	f.Fuzz(func(t *testing.T, s string) {
		got, err := unpack(pack(s))
		if err != nil || got != s {
			t.Fatalf("unpack(pack(%q)) = %q, %v", s, got, err)
		}
	})
}

// BenchmarkSeal: sealing a session's tokens, at every sign-in and refresh.
func BenchmarkSeal(b *testing.B) {
	kr := EphemeralKeyring()
	tok := keycloakIDToken(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.open(kr.seal(tok, "aad"), "aad"); err != nil {
			b.Fatal(err)
		}
	}
}
