package store_test

import (
	"fmt"
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
