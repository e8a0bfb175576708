package auth

import (
	"maps"
	"slices"
)

// Equal reports whether kr and o hold the same keys with the same active
// one (compared by key ID, a hash: no key material is compared directly).
func (kr *Keyring) Equal(o *Keyring) bool {
	if kr == nil || o == nil {
		return kr == o
	}
	if kr.active != o.active || len(kr.aeads) != len(o.aeads) {
		return false
	}
	for id := range kr.aeads {
		if _, ok := o.aeads[id]; !ok {
			return false
		}
	}
	return true
}

// IDs returns the IDs of the keyring's keys (8 hex digits of a hash each,
// never key material) and the active one's, for logs.
func (kr *Keyring) IDs() (active string, all []string) {
	return kr.active, slices.Sorted(maps.Keys(kr.aeads))
}

// Keys returns the keyring in use.
func (s *Sessions) Keys() *Keyring { return s.keys.Load() }

// SetKeys replaces the keyring: tokens sealed from now on use kr's active
// key, and every key of kr opens. The gateway calls it when the session
// encryption key files change (rotation without a restart); requests in
// flight finish with whichever keyring they loaded. kr must not be nil.
func (s *Sessions) SetKeys(kr *Keyring) {
	if kr == nil {
		panic("auth: SetKeys(nil)")
	}
	s.keys.Store(kr)
}
