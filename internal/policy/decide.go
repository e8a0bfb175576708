package policy

import (
	"net/netip"
	"time"
)

// Identity is who is calling, as established by the session or a bearer
// token. Email is the raw claim; Decide parses it strictly.
type Identity struct {
	Subject string
	Email   string
	Groups  []string
	// Claims holds string and string-list claims for claim rules.
	Claims map[string][]string
	// NotAfter is when the session (or bearer token) ends.
	NotAfter time.Time
}

// Request is what Decide knows of the HTTP request: the normalized path only.
type Request struct {
	Method   string
	Path     string
	SourceIP netip.Addr
	// Vars are the route's path variables ({customer_id}).
	Vars map[string]string
}

// DeviceEvidence is what the device subsystem found for this request.
// A nil *DeviceEvidence means no device was presented or bound.
type DeviceEvidence struct {
	ID         string
	Trust      string
	AttestedAt time.Time
	// Problem is set when the device system found the device unfit
	// (revoked, not enrolled, PCR mismatch, owner mismatch).
	Problem Reason
}

// Input is everything Decide looks at. All I/O happened before.
type Input struct {
	// Route is nil when no route matched.
	Route    *Route
	Identity *Identity // nil: not signed in
	Request  Request
	Device   *DeviceEvidence
	// EvidenceErr is set when gathering evidence failed; Decide denies.
	EvidenceErr error
}

// Decision is the outcome. Deny is a value, not an error.
type Decision struct {
	Allow   bool
	Reasons []Reason
	// NotAfter bounds anything minted for this request (the context token):
	// the earliest end of the session and of every grant relied on.
	NotAfter time.Time
}

// Decide is the gateway's authorization decision. It is pure: no I/O, no
// clock but now.
func Decide(in Input, now time.Time) Decision {
	r := in.Route
	if r == nil {
		return deny(ReasonRouteNotFound)
	}
	if r.Public {
		return Decision{Allow: true, Reasons: []Reason{ReasonPublicRoute}}
	}
	if in.EvidenceErr != nil {
		return deny(ReasonEvidenceError)
	}
	id := in.Identity
	if id == nil || (!id.NotAfter.IsZero() && !now.Before(id.NotAfter)) {
		return deny(ReasonSignInRequired)
	}
	email, err := parseEmailCached(id.Email)
	if err != nil {
		return deny(ReasonInvalidIdentity)
	}
	for i := range r.deny {
		if r.deny[i].match(id, email, &in.Request) {
			return deny(ReasonDenyRule)
		}
	}
	allowed := false
	for i := range r.allow {
		if r.allow[i].match(id, email, &in.Request) {
			allowed = true
			break
		}
	}
	if !allowed {
		return deny(ReasonNoAllowRule)
	}
	d := Decision{Allow: true, Reasons: []Reason{ReasonAllowRule}, NotAfter: id.NotAfter}
	var missing []Reason
	if req := r.Require.Device; req != nil {
		if reason, until := checkDevice(req, in.Device, now); reason != "" {
			missing = append(missing, reason)
		} else {
			d.NotAfter = earliest(d.NotAfter, until)
		}
	}
	if len(missing) > 0 {
		return Decision{Reasons: missing}
	}
	return d
}

func checkDevice(req *DeviceRequirement, ev *DeviceEvidence, now time.Time) (Reason, time.Time) {
	switch {
	case ev == nil:
		return ReasonDeviceNotVerfied, time.Time{}
	case ev.Problem != "":
		return ev.Problem, time.Time{}
	case ev.Trust != TrustTPMAttested || req.Trust != "" && req.Trust != TrustTPMAttested:
		return ReasonDeviceTrust, time.Time{}
	case ev.AttestedAt.IsZero():
		return ReasonDeviceNotVerfied, time.Time{}
	}
	until := ev.AttestedAt.Add(req.MaxAge)
	if req.MaxAge > 0 && !now.Before(until) {
		return ReasonDeviceStale, time.Time{}
	}
	if req.MaxAge <= 0 {
		until = time.Time{}
	}
	return "", until
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case b.Before(a):
		return b
	}
	return a
}

func deny(r Reason) Decision { return Decision{Reasons: []Reason{r}} }
