// Package device decides whether a request comes from a company-issued device
// that proved itself with its TPM 2.0.
//
// It holds the inventory of company devices (device ID, serial, owner, the
// SHA-256 of the EK public key and/or an EK certificate chaining to a
// configured manufacturer CA, status), the gateway side of enrollment
// (credential activation over a new restricted signing AK), posture
// attestation (quotes by the enrolled AK over the policy PCRs, with single-use
// nonces kept in the shared store), the binding of a verified device to a
// browser session through a one-time code, and short-lived mTLS client
// certificates for keys the TPM certifies with the AK.
//
// Ownership: a device belongs to the owner the inventory names, else to the
// user who enrolled it (recorded with the enrollment). Enrolling, and binding
// to a browser session, are refused for anyone else (device-owner-mismatch).
// Before it completes an enrollment or a binding the agent learns whose
// session the code belongs to (CodeSession) so that its user can confirm or
// cancel.
//
// The package is pure Go: it verifies TPM structures with
// github.com/google/go-tpm/tpm2 and never talks to a TPM. The agent side
// (TPM access, the simulator) lives in internal/device/agent.
//
// Typical wiring:
//
//	svc, err := device.NewService(cfg.Devices, st, logger, device.Options{Audit: auditFn})
//	mux.Handle(device.APIPrefix+"/", svc.Handler())    // the agent's JSON API
//	code, exp, err := svc.IssueCode(ctx, device.CodeRequest{Purpose: device.PurposeVerify,
//		SessionID: sessionID, Email: email, Tool: routeName})
//	st, err := svc.CodeStatus(ctx, sessionID, code)    // the page polls this
//	ev, err := svc.SessionEvidence(ctx, sessionID)     // per request
//
// In the gateway, Kind (kind.go) wires all of this in as the "device"
// requirement kind: its Gather returns Facts, and Requirement.Check, the
// one pure check of trust, freshness and owner, runs in the decision.
//
// What is NOT checked: the TPM event log (posture is judged only from PCR
// values against the configured policy); the TPM firmware version against a
// denylist (it is recorded and audited when it changes); the quote's
// QualifiedSigner.
package device
