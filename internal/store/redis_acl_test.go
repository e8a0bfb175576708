package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

// aclServer starts a redis-server with ACL users of the gateway's prefix
// "gw:": full (every command), noeval (neither EVAL nor EVALSHA), nosha
// (EVAL only), and otherkeys (every command, but only on keys "other:*").
// The default user stays open, for redistest's readiness check.
func aclServer(t *testing.T) *redistest.Server {
	t.Helper()
	return redistest.Start(t,
		"--user", "full", "on", ">pw", "~gw:*", "+@all",
		"--user", "noeval", "on", ">pw", "~gw:*", "+@all", "-eval", "-evalsha",
		"--user", "nosha", "on", ">pw", "~gw:*", "+@all", "-evalsha",
		"--user", "otherkeys", "on", ">pw", "~other:*", "+@all",
	)
}

// The start-up check of CompareAndDelete: an ACL user that may not run the
// script, with EVAL or with EVALSHA, or not on the prefix's keys, is told
// so, by name; one that may passes. The check leaves no key behind.
func TestRedisCheckCompareAndDeleteACL(t *testing.T) {
	srv := aclServer(t)
	for _, tc := range []struct {
		user    string
		missing string // "" when allowed
	}{
		{user: "full"},
		{user: "noeval", missing: "EVAL and EVALSHA"},
		{user: "nosha", missing: "EVALSHA"},
		{user: "otherkeys", missing: "EVAL and EVALSHA"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			r := newRedis(t, store.RedisConfig{Addrs: []string{srv.Addr()}, Username: tc.user, Password: "pw", KeyPrefix: "gw:"})
			err := r.CheckCompareAndDelete(t.Context())
			if tc.missing == "" {
				if err != nil {
					t.Fatalf("CheckCompareAndDelete = %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, store.ErrNoPermission) {
				t.Fatalf("CheckCompareAndDelete = %v; want ErrNoPermission", err)
			}
			for _, want := range []string{`user "` + tc.user + `"`, "may not run " + tc.missing + " ", "NOPERM", "ACL SETUSER " + tc.user} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("CheckCompareAndDelete = %v; want it to say %q", err, want)
				}
			}
		})
	}
	if n, err := rawClient(t, srv).DBSize(t.Context()).Result(); err != nil || n != 0 {
		t.Fatalf("DBSIZE = %d, %v; want 0 (the check writes nothing)", n, err)
	}
	// Memory needs no check.
	mem := store.NewMemory()
	defer mem.Close()
	if err := store.CheckCompareAndDelete(t.Context(), mem); err != nil {
		t.Fatalf("memory: %v", err)
	}
}

// A Redis that does not answer is not a missing permission.
func TestRedisCheckCompareAndDeleteDown(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, store.RedisConfig{Addrs: []string{srv.Addr()}})
	srv.Stop()
	err := r.CheckCompareAndDelete(t.Context())
	if err == nil || errors.Is(err, store.ErrNoPermission) || !store.IsUnavailable(err) {
		t.Fatalf("CheckCompareAndDelete with Redis down = %v; want an unavailable error", err)
	}
}
