package store_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

// The local cache's tests set max_age to a minute (the most it may be) unless they test it: a
// value that changes in Redis can then only change in the cache through
// Redis's invalidation (or the store's own write), never by ageing out.

// cached opens a store on srv whose MGet caches keys under "s:", and waits
// until the cache serves.
func cached(t *testing.T, srv *redistest.Server, lc store.RedisLocalCache) *store.Redis {
	t.Helper()
	lc.Enabled = true
	if lc.MaxAge == 0 {
		lc.MaxAge = time.Minute
	}
	r := newRedis(t, store.RedisConfig{Addrs: []string{srv.Addr()}, LocalCache: lc}, store.CacheReads(nil, "s:"))
	waitServing(t, r)
	return r
}

func waitServing(t *testing.T, r *store.Redis) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !serving(r) {
		if time.Now().After(deadline) {
			t.Fatal("the local cache did not start serving within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mgetCalls is how many MGETs the server has run.
func mgetCalls(t *testing.T, raw *redis.Client) int {
	t.Helper()
	info, err := raw.Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_mget:calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// waitCached reads key through r until a read is answered from the cache
// (a write's own notice may still drop what the first read kept), for up
// to 2 s.
func waitCached(t *testing.T, r *store.Redis, raw *redis.Client, key string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		mget1(t, r, key)
		before := mgetCalls(t, raw)
		mget1(t, r, key)
		if mgetCalls(t, raw) == before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still not answered from the cache after 2 s", key)
		}
	}
}

// serving reports whether r's local cache answers reads now.
func serving(r *store.Redis) bool { st, _ := r.CacheStats(); return st.Serving }

// entries is the number of values r's local cache holds.
func entries(r *store.Redis) int { st, _ := r.CacheStats(); return st.Entries }

func mget1(t *testing.T, r *store.Redis, key string) []byte {
	t.Helper()
	v, err := r.MGet(t.Context(), key)
	if err != nil {
		t.Fatalf("MGet(%s) = %v", key, err)
	}
	return v[0]
}

// eventually waits up to 2 s for r's MGet of key to return want (nil: absent).
func eventually(t *testing.T, r *store.Redis, key string, want []byte, why string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := mget1(t, r, key)
		if bytes.Equal(got, want) && (got == nil) == (want == nil) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: MGet(%s) still returns %q after 2 s; want %q", why, key, got, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRedisCacheAnswersRepeatReadsWithoutRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	r := cached(t, srv, store.RedisLocalCache{})
	mustSet(t, r, "s:a", "A", time.Hour)
	if err := r.Delete(t.Context(), "s:absent"); err != nil {
		t.Fatal(err)
	}
	mget1(t, r, "s:absent")
	waitCached(t, r, raw, "s:a")

	before := mgetCalls(t, raw)
	st0, ok := r.CacheStats()
	if !ok || !st0.Serving || st0.Entries < 1 {
		t.Fatalf("CacheStats = %+v, %v; want a serving cache with entries", st0, ok)
	}
	for range 50 {
		got, err := r.MGet(t.Context(), "s:a", "s:absent")
		if err != nil || string(got[0]) != "A" || got[1] != nil {
			t.Fatalf("MGet = %q, %v; want [A nil]", got, err)
		}
	}
	n := mgetCalls(t, raw) - before
	if n > 1 {
		t.Fatalf("50 MGets of the same cached keys ran %d MGETs in Redis; want at most 1", n)
	}
	// The counters say the same: every read a hit or a miss, a miss per MGET.
	st, _ := r.CacheStats()
	if hits, misses := st.Hits-st0.Hits, st.Misses-st0.Misses; hits+misses != 50 || misses != uint64(n) {
		t.Fatalf("CacheStats after 50 reads with %d MGETs: %d hits, %d misses", n, hits, misses)
	}
	// Keys outside the prefixes, and Get, always read Redis.
	mustSet(t, r, "n:b", "B", time.Hour)
	before = mgetCalls(t, raw)
	for range 5 {
		if got := mget1(t, r, "n:b"); string(got) != "B" {
			t.Fatalf("MGet(n:b) = %q", got)
		}
		if _, err := r.MGet(t.Context(), "s:a", "n:b"); err != nil {
			t.Fatal(err)
		}
	}
	if n := mgetCalls(t, raw) - before; n != 10 {
		t.Fatalf("10 MGets naming an uncached key ran %d MGETs; want 10", n)
	}
}

// TestRedisCacheSeesEveryChange: whoever changes a cached key — another
// replica, another client, Redis expiring it or a FLUSHALL — the cache stops
// serving the old value.
func TestRedisCacheSeesEveryChange(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	a := cached(t, srv, store.RedisLocalCache{})
	b := newRedis(t, store.RedisConfig{Addrs: []string{srv.Addr()}}) // another replica, no cache

	mustSet(t, b, "s:k", "v1", time.Hour)
	eventually(t, a, "s:k", []byte("v1"), "first read")
	waitCached(t, a, raw, "s:k")

	mustSet(t, b, "s:k", "v2", time.Hour)
	eventually(t, a, "s:k", []byte("v2"), "after another replica's SET")
	if err := b.Delete(t.Context(), "s:k"); err != nil {
		t.Fatal(err)
	}
	eventually(t, a, "s:k", nil, "after another replica's DEL")
	// A key read while absent, then created, is not served as absent.
	if err := raw.Set(t.Context(), "gw:s:k", "v3", 0).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, a, "s:k", []byte("v3"), "after a raw client's SET of an absent key")
	// An expiry set afterwards (PEXPIRE changes no value) ends the value
	// when Redis expires it.
	if err := raw.PExpire(t.Context(), "gw:s:k", 50*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	eventually(t, a, "s:k", nil, "after the key expired")

	if err := raw.Set(t.Context(), "gw:s:k", "v4", 0).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, a, "s:k", []byte("v4"), "before FLUSHALL")
	if err := raw.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, a, "s:k", nil, "after FLUSHALL")
}

// TestRedisCacheOwnWritesAtOnce: a replica's own write is seen by its next
// read, without waiting for Redis's notice.
func TestRedisCacheOwnWritesAtOnce(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	r := cached(t, srv, store.RedisLocalCache{})
	ctx := t.Context()
	steps := []struct {
		name  string
		old   bool // the key holds "old" before the write (else absent)
		write func() error
		want  []byte
	}{
		{"Set", true, func() error { return r.Set(ctx, "s:k", []byte("new"), time.Hour) }, []byte("new")},
		{"Delete", true, func() error { return r.Delete(ctx, "s:k") }, nil},
		{"Delete several", true, func() error { return r.Delete(ctx, "s:x", "s:k") }, nil},
		{"SetNX", false, func() error { _, err := r.SetNX(ctx, "s:k", []byte("new"), time.Hour); return err }, []byte("new")},
		{"Take", true, func() error { _, err := r.Take(ctx, "s:k"); return err }, nil},
	}
	for _, st := range steps {
		for range 200 {
			if err := r.Delete(ctx, "s:k"); err != nil {
				t.Fatal(err)
			}
			if st.old {
				mustSet(t, r, "s:k", "old", time.Hour)
			}
			waitCached(t, r, raw, "s:k")
			if err := st.write(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if got := mget1(t, r, "s:k"); !bytes.Equal(got, st.want) || (got == nil) != (st.want == nil) {
				t.Fatalf("MGet right after the store's own %s = %q; want %q", st.name, got, st.want)
			}
		}
	}
}

// TestRedisCacheConnectionLoss: when the invalidation connection is killed,
// whatever changed meanwhile is not served from the cache, and the cache
// comes back with a new connection.
func TestRedisCacheConnectionLoss(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	r := cached(t, srv, store.RedisLocalCache{})
	for round := range 3 {
		v1, v2 := fmt.Sprint("a", round), fmt.Sprint("b", round)
		if err := raw.Set(t.Context(), "gw:s:k", v1, 0).Err(); err != nil {
			t.Fatal(err)
		}
		eventually(t, r, "s:k", []byte(v1), "before the kill")
		// Kill the subscriber and change the key at once: the change's
		// notice is lost with the connection.
		if err := raw.ClientKillByFilter(t.Context(), "TYPE", "pubsub").Err(); err != nil {
			t.Fatal(err)
		}
		if err := raw.Set(t.Context(), "gw:s:k", v2, 0).Err(); err != nil {
			t.Fatal(err)
		}
		eventually(t, r, "s:k", []byte(v2), "after the invalidation connection was killed")
		waitServing(t, r)
		waitCached(t, r, raw, "s:k") // the cache is back
		if got := mget1(t, r, "s:k"); string(got) != v2 {
			t.Fatalf("round %d: once back, the cache answers %q; want %q", round, got, v2)
		}
	}
	// A server restart (every key gone) empties the cache too.
	srv.Stop()
	srv.Restart()
	eventually(t, r, "s:k", nil, "after a Redis restart")
}

// TestRedisCacheKeepsNoValueOlderThanItsNotice races reads against writes:
// a read whose reply was overtaken by the invalidation of a later write must
// not be kept, or the old value would be served until max_age.
func TestRedisCacheKeepsNoValueOlderThanItsNotice(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	r := cached(t, srv, store.RedisLocalCache{})
	for round := range 40 {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 6 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
						if _, err := r.MGet(t.Context(), "s:k"); err != nil {
							t.Error(err)
							return
						}
					}
				}
			})
		}
		var last string
		for i := range 30 {
			last = fmt.Sprintf("%d-%d", round, i)
			if err := raw.Set(t.Context(), "gw:s:k", last, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		close(stop)
		wg.Wait()
		eventually(t, r, "s:k", []byte(last), fmt.Sprintf("round %d", round))
	}
}

func TestRedisCacheBounds(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	t.Run("max entries", func(t *testing.T) {
		r := cached(t, srv, store.RedisLocalCache{MaxEntries: 4})
		for i := range 20 {
			mustSet(t, r, fmt.Sprint("s:", i), "v", time.Hour)
			mget1(t, r, fmt.Sprint("s:", i))
		}
		if n := entries(r); n > 4 {
			t.Fatalf("the cache holds %d values; max_entries is 4", n)
		}
	})
	t.Run("max age", func(t *testing.T) {
		r := cached(t, srv, store.RedisLocalCache{MaxAge: 50 * time.Millisecond})
		mustSet(t, r, "s:age", "v", time.Hour)
		mget1(t, r, "s:age")
		time.Sleep(80 * time.Millisecond)
		before := mgetCalls(t, raw)
		mget1(t, r, "s:age")
		if mgetCalls(t, raw) == before {
			t.Fatal("a value older than max_age was served from the cache")
		}
	})
	t.Run("disabled", func(t *testing.T) {
		r := newRedis(t, store.RedisConfig{Addrs: []string{srv.Addr()}, LocalCache: store.RedisLocalCache{}}, store.CacheReads(nil, "s:"))
		mustSet(t, r, "s:off", "v", time.Hour)
		before := mgetCalls(t, raw)
		for range 3 {
			mget1(t, r, "s:off")
		}
		if n := mgetCalls(t, raw) - before; n != 3 || serving(r) {
			t.Fatalf("without local_cache.enabled, 3 MGets ran %d MGETs (serving %v); want 3", n, serving(r))
		}
	})
}

// TestRedisCacheOffWhenTrackingIsRefused: a Redis that refuses client
// tracking (an ACL, a proxy) leaves the cache off, says so in the log, and
// every read goes to Redis.
func TestRedisCacheOffWhenTrackingIsRefused(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	if err := raw.Do(t.Context(), "ACL", "SETUSER", "gw", "on", ">pw", "~*", "&*", "+@all", "-client|tracking").Err(); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	r := newRedis(t, store.RedisConfig{Addrs: []string{srv.Addr()}, Username: "gw", Password: "pw", LocalCache: store.RedisLocalCache{Enabled: true}}, store.CacheReads(logger, "s:"))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "local cache of session state is off") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning within 5 s; log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	mustSet(t, r, "s:k", "v1", time.Hour)
	before := mgetCalls(t, raw)
	for range 3 {
		mget1(t, r, "s:k")
	}
	if n := mgetCalls(t, raw) - before; n != 3 || serving(r) {
		t.Fatalf("3 MGets ran %d MGETs (serving %v); want 3, not serving", n, serving(r))
	}
	if st, ok := r.CacheStats(); !ok || st.Serving || st.Hits != 0 || st.Misses < 3 {
		t.Fatalf("CacheStats = %+v, %v; want not serving, no hits, every read a miss", st, ok)
	}
	if err := raw.Set(t.Context(), "gw:s:k", "v2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := mget1(t, r, "s:k"); string(got) != "v2" {
		t.Fatalf("MGet = %q; want v2", got)
	}
}

// TestRedisCacheChangeAtAnotherReplicaIsSeenAtOnce: a notice that has
// reached this replica's socket is never overtaken by a read, however late
// the subscriber's goroutine runs. Redis writes the notice in the same
// event-loop turn as the write's reply (sometimes just after it), so
// 100 µs after another replica's write has returned — less than it takes
// that replica to answer a browser that signed out there, and the browser
// to ask this one — the old value must be gone.
func TestRedisCacheChangeAtAnotherReplicaIsSeenAtOnce(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	a := cached(t, srv, store.RedisLocalCache{})
	b := newRedis(t, store.RedisConfig{Addrs: []string{srv.Addr()}})
	for i := range 300 {
		old, next := fmt.Sprint("v", i), fmt.Sprint("v", i+1)
		mustSet(t, b, "s:k", old, time.Hour)
		eventually(t, a, "s:k", []byte(old), "setup")
		waitCached(t, a, raw, "s:k")
		if i%2 == 0 {
			mustSet(t, b, "s:k", next, time.Hour)
			hop()
			if got := mget1(t, a, "s:k"); string(got) != next {
				t.Fatalf("round %d: right after another replica's SET, MGet = %q; want %q", i, got, next)
			}
		} else {
			if err := b.Delete(t.Context(), "s:k"); err != nil {
				t.Fatal(err)
			}
			hop()
			if got := mget1(t, a, "s:k"); got != nil {
				t.Fatalf("round %d: right after another replica's DEL, MGet = %q; want nil", i, got)
			}
		}
	}
}

// hop stands for the shortest way from one replica's answer to another
// replica's next request.
func hop() { time.Sleep(100 * time.Microsecond) }

// TestRedisCacheFollowsASentinelFailover: after a Sentinel failover, the
// store reads and writes the new master while the invalidation connection
// may still be subscribed on the old one, which hears nothing of the new
// master's writes (go-redis moves its pool, not a Pub/Sub connection, and
// Sentinel's CLIENT KILL TYPE normal spares it). The cache must stop
// serving and follow the new master, not serve what it read until max_age.
// Here the old master stays a master (Sentinel cannot reconfigure it, as
// when a partition separates it from the Sentinels but not from the
// gateway), so nothing of the new master's writes reaches it.
func TestRedisCacheFollowsASentinelFailover(t *testing.T) {
	t.Parallel()
	master := redistest.Start(t, "--rename-command", "REPLICAOF", "", "--rename-command", "SLAVEOF", "")
	replica := redistest.Start(t, "--replicaof", "127.0.0.1", fmt.Sprint(master.Port()))
	sentinel := redistest.StartSentinel(t, master, "gw")
	cfg := store.RedisConfig{Addrs: []string{sentinel.Addr()}, MasterName: "gw"}
	withCache := cfg
	withCache.LocalCache = store.RedisLocalCache{Enabled: true, MaxAge: time.Minute}
	a := newRedis(t, withCache, store.CacheReads(nil, "s:"))
	b := newRedis(t, cfg) // another replica, no cache
	waitServing(t, a)

	mustSet(t, b, "s:k", "v1", time.Hour)
	eventually(t, a, "s:k", []byte("v1"), "before the failover")
	waitCached(t, a, rawClient(t, master), "s:k")

	// Sentinel finds the replica within its INFO period (10 s at most).
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, err := sentinel.Do("SENTINEL", "FAILOVER", "gw")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SENTINEL FAILOVER = %q, %v", out, err)
		}
	}
	// Another replica changes the key on the new master, once Sentinel
	// names it and that replica writes there (not on the old master, which
	// still takes writes).
	v2 := ""
	for i, deadline := 0, time.Now().Add(10*time.Second); ; i++ {
		if time.Now().After(deadline) {
			t.Fatal("no failover, or no write on the new master, within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
		if addr, _ := sentinel.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "gw"); addr != "127.0.0.1\n"+fmt.Sprint(replica.Port()) {
			continue
		}
		v2 = fmt.Sprint("v2-", i)
		_ = b.Set(t.Context(), "s:k", []byte(v2), time.Hour)
		if v, _ := replica.Do("GET", "gw:s:k"); v == v2 {
			if v, _ := master.Do("GET", "gw:s:k"); v != v2 {
				break
			}
		}
	}
	eventually(t, a, "s:k", []byte(v2), "after a failover and a write on the new master")
	// What the cache keeps now it reads from the new master: a change
	// there must reach it.
	rawNew := rawClient(t, replica)
	waitCached(t, a, rawNew, "s:k")
	mustSet(t, b, "s:k", "v3", time.Hour)
	eventually(t, a, "s:k", []byte("v3"), "after another write on the new master")
	waitCached(t, a, rawNew, "s:k")
	if err := b.Delete(t.Context(), "s:k"); err != nil {
		t.Fatal(err)
	}
	eventually(t, a, "s:k", nil, "after a DEL on the new master")
}

// TestRedisCacheReadOutOfStep: when a notice reaches the invalidation
// connection in two parts and the read times out between them (a lost
// segment, a stalled link), the rest of the notice is read as replies of
// its own. The key it names must not be lost while the cache goes on
// serving: the cache must start over (and read Redis) instead.
func TestRedisCacheReadOutOfStep(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	p := newSplitProxy(t, srv.Addr())
	a := newRedis(t, store.RedisConfig{Addrs: []string{p.addr}, LocalCache: store.RedisLocalCache{Enabled: true, MaxAge: time.Minute}}, store.CacheReads(nil, "s:"))
	waitServing(t, a)
	b := newRedis(t, store.RedisConfig{Addrs: []string{srv.Addr()}}) // another replica

	mustSet(t, b, "s:k", "v1", time.Hour)
	eventually(t, a, "s:k", []byte("v1"), "setup")
	waitCached(t, a, raw, "s:k")
	// The notice of the DEL is cut before the key it names; the rest
	// follows when the subscriber sends its next command, or after 300 ms.
	p.split.Store(&splitAt{before: "$6\r\ngw:s:k\r\n"})
	if err := b.Delete(t.Context(), "s:k"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for p.split.Load() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the proxy did not see the DEL's notice within 2 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if got := mget1(t, a, "s:k"); got != nil {
		t.Fatalf("after another replica's DEL whose notice arrived in two parts, MGet = %q; want nil", got)
	}
}

// TestRedisCacheNotServingWhileResubscribing: when the invalidation
// connection dies, go-redis dials a new one at once, inside the read that
// failed, and runs its handshake (CLIENT ID, CLIENT TRACKING) before the
// subscriber learns of the failure. While that handshake waits for Redis,
// the new connection is blocked reading with nothing pending — but it is
// not the one whose notices the cache applied, and the notices lost with
// the old one are not applied at all: the cache must not serve then.
func TestRedisCacheNotServingWhileResubscribing(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	p := newSplitProxy(t, srv.Addr())
	a := newRedis(t, store.RedisConfig{Addrs: []string{p.addr}, LocalCache: store.RedisLocalCache{Enabled: true, MaxAge: time.Minute}}, store.CacheReads(nil, "s:"))
	waitServing(t, a)
	mustSet(t, a, "s:k", "v1", time.Hour)
	waitCached(t, a, raw, "s:k")

	// New connections (the subscriber's next one) wait 600 ms for their
	// first reply; the store's own pooled connection is not new.
	p.delayNew.Store(true)
	if err := raw.ClientKillByFilter(t.Context(), "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	// Redis closes a killed connection after its reply to CLIENT KILL,
	// and a change made before the close reaches the client does not reach
	// the cache (its notice goes nowhere): that window, until the cache sees
	// the close, is the canary's to bound (cacheLive), not this test's. The
	// change is made once the cache has seen it; from then on, while the
	// next subscription is being set up, nothing may be served.
	for deadline := time.Now().Add(5 * time.Second); serving(a); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the cache went on serving after its invalidation connection was killed")
		}
	}
	if err := raw.Set(t.Context(), "gw:s:k", "v2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if got := mget1(t, a, "s:k"); string(got) != "v2" {
			t.Fatalf("after the invalidation connection was killed and the key changed, MGet = %q; want \"v2\"", got)
		}
	}
	p.delayNew.Store(false)
	waitServing(t, a)
	if got := mget1(t, a, "s:k"); string(got) != "v2" {
		t.Fatalf("once back, MGet = %q; want \"v2\"", got)
	}
}

// splitProxy forwards TCP connections to a Redis server. On the one that
// subscribes to the invalidations, it can cut a reply in two: the bytes
// before split.before go at once, the rest when that connection next sends
// anything to Redis, or after 300 ms.
type splitProxy struct {
	addr  string
	split atomic.Pointer[splitAt]
	// delayNew holds back, for 600 ms, the first reply on each connection
	// accepted while it is set.
	delayNew atomic.Bool
}

type splitAt struct{ before string }

func newSplitProxy(t *testing.T, target string) *splitProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &splitProxy{addr: l.Addr().String()}
	var conns sync.WaitGroup
	t.Cleanup(func() { _ = l.Close(); conns.Wait() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			var subscriber atomic.Bool
			sent := make(chan struct{}, 1) // the client sent something
			delay := p.delayNew.Load()
			conns.Go(func() {
				defer c.Close()
				defer s.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if bytes.Contains(buf[:n], []byte("__redis__:invalidate")) {
							subscriber.Store(true)
						}
						select {
						case sent <- struct{}{}:
						default:
						}
						if _, err := s.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
			conns.Go(func() {
				defer c.Close()
				defer s.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 && delay {
						time.Sleep(600 * time.Millisecond)
						delay = false
					}
					if n > 0 {
						chunk := buf[:n]
						if sp := p.split.Load(); sp != nil && subscriber.Load() {
							if i := bytes.Index(chunk, []byte(sp.before)); i >= 0 {
								if _, err := c.Write(chunk[:i]); err != nil {
									return
								}
								select {
								case <-sent: // drop what was sent before
								default:
								}
								select {
								case <-sent:
								case <-time.After(300 * time.Millisecond):
								}
								chunk = chunk[i:]
								p.split.Store(nil)
							}
						}
						if _, err := c.Write(chunk); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
		}
	}()
	return p
}
