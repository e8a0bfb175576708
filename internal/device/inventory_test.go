package device_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/device/devicetest"
)

func rsaEK(t *testing.T) *rsa.PublicKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

func TestEKCertificate(t *testing.T) {
	ca := mustEKCA(t)
	ek := rsaEK(t)
	der, err := ca.IssueEK(ek, "x")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil ||
		!strings.Contains(err.Error(), "unhandled critical extension") {
		t.Fatalf("expected Go's x509 to reject the TCG SAN as-is (the case being handled), got %v", err)
	}
	roots, err := device.LoadEKRoots([]string{writeTemp(t, "roots.pem", ca.PEM())})
	if err != nil {
		t.Fatal(err)
	}
	nvHeader := binary.BigEndian.AppendUint16([]byte{0x10, 0x01, 0x00}, uint16(len(der)))
	tests := []struct {
		name string
		in   []byte
	}{
		{"DER", der},
		{"DER with padding", append(append([]byte{}, der...), 0, 0, 0, 0xff)},
		{"TCG NV header", append(nvHeader, der...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := device.ParseEKCertificate(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if err := roots.Verify(c); err != nil {
				t.Fatalf("expected the EK certificate to chain: %v", err)
			}
		})
	}
	other, err := device.LoadEKRoots([]string{writeTemp(t, "other.pem", mustEKCA(t).PEM())})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Verify(cert); err == nil {
		t.Fatal("expected a certificate from another manufacturer to fail")
	}
	if err := (*device.EKRoots)(nil).Verify(cert); err == nil {
		t.Fatal("expected verification without configured CAs to fail")
	}
	if _, err := device.ParseEKCertificate([]byte{0x10, 0x01, 0x00, 0xff, 0xff, 1}); err == nil {
		t.Fatal("expected a truncated NV blob to fail")
	}
}

func TestEKPublicAreaMatchesTemplate(t *testing.T) {
	ek := rsaEK(t)
	p, err := device.EKPublicArea(ek)
	if err != nil {
		t.Fatal(err)
	}
	if p.ObjectAttributes != tpm2.RSAEKTemplate.ObjectAttributes || p.NameAlg != tpm2.RSAEKTemplate.NameAlg {
		t.Fatal("expected the TCG default RSA EK template")
	}
	back, err := tpm2.Pub(*p)
	if err != nil || !back.(*rsa.PublicKey).Equal(ek) {
		t.Fatalf("round trip: %v", err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := device.EKPublicArea(&ec.PublicKey); err == nil {
		t.Fatal("expected a P-384 EK to be refused (no default low-range template)")
	}
}

// colons writes a hex digest as "ab:cd:…", a spelling the inventory accepts.
func colons(hex string) string {
	var parts []string
	for i := 0; i+2 <= len(hex); i += 2 {
		parts = append(parts, hex[i:i+2])
	}
	return strings.Join(parts, ":")
}

func TestBuildInventory(t *testing.T) {
	ca := mustEKCA(t)
	dir := t.TempDir()
	ek := rsaEK(t)
	der, _ := ca.IssueEK(ek, "x")
	os.WriteFile(filepath.Join(dir, "ek.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	strange, _ := mustEKCA(t).IssueEK(rsaEK(t), "y")
	os.WriteFile(filepath.Join(dir, "strange.der"), strange, 0o600)
	ekHash, _ := device.EKKeyHash(ek)
	roots, _ := device.LoadEKRoots([]string{writeTemp(t, "roots.pem", ca.PEM())})
	h := func(b byte) string { return strings.Repeat(string("0123456789abcdef"[b]), 64) }
	dev := func(id, hash, cert string) device.InventoryDevice {
		return device.InventoryDevice{ID: id, Serial: "S-" + id, EKPubSHA256: hash, EKCertFile: cert, Status: device.StatusActive}
	}
	tests := []struct {
		name    string
		devices []device.InventoryDevice
		wantErr []string
		lookup  string // EK hash expected to find device "a"
	}{
		{name: "by hash", devices: []device.InventoryDevice{dev("a", h(1), "")}, lookup: h(1)},
		{name: "by certificate (relative path)", devices: []device.InventoryDevice{dev("a", "", "ek.pem")}, lookup: ekHash},
		{name: "certificate and matching hash", devices: []device.InventoryDevice{dev("a", strings.ToUpper(ekHash), "ek.pem")}, lookup: ekHash},
		{name: "certificate and other hash", devices: []device.InventoryDevice{dev("a", h(2), "ek.pem")}, wantErr: []string{"devices[0].ek_pub_sha256: expected the EK certificate's key hash"}},
		{name: "certificate of another manufacturer", devices: []device.InventoryDevice{dev("a", "", "strange.der")}, wantErr: []string{"devices[0].ek_cert_file: device: EK certificate"}},
		{name: "missing certificate file", devices: []device.InventoryDevice{dev("a", "", "nope.pem")}, wantErr: []string{"devices[0].ek_cert_file:"}},
		{name: "hash written with colons and upper case", devices: []device.InventoryDevice{dev("a", colons(strings.ToUpper(h(10))), "")}, lookup: h(10)},
		{name: "certificate and matching hash with colons", devices: []device.InventoryDevice{dev("a", colons(ekHash), "ek.pem")}, lookup: ekHash},
		{name: "one EK in two spellings", devices: []device.InventoryDevice{dev("a", h(3), ""), dev("b", colons(h(3)), "")},
			wantErr: []string{`devices[1]: EK already registered for device "a"`}},
		{name: "duplicate id and EK", devices: []device.InventoryDevice{dev("a", h(1), ""), dev("a", h(2), ""), dev("b", h(1), "")},
			wantErr: []string{`devices[1].id: duplicate device id "a"`, `devices[2]: EK already registered for device "a"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := device.BuildInventory(tt.devices, dir, roots)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("expected an error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("expected %q in %v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d, ok := inv.ByEK(tt.lookup); !ok || d.ID != "a" {
				t.Fatalf("lookup by EK hash: %+v %v", d, ok)
			}
		})
	}
}

func TestLoadInventoryFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "devices.yaml")
	os.WriteFile(p, []byte("devices:\n  - id: lt-1\n    serial: S1\n    owner: a@example.com\n    ek_pub_sha256: "+strings.Repeat("ab", 32)+"\n    status: active\n"), 0o600)
	inv, err := device.LoadInventoryFile(p, nil)
	if err != nil || inv.Len() != 1 {
		t.Fatalf("load: %v", err)
	}
	os.WriteFile(p, []byte("devices:\n  - id: lt-1\n    serail: S1\n"), 0o600)
	if _, err := device.LoadInventoryFile(p, nil); err == nil {
		t.Fatal("expected an unknown key to be an error")
	}
	// Aliases that expand the file past the bound are refused before it
	// is decoded (yamlcheck): ten levels of ten aliases each.
	var b strings.Builder
	b.WriteString("x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "x%d: &x%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*x%d, ", i-1), 10), ", "))
	}
	b.WriteString("devices: []\n")
	os.WriteFile(p, []byte(b.String()), 0o600)
	if _, err := device.LoadInventoryFile(p, nil); err == nil || !strings.Contains(err.Error(), "aliases (*name, <<: *name) expand") {
		t.Fatalf("expected aliases that expand the file to be refused, got %v", err)
	}
}

var _ = devicetest.RSAEKCertIndex

// An EK certificate says a TPM was made by its manufacturer: it is checked
// as of its issuance, when its chain must have been valid, not as of now.
// EK certificates stay in TPMs for the device's life (the TCG EK
// Credential Profile suggests no expiry; many carry one anyway), and one
// that expired used to make the whole inventory fail to load — a reload
// carrying a revocation was refused with it.
func TestEKCertificateCheckedAsOfItsIssuance(t *testing.T) {
	ca := mustEKCA(t)
	roots, err := device.LoadEKRoots([]string{writeTemp(t, "roots.pem", ca.PEM())})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(notBefore, notAfter time.Time) *x509.Certificate {
		der, err := ca.IssueEKValid(rsaEK(t), "x", notBefore, notAfter)
		if err != nil {
			t.Fatal(err)
		}
		c, err := device.ParseEKCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	expired := issue(ca.Cert.NotBefore, time.Now().Add(-time.Minute))
	if err := roots.Verify(expired); err != nil {
		t.Fatalf("an expired EK certificate issued while its CA was valid: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ek.der"), expired.Raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := device.BuildInventory([]device.InventoryDevice{{ID: "lt-1", Serial: "S1", EKCertFile: "ek.der", Status: device.StatusActive}}, dir, roots); err != nil {
		t.Fatalf("an inventory with an expired EK certificate: %v", err)
	}
	before := issue(ca.Cert.NotBefore.Add(-time.Hour), time.Now().Add(time.Hour))
	if err := roots.Verify(before); err == nil {
		t.Fatal("an EK certificate issued before its CA was valid: expected a refusal")
	}
}
