package device

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// Fuzz targets for every parser of agent input: TPM structures (TPMS_ATTEST,
// TPMT_SIGNATURE, TPMT_PUBLIC), EK certificates and the JSON messages.
// Run one with e.g. `go test -fuzz FuzzVerifyQuote ./internal/device/`.

func FuzzVerifyQuote(f *testing.F) {
	ak := newSoftAK(f)
	nonce := bytes.Repeat([]byte{3}, 32)
	q := ak.quote(f, quoteOpts{nonce: nonce, pcrs: []int{0, 7}, clock: ClockInfo{Clock: 5, Safe: true}})
	f.Add(q.Attest, q.Signature, q.PCRs[0].Digest)
	f.Add([]byte{0xff, 0x54, 0x43, 0x47}, []byte{0, 0x18}, []byte{})
	f.Fuzz(func(t *testing.T, attest, sig, pcr0 []byte) {
		in := Quote{Attest: attest, Signature: sig, PCRs: []PCRValue{{Index: 0, Digest: pcr0}, {Index: 7, Digest: make([]byte, 32)}}}
		att, err := VerifyQuote(ak.pub, in, nonce, []int{0, 7})
		if err == nil && (len(att.PCRs) != 2 || !bytes.Equal(att.PCRs[0], pcr0)) {
			t.Fatalf("verified quote with unexpected PCRs %v", att.PCRs)
		}
		_ = parseQuote(in)
	})
}

func FuzzVerifyCertify(f *testing.F) {
	ak := newSoftAK(f)
	key := newSoftAK(f)
	f.Add(tpm2.Marshal(key.pub), []byte{0xff, 0x54, 0x43, 0x47, 0x80, 0x17}, ak.sign(f, []byte("x")))
	f.Fuzz(func(t *testing.T, pub, attest, sig []byte) {
		p, err := unmarshalPublic(pub)
		if err != nil {
			return
		}
		_ = ValidateCertKey(p)
		_ = VerifyCertify(ak.pub, p, attest, sig, []byte("nonce"))
	})
}

func FuzzPublicArea(f *testing.F) {
	f.Add(tpm2.Marshal(newSoftAK(f).pub))
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := EKPublicArea(&k.PublicKey)
	f.Add(tpm2.Marshal(ek))
	f.Add([]byte{0, 1, 0, 0x0b})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := unmarshalPublic(b)
		if err != nil {
			return
		}
		_ = ValidateAK(p)
		_ = ValidateCertKey(p)
		if key, err := publicKey(p); err == nil {
			_, _ = EKPublicArea(key)
			_, _ = EKKeyHash(key)
		}
		_, _ = tpm2.ObjectName(p)
	})
}

func FuzzParseEKCertificate(f *testing.F) {
	f.Add([]byte{0x10, 0x01, 0x00, 0x00, 0x03, 0x30, 0x01, 0x00})
	f.Add([]byte{0x30, 0x82, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseEKCertificate(b)
		if err == nil && c == nil {
			t.Fatal("nil certificate without error")
		}
	})
}

func FuzzEnrollStartMessage(f *testing.F) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := EKPublicArea(&k.PublicKey)
	good, _ := json.Marshal(EnrollStartRequest{Code: "ABCDE-FGHJK", EKPublic: tpm2.Marshal(ek), AKPublic: tpm2.Marshal(newSoftAK(f).pub)})
	f.Add(good)
	f.Add([]byte(`{"code":"ABCDE-FGHJK","ek_cert":"MAA="}`))
	f.Add([]byte(`{"challenge_id":"00000000000000000000000000000000","quote":{"pcrs":[{"index":1}]}}`))
	f.Add([]byte(`{"challenge_id":"0123456789abcdef0123456789abcdef"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var es EnrollStartRequest
		if decodeStrict(body, &es) == nil {
			if p, err := parseEnrollStart(es); err == nil && len(p.ekHash) != 64 {
				t.Fatalf("accepted an enrollment without an EK hash")
			}
		}
		var ef EnrollFinishRequest
		if decodeStrict(body, &ef) == nil {
			_ = parseQuote(ef.Quote)
		}
		var af AttestFinishRequest
		if decodeStrict(body, &af) == nil {
			_ = parseQuote(af.Quote)
		}
		var cr CancelRequest
		if decodeStrict(body, &cr) == nil && validChallengeID(cr.ChallengeID) && len(cr.ChallengeID) != 32 {
			t.Fatalf("accepted challenge ID %q", cr.ChallengeID)
		}
		_ = normalizeCode(string(body))
	})
}

// BenchmarkVerifyQuote measures the gateway's cost of one posture check:
// parsing and verifying an ECDSA P-256 quote over two PCRs, the PCR policy
// and the clock comparison (no store).
func BenchmarkVerifyQuote(b *testing.B) {
	ak := newSoftAK(b)
	nonce := bytes.Repeat([]byte{3}, 32)
	q := ak.quote(b, quoteOpts{nonce: nonce, pcrs: []int{0, 7}, clock: ClockInfo{Clock: 5, Safe: true}})
	policy := PCRPolicy{PCRs: []int{0, 7}, Allowed: []PCRAllowed{{PCR: 7, Values: []string{"0000000000000000000000000000000000000000000000000000000000000000"}}}}
	prev := &ClockInfo{Clock: 1, Safe: true}
	b.ReportAllocs()
	for b.Loop() {
		att, err := VerifyQuote(ak.pub, q, nonce, []int{0, 7})
		if err != nil {
			b.Fatal(err)
		}
		if err := policy.Check(att.PCRs); err != nil {
			b.Fatal(err)
		}
		if _, err := CheckClock(prev, att.Clock); err != nil {
			b.Fatal(err)
		}
	}
}
