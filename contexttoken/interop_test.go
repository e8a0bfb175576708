package contexttoken_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/token"
)

// TestInterop checks that tokens and the JWKS are standard: they verify with
// go-jose's jwt package directly, with go-oidc's remote key set and ID token
// verifier, and with nothing but the standard library's crypto (which
// rebuilds the public key from the JWKS JSON by hand and checks RFC 7515's
// signing input), for each algorithm the gateway can sign with.
func TestInterop(t *testing.T) {
	for _, alg := range []string{contexttoken.ES256, contexttoken.EdDSA, contexttoken.RS256} {
		t.Run(alg, func(t *testing.T) {
			// Real time: go-oidc's remote key set has no injectable clock.
			s, err := token.NewSigner(token.Config{Algorithm: alg, Keys: []token.KeyConfig{{File: keyFile(t, alg), State: token.StateActive}}}, issuer)
			if err != nil {
				t.Fatal(err)
			}
			js := newJWKSServer(t, s)
			tok, err := s.Mint(claims(), time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			t.Run("go-jose", func(t *testing.T) { verifyGoJose(t, js, alg, tok) })
			t.Run("go-oidc", func(t *testing.T) { verifyGoOIDC(t, js, alg, tok) })
			t.Run("stdlib", func(t *testing.T) { verifyStdlib(t, js, alg, tok) })
		})
	}
}

func fetchJWKS(t *testing.T, js *jwksServer) []byte {
	t.Helper()
	resp, err := js.Client().Get(js.url())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("JWKS: expected 200, got %d", resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func verifyGoJose(t *testing.T, js *jwksServer, alg, tok string) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(fetchJWKS(t, js), &set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("expected one key for kid %q, got %d", parsed.Headers[0].KeyID, len(keys))
	}
	var std jwt.Claims
	var ours contexttoken.Claims
	if err := parsed.Claims(keys[0].Key, &std, &ours); err != nil {
		t.Fatal(err)
	}
	if err := std.Validate(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{aud}}); err != nil {
		t.Fatal(err)
	}
	if ours.Email != "ada@example.com" || ours.Device == nil || ours.Device.Trust != "tpm-attested" {
		t.Fatalf("unexpected claims %+v", ours)
	}
}

func verifyGoOIDC(t *testing.T, js *jwksServer, alg, tok string) {
	ctx := oidc.ClientContext(context.Background(), js.Client())
	ks := oidc.NewRemoteKeySet(ctx, js.url())
	payload, err := ks.VerifySignature(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(payload), `"sub":"00u1abcd"`) {
		t.Fatalf("unexpected payload %s", payload)
	}
	v := oidc.NewVerifier(issuer, ks, &oidc.Config{ClientID: aud, SupportedSigningAlgs: []string{alg}})
	idt, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if idt.Subject != "00u1abcd" || idt.Audience[0] != aud {
		t.Fatalf("unexpected token %+v", idt)
	}
}

// verifyStdlib verifies tok against the JWKS using only encoding/json,
// encoding/base64 and crypto/*.
func verifyStdlib(t *testing.T, js *jwksServer, alg, tok string) {
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(fetchJWKS(t, js), &set); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("expected a compact JWS, got %d parts", len(parts))
	}
	var hdr map[string]string
	if err := json.Unmarshal(b64(t, parts[0]), &hdr); err != nil {
		t.Fatal(err)
	}
	if hdr["alg"] != alg || hdr["typ"] != contexttoken.Type || hdr["kid"] == "" {
		t.Fatalf("unexpected header %v", hdr)
	}
	var jwk map[string]string
	for _, k := range set.Keys {
		if k["kid"] == hdr["kid"] {
			jwk = k
		}
	}
	if jwk == nil {
		t.Fatalf("kid %q not in the JWKS", hdr["kid"])
	}
	if jwk["use"] != "sig" || jwk["alg"] != alg || jwk["d"] != "" {
		t.Fatalf("unexpected JWK %v", jwk)
	}
	input := []byte(parts[0] + "." + parts[1])
	sig := b64(t, parts[2])
	digest := sha256.Sum256(input)
	ok := false
	switch alg {
	case contexttoken.ES256:
		if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
			t.Fatalf("expected an EC P-256 key, got %v", jwk)
		}
		x, y := new(big.Int).SetBytes(b64(t, jwk["x"])), new(big.Int).SetBytes(b64(t, jwk["y"]))
		pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}
		if len(sig) != 64 {
			t.Fatalf("expected a 64-byte r||s signature, got %d bytes", len(sig))
		}
		ok = ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	case contexttoken.EdDSA:
		if jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" {
			t.Fatalf("expected an OKP Ed25519 key, got %v", jwk)
		}
		ok = ed25519.Verify(ed25519.PublicKey(b64(t, jwk["x"])), input, sig)
	case contexttoken.RS256:
		if jwk["kty"] != "RSA" {
			t.Fatalf("expected an RSA key, got %v", jwk)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(b64(t, jwk["n"])), E: int(new(big.Int).SetBytes(b64(t, jwk["e"])).Int64())}
		ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil
	}
	if !ok {
		t.Fatal("signature does not verify with the standard library")
	}
	// RFC 7638 thumbprint as kid, computed by hand.
	var members string
	switch jwk["kty"] {
	case "EC":
		members = `{"crv":"` + jwk["crv"] + `","kty":"EC","x":"` + jwk["x"] + `","y":"` + jwk["y"] + `"}`
	case "OKP":
		members = `{"crv":"` + jwk["crv"] + `","kty":"OKP","x":"` + jwk["x"] + `"}`
	case "RSA":
		members = `{"e":"` + jwk["e"] + `","kty":"RSA","n":"` + jwk["n"] + `"}`
	}
	tp := sha256.Sum256([]byte(members))
	if want := base64.RawURLEncoding.EncodeToString(tp[:]); jwk["kid"] != want {
		t.Fatalf("kid: expected the RFC 7638 thumbprint %q, got %q", want, jwk["kid"])
	}
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
