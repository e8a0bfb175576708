package contexttoken_test

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/token"
)

const (
	issuer = "https://gw.example.com"
	aud    = "https://wiki.internal.example.com"
)

// t0 is the fixed instant the tests run at.
var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

// clock is a settable clock shared by signers and verifiers.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// keyFile writes a new key for alg and returns its path.
func keyFile(t testing.TB, alg string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.pem")
	if _, err := token.WriteKeyFile(p, alg); err != nil {
		t.Fatal(err)
	}
	return p
}

// newSigner builds a signer from keys at the fixed clock now.
func newSigner(t testing.TB, now func() time.Time, alg string, keys ...token.KeyConfig) *token.Signer {
	t.Helper()
	s, err := token.NewSigner(token.Config{Algorithm: alg, Keys: keys}, issuer, token.WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims() contexttoken.Claims {
	return contexttoken.Claims{
		Audience: contexttoken.Audience{aud},
		Subject:  "00u1abcd", Email: "ada@example.com", Groups: []string{"eng", "sre"},
		Route: "wiki", SourceIP: "203.0.113.7",
		Device: &contexttoken.Device{ID: "dev_1", Trust: "tpm-attested", AttestedAt: contexttoken.NewNumericDate(t0.Add(-time.Hour))},
	}
}

func mint(t testing.TB, s *token.Signer, c contexttoken.Claims) string {
	t.Helper()
	tok, err := s.Mint(c, t0.Add(8*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// jwksServer serves the JWKS of a swappable signer and counts requests.
type jwksServer struct {
	*httptest.Server
	signer  atomic.Pointer[token.Signer]
	fetches atomic.Int32 // 200 answers
	notMod  atomic.Int32 // 304 answers
	fail    atomic.Bool
}

func newJWKSServer(t testing.TB, s *token.Signer) *jwksServer {
	js := &jwksServer{}
	js.signer.Store(s)
	js.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if js.fail.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		rec := httptest.NewRecorder()
		js.signer.Load().JWKSHandler().ServeHTTP(rec, r)
		switch rec.Code {
		case http.StatusOK:
			js.fetches.Add(1)
		case http.StatusNotModified:
			js.notMod.Add(1)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(js.Close)
	return js
}

func (js *jwksServer) url() string { return js.URL + token.JWKSPath }

func newSignerIssuer(t testing.TB, now func() time.Time, file, iss string) *token.Signer {
	t.Helper()
	s, err := token.NewSigner(token.Config{Keys: []token.KeyConfig{{File: file, State: token.StateActive}}}, iss, token.WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readPriv parses the PKCS #8 key file written by token.WriteKeyFile.
func readPriv(t testing.TB, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatal("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
