package contexttokentest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/contexttoken/contexttokentest"
)

const aud = "https://wiki.internal.example.com"

func TestIssuer(t *testing.T) {
	gw := contexttokentest.NewIssuer(t)
	v := gw.Verifier(t, aud)
	now := time.Now()
	tests := []struct {
		name    string
		claims  contexttoken.Claims
		wantErr error
	}{
		{"valid", contexttoken.Claims{Audience: contexttoken.Audience{aud}, Subject: "u"}, nil},
		{"expired", contexttoken.Claims{Audience: contexttoken.Audience{aud}, Subject: "u",
			IssuedAt: contexttoken.NewNumericDate(now.Add(-time.Hour)), Expiry: contexttoken.NewNumericDate(now.Add(-50 * time.Minute))}, contexttoken.ErrExpired},
		{"other audience", contexttoken.Claims{Audience: contexttoken.Audience{"https://other.example.com"}, Subject: "u"}, contexttoken.ErrAudience},
		{"other issuer", contexttoken.Claims{Issuer: "https://evil.example.com", Audience: contexttoken.Audience{aud}, Subject: "u"}, contexttoken.ErrIssuer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), gw.Mint(t, tc.claims))
			if tc.wantErr == nil {
				if err != nil || c.Issuer != gw.URL || c.ID == "" {
					t.Fatalf("expected a valid token, got %+v, %v", c, err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("expected %v, got %v", tc.wantErr, err)
			}
		})
	}
	// A second fake gateway's tokens are refused (unknown key).
	other := contexttokentest.NewIssuer(t)
	tok := other.Mint(t, contexttoken.Claims{Issuer: gw.URL, Audience: contexttoken.Audience{aud}, Subject: "u"})
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, contexttoken.ErrUnknownKey) {
		t.Fatalf("expected ErrUnknownKey for another issuer's key, got %v", err)
	}
}

// TestUsage is the package doc's example: a tool tests its handler behind
// contexttoken.Middleware with tokens from a fake gateway.
func TestUsage(t *testing.T) {
	gw := contexttokentest.NewIssuer(t)
	v := gw.Verifier(t, aud)
	wiki := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := contexttoken.FromContext(r.Context())
		fmt.Fprintf(w, "page for %s", c.Email)
	})
	h := contexttoken.Middleware(v, "")(wiki)

	req := httptest.NewRequest("GET", "/page", nil)
	gw.Sign(t, req, contexttoken.Claims{Audience: contexttoken.Audience{aud}, Subject: "u1", Email: "ada@example.com"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != "page for ada@example.com" {
		t.Fatalf("expected 200 page for ada@example.com, got %d %q", rec.Code, rec.Body)
	}
	// Without a token: 401.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/page", nil))
	if rec.Code != 401 {
		t.Fatalf("expected 401 without a token, got %d", rec.Code)
	}
}
