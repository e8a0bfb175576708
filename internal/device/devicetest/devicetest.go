// Package devicetest helps test device trust against real TPMs (the
// simulator, swtpm): a fake TPM manufacturer CA that issues EK certificates
// shaped like real ones (critical subjectAltName with a directoryName of TPM
// manufacturer, model and version), and provisioning of such a certificate
// into a TPM's NV memory as a manufacturer would.
//
//	ca, _ := devicetest.NewEKCA()
//	der, _ := ca.IssueEK(ekPublicKey, "lt-0042")
//	_ = devicetest.WriteEKCert(tpm, devicetest.RSAEKCertIndex, der)
//	os.WriteFile("ek-roots.pem", ca.PEM(), 0o644) // for devices.ek_ca_files
//
// Nothing here is secure; it is for tests only. It imports no cgo.
package devicetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// NV indexes of EK certificates (TCG EK Credential Profile).
const (
	RSAEKCertIndex tpm2.TPMHandle = 0x01c00002
	ECCEKCertIndex tpm2.TPMHandle = 0x01c0000a
)

// EKCA is a fake TPM manufacturer root CA.
type EKCA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewEKCA creates a self-signed P-256 root valid from an hour ago for ten years.
func NewEKCA() (*EKCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test TPM Manufacturer Root CA", Organization: []string{"devicetest"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &EKCA{Cert: cert, Key: key}, nil
}

// PEM is the CA certificate in PEM form.
func (ca *EKCA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

var (
	oidSAN             = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidTPMManufacturer = asn1.ObjectIdentifier{2, 23, 133, 2, 1}
	oidTPMModel        = asn1.ObjectIdentifier{2, 23, 133, 2, 2}
	oidTPMVersion      = asn1.ObjectIdentifier{2, 23, 133, 2, 3}
	oidEKCertificate   = asn1.ObjectIdentifier{2, 23, 133, 8, 1}
)

// IssueEK issues an EK certificate for pub as TPM manufacturers do: empty
// subject, a critical subjectAltName holding only a directoryName with the
// TPM manufacturer/model/version attributes, and the EK certificate EKU.
func (ca *EKCA) IssueEK(pub crypto.PublicKey, serialHint string) ([]byte, error) {
	return ca.IssueEKValid(pub, serialHint, ca.Cert.NotBefore, ca.Cert.NotAfter)
}

// IssueEKValid is IssueEK with the certificate's validity period given.
func (ca *EKCA) IssueEKValid(pub crypto.PublicKey, serialHint string, notBefore, notAfter time.Time) ([]byte, error) {
	name, err := asn1.Marshal(pkix.RDNSequence{
		{{Type: oidTPMManufacturer, Value: "id:54455354"}}, // "TEST"
		{{Type: oidTPMModel, Value: "devicetest"}},
		{{Type: oidTPMVersion, Value: "id:00010002"}},
	})
	if err != nil {
		return nil, err
	}
	san, err := asn1.Marshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: name}})
	if err != nil {
		return nil, err
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:       sn,
		NotBefore:          notBefore,
		NotAfter:           notAfter,
		KeyUsage:           x509.KeyUsageKeyEncipherment,
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{oidEKCertificate},
		ExtraExtensions:    []pkix.Extension{{Id: oidSAN, Critical: true, Value: san}},
		SubjectKeyId:       []byte(serialHint),
	}
	return x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
}

// WriteEKCert stores der at an NV index with platform authorization, readable
// with its own (empty) authorization, as a TPM manufacturer provisions EK
// certificates. It fails if the index already exists.
func WriteEKCert(t transport.TPM, index tpm2.TPMHandle, der []byte) error {
	platform := tpm2.AuthHandle{Handle: tpm2.TPMRHPlatform, Auth: tpm2.PasswordAuth(nil)}
	_, err := tpm2.NVDefineSpace{
		AuthHandle: platform,
		PublicInfo: tpm2.New2B(tpm2.TPMSNVPublic{
			NVIndex: index,
			NameAlg: tpm2.TPMAlgSHA256,
			Attributes: tpm2.TPMANV{PPWrite: true, PPRead: true, OwnerRead: true, AuthRead: true,
				PlatformCreate: true, NoDA: true, NT: tpm2.TPMNTOrdinary},
			DataSize: uint16(len(der)),
		}),
	}.Execute(t)
	if err != nil {
		return fmt.Errorf("devicetest: define NV index %#x: %w", uint32(index), err)
	}
	pub, err := tpm2.NVReadPublic{NVIndex: index}.Execute(t)
	if err != nil {
		return fmt.Errorf("devicetest: read NV public: %w", err)
	}
	for off := 0; off < len(der); off += 512 {
		end := min(off+512, len(der))
		if _, err := (tpm2.NVWrite{
			AuthHandle: platform,
			NVIndex:    tpm2.NamedHandle{Handle: index, Name: pub.NVName},
			Data:       tpm2.TPM2BMaxNVBuffer{Buffer: der[off:end]},
			Offset:     uint16(off),
		}).Execute(t); err != nil {
			return fmt.Errorf("devicetest: write NV index %#x: %w", uint32(index), err)
		}
	}
	return nil
}
