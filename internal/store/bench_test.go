package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

// BenchmarkEvidenceReads reads what one request of the full chain reads —
// a session (~2.7 KB) and two small device records — from a real
// redis-server: one Get per key (three round trips) against one MGet.
func BenchmarkEvidenceReads(b *testing.B) {
	srv := redistest.Start(b)
	r := newRedis(b, store.RedisConfig{Addrs: []string{srv.Addr()}})
	keys := []string{"session:k", "device:session:k", "device:enrolled:lt-1"}
	vals := []string{strings.Repeat("s", 2700), strings.Repeat("b", 200), strings.Repeat("e", 600)}
	for i, k := range keys {
		if err := r.Set(b.Context(), k, []byte(vals[i]), time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("get-each", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, k := range keys {
				if _, err := r.Get(b.Context(), k); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("mget", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := store.MGet(b.Context(), r, keys...); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEvidenceReadsConcurrent is BenchmarkEvidenceReads' MGet from 32
// goroutines at once, as 32 concurrent requests make them: the batcher
// sends the reads that meet in one pipeline.
func BenchmarkEvidenceReadsConcurrent(b *testing.B) {
	srv := redistest.Start(b)
	r := newRedis(b, store.RedisConfig{Addrs: []string{srv.Addr()}})
	keys := []string{"session:k", "device:session:k", "justify:k"}
	for i, k := range keys {
		if err := r.Set(b.Context(), k, []byte(strings.Repeat("v", 300*(i+1))), time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := store.MGet(b.Context(), r, keys...); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
