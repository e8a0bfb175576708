package store_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/accessgateway/gateway/internal/store"
)

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type validateCase struct {
	name string
	cfg  store.RedisConfig
	want []string // the errors, in order; nil means valid
}

func (tc validateCase) run(t *testing.T) {
	var got []string
	for _, err := range tc.cfg.Validate() {
		got = append(got, err.Error())
	}
	if !slices.Equal(got, tc.want) {
		t.Fatalf("Validate() =\n  %q\nwant\n  %q", got, tc.want)
	}
}

func TestRedisConfigValidate(t *testing.T) {
	one := []string{"redis:6379"}
	for _, tc := range []validateCase{
		{name: "standalone minimal", cfg: store.RedisConfig{Addrs: one}},
		{name: "ipv6 and names", cfg: store.RedisConfig{Addrs: []string{"[::1]:6379", "redis-0.redis.svc.cluster.local:6379"}}},
		{name: "sentinel full", cfg: store.RedisConfig{
			Addrs: []string{"s1:26379", "s2:26379", "s3:26379"}, MasterName: "gateway",
			Username: "gw", Password: "pw", SentinelUsername: "sgw", SentinelPassword: "spw", DB: 2,
			TLS:       store.RedisTLS{Enabled: true, CAFile: "/ca.pem", ServerName: "redis.internal"},
			KeyPrefix: "prod:gw:", DialTimeout: time.Second, ReadTimeout: 500 * time.Millisecond,
			WriteTimeout: 500 * time.Millisecond, PoolSize: 20,
		}},
		{name: "cluster", cfg: store.RedisConfig{Addrs: []string{"c1:6379", "c2:6379", "c3:6379"}}},
		{name: "password without username", cfg: store.RedisConfig{Addrs: one, Password: "pw"}},
		{name: "no addrs", cfg: store.RedisConfig{},
			want: []string{"addrs: expected at least one host:port, got none"}},
		{name: "bad addrs", cfg: store.RedisConfig{Addrs: []string{"x", ":6379", "redis:", "redis:http", "redis:70000", "redis:0", "redis://r:6379"}},
			want: []string{
				`addrs[0]: expected host:port, got "x"`,
				`addrs[1]: expected host:port, got ":6379"`,
				`addrs[2]: expected a port in 1-65535, got "" in "redis:"`,
				`addrs[3]: expected a port in 1-65535, got "http" in "redis:http"`,
				`addrs[4]: expected a port in 1-65535, got "70000" in "redis:70000"`,
				`addrs[5]: expected a port in 1-65535, got "0" in "redis:0"`,
				`addrs[6]: expected host:port, got "redis://r:6379"`,
			}},
		{name: "duplicate addr", cfg: store.RedisConfig{Addrs: []string{"a:1", "b:1", "a:1"}},
			want: []string{`addrs[2]: "a:1" repeats addrs[0]`}},
		{name: "username without password", cfg: store.RedisConfig{Addrs: one, Username: "gw"},
			want: []string{"password: expected a password since username is set, got none"}},
		{name: "sentinel credentials without sentinel", cfg: store.RedisConfig{Addrs: one, SentinelUsername: "s", SentinelPassword: "p"},
			want: []string{
				"sentinel_username: only used with master_name (Sentinel), which is not set",
				"sentinel_password: only used with master_name (Sentinel), which is not set",
			}},
		{name: "sentinel username without password", cfg: store.RedisConfig{Addrs: one, MasterName: "m", SentinelUsername: "s"},
			want: []string{"sentinel_password: expected a password since sentinel_username is set, got none"}},
		{name: "master name with spaces", cfg: store.RedisConfig{Addrs: one, MasterName: "gateway "},
			want: []string{`master_name: expected no leading or trailing spaces, got "gateway "`}},
		{name: "negative db", cfg: store.RedisConfig{Addrs: one, DB: -1},
			want: []string{"db: expected a database number >= 0, got -1"}},
		{name: "db in cluster", cfg: store.RedisConfig{Addrs: []string{"c1:6379", "c2:6379"}, DB: 3},
			want: []string{"db: Redis Cluster has only database 0, got 3 (several addrs and no master_name select Cluster)"}},
		{name: "db with sentinel", cfg: store.RedisConfig{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "m", DB: 3}},
		{name: "tls fields without tls", cfg: store.RedisConfig{Addrs: one, TLS: store.RedisTLS{CAFile: "/ca.pem", ServerName: "r"}},
			want: []string{
				"tls.ca_file: set but tls.enabled is false; set tls.enabled: true or remove it",
				"tls.server_name: set but tls.enabled is false; set tls.enabled: true or remove it",
			}},
		{name: "key prefix with space", cfg: store.RedisConfig{Addrs: one, KeyPrefix: "gw :"},
			want: []string{`key_prefix: expected no whitespace, got "gw :"`}},
		{name: "negative timeouts and pool", cfg: store.RedisConfig{Addrs: one, DialTimeout: -1, ReadTimeout: -time.Second, WriteTimeout: -time.Millisecond, PoolSize: -1},
			want: []string{
				"dial_timeout: expected a duration >= 0 (0 means the default), got -1ns",
				"read_timeout: expected a duration >= 0 (0 means the default), got -1s",
				"write_timeout: expected a duration >= 0 (0 means the default), got -1ms",
				"pool_size: expected a size >= 0 (0 means the default), got -1",
			}},
		{name: "local cache bounds", cfg: store.RedisConfig{Addrs: one, LocalCache: store.RedisLocalCache{MaxAge: -time.Second, MaxEntries: -1}},
			want: []string{
				"local_cache.max_age: expected a duration from 0 (the default, 1s) to 1m0s, got -1s",
				"local_cache.max_entries: expected a number >= 0 (0 means the default, 10000), got -1",
			}},
		{name: "local cache max age too long", cfg: store.RedisConfig{Addrs: one, LocalCache: store.RedisLocalCache{MaxAge: time.Hour}},
			want: []string{"local_cache.max_age: expected a duration from 0 (the default, 1s) to 1m0s, got 1h0m0s"}},
		{name: "local cache enabled", cfg: store.RedisConfig{Addrs: one, LocalCache: store.RedisLocalCache{Enabled: true, MaxAge: time.Minute}}},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestRedisConfigMode(t *testing.T) {
	for _, tc := range []struct {
		cfg  store.RedisConfig
		want store.RedisMode
	}{
		{store.RedisConfig{Addrs: []string{"a:1"}}, store.RedisStandalone},
		{store.RedisConfig{Addrs: []string{"a:1", "b:1"}}, store.RedisCluster},
		{store.RedisConfig{Addrs: []string{"a:1"}, MasterName: "m"}, store.RedisSentinel},
		{store.RedisConfig{Addrs: []string{"a:1", "b:1"}, MasterName: "m"}, store.RedisSentinel},
	} {
		if got := tc.cfg.Mode(); got != tc.want {
			t.Errorf("Mode(%v) = %s; want %s", tc.cfg.Addrs, got, tc.want)
		}
	}
}

func TestRedisConfigWithDefaults(t *testing.T) {
	addrs := []string{"a:1"}
	got := store.RedisConfig{Addrs: addrs}.WithDefaults()
	want := store.RedisConfig{
		Addrs: []string{"a:1"}, KeyPrefix: "gw:",
		DialTimeout: 2 * time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		LocalCache: store.RedisLocalCache{MaxAge: time.Second, MaxEntries: 10000},
	}
	if got.String() != want.String() {
		t.Fatalf("WithDefaults =\n  %v\nwant\n  %v", got, want)
	}
	got.Addrs[0] = "changed:1"
	if addrs[0] != "a:1" {
		t.Fatal("WithDefaults shares the Addrs slice with its receiver")
	}
	set := store.RedisConfig{Addrs: addrs, KeyPrefix: "x:", DialTimeout: time.Minute, ReadTimeout: 3, WriteTimeout: 4,
		LocalCache: store.RedisLocalCache{Enabled: true, MaxAge: 5 * time.Second, MaxEntries: 9}}
	if d := set.WithDefaults(); d.String() != set.String() {
		t.Fatalf("WithDefaults changed set fields:\n  %v\nwant\n  %v", d, set)
	}
}

func TestRedisConfigRedactsPasswords(t *testing.T) {
	cfg := store.RedisConfig{
		Addrs: []string{"s:26379"}, MasterName: "m", Username: "gw",
		Password: "hunter2-redis", SentinelUsername: "s", SentinelPassword: "hunter3-sentinel",
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("redis", "cfg", cfg)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("redis", "cfg", cfg)
	wrapped := struct{ Redis store.RedisConfig }{cfg}
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		"%s": fmt.Sprintf("%s", cfg), "%v of an enclosing struct": fmt.Sprintf("%+v", wrapped),
		"slog": logged.String(),
	} {
		for _, secret := range []string{cfg.Password, cfg.SentinelPassword} {
			if strings.Contains(out, secret) {
				t.Errorf("%s reveals a password: %s", name, out)
			}
		}
		if !strings.Contains(out, "[redacted]") || !strings.Contains(out, "gw") {
			t.Errorf("%s = %s; want the username and [redacted]", name, out)
		}
	}
}

// TestRedisConfigYAML decodes the section the way the gateway's config does
// (strict goccy/go-yaml), so the tags stay what operators write.
func TestRedisConfigYAML(t *testing.T) {
	const doc = `
addrs: ["s1:26379", "s2:26379"]
master_name: gateway
username: gw
password: pw
sentinel_username: sgw
sentinel_password: spw
db: 1
tls:
  enabled: true
  ca_file: /etc/gateway/redis-ca.pem
  server_name: redis.internal
key_prefix: "prod:"
dial_timeout: 1500ms
read_timeout: 1s
write_timeout: 2s
pool_size: 7
local_cache:
  enabled: true
  max_age: 2s
  max_entries: 500
`
	var got store.RedisConfig
	if err := yaml.UnmarshalWithOptions([]byte(doc), &got, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	want := store.RedisConfig{
		Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "gateway", Username: "gw", Password: "pw",
		SentinelUsername: "sgw", SentinelPassword: "spw", DB: 1,
		TLS:       store.RedisTLS{Enabled: true, CAFile: "/etc/gateway/redis-ca.pem", ServerName: "redis.internal"},
		KeyPrefix: "prod:", DialTimeout: 1500 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: 2 * time.Second,
		PoolSize: 7, LocalCache: store.RedisLocalCache{Enabled: true, MaxAge: 2 * time.Second, MaxEntries: 500},
	}
	if got.String() != want.String() || got.Password != want.Password || got.SentinelPassword != want.SentinelPassword {
		t.Fatalf("decoded\n  %v\nwant\n  %v", got, want)
	}
	var bad store.RedisConfig
	if err := yaml.UnmarshalWithOptions([]byte("addrs: [a:1]\nmaster: x\n"), &bad, yaml.Strict()); err == nil {
		t.Fatal("strict decoding accepted the unknown key \"master\"")
	}
}
