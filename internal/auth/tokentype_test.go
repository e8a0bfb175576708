package auth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// signWithHeader signs claims with the fake provider's key, its header
// carrying typ when typ is not "".
func signWithHeader(t *testing.T, typ, claims string) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", "k1")
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: signingKey()}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign([]byte(claims))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A bearer token must be an ID token. Providers sign their JWT access tokens
// with the same keys and issuer, and one whose audience is the gateway's
// client ID (RFC 9068: the resource it is for) verifies like an ID token; it
// says what it is in its header (typ at+jwt, RFC 9068 §2.1), in the client
// it was issued to (client_id, RFC 9068 §2.2, where an ID token has azp), or
// in Keycloak's typ claim ("Bearer", where its ID tokens say "ID"). None of
// them is an ID token issued to the gateway.
func TestAccessTokenIsNotABearerIDToken(t *testing.T) {
	p := newFakeProvider(t)
	a := newAuth(t, p, nil)
	ctx := context.Background()
	claims := func(extra string) string {
		return fmt.Sprintf(`{"iss":%q,"aud":"gw","sub":"u1","email":"ann@corp.example","email_verified":true,"exp":%d,"iat":%d%s}`,
			p.URL, time.Now().Add(time.Hour).Unix(), time.Now().Unix(), extra)
	}
	for _, tc := range []struct {
		name, typ, extra string
		ok               bool
	}{
		{"no typ", "", ``, true},
		{"typ JWT", "JWT", ``, true},
		{"typ application/jwt", "application/jwt", ``, true},
		{"Keycloak's ID token", "JWT", `,"typ":"ID","azp":"gw"`, true},
		{"client_id ours", "JWT", `,"client_id":"gw"`, true},
		{"RFC 9068 access token", "at+jwt", `,"client_id":"gw"`, false},
		{"RFC 9068 access token, media type spelling", "application/at+JWT", ``, false},
		{"access token for the gateway issued to another client", "", `,"client_id":"other","scope":"openid"`, false},
		{"client_id not a string", "", `,"client_id":["gw"]`, false},
		{"Okta access token issued to another client", "", `,"cid":"other","scp":["openid"]`, false},
		{"cid ours", "", `,"cid":"gw"`, true},
		{"Keycloak access token", "JWT", `,"typ":"Bearer"`, false},
		{"Keycloak logout token", "JWT", `,"typ":"Logout"`, false},
		{"a logout token (back-channel logout)", "logout+jwt", `,"events":{"http://schemas.openid.net/event/backchannel-logout":{}}`, false},
		{"another kind of token", "secevent+jwt", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := a.VerifyBearer(ctx, signWithHeader(t, tc.typ, claims(tc.extra)))
			if tc.ok && err != nil {
				t.Fatalf("expected accepted, got %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("expected refused, got %+v", s)
			}
		})
	}
	t.Run("sign-in", func(t *testing.T) {
		const id = `{"sub":"u1","email":"ann@corp.example","email_verified":true,"groups":[]`
		p.set(func(p *fakeProvider) { p.idClaims = jsonMap(id + `,"client_id":"gw"}`) })
		if _, _, err := signIn(t, a, p); err != nil {
			t.Fatalf("a sign-in with client_id ours: %v", err)
		}
		p.set(func(p *fakeProvider) { p.idClaims = jsonMap(id + `,"client_id":"other"}`) })
		if _, s, err := signIn(t, a, p); err == nil {
			t.Fatalf("a sign-in with a token issued to another client: expected refused, got %+v", s)
		}
	})
}

// An ID token names its user in sub (OpenID Connect Core §2: REQUIRED). A
// token without one, or with an empty one, is not an identity: the context
// token would carry an empty sub, the same for every such token, to tools
// that key their users by it.
func TestIDTokenWithoutSubjectRefused(t *testing.T) {
	p := newFakeProvider(t)
	a := newAuth(t, p, nil)
	ctx := context.Background()
	for _, sub := range []string{``, `,"sub":""`} {
		tok := signWithHeader(t, "", fmt.Sprintf(`{"iss":%q,"aud":"gw"%s,"email":"ann@corp.example","email_verified":true,"exp":%d,"iat":%d}`,
			p.URL, sub, time.Now().Add(time.Hour).Unix(), time.Now().Unix()))
		if s, err := a.VerifyBearer(ctx, tok); err == nil {
			t.Errorf("bearer token with %q: expected refused, got %+v", sub, s)
		}
	}
	p.set(func(p *fakeProvider) {
		p.idClaims = jsonMap(`{"sub":"","email":"ann@corp.example","email_verified":true,"groups":[]}`)
		p.userinfo = jsonMap(`{"email":"ann@corp.example"}`)
	})
	if _, s, err := signIn(t, a, p); err == nil {
		t.Errorf("sign-in with an empty sub: expected refused, got %+v", s)
	}
}
