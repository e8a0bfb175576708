package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/accessgateway/gateway/internal/store"
)

// RegisterSessionCache exports the Redis store's local cache
// (session.redis.local_cache), read from stats once per scrape: reads
// answered from memory and from Redis, and whether it serves (1) or every
// read goes to Redis (0). A store without the cache reads as zeros.
func (m *Metrics) RegisterSessionCache(stats func() store.CacheStats) {
	// A second server on the same registry (tests) keeps the first's.
	_ = m.Registry.Register(sessionCache{stats})
}

var (
	descCacheHits = prometheus.NewDesc(NameSessionCacheHits,
		"Reads of sessions, device bindings and grants answered by the local cache (session.redis.local_cache).", nil, nil)
	descCacheMisses = prometheus.NewDesc(NameSessionCacheMisses,
		"Reads of sessions, device bindings and grants the local cache sent to Redis (not cached, expired, or the cache not serving).", nil, nil)
	descCacheServing = prometheus.NewDesc(NameSessionCacheServing,
		"1 while the local cache answers reads (its invalidation connection is subscribed and heard from Redis within a second); 0 while it is off or every read goes to Redis.", nil, nil)
)

// sessionCache collects the three metrics from one CacheStats (whose
// Serving costs a syscall).
type sessionCache struct{ stats func() store.CacheStats }

func (sessionCache) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCacheHits
	ch <- descCacheMisses
	ch <- descCacheServing
}

func (c sessionCache) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	serving := 0.0
	if s.Serving {
		serving = 1
	}
	ch <- prometheus.MustNewConstMetric(descCacheHits, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(descCacheMisses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(descCacheServing, prometheus.GaugeValue, serving)
}
