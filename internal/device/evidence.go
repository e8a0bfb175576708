package device

import (
	"errors"
	"fmt"
	"time"
)

// Reason is a typed, kebab-case reason for a device denial. The gateway's
// decision maps it to a page that tells the user what to do.
type Reason string

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
// gathered before the decision; the decision itself checks freshness with
// Check.
type Evidence struct {
	DeviceID string
	Serial   string
	Owner    string // inventory owner (email), empty when unset
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

// Check reports whether the evidence satisfies a route's device requirement at
// now: the device must be active and attested no longer than maxAge ago
// (maxAge <= 0 means any age). It returns nil or an *Error with its reason.
func (e *Evidence) Check(maxAge time.Duration, now time.Time) error {
	switch {
	case e == nil || e.Trust != TrustTPMAttested:
		return newError(ReasonNotVerified, "no verified device", nil)
	case e.Status == StatusRevoked:
		return newError(ReasonRevoked, fmt.Sprintf("device %q is revoked", e.DeviceID), nil)
	case e.Status != StatusActive:
		return newError(ReasonNotEnrolled, fmt.Sprintf("device %q is not in the inventory", e.DeviceID), nil)
	case maxAge > 0 && now.Sub(e.AttestedAt) > maxAge:
		return newError(ReasonStale, fmt.Sprintf("device %q attested at %s, older than max_age %s",
			e.DeviceID, e.AttestedAt.UTC().Format(time.RFC3339), maxAge), nil)
	}
	return nil
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
