package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/accessgateway/gateway/internal/store"
)

// A verified bearer token is remembered until its expiry: the second use
// needs no signature check (it succeeds even after the IdP's keys changed),
// and after the expiry the token is verified again (and here refused).
func TestVerifyBearerRemembersUntilExpiry(t *testing.T) {
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	idp := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: priv.Public(), KeyID: "k1", Algorithm: oidc.RS256}}}
	srv := httptest.NewServer(idp)
	defer srv.Close()
	idp.SetIssuer(srv.URL)

	st := store.NewMemory()
	defer st.Close()
	a, err := New(context.Background(), Config{Issuer: srv.URL, ClientID: "gw", GroupsClaim: "groups",
		RequireVerifiedEmail: true}, NewSessions(st))
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	tok := oidctest.SignIDToken(priv, "k1", oidc.RS256, fmt.Sprintf(
		`{"iss":%q,"aud":"gw","sub":"bot","email":"bot@corp.example","email_verified":true,"groups":["ci"],"exp":%d,"iat":%d}`,
		srv.URL, exp.Unix(), time.Now().Unix()))

	s1, err := a.VerifyBearer(context.Background(), tok)
	if err != nil || s1.Email != "bot@corp.example" || len(s1.Groups) != 1 {
		t.Fatalf("first use: %+v, %v", s1, err)
	}
	// The IdP rotates its keys away: a fresh verification would now fail.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	idp.PublicKeys = []oidctest.PublicKey{{PublicKey: other.Public(), KeyID: "k2", Algorithm: oidc.RS256}}
	s2, err := a.VerifyBearer(context.Background(), tok)
	if err != nil || s2.Subject != "bot" {
		t.Fatalf("second use was verified again instead of remembered: %+v, %v", s2, err)
	}
	// A different (forged) token is never served from the memo.
	if _, err := a.VerifyBearer(context.Background(), tok+"x"); err == nil {
		t.Fatal("a modified token was accepted")
	}
	// Past its expiry the memo no longer answers; the token is verified
	// again, and refused.
	a.Now = func() time.Time { return exp.Add(time.Second) }
	if _, err := a.VerifyBearer(context.Background(), tok); err == nil {
		t.Fatal("an expired token was accepted from the memo")
	}
}
