package breakglass

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store"
)

// hookStore runs hooks around some operations of a store, to put two
// callers' steps in a chosen order.
type hookStore struct {
	store.Store
	afterGet    func(key string)
	beforeSetNX func(key string)
}

func (h *hookStore) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := h.Store.Get(ctx, key)
	if h.afterGet != nil {
		h.afterGet(key)
	}
	return b, err
}

func (h *hookStore) SetNX(ctx context.Context, key string, v []byte, ttl time.Duration) (bool, error) {
	if h.beforeSetNX != nil {
		h.beforeSetNX(key)
	}
	return h.Store.SetNX(ctx, key, v, ttl)
}

// A reviewer's Revoke that runs while the grant is being activated wins
// in every order of their steps: here Revoke looks for the (not yet
// stored) active key to remove it, Activate stores it and finds no end
// recorded, and only then Revoke records the end. The grant must not work
// afterwards.
func TestRevokeInterleavedWithActivate(t *testing.T) {
	ctx := context.Background()
	svc, hs := newHookedService(t)
	g, err := svc.Request(ctx, alice, request("billing", "INC-1"))
	if err != nil {
		t.Fatal(err)
	}

	reachedSet := make(chan struct{})
	revokeDeleted := make(chan struct{})
	activateChecked := make(chan struct{})
	var setOnce, delOnce, getOnce sync.Once
	hs.beforeSetNX = func(key string) {
		switch {
		case strings.HasPrefix(key, keyActive):
			setOnce.Do(func() { close(reachedSet); <-revokeDeleted })
		case strings.HasPrefix(key, keyEnded):
			<-activateChecked
		}
	}
	hs.afterGet = func(key string) {
		switch {
		case strings.HasPrefix(key, keyActive):
			// Revoke's first look at the active key: nothing there yet.
			delOnce.Do(func() { close(revokeDeleted) })
		case strings.HasPrefix(key, keyEnded):
			getOnce.Do(func() { close(activateChecked) })
		}
	}

	activated := make(chan error, 1)
	go func() { activated <- svc.Activate(ctx, g) }()
	<-reachedSet
	if err := svc.Revoke(ctx, g.ID, "rita@corp.example"); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	aerr := <-activated
	if got, err := svc.Active(ctx, alice, "billing"); got != nil || err != nil {
		t.Fatalf("after Revoke (Activate: %v): Active = %+v, %v; want no grant", aerr, got, err)
	}
}

// An Activate that finds its grant revoked removes only its own active
// value: a newer grant of the same session and route, activated between
// its store of the active key and its look at the end, stays.
func TestRevokedActivateKeepsANewerGrant(t *testing.T) {
	ctx := context.Background()
	svc, hs := newHookedService(t)
	old, err := svc.Request(ctx, alice, request("billing", "INC-1"))
	if err != nil {
		t.Fatal(err)
	}
	newer, err := svc.Request(ctx, alice, request("billing", "INC-1"))
	if err != nil {
		t.Fatal(err)
	}
	// A reviewer revoked the old grant while it was being listed.
	if err := hs.Store.Set(ctx, keyEnded+old.ID, []byte(`{"cause":"revoked"}`), time.Hour); err != nil {
		t.Fatal(err)
	}
	var fired atomic.Bool
	var newerErr error
	hs.afterGet = func(key string) {
		// The first look only: the newer grant's Activate looks at the
		// old grant's end too, finding the old one in the active key.
		if key == keyEnded+old.ID && fired.CompareAndSwap(false, true) {
			newerErr = svc.Activate(ctx, newer)
		}
	}
	if err := svc.Activate(ctx, old); !errors.Is(err, ErrEnded) {
		t.Fatalf("Activate(old) = %v; want ErrEnded", err)
	}
	if newerErr != nil {
		t.Fatalf("Activate(newer) = %v", newerErr)
	}
	if got, err := svc.Active(ctx, alice, "billing"); err != nil || got == nil || got.ID != newer.ID {
		t.Fatalf("Active = %+v, %v; want the newer grant %s", got, err, newer.ID)
	}
}

// newHookedService is a service over a memory store wrapped in a
// hookStore, on a test clock.
func newHookedService(t *testing.T) (*Service, *hookStore) {
	t.Helper()
	clk := newClock(t0)
	mem := store.NewMemory(store.WithClock(clk.Now), store.WithSweepInterval(0))
	t.Cleanup(func() { mem.Close() })
	hs := &hookStore{Store: mem}
	svc, err := New(testConfig(), Options{Store: hs, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc, hs
}
