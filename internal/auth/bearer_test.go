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

// A bearer ID token must have been issued to the gateway's client: an ID
// token the provider issued to another client (its azp), which also names
// the gateway among its audiences, is refused, as is one with several
// audiences that does not say which party it was issued to (OpenID Connect
// Core §3.1.3.7, items 3–5). The same holds for the ID token of a sign-in.
func TestBearerTokenIssuedToAnotherClientRefused(t *testing.T) {
	p := newFakeProvider(t)
	a := newAuth(t, p, nil)
	ctx := context.Background()
	tok := func(extra string) string {
		return oidctest.SignIDToken(signingKey(), "k1", oidc.RS256, fmt.Sprintf(
			`{"iss":%q,"sub":"u1","email":"ann@corp.example","email_verified":true,"exp":%d,"iat":%d%s}`,
			p.URL, time.Now().Add(time.Hour).Unix(), time.Now().Unix(), extra))
	}
	for _, tc := range []struct {
		name, claims string
		ok           bool
	}{
		{"ours", `,"aud":"gw"`, true},
		{"ours, azp ours", `,"aud":"gw","azp":"gw"`, true},
		{"ours among several, azp ours", `,"aud":["gw","api"],"azp":"gw"`, true},
		{"ours among several, issued to another client", `,"aud":["other","gw"],"azp":"other"`, false},
		{"ours, issued to another client", `,"aud":"gw","azp":"other"`, false},
		{"ours among several, no azp", `,"aud":["other","gw"]`, false},
		{"azp not a string", `,"aud":"gw","azp":["gw"]`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := a.VerifyBearer(ctx, tok(tc.claims))
			if tc.ok && err != nil {
				t.Fatalf("expected accepted, got %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("expected refused, got %+v", s)
			}
		})
	}
	t.Run("sign-in", func(t *testing.T) {
		const id = `{"sub":"u1","email":"ann@corp.example","email_verified":true,"groups":[],"aud":["other","gw"]`
		p.set(func(p *fakeProvider) { p.idClaims = jsonMap(id + `,"azp":"gw"}`) })
		if _, _, err := signIn(t, a, p); err != nil {
			t.Fatalf("a sign-in with an ID token issued to the gateway: %v", err)
		}
		p.set(func(p *fakeProvider) { p.idClaims = jsonMap(id + `,"azp":"other"}`) })
		if _, s, err := signIn(t, a, p); err == nil {
			t.Fatalf("a sign-in with an ID token issued to another client: expected refused, got %+v", s)
		}
	})
}
