package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store"
)

// BenchmarkSessionsLoad is the session half of every request: the cookie's
// store key, the read, and the decode cache's hit, for a session the size of
// a real one (sealed refresh and ID tokens, ~2.7 KB).
func BenchmarkSessionsLoad(b *testing.B) {
	st := store.NewMemory()
	defer st.Close()
	s := NewSessions(st)
	now := time.Now()
	id, err := s.Create(context.Background(), &Session{Subject: "u1", Email: "ann@bench.example",
		Groups: []string{"support", "eng"}, Claims: map[string][]string{"email": {"ann@bench.example"}, "groups": {"support", "eng"}},
		RefreshToken: strings.Repeat("r", 700), IDToken: strings.Repeat("i", 900),
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), NextRefresh: now.Add(5 * time.Minute)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSessionKey(b *testing.B) {
	id := NewID()
	b.ReportAllocs()
	for b.Loop() {
		_ = SessionKey(id)
	}
}

// TestSessionKeyForm pins the store key's form: a change would sign every
// user out (their sessions would no longer be found).
func TestSessionKeyForm(t *testing.T) {
	tests := []struct{ name, id, want string }{
		{"empty", "", "session:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"},
		{"a cookie value", "abc", "session:ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SessionKey(tc.id); got != tc.want {
				t.Fatalf("auth: expected %q, got %q", tc.want, got)
			}
		})
	}
}
