package token

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
)

// DefaultReuse is the default reuse window of the token cache.
const DefaultReuse = 30 * time.Second

// MinRemaining is the least lifetime a reused token must have left; a token
// closer to its exp is replaced by a new one.
const MinRemaining = 60 * time.Second

// DefaultCacheEntries bounds the number of cached tokens.
const DefaultCacheEntries = 10000

// Minter mints context tokens; *Signer and *Cache implement it.
type Minter interface {
	Mint(c contexttoken.Claims, notAfter time.Time) (string, error)
}

var (
	_ Minter = (*Signer)(nil)
	_ Minter = (*Cache)(nil)
)

// Cache reuses minted tokens. Signing with ES256 costs about as much CPU as
// the rest of the proxying of a request (see the benchmarks), and a browser
// loading one page sends tens of requests with identical claims.
//
// Mint returns a token minted earlier when the claims the caller passes
// (everything but iss, iat, nbf, exp and jti) and notAfter are identical,
// the token was minted less than the signer's Reuse window ago (default
// 30 s), and it has at least MinRemaining (60 s) left. Otherwise it mints,
// remembers and returns a new one. The claims include sub, aud, route,
// source_ip, device, justification and break_glass, so a change in any of
// them (a new device attestation, a different client address, another
// route) gets a new token; a token is never shared between callers.
//
// notAfter is part of the key, so it must be a fixed instant (the end of
// the session or grant), not something computed from the current time, or
// nothing is ever reused.
//
// What reuse means: several requests of the same caller to the same route
// within the window carry the same token, and so the same jti. A service
// that tracks jti to accept each token only once would reject the second
// request: such deployments must set `reuse: 0s`, which makes Mint sign every
// request. Reuse does not extend any token's life: exp is fixed when the
// token is minted and never passes notAfter.
//
// A Cache belongs to one Signer; hot reload builds a new Signer and a new
// Cache. It is safe for concurrent use and holds at most DefaultCacheEntries
// tokens.
type Cache struct {
	s          *Signer
	reuse      time.Duration
	maxEntries int

	mu      sync.Mutex
	entries map[[32]byte]cacheEntry
}

type cacheEntry struct {
	token    string
	iat, exp int64
}

// NewCache returns a Cache in front of s with s's reuse window. With a zero
// window, Mint signs every request.
func NewCache(s *Signer) *Cache {
	return &Cache{s: s, reuse: s.reuse, maxEntries: DefaultCacheEntries, entries: map[[32]byte]cacheEntry{}}
}

// Signer returns the Signer the cache mints with.
func (c *Cache) Signer() *Signer { return c.s }

// Mint is Signer.Mint with reuse as described on Cache.
func (c *Cache) Mint(claims contexttoken.Claims, notAfter time.Time) (string, error) {
	if c.reuse <= 0 {
		return c.s.Mint(claims, notAfter)
	}
	k, err := cacheKey(claims, notAfter)
	if err != nil {
		return "", err
	}
	now := c.s.now()
	nowS := now.Unix()
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && nowS >= e.iat && now.Before(time.Unix(e.iat, 0).Add(c.reuse)) && time.Unix(e.exp, 0).Sub(now) >= MinRemaining {
		return e.token, nil
	}
	if err := c.s.prepare(&claims, now, notAfter); err != nil {
		return "", err
	}
	tok, err := c.s.sign(&claims)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if len(c.entries) >= c.maxEntries {
		c.sweepLocked(now)
	}
	c.entries[k] = cacheEntry{token: tok, iat: int64(claims.IssuedAt), exp: int64(claims.Expiry)}
	c.mu.Unlock()
	return tok, nil
}

// Len returns the number of cached tokens.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// sweepLocked drops entries past their reuse window; if the cache is still
// full (more distinct callers in one window than maxEntries), it drops all.
func (c *Cache) sweepLocked(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(time.Unix(e.iat, 0).Add(c.reuse)) {
			delete(c.entries, k)
		}
	}
	if len(c.entries) >= c.maxEntries {
		clear(c.entries)
	}
}

// cacheKey hashes the caller's claims (without the fields Mint fills) and
// notAfter. It encodes every claim field length-prefixed by hand (no
// reflection: it runs on every request); TestCacheKeyCoversEveryClaim fails
// when a field is added to contexttoken.Claims and not here.
func cacheKey(claims contexttoken.Claims, notAfter time.Time) ([32]byte, error) {
	var buf [512]byte
	b := buf[:0]
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	list := func(l []string) {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, s := range l {
			str(s)
		}
	}
	num := func(n int64) { b = binary.BigEndian.AppendUint64(b, uint64(n)) }
	list(claims.Audience)
	str(claims.Subject)
	str(claims.Email)
	list(claims.Groups)
	str(claims.Route)
	str(claims.SourceIP)
	if d := claims.Device; d != nil {
		b = append(b, 1)
		str(d.ID)
		str(d.Trust)
		num(int64(d.AttestedAt))
	} else {
		b = append(b, 0)
	}
	if j := claims.Justification; j != nil {
		b = append(b, 1)
		str(j.System)
		str(j.ID)
		str(j.URL)
		num(int64(j.VerifiedAt))
		str(j.Resource)
	} else {
		b = append(b, 0)
	}
	if g := claims.BreakGlass; g != nil {
		b = append(b, 1)
		str(g.ID)
		str(g.Grant)
		str(g.Reason)
		num(int64(g.GrantedAt))
		num(int64(g.ExpiresAt))
	} else {
		b = append(b, 0)
	}
	num(notAfter.UnixNano())
	return sha256.Sum256(b), nil
}
