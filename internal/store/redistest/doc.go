// Package redistest runs a real redis-server for a test, on a free loopback
// port, without persistence:
//
//	func TestSessions(t *testing.T) {
//		srv := redistest.Start(t) // skipped (or, with CI set, failed) if redis-server is missing
//		st, err := store.NewRedis(ctx, store.RedisConfig{Addrs: []string{srv.Addr()}})
//		...
//		srv.Stop()    // Redis dies: calls must fail, not hang
//		srv.Restart() // same port, empty data: the same client must recover
//	}
//
// The server is killed (SIGKILL) when the test ends. Each Start runs its own
// process, so tests in different packages may run in parallel. Data does not
// survive Stop/Restart (no RDB, no AOF), exactly like a Redis without
// persistence that crashed.
//
// Topologies, for testing the Sentinel and Cluster modes of a client:
// StartSentinel runs a Sentinel (quorum 1, fast timings) over a master
// started with Start, to which replicas can be added with
// Start(t, "--replicaof", ...); StartCluster runs an n-node Cluster of
// masters. Server.Do sends a raw command for setup and inspection.
//
// Not provided: authentication for Do, TLS for the readiness check (a TLS
// port can be added with extra args next to the plain one), persistence.
package redistest
