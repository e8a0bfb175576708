package server

import (
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// limiter is a per-client token bucket for unauthenticated endpoints (the
// device agent's API, where codes are guessed against). It is per replica.
//
// A client is an IPv4 address, or an IPv6 /64: whoever holds a /64 (one
// customer network, one host's SLAAC prefix) can use any of its 2^64
// addresses, so counting addresses would give them a fresh bucket per
// request. IPv4-mapped IPv6 addresses count as their IPv4 address.
//
// Memory is bounded by keeping the buckets of the maxLimiterClients most
// recently seen clients (LRU). Evicting the least recently used bucket loses
// little: a bucket left alone for burst/rate (4 s for the device API) is full
// again, the same as a new one. To get their own exhausted bucket evicted
// sooner, a client must bring maxLimiterClients other prefixes within that
// time, each of which has a bucket of its own anyway; nothing is cleared for
// everyone at once.
type limiter struct {
	perSec rate.Limit
	burst  int
	now    func() time.Time

	mu      sync.Mutex
	clients *simplelru.LRU[netip.Prefix, *rate.Limiter]
}

const maxLimiterClients = 10000

func newLimiter(perSec float64, burst int) *limiter {
	lru, err := simplelru.NewLRU[netip.Prefix, *rate.Limiter](maxLimiterClients, nil)
	if err != nil {
		panic("server: " + err.Error()) // only for a size <= 0
	}
	return &limiter{perSec: rate.Limit(perSec), burst: burst, now: time.Now, clients: lru}
}

// limiterKey is the client a request is counted for: the IPv4 address, the
// IPv6 /64, or one shared key for requests whose address is unknown.
func limiterKey(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	switch {
	case addr.Is4():
		return netip.PrefixFrom(addr, 32)
	case addr.Is6():
		if p, err := addr.WithZone("").Prefix(64); err == nil {
			return p
		}
	}
	return netip.Prefix{}
}

// allow reports whether addr may make one more request now.
func (l *limiter) allow(addr netip.Addr) bool {
	key := limiterKey(addr)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.clients.Get(key)
	if !ok {
		lim = rate.NewLimiter(l.perSec, l.burst)
		l.clients.Add(key, lim)
	}
	return lim.AllowN(now, 1)
}
