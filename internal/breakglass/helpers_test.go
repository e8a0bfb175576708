package breakglass

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/store"
)

// t0 is Wednesday 2026-11-04 10:00 UTC (11:00 in Berlin).
var t0 = time.Date(2026, 11, 4, 10, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Users of the tests.
var (
	alice = User{Email: "Alice@Corp.Example", Groups: []string{"eng", "sre"}, Session: "session-alice"}
	bob   = User{Email: "bob@corp.example", Groups: []string{"sre"}, Session: "session-bob"}
	carol = User{Email: "carol@corp.example", Groups: []string{"support"}, Session: "session-carol"}
	rev   = User{Email: "rita@corp.example", Groups: []string{"security"}, Session: "session-rita"}
)

// testRota: alice is on call around the clock, bob never; INC-1 is active,
// INC-2 resolved.
func testRota() *Rota {
	return &Rota{
		TimeZone: "Europe/Berlin",
		Weekly: []WeeklyShift{
			{Users: []string{"alice@corp.example", "carol@corp.example"}, Days: Days{"mon-sun"}, From: "00:00", To: "24:00"},
		},
		Incidents: []StaticIncident{
			{ID: "INC-1", Title: "Payments API returns 500", Status: StatusActive, URL: "https://status.corp.example/INC-1"},
			{ID: "INC-2", Title: "Old outage", Status: StatusResolved},
		},
	}
}

// testConfig is a valid configuration with one policy on the static rota.
func testConfig() Config {
	return Config{
		Policies: map[string]Policy{
			"oncall": {Groups: []string{"sre"}, Lifts: []string{LiftTimeWindow, LiftJustification}, Provider: "rota"},
		},
		Providers: map[string]ProviderConfig{"rota": {Type: TypeStatic, Rota: testRota()}},
		Reviewers: []string{"security"},
	}
}

type fixture struct {
	svc *Service
	clk *clock
	st  store.Store
}

// newFixture builds a service over a memory store whose expiry follows the
// same clock.
func newFixture(t testing.TB, cfg Config, opts Options) *fixture {
	t.Helper()
	clk := newClock(t0)
	st := store.NewMemory(store.WithClock(clk.Now), store.WithSweepInterval(0))
	t.Cleanup(func() { st.Close() })
	if opts.Store == nil {
		opts.Store = st
	}
	opts.Now = clk.Now
	svc, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	return &fixture{svc: svc, clk: clk, st: opts.Store}
}

func request(route, incident string) GrantRequest {
	return GrantRequest{Route: route, IncidentID: incident, Reason: "checkout is down, need the admin page"}
}

// grant requests and activates a grant, failing the test on any error.
func (f *fixture) grant(t *testing.T, u User, req GrantRequest) Grant {
	t.Helper()
	return grantOn(t, f.svc, u, req)
}

// widenLifts reloads f's service with the oncall policy also lifting the
// device requirement: a grant made before no longer stands in for the
// route.
func (f *fixture) widenLifts(t *testing.T) {
	t.Helper()
	wider := testConfig()
	p := wider.Policies["oncall"]
	p.Lifts, p.LiftsDevice = append(p.Lifts, LiftDevice), true
	wider.Policies["oncall"] = p
	reloaded, err := New(wider, Options{Store: f.st, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reloaded.Close() })
	f.svc = reloaded
}

// grantOn requests and activates a grant on svc, failing the test on any
// error.
func grantOn(t *testing.T, svc *Service, u User, req GrantRequest) Grant {
	t.Helper()
	g, err := svc.Request(context.Background(), u, req)
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	if err := svc.Activate(context.Background(), g); err != nil {
		t.Fatalf("Activate: %v", err)
	}
	return g
}

// wantReason fails unless err is a refusal with reason want ("" means no
// error).
func wantReason(t *testing.T, err error, want policy.Reason) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("expected no error, got %v", err)
		}
		return
	}
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("expected a refusal %s, got %v", want, err)
	}
	if r.Reason != want {
		t.Fatalf("expected reason %s, got %s (%v)", want, r.Reason, err)
	}
}

// instant returns an After that fires at once and records the waits.
type instant struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (i *instant) After(d time.Duration) <-chan time.Time {
	i.mu.Lock()
	i.waits = append(i.waits, d)
	i.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

func (i *instant) Waits() []time.Duration {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]time.Duration(nil), i.waits...)
}

// failures collects notification failures on a channel.
type failures chan NotifyFailure

func (f failures) record(nf NotifyFailure) { f <- nf }

func (f failures) next(t *testing.T) NotifyFailure {
	t.Helper()
	select {
	case nf := <-f:
		return nf
	case <-time.After(10 * time.Second):
		t.Fatal("expected a notification failure, got none")
		return NotifyFailure{}
	}
}

// stubProvider answers from fields, for service tests that need odd
// provider behaviour.
type stubProvider struct {
	mu       sync.Mutex
	onCall   bool
	onErr    error
	incident Incident
	incErr   error
	calls    int
}

func (p *stubProvider) OnCall(context.Context, string, time.Time) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	return p.onCall, p.onErr
}

func (p *stubProvider) Incident(_ context.Context, id string) (Incident, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	inc := p.incident
	inc.ID = id
	return inc, p.incErr
}

func (p *stubProvider) set(f func(p *stubProvider)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *stubProvider) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

var _ http.RoundTripper = roundTripFunc(nil)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func newMemStore(t *testing.T) store.Store {
	st := store.NewMemory(store.WithSweepInterval(0))
	t.Cleanup(func() { st.Close() })
	return st
}

// twoReplicas is replica a (a fixture) and replica b (a second Service on
// a's store and clock), both asking the rota provider p, with a grant of
// alice's on billing for incident PINC1 made on a. b closes with the test.
func twoReplicas(t *testing.T, p Provider) (*fixture, *Service) {
	t.Helper()
	opts := Options{Providers: map[string]Provider{"rota": p}}
	a := newFixture(t, testConfig(), opts)
	opts.Store, opts.Now = a.st, a.clk.Now
	b, err := New(testConfig(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	a.grant(t, alice, request("billing", "PINC1"))
	return a, b
}
