package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Key states of session encryption keys (the same words as the context
// token's signing keys).
const (
	KeyActive  = "active"
	KeyNext    = "next"
	KeyRetired = "retired"
)

// KeySize is the size of a session encryption key: AES-256.
const KeySize = 32

// KeyConfig is one entry of `session.encryption_keys`: a 256-bit AES key,
// base64-encoded, read from a file or given inline (use ${ENV}).
//
//	session:
//	  encryption_keys:
//	    - {file: keys/session-2026-11.key, state: active}
//	    - {key: ${SESSION_KEY_2026_10}, state: retired}
//
// The active key encrypts; every listed key decrypts. "next" is a key
// rolled out to every replica before it is made active, so that no replica
// meets a token it cannot open; "retired" keeps opening tokens sealed before
// a rotation until those sessions end.
type KeyConfig struct {
	// File holds the base64 key (`gateway keys generate --session`).
	File string `yaml:"file" json:"file,omitempty"`
	// Key is the base64 key itself; use ${ENV}, never a literal.
	Key string `yaml:"key" json:"-"`
	// State is active, next or retired.
	State string `yaml:"state" json:"state"`
}

// LogValue never shows the key.
func (k KeyConfig) LogValue() slog.Value {
	v := ""
	if k.Key != "" {
		v = "REDACTED"
	}
	return slog.GroupValue(slog.String("file", k.File), slog.String("key", v), slog.String("state", k.State))
}

// String never shows the key.
func (k KeyConfig) String() string {
	v := ""
	if k.Key != "" {
		v = "REDACTED"
	}
	return fmt.Sprintf("{file:%s key:%s state:%s}", k.File, v, k.State)
}

// material reads and decodes the key.
func (k KeyConfig) material() ([]byte, error) {
	src := k.Key
	if k.File != "" {
		b, err := os.ReadFile(k.File)
		if err != nil {
			return nil, err
		}
		src = string(b)
	}
	return DecodeKey(src)
}

// DecodeKey decodes a base64 (standard or URL alphabet, padded or not)
// 256-bit key, ignoring surrounding whitespace.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("expected %d bytes of base64 key, got %d", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("expected a base64 %d-byte key, got %d characters that are not base64", KeySize, len(s))
}

// NewKey returns a new random key, base64-encoded (what `gateway keys
// generate --session` writes).
func NewKey() string {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(b)
}

// ValidateKeys checks a list of key entries without reading key files (as
// for the context token's keys, files are read when the gateway starts);
// inline keys are decoded. Every problem carries its path below the list
// ("[1].key: ...").
func ValidateKeys(keys []KeyConfig) []error {
	var errs []error
	active := 0
	for i, k := range keys {
		p := fmt.Sprintf("[%d]", i)
		switch {
		case k.File != "" && k.Key != "":
			errs = append(errs, fmt.Errorf("%s: set file or key, not both", p))
		case k.File == "" && k.Key == "":
			errs = append(errs, fmt.Errorf("%s: set file (created by gateway keys generate --session --out FILE) or key (a base64 key from ${ENV})", p))
		case k.Key != "":
			if _, err := DecodeKey(k.Key); err != nil {
				errs = append(errs, fmt.Errorf("%s.key: %v", p, err))
			}
		}
		switch k.State {
		case KeyActive:
			active++
		case KeyNext, KeyRetired:
		default:
			errs = append(errs, fmt.Errorf("%s.state: expected active, next or retired, got %q", p, k.State))
		}
	}
	if len(keys) > 0 && active != 1 {
		errs = append(errs, fmt.Errorf(": expected exactly one key with state: active, got %d", active))
	}
	return errs
}

// Keyring seals and opens the tokens a session keeps (refresh and ID
// tokens) with AES-256-GCM. The active key seals; all keys open.
type Keyring struct {
	active string
	aeads  map[string]cipher.AEAD
}

// NewKeyring builds a keyring from validated key entries (reading files).
func NewKeyring(keys []KeyConfig) (*Keyring, error) {
	if errs := ValidateKeys(keys); len(errs) > 0 {
		return nil, fmt.Errorf("auth: session encryption keys%w", errors.Join(errs...))
	}
	if len(keys) == 0 {
		return nil, errors.New("auth: session encryption keys: expected at least one key, got none")
	}
	kr := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, k := range keys {
		m, err := k.material()
		if err != nil {
			return nil, fmt.Errorf("auth: session.encryption_keys[%d]: %w", i, err)
		}
		if _, dup := kr.aeads[keyID(m)]; dup {
			return nil, fmt.Errorf("auth: session.encryption_keys[%d]: the same key is listed twice", i)
		}
		id, err := kr.add(m)
		if err != nil {
			return nil, err
		}
		if k.State == KeyActive {
			kr.active = id
		}
	}
	return kr, nil
}

// EphemeralKeyring returns a keyring with one random key that lives only as
// long as this process: right for the in-memory store (whose sessions die
// with the process too) and for `gateway dev`.
func EphemeralKeyring() *Keyring {
	m, _ := DecodeKey(NewKey())
	kr := &Keyring{aeads: map[string]cipher.AEAD{}}
	kr.active, _ = kr.add(m)
	return kr
}

func (kr *Keyring) add(m []byte) (string, error) {
	block, err := aes.NewCipher(m)
	if err != nil {
		return "", fmt.Errorf("auth: session encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return "", fmt.Errorf("auth: session encryption key: %w", err)
	}
	id := keyID(m)
	kr.aeads[id] = aead
	return id, nil
}

// keyID names a key without revealing it: 8 hex digits of a hash.
func keyID(m []byte) string {
	h := sha256.Sum256(append([]byte("gateway session key\x00"), m...))
	return hex.EncodeToString(h[:4])
}

// sealPrefix starts every sealed value (format version 2); sealPrefixV1
// starts those of version 1, which open still reads.
const (
	sealPrefix   = "v2."
	sealPrefixV1 = "v1."
)

// ErrUnsealable means a sealed token cannot be opened: its key is no longer
// configured, or it was altered or moved to another session.
var ErrUnsealable = errors.New("auth: sealed token cannot be opened")

// seal encrypts plaintext bound to aad (the session's store key): the
// result cannot be opened under another session. Format:
// "v2.<key id>.<base64url(nonce || ciphertext || tag)>", the ciphertext of
// pack(plaintext), with "v2." before aad as its additional data. (Version 1
// sealed the plaintext as it is, under aad alone.)
func (kr *Keyring) seal(plaintext, aad string) string {
	aead := kr.aeads[kr.active]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+1+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	ct := aead.Seal(nonce, nonce, pack(plaintext), []byte(sealPrefix+aad))
	return sealPrefix + kr.active + "." + base64.RawURLEncoding.EncodeToString(ct)
}

// Packed forms of a token (the first byte of pack's output).
const (
	packedRaw = 0 // the token's bytes
	packedJWS = 1 // a JWS compact serialization, its three parts decoded
)

// pack encodes a token compactly for sealing: a JWS in compact form (ID
// tokens, and the refresh tokens of many providers) is stored as its three
// decoded parts, a quarter smaller than its base64url text, which sealing
// would encode once more. Anything else is stored as it is. unpack(pack(t))
// is t for every t.
func pack(tok string) []byte {
	h, rest, ok1 := strings.Cut(tok, ".")
	p, sig, ok2 := strings.Cut(rest, ".")
	if ok1 && ok2 && !strings.Contains(sig, ".") {
		var parts [3][]byte
		ok := true
		for i, seg := range []string{h, p, sig} {
			b, err := base64.RawURLEncoding.DecodeString(seg)
			// Only the canonical encoding round-trips: a segment with
			// non-zero padding bits is kept as text.
			if err != nil || base64.RawURLEncoding.EncodeToString(b) != seg {
				ok = false
				break
			}
			parts[i] = b
		}
		if ok {
			out := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(parts[0])+len(parts[1])+len(parts[2]))
			out = append(out, packedJWS)
			out = binary.AppendUvarint(out, uint64(len(parts[0])))
			out = append(out, parts[0]...)
			out = binary.AppendUvarint(out, uint64(len(parts[1])))
			out = append(out, parts[1]...)
			return append(out, parts[2]...)
		}
	}
	return append([]byte{packedRaw}, tok...)
}

// unpack reverses pack.
func unpack(b []byte) (string, error) {
	if len(b) == 0 {
		return "", errors.New("empty")
	}
	switch b[0] {
	case packedRaw:
		return string(b[1:]), nil
	case packedJWS:
		rest := b[1:]
		var segs [3]string
		for i := 0; i < 2; i++ {
			n, k := binary.Uvarint(rest)
			if k <= 0 || n > uint64(len(rest)-k) {
				return "", errors.New("malformed packed token")
			}
			segs[i] = base64.RawURLEncoding.EncodeToString(rest[k : k+int(n)])
			rest = rest[k+int(n):]
		}
		segs[2] = base64.RawURLEncoding.EncodeToString(rest)
		return segs[0] + "." + segs[1] + "." + segs[2], nil
	}
	return "", fmt.Errorf("unknown packed form %d", b[0])
}

// open decrypts a value made by seal with the same aad.
func (kr *Keyring) open(sealed, aad string) (string, error) {
	v1 := false
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		if rest, v1 = strings.CutPrefix(sealed, sealPrefixV1); !v1 {
			return "", fmt.Errorf("%w: expected the %q format, got another", ErrUnsealable, sealPrefix)
		}
	}
	id, b64, ok := strings.Cut(rest, ".")
	if !ok {
		return "", fmt.Errorf("%w: no key id", ErrUnsealable)
	}
	aead, ok := kr.aeads[id]
	if !ok {
		return "", fmt.Errorf("%w: key %s is not configured (rotated out?)", ErrUnsealable, id)
	}
	ct, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil || len(ct) < aead.NonceSize()+aead.Overhead() {
		return "", fmt.Errorf("%w: malformed ciphertext", ErrUnsealable)
	}
	// Version 2 binds the version too, so a value cannot be relabeled.
	bound := sealPrefix + aad
	if v1 {
		bound = aad
	}
	pt, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], []byte(bound))
	if err != nil {
		return "", fmt.Errorf("%w: authentication failed", ErrUnsealable)
	}
	if v1 {
		return string(pt), nil
	}
	tok, err := unpack(pt)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnsealable, err)
	}
	return tok, nil
}
