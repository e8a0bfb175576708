package auth

import (
	"context"
	"encoding/json"
	"errors"
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

// TestSessionsDecode: Decode of the bytes stored under SessionKey(id) is
// Load, whatever the bytes are.
func TestSessionsDecode(t *testing.T) {
	st := store.NewMemory()
	defer st.Close()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	s := NewSessions(st)
	s.Now = func() time.Time { return now }
	ctx := context.Background()
	live, err := s.Create(ctx, &Session{Subject: "u1", Email: "ann@example.com", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := st.Get(ctx, SessionKey(live))
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := json.Marshal(Session{Subject: "u2", ExpiresAt: now})
	tests := []struct {
		name    string
		id      string
		b       []byte
		wantSub string
		wantErr error
	}{
		{"stored value", live, raw, "u1", nil},
		{"stored value again (decode cache)", live, raw, "u1", nil},
		{"absent key", live, nil, "", ErrNoSession},
		{"expired session", live, expired, "", ErrNoSession},
		{"empty cookie", "", raw, "", ErrNoSession},
		{"overlong cookie", strings.Repeat("a", 129), raw, "", ErrNoSession},
		{"not JSON", live, []byte("{"), "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Decode(tc.id, tc.b)
			switch {
			case tc.name == "not JSON":
				if err == nil || errors.Is(err, ErrNoSession) {
					t.Fatalf("auth: expected a decode error, got %v", err)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("auth: expected %v, got %v", tc.wantErr, err)
				}
			case err != nil || got.Subject != tc.wantSub:
				t.Fatalf("auth: expected subject %q, got %+v, %v", tc.wantSub, got, err)
			}
		})
	}
}

// getOnly hides the memory store's View: Load then reads with Get.
type getOnly struct{ store.Store }

// TestSessionsLoadWithAndWithoutView: Load answers the same whether the
// store lends values (memory) or copies them out (Redis and others).
func TestSessionsLoadWithAndWithoutView(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		wrap func(store.Store) store.Store
	}{
		{"view", func(st store.Store) store.Store { return st }},
		{"get", func(st store.Store) store.Store { return getOnly{st} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := store.NewMemory()
			defer mem.Close()
			s := NewSessions(tc.wrap(mem))
			s.Now = func() time.Time { return now }
			ctx := context.Background()
			id, err := s.Create(ctx, &Session{Subject: "u1", Groups: []string{"g"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ { // the second Load is a decode-cache hit
				got, err := s.Load(ctx, id)
				if err != nil || got.Subject != "u1" || len(got.Groups) != 1 {
					t.Fatalf("auth: expected session u1, got %+v, %v", got, err)
				}
			}
			if _, err := s.Load(ctx, NewID()); !errors.Is(err, ErrNoSession) {
				t.Fatalf("auth: expected ErrNoSession for an unknown cookie, got %v", err)
			}
			if err := mem.Set(ctx, SessionKey(id), []byte("{"), time.Hour); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Load(ctx, id); err == nil || errors.Is(err, ErrNoSession) || !strings.Contains(err.Error(), "auth: decode session") {
				t.Fatalf("auth: expected a decode error, got %v", err)
			}
		})
	}
}

// A session from a provider with large tokens (Keycloak: a 1.3 KB ID token
// kept as the sign-out hint, a 0.7 KB JWT refresh token, realm roles as
// groups) is stored in at most 2 KB, and both tokens open as they were.
func TestProviderSessionUnder2KB(t *testing.T) {
	st := store.NewMemory()
	defer st.Close()
	s := NewSessions(st)
	now := time.Now()
	id, rt := keycloakIDToken(t), keycloakRefreshToken(t)
	sess := &Session{Subject: "f1c2d3e4-5a6b-7c8d-9e0f-1a2b3c4d5e6f", Email: "alice@corp.example", Name: "Alice Example",
		Groups: []string{"support", "default-roles-staff", "offline_access", "uma_authorization"},
		Claims: map[string][]string{"email_verified": {"true"}, "preferred_username": {"alice"}, "acr": {"1"},
			"groups": {"support", "default-roles-staff", "offline_access", "uma_authorization"}},
		CreatedAt: now, ExpiresAt: now.Add(12 * time.Hour), NextRefresh: now.Add(5 * time.Minute), RefreshToken: rt, IDToken: id}
	sid, err := s.Create(t.Context(), sess)
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.Get(t.Context(), SessionKey(sid))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 2048 {
		t.Errorf("stored session: %d bytes (ID token %d, refresh token %d characters), want ≤ 2048", len(b), len(id), len(rt))
	}
	t.Logf("stored session: %d bytes (ID token %d, refresh token %d characters)", len(b), len(id), len(rt))
	got, err := s.Load(t.Context(), sid)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := s.RefreshToken(sid, got); err != nil || tok != rt {
		t.Errorf("refresh token: got %.30q, %v", tok, err)
	}
	if tok, err := s.IDToken(sid, got); err != nil || tok != id {
		t.Errorf("ID token: got %.30q, %v", tok, err)
	}
}
