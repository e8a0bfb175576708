package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

// With wait_replicas, every write returns only once a replica has it: what
// a failover to that replica keeps. Without a replica the write fails
// (fail closed: a single-use value is not handed out, a grant slot not
// counted as taken) instead of succeeding on the primary alone.
func TestRedisWaitReplicas(t *testing.T) {
	ctx := t.Context()
	primary := redistest.Start(t)
	cfg := store.RedisConfig{Addrs: []string{primary.Addr()}, WaitReplicas: 1, WaitTimeout: 200 * time.Millisecond}
	r := newRedis(t, cfg)
	pc := redis.NewClient(&redis.Options{Addr: primary.Addr()})
	t.Cleanup(func() { pc.Close() })

	// No replica: every kind of write fails, naming the shortfall.
	for name, write := range map[string]func() error{
		"set":    func() error { return r.Set(ctx, "a", []byte("1"), time.Minute) },
		"setnx":  func() error { _, err := r.SetNX(ctx, "b", []byte("1"), time.Minute); return err },
		"delete": func() error { return r.Delete(ctx, "a", "b") },
		"compare-and-swap": func() error {
			if err := pc.Set(ctx, "gw:cas", "1", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			_, err := r.CompareAndSwap(ctx, "cas", []byte("1"), []byte("2"), time.Minute)
			return err
		},
		"compare-and-delete": func() error {
			if err := pc.Set(ctx, "gw:cad", "1", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			_, err := r.CompareAndDelete(ctx, "cad", []byte("1"))
			return err
		},
	} {
		err := write()
		if err == nil || !store.IsUnavailable(err) || !strings.Contains(err.Error(), "replicas") {
			t.Errorf("%s without a replica: got %v, want an unavailable error naming the replicas", name, err)
		}
	}
	if err := r.Set(ctx, "code", []byte("x"), time.Minute); err == nil {
		t.Fatal("set without a replica succeeded")
	}
	if _, err := r.Take(ctx, "code"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("take without a replica: got %v, want an unavailable error", err)
	}

	// With a replica: writes succeed, and the replica has them when they
	// return (a failover to it keeps a used code used).
	replica := redistest.Start(t, "--replicaof", "127.0.0.1", fmt.Sprint(primary.Port()))
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	t.Cleanup(func() { rc.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, _ := pc.Info(ctx, "replication").Result()
		if strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not come online: %s", info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A wait long enough for a loaded machine (-race, the suite beside
	// it): the replica's acknowledgement, not a deadline, is under test.
	r = newRedis(t, store.RedisConfig{Addrs: []string{primary.Addr()}, WaitReplicas: 1,
		ReadTimeout: 10 * time.Second, WaitTimeout: 8 * time.Second})
	if err := r.Set(ctx, "code", []byte("x"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := rc.Get(ctx, "gw:code").Result(); err != nil || v != "x" {
		t.Fatalf("replica after Set: %q, %v", v, err)
	}
	if b, err := r.Take(ctx, "code"); err != nil || string(b) != "x" {
		t.Fatalf("Take = %q, %v", b, err)
	}
	if n, err := rc.Exists(ctx, "gw:code").Result(); err != nil || n != 0 {
		t.Fatalf("replica after Take: exists %d, %v", n, err)
	}
	if ok, err := r.SetNX(ctx, "slot", []byte("1"), time.Minute); !ok || err != nil {
		t.Fatalf("SetNX = %v, %v", ok, err)
	}
	if ok, err := r.SetNX(ctx, "slot", []byte("2"), time.Minute); ok || err != nil {
		t.Fatalf("second SetNX = %v, %v; want false, nil", ok, err)
	}
	if ok, err := r.CompareAndDelete(ctx, "slot", []byte("1")); !ok || err != nil {
		t.Fatalf("CompareAndDelete = %v, %v", ok, err)
	}
	if n, _ := rc.Exists(ctx, "gw:slot").Result(); n != 0 {
		t.Fatal("replica still has the compared-and-deleted key")
	}
	if err := r.Set(ctx, "slot", []byte("1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "slot", "other"); err != nil {
		t.Fatal(err)
	}
	if n, _ := rc.Exists(ctx, "gw:slot").Result(); n != 0 {
		t.Fatal("replica still has the deleted key")
	}
}

func TestRedisWaitConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  store.RedisConfig
		want string
	}{
		{store.RedisConfig{Addrs: []string{"a:1"}, WaitReplicas: -1}, "wait_replicas: expected a number of replicas >= 0"},
		{store.RedisConfig{Addrs: []string{"a:1", "b:1"}, WaitReplicas: 1}, "wait_replicas: not supported in Cluster mode"},
		{store.RedisConfig{Addrs: []string{"a:1"}, WaitReplicas: 1, WaitTimeout: time.Second}, "wait_timeout: expected a duration from 0 (the default, 500ms) to below read_timeout (1s), got 1s"},
		{store.RedisConfig{Addrs: []string{"a:1"}, WaitReplicas: 1, WaitTimeout: time.Second, ReadTimeout: 2 * time.Second}, ""},
		// The default follows a short read_timeout; without wait_replicas
		// the timeout is not used.
		{store.RedisConfig{Addrs: []string{"a:1"}, WaitReplicas: 1, ReadTimeout: 300 * time.Millisecond}.WithDefaults(), ""},
		{store.RedisConfig{Addrs: []string{"a:1"}, WaitTimeout: time.Second}, ""},
	} {
		errs := tc.cfg.Validate()
		got := fmt.Sprint(errs)
		if tc.want == "" && len(errs) > 0 || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("Validate(%+v) = %s, want %q", tc.cfg, got, tc.want)
		}
	}
}
