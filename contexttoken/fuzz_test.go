package contexttoken_test

import (
	"context"
	"encoding/json"
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

// FuzzClaimsJSON decodes arbitrary JSON as a claim set (as Verify does after
// the signature check): no panic, and what decodes re-encodes to a claim set
// that decodes to the same value.
func FuzzClaimsJSON(f *testing.F) {
	f.Add([]byte(`{"iss":"https://gw.example.com","aud":"x","exp":1.5,"iat":1,"sub":"u","device":{"id":"d","trust":"t","attested_at":3}}`))
	f.Add([]byte(`{"aud":["a","b"],"exp":"1"}`))
	f.Add([]byte(`{"aud":null,"exp":null,"groups":[1]}`))
	f.Add([]byte(`{"exp":1e400}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c contexttoken.Claims
		if json.Unmarshal(data, &c) != nil {
			return
		}
		out, err := json.Marshal(&c)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", c, err)
		}
		var again contexttoken.Claims
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("decoding re-encoded %s: %v", out, err)
		}
		if !reflect.DeepEqual(normalize(c), normalize(again)) {
			t.Fatalf("round trip changed the claims:\n%+v\n%+v", c, again)
		}
	})
}

// normalize maps values that encode the same way (empty and nil slices) to
// one form.
func normalize(c contexttoken.Claims) contexttoken.Claims {
	if len(c.Groups) == 0 {
		c.Groups = nil
	}
	if len(c.Audience) == 0 {
		c.Audience = nil
	}
	return c
}
