package audit

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/accessgateway/gateway/internal/token"
)

// readSigner reads the private key `gateway keys generate` wrote.
func readSigner(t *testing.T, path string) crypto.Signer {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}

// The lead's wiring: checkpoints signed with the context token's key, given
// its kid, verify against the JWKS the gateway serves and against the PEM
// file of the key, for each algorithm the token supports.
func TestCheckpointsVerifyWithTheGatewaysJWKSAndPEM(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			dir := t.TempDir()
			keyFile := filepath.Join(dir, "key.pem")
			kid, err := token.WriteKeyFile(keyFile, alg)
			if err != nil {
				t.Fatal(err)
			}
			signer, err := token.NewSigner(token.Config{Algorithm: alg, Keys: []token.KeyConfig{{File: keyFile, State: token.StateActive}}}, "https://gw.example")
			if err != nil {
				t.Fatal(err)
			}
			if signer.KeyID() != kid {
				t.Fatalf("kid %s vs %s", signer.KeyID(), kid)
			}
			srv := httptest.NewServer(signer.JWKSHandler())
			defer srv.Close()

			logFile := filepath.Join(dir, "audit.jsonl")
			os.WriteFile(logFile, []byte(writeChainWithKID(t, readSigner(t, keyFile), kid)), 0o600)

			fromURL, err := LoadJWKS(context.Background(), srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			jwksFile := filepath.Join(dir, "jwks.json")
			os.WriteFile(jwksFile, signer.JWKS(), 0o600)
			fromFile, err := LoadJWKS(context.Background(), jwksFile)
			if err != nil {
				t.Fatal(err)
			}
			fromPEM, err := LoadPEM(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			for name, ks := range map[string]*KeySet{"jwks url": fromURL, "jwks file": fromFile, "pem": fromPEM} {
				s, err := VerifyFiles([]string{logFile}, ks)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if s.Verified != s.Checkpoints || s.Verified == 0 || len(s.KeyIDs) != 1 || s.KeyIDs[0] != kid {
					t.Errorf("%s: summary %+v", name, s)
				}
			}
		})
	}
}

func writeChainWithKID(t *testing.T, s crypto.Signer, kid string) string {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	l, err := OpenOptions(Options{File: path, Signer: s, KeyID: kid, CheckpointEvery: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 7; i++ {
		l.Commit(context.Background(), Record{Kind: KindDecision})
	}
	l.Close()
	b, _ := os.ReadFile(path)
	return string(b)
}

func TestLoadKeysRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	priv := newKey(t)
	privJWK, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv, KeyID: "k"}}})
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallJWK, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &smallRSA.PublicKey, KeyID: "k"}}})
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	jwks := map[string]struct{ source, want string }{
		"private key in the set": {write("priv.json", string(privJWK)), "expected a public key"},
		"RSA key too small":      {write("small.json", string(smallJWK)), "at least 2048 bits"},
		"no keys":                {write("empty.json", `{"keys":[]}`), "at least one key"},
		"not JSON":               {write("x.json", `hello`), "expected a JSON Web Key Set"},
		"missing file":           {filepath.Join(dir, "nope.json"), "no such file"},
		"URL answers 404":        {notFound.URL, "expected status 200, got 404"},
	}
	for name, c := range jwks {
		t.Run("jwks/"+name, func(t *testing.T) {
			if _, err := LoadJWKS(context.Background(), c.source); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("LoadJWKS = %v, want %q", err, c.want)
			}
		})
	}
	der, _ := x509.MarshalPKIXPublicKey(priv.Public())
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	ed := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER}))
	pems := map[string]struct {
		body string
		keys int
		want string
	}{
		"public key":         {pub, 1, ""},
		"public and private": {pub + ed, 2, ""},
		"no PEM":             {"hello", 0, "got none"},
		"unknown block":      {string(pem.EncodeToMemory(&pem.Block{Type: "FOO", Bytes: []byte{1}})), 0, `got "FOO"`},
		"corrupt public key": {string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})), 0, "PEM block 1"},
	}
	for name, c := range pems {
		t.Run("pem/"+name, func(t *testing.T) {
			ks, err := LoadPEM(write(strings.ReplaceAll(name, " ", "_")+".pem", c.body))
			if c.want == "" {
				if err != nil || ks.Len() != c.keys {
					t.Fatalf("LoadPEM = %d keys, %v; want %d", ks.Len(), err, c.keys)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("LoadPEM = %v, want %q", err, c.want)
			}
		})
	}
}

// A checkpoint signature is bound to its type: a JWS of another kind made
// with the same key (a context token's header) does not pass.
func TestCheckpointSignatureNeedsItsType(t *testing.T) {
	key := newKey(t)
	ks, _ := NewKeySet(key.Public())
	kid, _ := thumbprint(key.Public())
	js, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	payload := checkpointPayload(7, []byte(zeroHash))
	obj, _ := js.Sign(payload)
	sig, _ := obj.DetachedCompactSerialize()
	if _, err := ks.verifyCheckpoint(sig, 7, zeroHash); err == nil || !strings.Contains(err.Error(), "typ") {
		t.Fatalf("verify a JWT-typed signature = %v, want a typ error", err)
	}
	cs, _ := newCheckpointSigner(key, "")
	good, _ := cs.sign(7, []byte(zeroHash))
	if _, err := ks.verifyCheckpoint(good, 7, zeroHash); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.verifyCheckpoint(good, 8, zeroHash); err == nil {
		t.Fatal("a signature verified for another seq")
	}
}

// The keys that make a forged log verify must not come over plain http
// (whoever is on the path could hand out their own key): a JWKS URL is
// https, or http on a loopback host only — the same rule as the context
// token's verifier — and a redirect is held to it too.
func TestLoadJWKSRefusesPlainHTTP(t *testing.T) {
	key := newKey(t)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k"}}})
	served := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(set) }))
	defer served.Close()
	redirect := func(to string) string {
		srv := httptest.NewServer(http.RedirectHandler(to, http.StatusFound))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	for name, source := range map[string]string{
		"http on another host":             "http://gw.example/.well-known/gateway/jwks.json",
		"http on an address":               "http://192.0.2.1/jwks.json",
		"redirect to http on another host": redirect("http://jwks.invalid/jwks.json"),
		"redirect to another scheme":       redirect("ftp://jwks.invalid/jwks.json"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := LoadJWKS(context.Background(), source); err == nil || !strings.Contains(err.Error(), "expected an https URL") {
				t.Fatalf("LoadJWKS(%s) = %v, want a refusal of plain http", source, err)
			}
		})
	}
	for name, source := range map[string]string{
		"http on loopback":             served.URL,
		"redirect to http on loopback": redirect(served.URL),
	} {
		t.Run(name, func(t *testing.T) {
			if ks, err := LoadJWKS(context.Background(), source); err != nil || ks.Len() != 1 {
				t.Fatalf("LoadJWKS(%s) = %v; want one key", source, err)
			}
		})
	}
}
