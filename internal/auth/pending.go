package auth

import (
	"container/heap"
	"container/list"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// ErrTooManySignIns means a new sign-in was refused because too many are
// already in progress from the client's address, or from its site or network
// (see SignInLimits). Nothing was stored. Answer 429 (with Retry-After),
// not the "store unavailable" page: the store is fine.
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
//
// Addresses are counted in nested prefixes, each with its cap: the client
// (an IPv4 address, an IPv6 /64), the site (an IPv6 /56) and the network
// (an IPv4 /24, an IPv6 /48). Whoever holds a whole network — a tunnel
// broker hands out /48s for free — fills at most PerNetwork slots, a tenth
// of the replica's by default, not all of them. When the replica's cap is
// reached anyway (by ten networks or more), a new sign-in is not refused:
// it takes the slot of the oldest pending sign-in of the holder holding
// the most (see pendingSignIns.acquire), so that those flooding the replica
// lose their own sign-ins first and everyone else can still sign in. A
// holder is an IPv4 /24, or an IPv6 /32 — a provider's allocation: whoever
// floods from thousands of /48s of their own holds them in a few /32s, and
// a company's one NAT address (its people signing in) is not the one
// evicted because each of those /48s holds fewer.
type SignInLimits struct {
	// PerClient caps the pending sign-ins of one client address: an IPv4
	// address, or an IPv6 /64 (one customer network, which its owner can fill
	// with addresses at will). 0 means DefaultSignInsPerClient.
	PerClient int
	// PerSite caps the pending sign-ins of one IPv6 /56 (a usual end-site
	// assignment: 256 /64s). 0 means a twentieth of PerReplica (500 by
	// default), and never less than PerClient.
	PerSite int
	// PerNetwork caps the pending sign-ins of one IPv4 /24 or IPv6 /48. 0
	// means a tenth of PerReplica (1,000 by default), and never less than
	// PerSite.
	PerNetwork int
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
	if l.PerSite <= 0 {
		l.PerSite = max(l.PerReplica/20, l.PerClient)
	}
	if l.PerNetwork <= 0 {
		l.PerNetwork = max(l.PerReplica/10, l.PerSite)
	}
	return l
}

// The prefixes an address is counted in (tiers), narrowest first.
const (
	tierClient = iota
	tierSite
	tierNetwork
	tiers
)

// pendingSignIns counts the sign-ins in progress. All slots live for the
// same TTL, so the list in start order is also the list in expiry order:
// expiring is popping from the front. The same holds within each network's
// own list, whose front is its oldest.
type pendingSignIns struct {
	limits SignInLimits
	ttl    time.Duration

	mu      sync.Mutex
	order   *list.List // of *pendingSignIn, oldest first
	byState map[string]*list.Element
	// count is the pending sign-ins per prefix of every tier (prefixes of
	// different tiers differ in length, so they never collide).
	count map[netip.Prefix]int
	// networks are the pending sign-ins per holder (holderOf's prefix; the
	// invalid prefix for unknown addresses), and byMost the same in a heap,
	// the one holding the most on top.
	networks map[netip.Prefix]*signInNetwork
	byMost   networkHeap
}

type pendingSignIn struct {
	state   string
	tiers   [tiers]netip.Prefix // invalid where the address has none
	holder  netip.Prefix        // holderOf the address
	network *signInNetwork
	inNet   *list.Element // this sign-in's element in network.pending
	expires time.Time
}

// signInNetwork is one network's pending sign-ins, oldest first (elements
// of pendingSignIns.order).
type signInNetwork struct {
	key     netip.Prefix
	pending list.List
	index   int // in byMost
}

func newPendingSignIns(l SignInLimits, ttl time.Duration) *pendingSignIns {
	return &pendingSignIns{limits: l.withDefaults(), ttl: ttl, order: list.New(),
		byState: map[string]*list.Element{}, count: map[netip.Prefix]int{}, networks: map[netip.Prefix]*signInNetwork{}}
}

// tiersOf returns the prefixes a client address is counted in: the IPv4
// address, no site and its /24; or the IPv6 /64, /56 and /48. An invalid
// address (unknown) is counted in none.
func tiersOf(a netip.Addr) (t [tiers]netip.Prefix) {
	a = a.Unmap().WithZone("")
	switch {
	case a.Is4():
		t[tierClient] = netip.PrefixFrom(a, 32)
		t[tierNetwork], _ = a.Prefix(24)
	case a.Is6():
		t[tierClient], _ = a.Prefix(64)
		t[tierSite], _ = a.Prefix(56)
		t[tierNetwork], _ = a.Prefix(48)
	}
	return t
}

// holderOf returns the prefix sign-ins are grouped by for eviction: an
// IPv4 /24, an IPv6 /32; invalid for an unknown address.
func holderOf(a netip.Addr) netip.Prefix {
	a = a.Unmap().WithZone("")
	var p netip.Prefix
	switch {
	case a.Is4():
		p, _ = a.Prefix(24)
	case a.Is6():
		p, _ = a.Prefix(32)
	}
	return p
}

// limit is the cap of a tier's prefixes.
func (l SignInLimits) limit(tier int) int {
	switch tier {
	case tierClient:
		return l.PerClient
	case tierSite:
		return l.PerSite
	}
	return l.PerNetwork
}

// acquire takes a slot for state, or refuses with ErrTooManySignIns when a
// prefix of the client is at its cap. An unknown client address counts only
// against the replica's cap.
//
// At the replica's cap it does not refuse: it frees the slot of the oldest
// pending sign-in of the holder (holderOf) holding the most, and returns that
// sign-in's state (evicted), whose stored state the caller deletes: the
// store then holds no more than the cap either.
func (p *pendingSignIns) acquire(now time.Time, client netip.Addr, state string) (evicted string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire(now)
	t := tiersOf(client)
	for i, k := range t {
		if k.IsValid() && p.count[k] >= p.limits.limit(i) {
			return "", fmt.Errorf("%w: %d from %s", ErrTooManySignIns, p.count[k], k)
		}
	}
	if p.order.Len() >= p.limits.PerReplica {
		most := p.byMost[0]
		el := most.pending.Front().Value.(*list.Element)
		evicted = el.Value.(*pendingSignIn).state
		p.remove(el)
	}
	e := &pendingSignIn{state: state, tiers: t, holder: holderOf(client), expires: now.Add(p.ttl)}
	for _, k := range t {
		if k.IsValid() {
			p.count[k]++
		}
	}
	el := p.order.PushBack(e)
	p.byState[state] = el
	n := p.networks[e.holder]
	if n == nil {
		n = &signInNetwork{key: e.holder}
		p.networks[n.key] = n
		heap.Push(&p.byMost, n)
	}
	e.network, e.inNet = n, n.pending.PushBack(el)
	heap.Fix(&p.byMost, n.index)
	return evicted, nil
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
	for _, k := range e.tiers {
		if !k.IsValid() {
			continue
		}
		if p.count[k]--; p.count[k] <= 0 {
			delete(p.count, k)
		}
	}
	n := e.network
	n.pending.Remove(e.inNet)
	if n.pending.Len() == 0 {
		heap.Remove(&p.byMost, n.index)
		delete(p.networks, n.key)
		return
	}
	heap.Fix(&p.byMost, n.index)
}

// len reports the pending sign-ins counted now.
func (p *pendingSignIns) len(now time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire(now)
	return p.order.Len()
}

// networkHeap orders networks by their pending sign-ins, most first
// (container/heap).
type networkHeap []*signInNetwork

func (h networkHeap) Len() int           { return len(h) }
func (h networkHeap) Less(i, j int) bool { return h[i].pending.Len() > h[j].pending.Len() }
func (h networkHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *networkHeap) Push(x any) {
	n := x.(*signInNetwork)
	n.index = len(*h)
	*h = append(*h, n)
}
func (h *networkHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return n
}
