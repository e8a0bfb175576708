package auth

import (
	"encoding/base64"
	"errors"
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
	// A value of version 1: the plaintext sealed as it is.
	aead := kr.aeads[kr.active]
	nonce := make([]byte, aead.NonceSize())
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

// FuzzPack: every token comes back from pack as it went in.
func FuzzPack(f *testing.F) {
	for _, s := range []string{"", "a.b.c", "eyJ9.e30.AA", "eyJ9.e30.AB", "x", "a..", "...."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := unpack(pack(s))
		if err != nil || got != s {
			t.Fatalf("unpack(pack(%q)) = %q, %v", s, got, err)
		}
	})
}
