package breakglass

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

// Two gateway replicas on one real Redis: the daily limit holds across
// them, also when they race for the last slot.
func TestDailyLimitAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	clk := newClock(t0)
	cfg := testConfig()
	pol := cfg.Policies["oncall"]
	pol.DailyLimit = 3
	cfg.Policies["oncall"] = pol
	cfg.LimitTimeZone = "Europe/Berlin"

	var replicas []*Service
	for range 2 {
		st, err := store.NewRedis(ctx, store.RedisConfig{Addrs: []string{srv.Addr()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		svc, err := New(cfg, Options{Store: st, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		replicas = append(replicas, svc)
	}

	// 20 requests at once, alternating replicas, each for a route of its
	// own (one session holds one grant per route at a time).
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	grants := make([]Grant, n)
	for i := range n {
		wg.Go(func() {
			grants[i], errs[i] = replicas[i%2].Request(ctx, alice, request(fmt.Sprintf("route-%d", i), "INC-1"))
		})
	}
	wg.Wait()
	ok, granted := 0, ""
	for i, err := range errs {
		switch ReasonOf(err) {
		case "":
			ok++
			granted = grants[i].Route
			if err := replicas[i%2].Activate(ctx, grants[i]); err != nil {
				t.Fatalf("Activate: %v", err)
			}
		case ReasonLimitReached:
		default:
			t.Fatalf("request %d: expected a grant or limit-reached, got %v", i, err)
		}
	}
	if ok != 3 {
		t.Fatalf("expected exactly 3 grants across both replicas, got %d", ok)
	}
	for _, svc := range replicas {
		_, err := svc.Request(ctx, alice, request("billing", "INC-1"))
		wantReason(t, err, ReasonLimitReached)
		_, err = svc.Request(ctx, alice, request(granted, "INC-1"))
		wantReason(t, err, ReasonAlreadyGranted)
		if used, limit, err := svc.Used(ctx, "", "alice@corp.example"); used != 3 || limit != 3 || err != nil {
			t.Fatalf("Used = %d, %d, %v; want 3, 3", used, limit, err)
		}
	}
	// Another user has their own limit.
	if _, err := replicas[1].Request(ctx, User{Email: "carol@corp.example", Groups: []string{"sre"}, Session: "c"}, request("billing", "INC-1")); err != nil {
		t.Fatalf("another user: %v", err)
	}
	// The day is Berlin's: at 23:00 UTC it is already tomorrow there.
	clk.Set(time.Date(2026, 11, 4, 22, 59, 59, 0, time.UTC))
	_, err := replicas[0].Request(ctx, alice, request("billing", "INC-1"))
	wantReason(t, err, ReasonLimitReached)
	clk.Set(time.Date(2026, 11, 4, 23, 0, 0, 0, time.UTC))
	if _, err := replicas[0].Request(ctx, alice, request("billing", "INC-1")); err != nil {
		t.Fatalf("expected a new day in Berlin at 23:00 UTC, got %v", err)
	}

	// The grants of one replica are seen by the other, and listed for
	// review once each.
	g, err := replicas[1].Active(ctx, alice, granted)
	if err != nil || g == nil {
		t.Fatalf("expected the grant on the other replica, got %v, %v", g, err)
	}
	list, err := replicas[0].Unreviewed(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("expected 3 grants to review, got %d, %v", len(list), err)
	}
}

// Redis down: every operation fails closed with an error, and nothing is
// granted.
func TestRedisDownFailsClosed(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	st, err := store.NewRedis(ctx, store.RedisConfig{Addrs: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := newClock(t0)
	svc, err := New(testConfig(), Options{Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	g, err := svc.Request(ctx, alice, request("billing", "INC-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Activate(ctx, g); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := svc.Request(ctx, alice, request("billing", "INC-1")); err == nil || ReasonOf(err) != ReasonUnavailable {
		t.Fatalf("Request: expected %s, got %v", ReasonUnavailable, err)
	}
	if g, err := svc.Active(ctx, alice, "billing"); err == nil || g != nil || !store.IsUnavailable(errors.Unwrap(err)) {
		t.Fatalf("Active: expected a store error and no grant, got %v, %v", g, err)
	}
	clk.Advance(DefaultRecheckInterval)
	if still, err := svc.Recheck(ctx, g); still || err == nil {
		t.Fatalf("Recheck: expected false and an error, got %v, %v", still, err)
	}
	if _, err := svc.Unreviewed(ctx); err == nil {
		t.Fatal("Unreviewed: expected an error")
	}
}
