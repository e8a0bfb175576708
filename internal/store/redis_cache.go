package store

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"golang.org/x/sys/unix"

	"github.com/accessgateway/gateway/internal/peek"
)

// readCache keeps, in the process, the values the request path read with
// MGet under a few key prefixes (sessions, device bindings, grants), so
// that a steady stream of requests of one session needs no Redis round
// trip. Redis tells it when they change: a dedicated subscriber connection
// turns on client tracking in broadcasting mode for those prefixes,
// redirected to itself (CLIENT TRACKING ON REDIRECT <own id> BCAST PREFIX
// ...), and subscribes to __redis__:invalidate. Every write to a key under
// a prefix — by any replica, any client, or Redis expiring or evicting
// it — reaches every replica's subscriber as an invalidation message, on a
// connection that does nothing but read, so it is applied on arrival.
//
// What keeps it from serving a value Redis no longer holds:
//
//   - It serves only while the subscriber is subscribed, has heard from
//     Redis (a message, or the answer to a ping sent every cachePing)
//     within cacheLive, and has applied every byte that reached its socket:
//     each lookup checks that the subscriber is blocked reading and that
//     nothing waits on the socket (peek.Quiet, one non-blocking syscall).
//     A notice that has arrived is never overtaken by a request, however
//     late the subscriber's goroutine runs — and a sign-out at another
//     replica sends its notice before that replica can answer the browser.
//     A connection Redis closed (or that Redis's death closed) shows at
//     once the same way.
//   - When the connection breaks, stalls or is killed, the cache is emptied
//     and bypassed until a new connection has subscribed (which empties it
//     again): invalidations lost meanwhile cannot matter.
//   - A value is kept only if nothing was invalidated while it was being
//     read (gen did not move): an old value whose invalidation overtook
//     the read's reply is never kept.
//   - This process's own writes drop their keys at once (read-your-writes
//     within a replica, without waiting for the message).
//   - Each value is served for at most maxAge after its read began,
//     whatever happens: the bound on a lost invalidation that went
//     unnoticed, and on Redis's lazy expiry of keys whose TTL ran out.
//
// Not in Cluster mode (the keys' nodes would each need a subscriber).
type readCache struct {
	prefixes   []string // full keys (with the store's prefix)
	maxAge     int64    // nanoseconds
	maxEntries int
	client     redis.UniversalClient
	logger     *slog.Logger

	// heard is when (unix nanoseconds) the subscriber last heard from
	// Redis while subscribed; 0 while it is not.
	heard atomic.Int64
	// conn is the subscriber's connection (the latest dialed).
	conn atomic.Pointer[watchedConn]
	// gen moves (under mu) with every invalidation, flush and change of
	// the subscriber's state.
	gen     atomic.Uint64
	mu      sync.RWMutex
	entries map[string]cacheEntry

	hits, misses atomic.Uint64
	cancel       context.CancelFunc
	done         chan struct{}
}

type cacheEntry struct {
	val   []byte // nil: the key was absent
	until int64  // served before this time (unix nanoseconds)
}

const (
	// cachePing is how often an idle subscriber pings Redis; cacheLive is
	// how long after it last heard from Redis the cache still serves.
	cachePing = 250 * time.Millisecond
	cacheLive = 4 * cachePing
	// cacheSubscribeWait bounds the wait for a subscription's confirmation.
	cacheSubscribeWait = 2 * time.Second
	// invalidateChannel is where Redis publishes the invalidations of a
	// RESP2 tracking redirect.
	invalidateChannel = "__redis__:invalidate"
	// cacheClientName names the subscriber in CLIENT LIST.
	cacheClientName = "gateway-cache-invalidations"
)

// newReadCache starts the subscriber of a cache of keys under prefixes
// (already prefixed with the store's key prefix), with opts (the store's
// client options). The cache serves nothing until the subscriber has
// subscribed.
func newReadCache(opts *redis.UniversalOptions, tlsState *redisTLS, cfg RedisLocalCache, prefixes []string, logger *slog.Logger) *readCache {
	if logger == nil {
		logger = slog.Default()
	}
	c := &readCache{
		prefixes:   prefixes,
		maxAge:     int64(cfg.MaxAge),
		maxEntries: cfg.MaxEntries,
		entries:    make(map[string]cacheEntry),
		logger:     logger.With("component", "redis-cache"),
		done:       make(chan struct{}),
	}
	o := *opts
	o.PoolSize = 1
	o.MinIdleConns = 0
	// RESP2: invalidations arrive as Pub/Sub messages on the redirect
	// target (RESP3 would push them in-band, beside replies).
	o.Protocol = 2
	o.ClientName = cacheClientName
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	// The subscriber's TCP connection (under TLS, if any) is watched; the
	// sentinels' are not.
	sentinels := map[string]bool{}
	if o.MasterName != "" {
		for _, a := range o.Addrs {
			sentinels[a] = true
		}
	}
	watch := func(addr string, cn net.Conn) net.Conn {
		if sentinels[addr] {
			return cn
		}
		w := newWatchedConn(cn)
		c.conn.Store(w)
		return w
	}
	if tlsState != nil {
		o.Dialer = tlsState.dialer(o.DialTimeout, watch)
	} else {
		d := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 5 * time.Minute}
		o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			cn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return watch(addr, cn), nil
		}
	}
	o.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
		id, err := cn.ClientID(ctx).Result()
		if err != nil {
			return err
		}
		args := []any{"client", "tracking", "on", "redirect", id, "bcast"}
		for _, p := range c.prefixes {
			args = append(args, "prefix", p)
		}
		return cn.Do(ctx, args...).Err()
	}
	c.client = redis.NewUniversalClient(&o)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(ctx)
	return c
}

// close stops the subscriber and closes its connection.
func (c *readCache) close() {
	c.cancel()
	<-c.done
	c.down()
	_ = c.client.Close()
}

// cacheable reports whether key (a full key) is under one of the prefixes.
func (c *readCache) cacheable(key string) bool {
	for _, p := range c.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// serving reports whether the cache may answer at now: the subscriber is
// subscribed, heard from Redis lately, and has nothing left to apply.
func (c *readCache) serving(now int64) bool {
	h := c.heard.Load()
	if h == 0 || now-h > int64(cacheLive) {
		return false
	}
	w := c.conn.Load()
	return w != nil && w.rc != nil && w.reading.Load() && peek.Quiet(w.Conn)
}

// watchedConn is the subscriber's TCP connection. reading is set while a
// Read waits for bytes with none taken from the socket yet: go-redis (and
// TLS) hold nothing the subscriber has not applied, and whatever arrives
// stays visible to peek.Quiet until reading is cleared — a Read first
// waits for the socket to be readable without taking anything, clears
// reading, and only then reads.
type watchedConn struct {
	net.Conn
	rc      syscall.RawConn // nil: no socket to watch (never serves)
	reading atomic.Bool
}

func newWatchedConn(c net.Conn) *watchedConn {
	w := &watchedConn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			w.rc = rc
		}
	}
	return w
}

func (w *watchedConn) Read(p []byte) (int, error) {
	if w.rc != nil {
		w.reading.Store(true)
		// Wait (through the runtime's poller, honouring the read
		// deadline) until bytes, EOF or an error are there, taking none;
		// whatever it returns, the Read below returns it again.
		_ = w.rc.Read(func(fd uintptr) bool {
			var b [1]byte
			_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			return err != unix.EAGAIN && err != unix.EWOULDBLOCK
		})
		w.reading.Store(false)
	}
	return w.Conn.Read(p)
}

// lookup returns the values of keys if every one of them is cached, fresh
// and the cache is serving; else ok is false and the caller reads Redis
// (after begin).
//
// Reads of cacheable keys count as hits or misses (a read while the cache
// is not serving is a miss).
func (c *readCache) lookup(keys []string, now int64) (vals [][]byte, ok bool) {
	for _, k := range keys {
		if !c.cacheable(k) {
			return nil, false
		}
	}
	if !c.serving(now) {
		c.misses.Add(1)
		return nil, false
	}
	vals = make([][]byte, len(keys))
	c.mu.RLock()
	for i, k := range keys {
		e, found := c.entries[k]
		if !found || now >= e.until {
			c.mu.RUnlock()
			c.misses.Add(1)
			return nil, false
		}
		vals[i] = e.val
	}
	c.mu.RUnlock()
	c.hits.Add(1)
	return vals, true
}

// CacheStats are the local cache's counters (Redis.CacheStats).
type CacheStats struct {
	// Hits and Misses count the reads of cacheable keys answered from
	// memory and from Redis.
	Hits, Misses uint64
	// Serving: the cache answers reads now (its invalidation connection is
	// subscribed and heard from Redis within the last second).
	Serving bool
	// Entries is the number of values held.
	Entries int
}

func (c *readCache) stats() CacheStats {
	c.mu.RLock()
	n := len(c.entries)
	c.mu.RUnlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Serving: c.serving(time.Now().UnixNano()), Entries: n}
}

// wants reports whether a read of keys that misses at now should be kept:
// the cache is serving and every key is cacheable (the caller then reads
// the keys' TTLs too, for keep).
func (c *readCache) wants(keys []string, now int64) bool {
	if !c.serving(now) {
		return false
	}
	for _, k := range keys {
		if !c.cacheable(k) {
			return false
		}
	}
	return true
}

// begin returns the generation to give keep for a read that starts now.
func (c *readCache) begin() uint64 { return c.gen.Load() }

// keep stores the values of a read of keys that began at start in
// generation gen — unless anything was invalidated since, or the cache is
// not serving. ttls are the keys' PTTL replies (negative: no TTL, or
// absent): a value is served until start plus the shorter of its TTL and
// maxAge. vals are read-only from now on (MultiGetter's contract).
func (c *readCache) keep(gen uint64, start int64, keys []string, vals [][]byte, ttls []time.Duration) {
	if !c.serving(start) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	for i, k := range keys {
		if !c.cacheable(k) {
			continue
		}
		life := c.maxAge
		if vals[i] != nil && ttls[i] >= 0 {
			life = min(life, int64(ttls[i]))
		}
		if life <= 0 {
			continue
		}
		if _, ok := c.entries[k]; !ok && len(c.entries) >= c.maxEntries {
			c.evictLocked(start)
		}
		c.entries[k] = cacheEntry{val: vals[i], until: start + life}
	}
}

// evictLocked makes room for one entry (c.mu held): expired entries among
// the first few the map yields go, or else one of them.
func (c *readCache) evictLocked(now int64) {
	n := 0
	for k, e := range c.entries {
		if now >= e.until {
			delete(c.entries, k)
		}
		if n++; n == 8 {
			break
		}
	}
	if len(c.entries) < c.maxEntries {
		return
	}
	for k := range c.entries {
		delete(c.entries, k)
		return
	}
}

// drop forgets keys (full keys): Redis said they changed, or this process
// wrote them.
func (c *readCache) drop(keys ...string) {
	c.mu.Lock()
	for _, k := range keys {
		delete(c.entries, k)
	}
	c.gen.Add(1)
	c.mu.Unlock()
}

// flush forgets everything.
func (c *readCache) flush() {
	c.mu.Lock()
	clear(c.entries)
	c.gen.Add(1)
	c.mu.Unlock()
}

// up marks the subscriber subscribed: what was cached before (there
// should be nothing) is dropped, since invalidations may have been lost.
func (c *readCache) up() {
	c.mu.Lock()
	clear(c.entries)
	c.gen.Add(1)
	c.heard.Store(time.Now().UnixNano())
	c.mu.Unlock()
}

// down marks the subscriber not subscribed and empties the cache.
func (c *readCache) down() {
	c.mu.Lock()
	c.heard.Store(0)
	clear(c.entries)
	c.gen.Add(1)
	c.mu.Unlock()
}

// run keeps a subscriber subscribed until ctx ends, reconnecting with a
// growing pause (100 ms to 5 s) while Redis cannot be reached or refuses
// client tracking.
func (c *readCache) run(ctx context.Context) {
	defer close(c.done)
	pause := 100 * time.Millisecond
	logged := false
	for ctx.Err() == nil {
		ps := c.client.Subscribe(ctx, invalidateChannel)
		ran, err := c.listen(ctx, ps)
		_ = ps.Close()
		c.down()
		if ctx.Err() != nil {
			return
		}
		if ran {
			pause, logged = 100*time.Millisecond, false
		}
		if !logged {
			// Once per outage, not once per attempt.
			c.logger.Warn("the local cache of session state is off until the invalidation connection is back: every request reads Redis", "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// listen applies ps's messages to the cache until ps fails or ctx ends.
// ran reports whether the subscription was confirmed.
func (c *readCache) listen(ctx context.Context, ps *redis.PubSub) (ran bool, err error) {
	pinged := false
	for {
		if err := ctx.Err(); err != nil {
			return ran, err
		}
		wait := cachePing
		if !ran {
			wait = cacheSubscribeWait
		}
		// A FLUSHALL's or FLUSHDB's invalidation has a null payload, which
		// go-redis reports as an error ("unsupported pubsub message
		// payload"): the subscriber reconnects and down() empties the
		// cache, which is what a flush asks for (TestRedisCacheSeesEveryChange).
		msg, err := ps.ReceiveTimeout(ctx, wait)
		if err != nil {
			if isTimeout(err) && !pinged && ran {
				if err := ps.Ping(ctx); err != nil {
					return ran, err
				}
				pinged = true
				continue
			}
			if isTimeout(err) && ran {
				err = errors.New("redis did not answer a ping on the invalidation connection in time")
			} else if isTimeout(err) {
				err = errors.New("redis did not confirm the invalidation subscription in time")
			}
			return ran, err
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Channel == invalidateChannel && m.Kind == "subscribe" {
				ran = true
				c.up()
				c.logger.Info("the local cache of session state is on: Redis sends this replica every change")
			}
		case *redis.Message:
			if m.Channel != invalidateChannel {
				continue
			}
			if m.PayloadSlice != nil {
				c.drop(m.PayloadSlice...)
			} else {
				c.drop(m.Payload)
			}
			c.heard.Store(time.Now().UnixNano())
		case *redis.Pong:
			c.heard.Store(time.Now().UnixNano())
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
