package device

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/accessgateway/gateway/internal/store"
)

// lookupAK finds the enrolled device of an AK public area.
func (s *Service) lookupAK(ctx context.Context, akRaw []byte) (*enrollment, error) {
	ak, err := unmarshalPublic(akRaw)
	if err != nil {
		return nil, badf("ak_public: %v", err)
	}
	name, err := tpm2.ObjectName(ak)
	if err != nil {
		return nil, badf("ak_public: %v", err)
	}
	id, err := s.st.Get(ctx, keyByAK+hex.EncodeToString(name.Buffer))
	if errors.Is(err, store.ErrNotFound) {
		return nil, newError(ReasonNotEnrolled, "this TPM's attestation key is not enrolled: run `gateway-agent enroll CODE` first", nil)
	} else if err != nil {
		return nil, fmt.Errorf("device: read AK index: %w", err)
	}
	var en enrollment
	if err := s.getJSON(ctx, keyEnrollment+string(id), &en); errors.Is(err, store.ErrNotFound) {
		return nil, newError(ReasonNotEnrolled, "this device is not enrolled: run `gateway-agent enroll CODE` first", nil)
	} else if err != nil {
		return nil, fmt.Errorf("device: read enrollment: %w", err)
	}
	if subtle.ConstantTimeCompare(en.AKName, name.Buffer) != 1 {
		return nil, newError(ReasonNotEnrolled, "this device was re-enrolled with another attestation key", nil)
	}
	return &en, nil
}

// AttestStart issues a single-use nonce for a quote by the device's enrolled
// AK. Purpose "verify" consumes the one-time code of the browser session to
// bind; "check" only refreshes posture; "cert" precedes a certificate.
func (s *Service) AttestStart(ctx context.Context, req AttestStartRequest) (*AttestStartResponse, error) {
	switch req.Purpose {
	case AttestVerify:
		if normalizeCode(req.Code) == "" {
			return nil, badf("code: expected 10 characters like ABCDE-FGHJK, got %d characters", len(req.Code))
		}
	case AttestCheck, AttestCert:
		if req.Code != "" {
			return nil, badf("code: only purpose %q takes a code", AttestVerify)
		}
	default:
		return nil, badf("purpose: expected %q, %q or %q, got %q", AttestVerify, AttestCheck, AttestCert, req.Purpose)
	}
	// The whole form is checked before the code is used: an AK public area
	// that could never have been enrolled is a bad request, not a denial
	// that uses up the code and replaces the session's binding.
	ak, err := unmarshalPublic(req.AKPublic)
	if err != nil {
		return nil, badf("ak_public: %v", err)
	}
	if err := ValidateAK(ak); err != nil {
		return nil, badf("ak_public: %v", err)
	}
	ch := challenge{Kind: req.Purpose, PCRs: s.PCRs(), ExpiresAt: s.now().Add(s.cfg.NonceTTL)}
	var code codeRecord
	if req.Purpose == AttestVerify {
		if code, ch.CodeHash, err = s.takeCode(ctx, req.Code, PurposeVerify); err != nil {
			return nil, s.denyAttest(ctx, ch, code, err)
		}
		ch.Email, ch.Tool, ch.SessionHash = code.Email, code.Tool, code.SessionHash
	}
	en, err := s.lookupAK(ctx, req.AKPublic)
	if err != nil {
		return nil, s.denyAttest(ctx, ch, code, err)
	}
	ch.DeviceID, ch.AKPublic = en.DeviceID, en.AKPublic
	ev := &Evidence{DeviceID: en.DeviceID}
	if err := s.attestLiveCheck(ctx, ev, ch.Email, nil); err != nil {
		return nil, s.denyAttest(ctx, ch, code, err)
	}
	id := hex.EncodeToString(randomBytes(16))
	ch.Nonce = newNonce(req.Purpose, id)
	if err := s.setJSON(ctx, keyChallenge+id, ch, s.cfg.NonceTTL); err != nil {
		return nil, s.denyAttest(ctx, ch, code, fmt.Errorf("device: store challenge: %w", err))
	}
	return &AttestStartResponse{ChallengeID: id, DeviceID: en.DeviceID, Nonce: ch.Nonce, PCRs: ch.PCRs, ExpiresAt: ch.ExpiresAt,
		CodeSession: CodeSession{SessionEmail: ch.Email, Tool: ch.Tool}}, nil
}

// AttestFinish verifies the quote against the challenge (single use), the
// enrolled AK, the PCR policy and the device's previous clock, the live
// inventory and owner and, for purpose cert, the TPM's certification of the
// certificate key. Only when every check passed does it record the new clock,
// audit the attestation as ok and then, by purpose, bind the browser session
// or issue the device certificate: a failed check stores nothing but the
// denial and audits nothing but the denial.
func (s *Service) AttestFinish(ctx context.Context, req AttestFinishRequest) (*Result, error) {
	if !validChallengeID(req.ChallengeID) {
		return nil, badf("challenge_id: expected 32 lowercase hex digits")
	}
	if err := parseQuote(req.Quote); err != nil {
		return nil, err
	}
	var certKey *tpm2.TPMTPublic
	if req.Certify != nil {
		var err error
		if certKey, err = unmarshalPublic(req.Certify.Public); err != nil {
			return nil, badf("certify.public: %v", err)
		}
		if err := ValidateCertKey(certKey); err != nil {
			return nil, badf("certify.public: %v", err)
		}
		if len(req.Certify.Attest) == 0 || len(req.Certify.Attest) > 4096 || len(req.Certify.Signature) == 0 || len(req.Certify.Signature) > 1024 {
			return nil, badf("certify: expected attest of 1..4096 bytes and signature of 1..1024 bytes")
		}
	}
	var ch challenge
	if err := s.takeJSON(ctx, keyChallenge+req.ChallengeID, &ch); err != nil || ch.Kind == PurposeEnroll {
		if err == nil || errors.Is(err, store.ErrNotFound) {
			s.emit(ctx, AuditEvent{Action: ActionAttest, Outcome: OutcomeDenied, Reason: ReasonNotVerified, Detail: "unknown or replayed challenge"})
			return nil, newError(ReasonNotVerified, "the attestation challenge is unknown, already used or expired: run the command again", nil)
		}
		return nil, fmt.Errorf("device: read challenge: %w", err)
	}
	code := codeRecord{Email: ch.Email, SessionHash: ch.SessionHash}
	fail := func(err error) (*Result, error) { return nil, s.denyAttest(ctx, ch, code, err) }
	if !s.now().Before(ch.ExpiresAt) {
		return fail(newError(ReasonNotVerified, "the attestation challenge expired: run the command again", nil))
	}
	if (ch.Kind == AttestCert) != (req.Certify != nil) {
		return fail(newError(ReasonNotVerified, "a certify structure is required for, and only for, purpose cert", nil))
	}
	// raw is the enrollment as read: the attestation is judged against it
	// and records its result only in its place (replaceEnrollment), never
	// over an enrollment that replaced it meanwhile.
	raw, read, err := s.readEnrollmentRaw(ctx, ch.DeviceID)
	if err != nil {
		return fail(err)
	}
	if read == nil {
		return fail(newError(ReasonNotEnrolled, fmt.Sprintf("device %q is not enrolled", ch.DeviceID), nil))
	}
	en := *read
	if !bytes.Equal(en.AKPublic, ch.AKPublic) {
		return fail(newError(ReasonNotEnrolled, "the device was re-enrolled during the attestation", nil))
	}
	ak, err := unmarshalPublic(en.AKPublic)
	if err != nil {
		return fail(fmt.Errorf("device: stored AK: %w", err))
	}
	att, err := VerifyQuote(ak, req.Quote, ch.Nonce, ch.PCRs)
	if err != nil {
		return fail(newError(ReasonNotVerified, "the quote did not verify", err))
	}
	reboot, err := CheckClock(en.Last, att.Clock)
	if err != nil {
		return fail(newError(ReasonNotVerified, "the TPM clock or counters are inconsistent with the last attestation", err))
	}
	if err := s.cfg.PCRPolicy.Check(att.PCRs); err != nil {
		// The quote verified: this is the device's own TPM reporting a
		// posture the policy refuses. The device counts for no session
		// until an attestation passes (not only the one this code binds).
		if reason, ok := ReasonOf(err); ok {
			f := postureFailure{At: s.now(), Reason: reason, Message: strings.TrimPrefix(err.Error(), "device: ")}
			if serr := s.recordPostureFailure(ctx, raw, read, f); serr != nil {
				return fail(serr)
			}
		}
		return fail(err)
	}
	ev := &Evidence{DeviceID: ch.DeviceID}
	if err := s.attestLiveCheck(ctx, ev, ch.Email, read); err != nil {
		return fail(err)
	}
	d, ok := s.Inventory().Device(ev.DeviceID)
	if !ok { // removed since liveCheck read it
		return fail(newError(ReasonNotEnrolled, fmt.Sprintf("device %q is no longer in the inventory", ev.DeviceID), nil))
	}
	var certPub any
	if ch.Kind == AttestCert {
		if err := VerifyCertify(ak, certKey, req.Certify.Attest, req.Certify.Signature, ch.Nonce); err != nil {
			return fail(newError(ReasonNotVerified, "the TPM did not certify the certificate key", err))
		}
		if certPub, err = publicKey(certKey); err != nil {
			return fail(newError(ReasonNotVerified, "the certified key is unusable", err))
		}
	}

	// Every check passed: from here on, record and report success.
	now := s.now()
	res := &Result{DeviceID: ev.DeviceID, Owner: ev.Owner, AttestedAt: now, Reboot: reboot,
		Message: fmt.Sprintf("device %s passed attestation", ev.DeviceID)}
	var certDER []byte
	if ch.Kind == AttestCert {
		if certDER, res.NotAfter, err = s.ca.Issue(d, certPub, now, s.cfg.Certificates.Lifetime); err != nil {
			return fail(err)
		}
	}
	detail := ""
	if en.Last != nil && en.Last.FirmwareVersion != att.Clock.FirmwareVersion {
		detail = fmt.Sprintf("TPM firmware version changed from %#x to %#x", en.Last.FirmwareVersion, att.Clock.FirmwareVersion)
	}
	clock := att.Clock
	en.Last, en.AttestedAt, en.Failed = &clock, now, nil
	stored, err := s.replaceEnrollment(ctx, en.DeviceID, raw, en)
	s.enrollments.forget(en.DeviceID)
	if err != nil {
		return fail(err)
	}
	if !stored {
		return fail(s.enrollmentChanged(ctx, read))
	}
	// Refresh the AK index only while it exists: an enrollment of another
	// AK that finished since removed it, and it stays removed.
	if ok, err := s.st.SetXX(ctx, keyByAK+hex.EncodeToString(en.AKName), []byte(en.DeviceID), s.cfg.EnrollmentTTL); err != nil {
		return fail(fmt.Errorf("device: store AK index: %w", err))
	} else if !ok {
		return fail(newError(ReasonNotEnrolled, fmt.Sprintf("device %q was enrolled again with another attestation key during the attestation", en.DeviceID), nil))
	}
	s.emit(ctx, AuditEvent{Action: ActionAttest, Outcome: OutcomeOK, DeviceID: ev.DeviceID, Serial: ev.Serial,
		Email: ch.Email, Reboot: reboot, Detail: detail})
	if reboot {
		res.Message += " (the TPM reports a reboot since the last attestation)"
	}
	switch ch.Kind {
	case AttestVerify:
		if err := s.bind(ctx, ch, d, now, reboot); err != nil {
			return nil, err
		}
		res.SessionBound = true
		res.Message += " and is verified for your browser session"
	case AttestCert:
		res.CertificatePEM = string(pemCert(certDER)) + string(pemCert(s.ca.cert.Raw))
		res.Message = fmt.Sprintf("device %s passed attestation; certificate valid until %s", ev.DeviceID, res.NotAfter.UTC().Format(time.RFC3339))
		s.emit(ctx, AuditEvent{Action: ActionCertificate, Outcome: OutcomeOK, DeviceID: d.ID, Serial: d.Serial,
			Detail: "valid until " + res.NotAfter.UTC().Format(time.RFC3339)})
	}
	return res, nil
}

// recordPostureFailure records f, a posture the device's TPM reported and
// the policy refuses, on the enrollment the quote was judged against (raw,
// read) — also when attestations have been recorded on it since (fail
// closed: the refusal holds until an attestation passes after it), but not
// on an enrollment that replaced it (enrolled again, or another owner),
// which the refused quote does not speak for.
func (s *Service) recordPostureFailure(ctx context.Context, raw []byte, read *enrollment, f postureFailure) error {
	defer s.enrollments.forget(read.DeviceID)
	for range recordAttempts {
		en := *read
		en.Failed = &f
		ok, err := s.replaceEnrollment(ctx, en.DeviceID, raw, en)
		if err != nil || ok {
			return err
		}
		cur, curEn, err := s.readEnrollmentRaw(ctx, en.DeviceID)
		if err != nil {
			return err
		}
		if !sameEnrollment(read, curEn) {
			return nil
		}
		raw, read = cur, curEn
	}
	return fmt.Errorf("device: the enrollment of device %q changed %d times while a refused posture was recorded", read.DeviceID, recordAttempts)
}

// enrollmentChanged is the denial of an attestation whose result could not
// be recorded because the enrollment it verified (read) changed meanwhile.
func (s *Service) enrollmentChanged(ctx context.Context, read *enrollment) error {
	cur, err := s.readEnrollment(ctx, read.DeviceID)
	if err != nil {
		return err
	}
	if sameEnrollment(read, cur) {
		return newError(ReasonNotVerified, fmt.Sprintf("another attestation of device %q finished first: run the command again", read.DeviceID), nil)
	}
	return newError(ReasonNotEnrolled, fmt.Sprintf("device %q was enrolled again (or its enrollment ended) during the attestation", read.DeviceID), nil)
}

// Cancel abandons an enrollment or attestation challenge because the agent's
// user declined the session it would bind (CodeSession). The challenge is
// consumed; for a code of a browser session the page learns that the code
// was refused on the device (code state failed, reason device-not-verified),
// while whatever was bound to that session before stays as it was. The
// refusal is audited (device.enroll or device.bind, denied) with the session's
// user: a code that its recipient refused to use is worth a look.
func (s *Service) Cancel(ctx context.Context, req CancelRequest) (*Result, error) {
	if !validChallengeID(req.ChallengeID) {
		return nil, badf("challenge_id: expected 32 lowercase hex digits")
	}
	var ch challenge
	if err := s.takeJSON(ctx, keyChallenge+req.ChallengeID, &ch); errors.Is(err, store.ErrNotFound) {
		return nil, newError(ReasonNotVerified, "the challenge is unknown, already used or expired", nil)
	} else if err != nil {
		return nil, fmt.Errorf("device: read challenge: %w", err)
	}
	action := ActionAttest
	switch ch.Kind {
	case PurposeEnroll:
		action = ActionEnroll
	case AttestVerify:
		action = ActionBind
	}
	const msg = "the code was refused on the device: its user did not confirm this browser session"
	s.emit(ctx, AuditEvent{Action: action, Outcome: OutcomeDenied, DeviceID: ch.DeviceID, Email: ch.Email,
		Reason: ReasonNotVerified, Detail: "declined on the device"})
	if ch.SessionHash != "" && ch.CodeHash != "" {
		st := CodeState{State: CodeFailed, DeviceID: ch.DeviceID, Reason: ReasonNotVerified, Message: msg, sessionHash: ch.SessionHash}
		if err := s.setCodeState(ctx, ch.CodeHash, st); err != nil {
			return nil, err
		}
	}
	return &Result{DeviceID: ch.DeviceID, Message: "cancelled: nothing was enrolled or bound"}, nil
}

// bind records a verified device for the session of the code (if any) and
// marks the code done.
func (s *Service) bind(ctx context.Context, ch challenge, d InventoryDevice, now time.Time, reboot bool) error {
	if ch.SessionHash == "" {
		return nil
	}
	b := binding{DeviceID: d.ID, Email: ch.Email, AttestedAt: now, Reboot: reboot}
	if err := s.setJSON(ctx, keySession+ch.SessionHash, b, s.cfg.BindingTTL); err != nil {
		return fmt.Errorf("device: store session binding: %w", err)
	}
	if ch.CodeHash != "" {
		if err := s.setCodeState(ctx, ch.CodeHash, CodeState{State: CodeDone, DeviceID: d.ID, sessionHash: ch.SessionHash}); err != nil {
			return err
		}
	}
	s.emit(ctx, AuditEvent{Action: ActionBind, Outcome: OutcomeOK, DeviceID: d.ID, Serial: d.Serial, Email: ch.Email, Reboot: reboot})
	return nil
}

// denyAttest audits a failed attestation; for a verification it marks the
// code failed and replaces the session's binding with the denial, so a
// device whose posture changed stops counting at once.
func (s *Service) denyAttest(ctx context.Context, ch challenge, code codeRecord, err error) error {
	reason, isDenial := ReasonOf(err)
	action := ActionAttest
	if ch.Kind == AttestVerify {
		action = ActionBind
	}
	s.emit(ctx, AuditEvent{Action: action, Outcome: OutcomeDenied, DeviceID: ch.DeviceID, Email: code.Email,
		Reason: reason, Detail: err.Error()})
	if code.SessionHash == "" || ch.CodeHash == "" {
		return err
	}
	msg := err.Error()
	if !isDenial {
		msg = "the gateway could not complete the verification"
	}
	_ = s.setCodeState(ctx, ch.CodeHash, CodeState{State: CodeFailed, DeviceID: ch.DeviceID, Reason: reason, Message: msg, sessionHash: code.SessionHash})
	if isDenial {
		b := binding{DeviceID: ch.DeviceID, Email: code.Email, Denied: reason, Message: strings.TrimPrefix(msg, "device: ")}
		_ = s.setJSON(ctx, keySession+code.SessionHash, b, s.cfg.BindingTTL)
	}
	return err
}
