package breakglass

import (
	"context"
	"sync"
	"testing"
	"time"
)

// heldProvider is a stubProvider whose next Incident call waits until
// released: a provider call in flight on one replica.
type heldProvider struct {
	*stubProvider
	mu      sync.Mutex
	entered chan struct{} // closed when the held call has begun
	release chan struct{} // closed to let it answer
}

func (p *heldProvider) hold() {
	p.mu.Lock()
	p.entered, p.release = make(chan struct{}), make(chan struct{})
	p.mu.Unlock()
}

func (p *heldProvider) Incident(ctx context.Context, id string) (Incident, error) {
	p.mu.Lock()
	entered, release := p.entered, p.release
	p.entered, p.release = nil, nil
	p.mu.Unlock()
	if entered != nil {
		close(entered)
		<-release
	}
	return p.stubProvider.Incident(ctx, id)
}

// While one replica asks the provider, another replica does not take the
// unfinished question for an answer: when the ask fails, the other replica
// refuses too (it asks itself), instead of trusting the grant for a whole
// recheck_interval that no one checked.
func TestRecheckDoesNotTrustAnUnansweredAsk(t *testing.T) {
	ctx := context.Background()
	p := &heldProvider{stubProvider: &stubProvider{onCall: true, incident: Incident{Provider: "rota", Status: "triggered", Active: true}}}
	a, b := twoReplicas(t, p)
	g, err := a.svc.Active(ctx, alice, "billing")
	if err != nil || g == nil {
		t.Fatalf("Active = %v, %v", g, err)
	}

	a.clk.Advance(DefaultRecheckInterval)
	p.set(func(p *stubProvider) { p.incErr = &UnavailableError{Provider: "rota", Status: 502} })
	p.hold()
	entered, release := p.entered, p.release
	done := make(chan error, 1)
	go func() {
		_, err := a.svc.Recheck(ctx, *g)
		done <- err
	}()
	<-entered
	_, _ = b.Recheck(ctx, *g) // while replica a's ask is in flight
	close(release)
	if err := <-done; ReasonOf(err) != ReasonProviderUnavailable {
		t.Fatalf("replica a: Recheck error %v, want %s", err, ReasonProviderUnavailable)
	}
	still, err := b.Recheck(ctx, *g)
	if still || ReasonOf(err) != ReasonProviderUnavailable {
		t.Fatalf("replica b after a's ask failed: Recheck = %v, %v; want false, %s", still, err, ReasonProviderUnavailable)
	}
}

// A replica that learns another one's answer remembers it from when it was
// asked, not from when it learnt it: between two asks of the provider a
// resolved incident's grant works for at most recheck_interval, also on a
// replica that only ever reads the other's answers.
func TestRecheckRemembersFromTheAsk(t *testing.T) {
	ctx := context.Background()
	p := &stubProvider{onCall: true, incident: Incident{Provider: "rota", Status: "triggered", Active: true}}
	a, b := twoReplicas(t, p)
	g, err := a.svc.Active(ctx, alice, "billing")
	if err != nil || g == nil {
		t.Fatalf("Active = %v, %v", g, err)
	}

	a.clk.Advance(DefaultRecheckInterval) // replica a asks (t0+2m)
	if still, err := a.svc.Recheck(ctx, *g); !still || err != nil {
		t.Fatalf("a: Recheck = %v, %v", still, err)
	}
	a.clk.Advance(DefaultRecheckInterval - time.Second) // replica b reads a's answer late in the interval
	if still, err := b.Recheck(ctx, *g); !still || err != nil {
		t.Fatalf("b: Recheck = %v, %v", still, err)
	}
	p.set(func(p *stubProvider) { p.incident.Active = false; p.incident.Status = "resolved" })
	a.clk.Advance(31 * time.Second) // an interval and 30s after the ask
	if still, _ := b.Recheck(ctx, *g); still {
		t.Fatalf("b: Recheck = true %s after the last ask of the provider (recheck_interval %s)", 2*DefaultRecheckInterval+30*time.Second-DefaultRecheckInterval, DefaultRecheckInterval)
	}
}
