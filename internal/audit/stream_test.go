package audit

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/accessgateway/gateway/internal/store/redistest"
)

// Records reach a real Redis stream in the file's order, byte for byte;
// while Redis is down the file keeps working and the stream catches up
// once Redis is back.
func TestRedisStreamSink(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr()}, MaxRetries: -1})
	defer client.Close()
	l, path, _ := openTest(t, func(o *Options) {
		o.Redis = client
		o.RedisStream = &StreamOptions{Stream: "gw:audit", MaxLen: 1000, Source: "replica-1"}
	})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := l.Commit(ctx, Record{Kind: KindDecision, RequestID: fmt.Sprint("a", i)}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "6 stream entries", func() bool { return client.XLen(ctx, "gw:audit").Val() == 6 })

	srv.Stop()
	for i := 0; i < 3; i++ {
		if err := l.Commit(ctx, Record{Kind: KindDecision, RequestID: fmt.Sprint("b", i)}); err != nil {
			t.Fatalf("Commit with Redis down: %v (the stream must not hold requests)", err)
		}
	}
	eventually(t, "a failed XADD", func() bool { return l.Stats().Stream.Failed > 0 })
	srv.Restart() // empty: the stream starts over with what was pending
	eventually(t, "the pending entries", func() bool { return client.XLen(ctx, "gw:audit").Val() == 3 })
	l.Close()
	eventually(t, "the close checkpoint", func() bool { return client.XLen(ctx, "gw:audit").Val() == 4 })

	file, _ := os.ReadFile(path)
	lines := strings.SplitAfter(strings.TrimSuffix(string(file), "\n"), "\n")
	entries, err := client.XRange(ctx, "gw:audit", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	tail := lines[len(lines)-4:]
	for i, e := range entries {
		if e.Values["source"] != "replica-1" || e.Values["line"] != strings.TrimSuffix(tail[i], "\n") {
			t.Errorf("entry %d = %v, want the file's line %q", i, e.Values, tail[i])
		}
	}
	if st := l.Stats().Stream; st.Written != 10 || st.Dropped != 0 {
		t.Errorf("stream stats %+v, want 10 written, none dropped", st)
	}
}

// While Redis is down the lines waiting for the stream are bounded in bytes
// too, not only in number (Buffer): beyond 64 MiB they are dropped and
// counted, however long the records of the requests are.
func TestRedisStreamPendingIsBoundedInBytes(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr()}, MaxRetries: -1})
	defer client.Close()
	l, _, _ := openTest(t, func(o *Options) {
		o.Redis = client
		o.RedisStream = &StreamOptions{Stream: "gw:audit", MaxLen: 1000, Source: "replica-1"}
	})
	srv.Stop()
	long := "/" + strings.Repeat("a", 64<<10)
	const n = 1200 // 75 MiB of paths, fewer records than Buffer
	for i := range n {
		if err := l.Commit(context.Background(), Record{Kind: KindDecision, Decision: "deny", Path: long, RequestID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	l.stream.mu.Lock()
	pending, held := len(l.stream.pending), 0
	for _, line := range l.stream.pending {
		held += len(line)
	}
	l.stream.mu.Unlock()
	if held > 64<<20 {
		t.Errorf("%d lines of %d bytes wait for the stream, want at most 64 MiB", pending, held)
	}
	if st := l.Stats().Stream; st.Dropped == 0 {
		t.Errorf("stream stats %+v, want the lines beyond the bound dropped", st)
	}
}

// A line kept for the stream holds no more memory than its own bytes: the
// other lines of its write, dropped because the buffer is full, are not
// kept alive with it.
func TestRedisStreamKeepsOnlyTheLinesItKeeps(t *testing.T) {
	s := &stream{limit: 1 << 20, kick: make(chan struct{}, 1)}
	// Nearly full: room for small lines only.
	s.pending, s.pendingBytes = [][]byte{nil}, bufferBytes-64<<10
	big := strings.Repeat("b", 1<<20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 60 {
		s.send([]byte(fmt.Sprintf("{\"seq\":%d}\n%s\n", i, big)))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Errorf("the heap grew by %d bytes for %d small lines kept, want them alone held", grew, len(s.pending)-1)
	}
	if len(s.pending) != 61 || s.dropped.Load() != 60 {
		t.Errorf("%d lines pending, %d dropped; want the 60 small ones kept, the 60 large ones dropped", len(s.pending)-1, s.dropped.Load())
	}
	runtime.KeepAlive(s)
}
