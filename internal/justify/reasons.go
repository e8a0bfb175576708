package justify

import (
	"errors"

	"github.com/accessgateway/gateway/internal/policy"
)

// The deny reasons of the justification requirement. Each chooses the page
// the user sees and lands in the audit record.
const (
	// ReasonRequired: no ticket was given, or what was typed is not a ticket
	// ID of a system the route accepts.
	ReasonRequired policy.Reason = "justification-required"
	// ReasonNotFound: the system says the ticket does not exist (or the
	// gateway's account may not see it).
	ReasonNotFound policy.Reason = "ticket-not-found"
	// ReasonClosed: the ticket exists but is closed, resolved or done (or an
	// http verifier's grant has expired).
	ReasonClosed policy.Reason = "ticket-closed"
	// ReasonNotAssigned: the ticket does not involve the user in any of the
	// configured roles (assignee, reporter, watcher, responder...).
	ReasonNotAssigned policy.Reason = "ticket-not-assigned"
	// ReasonResourceMismatch: the route binds a resource (a customer) and the
	// ticket does not name it.
	ReasonResourceMismatch policy.Reason = "ticket-resource-mismatch"
	// ReasonUnavailable: the ticket system could not be asked (timeout,
	// error status, rate limit, circuit open, unreadable answer).
	ReasonUnavailable policy.Reason = "justification-system-unavailable"
	// ReasonRateLimited: the user named more new tickets than the gateway
	// looks up for one user (30 a minute, 10 at once, per replica); the
	// system was not asked.
	ReasonRateLimited policy.Reason = "justification-rate-limited"
)

// Reasons lists every reason this package produces, for registration with
// the decision's reason vocabulary.
var Reasons = []policy.Reason{
	ReasonRequired, ReasonNotFound, ReasonClosed, ReasonNotAssigned,
	ReasonResourceMismatch, ReasonUnavailable, ReasonRateLimited,
}

// ReasonFor maps an error of Parse or Lookup to the reason to deny with:
// a ParseError is ReasonRequired (the form is shown again with the error),
// ErrNotFound is ReasonNotFound, and every other error — an
// *UnavailableError or anything unexpected — is ReasonUnavailable. A nil
// error has no reason ("").
func ReasonFor(err error) policy.Reason {
	var pe *ParseError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pe):
		return ReasonRequired
	case errors.Is(err, ErrNotFound):
		return ReasonNotFound
	default:
		return ReasonUnavailable
	}
}
