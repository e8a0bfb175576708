package device_test

// Attestations racing an enrollment, or another attestation, of the same
// device, on the TPM simulator.

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/store"
)

// interleaveStore runs a function once, when armed, right after the next
// read of one key: the reader goes on with what it read while the function
// has changed the store (a request on another replica finishing in between,
// made certain).
type interleaveStore struct {
	store.Store
	key string

	mu sync.Mutex
	fn func()
	// gaps counts the deletions of key that a write was to follow: a
	// moment in which the device read as not enrolled.
	gaps int
}

func (s *interleaveStore) CompareAndDelete(ctx context.Context, key string, value []byte) (bool, error) {
	ok, err := s.Store.CompareAndDelete(ctx, key, value)
	if ok && key == s.key {
		s.mu.Lock()
		s.gaps++
		s.mu.Unlock()
	}
	return ok, err
}

func (s *interleaveStore) arm(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fn = fn
}

func (s *interleaveStore) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.Store.Get(ctx, key)
	if key == s.key {
		s.mu.Lock()
		fn := s.fn
		s.fn = nil
		s.mu.Unlock()
		if fn != nil {
			fn()
		}
	}
	return b, err
}

// raceEnv is a service on an interleaveStore over e's store, auditing into e.
type raceEnv struct {
	*env
	is  *interleaveStore
	svc *device.Service
}

func newRaceEnv(t *testing.T, s setup) *raceEnv {
	t.Helper()
	e := newEnv(t, s)
	if s.inv == nil {
		s.inv = defaultInventory
	}
	inv, err := device.BuildInventory(s.inv(e.id.EKHash), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	is := &interleaveStore{Store: e.st, key: "device:enrolled:lt-0042"}
	svc, err := device.NewService(s.cfg, is, nil, device.Options{
		Now: e.clock.Now, Inventory: inv,
		Audit: func(_ context.Context, a device.AuditEvent) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.audits = append(e.audits, a)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &raceEnv{env: e, is: is, svc: svc}
}

func (r *raceEnv) setOwner(owner string) {
	r.t.Helper()
	inv, err := device.BuildInventory([]device.InventoryDevice{{ID: "lt-0042", Serial: "PF3ABCD", Owner: owner, EKPubSHA256: r.id.EKHash, Status: device.StatusActive}}, "", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.svc.SetInventory(inv)
}

// startEnroll runs an enrollment of the simulator's TPM for sessionID up to
// the request that finishes it.
func (r *raceEnv) startEnroll(sessionID, email string) device.EnrollFinishRequest {
	r.t.Helper()
	code, _, err := r.svc.NewCode(r.ctx, device.PurposeEnroll, sessionID, email)
	if err != nil {
		r.t.Fatal(err)
	}
	start, err := r.svc.EnrollStart(r.ctx, device.EnrollStartRequest{Code: code, EKPublic: r.id.EKPublic, EKCert: r.id.EKCert, AKPublic: r.id.AKPublic})
	if err != nil {
		r.t.Fatalf("enroll start for %s: %v", email, err)
	}
	secret, err := r.tpm.ActivateCredential(start.Credential, start.EncryptedSecret)
	if err != nil {
		r.t.Fatal(err)
	}
	q, err := r.tpm.Quote(start.Nonce, start.PCRs)
	if err != nil {
		r.t.Fatal(err)
	}
	return device.EnrollFinishRequest{ChallengeID: start.ChallengeID, Secret: secret, Quote: q}
}

func (r *raceEnv) enrollAs(sessionID, email string) {
	r.t.Helper()
	if _, err := r.svc.EnrollFinish(r.ctx, r.startEnroll(sessionID, email)); err != nil {
		r.t.Fatalf("enroll as %s: %v", email, err)
	}
}

// startAttest runs an attestation (purpose check, or verify for sessionID)
// up to the request that finishes it.
func (r *raceEnv) startAttest(sessionID, email string) device.AttestFinishRequest {
	r.t.Helper()
	req := device.AttestStartRequest{Purpose: device.AttestCheck, AKPublic: r.id.AKPublic}
	if sessionID != "" {
		code, _, err := r.svc.NewCode(r.ctx, device.PurposeVerify, sessionID, email)
		if err != nil {
			r.t.Fatal(err)
		}
		req.Purpose, req.Code = device.AttestVerify, code
	}
	start, err := r.svc.AttestStart(r.ctx, req)
	if err != nil {
		r.t.Fatalf("attest start: %v", err)
	}
	q, err := r.tpm.Quote(start.Nonce, start.PCRs)
	if err != nil {
		r.t.Fatal(err)
	}
	return device.AttestFinishRequest{ChallengeID: start.ChallengeID, Quote: q}
}

// stored is the device's enrollment as stored.
func (r *raceEnv) stored() (owner string, enrolledAt time.Time, last *device.ClockInfo, failed bool) {
	r.t.Helper()
	rec := r.storedEnrollment()
	var en struct {
		Owner      string            `json:"owner"`
		EnrolledAt time.Time         `json:"enrolled_at"`
		Last       *device.ClockInfo `json:"last_clock"`
	}
	b, _ := json.Marshal(rec)
	if err := json.Unmarshal(b, &en); err != nil {
		r.t.Fatal(err)
	}
	_, failed = rec["failed"]
	return en.Owner, en.EnrolledAt, en.Last, failed
}

func (r *raceEnv) extendPCR7() {
	r.t.Helper()
	if _, err := (tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(7), Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: make([]byte, 32)}}},
	}).Execute(r.tpm.Transport()); err != nil {
		r.t.Fatal(err)
	}
}

// An attestation updates only the very enrollment it verified: when the
// device is enrolled again (by its new owner, or by the same one) while an
// attestation is finishing, the attestation writes nothing back over the new
// enrollment — neither the old owner nor the old enrollment date — binds no
// session, and is refused and audited. A refused posture is recorded on the
// enrollment the quote was judged against, and on no other.
func TestAttestationRacingEnrollment(t *testing.T) {
	strictPCR := device.Config{PCRPolicy: device.PCRPolicy{PCRs: []int{0, 7},
		Allowed: []device.PCRAllowed{{PCR: 7, Values: []string{zeroPCR}}}}}

	t.Run("check while the new owner enrolls", func(t *testing.T) {
		r := newRaceEnv(t, setup{inv: unowned})
		r.enrollAs("s-alice", alice)
		r.clock.Add(time.Hour)
		r.setOwner(bob) // IT reassigns the device; bob enrolls it
		enroll := r.startEnroll("s-bob", bob)
		attest := r.startAttest("", "")
		r.is.arm(func() {
			if _, err := r.svc.EnrollFinish(r.ctx, enroll); err != nil {
				t.Errorf("bob's enrollment: %v", err)
			}
		})
		res, err := r.svc.AttestFinish(r.ctx, attest)
		if err == nil {
			t.Fatalf("the attestation of the replaced enrollment succeeded: %+v", res)
		}
		wantReason(t, err, device.ReasonNotEnrolled)
		if owner, at, _, _ := r.stored(); owner != bob || !at.Equal(r.clock.Now()) {
			t.Fatalf("stored enrollment: owner %q enrolled at %s, want %q at %s", owner, at, bob, r.clock.Now())
		}
		if !r.hasAudit(device.ActionAttest, device.OutcomeDenied, device.ReasonNotEnrolled) {
			t.Fatalf("the refused attestation was not audited: %+v", r.audits)
		}
		// IT removes the inventory owner again: bob stays the owner.
		r.setOwner("")
		r.clock.Add(time.Minute) // past the enrollment cache
		if ev, err := r.svc.SessionEvidence(r.ctx, "s-bob"); err != nil || ev.Owner != bob {
			t.Fatalf("bob's session: %+v, %v", ev, err)
		}
	})

	t.Run("verify while the owner enrolls again", func(t *testing.T) {
		r := newRaceEnv(t, setup{})
		r.enrollAs("s-first", alice)
		r.clock.Add(time.Hour)
		enroll := r.startEnroll("s-again", alice)
		attest := r.startAttest("s-verify", alice)
		r.is.arm(func() {
			if _, err := r.svc.EnrollFinish(r.ctx, enroll); err != nil {
				t.Errorf("the second enrollment: %v", err)
			}
		})
		okBefore := r.auditCount(device.ActionBind, device.OutcomeOK)
		res, err := r.svc.AttestFinish(r.ctx, attest)
		if err == nil {
			t.Fatalf("the attestation of the replaced enrollment succeeded: %+v", res)
		}
		wantReason(t, err, device.ReasonNotEnrolled)
		if _, at, _, _ := r.stored(); !at.Equal(r.clock.Now()) {
			t.Fatalf("stored enrollment date %s, want the second enrollment's %s", at, r.clock.Now())
		}
		if _, err := r.svc.SessionEvidence(r.ctx, "s-verify"); err == nil {
			t.Fatal("the refused attestation bound its session")
		}
		// One bind: the second enrollment's own session.
		if n := r.auditCount(device.ActionBind, device.OutcomeOK) - okBefore; n != 1 {
			t.Fatalf("%d binds audited, want 1 (the enrollment's)", n)
		}
		if !r.hasAudit(device.ActionBind, device.OutcomeDenied, device.ReasonNotEnrolled) {
			t.Fatalf("the refused verification was not audited: %+v", r.audits)
		}
	})

	t.Run("refused posture while the new owner enrolls", func(t *testing.T) {
		r := newRaceEnv(t, setup{inv: unowned, cfg: strictPCR})
		r.enrollAs("s-alice", alice)
		r.clock.Add(time.Hour)
		r.setOwner(bob)
		enroll := r.startEnroll("s-bob", bob) // quoted before the change
		r.extendPCR7()
		attest := r.startAttest("", "")
		r.is.arm(func() {
			if _, err := r.svc.EnrollFinish(r.ctx, enroll); err != nil {
				t.Errorf("bob's enrollment: %v", err)
			}
		})
		_, err := r.svc.AttestFinish(r.ctx, attest)
		wantReason(t, err, device.ReasonPCRMismatch)
		if owner, at, _, failed := r.stored(); owner != bob || !at.Equal(r.clock.Now()) || failed {
			t.Fatalf("stored enrollment: owner %q enrolled at %s failed %v, want %q at %s, not failed", owner, at, failed, bob, r.clock.Now())
		}
	})

	t.Run("refused posture while a passing attestation finishes", func(t *testing.T) {
		r := newRaceEnv(t, setup{cfg: strictPCR})
		r.enrollAs("s-alice", alice)
		_, _, enrolled, _ := r.stored()
		r.clock.Add(time.Hour)
		pass := r.startAttest("", "")
		r.extendPCR7()
		refused := r.startAttest("", "")
		var passed *device.Result
		r.is.arm(func() {
			var err error
			if passed, err = r.svc.AttestFinish(r.ctx, pass); err != nil {
				t.Errorf("the passing attestation: %v", err)
			}
		})
		_, err := r.svc.AttestFinish(r.ctx, refused)
		wantReason(t, err, device.ReasonPCRMismatch)
		// The refusal is recorded (fail closed), on the record the passing
		// attestation wrote, which is not lost.
		_, _, last, failed := r.stored()
		if !failed {
			t.Fatal("the refused posture was not recorded")
		}
		if passed == nil || last == nil || last.Clock <= enrolled.Clock {
			t.Fatalf("the passing attestation's clock was lost: passed %+v, last clock %+v, enrolled with %+v", passed, last, enrolled)
		}
		r.clock.Add(time.Minute)
		_, err = r.svc.SessionEvidence(r.ctx, "s-alice")
		wantReason(t, err, device.ReasonPCRMismatch)
	})

	t.Run("two attestations at once", func(t *testing.T) {
		r := newRaceEnv(t, setup{})
		r.enrollAs("s-alice", alice)
		r.clock.Add(time.Hour)
		first := r.startAttest("", "")
		second := r.startAttest("s-verify", alice)
		r.is.arm(func() {
			if _, err := r.svc.AttestFinish(r.ctx, first); err != nil {
				t.Errorf("the first attestation: %v", err)
			}
		})
		_, err := r.svc.AttestFinish(r.ctx, second)
		wantReason(t, err, device.ReasonNotVerified)
		if n := r.auditCount(device.ActionAttest, device.OutcomeOK); n != 1 {
			t.Fatalf("%d attestations audited ok, want 1", n)
		}
		if _, err := r.svc.SessionEvidence(r.ctx, "s-verify"); err == nil {
			t.Fatal("the refused attestation bound its session")
		}
	})
}

// Enrolling a device again replaces its enrollment in one step: at no
// moment does it read as not enrolled (another user's enrollment finishing
// then would pass the owner check).
func TestEnrollAgainLeavesNoGap(t *testing.T) {
	r := newRaceEnv(t, setup{})
	r.enrollAs("s-first", alice)
	r.clock.Add(time.Hour)
	r.enrollAs("s-again", alice)
	if owner, _, _, _ := r.stored(); owner != alice {
		t.Fatalf("stored owner %q, want %q", owner, alice)
	}
	r.is.mu.Lock()
	defer r.is.mu.Unlock()
	if r.is.gaps != 0 {
		t.Fatalf("the enrollment was deleted %d times before being written again", r.is.gaps)
	}
}
