package device

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"
)

// bindingMemo keeps the decoded form of session bindings read again
// unchanged (the store is still read on every request, so a binding
// replaced or removed on another replica is seen at once).
type bindingMemo struct {
	mu sync.Mutex
	m  map[string]memoBinding
}

type memoBinding struct {
	raw []byte
	b   binding
}

const maxMemo = 4096

func (bm *bindingMemo) decode(key string, raw []byte) (binding, error) {
	bm.mu.Lock()
	d, ok := bm.m[key]
	bm.mu.Unlock()
	if ok && bytes.Equal(d.raw, raw) {
		return d.b, nil
	}
	var b binding
	if err := json.Unmarshal(raw, &b); err != nil {
		return binding{}, err
	}
	bm.mu.Lock()
	if bm.m == nil || len(bm.m) >= maxMemo {
		bm.m = make(map[string]memoBinding)
	}
	bm.m[key] = memoBinding{raw: bytes.Clone(raw), b: b}
	bm.mu.Unlock()
	return b, nil
}

// enrollCacheTTL bounds how long a session's device evidence may rely on a
// cached enrollment (its owner and date): a removed or replaced enrollment
// ends session bindings on other replicas within it. Revocation (the
// inventory) is never cached.
const enrollCacheTTL = 10 * time.Second

// enrollCache keeps recently read enrollments (nil: absent) for the steady
// path of session evidence.
type enrollCache struct {
	mu sync.Mutex
	m  map[string]cachedEnrollment
}

type cachedEnrollment struct {
	en *enrollment
	at time.Time
}

// read returns a reader of enrollments that serves recent ones from the
// cache and reads (and caches) the others.
func (c *enrollCache) read(s *Service) func(context.Context, string) (*enrollment, error) {
	return func(ctx context.Context, id string) (*enrollment, error) {
		now := s.now()
		c.mu.Lock()
		e, ok := c.m[id]
		c.mu.Unlock()
		if ok && now.Sub(e.at) < enrollCacheTTL && !now.Before(e.at) {
			return e.en, nil
		}
		en, err := s.readEnrollment(ctx, id)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.m == nil || len(c.m) >= maxMemo {
			c.m = make(map[string]cachedEnrollment)
		}
		c.m[id] = cachedEnrollment{en: en, at: now}
		c.mu.Unlock()
		return en, nil
	}
}

// forget drops a device's cached enrollment (this replica changed it).
func (c *enrollCache) forget(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}
