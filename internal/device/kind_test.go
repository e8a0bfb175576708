package device

import (
	"reflect"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/policy"
)

// The device requirement's pure check, at exact instants, through the whole
// decision (the way the gateway runs it).
func TestRequirementCheck(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	session := t0.Add(8 * time.Hour)
	rules := policy.Rules{Allow: []policy.Condition{{Domains: []string{"corp.example"}}}}
	fresh := &Facts{ID: "d1", Trust: TrustTPMAttested, AttestedAt: t0.Add(-time.Hour)}
	alice := &policy.Identity{Subject: "s", Email: "alice@corp.example", NotAfter: session}
	allow := func(notAfter time.Time) policy.Decision {
		return policy.Decision{Allow: true, Reasons: []policy.Reason{policy.ReasonAllowRule}, NotAfter: notAfter}
	}
	denied := func(r policy.Reason) policy.Decision { return policy.Decision{Reasons: []policy.Reason{r}} }
	tests := []struct {
		name   string
		maxAge time.Duration
		facts  *Facts
		id     *policy.Identity
		now    time.Time
		want   policy.Decision
	}{
		{name: "no device", maxAge: 4 * time.Hour, want: denied(ReasonNotVerified)},
		{name: "the device system's problem is the reason", maxAge: 4 * time.Hour,
			facts: &Facts{ID: "d1", Trust: TrustTPMAttested, AttestedAt: t0, Problem: ReasonRevoked}, want: denied(ReasonRevoked)},
		{name: "trust unknown", maxAge: 4 * time.Hour,
			facts: &Facts{ID: "d1", Trust: "self-reported", AttestedAt: t0}, want: denied(ReasonTrustInsufficient)},
		{name: "never attested", maxAge: 4 * time.Hour,
			facts: &Facts{ID: "d1", Trust: TrustTPMAttested}, want: denied(ReasonNotVerified)},
		{name: "stale at exactly max_age", maxAge: 4 * time.Hour, now: t0,
			facts: &Facts{ID: "d1", Trust: TrustTPMAttested, AttestedAt: t0.Add(-4 * time.Hour)}, want: denied(ReasonStale)},
		{name: "fresh one nanosecond before max_age", maxAge: 4 * time.Hour, now: t0.Add(-time.Nanosecond),
			facts: &Facts{ID: "d1", Trust: TrustTPMAttested, AttestedAt: t0.Add(-4 * time.Hour)}, want: allow(t0)},
		{name: "NotAfter is the device's when it ends first", maxAge: 4 * time.Hour, facts: fresh, want: allow(t0.Add(3 * time.Hour))},
		{name: "NotAfter is the session's when it ends first", maxAge: 4 * time.Hour, facts: fresh,
			id: &policy.Identity{Email: "alice@corp.example", NotAfter: t0.Add(time.Hour)}, want: allow(t0.Add(time.Hour))},
		{name: "without max_age the device does not bound NotAfter", facts: fresh, want: allow(session)},
		{name: "the owner may use it", maxAge: 4 * time.Hour,
			facts: &Facts{ID: "d1", Trust: TrustTPMAttested, AttestedAt: t0, Owner: "Alice@Corp.Example"}, want: allow(t0.Add(4 * time.Hour))},
		// The owner check runs for every caller: a browser session, or a
		// bearer token presented with a device certificate.
		{name: "anyone else may not", maxAge: 4 * time.Hour,
			facts: &Facts{ID: "d1", Trust: TrustTPMAttested, AttestedAt: t0, Owner: "bob@corp.example"}, want: denied(ReasonOwnerMismatch)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := policy.Compile("r", false, rules, []policy.Requirement{&Requirement{MaxAge: tc.maxAge}})
			if err != nil {
				t.Fatal(err)
			}
			in := policy.Input{Route: r, Identity: tc.id, Request: policy.Request{Method: "GET", Path: "/"}}
			if in.Identity == nil {
				in.Identity = alice
			}
			if tc.facts != nil {
				in.Facts = []any{tc.facts}
			}
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			if got := policy.Decide(&in, now); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Decide() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func init() { policy.RegisterReasons("device", Kind{}.Reasons()...) }
