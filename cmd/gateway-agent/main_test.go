package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/device/agent"
	"github.com/accessgateway/gateway/internal/store"
)

// TestAgentCommands runs the agent's commands against a real device API, with
// the built-in simulator, as an employee would in the quickstart: each
// command is a new run of the agent, hence a fresh simulator whose identity
// comes from the fixed seed and whose clock comes from the state file.
func TestAgentCommands(t *testing.T) {
	tpm, err := agent.OpenSimulator("")
	if err != nil && strings.Contains(err.Error(), "requires building with CGO") {
		t.Skip("skipping: the TPM simulator needs cgo (CGO_ENABLED=1, gcc, libssl-dev)")
	}
	if err != nil {
		t.Fatal(err)
	}
	id, err := tpm.Identity()
	tpm.Close()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := device.BuildInventory([]device.InventoryDevice{{ID: "lt-7", Serial: "S7", Owner: "alice@example.com",
		EKPubSHA256: id.EKHash, Status: device.StatusActive}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	defer st.Close()
	svc, err := device.NewService(device.Config{}, st, nil, device.Options{Inventory: inv})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	state := t.TempDir()
	ctx := context.Background()
	agentRun := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{"--gateway", srv.URL, "--tpm", "simulator", "--state", state, "--yes"}, args...), strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	newCode := func(purpose string) string {
		c, _, err := svc.NewCode(ctx, purpose, "sess-1", "alice@example.com")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"status before enrollment", []string{"status"}, exitDenied, id.EKHash, "ask IT to register it"},
		{"enroll", []string{"enroll", "code:" + device.PurposeEnroll}, exitOK, "for alice@example.com", ""},
		{"code is single use", []string{"verify", "AAAAA-AAAAA"}, exitDenied, "", "get a new one"},
		{"verify", []string{"verify", "lowercase-code:" + device.PurposeVerify}, exitOK, "Verified", ""},
		{"verify again, a later run", []string{"verify", "code:" + device.PurposeVerify}, exitOK, "Verified", ""},
		{"status after enrollment", []string{"status"}, exitOK, "Gateway:          OK", ""},
		{"cert", []string{"cert"}, exitOK, "Certificate for device lt-7", ""},
		{"bad code shape", []string{"verify", "nope"}, exitDenied, "", "update gateway-agent"},
		{"usage", []string{"enroll"}, exitUsage, "", "usage: gateway-agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Codes are issued when the case runs, as the device page
			// would show them then: a session holds one of each at a time.
			args := slices.Clone(tt.args)
			for i, a := range args {
				if p, ok := strings.CutPrefix(a, "code:"); ok {
					args[i] = newCode(p)
				} else if p, ok := strings.CutPrefix(a, "lowercase-code:"); ok {
					args[i] = strings.ToLower(newCode(p))
				}
			}
			code, out, errOut := agentRun(args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
		})
	}
	if ev, err := svc.SessionEvidence(ctx, "sess-1"); err != nil || ev.DeviceID != "lt-7" {
		t.Fatalf("session evidence: %+v, %v", ev, err)
	}
	if b, err := os.ReadFile(filepath.Join(state, "device.crt")); err != nil || !bytes.Contains(b, []byte("BEGIN CERTIFICATE")) {
		t.Fatalf("device.crt: %v", err)
	}
}

// simEnv serves a device API whose inventory holds the built-in simulator's
// EK (owner as given, possibly none) and runs the agent against it.
type simEnv struct {
	t     *testing.T
	svc   *device.Service
	url   string
	state string

	mu     sync.Mutex
	audits []device.AuditEvent
}

func newSimEnv(t *testing.T, owner string) *simEnv {
	t.Helper()
	tpm, err := agent.OpenSimulator("")
	if err != nil && strings.Contains(err.Error(), "requires building with CGO") {
		t.Skip("skipping: the TPM simulator needs cgo (CGO_ENABLED=1, gcc, libssl-dev)")
	}
	if err != nil {
		t.Fatal(err)
	}
	id, err := tpm.Identity()
	tpm.Close()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := device.BuildInventory([]device.InventoryDevice{{ID: "lt-7", Serial: "S7", Owner: owner,
		EKPubSHA256: id.EKHash, Status: device.StatusActive}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	t.Cleanup(func() { st.Close() })
	e := &simEnv{t: t, state: t.TempDir()}
	e.svc, err = device.NewService(device.Config{}, st, nil, device.Options{Inventory: inv,
		Audit: func(_ context.Context, a device.AuditEvent) {
			e.mu.Lock()
			e.audits = append(e.audits, a)
			e.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.svc.Handler())
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *simEnv) code(purpose, session, email, tool string) string {
	e.t.Helper()
	c, _, err := e.svc.IssueCode(context.Background(), device.CodeRequest{Purpose: purpose, SessionID: session, Email: email, Tool: tool})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// run runs the agent with stdin; terminal says whether stdin counts as a
// terminal.
func (e *simEnv) run(stdin string, terminal bool, args ...string) (int, string, string) {
	e.t.Helper()
	old := isTerminal
	isTerminal = func(io.Reader) bool { return terminal }
	defer func() { isTerminal = old }()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"--gateway", e.url, "--tpm", "simulator", "--state", e.state}, args...),
		strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func (e *simEnv) audited(action string, reason device.Reason, detail string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.audits {
		if a.Action == action && a.Outcome == device.OutcomeDenied && a.Reason == reason && strings.Contains(a.Detail, detail) {
			return true
		}
	}
	return false
}

// TestAgentConfirmsTheSession: enroll and verify show whose session (and
// which tool) the code binds and complete only when confirmed; without a
// terminal they need --yes and leave the code unused.
func TestAgentConfirmsTheSession(t *testing.T) {
	e := newSimEnv(t, "alice@example.com")
	ctx := context.Background()
	if code, _, errOut := e.run("", true, "--yes", "enroll", e.code(device.PurposeEnroll, "s-enroll", "alice@example.com", "")); code != exitOK {
		t.Fatalf("enroll: exit %d: %s", code, errOut)
	}

	t.Run("no terminal, no --yes: refused before the code is used", func(t *testing.T) {
		c := e.code(device.PurposeVerify, "s-1", "alice@example.com", "Payroll")
		code, _, errOut := e.run("y\n", false, "verify", c)
		if code != exitUsage || !strings.Contains(errOut, "stdin is not a terminal") {
			t.Fatalf("exit %d, stderr %s", code, errOut)
		}
		if st, _ := e.svc.CodeStatus(ctx, "s-1", c); st.State != device.CodePending {
			t.Fatalf("the code was touched: %+v", st)
		}
	})
	t.Run("terminal, declined", func(t *testing.T) {
		c := e.code(device.PurposeVerify, "s-2", "alice@example.com", "Payroll")
		code, out, errOut := e.run("n\n", true, "verify", c)
		if code != exitDeclined || !strings.Contains(out, "browser session of alice@example.com for \"Payroll\"") ||
			!strings.Contains(errOut, "Continue? [y/N]") || !strings.Contains(errOut, "do not run it") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if st, _ := e.svc.CodeStatus(ctx, "s-2", c); st.State != device.CodeFailed || !strings.Contains(st.Message, "refused on the device") {
			t.Fatalf("the page does not learn of the refusal: %+v", st)
		}
		if _, err := e.svc.SessionEvidence(ctx, "s-2"); err == nil {
			t.Fatal("a declined code bound the session")
		}
		if !e.audited(device.ActionBind, device.ReasonNotVerified, "declined on the device") {
			t.Fatal("the refusal was not audited")
		}
	})
	t.Run("terminal, confirmed", func(t *testing.T) {
		c := e.code(device.PurposeVerify, "s-3", "alice@example.com", "Payroll")
		code, out, errOut := e.run("yes\n", true, "verify", c)
		if code != exitOK || !strings.Contains(out, "alice@example.com") || !strings.Contains(out, "Verified") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if ev, err := e.svc.SessionEvidence(ctx, "s-3"); err != nil || ev.DeviceID != "lt-7" {
			t.Fatalf("evidence: %+v, %v", ev, err)
		}
	})
	t.Run("another user's session is refused by the gateway", func(t *testing.T) {
		c := e.code(device.PurposeVerify, "s-bob", "bob@example.com", "Payroll")
		code, out, errOut := e.run("y\n", true, "verify", c)
		if code != exitDenied || !strings.Contains(errOut, "device-owner-mismatch") && !strings.Contains(errOut, "belongs to another person") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if strings.Contains(errOut, "Continue?") {
			t.Fatal("asked to confirm a binding the gateway refuses anyway")
		}
	})
	t.Run("the gateway refuses a tool name with control characters", func(t *testing.T) {
		if _, _, err := e.svc.IssueCode(ctx, device.CodeRequest{Purpose: device.PurposeVerify, SessionID: "s-4",
			Email: "alice@example.com", Tool: "Pay\u202eroll"}); err == nil {
			t.Fatal("accepted")
		}
	})
}

// TestAgentEnrollmentRecordsOwner: a device the inventory gives no owner
// belongs to whoever enrolled it; the agent says so, and another user's
// session can then not be bound to it.
func TestAgentEnrollmentRecordsOwner(t *testing.T) {
	e := newSimEnv(t, "")
	code, out, errOut := e.run("y\n", true, "enroll", e.code(device.PurposeEnroll, "s-carol", "carol@example.com", "Wiki"))
	if code != exitOK || !strings.Contains(out, "carol@example.com becomes the device's owner") {
		t.Fatalf("enroll: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, _, errOut = e.run("", false, "--yes", "verify", e.code(device.PurposeVerify, "s-mallory", "mallory@example.com", "Wiki"))
	if code != exitDenied || !strings.Contains(errOut, "belongs to another person") {
		t.Fatalf("verify for another user: exit %d: %s", code, errOut)
	}
	if !e.audited(device.ActionBind, device.ReasonOwnerMismatch, "") {
		t.Fatal("the refused binding was not audited")
	}
	code, _, errOut = e.run("", false, "--yes", "enroll", e.code(device.PurposeEnroll, "s-mallory", "mallory@example.com", ""))
	if code != exitDenied || !strings.Contains(errOut, "enrolled by another user") {
		t.Fatalf("re-enrollment by another user: exit %d: %s", code, errOut)
	}
	if code, _, errOut = e.run("", false, "--yes", "verify", e.code(device.PurposeVerify, "s-carol-2", "Carol@Example.com", "Wiki")); code != exitOK {
		t.Fatalf("verify for the owner: exit %d: %s", code, errOut)
	}
}

// The agent prints what a gateway (perhaps not the right one) sent only
// after replacing what could rewrite the terminal.
func TestConfirmPrintsOnlyPrintable(t *testing.T) {
	var out, errb bytes.Buffer
	b := agent.Binding{Purpose: device.PurposeVerify, DeviceID: "lt\x1b[2J", Email: "eve@example.com\r\x1b[1A", Tool: "Pay\u202eroll", Gateway: "https://gw"}
	err := confirm(context.Background(), b, false, strings.NewReader("n\n"), &out, &errb)
	if !errors.Is(err, agent.ErrDeclined) {
		t.Fatalf("expected a decline, got %v", err)
	}
	all := out.String() + errb.String()
	if strings.ContainsAny(all, "\x1b\r\u202e") || !strings.Contains(all, `"Pay?roll"`) || !strings.Contains(all, "eve@example.com??[1A") {
		t.Fatalf("printed %q", all)
	}
}

func TestConfirmAnswers(t *testing.T) {
	tests := []struct {
		name, stdin string
		yes, want   bool
	}{
		{"y", "y\n", false, true},
		{"YES with spaces", "  YES \n", false, true},
		{"empty line", "\n", false, false},
		{"no", "no\n", false, false},
		{"end of input", "", false, false},
		{"yessir", "yessir\n", false, false},
		{"--yes does not read", "n\n", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := confirm(context.Background(), agent.Binding{Purpose: device.PurposeEnroll, Email: "a@example.com"}, tt.yes, strings.NewReader(tt.stdin), &out, &errb)
			if (err == nil) != tt.want {
				t.Fatalf("confirm = %v, want confirmed %v", err, tt.want)
			}
			if tt.yes && errb.Len() != 0 {
				t.Fatalf("--yes asked: %q", errb.String())
			}
		})
	}
	// An interrupted question declines at once, even with stdin still open.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pr, pw := io.Pipe()
	defer pw.Close()
	if err := confirm(ctx, agent.Binding{Email: "a@example.com"}, false, pr, io.Discard, io.Discard); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted confirm = %v", err)
	}
}

// TestAgentPrintsGatewayTextPrintable: nothing a gateway (perhaps not the
// right one) sends reaches the terminal with control characters: not its
// error messages, not its success messages, not the device ID.
func TestAgentPrintsGatewayTextPrintable(t *testing.T) {
	const evil = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=\x07\x1b[2J\x1b[1A\r"
	nonce := bytes.Repeat([]byte{1}, 32)
	for _, tt := range []struct {
		name   string
		finish func(w http.ResponseWriter)
	}{
		{"refusal", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(device.ErrorResponse{Error: "refused" + evil, Reason: device.ReasonRevoked})
		}},
		{"refusal without a reason", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(device.ErrorResponse{Error: "later" + evil})
		}},
		{"success", func(w http.ResponseWriter) {
			_ = json.NewEncoder(w).Encode(device.Result{DeviceID: "lt" + evil, Message: "fine" + evil, SessionBound: true})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if strings.HasSuffix(r.URL.Path, "/attest/start") {
					_ = json.NewEncoder(w).Encode(device.AttestStartResponse{ChallengeID: strings.Repeat("a", 32), DeviceID: "lt-7",
						Nonce: nonce, PCRs: []int{0, 7}, CodeSession: device.CodeSession{SessionEmail: "alice@example.com"}})
					return
				}
				tt.finish(w)
			}))
			defer srv.Close()
			for _, args := range [][]string{{"status"}, {"--yes", "verify", "ABCDE-FGHJK"}, {"cert"}} {
				var out, errb bytes.Buffer
				code := run(context.Background(), append([]string{"--gateway", srv.URL, "--tpm", "simulator", "--state", t.TempDir()}, args...),
					strings.NewReader(""), &out, &errb)
				all := out.String() + errb.String()
				if strings.ContainsAny(all, "\x1b\x07\r") {
					t.Fatalf("%v: exit %d, printed %q", args, code, all)
				}
				if tt.name == "success" && args[0] == "cert" {
					// The success carries no certificate: refused (TestAgentCertKeepsTheCertificateOnABadAnswer).
					if !strings.Contains(all, "holds no certificate") {
						t.Fatalf("%v: exit %d, expected the answer without a certificate refused: %q", args, code, all)
					}
					continue
				}
				if !strings.Contains(all, "refused") && !strings.Contains(all, "later") && !strings.Contains(all, "fine") && !strings.Contains(all, "lt?") {
					t.Fatalf("%v: exit %d, the gateway's text is missing: %q", args, code, all)
				}
			}
		})
	}
}

// TestAgentCertKeepsTheCertificateOnABadAnswer: `cert` writes only a
// certificate for this device's certificate key; an answer with none, with
// something else, or with a certificate for another key is an error and
// leaves the certificate on disk as it was.
func TestAgentCertKeepsTheCertificateOnABadAnswer(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lt-7"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	for _, tt := range []struct{ name, pem string }{
		{"no certificate", ""},
		{"not PEM", "hello"},
		{"another block", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
		{"a certificate for another key", otherKey},
		{"a certificate for another key, then the CA", otherKey + otherKey},
		{"a certificate, then something else", otherKey + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if strings.HasSuffix(r.URL.Path, "/attest/start") {
					_ = json.NewEncoder(w).Encode(device.AttestStartResponse{ChallengeID: strings.Repeat("a", 32), DeviceID: "lt-7",
						Nonce: bytes.Repeat([]byte{1}, 32), PCRs: []int{0, 7}})
					return
				}
				_ = json.NewEncoder(w).Encode(device.Result{DeviceID: "lt-7", CertificatePEM: tt.pem, NotAfter: time.Now().Add(time.Hour)})
			}))
			defer srv.Close()
			state := t.TempDir()
			const good = "the certificate from before"
			if err := os.WriteFile(filepath.Join(state, "device.crt"), []byte(good), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"--gateway", srv.URL, "--tpm", "simulator", "--state", state, "cert"}, strings.NewReader(""), &out, &errb)
			if code == exitOK {
				t.Fatalf("exit %d, expected an error: %s%s", code, out.String(), errb.String())
			}
			if b, _ := os.ReadFile(filepath.Join(state, "device.crt")); string(b) != good {
				t.Fatalf("device.crt was replaced with %q", b)
			}
		})
	}
}

// TestAgentRefusesInsecureGatewayURL: a --gateway the agent would not talk
// to safely is a usage error before the TPM or the code is used.
func TestAgentRefusesInsecureGatewayURL(t *testing.T) {
	for _, gw := range []string{"http://access.example.com", "https://access.example.com@evil.example", "https://access.example.com/x?y=z"} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"--gateway", gw, "--tpm", "/nonexistent/tpm", "--yes", "verify", "ABCDE-FGHJK"},
			strings.NewReader(""), &out, &errb)
		if code != exitUsage || !strings.Contains(errb.String(), "gateway") || strings.Contains(errb.String(), "/nonexistent/tpm") {
			t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", gw, code, out.String(), errb.String())
		}
	}
}
