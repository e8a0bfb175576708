// Package contexttokentest is a fake gateway for the tests of tools behind
// the access gateway: it signs context tokens like the gateway does (ES256,
// the same header and claims) and serves their key set from an
// httptest.Server, so that a tool can test its handlers, wrapped in
// contexttoken.Middleware, without running the gateway.
//
//	func TestWiki(t *testing.T) {
//		gw := contexttokentest.NewIssuer(t)
//		v := gw.Verifier(t, "https://wiki.internal.example.com")
//		h := contexttoken.Middleware(v, "")(wiki.Handler())
//
//		req := httptest.NewRequest("GET", "/page", nil)
//		gw.Sign(t, req, contexttoken.Claims{
//			Audience: contexttoken.Audience{"https://wiki.internal.example.com"},
//			Subject:  "u1", Email: "ada@example.com", Groups: []string{"eng"},
//		})
//		rec := httptest.NewRecorder()
//		h.ServeHTTP(rec, req)
//		...
//	}
//
// Unlike the gateway, Mint keeps the iss, iat, nbf, exp and jti the caller
// sets, so that tests can build expired, not-yet-valid or foreign tokens;
// it fills only those left zero. It is for tests only: the key is generated
// in memory and the server is plain http on loopback.
package contexttokentest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/accessgateway/gateway/contexttoken"
)

// JWKSPath is where the fake gateway serves its key set, as the gateway does.
const JWKSPath = "/.well-known/gateway/jwks.json"

// Issuer is a fake gateway: a signing key and a server publishing it.
type Issuer struct {
	// URL is the issuer (iss) and the server's base URL.
	URL string
	// JWKSURL is URL + JWKSPath.
	JWKSURL string
	// KeyID is the kid of the signing key (its RFC 7638 thumbprint).
	KeyID string
	// Now is the clock Mint uses for the fields it fills. Default time.Now.
	Now func() time.Time

	server *httptest.Server
	signer jose.Signer
	jwks   []byte
}

// NewIssuer starts a fake gateway with a new ES256 key; it stops when the
// test ends.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: contexttoken.ES256, Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: pub.KeyID}},
		(&jose.SignerOptions{}).WithType(contexttoken.Type))
	if err != nil {
		t.Fatal(err)
	}
	i := &Issuer{KeyID: pub.KeyID, Now: time.Now, signer: signer, jwks: jwks}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+JWKSPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(i.jwks)
	})
	i.server = httptest.NewServer(mux)
	t.Cleanup(i.server.Close)
	i.URL = i.server.URL
	i.JWKSURL = i.server.URL + JWKSPath
	return i
}

// Config returns a verifier configuration for this issuer accepting
// audiences.
func (i *Issuer) Config(audiences ...string) contexttoken.Config {
	return contexttoken.Config{JWKSURL: i.JWKSURL, Issuer: i.URL, Audiences: audiences, HTTPClient: i.server.Client()}
}

// Verifier returns a verifier for this issuer accepting audiences.
func (i *Issuer) Verifier(t testing.TB, audiences ...string) *contexttoken.Verifier {
	t.Helper()
	v, err := contexttoken.NewVerifier(context.Background(), i.Config(audiences...))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Mint signs c. It fills iss (the issuer's URL), iat and nbf (now), exp
// (now + 5 minutes) and jti (random) when the caller left them zero.
func (i *Issuer) Mint(t testing.TB, c contexttoken.Claims) string {
	t.Helper()
	now := i.Now()
	if c.Issuer == "" {
		c.Issuer = i.URL
	}
	if c.IssuedAt == 0 {
		c.IssuedAt = contexttoken.NewNumericDate(now)
	}
	if c.NotBefore == 0 {
		c.NotBefore = c.IssuedAt
	}
	if c.Expiry == 0 {
		c.Expiry = contexttoken.NewNumericDate(now.Add(5 * time.Minute))
	}
	if c.ID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		c.ID = base64.RawURLEncoding.EncodeToString(b[:])
	}
	payload, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := i.signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Sign mints a token for c and sets it on req in contexttoken.DefaultHeader.
func (i *Issuer) Sign(t testing.TB, req *http.Request, c contexttoken.Claims) {
	t.Helper()
	req.Header.Set(contexttoken.DefaultHeader, i.Mint(t, c))
}
