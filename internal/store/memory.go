package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrClosed is returned by every operation on a store after Close.
var ErrClosed = errors.New("store: closed")

// ErrFull is returned by a write that would take a Memory store over its
// bounds (see WithLimits). Nothing was written. Like every store error it
// means "cannot decide": callers deny (a new sign-in fails with a page that
// says so) while everything already stored keeps working.
var ErrFull = errors.New("store: full")

// Default bounds of a Memory store (see WithLimits): room for far more
// sessions than one quickstart process serves, small enough that a flood of
// writes cannot take the process's memory.
const (
	DefaultMaxEntries       = 100_000
	DefaultMaxBytes   int64 = 64 << 20
)

// entryOverhead approximates what an entry costs beyond its key and value
// bytes (map slot, slice and string headers, expiry).
const entryOverhead = 64

// fullSweepEvery throttles the sweep a write at the bound triggers, so that a
// flood of refused writes does not turn into a flood of full-map scans.
const fullSweepEvery = time.Second

// DefaultSweepInterval is how often Memory's janitor evicts expired entries
// unless WithSweepInterval says otherwise.
const DefaultSweepInterval = time.Minute

// MemoryOption configures NewMemory.
type MemoryOption func(*memoryOptions)

type memoryOptions struct {
	now        func() time.Time
	sweep      time.Duration
	maxEntries int
	maxBytes   int64
}

// WithClock makes the store read the time from now instead of time.Now.
// Expiry is decided only by now: tests move a fake clock to expire entries at
// exact instants. now must be safe for concurrent use. A nil now is ignored.
func WithClock(now func() time.Time) MemoryOption {
	return func(o *memoryOptions) {
		if now != nil {
			o.now = now
		}
	}
}

// WithSweepInterval sets how often the janitor goroutine evicts expired
// entries (DefaultSweepInterval by default). d <= 0 disables the janitor:
// expired entries are then still never returned, but they are only removed
// when their key is written, taken or deleted.
func WithSweepInterval(d time.Duration) MemoryOption {
	return func(o *memoryOptions) { o.sweep = d }
}

// WithLimits bounds the store to at most maxEntries keys and maxBytes of
// keys and values (plus a fixed overhead per entry). A value <= 0 leaves that
// dimension unbounded. Without this option the store is bounded by
// DefaultMaxEntries and DefaultMaxBytes.
func WithLimits(maxEntries int, maxBytes int64) MemoryOption {
	return func(o *memoryOptions) { o.maxEntries, o.maxBytes = maxEntries, maxBytes }
}

// Memory is an in-process Store: a mutex-protected map with expiry. It is for
// one gateway process (the quickstart, tests); state is lost on restart and is
// not shared between replicas.
//
// Values are copied on the way in and on the way out: callers may modify the
// slices they pass and receive.
//
// Bounds. Besides the TTL every entry carries, the store holds at most a
// number of entries and of bytes (WithLimits). A write that would go over
// them first drops the expired entries (at most once a second), and if that
// is not enough it is refused with ErrFull. Live entries are never evicted:
// the store cannot tell what a key means, and evicting some kinds fails open
// or silently — a session (its user is signed out), a lock (two holders), a
// single-use marker (a replay). So a full store fails closed for new writes,
// typically new sign-ins, and keeps serving what it holds; callers bound
// their own write rates (auth caps pending sign-ins per client). Replacing a
// key does not add an entry; it is refused only if its larger value would go
// over the byte bound.
type Memory struct {
	now func() time.Time

	mu            sync.RWMutex
	entries       map[string]memoryEntry
	bytes         int64 // sum of entrySize over entries
	maxEntries    int
	maxBytes      int64
	lastFullSweep time.Time
	closed        bool

	closeOnce sync.Once
	stop      chan struct{} // closed by Close to stop the janitor
	done      chan struct{} // closed by the janitor when it returns
}

type memoryEntry struct {
	value   []byte
	expires time.Time
}

var (
	_ Store       = (*Memory)(nil)
	_ MultiGetter = (*Memory)(nil)
	_ Viewer      = (*Memory)(nil)
)

// NewMemory returns an empty Memory store and starts its janitor (unless
// disabled with WithSweepInterval). Close stops the janitor.
func NewMemory(opts ...MemoryOption) *Memory {
	o := memoryOptions{now: time.Now, sweep: DefaultSweepInterval, maxEntries: DefaultMaxEntries, maxBytes: DefaultMaxBytes}
	for _, opt := range opts {
		opt(&o)
	}
	m := &Memory{
		now:        o.now,
		entries:    make(map[string]memoryEntry),
		maxEntries: o.maxEntries,
		maxBytes:   o.maxBytes,
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	if o.sweep > 0 {
		go m.janitor(o.sweep)
	} else {
		close(m.done)
	}
	return m
}

func (m *Memory) janitor(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.Sweep()
		}
	}
}

// Sweep evicts every expired entry now and reports how many it removed. The
// janitor calls it periodically; it is exported for tests and for callers
// that run without a janitor.
func (m *Memory) Sweep() int {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sweepLocked(now)
}

func (m *Memory) sweepLocked(now time.Time) int {
	n := 0
	for k, e := range m.entries {
		if !now.Before(e.expires) {
			m.removeLocked(k, e)
			n++
		}
	}
	return n
}

// Usage reports the entries the map holds (including expired entries not yet
// swept) and the bytes they count against the bound.
func (m *Memory) Usage() (entries int, bytes int64) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.entries), m.bytes
}

func entrySize(key string, value []byte) int64 {
	return int64(len(key) + len(value) + entryOverhead)
}

func (m *Memory) removeLocked(key string, e memoryEntry) {
	delete(m.entries, key)
	m.bytes -= entrySize(key, e.value)
}

// putLocked stores e under key if the bounds allow it, else ErrFull.
func (m *Memory) putLocked(now time.Time, key string, e memoryEntry) error {
	old, exists := m.entries[key]
	fits := func() bool {
		n, b := len(m.entries), m.bytes+entrySize(key, e.value)
		if exists {
			b -= entrySize(key, old.value)
		} else {
			n++
		}
		return (m.maxEntries <= 0 || n <= m.maxEntries) && (m.maxBytes <= 0 || b <= m.maxBytes)
	}
	if !fits() {
		if m.lastFullSweep.IsZero() || !now.Before(m.lastFullSweep.Add(fullSweepEvery)) {
			m.lastFullSweep = now
			m.sweepLocked(now)
			old, exists = m.entries[key]
		}
		if !fits() {
			return fmt.Errorf("%w: %d entries, %d bytes (bounds %d entries, %d bytes)", ErrFull, len(m.entries), m.bytes, m.maxEntries, m.maxBytes)
		}
	}
	if exists {
		m.bytes -= entrySize(key, old.value)
	}
	m.entries[key] = e
	m.bytes += entrySize(key, e.value)
	return nil
}

// Len reports how many entries the map holds, including expired entries
// the janitor has not evicted yet.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.entries)
}

// Get returns a copy of the value of key, or ErrNotFound if it is absent or
// its TTL has passed.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := check(ctx, key); err != nil {
		return nil, err
	}
	now := m.now()
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return nil, ErrClosed
	}
	e, ok := m.entries[key]
	m.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return nil, ErrNotFound
	}
	// e.value is never modified in place (Set replaces the slice), so it
	// can be copied outside the lock.
	return clone(e.value), nil
}

// View implements Viewer: fn sees the stored value itself, not a copy.
func (m *Memory) View(ctx context.Context, key string, fn func(value []byte) error) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	now := m.now()
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	e, ok := m.entries[key]
	m.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return ErrNotFound
	}
	// e.value is never modified in place (Set replaces the slice): fn may
	// read it outside the lock.
	return fn(e.value)
}

// MGet implements MultiGetter: the stored values themselves (read-only, see
// MultiGetter; Set, SetNX and SetXX store copies and replace, never modify, a
// value), nil for absent or expired keys, read under one lock.
func (m *Memory) MGet(ctx context.Context, keys ...string) ([][]byte, error) {
	for _, k := range keys {
		if err := check(ctx, k); err != nil {
			return nil, err
		}
	}
	now := m.now()
	out := make([][]byte, len(keys))
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	for i, k := range keys {
		if e, ok := m.entries[k]; ok && now.Before(e.expires) {
			out[i] = e.value // never nil: Set stores clone(value)
		}
	}
	return out, nil
}

// Set stores a copy of value under key for ttl, replacing any value and TTL
// the key had.
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkWrite(ctx, key, ttl); err != nil {
		return err
	}
	e := memoryEntry{value: clone(value)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	now := m.now()
	e.expires = now.Add(ttl)
	return m.putLocked(now, key, e)
}

// SetNX stores a copy of value under key for ttl only if key is absent or
// expired, and reports whether it did. Of concurrent callers on one key,
// exactly one gets true.
func (m *Memory) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	return m.setIf(ctx, key, value, ttl, func(_ []byte, live bool) bool { return !live })
}

// SetXX replaces the value and TTL of key with a copy of value and ttl only
// if key is present and not expired, and reports whether it did. Under the
// store's lock, so a Delete or Take either happens before (and SetXX writes
// nothing) or after (and removes what SetXX wrote).
func (m *Memory) SetXX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	return m.setIf(ctx, key, value, ttl, func(_ []byte, live bool) bool { return live })
}

// setIf stores a copy of value under key for ttl, under the store's lock,
// only if ok says so of the value key holds and whether it is live
// (present and not expired).
func (m *Memory) setIf(ctx context.Context, key string, value []byte, ttl time.Duration, ok func(held []byte, live bool) bool) (bool, error) {
	if err := checkWrite(ctx, key, ttl); err != nil {
		return false, err
	}
	v := clone(value)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, ErrClosed
	}
	now := m.now()
	e, present := m.entries[key]
	if !ok(e.value, present && now.Before(e.expires)) {
		return false, nil
	}
	if err := m.putLocked(now, key, memoryEntry{value: v, expires: now.Add(ttl)}); err != nil {
		return false, err
	}
	return true, nil
}

// Take returns the value of key and deletes it in one step: of concurrent
// callers on one key, exactly one gets the value.
func (m *Memory) Take(ctx context.Context, key string) ([]byte, error) {
	if err := check(ctx, key); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	e, ok := m.entries[key]
	if ok {
		m.removeLocked(key, e)
	}
	now := m.now()
	m.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		return nil, ErrNotFound
	}
	// The entry has left the map: nobody else can reach its slice, so it is
	// handed out without a copy.
	return e.value, nil
}

// Delete removes keys; absent keys are not an error.
func (m *Memory) Delete(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := check(ctx, k); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, k := range keys {
		if e, ok := m.entries[k]; ok {
			m.removeLocked(k, e)
		}
	}
	return nil
}

// CompareAndDelete removes key only if it is live and holds exactly value,
// under the store's lock, and reports whether it did.
func (m *Memory) CompareAndDelete(ctx context.Context, key string, value []byte) (bool, error) {
	if err := check(ctx, key); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, ErrClosed
	}
	e, ok := m.entries[key]
	if !ok || !m.now().Before(e.expires) || !bytes.Equal(e.value, value) {
		return false, nil
	}
	m.removeLocked(key, e)
	return true, nil
}

// CompareAndSwap replaces the value of key with value, for ttl, only if
// key is live and holds exactly old, under the store's lock, and reports
// whether it did.
func (m *Memory) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	return m.setIf(ctx, key, value, ttl, func(held []byte, live bool) bool { return live && bytes.Equal(held, old) })
}

// Ping reports ErrClosed after Close and nil before.
func (m *Memory) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return nil
}

// Close stops the janitor, drops every entry and makes every later call
// return ErrClosed. Calling Close again does nothing.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.entries, m.bytes = nil, 0
		m.mu.Unlock()
		close(m.stop)
		<-m.done
	})
	return nil
}

// check rejects a done context and an empty key: an empty key is always a
// caller's bug, and storing under it would let unrelated callers collide.
func check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if key == "" {
		return errEmptyKey
	}
	return nil
}

func checkWrite(ctx context.Context, key string, ttl time.Duration) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("store: expected ttl > 0, got %v", ttl)
	}
	return nil
}

var errEmptyKey = errors.New("store: expected a non-empty key, got \"\"")

// clone copies b; nil and empty both become a non-nil empty slice so that a
// stored empty value reads back the same way from every implementation.
func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
