package policy

// Reason is a typed, kebab-case explanation of a decision. Deny reasons choose
// the page the user sees; every reason lands in the audit record.
type Reason string

// The reasons. Keep this list the only place reasons are defined.
const (
	// Allow reasons.
	ReasonAllowRule   Reason = "allow-rule-matched"
	ReasonPublicRoute Reason = "public-route"

	// Deny reasons.
	ReasonRouteNotFound Reason = "route-not-found"
	// ReasonBadRequest: the request's path could not be normalized.
	ReasonBadRequest       Reason = "bad-request"
	ReasonSignInRequired   Reason = "sign-in-required"
	ReasonInvalidIdentity  Reason = "invalid-identity"
	ReasonDenyRule         Reason = "deny-rule-matched"
	ReasonNoAllowRule      Reason = "no-allow-rule-matched"
	ReasonDeviceNotVerfied Reason = "device-not-verified"
	ReasonDeviceNotEnroll  Reason = "device-not-enrolled"
	ReasonDeviceRevoked    Reason = "device-revoked"
	ReasonDeviceStale      Reason = "device-attestation-stale"
	ReasonDevicePCR        Reason = "device-pcr-mismatch"
	ReasonDeviceOwner      Reason = "device-owner-mismatch"
	ReasonDeviceTrust      Reason = "device-trust-insufficient"
	// ReasonEvidenceError means evidence could not be gathered (a store or
	// an external system failed); the request is denied, fail closed.
	ReasonEvidenceError Reason = "evidence-unavailable"
)

var known = map[Reason]bool{
	ReasonAllowRule: true, ReasonPublicRoute: true, ReasonRouteNotFound: true, ReasonBadRequest: true,
	ReasonSignInRequired: true, ReasonInvalidIdentity: true, ReasonDenyRule: true,
	ReasonNoAllowRule: true, ReasonDeviceNotVerfied: true, ReasonDeviceNotEnroll: true,
	ReasonDeviceRevoked: true, ReasonDeviceStale: true, ReasonDevicePCR: true,
	ReasonDeviceOwner: true, ReasonDeviceTrust: true, ReasonEvidenceError: true,
}

// KnownReason reports whether r is one of the reasons above.
func KnownReason(r Reason) bool { return known[r] }
