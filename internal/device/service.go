package device

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/accessgateway/gateway/internal/store"
)

// AuditEvent is one device event for the audit log: every enrollment,
// attestation, session binding, certificate, and every denial of one of
// them. It never holds secrets, nonces or session IDs.
type AuditEvent struct {
	Time     time.Time
	Action   string // ActionEnroll, ActionAttest, ActionBind, ActionCertificate
	Outcome  string // OutcomeOK or OutcomeDenied
	DeviceID string // empty when the device could not be identified
	Serial   string
	Email    string // the signed-in user behind the code, when known
	Reason   Reason // for denials
	Detail   string
	Reboot   bool
}

// Audit actions and outcomes.
const (
	ActionEnroll      = "device.enroll"
	ActionAttest      = "device.attest"
	ActionBind        = "device.bind"
	ActionCertificate = "device.certificate"
	OutcomeOK         = "ok"
	OutcomeDenied     = "denied"
)

// Options are the service's injectable dependencies.
type Options struct {
	// Audit receives every device event; nil drops them.
	Audit func(ctx context.Context, e AuditEvent)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Inventory, when set, is used instead of cfg.Inventory/InventoryFile.
	Inventory *Inventory
	// BaseDir resolves the relative paths of the section (inventory_file,
	// ek_ca_files, inline ek_cert_file, certificates.*), typically the
	// directory of the gateway's config file. Empty means the working
	// directory.
	BaseDir string
	// RefuseSimulator refuses an inventory that lists the TPM simulator's
	// EK (SimulatorEKSHA256): set outside gateway dev.
	RefuseSimulator bool
}

// Service is the gateway side of device trust. It is safe for concurrent use;
// all state that must be shared between replicas lives in the store.
type Service struct {
	// bindings and enrollments make the steady path of session evidence
	// one store read (memo.go).
	bindings    bindingMemo
	enrollments enrollCache

	cfg     Config
	st      store.Store
	log     *slog.Logger
	audit   func(context.Context, AuditEvent)
	now     func() time.Time
	ekRoots *EKRoots
	ca      *CA
	baseDir string
	// refuseSimulator: Options.RefuseSimulator.
	refuseSimulator bool
	inv             atomic.Pointer[Inventory]
}

// Store key prefixes.
const (
	keyCode       = "device:code:"      // + sha256(code)      -> codeRecord
	keyCodeState  = "device:codestate:" // + sha256(code)      -> CodeState
	keyChallenge  = "device:chal:"      // + challenge ID      -> challenge
	keyEnrollment = "device:enrolled:"  // + device ID         -> enrollment
	keyByAK       = "device:byak:"      // + hex AK name       -> device ID
	keySession    = "device:session:"   // + sha256(session)   -> binding
	// + purpose ":" sha256(session) -> seed of the session's current code
	keySessionCode = "device:sesscode:"
)

// BindingKeyPrefix begins every BindingKey.
const BindingKeyPrefix = keySession

// NewService builds the service: it applies defaults, validates cfg, loads
// the EK CAs, the inventory and the device CA. Every problem is an error.
func NewService(cfg Config, st store.Store, logger *slog.Logger, opts Options) (*Service, error) {
	cfg = cfg.WithDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("device: invalid config: %w", errors.Join(errs...))
	}
	if st == nil {
		return nil, errors.New("device: a store is required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.InventoryFile = resolve(opts.BaseDir, cfg.InventoryFile)
	cfg.EKCAFiles = slices.Clone(cfg.EKCAFiles)
	for i, f := range cfg.EKCAFiles {
		cfg.EKCAFiles[i] = resolve(opts.BaseDir, f)
	}
	cfg.Certificates.CACertFile = resolve(opts.BaseDir, cfg.Certificates.CACertFile)
	cfg.Certificates.CAKeyFile = resolve(opts.BaseDir, cfg.Certificates.CAKeyFile)
	s := &Service{cfg: cfg, st: st, log: logger, audit: opts.Audit, now: opts.Now, baseDir: opts.BaseDir, refuseSimulator: opts.RefuseSimulator}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if s.ekRoots, err = LoadEKRoots(cfg.EKCAFiles); err != nil {
		return nil, err
	}
	if cfg.RequireEKCert && s.ekRoots.n == 0 {
		return nil, errors.New("device: require_ek_cert needs ek_ca_files")
	}
	inv := opts.Inventory
	if inv == nil {
		if inv, err = s.loadInventory(); err != nil {
			return nil, err
		}
	}
	s.inv.Store(inv)
	if cfg.Certificates.CACertFile != "" {
		s.ca, err = LoadCA(cfg.Certificates.CACertFile, cfg.Certificates.CAKeyFile)
	} else {
		logger.Warn("device: no device CA configured; generated one in memory, its certificates are valid only for this process")
		s.ca, err = NewEphemeralCA(s.now())
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) loadInventory() (*Inventory, error) {
	var inv *Inventory
	var err error
	if s.cfg.InventoryFile != "" {
		inv, err = LoadInventoryFile(s.cfg.InventoryFile, s.ekRoots)
	} else {
		inv, err = BuildInventory(s.cfg.Inventory, s.baseDir, s.ekRoots)
	}
	if err != nil {
		return nil, err
	}
	if id := simulatorDevice(inv); id != "" && s.refuseSimulator {
		return nil, fmt.Errorf("device: invalid inventory: device %q has the EK of the TPM simulator's fixed seed, which anyone can run (gateway-agent --tpm simulator): allowed in gateway dev only", id)
	}
	return inv, nil
}

// Close releases nothing today; it exists for the gateway's uniform
// construct-validate-close lifecycle. State lives in the store.
func (s *Service) Close() error { return nil }

// ReloadInventory re-reads the inventory (file or inline) and swaps it in
// atomically; on error the old inventory stays.
func (s *Service) ReloadInventory() error {
	inv, err := s.loadInventory()
	if err != nil {
		return err
	}
	s.inv.Store(inv)
	return nil
}

// SetInventory swaps in inv.
func (s *Service) SetInventory(inv *Inventory) { s.inv.Store(inv) }

// Inventory returns the current inventory.
func (s *Service) Inventory() *Inventory { return s.inv.Load() }

// ClientCAs is the pool to put in tls.Config.ClientCAs (with
// tls.VerifyClientCertIfGiven) so that device certificates are accepted.
func (s *Service) ClientCAs() *x509.CertPool { return s.ca.Pool() }

// CA returns the device CA.
func (s *Service) CA() *CA { return s.ca }

// PCRs returns the PCR indexes every quote must cover.
func (s *Service) PCRs() []int { return append([]int(nil), s.cfg.PCRPolicy.PCRs...) }

func (s *Service) emit(ctx context.Context, e AuditEvent) {
	e.Time = s.now()
	lvl := slog.LevelInfo
	s.log.Log(ctx, lvl, "device event", "action", e.Action, "outcome", e.Outcome, "device", e.DeviceID,
		"reason", string(e.Reason), "detail", e.Detail, "reboot", e.Reboot)
	if s.audit != nil {
		s.audit(ctx, e)
	}
}

// records kept in the store

type codeRecord struct {
	Purpose     string    `json:"purpose"`
	SessionHash string    `json:"session"`
	Email       string    `json:"email"`
	Tool        string    `json:"tool,omitempty"`
	ExpiresAt   time.Time `json:"expires_at"`
}

type challenge struct {
	Kind        string    `json:"kind"` // "enroll" or an attest purpose
	DeviceID    string    `json:"device_id"`
	Email       string    `json:"email,omitempty"`
	Tool        string    `json:"tool,omitempty"`
	SessionHash string    `json:"session,omitempty"`
	CodeHash    string    `json:"code,omitempty"`
	AKPublic    []byte    `json:"ak_public"`
	EKHash      string    `json:"ek_hash,omitempty"`
	SecretHash  []byte    `json:"secret_hash,omitempty"`
	Nonce       []byte    `json:"nonce"`
	PCRs        []int     `json:"pcrs"`
	ExpiresAt   time.Time `json:"expires_at"`
}

type enrollment struct {
	DeviceID string `json:"device_id"`
	// Owner is the user who enrolled the device (the signed-in user whose
	// page showed the enrollment code). It is the device's owner when the
	// inventory names none; the inventory's owner always wins. Enrollments
	// stored before owners were recorded have none (see effectiveOwner).
	Owner      string     `json:"owner,omitempty"`
	AKPublic   []byte     `json:"ak_public"`
	AKName     []byte     `json:"ak_name"`
	EKHash     string     `json:"ek_hash"`
	EnrolledAt time.Time  `json:"enrolled_at"`
	AttestedAt time.Time  `json:"attested_at"`
	Last       *ClockInfo `json:"last_clock,omitempty"`
	// Failed is set when an attestation whose quote verified (the device's
	// own TPM, this nonce) showed a posture the policy refuses: the device
	// counts for no session or certificate until an attestation passes.
	Failed *postureFailure `json:"failed,omitempty"`
}

// postureFailure is a refused posture the device's TPM reported.
type postureFailure struct {
	At      time.Time `json:"at"`
	Reason  Reason    `json:"reason"`
	Message string    `json:"message"`
}

type binding struct {
	DeviceID   string    `json:"device_id"`
	Email      string    `json:"email,omitempty"`
	AttestedAt time.Time `json:"attested_at"`
	Reboot     bool      `json:"reboot"`
	// Denied is set when the last verification attempt for this session
	// failed; the session then has no device until a new one succeeds.
	Denied  Reason `json:"denied,omitempty"`
	Message string `json:"message,omitempty"`
}

func (s *Service) getJSON(ctx context.Context, key string, v any) error {
	b, err := s.st.Get(ctx, key)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (s *Service) takeJSON(ctx context.Context, key string, v any) error {
	b, err := s.st.Take(ctx, key)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (s *Service) setJSON(ctx context.Context, key string, v any, ttl time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.st.Set(ctx, key, b, ttl)
}

func hashKey(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("device: crypto/rand failed: " + err.Error())
	}
	return b
}

// newNonce derives a 32-byte nonce from fresh randomness, domain-separated by
// purpose and bound to the challenge ID.
func newNonce(purpose, challengeID string) []byte {
	h := sha256.New()
	h.Write([]byte("accessgateway/device/nonce/v1\x00"))
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(challengeID))
	h.Write([]byte{0})
	h.Write(randomBytes(32))
	return h.Sum(nil)
}

func validChallengeID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// SessionEvidence returns the device bound to a browser session, re-checking
// the inventory and the enrollment live, so a revoked device is denied on its
// very next request. It returns (evidence, nil) for a verified, active
// device; (evidence or nil, *Error) for a denial; any other error when the
// store could not answer. Trust, freshness (max_age) and owner are judged by
// the decision (Requirement.Check).
func (s *Service) SessionEvidence(ctx context.Context, sessionID string) (*Evidence, error) {
	return s.SessionEvidenceFrom(ctx, sessionID, s.st.Get)
}

// BindingKey is the store key of a browser session's device binding (the
// gateway reads it ahead with the session: requirement.Prefetcher).
func (s *Service) BindingKey(sessionID string) string {
	sum := sha256.Sum256([]byte(sessionID))
	var out [len(keySession) + 2*sha256.Size]byte
	copy(out[:], keySession)
	hex.Encode(out[len(keySession):], sum[:])
	return string(out[:])
}

// SessionEvidenceFrom is SessionEvidence reading the binding through get
// (which may serve a value read ahead). The steady path costs that read and
// no other: the decoded binding is kept while its bytes are unchanged, and
// the enrollment's owner and date are kept for a few seconds (enrollCacheTTL);
// the inventory — revocation — is checked live on every call.
func (s *Service) SessionEvidenceFrom(ctx context.Context, sessionID string, get func(context.Context, string) ([]byte, error)) (*Evidence, error) {
	if sessionID == "" {
		return nil, newError(ReasonNotVerified, "no session", nil)
	}
	key := s.BindingKey(sessionID)
	raw, err := get(ctx, key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, newError(ReasonNotVerified, "no device is bound to this session", nil)
		}
		return nil, fmt.Errorf("device: read session binding: %w", err)
	}
	b, err := s.bindings.decode(key, raw)
	if err != nil {
		return nil, fmt.Errorf("device: read session binding: %w", err)
	}
	if b.Denied != "" {
		return nil, newError(b.Denied, b.Message, nil)
	}
	ev := &Evidence{DeviceID: b.DeviceID, AttestedAt: b.AttestedAt, Reboot: b.Reboot, Source: "session"}
	// The owner is judged by the decision (Requirement.Check) against
	// whoever calls, not against the binding's email.
	if err := s.liveCheckCached(ctx, ev); err != nil {
		return ev, err
	}
	return ev, nil
}

// liveCheck fills ev from the current inventory and enrollment, and denies a
// device that is gone, revoked, no longer enrolled (or re-enrolled after
// notBefore), enrolled with another EK than the one the inventory names for
// it now, or whose owner is not email (when email is given). ev.Owner is
// set to the device's effective owner (see effectiveOwner).
func (s *Service) liveCheck(ctx context.Context, ev *Evidence, email string, notBefore time.Time) error {
	return s.liveCheckWith(ctx, ev, email, notBefore, s.readEnrollment, true)
}

// attestLiveCheck is liveCheck for an attestation under way: a refused
// posture recorded before does not stop it (a passing attestation is how
// the device recovers). With en non-nil it judges that enrollment (the one
// the attestation will update) instead of reading the current one.
func (s *Service) attestLiveCheck(ctx context.Context, ev *Evidence, email string, en *enrollment) error {
	read := s.readEnrollment
	if en != nil {
		read = func(context.Context, string) (*enrollment, error) { return en, nil }
	}
	return s.liveCheckWith(ctx, ev, email, time.Time{}, read, false)
}

// liveCheckCached is liveCheck for a session's evidence: the enrollment's
// owner and date come from a short-lived cache (a removed or replaced
// enrollment is seen within enrollCacheTTL; a revoked device at once, from
// the inventory).
func (s *Service) liveCheckCached(ctx context.Context, ev *Evidence) error {
	return s.liveCheckWith(ctx, ev, "", time.Time{}, s.enrollments.read(s), true)
}

// readEnrollment reads a device's enrollment; (nil, nil) when absent.
func (s *Service) readEnrollment(ctx context.Context, id string) (*enrollment, error) {
	_, en, err := s.readEnrollmentRaw(ctx, id)
	return en, err
}

// readEnrollmentRaw reads a device's enrollment and the bytes it is stored
// as (for replaceEnrollment); (nil, nil, nil) when absent.
func (s *Service) readEnrollmentRaw(ctx context.Context, id string) ([]byte, *enrollment, error) {
	raw, err := s.st.Get(ctx, keyEnrollment+id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("device: read enrollment: %w", err)
	}
	en := new(enrollment)
	if err := json.Unmarshal(raw, en); err != nil {
		return nil, nil, fmt.Errorf("device: read enrollment: %w", err)
	}
	return raw, en, nil
}

// replaceEnrollment stores en as device id's enrollment in place of exactly
// the one stored as raw (read with readEnrollmentRaw), and of no other: one
// CompareAndSwap (SetNX when raw is nil: no enrollment was stored). It
// reports false, having written nothing, when the enrollment changed since
// raw was read (enrolled again, attested, expired), or when another writer
// stored one first.
func (s *Service) replaceEnrollment(ctx context.Context, id string, raw []byte, en enrollment) (bool, error) {
	b, err := marshalJSON(en)
	if err != nil {
		return false, err
	}
	key := keyEnrollment + id
	if raw != nil {
		// One atomic step: no moment in which the device reads as not
		// enrolled (another user's enrollment finishing then would pass
		// the owner check).
		ok, err := s.st.CompareAndSwap(ctx, key, raw, b, s.cfg.EnrollmentTTL)
		if err != nil {
			return false, fmt.Errorf("device: replace enrollment: %w", err)
		}
		return ok, nil
	}
	ok, err := s.st.SetNX(ctx, key, b, s.cfg.EnrollmentTTL)
	if err != nil {
		return false, fmt.Errorf("device: store enrollment: %w", err)
	}
	return ok, nil
}

// sameEnrollment reports whether a and b are one enrollment (the same
// enrolling of the same AK, EK and owner), whatever attestations recorded
// on it since.
func sameEnrollment(a, b *enrollment) bool {
	return a != nil && b != nil && a.DeviceID == b.DeviceID && a.Owner == b.Owner && a.EKHash == b.EKHash &&
		bytes.Equal(a.AKName, b.AKName) && bytes.Equal(a.AKPublic, b.AKPublic) && a.EnrolledAt.Equal(b.EnrolledAt)
}

func (s *Service) liveCheckWith(ctx context.Context, ev *Evidence, email string, notBefore time.Time,
	read func(context.Context, string) (*enrollment, error), posture bool) error {
	inv := s.Inventory()
	d, ok := inv.Device(ev.DeviceID)
	if !ok {
		ev.Status = StatusUnknown
		return newError(ReasonNotEnrolled, fmt.Sprintf("device %q is no longer in the inventory", ev.DeviceID), nil)
	}
	ev.Serial, ev.Owner, ev.Status = d.Serial, d.Owner, d.Status
	if d.Status != StatusActive {
		return newError(ReasonRevoked, fmt.Sprintf("device %q is revoked", d.ID), nil)
	}
	if err := checkOwner(d, d.Owner, email); err != nil {
		return err
	}
	en, err := read(ctx, d.ID)
	if err != nil {
		return err
	}
	if en == nil {
		return newError(ReasonNotEnrolled, fmt.Sprintf("device %q is not enrolled", d.ID), nil)
	}
	if en.EKHash != inv.ekHash(d.ID) {
		return newError(ReasonNotEnrolled, fmt.Sprintf("device %q was enrolled with a TPM whose EK the inventory no longer names for it: enroll it again", d.ID), nil)
	}
	if !notBefore.IsZero() && en.EnrolledAt.After(notBefore) {
		return newError(ReasonNotEnrolled, fmt.Sprintf("device %q was re-enrolled after this credential was issued", d.ID), nil)
	}
	owner := effectiveOwner(d, en)
	if owner == "" {
		return newError(ReasonNotEnrolled, fmt.Sprintf("device %q was enrolled before the gateway recorded device owners: enroll it again with the enrollment code from the device page", d.ID), nil)
	}
	ev.Owner = owner
	if err := checkOwner(d, owner, email); err != nil {
		return err
	}
	if f := en.Failed; posture && f != nil {
		return newError(f.Reason, fmt.Sprintf("device %q failed its attestation at %s (%s): fix it and run gateway-agent check", d.ID, f.At.UTC().Format(time.RFC3339), f.Message), nil)
	}
	ev.Trust = TrustTPMAttested
	return nil
}

// effectiveOwner is whom a device belongs to: the inventory's owner when IT
// named one (IT can always override), else the user recorded when the device
// was enrolled. "" means neither (an enrollment older than owner records, or
// none at all).
func effectiveOwner(d InventoryDevice, en *enrollment) string {
	if d.Owner != "" {
		return d.Owner
	}
	if en != nil {
		return en.Owner
	}
	return ""
}

// checkOwner refuses a device whose owner is not email. An empty owner or an
// empty email (no browser session involved, e.g. a posture check) passes.
func checkOwner(d InventoryDevice, owner, email string) error {
	if owner == "" || email == "" || strings.EqualFold(owner, email) {
		return nil
	}
	return newError(ReasonOwnerMismatch, fmt.Sprintf("device %q belongs to another user than %s: a device is only verified for its owner's browser session", d.ID, email), nil)
}

func marshalJSON(v any) ([]byte, error) { return json.Marshal(v) }
