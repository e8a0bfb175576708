package justify_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/justify"
	"github.com/accessgateway/gateway/internal/policy"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newVerifier(t testing.TB, clk *clock, systems map[string]justify.SystemConfig) *justify.Verifier {
	t.Helper()
	opts := justify.Options{}
	if clk != nil {
		opts.Now = clk.Now
	}
	v, err := justify.New(justify.Config{Systems: systems}, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// lookup parses input for the one system "s" and looks it up.
func lookup(t testing.TB, v *justify.Verifier, input string, q justify.Query) (justify.Ticket, error) {
	t.Helper()
	ref, err := v.Parse(input, []string{"s"})
	if err != nil {
		t.Fatalf("Parse(%q): %v", input, err)
	}
	return v.Lookup(context.Background(), ref, q)
}

// verdict is what a lookup plus check comes to: "" (allowed) or a reason.
func verdict(t justify.Ticket, err error, user, resource string) policy.Reason {
	if err != nil {
		return justify.ReasonFor(err)
	}
	return justify.Check(t, user, resource)
}

func wantUnavailable(t *testing.T, err error) *justify.UnavailableError {
	t.Helper()
	var u *justify.UnavailableError
	if !errors.As(err, &u) {
		t.Fatalf("expected *UnavailableError, got %v", err)
	}
	if justify.ReasonFor(err) != justify.ReasonUnavailable {
		t.Fatalf("expected reason %s, got %s", justify.ReasonUnavailable, justify.ReasonFor(err))
	}
	return u
}
