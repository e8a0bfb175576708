package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

var prefixSeq atomic.Int64

// newRedis connects a store to srv with cfg's other fields, failing the test
// on error; the store is closed at the end of the test.
func newRedis(t testing.TB, cfg store.RedisConfig, opts ...store.RedisOption) *store.Redis {
	t.Helper()
	r, err := store.NewRedis(t.Context(), cfg, opts...)
	if err != nil {
		t.Fatalf("NewRedis(%v) = %v", cfg, err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// rawClient is a plain go-redis client on srv, to look behind the store.
func rawClient(t testing.TB, srv *redistest.Server) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), Protocol: 2})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedisConformance(t *testing.T) {
	t.Parallel() // its own servers; slow topologies overlap
	srv := redistest.Start(t)
	runConformance(t, redisFactory(store.RedisConfig{Addrs: []string{srv.Addr()}}))
}

// TestRedisClusterConformance runs the suite against a three-node Cluster:
// keys of one case land on different nodes, and Delete of several keys
// crosses slots.
// TestRedisCachedConformance runs the suite with every key's MGet answered
// from the local cache when it can be.
func TestRedisCachedConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	runConformance(t, redisFactory(store.RedisConfig{Addrs: []string{srv.Addr()}, LocalCache: store.RedisLocalCache{Enabled: true}}, store.CacheReads(nil, "")))
}

func TestRedisClusterConformance(t *testing.T) {
	t.Parallel() // its own servers; slow topologies overlap
	cluster := redistest.StartCluster(t, 3)
	runConformance(t, redisFactory(store.RedisConfig{Addrs: cluster.Addrs()}))
}

func TestRedisSentinelConformance(t *testing.T) {
	t.Parallel() // its own servers; slow topologies overlap
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master, "gw")
	runConformance(t, redisFactory(store.RedisConfig{Addrs: []string{sentinel.Addr()}, MasterName: "gw"}))
}

// redisFactory returns fresh stores on the Redis that cfg names, each under
// its own key prefix so that the cases stay apart on one server.
func redisFactory(cfg store.RedisConfig, opts ...store.RedisOption) factory {
	return func(t *testing.T) subject {
		cfg := cfg
		cfg.KeyPrefix = fmt.Sprintf("test%d:", prefixSeq.Add(1))
		r := newRedis(t, cfg, opts...)
		if len(opts) > 0 {
			waitServing(t, r)
		}
		raw := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: cfg.Addrs, MasterName: cfg.MasterName, Protocol: 2})
		t.Cleanup(func() { _ = raw.Close() })
		return subject{
			st:  r,
			ttl: 30 * time.Millisecond,
			// Redis expires by its own wall clock with millisecond
			// precision: once ttl and a margin have passed, the key is gone.
			pass: func(d time.Duration) { time.Sleep(d + 5*time.Millisecond) },
			pttl: func(t *testing.T, key string) time.Duration {
				d, err := raw.PTTL(t.Context(), cfg.KeyPrefix+key).Result()
				if err != nil {
					t.Fatalf("PTTL %s%s: %v", cfg.KeyPrefix, key, err)
				}
				return d
			},
		}
	}
}

func TestRedisClientsShareKeysUnderTheirPrefix(t *testing.T) {
	srv := redistest.Start(t)
	cfg := store.RedisConfig{Addrs: []string{srv.Addr()}}
	a, b := newRedis(t, cfg), newRedis(t, cfg)
	other := newRedis(t, store.RedisConfig{Addrs: []string{srv.Addr()}, KeyPrefix: "other:"})

	mustSet(t, a, "session:1", "alice", time.Hour)
	wantValue(t, b, "session:1", "alice")
	_, err := other.Get(t.Context(), "session:1")
	wantNotFound(t, err)

	// The key lives under the default prefix, as operators see it in Redis.
	got, err := rawClient(t, srv).Get(t.Context(), store.DefaultRedisKeyPrefix+"session:1").Result()
	if err != nil || got != "alice" {
		t.Fatalf("raw GET gw:session:1 = %q, %v; want \"alice\"", got, err)
	}

	// A nonce taken by one replica is gone for the other.
	mustSet(t, a, "nonce:1", "n", time.Hour)
	if v, err := b.Take(t.Context(), "nonce:1"); err != nil || string(v) != "n" {
		t.Fatalf("b.Take = %q, %v", v, err)
	}
	_, err = a.Take(t.Context(), "nonce:1")
	wantNotFound(t, err)

	if ok, err := b.SetNX(t.Context(), "lock", []byte("b"), time.Hour); err != nil || !ok {
		t.Fatalf("b.SetNX = %v, %v; want true", ok, err)
	}
	if ok, err := a.SetNX(t.Context(), "lock", []byte("a"), time.Hour); err != nil || ok {
		t.Fatalf("a.SetNX on b's key = %v, %v; want false", ok, err)
	}
	if err := a.Delete(t.Context(), "session:1", "lock"); err != nil {
		t.Fatal(err)
	}
	_, err = b.Get(t.Context(), "lock")
	wantNotFound(t, err)
}

// TestRedisOutage kills Redis under a live client: every call must fail with
// an unavailable error, promptly rather than by running into the caller's
// deadline; after a restart the same client must work again by itself.
func TestRedisOutage(t *testing.T) {
	t.Parallel() // its own servers; slow topologies overlap
	srv := redistest.Start(t)
	r := newRedis(t, store.RedisConfig{Addrs: []string{srv.Addr()}})
	mustSet(t, r, "k", "v", time.Hour)

	srv.Stop()
	// The generous deadline only catches a hang; the calls must fail on
	// their own (connection refused, read/write timeouts), well before it.
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := r.Get(c, "k"); return err }},
		{"MGet", func() error { _, err := r.MGet(c, "k", "nx"); return err }},
		{"concurrent reads", func() error {
			// Reads that meet are pipelined together: every one fails.
			errs := make(chan error, 40)
			for i := 0; i < 40; i++ {
				go func() {
					var err error
					if i%2 == 0 {
						_, err = r.Get(c, "k")
					} else {
						_, err = r.MGet(c, "k", "nx")
					}
					errs <- err
				}()
			}
			var first error
			for i := 0; i < 40; i++ {
				if err := <-errs; !store.IsUnavailable(err) || errors.Is(err, store.ErrNotFound) {
					first = err
				}
			}
			if first != nil {
				return first // not an unavailable error
			}
			_, err := r.Get(c, "k")
			return err
		}},
		{"Set", func() error { return r.Set(c, "k", []byte("v"), time.Hour) }},
		{"SetNX", func() error { _, err := r.SetNX(c, "nx", []byte("v"), time.Hour); return err }},
		{"Take", func() error { _, err := r.Take(c, "k"); return err }},
		{"Delete one", func() error { return r.Delete(c, "k") }},
		{"Delete several", func() error { return r.Delete(c, "k", "nx") }},
		{"Ping", func() error { return r.Ping(c) }},
	}
	for _, tc := range calls {
		err := tc.call()
		if !store.IsUnavailable(err) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s with Redis down = %v; want an unavailable error", tc.name, err)
		}
		if c.Err() != nil {
			t.Fatalf("%s with Redis down ran into the caller's 10 s deadline: the store hangs", tc.name)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "store: redis ") {
			t.Errorf("%s error = %q; want it prefixed \"store: redis \"", tc.name, err)
		}
	}

	srv.Restart()
	// go-redis stops dialing a dead server after a burst of failures and
	// probes it once a second: allow it a few probes to notice the restart.
	deadline := time.Now().Add(5 * time.Second)
	for r.Ping(t.Context()) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the client did not reconnect within 5 s of the restart: %v", r.Ping(t.Context()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The restarted Redis has no persistence: the old value is gone, and
	// new writes work through the same client.
	_, err := r.Get(t.Context(), "k")
	wantNotFound(t, err)
	mustSet(t, r, "k", "after", time.Hour)
	wantValue(t, r, "k", "after")
}

// TestRedisConcurrentReads: reads of many requests at once (which the store
// pipelines together when they meet) each get exactly their own keys'
// values, present or missing, in order.
func TestRedisConcurrentReads(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r := newRedis(t, store.RedisConfig{Addrs: []string{srv.Addr()}})
	const n = 50
	for i := 0; i < n; i++ {
		mustSet(t, r, fmt.Sprintf("k%d", i), fmt.Sprintf("value-%d", i), time.Hour)
	}
	errs := make(chan error, 64)
	for g := 0; g < 64; g++ {
		go func() {
			for j := 0; j < 200; j++ {
				i := (g*7 + j) % n
				if j%3 == 0 {
					b, err := r.Get(t.Context(), fmt.Sprintf("k%d", i))
					if err != nil || string(b) != fmt.Sprintf("value-%d", i) {
						errs <- fmt.Errorf("Get(k%d) = %q, %v", i, b, err)
						return
					}
					continue
				}
				keys := []string{fmt.Sprintf("k%d", i), "missing", fmt.Sprintf("k%d", (i+1)%n)}
				vals, err := r.MGet(t.Context(), keys...)
				if err != nil || len(vals) != 3 || string(vals[0]) != fmt.Sprintf("value-%d", i) || vals[1] != nil ||
					string(vals[2]) != fmt.Sprintf("value-%d", (i+1)%n) {
					errs <- fmt.Errorf("MGet(%q) = %q, %v", keys, vals, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 64; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Get(t.Context(), "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
}

func TestNewRedisFailsWhenRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	addr := srv.Addr()
	srv.Stop()
	r, err := store.NewRedis(t.Context(), store.RedisConfig{Addrs: []string{addr}})
	if err == nil {
		r.Close()
		t.Fatal("NewRedis with Redis down = nil error; want the ping's error")
	}
	if !store.IsUnavailable(err) || !strings.Contains(err.Error(), "ping") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("NewRedis error = %q; want an unavailable ping error naming %s", err, addr)
	}
}

func TestNewRedisRejectsInvalidConfigWithoutDialing(t *testing.T) {
	cfg := store.RedisConfig{Addrs: []string{"nohost", "127.0.0.1:0"}, DB: -1}
	_, err := store.NewRedis(t.Context(), cfg)
	if err == nil {
		t.Fatal("NewRedis(invalid) = nil error")
	}
	for _, want := range []string{"store: invalid redis config", `addrs[0]: expected host:port, got "nohost"`, "addrs[1]:", "db:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("NewRedis error = %q; want it to contain %q", err, want)
		}
	}
}

func TestNewRedisBadCAFile(t *testing.T) {
	dir := t.TempDir()
	for name, path := range map[string]string{"missing": dir + "/missing.pem", "not PEM": writeFile(t, dir+"/x.pem", "hello")} {
		_, err := store.NewRedis(t.Context(), store.RedisConfig{
			Addrs: []string{"127.0.0.1:6379"},
			TLS:   store.RedisTLS{Enabled: true, CAFile: path},
		})
		if err == nil || !strings.Contains(err.Error(), "tls.ca_file") {
			t.Errorf("%s: NewRedis error = %v; want a tls.ca_file error", name, err)
		}
	}
}

func TestRedisPassword(t *testing.T) {
	const password = "correct-horse-battery"
	srv := redistest.Start(t, "--requirepass", password)

	r := newRedis(t, store.RedisConfig{Addrs: []string{srv.Addr()}, Password: password})
	mustSet(t, r, "k", "v", time.Hour)
	wantValue(t, r, "k", "v")

	for name, pw := range map[string]string{"wrong": "wrong-password-123", "none": ""} {
		_, err := store.NewRedis(t.Context(), store.RedisConfig{Addrs: []string{srv.Addr()}, Password: pw})
		if err == nil {
			t.Fatalf("%s password: NewRedis = nil error", name)
		}
		if pw != "" && strings.Contains(err.Error(), pw) {
			t.Fatalf("%s password: error %q reveals the password", name, err)
		}
		if strings.Contains(err.Error(), password) {
			t.Fatalf("%s password: error %q reveals the server's password", name, err)
		}
	}
}

func BenchmarkRedisGet(b *testing.B) {
	srv := redistest.Start(b)
	r := newRedis(b, store.RedisConfig{Addrs: []string{srv.Addr()}})
	value := make([]byte, 256)
	if err := r.Set(b.Context(), "session:bench", value, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Get(b.Context(), "session:bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := r.Get(b.Context(), "session:bench"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// TestRedisSentinelFailover kills the master under a live Sentinel client:
// once Sentinel has promoted the replica, the same client must reach the new
// master by itself, with the replicated data.
func TestRedisSentinelFailover(t *testing.T) {
	t.Parallel() // its own servers; slow topologies overlap
	master := redistest.Start(t)
	replica := redistest.Start(t, "--replicaof", "127.0.0.1", fmt.Sprint(master.Port()))
	sentinel := redistest.StartSentinel(t, master, "gw")
	r := newRedis(t, store.RedisConfig{Addrs: []string{sentinel.Addr()}, MasterName: "gw"})

	mustSet(t, r, "session:1", "alice", time.Hour)
	// Wait until the replica has the write, so the failover keeps it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if v, _ := replica.Do("GET", store.DefaultRedisKeyPrefix+"session:1"); v == "alice" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica did not receive the write within 5 s")
		}
	}

	master.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := r.Get(t.Context(), "session:1")
		if err == nil {
			if string(v) != "alice" {
				t.Fatalf("Get after failover = %q; want \"alice\"", v)
			}
			break
		}
		if !store.IsUnavailable(err) {
			t.Fatalf("Get during failover = %v; want an unavailable error until the replica is promoted", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failover within 10 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	role, err := replica.Do("ROLE")
	if err != nil || !strings.HasPrefix(role, "master") {
		t.Fatalf("ROLE of the old replica = %q, %v; want master", role, err)
	}
	mustSet(t, r, "session:2", "bob", time.Hour)
	wantValue(t, r, "session:2", "bob")
}
