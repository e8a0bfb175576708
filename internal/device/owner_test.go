package device_test

// Ownership, confirmation and the order of AttestFinish, on the TPM
// simulator through the agent package and the real device API.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/device/agent"
	"github.com/accessgateway/gateway/internal/policy"
)

func unowned(ekHash string) []device.InventoryDevice {
	return []device.InventoryDevice{{ID: "lt-0042", Serial: "PF3ABCD", EKPubSHA256: ekHash, Status: device.StatusActive}}
}

func (e *env) setInventory(owner string) {
	e.t.Helper()
	inv, err := device.BuildInventory([]device.InventoryDevice{{ID: "lt-0042", Serial: "PF3ABCD", Owner: owner, EKPubSHA256: e.id.EKHash, Status: device.StatusActive}}, "", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc.SetInventory(inv)
}

func (e *env) storedEnrollment() map[string]json.RawMessage {
	e.t.Helper()
	b, err := e.st.Get(e.ctx, "device:enrolled:lt-0042")
	if err != nil {
		e.t.Fatal(err)
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(b, &rec); err != nil {
		e.t.Fatal(err)
	}
	return rec
}

func (e *env) auditCount(action, outcome string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, a := range e.audits {
		if a.Action == action && a.Outcome == outcome {
			n++
		}
	}
	return n
}

// A device the inventory gives no owner belongs to the user who enrolled it:
// the owner is stored with the enrollment, binding it to anyone else's
// session is refused (and audited) at verify time, so is a re-enrollment by
// someone else; the inventory's owner, once IT names one, wins.
func TestEnrollmentRecordsOwner(t *testing.T) {
	e := newEnv(t, setup{inv: unowned})
	res, err := e.client.Enroll(e.ctx, e.code(device.PurposeEnroll, session, alice))
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	if res.Owner != alice {
		t.Fatalf("enroll result owner = %q, want %q", res.Owner, alice)
	}
	if got := string(e.storedEnrollment()["owner"]); got != `"`+alice+`"` {
		t.Fatalf("stored owner = %s", got)
	}
	if !slices.ContainsFunc(e.audits, func(a device.AuditEvent) bool {
		return a.Action == device.ActionEnroll && a.Outcome == device.OutcomeOK && strings.Contains(a.Detail, "owner recorded: "+alice)
	}) {
		t.Fatal("the recorded owner is not in the enrollment's audit record")
	}
	ev, err := e.svc.SessionEvidence(e.ctx, session)
	if err != nil || ev.Owner != alice {
		t.Fatalf("evidence: %+v, %v", ev, err)
	}
	// The recorded owner reaches the decision, which compares it with
	// whoever calls (a browser session or a bearer token alike).
	facts := &device.Facts{ID: ev.DeviceID, Trust: ev.Trust, AttestedAt: ev.AttestedAt, Owner: ev.Owner}
	if res := (&device.Requirement{}).Check(facts, &policy.Input{Identity: &policy.Identity{Email: bob}}, e.clock.Now()); res.Reason != device.ReasonOwnerMismatch {
		t.Fatalf("decision for bob on alice's device: %v", res.Reason)
	}

	tests := []struct {
		name     string
		invOwner string
		run      func() error
		want     device.Reason // "" for success
	}{
		{"the owner verifies", "", func() error {
			_, err := e.client.Verify(e.ctx, e.code(device.PurposeVerify, "s-alice-2", "ALICE@example.com"))
			return err
		}, ""},
		{"another user's session is refused", "", func() error {
			_, err := e.client.Verify(e.ctx, e.code(device.PurposeVerify, "s-bob", bob))
			return err
		}, device.ReasonOwnerMismatch},
		{"another user cannot re-enroll it", "", func() error {
			_, err := e.client.Enroll(e.ctx, e.code(device.PurposeEnroll, "s-bob", bob))
			return err
		}, device.ReasonOwnerMismatch},
		{"the owner re-enrolls it", "", func() error {
			_, err := e.client.Enroll(e.ctx, e.code(device.PurposeEnroll, "s-alice-3", alice))
			return err
		}, ""},
		{"IT names bob: bob verifies", bob, func() error {
			_, err := e.client.Verify(e.ctx, e.code(device.PurposeVerify, "s-bob-2", bob))
			return err
		}, ""},
		{"IT names bob: alice's session is refused", bob, func() error {
			_, err := e.client.Verify(e.ctx, e.code(device.PurposeVerify, "s-alice-4", alice))
			return err
		}, device.ReasonOwnerMismatch},
		{"IT names bob: alice's old binding stops counting", bob, func() error {
			// The evidence names bob as the owner; the decision's check
			// refuses alice's request.
			ev, err := e.svc.SessionEvidence(e.ctx, session)
			if err != nil {
				return err
			}
			facts := &device.Facts{ID: ev.DeviceID, Trust: ev.Trust, AttestedAt: ev.AttestedAt, Owner: ev.Owner}
			in := &policy.Input{Identity: &policy.Identity{Email: alice}}
			if res := (&device.Requirement{}).Check(facts, in, e.clock.Now()); !res.Met() {
				return &device.Error{Reason: res.Reason, Msg: "decision"}
			}
			return nil
		}, device.ReasonOwnerMismatch},
		{"IT names bob: bob re-enrolls and becomes the recorded owner", bob, func() error {
			_, err := e.client.Enroll(e.ctx, e.code(device.PurposeEnroll, "s-bob-3", bob))
			return err
		}, ""},
		{"IT removes the owner again: bob, who enrolled last, keeps it", "", func() error {
			_, err := e.client.Verify(e.ctx, e.code(device.PurposeVerify, "s-alice-5", alice))
			return err
		}, device.ReasonOwnerMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.setInventory(tt.invOwner)
			e.clock.Add(time.Minute)
			before := e.auditCount(device.ActionBind, device.OutcomeDenied) + e.auditCount(device.ActionEnroll, device.OutcomeDenied)
			err := tt.run()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("expected success, got %v", err)
				}
				return
			}
			wantReason(t, err, tt.want)
			if strings.Contains(tt.name, "binding stops") {
				return // a request, not a binding: the server audits it
			}
			if after := e.auditCount(device.ActionBind, device.OutcomeDenied) + e.auditCount(device.ActionEnroll, device.OutcomeDenied); after != before+1 {
				t.Fatalf("expected one audited denial, got %d", after-before)
			}
		})
	}
	if !e.hasAudit(device.ActionBind, device.OutcomeDenied, device.ReasonOwnerMismatch) {
		t.Fatal("no audited binding refusal")
	}
}

// An enrollment stored before owners were recorded (no owner, none in the
// inventory) no longer counts: the device must be enrolled again, which
// records its owner. With an inventory owner it keeps working.
func TestEnrollmentWithoutRecordedOwner(t *testing.T) {
	e := newEnv(t, setup{inv: unowned})
	e.enroll()
	rec := e.storedEnrollment()
	delete(rec, "owner")
	b, _ := json.Marshal(rec)
	if err := e.st.Set(e.ctx, "device:enrolled:lt-0042", b, time.Hour); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.SessionEvidence(e.ctx, session)
	wantReason(t, err, device.ReasonNotEnrolled)
	_, err = e.client.Verify(e.ctx, e.code(device.PurposeVerify, session, alice))
	wantReason(t, err, device.ReasonNotEnrolled)
	if !strings.Contains(err.Error(), "enroll it again") {
		t.Fatalf("the message does not say what to do: %v", err)
	}
	e.setInventory(alice)
	if _, err := e.client.Verify(e.ctx, e.code(device.PurposeVerify, session, alice)); err != nil {
		t.Fatalf("verify with an inventory owner: %v", err)
	}
	e.setInventory("")
	if _, err := e.client.Enroll(e.ctx, e.code(device.PurposeEnroll, session, bob)); err != nil {
		t.Fatalf("re-enrollment of a device without a recorded owner: %v", err)
	}
	_, err = e.client.Verify(e.ctx, e.code(device.PurposeVerify, "s-alice", alice))
	wantReason(t, err, device.ReasonOwnerMismatch)
}

// The agent learns whose session a code belongs to before anything is
// stored; when its user declines, nothing is enrolled or bound, the page
// learns of the refusal, and the audit log records it.
func TestConfirmationBeforeBinding(t *testing.T) {
	e := newEnv(t, setup{inv: unowned})
	var asked []agent.Binding
	declineAll := func(_ context.Context, b agent.Binding) error { asked = append(asked, b); return agent.ErrDeclined }

	code := e.code(device.PurposeEnroll, session, alice)
	e.client.Confirm = declineAll
	if _, err := e.client.Enroll(e.ctx, code); !errors.Is(err, agent.ErrDeclined) {
		t.Fatalf("declined enroll: %v", err)
	}
	if len(asked) != 1 || asked[0] != (agent.Binding{Purpose: device.PurposeEnroll, DeviceID: "lt-0042", Email: alice, Gateway: e.srv.URL}) {
		t.Fatalf("asked %+v", asked)
	}
	if _, err := e.st.Get(e.ctx, "device:enrolled:lt-0042"); err == nil {
		t.Fatal("a declined enrollment was stored")
	}
	if st, _ := e.svc.CodeStatus(e.ctx, session, code); st.State != device.CodeFailed || st.Reason != device.ReasonNotVerified {
		t.Fatalf("code state after a decline: %+v", st)
	}
	if !slices.ContainsFunc(e.audits, func(a device.AuditEvent) bool {
		return a.Action == device.ActionEnroll && a.Outcome == device.OutcomeDenied && a.Email == alice && a.Detail == "declined on the device"
	}) {
		t.Fatal("the declined enrollment was not audited")
	}

	e.client.Confirm = nil
	e.enroll()
	e.client.Confirm = declineAll
	asked = nil
	code, _, err := e.svc.IssueCode(e.ctx, device.CodeRequest{Purpose: device.PurposeVerify, SessionID: "s-2", Email: alice, Tool: "Payroll"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Verify(e.ctx, code); !errors.Is(err, agent.ErrDeclined) {
		t.Fatalf("declined verify: %v", err)
	}
	if len(asked) != 1 || asked[0].Email != alice || asked[0].Tool != "Payroll" || asked[0].Purpose != device.PurposeVerify {
		t.Fatalf("asked %+v", asked)
	}
	if _, err := e.svc.SessionEvidence(e.ctx, "s-2"); err == nil {
		t.Fatal("a declined verification bound the session")
	}
	if !e.hasAudit(device.ActionBind, device.OutcomeDenied, device.ReasonNotVerified) {
		t.Fatal("the declined verification was not audited")
	}
	// The session bound by the enrollment is left as it was.
	if _, err := e.svc.SessionEvidence(e.ctx, session); err != nil {
		t.Fatalf("a decline for another code changed this session: %v", err)
	}
	// A cancelled challenge cannot be finished or cancelled again.
	if _, err := e.svc.Cancel(e.ctx, device.CancelRequest{ChallengeID: strings.Repeat("a", 32)}); err == nil {
		t.Fatal("cancelled an unknown challenge")
	}
	// Purposes without a browser session are not asked about.
	asked = nil
	if _, err := e.client.Check(e.ctx); err != nil || len(asked) != 0 {
		t.Fatalf("check: %v, asked %+v", err, asked)
	}
}

// AttestFinish stores and audits success only after every check: a bad
// certify proof leaves the enrollment as it was, issues nothing and is
// audited as a failure only.
func TestAttestFinishChecksCertifyBeforeStoring(t *testing.T) {
	tests := []struct {
		name   string
		mangle func(e *env, start *device.AttestStartResponse, c *device.Certify)
	}{
		{"certify over another nonce", func(e *env, _ *device.AttestStartResponse, c *device.Certify) {
			other, err := e.tpm.CertifyKey(bytes.Repeat([]byte{7}, 32))
			if err != nil {
				e.t.Fatal(err)
			}
			*c = *other
		}},
		{"certify signature altered", func(_ *env, _ *device.AttestStartResponse, c *device.Certify) {
			c.Signature = slices.Clone(c.Signature)
			c.Signature[len(c.Signature)-1] ^= 1
		}},
		{"certify presented for a key outside the TPM", func(e *env, _ *device.AttestStartResponse, c *device.Certify) {
			// The attacker's own software key, dressed in the template's
			// attributes: the TPM certified another name.
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				e.t.Fatal(err)
			}
			pub := agent.CertKeyTemplate
			pub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
				X: tpm2.TPM2BECCParameter{Buffer: k.X.FillBytes(make([]byte, 32))},
				Y: tpm2.TPM2BECCParameter{Buffer: k.Y.FillBytes(make([]byte, 32))},
			})
			c.Public = tpm2.Marshal(&pub)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, setup{})
			e.enroll()
			e.clock.Add(time.Hour)
			before, err := e.st.Get(e.ctx, "device:enrolled:lt-0042")
			if err != nil {
				t.Fatal(err)
			}
			okBefore := e.auditCount(device.ActionAttest, device.OutcomeOK)
			start, err := e.svc.AttestStart(e.ctx, device.AttestStartRequest{Purpose: device.AttestCert, AKPublic: e.id.AKPublic})
			if err != nil {
				t.Fatal(err)
			}
			q, err := e.tpm.Quote(start.Nonce, start.PCRs)
			if err != nil {
				t.Fatal(err)
			}
			c, err := e.tpm.CertifyKey(start.Nonce)
			if err != nil {
				t.Fatal(err)
			}
			tt.mangle(e, start, c)
			res, err := e.svc.AttestFinish(e.ctx, device.AttestFinishRequest{ChallengeID: start.ChallengeID, Quote: q, Certify: c})
			if res != nil || err == nil {
				t.Fatalf("expected a refusal, got %+v, %v", res, err)
			}
			wantReason(t, err, device.ReasonNotVerified)
			after, err := e.st.Get(e.ctx, "device:enrolled:lt-0042")
			if err != nil || !bytes.Equal(before, after) {
				t.Fatalf("the enrollment changed:\nbefore %s\nafter  %s (%v)", before, after, err)
			}
			if n := e.auditCount(device.ActionAttest, device.OutcomeOK); n != okBefore {
				t.Fatalf("attest ok audited %d times for a refused attestation", n-okBefore)
			}
			if n := e.auditCount(device.ActionCertificate, device.OutcomeOK); n != 0 {
				t.Fatal("a certificate was audited")
			}
			if !e.hasAudit(device.ActionAttest, device.OutcomeDenied, "") {
				t.Fatal("the failure was not audited")
			}
			// The same TPM, honestly, still gets its certificate.
			if _, err := e.client.Cert(e.ctx); err != nil {
				t.Fatalf("cert after the refusal: %v", err)
			}
		})
	}
}
