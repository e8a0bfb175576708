package device

import (
	"strconv"
	"testing"
	"time"
)

// Each session has its own bucket: a burst, then one load per 1/rate.
func TestPageLimiterPerSession(t *testing.T) {
	l := newPageLimiter(0.5, 3)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		if !l.allow("s-alice", now) {
			t.Fatalf("load %d of the burst refused", i)
		}
	}
	if l.allow("s-alice", now) {
		t.Fatal("a load beyond the burst allowed")
	}
	if !l.allow("s-bob", now) {
		t.Fatal("another session was limited by the first")
	}
	if l.allow("s-alice", now.Add(time.Second)) {
		t.Fatal("allowed before a load's worth refilled")
	}
	if !l.allow("s-alice", now.Add(2*time.Second)) {
		t.Fatal("refused after a load's worth refilled")
	}
}

// Flooding the limiter with other sessions does not reset a session that
// keeps loading: its bucket is recent, so the LRU evicts others.
func TestPageLimiterEvictsLeastRecent(t *testing.T) {
	l := newPageLimiter(0.0001, 2)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	l.allow("victim", now)
	l.allow("victim", now)
	for i := range 2 * maxPageSessions {
		l.allow("s-"+strconv.Itoa(i), now)
		if i%1000 == 0 {
			l.allow("victim", now) // keeps it recent
		}
	}
	if l.allow("victim", now) {
		t.Fatal("the session's exhausted bucket was reset")
	}
}
