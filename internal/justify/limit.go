package justify

import (
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// Tickets one user may have looked up for new grants, per replica: a form
// submission, or an API client's header naming a ticket it holds no grant
// for, each asks the ticket system (through its cache). Without a bound any
// signed-in user could spend the system's API quota — which every user
// shares, and which a system that rate-limits the gateway answers with a
// wait for everyone — by naming ticket after ticket. Re-verifications of
// grants already made are not counted (each grant is asked at most once per
// reverify).
const (
	lookupsPerMinute = 30
	lookupBurst      = 10
	maxLimitedUsers  = 10000
)

// userLimiter is a token bucket per user (by lowercased address), for the
// maxLimitedUsers most recently seen users: a user's bucket evicted is one
// left alone long enough to be full again, or one of a crowd that each had
// their own.
type userLimiter struct {
	mu    sync.Mutex
	users *simplelru.LRU[string, *rate.Limiter]
}

func newUserLimiter() *userLimiter {
	lru, err := simplelru.NewLRU[string, *rate.Limiter](maxLimitedUsers, nil)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	return &userLimiter{users: lru}
}

// allow reports whether user may have one more ticket looked up at now.
func (l *userLimiter) allow(user string, now time.Time) bool {
	key := strings.ToLower(user)
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.users.Get(key)
	if !ok {
		b = rate.NewLimiter(rate.Limit(lookupsPerMinute)/60, lookupBurst)
		l.users.Add(key, b)
	}
	return b.AllowN(now, 1)
}
