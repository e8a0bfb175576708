package tpm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/device/agent"
	"github.com/accessgateway/gateway/internal/store"
)

// swtpmCAFiles are swtpm's local CA certificates (root and intermediate),
// which sign the EK certificates swtpm_setup --create-ek-cert makes.
var swtpmCAFiles = []string{
	"/var/lib/swtpm-localca/swtpm-localca-rootca-cert.pem",
	"/var/lib/swtpm-localca/issuercert.pem",
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s is not installed (Debian: apt-get install swtpm swtpm-tools tpm2-tools)", tool)
		}
	}
}

// freePorts finds a port P such that P and P+1 are free on loopback.
func freePorts(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no two adjacent free ports")
	return 0
}

// startSWTPM provisions and starts swtpm; it is stopped (by its PID) at the
// end of the test.
func startSWTPM(t *testing.T) (dir string, port int) {
	t.Helper()
	requireTools(t, "swtpm", "swtpm_setup")
	dir, port = t.TempDir(), freePorts(t)
	out, err := exec.Command("./swtpm-start.sh", dir, strconv.Itoa(port)).CombinedOutput()
	if err != nil {
		t.Fatalf("swtpm-start.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		b, err := os.ReadFile(filepath.Join(dir, "swtpm.pid"))
		if err != nil {
			return
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	})
	for range 50 { // wait until it listens
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return dir, port
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("swtpm did not start listening")
	return
}

// TestTPM2ToolsQuote: a quote made by tpm2_quote (AK from tpm2_createak under
// the EK) against swtpm verifies with the gateway's verifier, and tampering
// with the nonce, the PCR values or the signature fails.
func TestTPM2ToolsQuote(t *testing.T) {
	requireTools(t, "tpm2_createek", "tpm2_createak", "tpm2_quote", "tpm2_nvread", "tpm2_flushcontext")
	dir, port := startSWTPM(t)
	nonce := make([]byte, 32)
	rand.Read(nonce)
	out, err := exec.Command("./tpm2-tools-quote.sh", dir, strconv.Itoa(port), hex.EncodeToString(nonce)).CombinedOutput()
	if err != nil {
		t.Fatalf("tpm2-tools-quote.sh: %v\n%s", err, out)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ak2b, err := tpm2.Unmarshal[tpm2.TPM2BPublic](read("ak.pub"))
	if err != nil {
		t.Fatal(err)
	}
	ak, err := ak2b.Contents()
	if err != nil {
		t.Fatal(err)
	}
	if err := device.ValidateAK(ak); err != nil {
		t.Fatalf("the tpm2-tools AK should qualify as an AK: %v", err)
	}
	if name, _ := tpm2.ObjectName(ak); !bytes.Equal(name.Buffer, read("ak.name")) {
		t.Fatal("expected the AK name computed here to equal tpm2_createak's")
	}
	pcrs := read("quote.pcrs")
	if len(pcrs) != 64 {
		t.Fatalf("expected two SHA-256 PCR values, got %d bytes", len(pcrs))
	}
	q := device.Quote{Attest: read("quote.msg"), Signature: read("quote.sig"),
		PCRs: []device.PCRValue{{Index: 0, Digest: pcrs[:32]}, {Index: 7, Digest: pcrs[32:]}}}
	att, err := device.VerifyQuote(ak, q, nonce, []int{0, 7})
	if err != nil {
		t.Fatalf("expected the tpm2-tools quote to verify: %v", err)
	}
	if _, err := device.CheckClock(nil, att.Clock); err != nil {
		t.Fatalf("clock: %v", err)
	}
	t.Logf("swtpm quote: clock=%d reset=%d restart=%d fw=%#x", att.Clock.Clock, att.Clock.ResetCount, att.Clock.RestartCount, att.Clock.FirmwareVersion)

	tampered := []struct {
		name   string
		mutate func(q *device.Quote) []byte // returns the nonce to expect
	}{
		{"other nonce", func(q *device.Quote) []byte { return bytes.Repeat([]byte{1}, 32) }},
		{"other PCR 7", func(q *device.Quote) []byte {
			q.PCRs[1].Digest = bytes.Repeat([]byte{0xee}, 32)
			return nonce
		}},
		{"flipped signature", func(q *device.Quote) []byte {
			q.Signature = bytes.Clone(q.Signature)
			q.Signature[len(q.Signature)-1] ^= 1
			return nonce
		}},
	}
	for _, tt := range tampered {
		t.Run(tt.name, func(t *testing.T) {
			c := device.Quote{Attest: q.Attest, Signature: q.Signature, PCRs: []device.PCRValue{q.PCRs[0], q.PCRs[1]}}
			n := tt.mutate(&c)
			if _, err := device.VerifyQuote(ak, c, n, []int{0, 7}); err == nil {
				t.Fatal("expected verification to fail")
			}
		})
	}

	// swtpm's EK certificate (real-world shape: critical SAN) chains to its CA.
	cert, err := device.ParseEKCertificate(read("ekcert.der"))
	if err != nil {
		t.Fatal(err)
	}
	roots, err := device.LoadEKRoots(swtpmCAFiles)
	if err != nil {
		t.Fatal(err)
	}
	if err := roots.Verify(cert); err != nil {
		t.Fatalf("expected swtpm's EK certificate to chain to the swtpm local CA: %v", err)
	}
}

// TestAgentOverSWTPM: the gateway agent enrolls (with swtpm's EK certificate,
// required and checked against swtpm's CA), verifies a browser session and
// gets a device certificate, talking to swtpm over TCP.
func TestAgentOverSWTPM(t *testing.T) {
	_, port := startSWTPM(t)
	tpm, err := agent.Open("tcp://127.0.0.1:"+strconv.Itoa(port), "")
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	id, err := tpm.Identity()
	if err != nil {
		t.Fatal(err)
	}
	if len(id.EKCert) == 0 {
		t.Fatal("expected swtpm's EK certificate in NV")
	}
	cert, err := device.ParseEKCertificate(id.EKCert)
	if err != nil {
		t.Fatal(err)
	}
	// IT registers the device by its EK certificate.
	certFile := filepath.Join(t.TempDir(), "ek.der")
	if err := os.WriteFile(certFile, cert.Raw, 0o600); err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	defer st.Close()
	svc, err := device.NewService(device.Config{
		EKCAFiles:     swtpmCAFiles,
		RequireEKCert: true,
		Inventory:     []device.InventoryDevice{{ID: "swtpm-1", Serial: "SW1", Owner: "carol@example.com", EKCertFile: certFile, Status: device.StatusActive}},
	}, st, nil, device.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	ctx := context.Background()
	c := &agent.Client{Gateway: srv.URL, HTTP: srv.Client(), TPM: tpm}
	code, _, err := svc.NewCode(ctx, device.PurposeEnroll, "sess-carol", "carol@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enroll(ctx, code); err != nil {
		t.Fatalf("enroll over swtpm: %v", err)
	}
	code, _, _ = svc.NewCode(ctx, device.PurposeVerify, "sess-carol-2", "carol@example.com")
	if _, err := c.Verify(ctx, code); err != nil {
		t.Fatalf("verify over swtpm: %v", err)
	}
	ev, err := svc.SessionEvidence(ctx, "sess-carol-2")
	if err != nil || ev.DeviceID != "swtpm-1" || ev.Trust != device.TrustTPMAttested {
		t.Fatalf("evidence: %+v, %v", ev, err)
	}
	res, err := c.Cert(ctx)
	if err != nil || !strings.Contains(res.CertificatePEM, "BEGIN CERTIFICATE") {
		t.Fatalf("cert over swtpm: %v", err)
	}
}
