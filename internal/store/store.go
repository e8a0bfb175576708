// Package store is the gateway's shared key-value state: sessions, single-use
// nonces, grants and short locks. Two implementations exist: Memory, for one
// process (the quickstart), and Redis, for many replicas sharing one Redis
// (standalone, Sentinel or Cluster).
//
// Keys are plain strings chosen by the caller; callers prefix them by purpose
// ("session:", "nonce:", ...). Values are opaque bytes. Every value has a TTL:
// nothing lives forever.
//
// Errors: ErrNotFound when a key is absent or expired. Any other error means
// the store could not answer (for example Redis is down); callers must treat
// that as "cannot decide" and deny.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a key does not exist or has expired.
var ErrNotFound = errors.New("store: not found")

// Store is the interface the gateway's components consume.
type Store interface {
	// Get returns the value of key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key for ttl (ttl must be > 0).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetNX stores value only if key does not exist; it reports whether it did.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// SetXX replaces the value and TTL of key only if key exists (and has
	// not expired); it reports whether it did. It is for writing back what
	// was read a while ago: a key that Delete or Take removed meanwhile
	// stays removed (a session signed out while its refresh was at the
	// identity provider stays signed out), where Set would bring it back.
	SetXX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Take atomically returns and deletes key (single-use values such as
	// nonces): of two concurrent callers at most one gets the value, the other
	// gets ErrNotFound.
	Take(ctx context.Context, key string) ([]byte, error)
	// Delete removes keys; absent keys are not an error.
	Delete(ctx context.Context, keys ...string) error
	// CompareAndDelete removes key only if it holds exactly value (and has
	// not expired), in one atomic step, and reports whether it did. It is
	// for deleting what the caller wrote, when another writer may have
	// replaced it since: a value written meanwhile under the same key stays.
	CompareAndDelete(ctx context.Context, key string, value []byte) (bool, error)
	// CompareAndSwap replaces the value of key with value, for ttl, only
	// if key holds exactly old (and has not expired), in one atomic step,
	// and reports whether it did: a read-modify-write that a concurrent
	// writer's change makes fail instead of undo. It needs the same
	// permission as CompareAndDelete (ScriptChecker).
	CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// MultiGetter is a Store that reads several keys in one round trip. Memory
// and Redis implement it; use the MGet function, which falls back to one Get
// per key for stores that do not.
type MultiGetter interface {
	// MGet returns the values of keys, aligned with keys: nil for a key that
	// is absent or expired, a non-nil (possibly empty) slice otherwise. Any
	// other failure fails the whole call, as Get's would. The values are
	// read-only: a store may return the bytes it holds (Memory does, to save
	// a copy per value on the request path), so a caller must not modify
	// them; it may keep them (a store never modifies a value in place).
	MGet(ctx context.Context, keys ...string) ([][]byte, error)
}

// MGet reads keys from st: in one round trip when st is a MultiGetter (one
// MGET with Redis standalone or Sentinel; in Cluster mode one pipeline, one
// GET per key, a round trip per node involved), else with one Get per key.
// The result is aligned with keys; an absent key's value is nil. It is for
// the request path, where several pieces of evidence (the session, a
// device binding, a grant) are read for one decision: one round trip instead
// of one per piece. Keys are read independently (no snapshot across keys).
// The values are read-only (see MultiGetter).
func MGet(ctx context.Context, st Store, keys ...string) ([][]byte, error) {
	if mg, ok := st.(MultiGetter); ok {
		return mg.MGet(ctx, keys...)
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := st.Get(ctx, k)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return nil, err
		default:
			if v == nil {
				v = []byte{}
			}
			out[i] = v
		}
	}
	return out, nil
}

// ScriptChecker is a Store whose CompareAndDelete needs a permission the
// server may refuse: Redis runs it as a Lua script (EVALSHA, and EVAL),
// which an ACL user may not be allowed. Memory does not implement it (it
// needs nothing). A component that relies on CompareAndDelete calls
// CheckCompareAndDelete when it is built, so that a missing permission
// stops the start (or the reload) with a clear error instead of failing
// the first time the component ends something.
type ScriptChecker interface {
	// CheckCompareAndDelete runs CompareAndDelete's script once, on a key
	// that holds nothing, as CompareAndDelete would. An error wrapping
	// ErrNoPermission names what is not allowed; any other error means
	// the store could not answer.
	CheckCompareAndDelete(ctx context.Context) error
}

// CheckCompareAndDelete checks st's CompareAndDelete (ScriptChecker); nil
// for a store that needs no check.
func CheckCompareAndDelete(ctx context.Context, st Store) error {
	if c, ok := st.(ScriptChecker); ok {
		return c.CheckCompareAndDelete(ctx)
	}
	return nil
}

// Viewer is a Store that can lend a value without copying it: Memory
// implements it (its Get copies every value out, so that callers may modify
// what they receive). Hot read paths that only compare or decode a value
// use it to skip that copy.
type Viewer interface {
	// View calls fn with the value of key and returns fn's error, or
	// returns ErrNotFound (without calling fn) when key is absent or
	// expired. fn must neither modify the value nor keep it after it
	// returns.
	View(ctx context.Context, key string, fn func(value []byte) error) error
}
