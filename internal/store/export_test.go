package store

import "time"

// CacheServing reports whether r's local cache answers reads now.
func CacheServing(r *Redis) bool { return r.cache != nil && r.cache.serving(time.Now().UnixNano()) }

// CacheLen is the number of values r's local cache holds.
func CacheLen(r *Redis) int {
	r.cache.mu.RLock()
	defer r.cache.mu.RUnlock()
	return len(r.cache.entries)
}
