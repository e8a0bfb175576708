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
package redistest
