package breakglass

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

// Break-glass on a Redis whose ACL user may not run the compare-and-delete
// script (EVAL/EVALSHA) would grant access it then could not revoke: the
// service refuses to be built (so `gateway serve` does not start, and a
// reload keeps the configuration in force), naming the missing permission.
// With the permission it is built.
func TestNewServiceRefusesARedisUserWithoutEval(t *testing.T) {
	srv := redistest.StartScriptless(t)
	open := func(user string) store.Store { return srv.Store(t, user) }
	env := func(st store.Store) requirement.Env {
		return requirement.Env{Store: st, Logger: slog.New(slog.DiscardHandler), Now: newClock(t0).Now}
	}
	cfg := testConfig()
	svc, err := Kind{}.NewService(&cfg, env(open("gw")))
	if err == nil {
		svc.Close()
		t.Fatal("NewService on a Redis user without EVAL/EVALSHA: expected an error, got none")
	}
	for _, want := range []string{"end grants", `user "gw"`, "EVAL", "EVALSHA", "NOPERM"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("NewService error %q; want it to say %q", err, want)
		}
	}
	svc, err = Kind{}.NewService(&cfg, env(open("gwfull")))
	if err != nil {
		t.Fatalf("NewService on a Redis user allowed EVAL/EVALSHA: %v", err)
	}
	svc.Close()
}
