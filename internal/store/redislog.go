package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// SetRedisLogger sends go-redis's own log lines (failed dials while Redis is
// down, connection-pool notices) to l at level Warn with component=redis,
// instead of go-redis's default of printing them to stderr. A nil l discards
// them.
//
// go-redis has a single logger per process, so this is process-wide: call it
// once at startup, before NewRedis. The lines carry addresses and network
// errors; go-redis does not put passwords in them.
func SetRedisLogger(l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	redis.SetLogger(redisLogger{l})
}

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	r.l.Log(ctx, slog.LevelWarn, msg, "component", "redis")
}
