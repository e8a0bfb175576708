package device

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/google/go-tpm/tpm2"
)

// oidSAN is the subjectAltName extension. TCG EK certificates mark it
// critical and fill it with a directoryName of TPM manufacturer, model and
// version attributes, which Go's x509 does not understand.
var oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}

// EKRoots holds the TPM manufacturers' CA certificates that EK certificates
// must chain to. A nil or empty *EKRoots verifies nothing: every Verify fails.
type EKRoots struct {
	roots, intermediates *x509.CertPool
	n                    int
}

// LoadEKRoots reads PEM (or DER) certificates from files. Self-signed
// certificates become roots, the others intermediates.
func LoadEKRoots(files []string) (*EKRoots, error) {
	r := &EKRoots{roots: x509.NewCertPool(), intermediates: x509.NewCertPool()}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("device: read EK CA file: %w", err)
		}
		certs, err := parseCerts(b)
		if err != nil {
			return nil, fmt.Errorf("device: EK CA file %s: %w", f, err)
		}
		for _, c := range certs {
			r.Add(c)
		}
	}
	return r, nil
}

// Add adds a CA certificate: a root when self-signed, else an intermediate.
func (r *EKRoots) Add(c *x509.Certificate) {
	if bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil {
		r.roots.AddCert(c)
	} else {
		r.intermediates.AddCert(c)
	}
	r.n++
}

// Verify checks that cert chains to a configured root. The TCG-specific
// critical subjectAltName is accepted (and only that extension), and any
// extended key usage is allowed since the EK certificate EKU
// (2.23.133.8.1) is unknown to Go. Validity is checked at the current time;
// revocation is NOT checked.
func (r *EKRoots) Verify(cert *x509.Certificate) error {
	if r == nil || r.n == 0 {
		return errors.New("device: no EK CA configured (ek_ca_files) to verify an EK certificate against")
	}
	c := *cert
	c.UnhandledCriticalExtensions = slices.DeleteFunc(slices.Clone(c.UnhandledCriticalExtensions),
		func(o asn1.ObjectIdentifier) bool { return o.Equal(oidSAN) })
	// As of the certificate's issuance: it says the TPM was made by its
	// manufacturer, which stays true after its notAfter (EK certificates
	// stay in TPMs for the device's life; the TCG EK Credential Profile
	// suggests no expiry). The chain must have been valid then.
	if _, err := c.Verify(x509.VerifyOptions{
		Roots:         r.roots,
		Intermediates: r.intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		CurrentTime:   c.NotBefore,
	}); err != nil {
		return fmt.Errorf("device: EK certificate %q does not chain to a configured EK CA: %w", cert.Subject.String(), err)
	}
	return nil
}

// ParseEKCertificate parses an EK certificate as read from TPM NV memory:
// DER, optionally behind the TCG NV header (0x10 0x01 0x00 len) and followed
// by padding.
func ParseEKCertificate(b []byte) (*x509.Certificate, error) {
	if len(b) > 5 && b[0] == 0x10 && b[1] == 0x01 && b[2] == 0x00 {
		n := int(binary.BigEndian.Uint16(b[3:5]))
		if 5+n > len(b) {
			return nil, fmt.Errorf("device: EK certificate NV header says %d bytes, got %d", n, len(b)-5)
		}
		b = b[5 : 5+n]
	}
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("device: EK certificate: expected DER, got %w", err)
	}
	cert, err := x509.ParseCertificate(raw.FullBytes)
	if err != nil {
		return nil, fmt.Errorf("device: parse EK certificate: %w", err)
	}
	return cert, nil
}

func pemOrDER(b []byte) []byte {
	if p, _ := pem.Decode(b); p != nil {
		return p.Bytes
	}
	return b
}

func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := b
	for {
		var p *pem.Block
		p, rest = pem.Decode(rest)
		if p == nil {
			break
		}
		if p.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(p.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, errors.New("expected PEM or DER certificates, found none")
		}
		out = append(out, c)
	}
	return out, nil
}

// EKPublicArea rebuilds the TPMT_PUBLIC of an EK made from the TCG default
// low-range templates (tpm2.RSAEKTemplate for RSA 2048, tpm2.ECCEKTemplate for
// P-256) around pub. The server encrypts credentials to this area, never to
// one sent by a client: the template's name algorithm and symmetric
// parameters feed the credential KDF.
func EKPublicArea(pub crypto.PublicKey) (*tpm2.TPMTPublic, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() != 2048 || k.E != 65537 {
			return nil, fmt.Errorf("device: expected an RSA-2048 EK with exponent 65537, got %d bits, e=%d", k.N.BitLen(), k.E)
		}
		t := tpm2.RSAEKTemplate
		t.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{Buffer: k.N.FillBytes(make([]byte, 256))})
		return &t, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("device: expected a P-256 ECC EK, got %s", k.Curve.Params().Name)
		}
		if _, err := k.ECDH(); err != nil {
			return nil, errors.New("device: expected an ECC EK whose point is on P-256")
		}
		t := tpm2.ECCEKTemplate
		t.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			X: tpm2.TPM2BECCParameter{Buffer: k.X.FillBytes(make([]byte, 32))},
			Y: tpm2.TPM2BECCParameter{Buffer: k.Y.FillBytes(make([]byte, 32))},
		})
		return &t, nil
	default:
		return nil, fmt.Errorf("device: expected an RSA or ECDSA EK public key, got %T", pub)
	}
}

// publicKey converts a TPMT_PUBLIC to a Go public key. An ECC point must be
// on its curve: tpm2.Pub takes the coordinates as they come, of any length.
func publicKey(p *tpm2.TPMTPublic) (crypto.PublicKey, error) {
	k, err := tpm2.Pub(*p)
	if err != nil {
		return nil, fmt.Errorf("device: TPM public area: %w", err)
	}
	switch k := k.(type) {
	case *rsa.PublicKey:
		return k, nil
	case *ecdsa.PublicKey:
		if _, err := k.ECDH(); err != nil {
			return nil, fmt.Errorf("device: TPM public area: expected a point on %s", k.Curve.Params().Name)
		}
		return k, nil
	}
	return nil, fmt.Errorf("device: expected an RSA or ECDSA key, got %T", k)
}

// unmarshalPublic parses a TPMT_PUBLIC and rejects trailing bytes.
func unmarshalPublic(b []byte) (*tpm2.TPMTPublic, error) {
	if len(b) == 0 {
		return nil, errors.New("empty public area")
	}
	p, err := tpm2.Unmarshal[tpm2.TPMTPublic](b)
	if err != nil {
		return nil, fmt.Errorf("expected a TPMT_PUBLIC: %w", err)
	}
	if n := len(tpm2.Marshal(p)); n != len(b) {
		return nil, fmt.Errorf("expected a TPMT_PUBLIC of %d bytes, got %d bytes", n, len(b))
	}
	return p, nil
}
