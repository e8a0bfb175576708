package breakglass

import (
	"errors"

	"github.com/accessgateway/gateway/internal/policy"
)

// The break-glass reasons. They are policy.Reason values so that the
// decision, the pages and the audit log treat them like every other reason;
// Reasons lists them for registration.
const (
	// ReasonRequired: a requirement the route's break-glass policy lifts is
	// unmet and the user holds no grant; the page offers break-glass when
	// the user is in the policy's groups.
	ReasonRequired policy.Reason = "break-glass-required"
	// ReasonGranted is an allow reason: a grant lifted a requirement.
	ReasonGranted policy.Reason = "break-glass-granted"

	// ReasonNotAllowed: the user is in none of the policy's groups.
	ReasonNotAllowed policy.Reason = "break-glass-not-allowed"
	// ReasonNotOnCall: the paging provider says the user is not on call now.
	ReasonNotOnCall policy.Reason = "break-glass-not-on-call"
	// ReasonIncidentNotFound: the provider does not know the incident (or it
	// is outside the configured escalation policies).
	ReasonIncidentNotFound policy.Reason = "break-glass-incident-not-found"
	// ReasonIncidentInactive: the incident exists but is resolved/closed.
	ReasonIncidentInactive policy.Reason = "break-glass-incident-inactive"
	// ReasonLimitReached: the user used every grant of the day.
	ReasonLimitReached policy.Reason = "break-glass-limit-reached"
	// ReasonProviderUnavailable: the paging provider could not answer
	// (timeout, connection error, 5xx, 429, garbage); fail closed. It may
	// pass: the user may try again.
	ReasonProviderUnavailable policy.Reason = "break-glass-provider-unavailable"
	// ReasonProviderMisconfigured: the paging provider answered that the
	// gateway's configuration of it is wrong (API key refused, 401/403; a
	// configured schedule missing or disabled; an escalation policy or
	// schedule ID refused); fail closed. Trying again does not help: the
	// operators must fix it.
	ReasonProviderMisconfigured policy.Reason = "break-glass-provider-misconfigured"
	// ReasonAlreadyGranted: the session holds a grant for the route that is
	// in force; a second one is not made while it is (it would take another
	// of the day's grants and hide the first).
	ReasonAlreadyGranted policy.Reason = "break-glass-already-granted"
	// ReasonInvalidRequest: the request itself is malformed (empty reason,
	// bad incident ID, unknown policy, duration out of range).
	ReasonInvalidRequest policy.Reason = "break-glass-invalid-request"
	// ReasonUnavailable: the shared store could not answer; fail closed.
	ReasonUnavailable policy.Reason = "break-glass-unavailable"
	// ReasonGrantEnded: the session's grant for the route ended before its
	// expiry — a reviewer revoked it, or its policy was removed from the
	// configuration; the route's page says which, until the grant would
	// have expired.
	ReasonGrantEnded policy.Reason = "break-glass-grant-ended"
)

// Reasons lists every reason defined by this package.
var Reasons = []policy.Reason{
	ReasonRequired, ReasonGranted, ReasonNotAllowed, ReasonNotOnCall,
	ReasonIncidentNotFound, ReasonIncidentInactive, ReasonLimitReached,
	ReasonProviderUnavailable, ReasonProviderMisconfigured, ReasonAlreadyGranted, ReasonInvalidRequest, ReasonUnavailable,
	ReasonGrantEnded,
}

// Refusal is a definite "no" to a break-glass request, with the reason the
// page and the audit record show. Detail is for people (it never holds
// secrets) and says everything the refusal's message says: the provider's
// status and words are quoted in it, not repeated from Err. Err, when set,
// is the underlying cause, for errors.Is and errors.As (for
// ReasonProviderUnavailable and ReasonProviderMisconfigured, the provider's
// error); Error shows it only when there is no Detail.
type Refusal struct {
	Reason policy.Reason
	Detail string
	Err    error
	// Held is, for ReasonAlreadyGranted, the grant the session holds for
	// the route.
	Held *Grant
}

func (r *Refusal) Error() string {
	s := "breakglass: refused (" + string(r.Reason) + ")"
	switch {
	case r.Detail != "":
		s += ": " + r.Detail
	case r.Err != nil:
		s += ": " + r.Err.Error()
	}
	return s
}

func (r *Refusal) Unwrap() error { return r.Err }

// ReasonOf maps an error of this package to the reason a caller should show
// and audit: the Refusal's reason, or ReasonUnavailable for every other
// error (the store failed). It returns "" for nil.
func ReasonOf(err error) policy.Reason {
	if err == nil {
		return ""
	}
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	return ReasonUnavailable
}

func refuse(reason policy.Reason, detail string) *Refusal {
	return &Refusal{Reason: reason, Detail: detail}
}
