package token

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
)

// benchClaims is a realistic claim set: a justified request from an attested
// device.
func benchClaims() contexttoken.Claims {
	return contexttoken.Claims{
		Audience: contexttoken.Audience{"https://wiki.internal.example.com"},
		Subject:  "00u1abcd2EFGH3ijk4l5", Email: "ada@example.com",
		Groups: []string{"engineering", "sre", "oncall-primary"},
		Route:  "wiki", SourceIP: "203.0.113.7",
		Device:        &contexttoken.Device{ID: "dev_9f2c1e", Trust: "tpm-attested", AttestedAt: 1795990000},
		Justification: &contexttoken.Justification{System: "jira", ID: "OPS-1234", VerifiedAt: 1795990100, Resource: "cust-42"},
	}
}

func benchSigner(b *testing.B, alg string) *Signer {
	b.Helper()
	dir := b.TempDir()
	path := dir + "/k.pem"
	if _, err := WriteKeyFile(path, alg); err != nil {
		b.Fatal(err)
	}
	s, err := NewSigner(Config{Algorithm: alg, Keys: []KeyConfig{{File: path, State: StateActive}}}, "https://gw.example.com")
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkMint(b *testing.B) {
	for _, alg := range []string{contexttoken.ES256, contexttoken.EdDSA, contexttoken.RS256} {
		b.Run(alg, func(b *testing.B) {
			s := benchSigner(b, alg)
			c := benchClaims()
			notAfter := time.Now().Add(time.Hour)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Mint(c, notAfter); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{contexttoken.ES256, contexttoken.EdDSA, contexttoken.RS256} {
		b.Run(alg, func(b *testing.B) {
			s := benchSigner(b, alg)
			v, err := contexttoken.NewStaticVerifier(contexttoken.Config{
				Issuer: s.Issuer(), Audiences: []string{"https://wiki.internal.example.com"}, Algorithms: []string{alg},
			}, s.PublicKeys())
			if err != nil {
				b.Fatal(err)
			}
			tok, err := s.Mint(benchClaims(), time.Now().Add(time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCacheMint measures the cache: "hit" is a page's follow-up
// requests (same caller, same claims), "miss" a new caller each time.
func BenchmarkCacheMint(b *testing.B) {
	s := benchSigner(b, contexttoken.ES256)
	notAfter := time.Now().Add(time.Hour)
	b.Run("hit", func(b *testing.B) {
		c := NewCache(s)
		cl := benchClaims()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Mint(cl, notAfter); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("miss", func(b *testing.B) {
		c := NewCache(s)
		cl := benchClaims()
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			cl.Subject = "user-" + strconv.Itoa(i)
			if _, err := c.Mint(cl, notAfter); err != nil {
				b.Fatal(err)
			}
		}
	})
}
