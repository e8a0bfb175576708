package device

import (
	"errors"
	"time"

	"github.com/accessgateway/gateway/internal/policy"
)

// Reason is a device denial's reason: the gateway's one reason vocabulary
// (policy.Reason), so a reason means the same in the device system, the
// decision, the page and the audit record.
type Reason = policy.Reason

// Reasons for device denials.
const (
	// ReasonNotVerified: no verified device is bound to the session or
	// certificate, or the last attestation failed.
	ReasonNotVerified Reason = "device-not-verified"
	// ReasonNotEnrolled: the device is not in the inventory, or it has no
	// enrolled attestation key.
	ReasonNotEnrolled Reason = "device-not-enrolled"
	// ReasonRevoked: the inventory marks the device revoked.
	ReasonRevoked Reason = "device-revoked"
	// ReasonStale: the last attestation is older than the route's max_age.
	ReasonStale Reason = "device-attestation-stale"
	// ReasonPCRMismatch: the quoted PCR values do not satisfy the policy.
	ReasonPCRMismatch Reason = "device-pcr-mismatch"
	// ReasonOwnerMismatch: the signed-in user is not the device's owner.
	ReasonOwnerMismatch Reason = "device-owner-mismatch"
	// ReasonTrustInsufficient: the device's trust level is below the
	// route's.
	ReasonTrustInsufficient Reason = "device-trust-insufficient"
)

// Status is a device's inventory status.
type Status string

// Inventory statuses. StatusUnknown is used in evidence for a device that is
// no longer in the inventory.
const (
	StatusActive  Status = "active"
	StatusRevoked Status = "revoked"
	StatusUnknown Status = "unknown"
)

// TrustTPMAttested is the trust level of a device whose TPM quote was verified.
const TrustTPMAttested = "tpm-attested"

// Evidence is what the gateway knows about the device behind a request. It is
// gathered before the decision (Kind's Gather turns it into Facts); the
// decision's pure check (Requirement.Check) judges trust, freshness and owner.
type Evidence struct {
	DeviceID string
	Serial   string
	Owner    string // the inventory's owner, else the recorded enrolling user (email); empty when neither
	Status   Status // live inventory status
	Trust    string // TrustTPMAttested
	// AttestedAt is when the quote behind this evidence was verified.
	AttestedAt time.Time
	// Reboot reports that the attestation saw the TPM reset counter go up
	// since the device's previous attestation (the machine rebooted).
	Reboot bool
	// Source is "session" (bound through a one-time code) or "certificate"
	// (an mTLS client certificate from the device CA).
	Source string
}

// Error is a device denial with its typed reason. Errors that are not *Error
// mean the gateway could not decide (for example the store is down) and must
// also deny.
type Error struct {
	Reason Reason
	Msg    string
	Err    error
}

func newError(r Reason, msg string, err error) *Error { return &Error{Reason: r, Msg: msg, Err: err} }

func (e *Error) Error() string {
	if e.Err != nil {
		return "device: " + e.Msg + ": " + e.Err.Error()
	}
	return "device: " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the reason of a device denial in err's chain.
func ReasonOf(err error) (Reason, bool) {
	var de *Error
	if errors.As(err, &de) {
		return de.Reason, true
	}
	return "", false
}
