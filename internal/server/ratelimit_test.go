package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestLimiterPerAddress(t *testing.T) {
	l := newLimiter(0.0001, 3) // effectively no refill during the test
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i := 0; i < 3; i++ {
		if !l.allow(a) {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if l.allow(a) {
		t.Fatal("request beyond the burst allowed")
	}
	if !l.allow(b) {
		t.Fatal("another address was limited by the first")
	}
}

// Which addresses share a bucket.
func TestLimiterKeys(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"two IPv4 addresses", "192.0.2.1", "192.0.2.2", false},
		{"IPv4 and its IPv4-mapped IPv6 form", "192.0.2.1", "::ffff:192.0.2.1", true},
		{"two addresses of one IPv6 /64", "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"neighbouring /64s", "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"zones are ignored", "fe80::1%eth0", "fe80::2%eth1", true},
		{"unknown addresses share one key", "", "", true},
	}
	parse := func(s string) netip.Addr {
		if s == "" {
			return netip.Addr{}
		}
		return netip.MustParseAddr(s)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := limiterKey(parse(tt.a)) == limiterKey(parse(tt.b)); got != tt.same {
				t.Fatalf("limiterKey(%s) == limiterKey(%s) is %v, want %v", tt.a, tt.b, got, tt.same)
			}
		})
	}
}

// A client rotating through the addresses of its IPv6 /64 gets one burst,
// not one per address.
func TestLimiterRotatingWithinPrefix(t *testing.T) {
	l := newLimiter(0.0001, 20)
	allowed := 0
	for i := range 1000 {
		if l.allow(netip.MustParseAddr(fmt.Sprintf("2001:db8:aa:bb:%x:%x::1", i>>8, i&0xff))) {
			allowed++
		}
	}
	if allowed != 20 {
		t.Fatalf("%d of 1000 requests from rotating addresses in one /64 allowed, want the burst of 20", allowed)
	}
}

// Rotating through more networks than the limiter keeps does not reset the
// limit of a client that keeps asking: its bucket is recent, so the LRU
// evicts others. (The limiter used to clear every bucket when full.)
func TestLimiterRotationDoesNotResetOthers(t *testing.T) {
	l := newLimiter(0.0001, 5)
	victim := netip.MustParseAddr("198.51.100.7")
	for range 5 {
		l.allow(victim)
	}
	for i := range 3 * maxLimiterClients {
		l.allow(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, byte(i >> 16), byte(i >> 8), 8: byte(i)}))
		if i%1000 == 0 && l.allow(victim) {
			t.Fatalf("after %d other networks the exhausted client was allowed again", i+1)
		}
	}
	if n := l.clients.Len(); n > maxLimiterClients {
		t.Fatalf("the limiter keeps %d clients, bound %d", n, maxLimiterClients)
	}
}

// A bucket refills at the configured rate (the clock is the limiter's).
func TestLimiterRefills(t *testing.T) {
	now := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	l := newLimiter(5, 20)
	l.now = func() time.Time { return now }
	a := netip.MustParseAddr("192.0.2.9")
	for range 20 {
		l.allow(a)
	}
	if l.allow(a) {
		t.Fatal("allowed beyond the burst")
	}
	now = now.Add(200 * time.Millisecond) // one token at 5/s
	if !l.allow(a) || l.allow(a) {
		t.Fatal("expected exactly one request after 200 ms")
	}
}

// The agents' APIs refuse a client over its rate with 429, and each
// refusal is a decision record like any other.
func TestAPIRateLimitIsAudited(t *testing.T) {
	g := newFwdGateway(t, "203.0.113.0/24")
	limited := 0
	for range 60 {
		r := httptest.NewRequest(http.MethodPost, "http://gw.example/.gateway/api/device/attest/start", strings.NewReader("{}"))
		r.RemoteAddr = "198.51.100.7:4000"
		w := httptest.NewRecorder()
		g.srv.Handler().ServeHTTP(w, r)
		if w.Code == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("60 requests at once: none was rate limited")
	}
	recorded := 0
	for _, rec := range g.records() {
		if rec.Status == http.StatusTooManyRequests && len(rec.Reasons) == 1 && rec.Reasons[0] == "rate-limited" && rec.SourceIP == "198.51.100.7" {
			recorded++
		}
	}
	if recorded != limited {
		t.Fatalf("%d requests rate limited, %d recorded", limited, recorded)
	}
}
