package auth

import (
	"bytes"
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
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
	packedRaw        = 0 // the token's bytes
	packedJWS        = 1 // a JWS compact serialization, its three parts decoded
	packedJWSDeflate = 2 // the same, header and payload compressed (DEFLATE with jwsDict)
)

// maxDeflated bounds the header and payload of a token packed compressed
// (and so what unpack inflates): far above any ID or refresh token.
const maxDeflated = 64 << 10

// pack encodes a token compactly for sealing. A JWS in compact form (ID
// tokens, and the refresh tokens of many providers) is stored as its three
// decoded parts, a quarter smaller than its base64url text (which sealing
// would encode once more), with its header and payload compressed when that
// is smaller still: their JSON is mostly claim names and issuer URLs, which
// jwsDict holds, so a Keycloak ID token's 707 bytes of header and payload
// take ~350. The signature is stored as it is. Anything else is stored as it
// is. unpack(pack(t)) is t for every t.
//
// Compressing before encrypting reveals something about the plaintext
// through the ciphertext's length only to whoever sees many lengths of
// values that mix a secret with text they choose. Here each token is
// compressed alone, and only the store's readers see its length.
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
			if z := deflateJWS(parts[0], parts[1], parts[2]); z != nil {
				return z
			}
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

// dictBytes is jwsDict for flate, which copies it and never writes to it.
var dictBytes = []byte(jwsDict)

// deflaters are compressors primed with jwsDict (each holds ~700 KB of
// tables: a session is sealed at every sign-in and refresh).
var deflaters = sync.Pool{New: func() any {
	w, err := flate.NewWriterDict(io.Discard, flate.BestCompression, dictBytes)
	if err != nil {
		panic("auth: " + err.Error()) // only for an invalid level
	}
	return w
}}

// inflaters are decompressors for unpack (each holds a 32 KiB window).
var inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// deflateJWS returns the packedJWSDeflate form of a JWS's decoded header
// and payload followed by sig: 2, uvarint len(header), uvarint
// len(payload), uvarint len(compressed), compressed, signature. It returns
// nil when that is not smaller than the packedJWS form.
func deflateJWS(hdr, payload, sig []byte) []byte {
	n := len(hdr) + len(payload)
	if n > maxDeflated {
		return nil
	}
	var z bytes.Buffer
	w := deflaters.Get().(*flate.Writer)
	w.Reset(&z)
	_, err1 := w.Write(hdr)
	_, err2 := w.Write(payload)
	err3 := w.Close()
	w.Reset(io.Discard) // hold no reference to z in the pool
	deflaters.Put(w)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil // writes to a bytes.Buffer do not fail
	}
	out := make([]byte, 0, 1+3*binary.MaxVarintLen64+z.Len()+len(sig))
	out = append(out, packedJWSDeflate)
	out = binary.AppendUvarint(out, uint64(len(hdr)))
	out = binary.AppendUvarint(out, uint64(len(payload)))
	out = binary.AppendUvarint(out, uint64(z.Len()))
	out = append(out, z.Bytes()...)
	if plain := 1 + uvarintLen(len(hdr)) + uvarintLen(len(payload)) + n; len(out) >= plain {
		return nil
	}
	return append(out, sig...)
}

func uvarintLen(n int) int { return len(binary.AppendUvarint(nil, uint64(n))) }

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
	case packedJWSDeflate:
		rest := b[1:]
		var lens [3]uint64
		for i := range lens {
			n, k := binary.Uvarint(rest)
			if k <= 0 {
				return "", errors.New("malformed packed token")
			}
			lens[i], rest = n, rest[k:]
		}
		if lens[0] > maxDeflated || lens[1] > maxDeflated-lens[0] || lens[2] > uint64(len(rest)) {
			return "", errors.New("malformed packed token")
		}
		plain := make([]byte, lens[0]+lens[1])
		r := inflaters.Get().(io.ReadCloser)
		defer func() {
			_ = r.(flate.Resetter).Reset(bytes.NewReader(nil), nil) // hold no reference to b in the pool
			inflaters.Put(r)
		}()
		if err := r.(flate.Resetter).Reset(bytes.NewReader(rest[:lens[2]]), dictBytes); err != nil {
			return "", fmt.Errorf("malformed packed token: %w", err)
		}
		if _, err := io.ReadFull(r, plain); err != nil {
			return "", fmt.Errorf("malformed packed token: %w", err)
		}
		// The stream ends exactly there.
		if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			return "", errors.New("malformed packed token: longer than its lengths")
		}
		e := base64.RawURLEncoding
		return e.EncodeToString(plain[:lens[0]]) + "." + e.EncodeToString(plain[lens[0]:]) + "." + e.EncodeToString(rest[lens[2]:]), nil
	}
	return "", fmt.Errorf("unknown packed form %d", b[0])
}

// jwsDict primes the compression of a JWS's header and payload (pack): the
// header shapes and claim names of common OpenID providers (Keycloak, Okta,
// Entra ID, Google, Auth0, Dex, Zitadel), the most frequent last. Never
// change it: tokens sealed with it are in the store (TestJWSDictUnchanged);
// a new dictionary needs a new packed form.
const jwsDict = `"urn:zitadel:iam:org:project:roles":{"federated_claims":{"connector_id":"","user_id":"` +
	`"https://login.microsoftonline.com/","/v2.0","ver":"2.0","ver":"1.0","tid":"","oid":"","uti":"","rh":"","idp":"","ipaddr":"","unique_name":"","upn":"","xms_` +
	`"https://accounts.google.com","hd":"","picture":"https://lh3.googleusercontent.com/a/","locale":"en","zoneinfo":"","updated_at":` +
	`"https://","/oauth2/default","cid":"","uid":"","org_id":"","ext":{` +
	`"scope":"openid profile email offline_access groups","amr":["pwd"],"amr":["pwd","mfa"],"acr":"0","acr":"1","c_hash":"","s_hash":"","at_hash":"","session_state":"",` +
	`"resource_access":{"account":{"roles":["manage-account","manage-account-links","view-profile"]}},"realm_access":{"roles":["offline_access","uma_authorization","default-roles-` +
	`"typ":"Offline","typ":"Refresh","typ":"Bearer","typ":"ID","/realms/",` +
	`{"alg":"PS256","kid":"{"alg":"EdDSA","kid":"{"alg":"HS256","typ":"JWT","kid":"{"alg":"HS512","typ":"JWT","kid":"{"alg":"ES256","typ":"JWT","kid":"` +
	`{"typ":"JWT","alg":"RS256","kid":"{"alg":"RS256","kid":"","typ":"JWT"}{"alg":"RS256","typ":"JWT","x5t":"","kid":"` +
	`{"alg":"RS256","typ":"JWT","kid":"` +
	`"groups":["roles":["name":"","given_name":"","family_name":"","preferred_username":"","email":"","email_verified":true,"email_verified":false,` +
	`"nonce":"","sid":"","jti":"","azp":"","auth_time":1,"nbf":1,"aud":["","aud":"","sub":"","iss":"https://","exp":1,"iat":1`

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
