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

// A verified bearer token is remembered until its expiry: the second use is
// answered from the memo (shown by marking the remembered entry), a modified
// token never is, and after the expiry the token is verified again.
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
	if len(a.bearer) != 1 {
		t.Fatalf("memo holds %d entries after one verified token, want 1", len(a.bearer))
	}
	for _, e := range a.bearer {
		e.Name = "from-memo"
	}
	s2, err := a.VerifyBearer(context.Background(), tok)
	if err != nil || s2.Name != "from-memo" {
		t.Fatalf("second use was not answered from the memo: %+v, %v", s2, err)
	}
	s2.Email = "changed@corp.example" // the caller's copy must not alter the memo
	if s3, _ := a.VerifyBearer(context.Background(), tok); s3.Email != "bot@corp.example" {
		t.Fatalf("the memo was changed through a returned session: %+v", s3)
	}
	if _, err := a.VerifyBearer(context.Background(), tok+"x"); err == nil {
		t.Fatal("a modified token was accepted")
	}
	// Past the token's expiry the memo does not answer: the token goes
	// through verification again (which here, with the verifier's own clock,
	// still accepts it and yields the real claims).
	a.Now = func() time.Time { return exp.Add(time.Second) }
	s4, err := a.VerifyBearer(context.Background(), tok)
	if err != nil || s4.Name == "from-memo" {
		t.Fatalf("after expiry the memo still answered: %+v, %v", s4, err)
	}
}
