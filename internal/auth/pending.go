package auth

import (
	"container/list"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// ErrTooManySignIns means a new sign-in was refused because too many are
// already in progress, from the client's address or on this replica. Nothing
// was stored. Answer 429 (with Retry-After), not the "store unavailable"
// page: the store is fine.
var ErrTooManySignIns = errors.New("auth: too many sign-ins in progress")

// Default caps of pending sign-ins (see SignInLimits).
const (
	DefaultSignInsPerClient  = 30
	DefaultSignInsPerReplica = 10000
)

// SignInLimits caps the sign-ins that were started (state, nonce and PKCE
// verifier stored, about 0.7 KB each) and have not come back to the
// callback yet. Each pending sign-in counts until its callback reaches this
// replica or loginTTL (10 minutes) passes, whichever is first.
//
// The counts are per replica, in memory: a callback that lands on another
// replica (no sticky sessions) does not release the slot here, which then
// frees when loginTTL passes. PerClient must therefore allow for several
// people behind one NAT address signing in within ten minutes.
type SignInLimits struct {
	// PerClient caps the pending sign-ins of one client address: an IPv4
	// address, or an IPv6 /64 (one customer network, which its owner can fill
	// with addresses at will). 0 means DefaultSignInsPerClient.
	PerClient int
	// PerReplica caps the pending sign-ins of this replica, whatever their
	// address: it bounds the store (memory or Redis keys) an attacker with
	// many addresses can fill. 0 means DefaultSignInsPerReplica.
	PerReplica int
}

func (l SignInLimits) withDefaults() SignInLimits {
	if l.PerClient <= 0 {
		l.PerClient = DefaultSignInsPerClient
	}
	if l.PerReplica <= 0 {
		l.PerReplica = DefaultSignInsPerReplica
	}
	return l
}

// pendingSignIns counts the sign-ins in progress. All slots live for the
// same TTL, so the list in start order is also the list in expiry order:
// expiring is popping from the front.
type pendingSignIns struct {
	limits SignInLimits
	ttl    time.Duration

	mu       sync.Mutex
	order    *list.List // of *pendingSignIn, oldest first
	byState  map[string]*list.Element
	byClient map[netip.Prefix]int
}

type pendingSignIn struct {
	state   string
	client  netip.Prefix // invalid when the address is unknown
	expires time.Time
}

func newPendingSignIns(l SignInLimits, ttl time.Duration) *pendingSignIns {
	return &pendingSignIns{limits: l.withDefaults(), ttl: ttl, order: list.New(),
		byState: map[string]*list.Element{}, byClient: map[netip.Prefix]int{}}
}

// clientKey is the unit a client address is counted in: the IPv4 address, or
// its IPv6 /64. An invalid address (unknown) has no key.
func clientKey(a netip.Addr) (netip.Prefix, bool) {
	a = a.Unmap()
	switch {
	case a.Is4():
		return netip.PrefixFrom(a, 32), true
	case a.Is6():
		p, err := a.WithZone("").Prefix(64)
		return p, err == nil
	}
	return netip.Prefix{}, false
}

// acquire takes a slot for state, or refuses with ErrTooManySignIns. An
// unknown client address counts only against the replica's cap.
func (p *pendingSignIns) acquire(now time.Time, client netip.Addr, state string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire(now)
	if p.order.Len() >= p.limits.PerReplica {
		return fmt.Errorf("%w: %d on this gateway replica", ErrTooManySignIns, p.order.Len())
	}
	key, known := clientKey(client)
	if known && p.byClient[key] >= p.limits.PerClient {
		return fmt.Errorf("%w: %d from %s", ErrTooManySignIns, p.byClient[key], key)
	}
	e := &pendingSignIn{state: state, expires: now.Add(p.ttl)}
	if known {
		e.client = key
		p.byClient[key]++
	}
	p.byState[state] = p.order.PushBack(e)
	return nil
}

// release frees the slot of state, if this replica holds one.
func (p *pendingSignIns) release(state string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if el, ok := p.byState[state]; ok {
		p.remove(el)
	}
}

func (p *pendingSignIns) expire(now time.Time) {
	for el := p.order.Front(); el != nil; el = p.order.Front() {
		if now.Before(el.Value.(*pendingSignIn).expires) {
			return
		}
		p.remove(el)
	}
}

func (p *pendingSignIns) remove(el *list.Element) {
	e := p.order.Remove(el).(*pendingSignIn)
	delete(p.byState, e.state)
	if e.client.IsValid() {
		if p.byClient[e.client]--; p.byClient[e.client] <= 0 {
			delete(p.byClient, e.client)
		}
	}
}

// len reports the pending sign-ins counted now.
func (p *pendingSignIns) len(now time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire(now)
	return p.order.Len()
}
