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
