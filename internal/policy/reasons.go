package policy

import "sync"

// Reason is a typed, kebab-case explanation of a decision. Deny reasons choose
// the page the user sees; every reason lands in the audit record.
//
// There is one vocabulary: the reasons below are the gateway's own; each
// requirement kind defines its reasons as Reason constants in its package
// and registers them (RegisterReasons) through the kinds list, so that
// config validation and policy tests know them.
type Reason string

// The gateway's own reasons (identity, rules, routing, failures).
const (
	// Allow reasons.
	ReasonAllowRule   Reason = "allow-rule-matched"
	ReasonPublicRoute Reason = "public-route"

	// Deny reasons.
	ReasonRouteNotFound Reason = "route-not-found"
	// ReasonBadRequest: the request's path could not be normalized.
	ReasonBadRequest      Reason = "bad-request"
	ReasonSignInRequired  Reason = "sign-in-required"
	ReasonInvalidIdentity Reason = "invalid-identity"
	ReasonDenyRule        Reason = "deny-rule-matched"
	ReasonNoAllowRule     Reason = "no-allow-rule-matched"
	// ReasonEvidenceError means evidence could not be gathered (a store or
	// an external system failed); the request is denied, fail closed.
	ReasonEvidenceError Reason = "evidence-unavailable"
	// ReasonChanged: an ingress refused the request at its check, and the
	// access had changed by the time it asked for the page (nginx's
	// error_page); not forwarded, the client is told to try again. Never
	// a policy decision's, so not among the reasons policy tests expect.
	ReasonChanged Reason = "changed-since-check"
	// ReasonMalformedForwardedFor: a trusted proxy sent an X-Forwarded-For
	// chain that is malformed before the client's address (proxy.ClientAddr):
	// the client is unknown, and the request is refused (400) before any
	// decision rather than judged with the proxy's own address. Never a
	// policy decision's, so not among the reasons policy tests expect.
	ReasonMalformedForwardedFor Reason = "malformed-forwarded-for"
	// ReasonRateLimited: the client sent more requests to a rate-limited
	// endpoint of the gateway (the agents' APIs) than it allows; refused
	// (429) before any decision. Never a policy decision's.
	ReasonRateLimited Reason = "rate-limited"
)

var (
	knownMu sync.RWMutex
	known   = map[Reason]string{
		ReasonAllowRule: "", ReasonPublicRoute: "", ReasonRouteNotFound: "", ReasonBadRequest: "",
		ReasonSignInRequired: "", ReasonInvalidIdentity: "", ReasonDenyRule: "",
		ReasonNoAllowRule: "", ReasonEvidenceError: "",
	}
)

// RegisterReasons adds the reasons of requirement kind to the vocabulary.
// It is called once per kind at start (internal/requirement/kinds); a reason
// registered twice by different kinds panics, so two kinds cannot share one.
func RegisterReasons(kind string, rs ...Reason) {
	knownMu.Lock()
	defer knownMu.Unlock()
	for _, r := range rs {
		if k, ok := known[r]; ok && k != kind {
			panic("policy: reason " + string(r) + " registered by " + kind + " and " + k)
		}
		known[r] = kind
	}
}

// KnownReason reports whether r is a reason of the gateway or of a
// registered requirement kind.
func KnownReason(r Reason) bool {
	knownMu.RLock()
	defer knownMu.RUnlock()
	_, ok := known[r]
	return ok
}

// KindOf returns the requirement kind that registered r ("" for the
// gateway's own reasons and for unknown ones).
func KindOf(r Reason) string {
	knownMu.RLock()
	defer knownMu.RUnlock()
	return known[r]
}
