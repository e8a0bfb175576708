package justify

import (
	"sync"
	"time"
)

// cache holds a system's answers in this process, bounded in size.
type cache struct {
	size int
	mu   sync.RWMutex
	m    map[string]entry
}

type entry struct {
	ticket     Ticket
	notFound   bool
	freshUntil time.Time
}

func newCache(size int) *cache { return &cache{size: size, m: make(map[string]entry)} }

func (c *cache) get(key string) (entry, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	return e, ok
}

// put stores e. When the cache is full it first drops entries that are
// past their use (fresh for negatives; for found tickets, kept for
// allow-cached until the sweep needs room), then arbitrary ones, down to 90% of the size.
func (c *cache) put(key string, e entry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.size {
		for k, old := range c.m {
			if !now.Before(old.freshUntil) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.size-c.size/10 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = e
}

func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
