package contexttoken_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/token"
)

// verifyCase is one row of the verification table.
type verifyCase struct {
	name    string
	token   string
	now     time.Time // verifier clock; zero means t0
	config  func(*contexttoken.Config)
	wantErr error // nil: valid
}

func (tc verifyCase) run(t *testing.T, keys jose.JSONWebKeySet) {
	t.Helper()
	now := tc.now
	if now.IsZero() {
		now = t0
	}
	cfg := contexttoken.Config{Issuer: issuer, Audiences: []string{aud}, Now: func() time.Time { return now }}
	if tc.config != nil {
		tc.config(&cfg)
	}
	v, err := contexttoken.NewStaticVerifier(cfg, keys)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), tc.token)
	if tc.wantErr == nil {
		if err != nil {
			t.Fatalf("Verify: unexpected error %v", err)
		}
		if c.Subject != "00u1abcd" || c.Issuer != issuer || c.ID == "" {
			t.Fatalf("Verify: unexpected claims %+v", c)
		}
		return
	}
	if testing.Verbose() {
		t.Logf("error: %v", err)
	}
	if !errors.Is(err, tc.wantErr) {
		t.Fatalf("Verify: expected error %v, got %v", tc.wantErr, err)
	}
	if c != nil {
		t.Fatalf("Verify: expected no claims with an error, got %+v", c)
	}
	if !strings.HasPrefix(err.Error(), "contexttoken: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}

// segments splits a compact JWS.
func segments(t *testing.T, tok string) [3]string {
	t.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		t.Fatalf("expected 3 segments, got %d", len(p))
	}
	return [3]string{p[0], p[1], p[2]}
}

func b64json(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeSeg(t *testing.T, seg string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// signRaw signs payload with go-jose using an arbitrary algorithm and key,
// for forged tokens.
func signRaw(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, payload []byte) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(contexttoken.Type).WithHeader(jose.HeaderKey("kid"), kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerify(t *testing.T) {
	clk := newClock(t0)
	active := keyFile(t, contexttoken.ES256)
	s := newSigner(t, clk.Now, contexttoken.ES256, token.KeyConfig{File: active, State: token.StateActive})
	keys := s.PublicKeys()
	// An EdDSA key too, so that an EdDSA-only verifier can be built.
	ed := newSigner(t, clk.Now, contexttoken.EdDSA, token.KeyConfig{File: keyFile(t, contexttoken.EdDSA), State: token.StateActive})
	keys.Keys = append(keys.Keys, ed.PublicKeys().Keys...)
	good := mint(t, s, claims()) // iat = nbf = t0, exp = t0+5m

	otherAud := claims()
	otherAud.Audience = contexttoken.Audience{"https://other.internal.example.com"}
	twoAud := claims()
	twoAud.Audience = contexttoken.Audience{"https://x.example.com", aud}

	wrongIss := newSignerIssuer(t, clk.Now, active, "https://evil.example.com")

	// Tampered: same header and signature, payload with another subject.
	seg := segments(t, good)
	p := decodeSeg(t, seg[1])
	p["sub"] = "00u-admin"
	tampered := seg[0] + "." + b64json(t, p) + "." + seg[2]

	// alg none, with and without a signature segment.
	noneHdr := b64json(t, map[string]any{"alg": "none", "typ": contexttoken.Type, "kid": s.KeyID()})
	algNone := noneHdr + "." + seg[1] + "."
	algNoneSig := noneHdr + "." + seg[1] + "." + seg[2]

	// HS256 keyed with the public key (the classic key-confusion attack),
	// with the key in each form a confused verifier might use.
	payload, _ := base64.RawURLEncoding.DecodeString(seg[1])
	pubJWK, _ := json.Marshal(keys.Keys[0])
	pubDER, _ := x509.MarshalPKIXPublicKey(keys.Keys[0].Key)
	hsJWK := signRaw(t, jose.HS256, pubJWK, s.KeyID(), payload)
	hsDER := signRaw(t, jose.HS256, pubDER, s.KeyID(), payload)

	// Signed by a key the set does not hold, under its own kid and under the
	// active key's kid.
	stranger := newSigner(t, clk.Now, contexttoken.ES256, token.KeyConfig{File: keyFile(t, contexttoken.ES256), State: token.StateActive})
	unknownKid := mint(t, stranger, claims())
	sseg := segments(t, unknownKid)
	h := decodeSeg(t, sseg[0])
	h["kid"] = s.KeyID()
	stolenKid := b64json(t, h) + "." + sseg[1] + "." + sseg[2]
	// Re-signed with the stranger key but with the kid header rewritten: the
	// header is covered by the signature, so rewriting alone breaks it, and
	// signing properly with the wrong key under the right kid must fail too.
	strangerFile := keyFile(t, contexttoken.ES256)
	forgedKid := signRaw(t, jose.ES256, readPriv(t, strangerFile), s.KeyID(), payload)

	noTyp := func() string {
		hh := decodeSeg(t, seg[0])
		delete(hh, "typ")
		return b64json(t, hh) + "." + seg[1] + "." + seg[2]
	}()
	activePriv := readPriv(t, active)
	wrongTyp := func() string {
		opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), s.KeyID())
		js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: activePriv}, opts)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := js.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := obj.CompactSerialize()
		return out
	}()
	// A payload without sub, properly signed (Mint refuses to make one).
	np := decodeSeg(t, seg[1])
	delete(np, "sub")
	npb, _ := json.Marshal(np)
	noSubTok := signRaw(t, jose.ES256, activePriv, s.KeyID(), npb)
	// exp missing.
	ne := decodeSeg(t, seg[1])
	delete(ne, "exp")
	neb, _ := json.Marshal(ne)
	noExpTok := signRaw(t, jose.ES256, activePriv, s.KeyID(), neb)
	// Correctly signed, but a NumericDate is a JSON string: the doc says a
	// number, and a string must never be read as one (every NumericDate).
	stringDate := func(path ...string) string {
		m := decodeSeg(t, seg[1])
		obj := m
		for _, k := range path[:len(path)-1] {
			obj = obj[k].(map[string]any)
		}
		last := path[len(path)-1]
		obj[last] = strconv.FormatInt(int64(obj[last].(float64)), 10)
		b, _ := json.Marshal(m)
		return signRaw(t, jose.ES256, activePriv, s.KeyID(), b)
	}
	// Correctly signed but the JSON is not a claim set.
	notJSON := signRaw(t, jose.ES256, activePriv, s.KeyID(), []byte("[1,2]"))

	eddsaOnly := func(c *contexttoken.Config) { c.Algorithms = []string{contexttoken.EdDSA} }
	twoAudiences := func(c *contexttoken.Config) { c.Audiences = []string{"https://x.example.com", aud} }

	cases := []verifyCase{
		{name: "valid", token: good},
		{name: "valid at exp minus one second", token: good, now: t0.Add(5*time.Minute - time.Second)},
		{name: "valid within leeway after exp", token: good, now: t0.Add(5*time.Minute + 29*time.Second)},
		{name: "expired at exp plus leeway", token: good, now: t0.Add(5*time.Minute + 30*time.Second), wantErr: contexttoken.ErrExpired},
		{name: "expired long ago", token: good, now: t0.Add(24 * time.Hour), wantErr: contexttoken.ErrExpired},
		{name: "valid within leeway before nbf", token: good, now: t0.Add(-30 * time.Second)},
		{name: "not yet valid", token: good, now: t0.Add(-31 * time.Second), wantErr: contexttoken.ErrNotYetValid},
		{name: "wrong audience", token: mint(t, s, otherAud), wantErr: contexttoken.ErrAudience},
		{name: "one of two token audiences accepted", token: mint(t, s, twoAud)},
		{name: "one of two accepted audiences", token: good, config: twoAudiences},
		{name: "wrong issuer", token: mint(t, wrongIss, claims()), wantErr: contexttoken.ErrIssuer},
		{name: "tampered payload", token: tampered, wantErr: contexttoken.ErrSignature},
		{name: "alg none without signature", token: algNone, wantErr: contexttoken.ErrAlgorithm},
		{name: "alg none with signature", token: algNoneSig, wantErr: contexttoken.ErrAlgorithm},
		{name: "HS256 keyed with the public JWK", token: hsJWK, wantErr: contexttoken.ErrAlgorithm},
		{name: "HS256 keyed with the public key DER", token: hsDER, wantErr: contexttoken.ErrAlgorithm},
		{name: "ES256 not in allow-list", token: good, config: eddsaOnly, wantErr: contexttoken.ErrAlgorithm},
		{name: "unknown kid", token: unknownKid, wantErr: contexttoken.ErrUnknownKey},
		{name: "header kid rewritten", token: stolenKid, wantErr: contexttoken.ErrSignature},
		{name: "signed by another key under the active kid", token: forgedKid, wantErr: contexttoken.ErrSignature},
		{name: "missing typ", token: noTyp, wantErr: contexttoken.ErrMalformed},
		{name: "wrong typ", token: wrongTyp, wantErr: contexttoken.ErrMalformed},
		{name: "no subject", token: noSubTok, wantErr: contexttoken.ErrMalformed},
		{name: "no exp", token: noExpTok, wantErr: contexttoken.ErrMalformed},
		{name: "payload not a claim set", token: notJSON, wantErr: contexttoken.ErrMalformed},
		{name: "exp as a string", token: stringDate("exp"), wantErr: contexttoken.ErrMalformed},
		{name: "nbf as a string", token: stringDate("nbf"), wantErr: contexttoken.ErrMalformed},
		{name: "iat as a string", token: stringDate("iat"), wantErr: contexttoken.ErrMalformed},
		{name: "device attested_at as a string", token: stringDate("device", "attested_at"), wantErr: contexttoken.ErrMalformed},
		{name: "empty", token: "", wantErr: contexttoken.ErrMalformed},
		{name: "garbage", token: "not.a.token", wantErr: contexttoken.ErrMalformed},
		{name: "two segments", token: seg[0] + "." + seg[1], wantErr: contexttoken.ErrMalformed},
		{name: "too long", token: good + strings.Repeat("A", contexttoken.MaxTokenSize), wantErr: contexttoken.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, keys) })
	}
}
