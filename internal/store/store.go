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
	// Take atomically returns and deletes key (single-use values such as
	// nonces): of two concurrent callers at most one gets the value, the other
	// gets ErrNotFound.
	Take(ctx context.Context, key string) ([]byte, error)
	// Delete removes keys; absent keys are not an error.
	Delete(ctx context.Context, keys ...string) error
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
