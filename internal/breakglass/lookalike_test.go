package breakglass

import (
	"context"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/breakglass/breakglasstest"
)

// lookAlikes are addresses that Unicode case folding (strings.EqualFold,
// strings.ToLower) takes for ken@corp.example and sal@corp.example: the
// Kelvin sign K and the long s ſ. The signed-in user's address is ASCII
// (policy.ParseEmail); a provider's user or recipient must be that address,
// not one that folds onto it.
var lookAlikes = []struct{ provider, signedIn string }{
	{"\u212Aen@corp.example", "ken@corp.example"},
	{"\u017Fal@corp.example", "sal@corp.example"},
}

// TestPagerDutyLookAlikeAddress: the PagerDuty user whose address only
// folds onto the signed-in one does not make the signed-in user on call.
func TestPagerDutyLookAlikeAddress(t *testing.T) {
	for _, la := range lookAlikes {
		t.Run(la.signedIn, func(t *testing.T) {
			pd := breakglasstest.NewPagerDuty(t, pdToken)
			pd.AddUser("PLOOK", "Look Alike", la.provider)
			pd.SetOnCall(breakglasstest.OnCall{UserID: "PLOOK", EscalationPolicyID: "PEP1"})
			p := newPD(t, pd, newClock(t0), nil)
			got, err := p.OnCall(context.Background(), la.signedIn, t0)
			if got {
				t.Fatalf("OnCall(%q) = true, %v: the on-call user is %+q", la.signedIn, err, la.provider)
			}
		})
	}
}

// TestOpsgenieLookAlikeAddress: an on-call recipient whose username only
// folds onto the signed-in address does not make the signed-in user on call.
func TestOpsgenieLookAlikeAddress(t *testing.T) {
	for _, la := range lookAlikes {
		t.Run(la.signedIn, func(t *testing.T) {
			og := breakglasstest.NewOpsgenie(t, ogKey)
			og.AddSchedule("sched-1", "SRE primary")
			og.SetOnCall("sched-1", la.provider, t0.Add(-time.Hour), t0.Add(time.Hour))
			o := newOG(t, og, newClock(t0), func(c *ProviderConfig) { c.Schedules = []string{"sched-1"} })
			got, err := o.OnCall(context.Background(), la.signedIn, t0)
			if got {
				t.Fatalf("OnCall(%q) = true, %v: the on-call recipient is %+q", la.signedIn, err, la.provider)
			}
		})
	}
}
