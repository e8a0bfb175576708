package store_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store"
)

// clock is a fake, settable clock safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 29, 1, 59, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openMemory(t *testing.T) subject {
	c := newClock()
	m := store.NewMemory(store.WithClock(c.Now))
	t.Cleanup(func() { _ = m.Close() })
	return subject{st: m, ttl: time.Hour, pass: c.Add, exact: true}
}

func TestMemoryConformance(t *testing.T) {
	runConformance(t, openMemory)
}

func TestMemorySweepEvictsOnlyExpired(t *testing.T) {
	c := newClock()
	m := store.NewMemory(store.WithClock(c.Now), store.WithSweepInterval(0))
	defer m.Close()
	mustSet(t, m, "short", "v", time.Minute)
	mustSet(t, m, "long", "v", time.Hour)
	mustSet(t, m, "edge", "v", 2*time.Minute)

	c.Add(2 * time.Minute) // "short" is past, "edge" is exactly at its expiry
	if n := m.Sweep(); n != 2 {
		t.Fatalf("Sweep = %d; want 2 (short, edge)", n)
	}
	if n := m.Len(); n != 1 {
		t.Fatalf("Len after Sweep = %d; want 1", n)
	}
	wantValue(t, m, "long", "v")
	if n := m.Sweep(); n != 0 {
		t.Fatalf("second Sweep = %d; want 0", n)
	}
}

// TestMemoryJanitor checks that the background janitor runs Sweep by itself:
// with the fake clock past every TTL, the map must empty without any call.
func TestMemoryJanitor(t *testing.T) {
	c := newClock()
	m := store.NewMemory(store.WithClock(c.Now), store.WithSweepInterval(time.Millisecond))
	defer m.Close()
	for i := range 10 {
		mustSet(t, m, fmt.Sprint(i), "v", time.Minute)
	}
	mustSet(t, m, "kept", "v", time.Hour)
	c.Add(time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for m.Len() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %d entries after 5 s; want 1", m.Len())
		}
		time.Sleep(time.Millisecond)
	}
	wantValue(t, m, "kept", "v")
}

func TestMemoryCloseStopsJanitor(t *testing.T) {
	m := store.NewMemory(store.WithSweepInterval(time.Millisecond))
	done := make(chan struct{})
	go func() {
		_ = m.Close() // returns only after the janitor goroutine has exited
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5 s")
	}
	if m.Len() != 0 {
		t.Fatalf("Len after Close = %d; want 0", m.Len())
	}
}

// TestMemoryConcurrentMix exercises every operation from many goroutines at
// once; its value is under -race.
func TestMemoryConcurrentMix(t *testing.T) {
	c := newClock()
	m := store.NewMemory(store.WithClock(c.Now), store.WithSweepInterval(time.Microsecond))
	defer m.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := fmt.Sprint(i % 17)
				switch (g + i) % 6 {
				case 0:
					_ = m.Set(t.Context(), k, []byte("v"), time.Second)
				case 1:
					_, _ = m.Get(t.Context(), k)
				case 2:
					_, _ = m.SetNX(t.Context(), k, []byte("v"), time.Second)
				case 3:
					_, _ = m.Take(t.Context(), k)
				case 4:
					_ = m.Delete(t.Context(), k, "other")
				case 5:
					c.Add(100 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkMemoryGet(b *testing.B) {
	m := store.NewMemory()
	defer m.Close()
	keys := make([]string, 10000)
	value := make([]byte, 256) // about the size of a session record
	for i := range keys {
		keys[i] = fmt.Sprintf("session:%032x", i)
		if err := m.Set(b.Context(), keys[i], value, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := m.Get(b.Context(), keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := m.Get(b.Context(), keys[i%len(keys)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

// TestMemoryBounds: a write that would go over the entry or byte bound is
// refused with ErrFull, after expired entries were dropped; nothing live is
// ever evicted.
func TestMemoryBounds(t *testing.T) {
	size := func(key, value string) int64 { return int64(len(key) + len(value) + 64) }
	type op func(t *testing.T, m *store.Memory, c *clock) error
	set := func(k, v string, ttl time.Duration) op {
		return func(t *testing.T, m *store.Memory, _ *clock) error { return m.Set(t.Context(), k, []byte(v), ttl) }
	}
	tests := []struct {
		name       string
		maxEntries int
		maxBytes   int64
		setup      []op
		write      op
		wantFull   bool
		wantKeys   []string // live afterwards
		wantAbsent []string
	}{
		{name: "under the entry bound", maxEntries: 3,
			setup: []op{set("a", "1", time.Hour), set("b", "1", time.Hour)},
			write: set("c", "1", time.Hour), wantKeys: []string{"a", "b", "c"}},
		{name: "a new key over the entry bound", maxEntries: 3,
			setup:    []op{set("a", "1", time.Hour), set("b", "1", time.Hour), set("c", "1", time.Hour)},
			write:    set("d", "1", time.Hour),
			wantFull: true, wantKeys: []string{"a", "b", "c"}, wantAbsent: []string{"d"}},
		{name: "SetNX of a new key over the entry bound", maxEntries: 1,
			setup: []op{set("a", "1", time.Hour)},
			write: func(t *testing.T, m *store.Memory, _ *clock) error {
				ok, err := m.SetNX(t.Context(), "b", []byte("1"), time.Hour)
				if ok {
					t.Fatal("SetNX reported a write it refused")
				}
				return err
			},
			wantFull: true, wantKeys: []string{"a"}, wantAbsent: []string{"b"}},
		{name: "replacing a key at the entry bound", maxEntries: 2,
			setup: []op{set("a", "1", time.Hour), set("b", "1", time.Hour)},
			write: set("a", "2", time.Hour), wantKeys: []string{"a", "b"}},
		{name: "expired entries make room", maxEntries: 2,
			setup: []op{set("a", "1", time.Minute), set("b", "1", time.Hour), func(_ *testing.T, _ *store.Memory, c *clock) error {
				c.Add(time.Minute)
				return nil
			}},
			write: set("c", "1", time.Hour), wantKeys: []string{"b", "c"}, wantAbsent: []string{"a"}},
		{name: "taken and deleted entries make room", maxEntries: 2,
			setup: []op{set("a", "1", time.Hour), set("b", "1", time.Hour), func(t *testing.T, m *store.Memory, _ *clock) error {
				if _, err := m.Take(t.Context(), "a"); err != nil {
					return err
				}
				return m.Delete(t.Context(), "b")
			}, set("c", "1", time.Hour)},
			write: set("d", "1", time.Hour), wantKeys: []string{"c", "d"}},
		{name: "over the byte bound", maxBytes: size("a", "12345") + size("b", "12345"),
			setup:    []op{set("a", "12345", time.Hour)},
			write:    set("b", "123456", time.Hour),
			wantFull: true, wantKeys: []string{"a"}, wantAbsent: []string{"b"}},
		{name: "exactly at the byte bound", maxBytes: size("a", "12345") + size("b", "12345"),
			setup: []op{set("a", "12345", time.Hour)},
			write: set("b", "12345", time.Hour), wantKeys: []string{"a", "b"}},
		{name: "a replacement growing over the byte bound", maxBytes: size("a", "12345"),
			setup:    []op{set("a", "12345", time.Hour)},
			write:    set("a", "123456", time.Hour),
			wantFull: true, wantKeys: []string{"a"}},
		{name: "a replacement shrinking", maxBytes: size("a", "12345"),
			setup: []op{set("a", "12345", time.Hour)},
			write: set("a", "1", time.Hour), wantKeys: []string{"a"}},
		{name: "the sweep a full write triggers runs at most once a second", maxEntries: 2,
			setup: []op{set("a", "1", time.Hour), set("b", "1", 500*time.Millisecond), func(t *testing.T, m *store.Memory, c *clock) error {
				if err := m.Set(t.Context(), "x", []byte("1"), time.Hour); !errors.Is(err, store.ErrFull) {
					t.Fatalf("first write at the bound: %v", err)
				}
				c.Add(600 * time.Millisecond) // b expired; the last sweep was 600 ms ago
				return nil
			}},
			write:    set("c", "1", time.Hour),
			wantFull: true, wantKeys: []string{"a"}, wantAbsent: []string{"c"}},
		{name: "a second later the sweep runs again", maxEntries: 2,
			setup: []op{set("a", "1", time.Hour), set("b", "1", 500*time.Millisecond), func(t *testing.T, m *store.Memory, c *clock) error {
				if err := m.Set(t.Context(), "x", []byte("1"), time.Hour); !errors.Is(err, store.ErrFull) {
					t.Fatalf("first write at the bound: %v", err)
				}
				c.Add(time.Second)
				return nil
			}},
			write: set("c", "1", time.Hour), wantKeys: []string{"a", "c"}},
		{name: "unbounded", maxEntries: -1, maxBytes: -1,
			setup: []op{set("a", "1", time.Hour), set("b", "1", time.Hour)},
			write: set("c", string(make([]byte, 1<<20)), time.Hour), wantKeys: []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			m := store.NewMemory(store.WithClock(c.Now), store.WithSweepInterval(0), store.WithLimits(tt.maxEntries, tt.maxBytes))
			defer m.Close()
			for i, o := range tt.setup {
				if err := o(t, m, c); err != nil {
					t.Fatalf("setup %d: %v", i, err)
				}
			}
			err := tt.write(t, m, c)
			if tt.wantFull != errors.Is(err, store.ErrFull) || (!tt.wantFull && err != nil) {
				t.Fatalf("write: %v, want full %v", err, tt.wantFull)
			}
			if tt.wantFull && !store.IsUnavailable(err) {
				t.Fatal("ErrFull must read as unavailable (callers deny)")
			}
			for _, k := range tt.wantKeys {
				if _, err := m.Get(t.Context(), k); err != nil {
					t.Errorf("%s: %v", k, err)
				}
			}
			for _, k := range tt.wantAbsent {
				if _, err := m.Get(t.Context(), k); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s: expected absent, got %v", k, err)
				}
			}
			// The byte count matches what is stored.
			n, b := m.Usage()
			m.Sweep()
			var want int64
			for _, k := range append(slices.Clone(tt.wantKeys), "x") {
				if v, err := m.Get(t.Context(), k); err == nil {
					want += size(k, string(v))
				}
			}
			if n2, b2 := m.Usage(); b2 != want {
				t.Fatalf("Usage = %d entries, %d bytes (after sweep %d, %d); want %d bytes", n, b, n2, b2, want)
			}
		})
	}
}

// TestMemoryFloodKeepsSessions: a flood of short-lived writes stops at the
// bound; the session written before stays and can still be refreshed, new
// keys fail closed, and room comes back as the flood expires.
func TestMemoryFloodKeepsSessions(t *testing.T) {
	c := newClock()
	m := store.NewMemory(store.WithClock(c.Now), store.WithSweepInterval(0), store.WithLimits(1000, 0))
	defer m.Close()
	mustSet(t, m, "session:alice", "v1", 8*time.Hour)
	refused := 0
	for i := range 20000 {
		ok, err := m.SetNX(t.Context(), fmt.Sprintf("login:%d", i), make([]byte, 700), 10*time.Minute)
		switch {
		case errors.Is(err, store.ErrFull):
			refused++
		case err != nil || !ok:
			t.Fatalf("write %d: %v %v", i, ok, err)
		}
	}
	if n := m.Len(); n != 1000 || refused != 19001 {
		t.Fatalf("after the flood: %d entries, %d refused", n, refused)
	}
	wantValue(t, m, "session:alice", "v1")
	mustSet(t, m, "session:alice", "v2", 8*time.Hour) // a refresh replaces, adds nothing
	if err := m.Set(t.Context(), "session:bob", []byte("v"), 8*time.Hour); !errors.Is(err, store.ErrFull) {
		t.Fatalf("a new session in a full store: %v", err)
	}
	c.Add(10 * time.Minute)
	mustSet(t, m, "session:bob", "v", 8*time.Hour)
	if n := m.Len(); n != 2 {
		t.Fatalf("after the flood expired: %d entries, want 2", n)
	}
}
