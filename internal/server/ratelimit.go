package server

import (
	"net/netip"
	"sync"

	"golang.org/x/time/rate"
)

// limiter is a per-client-address token bucket for unauthenticated
// endpoints (the device agent's API, where codes are guessed against). It is
// per replica; its memory is bounded by starting over when it holds too many
// addresses.
type limiter struct {
	mu      sync.Mutex
	perSec  rate.Limit
	burst   int
	clients map[netip.Addr]*rate.Limiter
}

const maxLimiterClients = 10000

func newLimiter(perSec float64, burst int) *limiter {
	return &limiter{perSec: rate.Limit(perSec), burst: burst, clients: map[netip.Addr]*rate.Limiter{}}
}

// allow reports whether addr may make one more request now.
func (l *limiter) allow(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.clients[addr]
	if lim == nil {
		if len(l.clients) >= maxLimiterClients {
			clear(l.clients)
		}
		lim = rate.NewLimiter(l.perSec, l.burst)
		l.clients[addr] = lim
	}
	return lim.Allow()
}
