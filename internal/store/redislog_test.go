package store_test

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

// TestMain silences go-redis's dial-failure lines, which the outage tests
// provoke by design.
func TestMain(m *testing.M) {
	store.SetRedisLogger(nil)
	os.Exit(m.Run())
}

// TestSetRedisLogger is not parallel: go-redis's logger is process-wide.
func TestSetRedisLogger(t *testing.T) {
	var buf syncBuffer
	store.SetRedisLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { store.SetRedisLogger(nil) }) // as TestMain left it

	srv := redistest.Start(t)
	addr := srv.Addr()
	srv.Stop()
	if _, err := store.NewRedis(t.Context(), store.RedisConfig{Addrs: []string{addr}}); err == nil {
		t.Fatal("NewRedis with Redis down = nil error")
	}
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "component=redis") || !strings.Contains(out, addr) {
		t.Fatalf("go-redis log = %q; want a WARN line with component=redis naming %s", out, addr)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
