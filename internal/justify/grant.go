package justify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/accessgateway/gateway/internal/store"
)

// Grant is a verified justification: this ticket justified this user's
// access to this route (and bound resource) until ExpiresAt, as long as
// re-verification keeps finding it open. Grants live in the session store,
// shared by replicas, keyed by the session (so sign-out ends them), the
// route and the resource.
type Grant struct {
	System   string `json:"system"`
	ID       string `json:"id"`
	URL      string `json:"url,omitempty"`
	User     string `json:"user"`
	Route    string `json:"route"`
	Resource string `json:"resource,omitempty"`
	// Status is the system's word for the ticket's state at the last
	// verification.
	Status    string    `json:"status,omitempty"`
	GrantedAt time.Time `json:"granted_at"`
	// VerifiedAt is when the system gave the answer the grant last relied
	// on: the token's and the audit record's verified_at. An answer from
	// the cache keeps the time the system gave it, also when it stood in
	// for an unavailable system (on_unavailable: allow-cached).
	VerifiedAt time.Time `json:"verified_at"`
	// CheckedAt is when the gateway last judged the grant against an
	// answer (fresh, cached or standing in): re-verification is due
	// reverify after it. Zero in grants stored before it existed, which
	// then count from VerifiedAt.
	CheckedAt time.Time `json:"checked_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at"`
	// Pin is the system's lasting ID of the ticket when ID is one the
	// system reuses (Ticket.Pin): re-verification asks by it.
	Pin string `json:"pin,omitempty"`
}

// checked is when the grant was last judged (CheckedAt, or VerifiedAt in
// a grant stored without it).
func (g *Grant) checked() time.Time {
	if g.CheckedAt.IsZero() {
		return g.VerifiedAt
	}
	return g.CheckedAt
}

// Ref is the grant's ticket.
func (g *Grant) Ref() Ref { return Ref{System: g.System, ID: g.ID} }

// verifyRef is the ticket to ask about when re-verifying: by its pinned
// lasting ID when it has one.
func (g *Grant) verifyRef() Ref {
	if g.Pin != "" {
		return Ref{System: g.System, ID: g.Pin}
	}
	return g.Ref()
}

// LogValue shows the grant without the user.
func (g Grant) LogValue() slog.Value {
	return slog.GroupValue(slog.String("ticket", g.System+":"+g.ID), slog.String("route", g.Route),
		slog.String("resource", g.Resource), slog.Time("expires_at", g.ExpiresAt))
}

// keyGrant prefixes grant keys in the store.
const keyGrant = "justify:grant:"

// GrantKeyPrefix begins the store key of every grant.
const GrantKeyPrefix = keyGrant

// grantKey is the store key of the grant of holder (a session, or an API
// client and its ticket) for route and resource. The holder is hashed: a
// store dump yields no session IDs.
func grantKey(holder, route, resource string) string {
	return grantKeyOf("", holder, route, resource)
}

// sessionGrantKey is grantKey(sessionHolder(sessionID), route, resource),
// computed on the request path without building the holder.
func sessionGrantKey(sessionID, route, resource string) string {
	return grantKeyOf("s\x00", sessionID, route, resource)
}

// grantKeyOf hashes "justify-grant", holderPrefix+holder, route and resource,
// each ended by a NUL, into the grant's store key: one allocation when the
// parts are of usual length.
func grantKeyOf(holderPrefix, holder, route, resource string) string {
	var buf [512]byte
	b := append(buf[:0], "justify-grant\x00"...)
	b = append(append(b, holderPrefix...), holder...)
	b = append(append(b, 0), route...)
	b = append(append(b, 0), resource...)
	b = append(b, 0)
	sum := sha256.Sum256(b)
	var out [len(keyGrant) + 2*sha256.Size]byte
	copy(out[:], keyGrant)
	hex.Encode(out[len(keyGrant):], sum[:])
	return string(out[:])
}

// sessionHolder and bearerHolder name who holds a grant.
func sessionHolder(sessionID string) string { return "s\x00" + sessionID }
func bearerHolder(subject string, ref Ref) string {
	return "b\x00" + subject + "\x00" + ref.String()
}

// grantMemo keeps the decoded form of recently read grants: when the bytes
// read from the store equal the bytes decoded before, the JSON is not
// decoded again (the store is still read on every request, so a grant
// ended on another replica ends here at once). Bounded; callers get copies.
type grantMemo struct {
	mu sync.Mutex
	m  map[string]memoGrant
}

type memoGrant struct {
	raw []byte
	g   Grant
}

const maxMemo = 4096

// loadGrant reads a grant; (nil, nil) when there is none.
func (gm *grantMemo) loadGrant(ctx context.Context, get func(context.Context, string) ([]byte, error), key string) (*Grant, error) {
	b, err := get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("justify: read grant: %w", err)
	}
	gm.mu.Lock()
	d, ok := gm.m[key]
	gm.mu.Unlock()
	if ok && bytes.Equal(d.raw, b) {
		g := d.g
		return &g, nil
	}
	var g Grant
	if err := json.Unmarshal(b, &g); err != nil {
		// A grant the gateway cannot read is no grant: ask again.
		return nil, nil
	}
	gm.mu.Lock()
	if gm.m == nil || len(gm.m) >= maxMemo {
		gm.m = make(map[string]memoGrant)
	}
	gm.m[key] = memoGrant{raw: bytes.Clone(b), g: g}
	gm.mu.Unlock()
	return &g, nil
}

// saveGrant stores g until it expires.
func saveGrant(ctx context.Context, st store.Store, key string, g *Grant, now time.Time) error {
	ttl := g.ExpiresAt.Sub(now)
	if ttl <= 0 {
		return st.Delete(ctx, key)
	}
	b, err := json.Marshal(g)
	if err != nil {
		return err
	}
	if err := st.Set(ctx, key, b, ttl); err != nil {
		return fmt.Errorf("justify: save grant: %w", err)
	}
	return nil
}
