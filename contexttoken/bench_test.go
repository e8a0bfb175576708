package contexttoken_test

import (
	"context"
	"testing"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/token"
)

// BenchmarkVerify measures Verify with a remote key set already cached (the
// steady state of a tool behind the gateway), per algorithm, serially and
// in parallel.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{contexttoken.ES256, contexttoken.EdDSA, contexttoken.RS256} {
		now := time.Now
		s := newSigner(b, now, alg, token.KeyConfig{File: keyFile(b, alg), State: token.StateActive})
		js := newJWKSServer(b, s)
		v, err := contexttoken.NewVerifier(context.Background(), contexttoken.Config{
			JWKSURL: js.url(), Issuer: issuer, Audiences: []string{aud}, Algorithms: []string{alg}, HTTPClient: js.Client(),
		})
		if err != nil {
			b.Fatal(err)
		}
		tok, err := s.Mint(claims(), time.Now().Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Verify(ctx, tok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
