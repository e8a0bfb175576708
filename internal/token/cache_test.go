package token

import (
	"testing"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
)

func TestCache(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a.pem", "ES256")
	now := t0
	s, err := NewSigner(Config{Keys: []KeyConfig{{File: "a.pem", State: StateActive}}}, testIssuer, WithBaseDir(dir),
		WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	base := contexttoken.Claims{Audience: contexttoken.Audience{"https://a.example.com"}, Subject: "u", Route: "wiki", SourceIP: "203.0.113.7"}
	session := t0.Add(8 * time.Hour)

	c := NewCache(s)
	first, err := c.Mint(base, session)
	if err != nil {
		t.Fatal(err)
	}
	other := base
	other.SourceIP = "203.0.113.8"
	device := base
	device.Device = &contexttoken.Device{ID: "d", Trust: "tpm-attested"}
	sameButMintFields := base
	sameButMintFields.ID, sameButMintFields.Issuer = "x", "y"

	tests := []struct {
		name     string
		at       time.Time
		claims   contexttoken.Claims
		notAfter time.Time
		reused   bool
	}{
		{"same claims at once", t0, base, session, true},
		{"fields Mint sets do not matter", t0, sameButMintFields, session, true},
		{"same claims just inside the window", t0.Add(DefaultReuse - time.Second), base, session, true},
		{"same claims at the end of the window", t0.Add(DefaultReuse), base, session, false},
		{"another source address", t0, other, session, false},
		{"a device appears", t0, device, session, false},
		{"the session's end moved", t0, base, session.Add(-time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now = tc.at
			got, err := c.Mint(tc.claims, tc.notAfter)
			if err != nil {
				t.Fatal(err)
			}
			if (got == first) != tc.reused {
				t.Fatalf("expected reused=%v, got %v", tc.reused, got == first)
			}
		})
	}

	// Close to notAfter: a token with less than MinRemaining left is replaced.
	now = t0
	short := t0.Add(MinRemaining + 10*time.Second)
	tok1, _ := c.Mint(base, short)
	now = t0.Add(5 * time.Second)
	if tok2, _ := c.Mint(base, short); tok2 != tok1 {
		t.Fatal("expected reuse with 65 s left")
	}
	now = t0.Add(11 * time.Second)
	if tok3, _ := c.Mint(base, short); tok3 == tok1 {
		t.Fatal("expected a new token with less than MinRemaining left")
	}

	// Errors are not cached.
	if _, err := c.Mint(base, t0.Add(-time.Hour)); err == nil {
		t.Fatal("expected an error for a past notAfter")
	}
}

func TestCacheOff(t *testing.T) {
	s, err := NewSigner(Config{Reuse: dur(0), Keys: []KeyConfig{{File: writeKey(t, t.TempDir(), "a.pem", "ES256"), State: StateActive}}}, testIssuer, WithClock(fixed(t0)))
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(s)
	cl := contexttoken.Claims{Audience: contexttoken.Audience{"x"}, Subject: "u"}
	a, _ := c.Mint(cl, t0.Add(time.Hour))
	b, _ := c.Mint(cl, t0.Add(time.Hour))
	if a == b || c.Len() != 0 {
		t.Fatalf("reuse 0: expected a new token every time and nothing cached, got same=%v len=%d", a == b, c.Len())
	}
}

func TestCacheBounded(t *testing.T) {
	now := t0
	s, err := NewSigner(Config{Keys: []KeyConfig{{File: writeKey(t, t.TempDir(), "a.pem", "EdDSA"), State: StateActive}}, Algorithm: "EdDSA"},
		testIssuer, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(s)
	c.maxEntries = 10
	mintN := func(prefix string, n int) {
		for i := range n {
			cl := contexttoken.Claims{Audience: contexttoken.Audience{"x"}, Subject: prefix + string(rune('a'+i))}
			if _, err := c.Mint(cl, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mintN("old-", 10)
	if c.Len() != 10 {
		t.Fatalf("expected 10 entries, got %d", c.Len())
	}
	// Past the window, the old entries are swept when the cache is full.
	now = t0.Add(DefaultReuse)
	mintN("new-", 3)
	if c.Len() != 3 {
		t.Fatalf("expected the 10 stale entries swept, got %d entries", c.Len())
	}
	// More live callers than room: the cache empties rather than grows.
	mintN("more-", 8)
	if c.Len() > 10 {
		t.Fatalf("expected at most 10 entries, got %d", c.Len())
	}
}
