package device

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// The device page (the standalone page and the page of a route's device
// denial) reads and may write the session's one-time codes in the store on
// every load. pageLimiter bounds how often one browser session can make it
// do so: PageBurst loads at once, then one every 1/PageRate seconds. It is
// per replica, like the agent API's limit.
const (
	PageRate  = 0.5 // loads per second, per session, once the burst is spent
	PageBurst = 20
)

// maxPageSessions bounds the sessions pageLimiter remembers (the most
// recently seen; a bucket left alone for PageBurst/PageRate is full again,
// the same as a new one, so evicting the least recent loses little).
const maxPageSessions = 10000

// pageLimiter is a token bucket per browser session, keyed by the session
// ID's hash (the limiter holds no session IDs).
type pageLimiter struct {
	perSec rate.Limit
	burst  int

	mu       sync.Mutex
	sessions *simplelru.LRU[string, *rate.Limiter]
}

func newPageLimiter(perSec float64, burst int) *pageLimiter {
	lru, err := simplelru.NewLRU[string, *rate.Limiter](maxPageSessions, nil)
	if err != nil {
		panic("device: " + err.Error()) // only for a size <= 0
	}
	return &pageLimiter{perSec: rate.Limit(perSec), burst: burst, sessions: lru}
}

// allow reports whether the session may load one more device page at now.
func (l *pageLimiter) allow(sessionID string, now time.Time) bool {
	key := hashKey(sessionID)
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.sessions.Get(key)
	if !ok {
		lim = rate.NewLimiter(l.perSec, l.burst)
		l.sessions.Add(key, lim)
	}
	return lim.AllowN(now, 1)
}
