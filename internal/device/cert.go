package device

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"strings"
	"time"
)

// DeviceURIPrefix starts the URI SAN that names the device in a device
// certificate: "urn:accessgateway:device:<device id>".
const DeviceURIPrefix = "urn:accessgateway:device:"

// CA is the device CA: it issues short-lived client certificates for keys
// that a device's TPM certified with its enrolled AK.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pool *x509.CertPool
}

// String never shows the key.
func (c *CA) String() string { return "device CA " + c.cert.Subject.String() }

// LoadCA reads the device CA certificate and its private key (PEM; PKCS#8,
// EC or PKCS#1 RSA).
func LoadCA(certFile, keyFile string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("device: load device CA: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("device: parse device CA: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("device: device CA %s is not a CA certificate (basicConstraints CA:TRUE expected)", certFile)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("device: device CA key cannot sign")
	}
	return newCA(cert, key), nil
}

// NewEphemeralCA generates a P-256 device CA valid for a year from now.
func NewEphemeralCA(now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "gateway device CA (ephemeral)"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return newCA(cert, key), nil
}

func newCA(cert *x509.Certificate, key crypto.Signer) *CA {
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{cert: cert, key: key, pool: pool}
}

// Pool is the CA pool for tls.Config.ClientCAs.
func (c *CA) Pool() *x509.CertPool { return c.pool }

// Certificate is the CA certificate.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("device: crypto/rand failed: " + err.Error())
	}
	return n
}

// Issue signs a client certificate for pub naming device d: CN = device ID,
// URI SAN DeviceURIPrefix+ID, serial number attribute = device serial,
// extKeyUsage clientAuth. NotBefore is the attestation time (whole seconds),
// which CertEvidence reports as AttestedAt.
func (c *CA) Issue(d InventoryDevice, pub crypto.PublicKey, attestedAt time.Time, lifetime time.Duration) ([]byte, time.Time, error) {
	u, err := url.Parse(DeviceURIPrefix + url.PathEscape(d.ID))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("device: device URI: %w", err)
	}
	nb := attestedAt.Truncate(time.Second)
	na := nb.Add(lifetime)
	if na.After(c.cert.NotAfter) {
		na = c.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: d.ID, SerialNumber: d.Serial},
		URIs:         []*url.URL{u},
		NotBefore:    nb,
		NotAfter:     na,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, pub, c.key)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("device: issue certificate: %w", err)
	}
	return der, na, nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// CertEvidence returns the device behind an mTLS client certificate: it
// verifies the certificate against the device CA at now (whatever the TLS
// layer already checked), and re-checks the inventory (revoked devices are
// denied at once) and the enrollment (a certificate issued before a
// re-enrollment is refused). AttestedAt is the certificate's NotBefore.
// Errors are as for SessionEvidence.
func (s *Service) CertEvidence(ctx context.Context, cert *x509.Certificate) (*Evidence, error) {
	if cert == nil {
		return nil, newError(ReasonNotVerified, "no client certificate", nil)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: s.ca.pool, CurrentTime: s.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, newError(ReasonNotVerified, "the client certificate is not a valid device certificate", err)
	}
	id := ""
	for _, u := range cert.URIs {
		if s := u.String(); strings.HasPrefix(s, DeviceURIPrefix) {
			id, _ = url.PathUnescape(strings.TrimPrefix(s, DeviceURIPrefix))
		}
	}
	if id == "" {
		return nil, newError(ReasonNotVerified, "the client certificate names no device", nil)
	}
	ev := &Evidence{DeviceID: id, AttestedAt: cert.NotBefore, Source: "certificate"}
	if err := s.liveCheck(ctx, ev, "", cert.NotBefore.Add(time.Second)); err != nil {
		return ev, err
	}
	return ev, nil
}

// WriteCAFiles writes a new P-256 device CA (certificate and PKCS#8 key, the
// key with mode 0600) for certificates.ca_cert_file/ca_key_file.
func WriteCAFiles(certFile, keyFile string, now time.Time) error {
	ca, err := NewEphemeralCA(now)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, pemCert(ca.cert.Raw), 0o644)
}
