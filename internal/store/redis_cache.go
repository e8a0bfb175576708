package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
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
//   - It serves only while the subscriber is subscribed on the very server
//     the store reads and writes, as a canary shows: every cachePing the
//     store's own client (the one MGet and the writes use) publishes the
//     time to a channel only this subscription listens to. PUBLISH answers
//     how many subscribers got it on that server; none means the
//     subscriber is elsewhere (after a Sentinel failover it stays on the
//     old master, since go-redis moves its pool but not a Pub/Sub
//     connection, and Sentinel's CLIENT KILL TYPE normal spares it): the
//     cache stops serving (within cachePing of the store's client moving)
//     and resubscribes, which dials the server Sentinel names. It serves
//     only while a canary published within cacheLive has arrived, and has
//     applied every byte that reached its socket:
//     each lookup checks that the subscriber is blocked reading and that
//     nothing waits on the socket (peek.Quiet, one non-blocking syscall).
//     A notice that has arrived is never overtaken by a request, however
//     late the subscriber's goroutine runs — and a sign-out at another
//     replica sends its notice before that replica can answer the browser.
//     A connection Redis closed (or that Redis's death closed) shows at
//     once the same way.
//   - When the connection breaks, stalls or is killed, the cache is emptied
//     and bypassed until a new connection has subscribed (which empties it
//     again): invalidations lost meanwhile cannot matter. The socket
//     watched is the one the subscription was confirmed on, never a newer
//     one go-redis dialed meanwhile.
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
	// store is the store's own client: canaries go where reads go.
	store redis.UniversalClient
	// canaryPrefix begins the channel of each subscription's canaries.
	canaryPrefix string
	logger       *slog.Logger

	// heard is when (monoNow) the latest canary that arrived was
	// published; 0 while the subscriber is not subscribed, or not on the
	// store's server.
	heard atomic.Int64
	// canary is the channel the current subscription listens to for
	// canaries ("" while none is subscribed). Set under mu.
	canary atomic.Pointer[string]
	// conn is the latest connection the subscriber's client dialed; sub
	// is the one the current subscription was confirmed on (nil while
	// there is none). Only sub's socket says whether every notice was
	// applied: go-redis dials the next connection, and runs its handshake,
	// inside the read that found the last one broken, before the
	// subscriber hears of it.
	conn atomic.Pointer[watchedConn]
	sub  atomic.Pointer[watchedConn]
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
	until int64  // served before this time (monoNow)
}

// monoEpoch and monoNow are the cache's clock: nanoseconds on the
// monotonic clock, so that a step of the wall clock (NTP, a resumed VM)
// neither stretches a value's life nor the time since the last canary.
var monoEpoch = time.Now()

func monoNow() int64 { return int64(time.Since(monoEpoch)) }

const (
	// cachePing is how often the store publishes a canary; cacheLive is
	// how long after the latest canary that arrived was published the
	// cache still serves (and, without one, when the subscriber starts
	// over).
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
// client options); store is the store's client, which publishes the
// canaries on channels under canaryPrefix. The cache serves nothing until
// the subscriber has subscribed and a canary has arrived.
func newReadCache(opts *redis.UniversalOptions, store redis.UniversalClient, tlsState *redisTLS, cfg RedisLocalCache, prefixes []string, canaryPrefix string, logger *slog.Logger) *readCache {
	if logger == nil {
		logger = slog.Default()
	}
	c := &readCache{
		prefixes:     prefixes,
		maxAge:       int64(cfg.MaxAge),
		maxEntries:   cfg.MaxEntries,
		store:        store,
		canaryPrefix: canaryPrefix,
		entries:      make(map[string]cacheEntry),
		logger:       logger.With("component", "redis-cache"),
		done:         make(chan struct{}),
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
	w := c.sub.Load()
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
	// subscribed on the store's server, as a canary published within the
	// last second showed).
	Serving bool
	// Entries is the number of values held.
	Entries int
}

func (c *readCache) stats() CacheStats {
	c.mu.RLock()
	n := len(c.entries)
	c.mu.RUnlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Serving: c.serving(monoNow()), Entries: n}
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

// up marks the subscriber subscribed, listening for canaries on channel:
// what was cached before (there should be nothing) is dropped, since
// invalidations may have been lost. The cache serves once a canary has
// arrived (hear).
func (c *readCache) up(channel string) {
	c.mu.Lock()
	clear(c.entries)
	c.gen.Add(1)
	c.heard.Store(0)
	c.canary.Store(&channel)
	c.sub.Store(c.conn.Load())
	c.mu.Unlock()
}

// hear records a canary of channel published at sent (monoNow).
func (c *readCache) hear(channel string, sent int64) {
	c.mu.Lock()
	if p := c.canary.Load(); p != nil && *p == channel && sent > c.heard.Load() {
		c.heard.Store(sent)
	}
	c.mu.Unlock()
}

// down marks the subscriber not subscribed and empties the cache.
func (c *readCache) down() {
	c.mu.Lock()
	c.heard.Store(0)
	c.canary.Store(nil)
	c.sub.Store(nil)
	clear(c.entries)
	c.gen.Add(1)
	c.mu.Unlock()
}

// elsewhere is down for the subscription of channel, if it is still the
// current one: the store's server has no subscriber on it. The subscriber
// sees that the channel is no longer its own and starts over.
func (c *readCache) elsewhere(channel string) {
	c.mu.Lock()
	if p := c.canary.Load(); p != nil && *p == channel {
		c.heard.Store(0)
		c.canary.Store(nil)
		c.sub.Store(nil)
		clear(c.entries)
		c.gen.Add(1)
	}
	c.mu.Unlock()
}

// current returns the canary channel of the current subscription, or "".
func (c *readCache) current() string {
	if p := c.canary.Load(); p != nil {
		return *p
	}
	return ""
}

// publish sends a canary every cachePing through the store's client, to
// the current subscription's channel, until ctx ends. A PUBLISH that
// reaches no subscriber means the store's server is not the subscriber's:
// the cache stops serving at once.
func (c *readCache) publish(ctx context.Context) {
	t := time.NewTicker(cachePing)
	defer t.Stop()
	for {
		if ch := c.current(); ch != "" {
			pctx, cancel := context.WithTimeout(ctx, cacheLive)
			n, err := c.store.Publish(pctx, ch, strconv.FormatInt(monoNow(), 10)).Result()
			cancel()
			if err == nil && n == 0 {
				c.elsewhere(ch)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// newCanaryChannel names the canary channel of one subscription: a new
// one each time, so that no earlier connection of this cache, nor anyone
// else, counts as its subscriber.
func (c *readCache) newCanaryChannel() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return c.canaryPrefix + hex.EncodeToString(b[:])
}

// run keeps a subscriber subscribed until ctx ends, reconnecting with a
// growing pause (100 ms to 5 s) while Redis cannot be reached or refuses
// client tracking.
func (c *readCache) run(ctx context.Context) {
	defer close(c.done)
	published := make(chan struct{})
	go func() {
		defer close(published)
		c.publish(ctx)
	}()
	defer func() { <-published }()
	pause := 100 * time.Millisecond
	logged := false
	for ctx.Err() == nil {
		canary := c.newCanaryChannel()
		ps := c.client.Subscribe(ctx, invalidateChannel, canary)
		ran, err := c.listen(ctx, ps, canary)
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

// listen applies ps's messages to the cache until ps fails, ctx ends, or
// the subscription no longer serves (no canary on canary within
// cacheLive, or one published where this subscriber is not). ran reports
// whether the subscription was confirmed.
//
// Nothing else may arrive: no ping is sent, so a reply that reads as a
// pong — or a message on another channel, or any other reply — means the
// stream was read out of step (a read that timed out in the middle of a
// message leaves the rest of it to be read as replies of their own), and
// the subscriber starts over rather than lose the keys of that message.
func (c *readCache) listen(ctx context.Context, ps *redis.PubSub, canary string) (ran bool, err error) {
	subscribed := 0
	var lastCanary int64 // when (monoNow) the latest canary arrived
	for {
		if err := ctx.Err(); err != nil {
			return ran, err
		}
		if ran && c.current() != canary {
			return ran, errors.New("the store's Redis server has no subscriber on this replica's canary channel: the invalidation connection is on another server (a failover?)")
		}
		if ran && monoNow()-lastCanary > int64(cacheLive) {
			return ran, errors.New("no canary arrived on the invalidation connection in time")
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
			if isTimeout(err) && ran {
				continue // the checks above decide
			}
			if isTimeout(err) {
				err = errors.New("redis did not confirm the invalidation subscription in time")
			}
			return ran, err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" || (m.Channel != invalidateChannel && m.Channel != canary) || ran {
				return ran, fmt.Errorf("unexpected %s %q on the invalidation connection", m.Kind, m.Channel)
			}
			if subscribed++; subscribed == 2 {
				ran = true
				lastCanary = monoNow()
				c.up(canary)
				c.logger.Info("the local cache of session state is on: Redis sends this replica every change")
			}
		case *redis.Message:
			switch m.Channel {
			case invalidateChannel:
				if m.PayloadSlice != nil {
					c.drop(m.PayloadSlice...)
				} else {
					c.drop(m.Payload)
				}
			case canary:
				sent, err := strconv.ParseInt(m.Payload, 10, 64)
				if err != nil {
					return ran, fmt.Errorf("unexpected canary %q on the invalidation connection", m.Payload)
				}
				if ran {
					lastCanary = monoNow()
					c.hear(canary, sent)
				}
			default:
				return ran, fmt.Errorf("unexpected message on channel %q on the invalidation connection", m.Channel)
			}
		default:
			return ran, fmt.Errorf("unexpected %T on the invalidation connection (read out of step)", msg)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
