package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Redis is a Store kept in Redis (standalone, Sentinel or Cluster), shared by
// every gateway replica that uses the same server and key prefix.
//
// Every key is stored as KeyPrefix+key. Take is one GETDEL, SetNX one
// SET NX PX, SetXX one SET XX PX and CompareAndDelete one Lua script, so
// each is atomic across replicas.
// TTLs are sent in milliseconds, rounded up (never past the largest
// Duration: every key gets a TTL). Redis must be 6.2 or newer
// (GETDEL).
//
// Errors: a missing key is ErrNotFound; anything else is wrapped as
// "store: redis <op>: ..." and means Redis could not answer. The client
// reconnects by itself when Redis comes back: the Redis value need not be
// rebuilt after an outage. Not handled here: keys of one Delete call living
// on different Cluster slots are deleted one by one (not atomically).
type Redis struct {
	client redis.UniversalClient
	prefix string
	mode   RedisMode
	// username is the ACL user (empty: the default user), for errors.
	username string
	// batch pipelines concurrent reads (nil in Cluster mode).
	batch *readBatcher
	addrs []string
	tls   *redisTLS // nil without TLS
	// cache keeps what MGet read under the CacheReads prefixes (nil
	// without CacheReads, with local_cache.disabled, or in Cluster mode).
	cache *readCache
	// wait and waitTimeout: writes wait for wait replicas (WaitReplicas).
	wait        int
	waitTimeout time.Duration

	closeOnce sync.Once
	closeErr  error
}

var (
	_ Store         = (*Redis)(nil)
	_ MultiGetter   = (*Redis)(nil)
	_ ScriptChecker = (*Redis)(nil)
)

// redisMaxRetries is how many times go-redis retries a failed command: once,
// so that a connection that died with the server (and was not yet noticed by
// the pool) costs one retry rather than a denial, while a server that is down
// still fails fast.
const redisMaxRetries = 1

// RedisOption adds to what RedisConfig says.
type RedisOption func(*redisOptions)

type redisOptions struct {
	cachePrefixes []string
	logger        *slog.Logger
}

// CacheReads lets MGet answer keys under prefixes from the replica's local
// cache, which Redis keeps current (see readCache; RedisConfig.LocalCache
// can turn it off), and logs the cache's changes of state to logger (nil:
// slog's default). It is for the request path's reads: values a request
// needs for its decision and that change rarely (sessions, device
// bindings, grants). Get, Take and the writes never use the cache.
func CacheReads(logger *slog.Logger, prefixes ...string) RedisOption {
	return func(o *redisOptions) {
		o.cachePrefixes = append(o.cachePrefixes, prefixes...)
		o.logger = logger
	}
}

// NewRedis applies cfg's defaults, validates it, connects and pings Redis
// within ctx. It returns an error, and holds no connection, if the config is
// invalid, tls.ca_file cannot be read, or Redis does not answer the ping.
func NewRedis(ctx context.Context, cfg RedisConfig, options ...RedisOption) (*Redis, error) {
	var ro redisOptions
	for _, o := range options {
		o(&ro)
	}
	cfg = cfg.WithDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("store: invalid redis config: %w", errors.Join(errs...))
	}
	tlsState, err := newRedisTLS(cfg.TLS)
	if err != nil {
		return nil, err
	}
	opts := &redis.UniversalOptions{
		Addrs:            cfg.Addrs,
		MasterName:       cfg.MasterName,
		Username:         cfg.Username,
		Password:         cfg.Password,
		SentinelUsername: cfg.SentinelUsername,
		SentinelPassword: cfg.SentinelPassword,
		DB:               cfg.DB,
		DialTimeout:      cfg.DialTimeout,
		ReadTimeout:      cfg.ReadTimeout,
		WriteTimeout:     cfg.WriteTimeout,
		PoolSize:         cfg.PoolSize,
		// Honour the caller's context deadline on reads and writes too, not
		// only the fixed timeouts.
		ContextTimeoutEnabled: true,
		MaxRetries:            redisMaxRetries,
		// One dial attempt per try: go-redis would otherwise dial 5 times
		// with 100 ms pauses before a command fails.
		DialerRetries: 1,
		// Maintenance notifications are a Redis Enterprise feature; skip the
		// handshake that probes for them.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if tlsState != nil {
		// TLS is dialed by redisTLS, whose CA bundle ReloadCA replaces.
		opts.Dialer = tlsState.dialer(cfg.DialTimeout, nil)
	}
	r := &Redis{
		tls:      tlsState,
		client:   redis.NewUniversalClient(opts),
		prefix:   cfg.KeyPrefix,
		mode:     cfg.Mode(),
		addrs:    cfg.Addrs,
		username: cfg.Username,

		wait:        cfg.WaitReplicas,
		waitTimeout: cfg.WaitTimeout,
	}
	if r.mode != RedisCluster {
		r.batch = &readBatcher{c: r.client}
	}
	if err := r.client.Ping(ctx).Err(); err != nil {
		_ = r.client.Close()
		return nil, fmt.Errorf("store: redis ping (%s %v): %w", r.mode, r.addrs, err)
	}
	if len(ro.cachePrefixes) > 0 && cfg.LocalCache.Enabled && r.mode != RedisCluster {
		full := make([]string, len(ro.cachePrefixes))
		for i, p := range ro.cachePrefixes {
			full[i] = r.prefix + p
		}
		r.cache = newReadCache(opts, r.client, tlsState, cfg.LocalCache, full, r.prefix+"cache-canary:", ro.logger)
	}
	return r, nil
}

// LogValue describes the store (mode, addresses, prefix) for logs.
// Client returns the underlying go-redis client (for the audit log's Redis
// stream, which shares the connection settings). Keys written through it
// do not get the store's prefix.
func (r *Redis) Client() redis.UniversalClient { return r.client }

func (r *Redis) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mode", string(r.mode)),
		slog.Any("addrs", r.addrs),
		slog.String("key_prefix", r.prefix),
	)
}

// Get returns the value of key, or ErrNotFound.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, errEmptyKey
	}
	if r.batch != nil {
		rd := &batchedRead{keys: []string{r.prefix + key}}
		if err := r.batch.read(ctx, rd); err != nil {
			return nil, redisErr("get", err)
		}
		b, err := rd.get.Bytes()
		if err != nil {
			return nil, redisErr("get", err)
		}
		return b, nil
	}
	b, err := r.client.Get(ctx, r.prefix+key).Bytes()
	if err != nil {
		return nil, redisErr("get", err)
	}
	return b, nil
}

// MGet implements MultiGetter: one MGET (standalone, Sentinel), or in
// Cluster mode one pipeline of GETs, since the keys may live on different
// slots (go-redis sends each node its share in one round trip).
func (r *Redis) MGet(ctx context.Context, keys ...string) ([][]byte, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		if k == "" {
			return nil, errEmptyKey
		}
		full[i] = r.prefix + k
	}
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, ctx.Err()
	}
	if r.mode == RedisCluster {
		cmds := make([]*redis.StringCmd, len(full))
		_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range full {
				cmds[i] = p.Get(ctx, k)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, redisErr("mget", err)
		}
		for i, c := range cmds {
			b, err := c.Bytes()
			switch {
			case errors.Is(err, redis.Nil):
			case err != nil:
				return nil, redisErr("mget", err)
			default:
				if b == nil {
					b = []byte{}
				}
				out[i] = b
			}
		}
		return out, nil
	}
	if r.cache != nil {
		start := monoNow()
		if vals, ok := r.cache.lookup(full, start); ok {
			return vals, nil
		}
		if r.cache.wants(full, start) {
			return r.mgetToKeep(ctx, full, out, start)
		}
	}
	var vals []any
	var err error
	if r.batch != nil && len(full) > 1 {
		rd := &batchedRead{keys: full}
		if err = r.batch.read(ctx, rd); err == nil {
			vals, err = rd.mget.Result()
		}
	} else {
		vals, err = r.client.MGet(ctx, full...).Result()
	}
	if err != nil {
		return nil, redisErr("mget", err)
	}
	return out, mgetValues(vals, out)
}

// mgetToKeep reads full (keys the cache wants) with their remaining TTLs, in
// one pipeline (MGET and a PTTL per key, one round trip), and gives the
// cache what it read, so that a value is never served past its expiry
// whatever Redis's own expiry does. start is when the read began.
func (r *Redis) mgetToKeep(ctx context.Context, full []string, out [][]byte, start int64) ([][]byte, error) {
	gen := r.cache.begin()
	var mget *redis.SliceCmd
	pttls := make([]*redis.DurationCmd, len(full))
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		mget = p.MGet(ctx, full...)
		for i, k := range full {
			pttls[i] = p.PTTL(ctx, k)
		}
		return nil
	})
	if err != nil {
		return nil, redisErr("mget", err)
	}
	if err := mgetValues(mget.Val(), out); err != nil {
		return nil, err
	}
	ttls := make([]time.Duration, len(full))
	for i, c := range pttls {
		ttls[i] = c.Val()
	}
	r.cache.keep(gen, start, full, out, ttls)
	return out, nil
}

// mgetValues puts MGET's reply vals into out (same length): nil for an
// absent key.
func mgetValues(vals []any, out [][]byte) error {
	if len(vals) != len(out) {
		return fmt.Errorf("store: redis mget: expected %d values, got %d", len(out), len(vals))
	}
	for i, v := range vals {
		switch v := v.(type) {
		case nil:
		case string:
			out[i] = []byte(v)
		default:
			return fmt.Errorf("store: redis mget: expected a string or nil, got %T", v)
		}
	}
	return nil
}

// Set stores value under key for ttl (SET PX), replacing any value and TTL.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkWrite(ctx, key, ttl); err != nil {
		return err
	}
	var cmd *redis.StatusCmd
	werr := r.write(ctx, func(c redis.Cmdable) { cmd = c.Set(ctx, r.prefix+key, value, pxTTL(ttl)) })
	r.forget(key)
	if err := cmd.Err(); err != nil {
		return redisErr("set", err)
	}
	return werr
}

// SetNX stores value under key for ttl only if key is absent (SET NX PX),
// and reports whether it did.
func (r *Redis) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := checkWrite(ctx, key, ttl); err != nil {
		return false, err
	}
	var cmd *redis.StatusCmd
	werr := r.write(ctx, func(c redis.Cmdable) {
		cmd = c.SetArgs(ctx, r.prefix+key, value, redis.SetArgs{Mode: "NX", TTL: pxTTL(ttl)})
	})
	err := cmd.Err()
	r.forget(key)
	switch {
	case err == nil && werr != nil:
		return false, werr
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil): // NX and the key exists
		return false, nil
	default:
		return false, redisErr("setnx", err)
	}
}

// SetXX replaces the value and TTL of key only if key exists (SET XX PX),
// and reports whether it did. One command: Redis runs it before or after a
// concurrent DEL, never across it.
func (r *Redis) SetXX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := checkWrite(ctx, key, ttl); err != nil {
		return false, err
	}
	var cmd *redis.StatusCmd
	werr := r.write(ctx, func(c redis.Cmdable) {
		cmd = c.SetArgs(ctx, r.prefix+key, value, redis.SetArgs{Mode: "XX", TTL: pxTTL(ttl)})
	})
	err := cmd.Err()
	r.forget(key)
	switch {
	case err == nil && werr != nil:
		return false, werr
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil): // XX and the key is absent
		return false, nil
	default:
		return false, redisErr("setxx", err)
	}
}

// Take returns the value of key and deletes it with one GETDEL, or returns
// ErrNotFound.
//
// If the connection breaks after Redis ran the GETDEL, the value is gone and
// the caller gets an error, or ErrNotFound when go-redis's one retry runs
// the GETDEL again: a single-use value can be lost, never used twice.
func (r *Redis) Take(ctx context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, errEmptyKey
	}
	var cmd *redis.StringCmd
	werr := r.write(ctx, func(c redis.Cmdable) { cmd = c.GetDel(ctx, r.prefix+key) })
	b, err := cmd.Bytes()
	r.forget(key)
	if err != nil {
		return nil, redisErr("getdel", err)
	}
	if werr != nil {
		return nil, werr
	}
	return b, nil
}

// Delete removes keys; absent keys are not an error. The DELs go in one
// pipeline, one key per command, so that keys on different Cluster slots
// work.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if k == "" {
			return errEmptyKey
		}
	}
	switch len(keys) {
	case 0:
		return ctx.Err()
	case 1:
		var cmd *redis.IntCmd
		werr := r.write(ctx, func(c redis.Cmdable) { cmd = c.Del(ctx, r.prefix+keys[0]) })
		r.forget(keys[0])
		if err := cmd.Err(); err != nil {
			return redisErr("del", err)
		}
		return werr
	}
	var wc *redis.Cmd
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, r.prefix+k)
		}
		if r.wait > 0 {
			wc = r.queueWait(ctx, p)
		}
		return nil
	})
	r.forget(keys...)
	if err != nil {
		return redisErr("del", err)
	}
	return r.waited(wc)
}

// compareAndDelete deletes KEYS[1] if its value is ARGV[1] (Lua compares
// strings byte for byte) and returns the number of keys deleted.
var compareAndDelete = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// CompareAndDelete removes key only if it holds exactly value, with one Lua
// script (EVALSHA, or EVAL the first time), which Redis runs atomically; in
// Cluster mode it goes to the key's node. It reports whether it deleted.
//
// If the connection breaks after Redis ran the script, go-redis's one retry
// runs it again and reports false: the key is gone either way, and a value
// written meanwhile by someone else is never deleted.
func (r *Redis) CompareAndDelete(ctx context.Context, key string, value []byte) (bool, error) {
	if key == "" {
		return false, errEmptyKey
	}
	keys := []string{r.prefix + key}
	if r.wait == 0 {
		n, err := compareAndDelete.Run(ctx, r.client, keys, value).Int()
		r.forget(key)
		if err != nil {
			return false, redisErr("compare-and-delete", err)
		}
		return n == 1, nil
	}
	// With wait_replicas: EVAL (a pipeline cannot fall back from EVALSHA)
	// and WAIT on one connection.
	var cmd *redis.Cmd
	werr := r.write(ctx, func(c redis.Cmdable) { cmd = compareAndDelete.Eval(ctx, c, keys, value) })
	n, err := cmd.Int()
	r.forget(key)
	if err != nil {
		return false, redisErr("compare-and-delete", err)
	}
	if n == 1 && werr != nil {
		return false, werr
	}
	return n == 1, nil
}

// CheckCompareAndDelete implements ScriptChecker: it runs the
// compare-and-delete script once with EVAL and once with EVALSHA (the two
// commands CompareAndDelete uses: EVALSHA, falling back to EVAL when Redis
// does not have the script cached, as after a restart; EVAL alone with
// wait_replicas) on a key under the key prefix that holds nothing the
// script could delete. An ACL user not allowed either command, or the
// key, gets an error wrapping ErrNoPermission that names the user, what is
// missing and Redis's own message. Any other failure is the store's error
// (Redis did not answer).
//
// It checks one node (in Cluster mode, the key's); ACL rules that differ
// between nodes are not checked, nor is WAIT.
func (r *Redis) CheckCompareAndDelete(ctx context.Context) error {
	keys := []string{r.prefix + "store:probe:compare-and-delete"}
	value := "probe " + strconv.FormatInt(time.Now().UnixNano(), 36)
	var refused []string
	var first error
	if err := compareAndDelete.Eval(ctx, r.client, keys, value).Err(); err != nil {
		if !isNoPerm(err) {
			return redisErr("compare-and-delete check (EVAL)", err)
		}
		refused, first = append(refused, "EVAL"), err
	}
	if err := compareAndDelete.EvalSha(ctx, r.client, keys, value).Err(); err != nil && !redis.HasErrorPrefix(err, "NOSCRIPT") {
		// NOSCRIPT: allowed, the script is just not cached (EVAL was
		// refused, or Redis evicted it).
		if !isNoPerm(err) {
			return redisErr("compare-and-delete check (EVALSHA)", err)
		}
		refused = append(refused, "EVALSHA")
		if first == nil {
			first = err
		}
	}
	if len(refused) == 0 {
		return nil
	}
	user := r.username
	if user == "" {
		user = "default"
	}
	return fmt.Errorf("%w: user %q may not run %s on keys under prefix %q (Redis said: %v): allow it, e.g. ACL SETUSER %s +evalsha +eval, and keys ~%s*",
		ErrNoPermission, user, strings.Join(refused, " and "), r.prefix, first, user, r.prefix)
}

// isNoPerm reports whether Redis refused a command under its ACL rules.
func isNoPerm(err error) bool { return redis.HasErrorPrefix(err, "NOPERM") }

// compareAndSwap sets KEYS[1] to ARGV[2] with a TTL of ARGV[3] ms if its
// value is ARGV[1], and returns 1 when it did.
var compareAndSwap = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3]) return 1 end return 0`)

// CompareAndSwap replaces the value of key with value, for ttl, only if it
// holds exactly old, with one Lua script, which Redis runs atomically (in
// Cluster mode on the key's node). It reports whether it replaced. With
// wait_replicas it is EVAL and WAIT in one pipeline.
//
// If the connection breaks after Redis ran the script, go-redis's one retry
// runs it again and reports false (the key no longer holds old): the caller
// reads again, as after losing to a concurrent writer.
func (r *Redis) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if err := checkWrite(ctx, key, ttl); err != nil {
		return false, err
	}
	keys := []string{r.prefix + key}
	ms := pxTTL(ttl).Milliseconds()
	var cmd *redis.Cmd
	var werr error
	if r.wait == 0 {
		cmd = compareAndSwap.Run(ctx, r.client, keys, old, value, ms)
	} else {
		werr = r.write(ctx, func(c redis.Cmdable) { cmd = compareAndSwap.Eval(ctx, c, keys, old, value, ms) })
	}
	n, err := cmd.Int()
	r.forget(key)
	if err != nil {
		return false, redisErr("compare-and-swap", err)
	}
	if n == 1 && werr != nil {
		return false, werr
	}
	return n == 1, nil
}

// CacheStats returns the local cache's counters; ok is false when r has no
// local cache (session.redis.local_cache off, or Cluster mode).
func (r *Redis) CacheStats() (s CacheStats, ok bool) {
	if r.cache == nil {
		return CacheStats{}, false
	}
	return r.cache.stats(), true
}

// forget drops keys from the local cache once this process has written
// them (whether or not the write succeeded: it may have reached Redis), so
// that its next read does not wait for Redis's notice.
func (r *Redis) forget(keys ...string) {
	if r.cache == nil {
		return
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
	}
	r.cache.drop(full...)
}

// Ping sends PING (to one node in Cluster mode).
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return redisErr("ping", err)
	}
	return nil
}

// Close closes the client's connections. Later calls fail with an error
// (go-redis's "client is closed", wrapped). Calling Close again returns the
// first call's result.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		if r.cache != nil {
			r.cache.close()
		}
		if err := r.client.Close(); err != nil {
			r.closeErr = fmt.Errorf("store: redis close: %w", err)
		}
	})
	return r.closeErr
}

// pxTTL rounds ttl up to a whole millisecond, the unit of SET PX: go-redis
// would send a ttl under 1 ms as 0, which Redis rejects. Within a
// millisecond of the largest Duration (what time.Until of a far instant
// saturates to) it rounds down instead: rounding up would overflow to a
// negative ttl, for which go-redis sends SET without PX — a key that never
// expires (and SET XX would strip the key's TTL).
func pxTTL(ttl time.Duration) time.Duration {
	if r := ttl % time.Millisecond; r != 0 {
		if ttl > math.MaxInt64-time.Millisecond {
			return ttl - r
		}
		ttl += time.Millisecond - r
	}
	return ttl
}

func redisErr(op string, err error) error {
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	return fmt.Errorf("store: redis %s: %w", op, err)
}

// errNotReplicated: a write Redis ran but fewer replicas than
// wait_replicas acknowledged in time.
var errNotReplicated = errors.New("fewer replicas than wait_replicas acknowledged the write in time")

// write queues one write command on c. With wait_replicas it goes in one
// pipeline with a WAIT (WAIT covers the writes of its own connection, and
// a pipeline is one connection), and the error says when the replicas did
// not all acknowledge it: Redis ran the write, but a failover now could
// undo it, so the caller must not rely on it (a sign-out still counts as
// done on the primary; a single-use value was used up). The command's own
// result is the caller's to read.
func (r *Redis) write(ctx context.Context, queue func(c redis.Cmdable)) error {
	if r.wait == 0 {
		queue(r.client)
		return nil
	}
	var wc *redis.Cmd
	_, _ = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		queue(p)
		wc = r.queueWait(ctx, p)
		return nil
	})
	return r.waited(wc)
}

// queueWait queues WAIT wait_replicas wait_timeout on p.
func (r *Redis) queueWait(ctx context.Context, p redis.Pipeliner) *redis.Cmd {
	return p.Do(ctx, "wait", r.wait, r.waitTimeout.Milliseconds())
}

// waited reads the answer of queueWait's WAIT (nil: none was sent).
func (r *Redis) waited(wc *redis.Cmd) error {
	if wc == nil {
		return nil
	}
	n, err := wc.Int64()
	if err != nil {
		return redisErr("wait", err)
	}
	if n < int64(r.wait) {
		return redisErr("wait", fmt.Errorf("%w: %d of %d", errNotReplicated, n, r.wait))
	}
	return nil
}
