package server

import (
	"net/netip"
	"testing"
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
