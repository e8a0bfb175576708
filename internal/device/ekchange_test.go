package device_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/device/agent"
)

// otherEK stands for the EK of another TPM (a replaced motherboard, or a
// registration IT corrected).
func otherEK(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func (e *env) setInventoryEK(ekHash string) {
	e.t.Helper()
	inv, err := device.BuildInventory([]device.InventoryDevice{{ID: "lt-0042", Serial: "PF3ABCD", Owner: alice, EKPubSHA256: ekHash, Status: device.StatusActive}}, "", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc.SetInventory(inv)
}

// When IT registers another EK for a device (new motherboard, or a wrong
// registration corrected), the TPM enrolled under the old EK is no longer
// that device: its session bindings, its certificates and its attestations
// are refused at once, although the enrollment it made is still stored.
func TestInventoryEKChangeEndsTheOldTPMsEnrollment(t *testing.T) {
	e := newEnv(t, setup{})
	e.enroll()
	res, err := e.client.Cert(e.ctx)
	if err != nil {
		t.Fatalf("cert: %v", err)
	}
	leaf := parsePEMCerts(t, res.CertificatePEM)[0]

	e.setInventoryEK(otherEK(t))

	_, err = e.svc.SessionEvidence(e.ctx, session)
	wantReason(t, err, device.ReasonNotEnrolled)
	_, err = e.svc.CertEvidence(e.ctx, leaf)
	wantReason(t, err, device.ReasonNotEnrolled)
	_, err = e.client.Verify(e.ctx, e.code(device.PurposeVerify, "session-alice-2", alice))
	wantReason(t, err, device.ReasonNotEnrolled)
	if _, err := e.svc.SessionEvidence(e.ctx, "session-alice-2"); err == nil {
		t.Fatal("expected no device bound to the second session")
	}
	_, err = e.client.Check(e.ctx)
	wantReason(t, err, device.ReasonNotEnrolled)
	_, err = e.client.Cert(e.ctx)
	wantReason(t, err, device.ReasonNotEnrolled)

	// Registered again, the TPM is the device again.
	e.setInventoryEK(e.id.EKHash)
	if _, err := e.svc.SessionEvidence(e.ctx, session); err != nil {
		t.Fatalf("evidence with the EK registered again: %v", err)
	}
}

// An enrollment started for the EK the inventory named then does not finish
// when the inventory names another EK for the device in between.
func TestEnrollmentRefusedWhenTheInventoryEKChangesMeanwhile(t *testing.T) {
	e := newEnv(t, setup{})
	e.client.Confirm = func(context.Context, agent.Binding) error {
		e.setInventoryEK(otherEK(t))
		return nil
	}
	_, err := e.client.Enroll(e.ctx, e.code(device.PurposeEnroll, session, alice))
	wantReason(t, err, device.ReasonNotEnrolled)
	if _, err := e.st.Get(e.ctx, "device:enrolled:lt-0042"); err == nil {
		t.Fatal("expected no enrollment stored")
	}
	if _, err := e.svc.SessionEvidence(e.ctx, session); err == nil {
		t.Fatal("expected no device bound to the session")
	}
}
