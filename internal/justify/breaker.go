package justify

import (
	"sync"
	"time"
)

// breaker is a small circuit breaker with an injected clock (the caller
// passes now). Closed: every lookup goes through; after `failures`
// consecutive failures it opens. Open: nothing goes through until openFor
// has passed; then it is half-open and lets exactly one probe through, whose
// success closes it and whose failure opens it again.
//
// Written here rather than taken from a library so that the clock is the
// Verifier's (tests pin every transition at exact instants) and a probe
// whose caller went away can be released without a verdict.
type breaker struct {
	failures int
	openFor  time.Duration

	mu          sync.Mutex
	state       breakerState
	consecutive int
	openUntil   time.Time
	probing     bool
}

type breakerState int

const (
	closed breakerState = iota
	open
	halfOpen
)

// allow reports whether a request may go to the system now; when not, it
// also returns when the next probe may go.
func (b *breaker) allow(now time.Time) (bool, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case open:
		if now.Before(b.openUntil) {
			return false, b.openUntil
		}
		b.state, b.probing = halfOpen, true
		return true, time.Time{}
	case halfOpen:
		if b.probing {
			return false, now
		}
		b.probing = true
		return true, time.Time{}
	default:
		return true, time.Time{}
	}
}

// success records an answer (a ticket or "not found").
func (b *breaker) success() {
	b.mu.Lock()
	b.state, b.consecutive, b.probing = closed, 0, false
	b.mu.Unlock()
}

// failure records a failed request; it reports whether the circuit opened.
func (b *breaker) failure(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.consecutive++
	if b.state == halfOpen || b.state == closed && b.consecutive >= b.failures {
		b.state, b.openUntil, b.probing = open, now.Add(b.openFor), false
		return true
	}
	return false
}

// release ends a request that gave no verdict (the caller cancelled, or the
// system asked to wait): a half-open probe slot is freed.
func (b *breaker) release() {
	b.mu.Lock()
	if b.state == halfOpen {
		b.probing = false
	}
	b.mu.Unlock()
}
