package justify

// InflightWaiters reports how many lookups wait for the request in flight
// for key of system (0 when none is in flight).
func InflightWaiters(v *Verifier, system, key string) int {
	s := v.systems[system]
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.inflight[key]; c != nil {
		return c.waiters
	}
	return 0
}

// SessionGrantKey is the store key of a browser session's grant for route
// and resource.
func SessionGrantKey(sessionID, route, resource string) string {
	return sessionGrantKey(sessionID, route, resource)
}
