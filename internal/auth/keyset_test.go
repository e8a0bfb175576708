package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
)

// Anyone can send a bearer token on an allow_bearer route, and a token is
// easily made to name the provider, the gateway's audience and a future
// expiry, with any key ID and a signature that does not verify. Each such
// token must not make the gateway fetch the provider's JWKS again: a stream
// of them would keep a fetch in flight at all times from every replica (a
// provider that rate-limits its keys endpoint then refuses the gateway's
// fetches when a key really rotates). Unknown key IDs from bearer tokens
// refetch the keys at most once per keysRefetchInterval; a token from the
// provider's token endpoint (sign-in, refresh) still finds a rotated key at
// once.
func TestForgedBearerTokensDoNotRefetchProviderKeys(t *testing.T) {
	p := newFakeProvider(t)
	a := newAuth(t, p, nil)
	ctx := context.Background()
	claims := fmt.Sprintf(`{"iss":%q,"aud":"gw","sub":"u1","email":"ann@corp.example","email_verified":true,"exp":%d,"iat":%d}`,
		p.URL, time.Now().Add(time.Hour).Unix(), time.Now().Unix())
	good := oidctest.SignIDToken(signingKey(), "k1", oidc.RS256, claims)
	if _, err := a.VerifyBearer(ctx, good); err != nil {
		t.Fatal(err)
	}
	base := p.keysFetches.Load()
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for i := range 40 {
		kid := []string{"k1", "", fmt.Sprintf("forged-%d", i)}[i%3]
		if _, err := a.VerifyBearer(ctx, oidctest.SignIDToken(other, kid, oidc.RS256, claims)); err == nil {
			t.Fatalf("a token signed by another key (kid %q) was accepted", kid)
		}
	}
	if n := p.keysFetches.Load() - base; n > 1 {
		t.Fatalf("40 forged bearer tokens made the gateway fetch the provider's keys %d times, expected at most 1", n)
	}
	if _, err := a.VerifyBearer(ctx, good); err != nil {
		t.Fatalf("the provider's token after the forged ones: %v", err)
	}

	// A key the provider rotated in is found for a sign-in at once, even
	// right after a fetch.
	rotated, _ := rsa.GenerateKey(rand.Reader, 2048)
	p.set(func(p *fakeProvider) {
		p.keys.PublicKeys = append(p.keys.PublicKeys, oidctest.PublicKey{PublicKey: rotated.Public(), KeyID: "k2", Algorithm: oidc.RS256})
	})
	d, _ := a.ready()
	tok := oidctest.SignIDToken(rotated, "k2", oidc.RS256, claims)
	if _, err := a.verifyIDToken(providerTokenContext(ctx), d, tok); err != nil {
		t.Fatalf("a token from the token endpoint signed by a rotated-in key: %v", err)
	}
	if _, err := a.VerifyBearer(ctx, tok); err != nil {
		t.Fatalf("a bearer token signed by the rotated-in key, once it is known: %v", err)
	}

	// A client that goes away while its token makes the gateway fetch the
	// keys does not leave them stale: the fetch is completed.
	later := time.Now().Add(keysRefetchInterval + time.Second)
	d.keys.now = func() time.Time { return later }
	third, _ := rsa.GenerateKey(rand.Reader, 2048)
	p.set(func(p *fakeProvider) {
		p.keys.PublicKeys = append(p.keys.PublicKeys, oidctest.PublicKey{PublicKey: third.Public(), KeyID: "k3", Algorithm: oidc.RS256})
	})
	gone, cancel := context.WithCancel(ctx)
	cancel()
	// (verifyIDToken: VerifyBearer's step after the revocation check, which
	// a client that leaves a moment later has passed.)
	_, _ = a.verifyIDToken(gone, d, oidctest.SignIDToken(other, "forged", oidc.RS256, claims))
	if _, err := a.VerifyBearer(ctx, oidctest.SignIDToken(third, "k3", oidc.RS256, claims)); err != nil {
		t.Fatalf("after a fetch whose client had gone away: %v", err)
	}

	// New material under a key ID the gateway knows: a bearer token
	// signed with it is refused until the interval has passed, then found.
	p.set(func(p *fakeProvider) { p.keys.PublicKeys[0].PublicKey = other.Public() })
	same := oidctest.SignIDToken(other, "k1", oidc.RS256, claims)
	if _, err := a.VerifyBearer(ctx, same); err == nil {
		t.Fatal("within the interval after a fetch, a bearer token made the gateway fetch the keys")
	}
	later2 := later.Add(keysRefetchInterval + time.Second)
	d.keys.now = func() time.Time { return later2 }
	if _, err := a.VerifyBearer(ctx, same); err != nil {
		t.Fatalf("after the interval, a key replaced under the same ID: %v", err)
	}
}
