package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store"
)

func keyringOf(t *testing.T, keys ...KeyConfig) *Keyring {
	t.Helper()
	kr, err := NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// SetKeys rotates the session encryption keys of a running registry: the
// new active key seals, the listed keys open, a key no longer listed does
// not.
func TestSessionsSetKeys(t *testing.T) {
	a, b := NewKey(), NewKey()
	st := store.NewMemory()
	defer st.Close()
	s := NewSessionsWithKeys(st, keyringOf(t, KeyConfig{Key: a, State: KeyActive}))
	ctx := context.Background()
	sess := &Session{Subject: "u1", Email: "u@corp.example", RefreshToken: "rt-1", ExpiresAt: time.Now().Add(time.Hour)}
	id, err := s.Create(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	load := func() (string, error) {
		got, err := s.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return s.RefreshToken(id, got)
	}

	for _, tc := range []struct {
		name    string
		keys    []KeyConfig
		wantErr bool
	}{
		{"next key added", []KeyConfig{{Key: a, State: KeyActive}, {Key: b, State: KeyNext}}, false},
		{"promoted, old one retired", []KeyConfig{{Key: b, State: KeyActive}, {Key: a, State: KeyRetired}}, false},
		{"old key removed", []KeyConfig{{Key: b, State: KeyActive}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.SetKeys(keyringOf(t, tc.keys...))
			rt, err := load()
			if tc.wantErr {
				if !errors.Is(err, ErrUnsealable) {
					t.Fatalf("expected ErrUnsealable for a token sealed with a removed key, got %q, %v", rt, err)
				}
				return
			}
			if err != nil || rt != "rt-1" {
				t.Fatalf("expected the refresh token, got %q, %v", rt, err)
			}
		})
	}
	// Sealed now with b, the active key.
	if err := s.Save(ctx, id, &Session{Subject: "u1", RefreshToken: "rt-2", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if rt, err := load(); err != nil || rt != "rt-2" {
		t.Fatalf("expected rt-2 sealed with the new active key, got %q, %v", rt, err)
	}
}

func TestKeyringEqual(t *testing.T) {
	a, b := NewKey(), NewKey()
	for _, tc := range []struct {
		name string
		x, y []KeyConfig
		want bool
	}{
		{"same key", []KeyConfig{{Key: a, State: KeyActive}}, []KeyConfig{{Key: a, State: KeyActive}}, true},
		{"same keys, other order", []KeyConfig{{Key: a, State: KeyActive}, {Key: b, State: KeyNext}},
			[]KeyConfig{{Key: b, State: KeyNext}, {Key: a, State: KeyActive}}, true},
		{"other active", []KeyConfig{{Key: a, State: KeyActive}, {Key: b, State: KeyNext}},
			[]KeyConfig{{Key: b, State: KeyActive}, {Key: a, State: KeyRetired}}, false},
		{"key added", []KeyConfig{{Key: a, State: KeyActive}}, []KeyConfig{{Key: a, State: KeyActive}, {Key: b, State: KeyNext}}, false},
		{"other key", []KeyConfig{{Key: a, State: KeyActive}}, []KeyConfig{{Key: b, State: KeyActive}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := keyringOf(t, tc.x...).Equal(keyringOf(t, tc.y...)); got != tc.want {
				t.Errorf("Equal: expected %v, got %v", tc.want, got)
			}
		})
	}
	if (*Keyring)(nil).Equal(EphemeralKeyring()) || !(*Keyring)(nil).Equal(nil) {
		t.Error("Equal with nil: expected only nil to equal nil")
	}
	active, all := keyringOf(t, KeyConfig{Key: a, State: KeyActive}, KeyConfig{Key: b, State: KeyNext}).IDs()
	if len(active) != 8 || len(all) != 2 {
		t.Errorf("IDs: expected an 8-digit active ID and 2 IDs, got %q %v", active, all)
	}
}
