package device

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

// Device trust on a Redis whose ACL user may not run the compare-and-delete
// script (EVAL/EVALSHA) could record no enrollment and replace no one-time
// code: the service refuses to be built, naming the missing permission.
func TestKindRefusesARedisUserWithoutEval(t *testing.T) {
	srv := redistest.StartScriptless(t)
	open := func(user string) store.Store { return srv.Store(t, user) }
	env := func(st store.Store) requirement.Env {
		return requirement.Env{Store: st, Logger: slog.New(slog.DiscardHandler), Now: time.Now}
	}
	cfg := Config{Inventory: []InventoryDevice{{ID: "d1", Serial: "S1", EKPubSHA256: strings.Repeat("ab", 32), Status: StatusActive}}}
	svc, err := Kind{}.NewService(&cfg, env(open("gw")))
	if err == nil {
		svc.Close()
		t.Fatal("NewService on a Redis user without EVAL/EVALSHA: expected an error, got none")
	}
	for _, want := range []string{"record enrollments", `user "gw"`, "EVAL", "NOPERM"} {
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
