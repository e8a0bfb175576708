package device

// A software stand-in for a TPM's signing: it builds TPMS_ATTEST structures
// and signs them with an ECDSA key whose public area has the AK attributes.
// It lets the verifier's unit tests, fuzz seeds and benchmarks run without
// cgo; the end-to-end tests use the real simulator.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

type softAK struct {
	key *ecdsa.PrivateKey
	pub *tpm2.TPMTPublic
}

func newSoftAK(t testing.TB) *softAK {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := &tpm2.TPMTPublic{
		Type: tpm2.TPMAlgECC, NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true,
			UserWithAuth: true, Restricted: true, SignEncrypt: true, NoDA: true},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			CurveID: tpm2.TPMECCNistP256,
			Scheme: tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgECDSA,
				Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256})},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			X: tpm2.TPM2BECCParameter{Buffer: key.X.FillBytes(make([]byte, 32))},
			Y: tpm2.TPM2BECCParameter{Buffer: key.Y.FillBytes(make([]byte, 32))},
		}),
	}
	return &softAK{key: key, pub: pub}
}

func (a *softAK) sign(t testing.TB, msg []byte) []byte {
	t.Helper()
	d := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, a.key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := tpm2.TPMTSignature{SigAlg: tpm2.TPMAlgECDSA, Signature: tpm2.NewTPMUSignature(tpm2.TPMAlgECDSA, &tpm2.TPMSSignatureECC{
		Hash:       tpm2.TPMAlgSHA256,
		SignatureR: tpm2.TPM2BECCParameter{Buffer: r.Bytes()},
		SignatureS: tpm2.TPM2BECCParameter{Buffer: s.Bytes()},
	})}
	return tpm2.Marshal(&sig)
}

type quoteOpts struct {
	nonce  []byte
	pcrs   []int
	values map[int][]byte // default: zeros
	clock  ClockInfo
	typ    tpm2.TPMISTAttest
	hash   tpm2.TPMIAlgHash
	digest []byte // override the PCR digest
}

func (a *softAK) quote(t testing.TB, o quoteOpts) Quote {
	t.Helper()
	if o.typ == 0 {
		o.typ = tpm2.TPMSTAttestQuote
	}
	if o.hash == 0 {
		o.hash = tpm2.TPMAlgSHA256
	}
	var q Quote
	h := sha256.New()
	u := make([]uint, len(o.pcrs))
	for i, p := range o.pcrs {
		v := o.values[p]
		if v == nil {
			v = make([]byte, 32)
		}
		h.Write(v)
		q.PCRs = append(q.PCRs, PCRValue{Index: p, Digest: v})
		u[i] = uint(p)
	}
	digest := h.Sum(nil)
	if o.digest != nil {
		digest = o.digest
	}
	att := tpm2.TPMSAttest{
		Magic:     tpm2.TPMGeneratedValue,
		Type:      o.typ,
		ExtraData: tpm2.TPM2BData{Buffer: o.nonce},
		ClockInfo: tpm2.TPMSClockInfo{Clock: o.clock.Clock, ResetCount: o.clock.ResetCount,
			RestartCount: o.clock.RestartCount, Safe: tpm2.TPMIYesNo(o.clock.Safe)},
		FirmwareVersion: o.clock.FirmwareVersion,
		Attested: tpm2.NewTPMUAttest(tpm2.TPMSTAttestQuote, &tpm2.TPMSQuoteInfo{
			PCRSelect: tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{Hash: o.hash, PCRSelect: tpm2.PCClientCompatible.PCRs(u...)}}},
			PCRDigest: tpm2.TPM2BDigest{Buffer: digest},
		}),
	}
	if o.typ == tpm2.TPMSTAttestCertify {
		att.Attested = tpm2.NewTPMUAttest(tpm2.TPMSTAttestCertify, &tpm2.TPMSCertifyInfo{})
	}
	q.Attest = tpm2.Marshal(&att)
	q.Signature = a.sign(t, q.Attest)
	return q
}

func tpmPublicBytes(a *softAK) []byte { return tpm2.Marshal(a.pub) }
