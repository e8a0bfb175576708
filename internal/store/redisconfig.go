package store

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults of RedisConfig, applied by WithDefaults. The timeouts are short on
// purpose: when Redis is down the gateway must deny quickly, not hang.
const (
	DefaultRedisKeyPrefix    = "gw:"
	DefaultRedisDialTimeout  = 2 * time.Second
	DefaultRedisReadTimeout  = time.Second
	DefaultRedisWriteTimeout = time.Second
	// DefaultRedisWaitTimeout is wait_timeout when unset.
	DefaultRedisWaitTimeout  = 500 * time.Millisecond
	DefaultLocalCacheMaxAge  = time.Second
	DefaultLocalCacheEntries = 10000
	// MaxLocalCacheMaxAge bounds local_cache.max_age.
	MaxLocalCacheMaxAge = time.Minute
)

// RedisConfig is the gateway configuration's `session.redis:` section.
//
// The mode follows from the fields, as in go-redis's UniversalClient:
//
//   - master_name set: Sentinel; addrs are the sentinels' host:port.
//   - several addrs and no master_name: Cluster; addrs are seed nodes.
//   - one addr: a standalone server.
//
// Example:
//
//	session:
//	  redis:
//	    addrs: ["redis-0.redis:26379", "redis-1.redis:26379", "redis-2.redis:26379"]
//	    master_name: gateway
//	    password: ${REDIS_PASSWORD}
//	    tls:
//	      enabled: true
//	      ca_file: /etc/gateway/redis-ca.pem
//
// Password and SentinelPassword are secrets: String, GoString and LogValue
// redact them. Nothing redacts them from an encoding of the struct
// (yaml.Marshal, json.Marshal): do not encode a RedisConfig that holds them.
type RedisConfig struct {
	// Addrs are host:port pairs; see the type's doc for their meaning.
	Addrs []string `yaml:"addrs"`
	// MasterName is the Sentinel master's name; empty unless Sentinel is used.
	MasterName string `yaml:"master_name"`
	// Username and Password authenticate to Redis (AUTH / ACL). A username
	// needs a password.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// SentinelUsername and SentinelPassword authenticate to the sentinels,
	// when they require it (only with master_name).
	SentinelUsername string `yaml:"sentinel_username"`
	SentinelPassword string `yaml:"sentinel_password"`
	// DB is the logical database; Cluster supports only 0.
	DB int `yaml:"db"`
	// TLS protects the connections to Redis (and to the sentinels).
	TLS RedisTLS `yaml:"tls"`
	// KeyPrefix is prepended to every key ("gw:" when empty), so that
	// several deployments, or other applications, can share one Redis.
	KeyPrefix string `yaml:"key_prefix"`
	// DialTimeout, ReadTimeout and WriteTimeout bound each attempt (defaults
	// 2 s, 1 s, 1 s). A caller's context deadline, when shorter, wins.
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// PoolSize is the connection pool size per node; 0 means go-redis's
	// default (10 per GOMAXPROCS).
	PoolSize int `yaml:"pool_size"`
	// LocalCache is the replica's cache of the session state the request
	// path reads (see RedisLocalCache).
	LocalCache RedisLocalCache `yaml:"local_cache"`
	// WaitReplicas makes every write wait until that many replicas
	// acknowledged it (WAIT), so that a failover to one of them keeps it:
	// a sign-out, a used sign-in state or device code, a break-glass limit.
	// A write that is not acknowledged within WaitTimeout fails (the
	// caller denies). 0, the default, does not wait. Not in Cluster mode.
	WaitReplicas int `yaml:"wait_replicas"`
	// WaitTimeout bounds that wait (default 500ms, or half of
	// read_timeout when that is shorter); below read_timeout.
	WaitTimeout time.Duration `yaml:"wait_timeout"`
}

// RedisLocalCache is the `local_cache:` block of RedisConfig: each replica
// keeps the sessions, device bindings and grants its requests read, and
// Redis tells it the moment any of them changes (client tracking), so that
// a steady stream of requests needs no Redis round trip. Standalone and
// Sentinel only; Cluster mode reads Redis every time.
type RedisLocalCache struct {
	// Enabled turns the cache on (off by default: while it serves, a
	// Redis that stalls without closing its connection is noticed only
	// after up to a second, during which cached sessions are still
	// allowed; with it off, such requests are refused at once).
	Enabled bool `yaml:"enabled"`
	// MaxAge bounds how long a value is served from the cache whatever
	// happens (default 1 s, at most 1 m): the bound on a change whose
	// notice was lost without the connection that carries them failing.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxEntries bounds the number of values kept (default 10000).
	MaxEntries int `yaml:"max_entries"`
}

// RedisTLS is the `tls:` block of RedisConfig.
type RedisTLS struct {
	// Enabled turns TLS on. The server's certificate is always verified.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM file of CA certificates to trust instead of the
	// system's roots. Read by NewRedis, not by Validate.
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name checked in the server's certificate
	// (by default the host of the address dialed).
	ServerName string `yaml:"server_name"`
}

// RedisMode names how the client talks to Redis.
type RedisMode string

// The modes of RedisConfig.Mode.
const (
	RedisStandalone RedisMode = "standalone"
	RedisSentinel   RedisMode = "sentinel"
	RedisCluster    RedisMode = "cluster"
)

// Mode reports the mode that the fields select (see RedisConfig).
func (c RedisConfig) Mode() RedisMode {
	switch {
	case c.MasterName != "":
		return RedisSentinel
	case len(c.Addrs) > 1:
		return RedisCluster
	default:
		return RedisStandalone
	}
}

// WithDefaults returns c with every zero field that has a default set to it.
// It does not modify c.
func (c RedisConfig) WithDefaults() RedisConfig {
	c.Addrs = append([]string(nil), c.Addrs...)
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultRedisKeyPrefix
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultRedisDialTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultRedisReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultRedisWriteTimeout
	}
	if c.WaitTimeout == 0 {
		c.WaitTimeout = min(DefaultRedisWaitTimeout, c.ReadTimeout/2)
	}
	if c.LocalCache.MaxAge == 0 {
		c.LocalCache.MaxAge = DefaultLocalCacheMaxAge
	}
	if c.LocalCache.MaxEntries == 0 {
		c.LocalCache.MaxEntries = DefaultLocalCacheEntries
	}
	return c
}

// Validate reports every problem in c, each prefixed with its field path
// relative to the section ("addrs[0]: expected host:port, got \"x\""); the
// caller prepends the section's own path. It has no side effects: it reads no
// file and dials nothing (NewRedis reads tls.ca_file and pings).
// Zero values that WithDefaults fills are valid.
func (c RedisConfig) Validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if len(c.Addrs) == 0 {
		add("addrs: expected at least one host:port, got none")
	}
	seen := make(map[string]int, len(c.Addrs))
	for i, a := range c.Addrs {
		if err := checkHostPort(a); err != nil {
			add("addrs[%d]: %w", i, err)
			continue
		}
		if j, dup := seen[a]; dup {
			add("addrs[%d]: %q repeats addrs[%d]", i, a, j)
			continue
		}
		seen[a] = i
	}
	if c.MasterName != "" && strings.TrimSpace(c.MasterName) != c.MasterName {
		add("master_name: expected no leading or trailing spaces, got %q", c.MasterName)
	}
	if c.Username != "" && c.Password == "" {
		add("password: expected a password since username is set, got none")
	}
	if c.MasterName == "" {
		if c.SentinelUsername != "" {
			add("sentinel_username: only used with master_name (Sentinel), which is not set")
		}
		if c.SentinelPassword != "" {
			add("sentinel_password: only used with master_name (Sentinel), which is not set")
		}
	}
	if c.SentinelUsername != "" && c.SentinelPassword == "" {
		add("sentinel_password: expected a password since sentinel_username is set, got none")
	}
	if c.DB < 0 {
		add("db: expected a database number >= 0, got %d", c.DB)
	} else if c.DB != 0 && c.Mode() == RedisCluster {
		add("db: Redis Cluster has only database 0, got %d (several addrs and no master_name select Cluster)", c.DB)
	}
	if !c.TLS.Enabled {
		if c.TLS.CAFile != "" {
			add("tls.ca_file: set but tls.enabled is false; set tls.enabled: true or remove it")
		}
		if c.TLS.ServerName != "" {
			add("tls.server_name: set but tls.enabled is false; set tls.enabled: true or remove it")
		}
	}
	if strings.ContainsAny(c.KeyPrefix, " \t\r\n") {
		add("key_prefix: expected no whitespace, got %q", c.KeyPrefix)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"dial_timeout", c.DialTimeout}, {"read_timeout", c.ReadTimeout}, {"write_timeout", c.WriteTimeout}} {
		if d.v < 0 {
			add("%s: expected a duration >= 0 (0 means the default), got %v", d.name, d.v)
		}
	}
	if c.PoolSize < 0 {
		add("pool_size: expected a size >= 0 (0 means the default), got %d", c.PoolSize)
	}
	switch {
	case c.WaitReplicas < 0:
		add("wait_replicas: expected a number of replicas >= 0, got %d", c.WaitReplicas)
	case c.WaitReplicas > 0 && c.Mode() == RedisCluster:
		add("wait_replicas: not supported in Cluster mode (several addrs and no master_name); use Sentinel or set 0")
	}
	rt := c.ReadTimeout
	if rt <= 0 {
		rt = DefaultRedisReadTimeout
	}
	if c.WaitTimeout < 0 || c.WaitReplicas > 0 && c.WaitTimeout >= rt {
		add("wait_timeout: expected a duration from 0 (the default, %v) to below read_timeout (%v), got %v", DefaultRedisWaitTimeout, rt, c.WaitTimeout)
	}
	if c.LocalCache.MaxAge < 0 || c.LocalCache.MaxAge > MaxLocalCacheMaxAge {
		add("local_cache.max_age: expected a duration from 0 (the default, 1s) to %v, got %v", MaxLocalCacheMaxAge, c.LocalCache.MaxAge)
	}
	if c.LocalCache.MaxEntries < 0 {
		add("local_cache.max_entries: expected a number >= 0 (0 means the default, %d), got %d", DefaultLocalCacheEntries, c.LocalCache.MaxEntries)
	}
	return errs
}

func checkHostPort(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return fmt.Errorf("expected host:port, got %q", a)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("expected a port in 1-65535, got %q in %q", port, a)
	}
	return nil
}

const redacted = "[redacted]"

func redact(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// String describes c with its passwords redacted.
func (c RedisConfig) String() string {
	return fmt.Sprintf("{mode:%s addrs:%v master_name:%q username:%q password:%q sentinel_username:%q sentinel_password:%q db:%d tls:%+v key_prefix:%q dial_timeout:%v read_timeout:%v write_timeout:%v pool_size:%d local_cache:%+v}",
		c.Mode(), c.Addrs, c.MasterName, c.Username, redact(c.Password), c.SentinelUsername, redact(c.SentinelPassword),
		c.DB, c.TLS, c.KeyPrefix, c.DialTimeout, c.ReadTimeout, c.WriteTimeout, c.PoolSize, c.LocalCache)
}

// GoString is String, so that %#v redacts too.
func (c RedisConfig) GoString() string { return "store.RedisConfig" + c.String() }

// LogValue logs c with its passwords redacted.
func (c RedisConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mode", string(c.Mode())),
		slog.Any("addrs", c.Addrs),
		slog.String("master_name", c.MasterName),
		slog.String("username", c.Username),
		slog.String("password", redact(c.Password)),
		slog.String("sentinel_password", redact(c.SentinelPassword)),
		slog.Int("db", c.DB),
		slog.Bool("tls", c.TLS.Enabled),
		slog.String("key_prefix", c.KeyPrefix),
		slog.Duration("dial_timeout", c.DialTimeout),
		slog.Duration("read_timeout", c.ReadTimeout),
		slog.Duration("write_timeout", c.WriteTimeout),
		slog.Int("pool_size", c.PoolSize),
		slog.Bool("local_cache", c.LocalCache.Enabled),
	)
}
