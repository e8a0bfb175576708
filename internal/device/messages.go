package device

import (
	"log/slog"
	"time"
)

// The agent's JSON API (see Handler). Byte fields are standard base64, as
// encoding/json writes them. Every request is one JSON object, unknown fields
// and a member named twice in one object (in any letter case) are errors,
// and bodies are limited to MaxBodyBytes.

// MaxBodyBytes limits the size of every request body of the agent API.
const MaxBodyBytes = 64 << 10

// EnrollStartRequest starts an enrollment (POST enroll/start).
type EnrollStartRequest struct {
	// Code is the one-time enrollment code from the device page.
	Code string `json:"code"`
	// EKPublic is the EK's TPMT_PUBLIC (TCG default RSA-2048 or P-256 template).
	EKPublic []byte `json:"ek_public"`
	// EKCert is the EK certificate (DER, as read from NV), when the TPM has one.
	EKCert []byte `json:"ek_cert,omitempty"`
	// AKPublic is the new AK's TPMT_PUBLIC (see ValidateAK).
	AKPublic []byte `json:"ak_public"`
}

// EnrollStartResponse is the credential-activation challenge.
type EnrollStartResponse struct {
	ChallengeID string `json:"challenge_id"`
	DeviceID    string `json:"device_id"`
	// Credential and EncryptedSecret are the outputs of TPM2_MakeCredential
	// (TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET contents, without their
	// size prefix) for TPM2_ActivateCredential.
	Credential      []byte    `json:"credential"`
	EncryptedSecret []byte    `json:"encrypted_secret"`
	Nonce           []byte    `json:"nonce"`
	PCRs            []int     `json:"pcrs"`
	ExpiresAt       time.Time `json:"expires_at"`
	CodeSession
}

// CodeSession tells the agent whose browser session a one-time code belongs
// to, before the agent completes anything: it shows them and asks its user
// to confirm (or sends a CancelRequest). Enrollment records Email as the
// device's owner when the inventory names none.
type CodeSession struct {
	// SessionEmail is the signed-in user whose device page showed the code.
	SessionEmail string `json:"session_email,omitempty"`
	// Tool is the tool (route) the page was shown for; empty when the code
	// came from the standalone device page.
	Tool string `json:"tool,omitempty"`
}

// EnrollFinishRequest answers the challenge (POST enroll/finish).
type EnrollFinishRequest struct {
	ChallengeID string `json:"challenge_id"`
	// Secret is the credential recovered by TPM2_ActivateCredential.
	Secret []byte `json:"secret"`
	// Quote is a quote by the new AK over the nonce and PCRs of the challenge.
	Quote Quote `json:"quote"`
}

// Attestation purposes (AttestStartRequest.Purpose).
const (
	AttestVerify = "verify" // bind the device to the browser session of Code
	AttestCheck  = "check"  // refresh the device's posture only
	AttestCert   = "cert"   // obtain a device certificate
)

// AttestStartRequest asks for a nonce (POST attest/start).
type AttestStartRequest struct {
	Purpose string `json:"purpose"`
	// Code is the one-time verification code (purpose "verify" only).
	Code string `json:"code,omitempty"`
	// AKPublic is the enrolled AK's TPMT_PUBLIC; it identifies the device.
	AKPublic []byte `json:"ak_public"`
}

// AttestStartResponse is the attestation challenge.
type AttestStartResponse struct {
	ChallengeID string    `json:"challenge_id"`
	DeviceID    string    `json:"device_id"`
	Nonce       []byte    `json:"nonce"`
	PCRs        []int     `json:"pcrs"`
	ExpiresAt   time.Time `json:"expires_at"`
	// CodeSession is set for purpose "verify": the session the code binds.
	CodeSession
}

// CancelRequest abandons an enrollment or attestation challenge (POST
// cancel), typically because the agent's user did not confirm the session
// shown in CodeSession. The challenge is consumed, the code's page shows the
// refusal and the audit log records it.
type CancelRequest struct {
	ChallengeID string `json:"challenge_id"`
}

// AttestFinishRequest returns the quote (POST attest/finish).
type AttestFinishRequest struct {
	ChallengeID string `json:"challenge_id"`
	Quote       Quote  `json:"quote"`
	// Certify is required for purpose "cert" and refused otherwise.
	Certify *Certify `json:"certify,omitempty"`
}

// Certify is a TPM2_Certify by the AK, over the challenge nonce, of the key
// to put in the device certificate.
type Certify struct {
	// Public is the certified key's TPMT_PUBLIC (see ValidateCertKey).
	Public    []byte `json:"public"`
	Attest    []byte `json:"attest"`
	Signature []byte `json:"signature"`
}

// Result is the answer to enroll/finish and attest/finish.
type Result struct {
	DeviceID string `json:"device_id"`
	// Owner is the device's owner: the inventory's, else the user recorded
	// at enrollment.
	Owner      string    `json:"owner,omitempty"`
	AttestedAt time.Time `json:"attested_at"`
	Reboot     bool      `json:"reboot"`
	// SessionBound is true when a browser session is now bound to the device.
	SessionBound bool   `json:"session_bound"`
	Message      string `json:"message"`
	// CertificatePEM is the device certificate followed by the device CA
	// certificate (purpose "cert" only).
	CertificatePEM string    `json:"certificate_pem,omitempty"`
	NotAfter       time.Time `json:"not_after,omitzero"`
}

// ErrorResponse is the body of every non-2xx answer.
type ErrorResponse struct {
	Error string `json:"error"`
	// Reason is set for denials (a Reason value), empty for bad requests.
	Reason Reason `json:"reason,omitempty"`
}

// LogValue keeps the one-time code out of logs.
func (r EnrollStartRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("code", "REDACTED"), slog.Int("ek_public_bytes", len(r.EKPublic)),
		slog.Bool("ek_cert", len(r.EKCert) > 0))
}

// LogValue keeps the activated secret out of logs.
func (r EnrollFinishRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("challenge_id", r.ChallengeID), slog.String("secret", "REDACTED"))
}

// LogValue keeps the one-time code out of logs.
func (r AttestStartRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("purpose", r.Purpose), slog.Bool("code", r.Code != ""))
}
