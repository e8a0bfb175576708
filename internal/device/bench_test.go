package device

import (
	"context"
	"encoding/hex"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// BenchmarkAttestRoundTrip measures the gateway side of one posture
// attestation through the service with the in-memory store: attest/start
// (AK lookup, inventory, nonce stored) and attest/finish (challenge taken,
// quote verified, clock compared, enrollment updated). The quote is signed
// in software inside the loop, as a TPM would sign it outside the gateway;
// that signing is excluded from the timing.
func BenchmarkAttestRoundTrip(b *testing.B) {
	svc, _ := newTestService(&testing.T{})
	ctx := context.Background()
	ak := newSoftAK(b)
	name, _ := tpm2.ObjectName(ak.pub)
	en := enrollment{DeviceID: "d1", AKPublic: tpm2.Marshal(ak.pub), AKName: name.Buffer, Last: &ClockInfo{Clock: 1, Safe: true}}
	if err := svc.setJSON(ctx, keyEnrollment+"d1", en, DefaultEnrollmentTTL); err != nil {
		b.Fatal(err)
	}
	if err := svc.st.Set(ctx, keyByAK+hex.EncodeToString(name.Buffer), []byte("d1"), DefaultEnrollmentTTL); err != nil {
		b.Fatal(err)
	}
	clock := uint64(1)
	b.ReportAllocs()
	for b.Loop() {
		start, err := svc.AttestStart(ctx, AttestStartRequest{Purpose: AttestCheck, AKPublic: en.AKPublic})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		clock++
		q := ak.quote(b, quoteOpts{nonce: start.Nonce, pcrs: start.PCRs, clock: ClockInfo{Clock: clock, Safe: true}})
		b.StartTimer()
		if _, err := svc.AttestFinish(ctx, AttestFinishRequest{ChallengeID: start.ChallengeID, Quote: q}); err != nil {
			b.Fatal(err)
		}
	}
}
