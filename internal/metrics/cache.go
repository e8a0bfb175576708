package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/accessgateway/gateway/internal/store"
)

// RegisterSessionCache exports the Redis store's local cache
// (session.redis.local_cache), read from stats at scrape time: reads
// answered from memory and from Redis, and whether it serves (1) or every
// read goes to Redis (0). ok false (the cache is off) reads as zeros.
func (m *Metrics) RegisterSessionCache(stats func() (store.CacheStats, bool)) {
	get := func() store.CacheStats {
		s, _ := stats()
		return s
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: NameSessionCacheHits,
			Help: "Reads of sessions, device bindings and grants answered by the local cache (session.redis.local_cache)."},
			func() float64 { return float64(get().Hits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: NameSessionCacheMisses,
			Help: "Reads of sessions, device bindings and grants the local cache sent to Redis (not cached, expired, or the cache not serving)."},
			func() float64 { return float64(get().Misses) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: NameSessionCacheServing,
			Help: "1 while the local cache answers reads (its invalidation connection is subscribed and heard from Redis within a second); 0 while it is off or every read goes to Redis."},
			func() float64 {
				if get().Serving {
					return 1
				}
				return 0
			}),
	} {
		// A second server on the same registry (tests) keeps the first's.
		_ = m.Registry.Register(c)
	}
}
