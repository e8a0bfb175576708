package device

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/google/go-tpm/tpm2"
)

// Quote is a TPM2_Quote as the agent sends it.
type Quote struct {
	// Attest is the raw TPMS_ATTEST, exactly the bytes the TPM signed.
	Attest []byte `json:"attest"`
	// Signature is a TPMT_SIGNATURE in TPM wire format.
	Signature []byte `json:"signature"`
	// PCRs are the SHA-256 values of the quoted PCRs (from TPM2_PCR_Read).
	PCRs []PCRValue `json:"pcrs"`
}

// PCRValue is one PCR of the SHA-256 bank.
type PCRValue struct {
	Index  int    `json:"index"`
	Digest []byte `json:"digest"`
}

// ClockInfo is the TPMS_CLOCK_INFO of an attestation, plus the firmware
// version, as recorded for a device between attestations.
type ClockInfo struct {
	Clock           uint64 `json:"clock"`
	ResetCount      uint32 `json:"reset_count"`
	RestartCount    uint32 `json:"restart_count"`
	Safe            bool   `json:"safe"`
	FirmwareVersion uint64 `json:"firmware_version"`
}

// Attested is what a verified quote establishes.
type Attested struct {
	Clock ClockInfo
	PCRs  map[int][]byte
}

// ValidateAK checks that an AK public area describes a restricted signing key
// that never leaves the TPM it was created in: fixedTPM, fixedParent,
// sensitiveDataOrigin, restricted, sign and not decrypt, SHA-256 name, with a
// SHA-256 ECDSA (P-256) or RSASSA (2048+ bits) scheme. It does NOT prove the
// key lives in a particular TPM; credential activation does that.
func ValidateAK(p *tpm2.TPMTPublic) error {
	a := p.ObjectAttributes
	if !a.FixedTPM || !a.FixedParent || !a.SensitiveDataOrigin || !a.Restricted || !a.SignEncrypt || a.Decrypt {
		return fmt.Errorf("device: AK must be fixedTPM|fixedParent|sensitiveDataOrigin|restricted|sign and not decrypt, got %s", attrString(a))
	}
	return validateSigningKey(p)
}

// ValidateCertKey checks the public area of a key to put in a device
// certificate: a TPM-resident (fixedTPM, fixedParent, sensitiveDataOrigin)
// unrestricted signing key that cannot decrypt.
func ValidateCertKey(p *tpm2.TPMTPublic) error {
	a := p.ObjectAttributes
	if !a.FixedTPM || !a.FixedParent || !a.SensitiveDataOrigin || a.Restricted || !a.SignEncrypt || a.Decrypt {
		return fmt.Errorf("device: certificate key must be fixedTPM|fixedParent|sensitiveDataOrigin|sign, not restricted or decrypt, got %s", attrString(a))
	}
	return validateSigningKey(p)
}

func validateSigningKey(p *tpm2.TPMTPublic) error {
	if p.NameAlg != tpm2.TPMAlgSHA256 {
		return fmt.Errorf("device: expected key name algorithm SHA-256, got %v", p.NameAlg)
	}
	switch p.Type {
	case tpm2.TPMAlgECC:
		parms, err := p.Parameters.ECCDetail()
		if err != nil {
			return fmt.Errorf("device: ECC key parameters: %w", err)
		}
		if parms.CurveID != tpm2.TPMECCNistP256 {
			return fmt.Errorf("device: expected curve NIST P-256, got %v", parms.CurveID)
		}
		if parms.Scheme.Scheme != tpm2.TPMAlgECDSA {
			return fmt.Errorf("device: expected scheme ECDSA, got %v", parms.Scheme.Scheme)
		}
		d, err := parms.Scheme.Details.ECDSA()
		if err != nil || d.HashAlg != tpm2.TPMAlgSHA256 {
			return errors.New("device: expected ECDSA with SHA-256")
		}
	case tpm2.TPMAlgRSA:
		parms, err := p.Parameters.RSADetail()
		if err != nil {
			return fmt.Errorf("device: RSA key parameters: %w", err)
		}
		if parms.KeyBits < 2048 {
			return fmt.Errorf("device: expected an RSA key of at least 2048 bits, got %d", parms.KeyBits)
		}
		if parms.Scheme.Scheme != tpm2.TPMAlgRSASSA {
			return fmt.Errorf("device: expected scheme RSASSA, got %v", parms.Scheme.Scheme)
		}
		d, err := parms.Scheme.Details.RSASSA()
		if err != nil || d.HashAlg != tpm2.TPMAlgSHA256 {
			return errors.New("device: expected RSASSA with SHA-256")
		}
	default:
		return fmt.Errorf("device: expected an ECC or RSA key, got type %v", p.Type)
	}
	if _, err := publicKey(p); err != nil {
		return err
	}
	return nil
}

func attrString(a tpm2.TPMAObject) string {
	var s []string
	for _, f := range []struct {
		on   bool
		name string
	}{{a.FixedTPM, "fixedTPM"}, {a.FixedParent, "fixedParent"}, {a.SensitiveDataOrigin, "sensitiveDataOrigin"},
		{a.Restricted, "restricted"}, {a.SignEncrypt, "sign"}, {a.Decrypt, "decrypt"}} {
		if f.on {
			s = append(s, f.name)
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "|")
}

// verifySignature checks a TPMT_SIGNATURE by key over msg (SHA-256 only).
func verifySignature(key *tpm2.TPMTPublic, msg, sigBytes []byte) error {
	if len(sigBytes) == 0 {
		return errors.New("device: empty signature")
	}
	sig, err := tpm2.Unmarshal[tpm2.TPMTSignature](sigBytes)
	if err != nil {
		return fmt.Errorf("device: expected a TPMT_SIGNATURE: %w", err)
	}
	if n := len(tpm2.Marshal(sig)); n != len(sigBytes) {
		return fmt.Errorf("device: expected a TPMT_SIGNATURE of %d bytes, got %d", n, len(sigBytes))
	}
	pub, err := publicKey(key)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(msg)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if sig.SigAlg != tpm2.TPMAlgECDSA {
			return fmt.Errorf("device: expected an ECDSA signature, got %v", sig.SigAlg)
		}
		e, err := sig.Signature.ECDSA()
		if err != nil {
			return fmt.Errorf("device: ECDSA signature: %w", err)
		}
		if e.Hash != tpm2.TPMAlgSHA256 {
			return fmt.Errorf("device: expected a SHA-256 signature, got %v", e.Hash)
		}
		if k.Curve != elliptic.P256() {
			return errors.New("device: expected a P-256 key")
		}
		r := new(big.Int).SetBytes(e.SignatureR.Buffer)
		s := new(big.Int).SetBytes(e.SignatureS.Buffer)
		if !ecdsa.Verify(k, digest[:], r, s) {
			return errors.New("device: bad signature: it was not made by the enrolled key over these bytes")
		}
	case *rsa.PublicKey:
		if sig.SigAlg != tpm2.TPMAlgRSASSA {
			return fmt.Errorf("device: expected an RSASSA signature, got %v", sig.SigAlg)
		}
		r, err := sig.Signature.RSASSA()
		if err != nil {
			return fmt.Errorf("device: RSASSA signature: %w", err)
		}
		if r.Hash != tpm2.TPMAlgSHA256 {
			return fmt.Errorf("device: expected a SHA-256 signature, got %v", r.Hash)
		}
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], r.Sig.Buffer); err != nil {
			return errors.New("device: bad signature: it was not made by the enrolled key over these bytes")
		}
	}
	return nil
}

// parseAttest parses a TPMS_ATTEST and checks its magic, type and extraData
// (constant time).
func parseAttest(b []byte, typ tpm2.TPMISTAttest, nonce []byte) (*tpm2.TPMSAttest, error) {
	att, err := tpm2.Unmarshal[tpm2.TPMSAttest](b)
	if err != nil {
		return nil, fmt.Errorf("device: expected a TPMS_ATTEST: %w", err)
	}
	if err := att.Magic.Check(); err != nil {
		return nil, fmt.Errorf("device: attestation not generated by a TPM: %w", err)
	}
	if att.Type != typ {
		return nil, fmt.Errorf("device: expected attestation type %v, got %v", typ, att.Type)
	}
	if len(nonce) == 0 || subtle.ConstantTimeCompare(att.ExtraData.Buffer, nonce) != 1 {
		return nil, errors.New("device: attestation is over another nonce than the one issued")
	}
	return att, nil
}

// VerifyQuote verifies a quote by the AK over nonce covering exactly pcrs in
// the SHA-256 bank: the signature by ak over the raw TPMS_ATTEST, the magic,
// the type, extraData == nonce, the PCR selection, and the PCR digest over the
// values the agent sent. It does NOT judge the PCR values (see
// PCRPolicy.Check) nor the clock (see CheckClock).
func VerifyQuote(ak *tpm2.TPMTPublic, q Quote, nonce []byte, pcrs []int) (*Attested, error) {
	if err := verifySignature(ak, q.Attest, q.Signature); err != nil {
		return nil, err
	}
	att, err := parseAttest(q.Attest, tpm2.TPMSTAttestQuote, nonce)
	if err != nil {
		return nil, err
	}
	qi, err := att.Attested.Quote()
	if err != nil {
		return nil, fmt.Errorf("device: quote info: %w", err)
	}
	got, err := selectedPCRs(qi.PCRSelect)
	if err != nil {
		return nil, err
	}
	want := slices.Sorted(slices.Values(pcrs))
	if !slices.Equal(got, want) {
		return nil, fmt.Errorf("device: expected a quote over SHA-256 PCRs %v, got PCRs %v", want, got)
	}
	values := make(map[int][]byte, len(q.PCRs))
	for _, v := range q.PCRs {
		if len(v.Digest) != sha256.Size {
			return nil, fmt.Errorf("device: PCR %d: expected a 32-byte SHA-256 value, got %d bytes", v.Index, len(v.Digest))
		}
		if _, dup := values[v.Index]; dup {
			return nil, fmt.Errorf("device: PCR %d sent twice", v.Index)
		}
		values[v.Index] = v.Digest
	}
	h := sha256.New()
	for _, i := range want {
		v, ok := values[i]
		if !ok {
			return nil, fmt.Errorf("device: value of quoted PCR %d missing", i)
		}
		h.Write(v)
	}
	if len(values) != len(want) {
		return nil, fmt.Errorf("device: expected values for PCRs %v, got %d values", want, len(values))
	}
	if subtle.ConstantTimeCompare(h.Sum(nil), qi.PCRDigest.Buffer) != 1 {
		return nil, errors.New("device: PCR values do not match the quoted PCR digest")
	}
	return &Attested{Clock: clockInfo(att), PCRs: values}, nil
}

// VerifyCertify verifies a TPM2_Certify by the AK over nonce: the signature,
// magic, type, extraData == nonce, and that the certified name is the name of
// key. With ValidateCertKey this proves key lives in the same TPM as the AK.
func VerifyCertify(ak, key *tpm2.TPMTPublic, attest, sig, nonce []byte) error {
	if err := verifySignature(ak, attest, sig); err != nil {
		return err
	}
	att, err := parseAttest(attest, tpm2.TPMSTAttestCertify, nonce)
	if err != nil {
		return err
	}
	ci, err := att.Attested.Certify()
	if err != nil {
		return fmt.Errorf("device: certify info: %w", err)
	}
	name, err := tpm2.ObjectName(key)
	if err != nil {
		return fmt.Errorf("device: certified key name: %w", err)
	}
	if !bytes.Equal(ci.Name.Buffer, name.Buffer) {
		return errors.New("device: the TPM certified another key than the one presented")
	}
	return nil
}

func clockInfo(att *tpm2.TPMSAttest) ClockInfo {
	return ClockInfo{
		Clock:           att.ClockInfo.Clock,
		ResetCount:      att.ClockInfo.ResetCount,
		RestartCount:    att.ClockInfo.RestartCount,
		Safe:            att.ClockInfo.Safe == tpm2.TPMIYesNo(true),
		FirmwareVersion: att.FirmwareVersion,
	}
}

// selectedPCRs returns the PCR indexes selected in the SHA-256 bank and fails
// on any other bank.
func selectedPCRs(sel tpm2.TPMLPCRSelection) ([]int, error) {
	if len(sel.PCRSelections) != 1 {
		return nil, fmt.Errorf("device: expected one PCR bank (SHA-256) in the quote, got %d", len(sel.PCRSelections))
	}
	s := sel.PCRSelections[0]
	if s.Hash != tpm2.TPMAlgSHA256 {
		return nil, fmt.Errorf("device: expected the SHA-256 PCR bank, got %v", s.Hash)
	}
	var out []int
	for byteIdx, b := range s.PCRSelect {
		for bit := 0; bit < 8; bit++ {
			if b&(1<<bit) != 0 {
				out = append(out, byteIdx*8+bit)
			}
		}
	}
	return out, nil
}

// CheckClock compares an attestation's clock with the device's previous one
// (nil for the first): the TPM must report safe; resetCount and restartCount
// never go back; when neither changed, clock must advance. It reports a
// reboot when resetCount went up. The AK is in the endorsement hierarchy, so
// the counters are not obfuscated and compare plainly; values from different
// AKs must not be compared.
func CheckClock(prev *ClockInfo, cur ClockInfo) (reboot bool, err error) {
	if !cur.Safe {
		return false, errors.New("device: TPM clock is not safe (a higher clock value may have been reported before)")
	}
	if prev == nil {
		return false, nil
	}
	switch {
	case cur.ResetCount < prev.ResetCount:
		return false, fmt.Errorf("device: TPM reset count went back: expected >= %d, got %d", prev.ResetCount, cur.ResetCount)
	case cur.ResetCount > prev.ResetCount:
		return true, nil
	case cur.RestartCount < prev.RestartCount:
		return false, fmt.Errorf("device: TPM restart count went back: expected >= %d, got %d", prev.RestartCount, cur.RestartCount)
	case cur.RestartCount > prev.RestartCount:
		return false, nil
	case cur.Clock <= prev.Clock:
		return false, fmt.Errorf("device: TPM clock did not advance without a reset: expected > %d, got %d", prev.Clock, cur.Clock)
	}
	return false, nil
}

// Check judges quoted PCR values against the policy: every PCR with an
// Allowed entry must have one of its values.
func (p PCRPolicy) Check(values map[int][]byte) error {
	for _, a := range p.Allowed {
		v, ok := values[a.PCR]
		if !ok {
			return newError(ReasonPCRMismatch, fmt.Sprintf("PCR %d was not quoted", a.PCR), nil)
		}
		match := 0
		for _, s := range a.Values {
			want, err := parseDigest(s)
			if err != nil {
				return err
			}
			match |= subtle.ConstantTimeCompare(v, want)
		}
		if match != 1 {
			return newError(ReasonPCRMismatch, fmt.Sprintf("PCR %d is %x, not one of the allowed values", a.PCR, v), nil)
		}
	}
	return nil
}
