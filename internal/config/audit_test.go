package config

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

// redisStreamConfig is minimal with the session in Redis at addr and the
// audit log sent to its stream; session and stream are YAML fragments
// added to the session.redis and audit.redis_stream sections.
func redisStreamConfig(addr, session, stream string) string {
	return strings.Replace(minimal, "routes:\n", "session:\n  store: redis\n"+
		"  encryption_keys: [{key: \""+strings.Repeat("A", 43)+"=\", state: active}]\n"+
		"  redis: {addrs: [\""+addr+"\"]"+session+"}\n"+
		"audit:\n  redis_stream: {source: gw-1"+stream+"}\nroutes:\n", 1)
}

// The audit stream's key is under session.redis.key_prefix, as every other
// key of the gateway is: two deployments that share one Redis with distinct
// prefixes write two streams, not one in which their records mix. A stream
// named in the config is used as it is.
func TestAuditStreamKeyFollowsKeyPrefix(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr()}})
	defer client.Close()
	ctx := context.Background()
	deployments := []struct {
		name, session, stream string
		want                  string // the stream's key
	}{
		{"prefix a", `, key_prefix: "a:"`, "", "a:audit"},
		{"prefix b", `, key_prefix: "b:"`, "", "b:audit"},
		{"no prefix set", "", "", "gateway:audit"},
		{"stream set", `, key_prefix: "c:"`, ", stream: ops:audit", "ops:audit"},
	}
	for _, d := range deployments {
		c, err := Load([]byte(redisStreamConfig(srv.Addr(), d.session, d.stream)), Options{Lookup: func(string) (string, bool) { return "", false }})
		if err != nil {
			t.Fatalf("%s: Load: %v", d.name, err)
		}
		if got := c.Audit.RedisStream.Stream; got != d.want {
			t.Errorf("%s: audit.redis_stream.stream = %q, want %q", d.name, got, d.want)
		}
		o := c.Audit.Options
		o.File, o.Redis = filepath.Join(t.TempDir(), "audit.jsonl"), client
		l, err := audit.OpenOptions(o)
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		if err := l.Commit(ctx, audit.Record{Kind: audit.KindDecision, RequestID: d.name}); err != nil {
			t.Fatal(err)
		}
		l.Close() // sends what is pending (start, decision, close)
	}
	for _, d := range deployments {
		deadline := time.Now().Add(5 * time.Second)
		for client.XLen(ctx, d.want).Val() < 3 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := client.XLen(ctx, d.want).Val(); n != 3 {
			t.Errorf("%s: stream %q holds %d entries, want the deployment's 3 alone", d.name, d.want, n)
		}
	}
}
