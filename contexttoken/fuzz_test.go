package contexttoken_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/token"
)

// FuzzVerify feeds arbitrary strings (seeded with a valid token and mangled
// ones) to Verify: it must never panic, and anything but the one valid token
// must fail with one of the package's errors.
func FuzzVerify(f *testing.F) {
	clk := newClock(t0)
	s := newSigner(f, clk.Now, contexttoken.ES256, token.KeyConfig{File: keyFile(f, contexttoken.ES256), State: token.StateActive})
	v, err := contexttoken.NewStaticVerifier(contexttoken.Config{Issuer: issuer, Audiences: []string{aud}, Now: clk.Now}, s.PublicKeys())
	if err != nil {
		f.Fatal(err)
	}
	good := mint(f, s, claims())
	want, err := v.Verify(context.Background(), good)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(good, ".")
	f.Add(good)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".." + parts[2])
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(parts[0] + ".eyJleHAiOiIxIn0." + parts[2])
	f.Add("")
	sentinels := []error{contexttoken.ErrMalformed, contexttoken.ErrAlgorithm, contexttoken.ErrUnknownKey,
		contexttoken.ErrSignature, contexttoken.ErrIssuer, contexttoken.ErrAudience, contexttoken.ErrExpired,
		contexttoken.ErrNotYetValid}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(context.Background(), tok)
		if err == nil {
			// Only the valid token verifies (or a spelling of it that decodes
			// to the same bytes, such as other unused base64 bits): any other
			// claim set that verifies is a forgery.
			if c == nil || !reflect.DeepEqual(c, want) {
				t.Fatalf("accepted %q with claims %+v", tok, c)
			}
			return
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("error wraps no sentinel: %v", err)
	})
}
