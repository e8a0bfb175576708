package device

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-tpm/tpm2"

	"github.com/accessgateway/gateway/internal/store"
)

// badRequest marks malformed input: the handler answers 400 and nothing was
// stored.
type badRequest struct{ err error }

func (b badRequest) Error() string { return b.err.Error() }
func (b badRequest) Unwrap() error { return b.err }

func badf(format string, a ...any) error { return badRequest{fmt.Errorf("device: "+format, a...)} }

// parsedEnrollStart is an EnrollStartRequest whose structures parsed.
type parsedEnrollStart struct {
	code   string
	ekKey  any
	ekHash string
	ekCert []byte
	ak     *tpm2.TPMTPublic
	akRaw  []byte
}

// parseEnrollStart checks the form of an enrollment request without touching
// the store: the code's shape, the EK public area (a TCG default template),
// the EK certificate's key (same key), and the AK's attributes.
func parseEnrollStart(req EnrollStartRequest) (*parsedEnrollStart, error) {
	if normalizeCode(req.Code) == "" {
		return nil, badf("code: expected 10 characters like ABCDE-FGHJK, got %d characters", len(req.Code))
	}
	ekPub, err := unmarshalPublic(req.EKPublic)
	if err != nil {
		return nil, badf("ek_public: %v", err)
	}
	ekKey, err := publicKey(ekPub)
	if err != nil {
		return nil, badf("ek_public: %v", err)
	}
	want, err := EKPublicArea(ekKey)
	if err != nil {
		return nil, badf("ek_public: %v", err)
	}
	if !bytes.Equal(tpm2.Marshal(want), req.EKPublic) {
		return nil, badf("ek_public: expected the TCG default EK template (RSA-2048 or P-256) around the key")
	}
	p := &parsedEnrollStart{code: req.Code, ekKey: ekKey}
	if p.ekHash, err = EKKeyHash(ekKey); err != nil {
		return nil, badf("ek_public: %v", err)
	}
	if len(req.EKCert) > 0 {
		cert, err := ParseEKCertificate(req.EKCert)
		if err != nil {
			return nil, badf("ek_cert: %v", err)
		}
		h, err := EKKeyHash(cert.PublicKey)
		if err != nil || h != p.ekHash {
			return nil, badf("ek_cert: expected a certificate for the EK in ek_public, got one for another key")
		}
		p.ekCert = req.EKCert
	}
	if p.ak, err = unmarshalPublic(req.AKPublic); err != nil {
		return nil, badf("ak_public: %v", err)
	}
	if err := ValidateAK(p.ak); err != nil {
		return nil, badf("ak_public: %v", err)
	}
	p.akRaw = req.AKPublic
	return p, nil
}

// EnrollStart checks the device's EK against the inventory (and the owner
// against the email bound to the code) and answers with a
// credential-activation challenge for the AK. The code is consumed even when
// the enrollment is denied.
func (s *Service) EnrollStart(ctx context.Context, req EnrollStartRequest) (*EnrollStartResponse, error) {
	p, err := parseEnrollStart(req)
	if err != nil {
		return nil, err
	}
	code, codeHash, err := s.takeCode(ctx, p.code, PurposeEnroll)
	if err != nil {
		return nil, s.denyEnroll(ctx, "", code, codeHash, err)
	}
	fail := func(deviceID string, err error) (*EnrollStartResponse, error) {
		return nil, s.denyEnroll(ctx, deviceID, code, codeHash, err)
	}
	if p.ekCert != nil {
		cert, _ := ParseEKCertificate(p.ekCert)
		if s.ekRoots.n > 0 {
			if err := s.ekRoots.Verify(cert); err != nil {
				return fail("", newError(ReasonNotEnrolled, "the TPM's EK certificate is not from a trusted TPM manufacturer", err))
			}
		}
	} else if s.cfg.RequireEKCert {
		return fail("", newError(ReasonNotEnrolled, "an EK certificate is required and the TPM presented none", nil))
	}
	d, ok := s.Inventory().ByEK(p.ekHash)
	if !ok {
		return fail("", newError(ReasonNotEnrolled, fmt.Sprintf("this TPM (EK sha256 %s) is not in the inventory of company devices: ask IT to register it", p.ekHash), nil))
	}
	if d.Status != StatusActive {
		return fail(d.ID, newError(ReasonRevoked, fmt.Sprintf("device %q is revoked", d.ID), nil))
	}
	if err := s.checkEnrollOwner(ctx, d, code.Email); err != nil {
		return fail(d.ID, err)
	}
	ekArea, err := EKPublicArea(p.ekKey)
	if err != nil {
		return fail(d.ID, err)
	}
	enc, err := tpm2.ImportEncapsulationKey(ekArea)
	if err != nil {
		return fail(d.ID, fmt.Errorf("device: EK encapsulation key: %w", err))
	}
	akName, err := tpm2.ObjectName(p.ak) // computed here, never taken from the client
	if err != nil {
		return fail(d.ID, fmt.Errorf("device: AK name: %w", err))
	}
	secret := randomBytes(32)
	idObject, encSecret, err := tpm2.CreateCredential(rand.Reader, enc, akName.Buffer, secret)
	if err != nil {
		return fail(d.ID, fmt.Errorf("device: make credential: %w", err))
	}
	id := hex.EncodeToString(randomBytes(16))
	secretHash := sha256.Sum256(secret)
	ch := challenge{
		Kind: PurposeEnroll, DeviceID: d.ID, Email: code.Email, Tool: code.Tool, SessionHash: code.SessionHash, CodeHash: codeHash,
		AKPublic: p.akRaw, EKHash: p.ekHash, SecretHash: secretHash[:], Nonce: newNonce(PurposeEnroll, id),
		PCRs: s.PCRs(), ExpiresAt: s.now().Add(s.cfg.NonceTTL),
	}
	if err := s.setJSON(ctx, keyChallenge+id, ch, s.cfg.NonceTTL); err != nil {
		return fail(d.ID, fmt.Errorf("device: store challenge: %w", err))
	}
	return &EnrollStartResponse{ChallengeID: id, DeviceID: d.ID, Credential: idObject, EncryptedSecret: encSecret,
		Nonce: ch.Nonce, PCRs: ch.PCRs, ExpiresAt: ch.ExpiresAt, CodeSession: CodeSession{SessionEmail: ch.Email, Tool: ch.Tool}}, nil
}

// checkEnrollOwner refuses an enrollment by anyone but the device's owner:
// the inventory's owner when IT named one, else the user who enrolled it
// before (a recorded owner stays until IT names an owner in the inventory or
// the enrollment expires). A device with neither may be enrolled by any
// signed-in user, who becomes its recorded owner.
func (s *Service) checkEnrollOwner(ctx context.Context, d InventoryDevice, email string) error {
	if d.Owner != "" {
		return enrollOwnerError(d, nil, email)
	}
	var old enrollment
	if err := s.getJSON(ctx, keyEnrollment+d.ID, &old); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("device: read enrollment: %w", err)
	}
	return enrollOwnerError(d, &old, email)
}

// enrollOwnerError is checkEnrollOwner's judgement of email against the
// inventory entry d and the device's current enrollment old (nil: none).
func enrollOwnerError(d InventoryDevice, old *enrollment, email string) error {
	if d.Owner != "" {
		if !strings.EqualFold(d.Owner, email) {
			return newError(ReasonOwnerMismatch, fmt.Sprintf("device %q is registered to another user than %s", d.ID, email), nil)
		}
		return nil
	}
	if old != nil && old.Owner != "" && !strings.EqualFold(old.Owner, email) {
		return newError(ReasonOwnerMismatch, fmt.Sprintf("device %q was enrolled by another user than %s; IT can reassign it by naming its owner in the inventory", d.ID, email), nil)
	}
	return nil
}

// recordEnrollment stores en as device d's enrollment, atomically with the
// owner check (enrollOwnerError): it reads the current enrollment, judges
// en.Owner against it, and writes only in place of that very record —
// SetNX when there was none, CompareAndDelete of the bytes read then SetNX
// otherwise. Of two enrollments racing (two users enrolling a device that
// has no owner yet, on any replicas), the first write wins; the other finds
// the winner's record when it reads again, and its owner check refuses it.
// It returns the enrollment replaced (nil when there was none).
func (s *Service) recordEnrollment(ctx context.Context, d InventoryDevice, en enrollment) (*enrollment, error) {
	for range recordAttempts {
		raw, old, err := s.readEnrollmentRaw(ctx, d.ID)
		if err != nil {
			return nil, err
		}
		if err := enrollOwnerError(d, old, en.Owner); err != nil {
			return nil, err
		}
		ok, err := s.replaceEnrollment(ctx, d.ID, raw, en)
		if err != nil {
			return nil, err
		}
		if ok {
			return old, nil
		}
		// Changed since it was read, or another enrollment was written
		// first: judge the one stored now.
	}
	return nil, fmt.Errorf("device: the enrollment of device %q changed %d times while it was being recorded", d.ID, recordAttempts)
}

// recordAttempts bounds recordEnrollment's read-check-write rounds.
const recordAttempts = 5

// parseQuote checks the form of a quote message.
func parseQuote(q Quote) error {
	if len(q.Attest) == 0 || len(q.Attest) > 4096 {
		return badf("quote.attest: expected a TPMS_ATTEST of 1..4096 bytes, got %d", len(q.Attest))
	}
	if len(q.Signature) == 0 || len(q.Signature) > 1024 {
		return badf("quote.signature: expected a TPMT_SIGNATURE of 1..1024 bytes, got %d", len(q.Signature))
	}
	if len(q.PCRs) > 24 {
		return badf("quote.pcrs: expected at most 24 values, got %d", len(q.PCRs))
	}
	for i, v := range q.PCRs {
		if v.Index < 0 || v.Index > 23 || len(v.Digest) != sha256.Size {
			return badf("quote.pcrs[%d]: expected index 0..23 and a 32-byte digest, got %d and %d bytes", i, v.Index, len(v.Digest))
		}
	}
	return nil
}

// EnrollFinish checks the activated secret (constant time) and a quote by the
// new AK over the challenge nonce, then stores the AK as the device's and
// binds the browser session that asked for the code. The challenge is single
// use: a replay finds nothing.
func (s *Service) EnrollFinish(ctx context.Context, req EnrollFinishRequest) (*Result, error) {
	if !validChallengeID(req.ChallengeID) {
		return nil, badf("challenge_id: expected 32 lowercase hex digits")
	}
	if len(req.Secret) == 0 || len(req.Secret) > 64 {
		return nil, badf("secret: expected 1..64 bytes, got %d", len(req.Secret))
	}
	if err := parseQuote(req.Quote); err != nil {
		return nil, err
	}
	var ch challenge
	if err := s.takeJSON(ctx, keyChallenge+req.ChallengeID, &ch); err != nil || ch.Kind != PurposeEnroll {
		if err == nil || errors.Is(err, store.ErrNotFound) {
			err = newError(ReasonNotVerified, "the enrollment challenge is unknown, already used or expired: run enroll again with a new code", nil)
			s.emit(ctx, AuditEvent{Action: ActionEnroll, Outcome: OutcomeDenied, Reason: ReasonNotVerified, Detail: "unknown or replayed challenge"})
			return nil, err
		}
		return nil, fmt.Errorf("device: read challenge: %w", err)
	}
	code := codeRecord{Email: ch.Email, SessionHash: ch.SessionHash}
	fail := func(err error) (*Result, error) { return nil, s.denyEnroll(ctx, ch.DeviceID, code, ch.CodeHash, err) }
	if !s.now().Before(ch.ExpiresAt) {
		return fail(newError(ReasonNotVerified, "the enrollment challenge expired: run enroll again with a new code", nil))
	}
	got := sha256.Sum256(req.Secret)
	if subtle.ConstantTimeCompare(got[:], ch.SecretHash) != 1 {
		return fail(newError(ReasonNotVerified, "the activated credential is wrong: the AK is not in the TPM of the enrolled EK", nil))
	}
	ak, err := unmarshalPublic(ch.AKPublic)
	if err != nil {
		return fail(err)
	}
	att, err := VerifyQuote(ak, req.Quote, ch.Nonce, ch.PCRs)
	if err != nil {
		return fail(newError(ReasonNotVerified, "the quote did not verify", err))
	}
	if _, err := CheckClock(nil, att.Clock); err != nil {
		return fail(newError(ReasonNotVerified, "the TPM clock is not trustworthy", err))
	}
	if err := s.cfg.PCRPolicy.Check(att.PCRs); err != nil {
		return fail(err)
	}
	inv := s.Inventory()
	d, ok := inv.Device(ch.DeviceID)
	if !ok || d.Status != StatusActive {
		return fail(newError(ReasonRevoked, fmt.Sprintf("device %q was revoked or removed during enrollment", ch.DeviceID), nil))
	}
	if inv.ekHash(d.ID) != ch.EKHash {
		return fail(newError(ReasonNotEnrolled, fmt.Sprintf("the inventory names another EK for device %q since the enrollment started", d.ID), nil))
	}
	akName, _ := tpm2.ObjectName(ak)
	now := s.now()
	clock := att.Clock
	en := enrollment{DeviceID: d.ID, Owner: ch.Email, AKPublic: ch.AKPublic, AKName: akName.Buffer, EKHash: ch.EKHash,
		EnrolledAt: now, AttestedAt: now, Last: &clock}
	// The owner is judged again, at the end and atomically with the write:
	// the inventory may have changed, or another user's enrollment of the
	// same device may have finished (or be finishing) in between.
	s.enrollments.forget(d.ID)
	old, err := s.recordEnrollment(ctx, d, en)
	if err != nil {
		return fail(err)
	}
	if old != nil && !bytes.Equal(old.AKName, en.AKName) {
		if err := s.st.Delete(ctx, keyByAK+hex.EncodeToString(old.AKName)); err != nil {
			return fail(fmt.Errorf("device: remove old AK: %w", err))
		}
	}
	if err := s.st.Set(ctx, keyByAK+hex.EncodeToString(en.AKName), []byte(d.ID), s.cfg.EnrollmentTTL); err != nil {
		return fail(fmt.Errorf("device: store AK index: %w", err))
	}
	detail := "EK sha256 " + ch.EKHash
	if d.Owner == "" {
		detail += "; owner recorded: " + ch.Email
	}
	s.emit(ctx, AuditEvent{Action: ActionEnroll, Outcome: OutcomeOK, DeviceID: d.ID, Serial: d.Serial, Email: ch.Email,
		Detail: detail})
	res := &Result{DeviceID: d.ID, Owner: effectiveOwner(d, &en), AttestedAt: now,
		Message: fmt.Sprintf("device %s (serial %s) is enrolled", d.ID, d.Serial)}
	if err := s.bind(ctx, ch, d, now, false); err != nil {
		return nil, err
	}
	res.SessionBound = ch.SessionHash != ""
	if res.SessionBound {
		res.Message += " and verified for your browser session"
	}
	return res, nil
}

// denyEnroll audits a failed enrollment, marks the code failed, replaces the
// session's binding with the denial (so the page and the next request show
// the reason), and returns err unchanged.
func (s *Service) denyEnroll(ctx context.Context, deviceID string, code codeRecord, codeHash string, err error) error {
	reason, _ := ReasonOf(err)
	s.emit(ctx, AuditEvent{Action: ActionEnroll, Outcome: OutcomeDenied, DeviceID: deviceID, Email: code.Email,
		Reason: reason, Detail: err.Error()})
	if code.SessionHash != "" && codeHash != "" {
		msg := err.Error()
		if reason == "" {
			msg = "the gateway could not complete the enrollment"
		}
		_ = s.setCodeState(ctx, codeHash, CodeState{State: CodeFailed, DeviceID: deviceID, Reason: reason, Message: msg, sessionHash: code.SessionHash})
		if reason != "" {
			b := binding{DeviceID: deviceID, Email: code.Email, Denied: reason, Message: strings.TrimPrefix(msg, "device: ")}
			_ = s.setJSON(ctx, keySession+code.SessionHash, b, s.cfg.BindingTTL)
		}
	}
	return err
}
