package device_test

// End-to-end tests on the in-process TPM simulator (cgo): the agent package
// talks to a real httptest server running the device API. Only one simulator
// can exist per process, so these tests run one after the other.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gtsim "github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"

	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/device/agent"
	"github.com/accessgateway/gateway/internal/device/devicetest"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/store"
)

const (
	alice   = "alice@example.com"
	bob     = "bob@example.com"
	session = "session-alice-1"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	t      *testing.T
	ctx    context.Context
	clock  *clock
	sim    *gtsim.Simulator
	tpm    *agent.TPM
	id     *agent.Identity
	st     store.Store
	svc    *device.Service
	srv    *httptest.Server
	client *agent.Client

	mu     sync.Mutex
	audits []device.AuditEvent
}

type setup struct {
	resets   int
	cfg      device.Config
	inv      func(ekHash string) []device.InventoryDevice
	ekCA     *devicetest.EKCA
	provided bool
}

func defaultInventory(ekHash string) []device.InventoryDevice {
	return []device.InventoryDevice{{ID: "lt-0042", Serial: "PF3ABCD", Owner: alice, EKPubSHA256: ekHash, Status: device.StatusActive}}
}

// newEnv opens a simulator (seed, resets), reads its identity, and serves a
// device service whose inventory is inv(EK hash).
func newEnv(t *testing.T, s setup) *env {
	t.Helper()
	if s.inv == nil {
		s.inv = defaultInventory
	}
	e := &env{t: t, ctx: context.Background(), clock: &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}}
	e.openTPM(s.resets)
	var err error
	if s.ekCA != nil {
		key, _ := tpm2.Pub(mustEKPub(t, e.id.EKPublic))
		der, err := s.ekCA.IssueEK(key, "lt-0042")
		if err != nil {
			t.Fatal(err)
		}
		if err := devicetest.WriteEKCert(e.tpm.Transport(), devicetest.RSAEKCertIndex, der); err != nil {
			t.Fatal(err)
		}
		if e.id, err = e.tpm.Identity(); err != nil {
			t.Fatal(err)
		}
	}
	inv, err := device.BuildInventory(s.inv(e.id.EKHash), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.st = store.NewMemory(store.WithClock(e.clock.Now))
	t.Cleanup(func() { e.st.Close() })
	e.svc, err = device.NewService(s.cfg, e.st, nil, device.Options{
		Now: e.clock.Now, Inventory: inv,
		Audit: func(_ context.Context, a device.AuditEvent) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.audits = append(e.audits, a)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.svc.Handler())
	t.Cleanup(e.srv.Close)
	e.client = &agent.Client{Gateway: e.srv.URL, HTTP: e.srv.Client(), TPM: e.tpm}
	return e
}

func mustEKPub(t *testing.T, b []byte) tpm2.TPMTPublic {
	p, err := tpm2.Unmarshal[tpm2.TPMTPublic](b)
	if err != nil {
		t.Fatal(err)
	}
	return *p
}

// openTPM opens a new simulator with random seeds (a new machine, whose
// seeds survive resets), closing the previous one.
func (e *env) openTPM(resets int) {
	e.t.Helper()
	if e.tpm != nil {
		e.tpm.Close()
	}
	sim, err := gtsim.Get()
	skipWithoutCgo(e.t, err)
	if err != nil {
		e.t.Fatal(err)
	}
	for range resets {
		if err := sim.Reset(); err != nil {
			e.t.Fatal(err)
		}
	}
	e.sim, e.tpm = sim, agent.NewSimulatorTPM(sim)
	e.t.Cleanup(func() { e.tpm.Close() })
	if e.id, err = e.tpm.Identity(); err != nil {
		e.t.Fatal(err)
	}
	if e.client != nil {
		e.client.TPM = e.tpm
	}
}

// editEnrollment changes the clock the store remembers for lt-0042, as if
// the device had reported it at its previous attestation.
func (e *env) editEnrollment(f func(*device.ClockInfo)) {
	e.t.Helper()
	key := "device:enrolled:lt-0042"
	b, err := e.st.Get(e.ctx, key)
	if err != nil {
		e.t.Fatal(err)
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(b, &rec); err != nil {
		e.t.Fatal(err)
	}
	var c device.ClockInfo
	if err := json.Unmarshal(rec["last_clock"], &c); err != nil {
		e.t.Fatal(err)
	}
	f(&c)
	rec["last_clock"], _ = json.Marshal(c)
	b, _ = json.Marshal(rec)
	if err := e.st.Set(e.ctx, key, b, time.Hour); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) code(purpose, sessionID, email string) string {
	e.t.Helper()
	c, _, err := e.svc.NewCode(e.ctx, purpose, sessionID, email)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) enroll() *device.Result {
	e.t.Helper()
	res, err := e.client.Enroll(e.ctx, e.code(device.PurposeEnroll, session, alice))
	if err != nil {
		e.t.Fatalf("enroll: %v", err)
	}
	return res
}

func (e *env) hasAudit(action, outcome string, reason device.Reason) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.ContainsFunc(e.audits, func(a device.AuditEvent) bool {
		return a.Action == action && a.Outcome == outcome && (reason == "" || a.Reason == reason)
	})
}

func wantReason(t *testing.T, err error, want device.Reason) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected a denial with reason %s, got success", want)
	}
	var ae *agent.APIError
	if errors.As(err, &ae) {
		if ae.Reason != want {
			t.Fatalf("expected reason %s, got %d %s: %s", want, ae.Status, ae.Reason, ae.ErrorResponse.Error)
		}
		return
	}
	if got, _ := device.ReasonOf(err); got != want {
		t.Fatalf("expected reason %s, got %v", want, err)
	}
}

func TestEndToEnd(t *testing.T) {
	ekCA, err := devicetest.NewEKCA()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, setup{ekCA: ekCA})
	if len(e.id.EKCert) == 0 {
		t.Fatal("expected the provisioned EK certificate to be read from NV")
	}

	// Enrollment binds the browser session that asked for the code.
	code := e.code(device.PurposeEnroll, session, alice)
	if st, _ := e.svc.CodeStatus(e.ctx, session, code); st.State != device.CodePending {
		t.Fatalf("code state before use: expected pending, got %+v", st)
	}
	res, err := e.client.Enroll(e.ctx, code)
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	if res.DeviceID != "lt-0042" || !res.SessionBound {
		t.Fatalf("enroll result: %+v", res)
	}
	if st, _ := e.svc.CodeStatus(e.ctx, session, code); st.State != device.CodeDone || st.DeviceID != "lt-0042" {
		t.Fatalf("code state after use: expected done, got %+v", st)
	}
	if st, _ := e.svc.CodeStatus(e.ctx, "another-session", code); st.State != device.CodeExpired {
		t.Fatalf("code state seen by another session: expected expired, got %+v", st)
	}
	ev, err := e.svc.SessionEvidence(e.ctx, session)
	if err != nil {
		t.Fatalf("evidence after enroll: %v", err)
	}
	if ev.DeviceID != "lt-0042" || ev.Owner != alice || ev.Status != device.StatusActive || ev.Trust != device.TrustTPMAttested || !ev.AttestedAt.Equal(e.clock.Now()) {
		t.Fatalf("evidence after enroll: %+v", ev)
	}
	facts := &device.Facts{ID: ev.DeviceID, Trust: ev.Trust, AttestedAt: ev.AttestedAt, Owner: ev.Owner}
	in := &policy.Input{Identity: &policy.Identity{Email: alice}}
	if res := (&device.Requirement{MaxAge: 8 * time.Hour}).Check(facts, in, e.clock.Now().Add(time.Hour)); !res.Met() {
		t.Fatalf("fresh evidence: %v", res.Reason)
	}

	// A code is single use.
	if _, err := e.client.Enroll(e.ctx, code); err == nil {
		t.Fatal("expected a used code to be refused")
	}

	// Verification binds a second browser session; the machine then reboots.
	e.clock.Add(time.Hour)
	session2 := "session-alice-2"
	res, err = e.client.Verify(e.ctx, e.code(device.PurposeVerify, session2, alice))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !res.SessionBound || res.Reboot {
		t.Fatalf("verify result: %+v", res)
	}
	if err := e.tpm.Reboot(); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Hour)
	res, err = e.client.Verify(e.ctx, e.code(device.PurposeVerify, session2, alice))
	if err != nil {
		t.Fatalf("verify after reboot: %v", err)
	}
	if !res.Reboot {
		t.Fatalf("expected the reboot to be noted: %+v", res)
	}
	ev, err = e.svc.SessionEvidence(e.ctx, session2)
	if err != nil || !ev.Reboot || !ev.AttestedAt.Equal(e.clock.Now()) {
		t.Fatalf("evidence after reboot: %+v, %v", ev, err)
	}

	// Device certificate for a TPM-resident key, used for mTLS.
	res, err = e.client.Cert(e.ctx)
	if err != nil {
		t.Fatalf("cert: %v", err)
	}
	certs := parsePEMCerts(t, res.CertificatePEM)
	if len(certs) != 2 || certs[0].Subject.CommonName != "lt-0042" {
		t.Fatalf("certificate: %d certs, %+v", len(certs), certs[0].Subject)
	}
	ev, err = e.svc.CertEvidence(e.ctx, certs[0])
	if err != nil || ev.DeviceID != "lt-0042" || ev.Source != "certificate" {
		t.Fatalf("cert evidence: %+v, %v", ev, err)
	}
	mtlsRoundTrip(t, e, certs[0])

	for _, a := range []string{device.ActionEnroll, device.ActionAttest, device.ActionBind, device.ActionCertificate} {
		if !e.hasAudit(a, device.OutcomeOK, "") {
			t.Errorf("expected an audit event %s ok", a)
		}
	}

	// Revocation is effective on the very next request, for both sources.
	inv, err := device.BuildInventory([]device.InventoryDevice{{ID: "lt-0042", Serial: "PF3ABCD", Owner: alice, EKPubSHA256: e.id.EKHash, Status: device.StatusRevoked}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.SetInventory(inv)
	_, err = e.svc.SessionEvidence(e.ctx, session)
	wantReason(t, err, device.ReasonRevoked)
	_, err = e.svc.CertEvidence(e.ctx, certs[0])
	wantReason(t, err, device.ReasonRevoked)
	_, err = e.client.Verify(e.ctx, e.code(device.PurposeVerify, session, alice))
	wantReason(t, err, device.ReasonRevoked)
}

// mtlsRoundTrip serves TLS with the device CA as client CAs and connects
// with the TPM-backed key and the issued certificate.
func mtlsRoundTrip(t *testing.T, e *env, leaf *x509.Certificate) {
	t.Helper()
	signer, err := e.tpm.Signer()
	if err != nil {
		t.Fatal(err)
	}
	var got *x509.Certificate
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			got = r.TLS.PeerCertificates[0]
		}
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: e.svc.ClientCAs(), Time: e.clock.Now}
	srv.StartTLS()
	defer srv.Close()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: signer, Leaf: leaf}}
	tr.TLSClientConfig.MaxVersion = tls.VersionTLS12 // ECDSA P-256/SHA-256 signatures
	rsp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err != nil {
		t.Fatalf("mTLS request with the TPM key: %v", err)
	}
	rsp.Body.Close()
	if got == nil || got.Subject.CommonName != "lt-0042" {
		t.Fatalf("server saw client certificate %v", got)
	}
	if _, err := e.svc.CertEvidence(e.ctx, got); err != nil {
		t.Fatalf("evidence from the TLS peer certificate: %v", err)
	}
}

func parsePEMCerts(t *testing.T, s string) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pemBlock
		b, rest = pemDecode(rest)
		if b == nil {
			return out
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

func TestEnrollmentFailures(t *testing.T) {
	// The AK of another TPM (seed B), presented with this TPM's EK.
	var foreignAK []byte
	{
		sim, err := gtsim.Get()
		skipWithoutCgo(t, err)
		if err != nil {
			t.Fatal(err)
		}
		id, err := agent.NewSimulatorTPM(sim).Identity()
		sim.Close()
		if err != nil {
			t.Fatal(err)
		}
		foreignAK = id.AKPublic
	}
	ekCA, err := devicetest.NewEKCA()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		setup setup
		email string
		run   func(e *env, code string) error
		want  device.Reason
	}{
		{
			name:  "EK not in inventory",
			setup: setup{inv: func(string) []device.InventoryDevice { return defaultInventory(strings.Repeat("ab", 32)) }},
			want:  device.ReasonNotEnrolled,
		},
		{
			name: "revoked device",
			setup: setup{inv: func(h string) []device.InventoryDevice {
				d := defaultInventory(h)
				d[0].Status = device.StatusRevoked
				return d
			}},
			want: device.ReasonRevoked,
		},
		{
			name:  "wrong owner",
			email: bob,
			want:  device.ReasonOwnerMismatch,
		},
		{
			name:  "EK certificate from an untrusted manufacturer",
			setup: setup{ekCA: ekCA, cfg: device.Config{EKCAFiles: []string{writeTemp(t, "other-ca.pem", mustEKCA(t).PEM())}}},
			want:  device.ReasonNotEnrolled,
		},
		{
			name: "AK of another TPM",
			run: func(e *env, code string) error {
				start, err := e.svc.EnrollStart(e.ctx, device.EnrollStartRequest{Code: code, EKPublic: e.id.EKPublic, AKPublic: foreignAK})
				if err != nil {
					return err
				}
				// This TPM cannot release a credential bound to an AK it does not hold.
				if _, err := e.tpm.ActivateCredential(start.Credential, start.EncryptedSecret); err == nil {
					e.t.Fatal("expected the TPM to refuse activation for a foreign AK")
				}
				q, err := e.tpm.Quote(start.Nonce, start.PCRs)
				if err != nil {
					return err
				}
				_, err = e.svc.EnrollFinish(e.ctx, device.EnrollFinishRequest{ChallengeID: start.ChallengeID, Secret: make([]byte, 32), Quote: q})
				return err
			},
			want: device.ReasonNotVerified,
		},
		{
			name: "wrong activation secret",
			run: func(e *env, code string) error {
				start, err := e.svc.EnrollStart(e.ctx, device.EnrollStartRequest{Code: code, EKPublic: e.id.EKPublic, AKPublic: e.id.AKPublic})
				if err != nil {
					return err
				}
				secret, err := e.tpm.ActivateCredential(start.Credential, start.EncryptedSecret)
				if err != nil {
					return err
				}
				q, err := e.tpm.Quote(start.Nonce, start.PCRs)
				if err != nil {
					return err
				}
				wrong := slices.Clone(secret)
				wrong[0] ^= 1
				_, err = e.svc.EnrollFinish(e.ctx, device.EnrollFinishRequest{ChallengeID: start.ChallengeID, Secret: wrong, Quote: q})
				if err == nil {
					e.t.Fatal("expected a wrong secret to be refused")
				}
				// The challenge is gone: the right secret cannot follow.
				_, err2 := e.svc.EnrollFinish(e.ctx, device.EnrollFinishRequest{ChallengeID: start.ChallengeID, Secret: secret, Quote: q})
				wantReason(e.t, err2, device.ReasonNotVerified)
				return err
			},
			want: device.ReasonNotVerified,
		},
		{
			name: "replayed challenge",
			run: func(e *env, code string) error {
				start, err := e.svc.EnrollStart(e.ctx, device.EnrollStartRequest{Code: code, EKPublic: e.id.EKPublic, AKPublic: e.id.AKPublic})
				if err != nil {
					return err
				}
				secret, _ := e.tpm.ActivateCredential(start.Credential, start.EncryptedSecret)
				q, _ := e.tpm.Quote(start.Nonce, start.PCRs)
				req := device.EnrollFinishRequest{ChallengeID: start.ChallengeID, Secret: secret, Quote: q}
				if _, err := e.svc.EnrollFinish(e.ctx, req); err != nil {
					e.t.Fatalf("first finish: %v", err)
				}
				_, err = e.svc.EnrollFinish(e.ctx, req)
				return err
			},
			want: device.ReasonNotVerified,
		},
		{
			name: "quote over another nonce",
			run: func(e *env, code string) error {
				start, err := e.svc.EnrollStart(e.ctx, device.EnrollStartRequest{Code: code, EKPublic: e.id.EKPublic, AKPublic: e.id.AKPublic})
				if err != nil {
					return err
				}
				secret, _ := e.tpm.ActivateCredential(start.Credential, start.EncryptedSecret)
				q, _ := e.tpm.Quote([]byte("another nonce of the attacker's"), start.PCRs)
				_, err = e.svc.EnrollFinish(e.ctx, device.EnrollFinishRequest{ChallengeID: start.ChallengeID, Secret: secret, Quote: q})
				return err
			},
			want: device.ReasonNotVerified,
		},
		{
			name:  "PCR mismatch",
			setup: setup{cfg: device.Config{PCRPolicy: device.PCRPolicy{PCRs: []int{0, 7}, Allowed: []device.PCRAllowed{{PCR: 7, Values: []string{strings.Repeat("ee", 32)}}}}}},
			want:  device.ReasonPCRMismatch,
		},
		{
			name: "expired challenge",
			run: func(e *env, code string) error {
				start, err := e.svc.EnrollStart(e.ctx, device.EnrollStartRequest{Code: code, EKPublic: e.id.EKPublic, AKPublic: e.id.AKPublic})
				if err != nil {
					return err
				}
				secret, _ := e.tpm.ActivateCredential(start.Credential, start.EncryptedSecret)
				q, _ := e.tpm.Quote(start.Nonce, start.PCRs)
				e.clock.Add(device.DefaultNonceTTL + time.Second)
				_, err = e.svc.EnrollFinish(e.ctx, device.EnrollFinishRequest{ChallengeID: start.ChallengeID, Secret: secret, Quote: q})
				return err
			},
			want: device.ReasonNotVerified,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.setup)
			email := tt.email
			if email == "" {
				email = alice
			}
			code := e.code(device.PurposeEnroll, session, email)
			run := tt.run
			if run == nil {
				run = func(e *env, code string) error { _, err := e.client.Enroll(e.ctx, code); return err }
			}
			wantReason(t, run(e, code), tt.want)
			if tt.name != "replayed challenge" {
				// The session shows the same reason as the agent.
				_, err := e.svc.SessionEvidence(e.ctx, session)
				wantReason(t, err, tt.want)
				// (An expired challenge is gone from the store with its link to the code.)
				if st, _ := e.svc.CodeStatus(e.ctx, session, code); tt.name != "expired challenge" && (st.State != device.CodeFailed || st.Reason != tt.want) {
					t.Fatalf("code state: expected failed with %s, got %+v", tt.want, st)
				}
				if _, err := e.client.Verify(e.ctx, e.code(device.PurposeVerify, session, alice)); err == nil {
					t.Fatal("expected verification of a device that failed enrollment to fail")
				}
			}
			if !e.hasAudit(device.ActionEnroll, device.OutcomeDenied, "") {
				t.Error("expected an audit event for the denied enrollment")
			}
		})
	}
}

func TestAttestationFailures(t *testing.T) {
	tests := []struct {
		name string
		run  func(e *env) error
		want device.Reason
	}{
		{
			name: "replayed nonce",
			run: func(e *env) error {
				start, err := e.svc.AttestStart(e.ctx, device.AttestStartRequest{Purpose: device.AttestCheck, AKPublic: e.id.AKPublic})
				if err != nil {
					return err
				}
				q, _ := e.tpm.Quote(start.Nonce, start.PCRs)
				req := device.AttestFinishRequest{ChallengeID: start.ChallengeID, Quote: q}
				if _, err := e.svc.AttestFinish(e.ctx, req); err != nil {
					e.t.Fatalf("first finish: %v", err)
				}
				_, err = e.svc.AttestFinish(e.ctx, req)
				return err
			},
			want: device.ReasonNotVerified,
		},
		{
			name: "quote over another nonce",
			run: func(e *env) error {
				start, err := e.svc.AttestStart(e.ctx, device.AttestStartRequest{Purpose: device.AttestVerify, Code: e.code(device.PurposeVerify, session, alice), AKPublic: e.id.AKPublic})
				if err != nil {
					return err
				}
				q, _ := e.tpm.Quote(make([]byte, 32), start.PCRs)
				_, err = e.svc.AttestFinish(e.ctx, device.AttestFinishRequest{ChallengeID: start.ChallengeID, Quote: q})
				return err
			},
			want: device.ReasonNotVerified,
		},
		{
			name: "quote over other PCRs",
			run: func(e *env) error {
				start, err := e.svc.AttestStart(e.ctx, device.AttestStartRequest{Purpose: device.AttestCheck, AKPublic: e.id.AKPublic})
				if err != nil {
					return err
				}
				q, _ := e.tpm.Quote(start.Nonce, []int{1, 2})
				_, err = e.svc.AttestFinish(e.ctx, device.AttestFinishRequest{ChallengeID: start.ChallengeID, Quote: q})
				return err
			},
			want: device.ReasonNotVerified,
		},
		{
			name: "PCR values the TPM did not quote",
			run: func(e *env) error {
				start, err := e.svc.AttestStart(e.ctx, device.AttestStartRequest{Purpose: device.AttestCheck, AKPublic: e.id.AKPublic})
				if err != nil {
					return err
				}
				q, _ := e.tpm.Quote(start.Nonce, start.PCRs)
				q.PCRs[len(q.PCRs)-1].Digest = make([]byte, 32)
				q.PCRs[len(q.PCRs)-1].Digest[0] = 1
				_, err = e.svc.AttestFinish(e.ctx, device.AttestFinishRequest{ChallengeID: start.ChallengeID, Quote: q})
				return err
			},
			want: device.ReasonNotVerified,
		},
		{
			name: "PCR mismatch after a change of posture",
			run: func(e *env) error {
				// Something measured into PCR 7 (e.g. Secure Boot turned off).
				if _, err := (tpm2.PCRExtend{
					PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(7), Auth: tpm2.PasswordAuth(nil)},
					Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: make([]byte, 32)}}},
				}).Execute(e.tpm.Transport()); err != nil {
					e.t.Fatal(err)
				}
				_, err := e.client.Verify(e.ctx, e.code(device.PurposeVerify, session, alice))
				wantReason(e.t, err, device.ReasonPCRMismatch)
				// The session that was bound loses its device at once.
				_, err = e.svc.SessionEvidence(e.ctx, session)
				return err
			},
			want: device.ReasonPCRMismatch,
		},
		{
			name: "reset counter going back",
			run: func(e *env) error {
				// The record says the TPM had booted once more than it now reports.
				e.editEnrollment(func(c *device.ClockInfo) { c.ResetCount++ })
				_, err := e.client.Check(e.ctx)
				return err
			},
			want: device.ReasonNotVerified,
		},
		{
			name: "restart counter going back",
			run: func(e *env) error {
				e.editEnrollment(func(c *device.ClockInfo) { c.RestartCount++ })
				_, err := e.client.Check(e.ctx)
				return err
			},
			want: device.ReasonNotVerified,
		},
		{
			name: "clock going back without a reset",
			run: func(e *env) error {
				e.editEnrollment(func(c *device.ClockInfo) { c.Clock += 3600_000 })
				_, err := e.client.Check(e.ctx)
				return err
			},
			want: device.ReasonNotVerified,
		},
		{
			name: "stale attestation",
			run: func(e *env) error {
				ev, err := e.svc.SessionEvidence(e.ctx, session)
				if err != nil {
					return err
				}
				facts := &device.Facts{ID: ev.DeviceID, Trust: ev.Trust, AttestedAt: ev.AttestedAt, Owner: ev.Owner}
				in := &policy.Input{Identity: &policy.Identity{Email: alice}}
				if res := (&device.Requirement{MaxAge: 8 * time.Hour}).Check(facts, in, e.clock.Now().Add(8*time.Hour+time.Second)); !res.Met() {
					return &device.Error{Reason: res.Reason, Msg: "decision"}
				}
				return nil
			},
			want: device.ReasonStale,
		},
		{
			name: "AK not enrolled",
			run: func(e *env) error {
				e.openTPM(0)
				_, err := e.client.Check(e.ctx)
				return err
			},
			want: device.ReasonNotEnrolled,
		},
		{
			name: "owner mismatch on verify",
			run: func(e *env) error {
				_, err := e.client.Verify(e.ctx, e.code(device.PurposeVerify, "session-bob", bob))
				wantReason(e.t, err, device.ReasonOwnerMismatch)
				_, err = e.svc.SessionEvidence(e.ctx, "session-bob")
				return err
			},
			want: device.ReasonOwnerMismatch,
		},
		{
			name: "enroll code used to verify",
			run: func(e *env) error {
				_, err := e.client.Verify(e.ctx, e.code(device.PurposeEnroll, session, alice))
				return err
			},
			want: device.ReasonNotVerified,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, setup{resets: 3, cfg: device.Config{PCRPolicy: device.PCRPolicy{PCRs: []int{0, 7},
				Allowed: []device.PCRAllowed{{PCR: 7, Values: []string{zeroPCR}}}}}})
			e.enroll()
			e.clock.Add(time.Minute)
			wantReason(t, tt.run(e), tt.want)
		})
	}
}

// zeroPCR is PCR 7 of a fresh simulator (nothing measured).
var zeroPCR = hex.EncodeToString(make([]byte, 32))

// A posture check (`gateway-agent check`, no code) whose quote verifies but
// whose PCRs the policy refuses is evidence from the device's own TPM that
// it changed (Secure Boot turned off): every session bound to the device
// loses it at once — not only when its binding's max_age runs out — and a
// device certificate is refused; an attestation that passes again (after a
// reboot into the allowed state) restores them.
func TestFailedPostureCheckEndsTheDevicesBindings(t *testing.T) {
	e := newEnv(t, setup{resets: 3, cfg: device.Config{PCRPolicy: device.PCRPolicy{PCRs: []int{0, 7},
		Allowed: []device.PCRAllowed{{PCR: 7, Values: []string{zeroPCR}}}}}})
	e.enroll()
	e.clock.Add(time.Minute)
	if _, err := e.client.Verify(e.ctx, e.code(device.PurposeVerify, session, alice)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SessionEvidence(e.ctx, session); err != nil {
		t.Fatalf("bound session: %v", err)
	}
	if _, err := (tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(7), Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: make([]byte, 32)}}},
	}).Execute(e.tpm.Transport()); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	_, err := e.client.Check(e.ctx)
	wantReason(t, err, device.ReasonPCRMismatch)
	e.clock.Add(time.Minute) // past the enrollment cache
	_, err = e.svc.SessionEvidence(e.ctx, session)
	wantReason(t, err, device.ReasonPCRMismatch)

	// Back in the allowed state: a passing attestation restores the device.
	if err := e.tpm.Reboot(); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	if _, err := e.client.Check(e.ctx); err != nil {
		t.Fatalf("check after the reboot: %v", err)
	}
	if _, err := e.svc.SessionEvidence(e.ctx, session); err != nil {
		t.Fatalf("bound session after a passing check: %v", err)
	}
}
