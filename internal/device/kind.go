package device

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/store"
)

// Kind is device trust as a requirement kind (routes[].require.device and
// the top-level devices: section). See internal/requirement.
type Kind struct{}

// Spec is a route's require.device section.
//
//	require:
//	  device: {trust: tpm-attested, max_age: 8h}
type Spec struct {
	// Trust is the minimum trust level; "tpm-attested" is the only level.
	Trust string `yaml:"trust"`
	// MaxAge is how old the last attestation may be; 0 means any age.
	MaxAge time.Duration `yaml:"max_age"`
}

// Facts are what the device kind found for a request: the device bound to
// the browser session or named by the client certificate, as the inventory
// and the enrollment say now. Problem is set when the device system judged
// the device unfit (revoked, not enrolled, PCR mismatch).
type Facts struct {
	ID         string
	Trust      string
	AttestedAt time.Time
	// Owner is the device's owner (email); empty when it has none.
	Owner   string
	Problem policy.Reason
}

// Assumption is a policy test's (or `gateway explain`'s) device: tests[].device.
type Assumption struct {
	ID string `yaml:"id"`
	// AttestedAt is RFC 3339; empty means at the test's instant.
	AttestedAt string `yaml:"attested_at"`
	// Owner is the device's owner; empty means none.
	Owner string `yaml:"owner"`
	// Problem is a device reason such as device-revoked.
	Problem string `yaml:"problem"`
}

// Name implements requirement.Kind.
func (Kind) Name() string { return "device" }

// Reasons implements requirement.Kind.
func (Kind) Reasons() []policy.Reason {
	return []policy.Reason{ReasonNotVerified, ReasonNotEnrolled, ReasonRevoked, ReasonStale,
		ReasonPCRMismatch, ReasonOwnerMismatch, ReasonTrustInsufficient}
}

// NewSpec implements requirement.Kind.
func (Kind) NewSpec() any { return &Spec{} }

// Compile implements requirement.Kind.
func (Kind) Compile(spec, section any, _ requirement.Route) (policy.Requirement, []requirement.Problem) {
	s := spec.(*Spec)
	var probs []requirement.Problem
	if section == nil {
		probs = append(probs, requirement.Problemf("", "requires the devices section (inventory and attestation policy)"))
	}
	if s.Trust != "" && s.Trust != TrustTPMAttested {
		probs = append(probs, requirement.Problemf(".trust", "expected %q, got %q", TrustTPMAttested, s.Trust))
	}
	if s.MaxAge < 0 || s.MaxAge > 30*24*time.Hour {
		probs = append(probs, requirement.Problemf(".max_age", "expected between 0 and 720h, got %s", s.MaxAge))
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return &Requirement{MaxAge: s.MaxAge}, nil
}

// Requirement is a compiled require.device: the pure check.
type Requirement struct {
	MaxAge time.Duration
}

// Kind implements policy.Requirement.
func (*Requirement) Kind() string { return "device" }

// Check implements policy.Requirement: a device must be present, judged fit
// by the device system, TPM-attested, attested within MaxAge of now, and
// owned by the caller when it has an owner — whoever the caller is (browser
// session or bearer token). It holds until the attestation is MaxAge old.
func (q *Requirement) Check(facts any, in *policy.Input, now time.Time) policy.Result {
	f, _ := facts.(*Facts)
	switch {
	case f == nil:
		return policy.Result{Reason: ReasonNotVerified}
	case f.Problem != "":
		return policy.Result{Reason: f.Problem}
	case f.Trust != TrustTPMAttested:
		return policy.Result{Reason: ReasonTrustInsufficient}
	case f.AttestedAt.IsZero():
		return policy.Result{Reason: ReasonNotVerified}
	case f.Owner != "" && (in.Identity == nil || !strings.EqualFold(f.Owner, in.Identity.Email)):
		return policy.Result{Reason: ReasonOwnerMismatch}
	}
	if q.MaxAge <= 0 {
		return policy.Result{}
	}
	until := f.AttestedAt.Add(q.MaxAge)
	if !now.Before(until) {
		return policy.Result{Reason: ReasonStale}
	}
	return policy.Result{NotAfter: until}
}

// Section implements requirement.Sectioned.
func (Kind) Section() (string, any) { return "devices", &Config{} }

// SectionProblems implements requirement.Sectioned.
func (Kind) SectionProblems(section any) []requirement.Problem {
	var out []requirement.Problem
	for _, err := range section.(*Config).Validate() {
		path, msg, _ := strings.Cut(err.Error(), ": ")
		out = append(out, requirement.Problem{Path: "." + path, Msg: msg})
	}
	return out
}

// ProductionProblems implements requirement.ProductionChecker: outside
// gateway dev an inline inventory may not list the TPM simulator's EK (an
// inventory file is checked when it is loaded).
func (Kind) ProductionProblems(section any) []requirement.Problem {
	var out []requirement.Problem
	for i, d := range section.(*Config).Inventory {
		if b, err := parseDigest(d.EKPubSHA256); err == nil && hex.EncodeToString(b) == SimulatorEKSHA256 {
			out = append(out, requirement.Problem{Path: fmt.Sprintf(".inventory[%d].ek_pub_sha256", i),
				Msg: "the EK of the TPM simulator's fixed seed, which anyone can run (gateway-agent --tpm simulator): allowed in gateway dev only"})
		}
	}
	return out
}

// ResolvePaths implements requirement.Sectioned.
func (Kind) ResolvePaths(section any, dir string) {
	c := section.(*Config)
	c.InventoryFile = resolve(dir, c.InventoryFile)
	for i := range c.EKCAFiles {
		c.EKCAFiles[i] = resolve(dir, c.EKCAFiles[i])
	}
	for i := range c.Inventory {
		c.Inventory[i].EKCertFile = resolve(dir, c.Inventory[i].EKCertFile)
	}
	c.Certificates.CACertFile = resolve(dir, c.Certificates.CACertFile)
	c.Certificates.CAKeyFile = resolve(dir, c.Certificates.CAKeyFile)
}

// WatchFiles implements requirement.FileWatcher: the inventory file, the
// EK CA bundles, inline devices' EK certificates and the device CA's
// certificate and key (certificates.ca_cert_file, ca_key_file), so that a
// renewed device CA is used without a restart.
func (Kind) WatchFiles(section any) []string {
	c := section.(*Config)
	var files []string
	for _, f := range append([]string{c.InventoryFile, c.Certificates.CACertFile, c.Certificates.CAKeyFile}, c.EKCAFiles...) {
		if f != "" {
			files = append(files, f)
		}
	}
	for _, d := range c.Inventory {
		if d.EKCertFile != "" {
			files = append(files, d.EKCertFile)
		}
	}
	return files
}

// NewAssumption implements requirement.Assumer.
func (Kind) NewAssumption() any { return &Assumption{} }

// AssumptionProblems implements requirement.Assumer.
func (Kind) AssumptionProblems(assumption any) []requirement.Problem {
	a := assumption.(*Assumption)
	var probs []requirement.Problem
	if a.AttestedAt != "" {
		if _, err := time.Parse(time.RFC3339, a.AttestedAt); err != nil {
			probs = append(probs, requirement.Problemf(".attested_at", "expected RFC 3339, got %q", a.AttestedAt))
		}
	}
	if a.Problem != "" && !isDeviceReason(policy.Reason(a.Problem)) {
		probs = append(probs, requirement.Problemf(".problem", "expected a device reason such as device-revoked, got %q", a.Problem))
	}
	return probs
}

// Assume implements requirement.Assumer: a test's device is TPM-attested at
// attested_at (default: the test's instant).
func (Kind) Assume(assumption any, _ policy.Requirement, _ *policy.Input, now time.Time) any {
	a, _ := assumption.(*Assumption)
	if a == nil {
		return nil
	}
	f := &Facts{ID: a.ID, Trust: TrustTPMAttested, AttestedAt: now, Owner: a.Owner, Problem: policy.Reason(a.Problem)}
	if f.ID == "" {
		f.ID = "assumed-device"
	}
	if a.AttestedAt != "" {
		f.AttestedAt, _ = time.Parse(time.RFC3339, a.AttestedAt)
	}
	return f
}

func isDeviceReason(r policy.Reason) bool {
	for _, x := range (Kind{}).Reasons() {
		if x == r {
			return true
		}
	}
	return false
}

// ExplainFlags implements requirement.Assumer: --device INSTANT|now.
func (Kind) ExplainFlags(fs *flag.FlagSet) func() (any, error) {
	at := fs.String("device", "", "assume a TPM-attested device, attested at this RFC 3339 instant (or 'now')")
	owner := fs.String("device-owner", "", "the assumed device's owner (email)")
	return func() (any, error) {
		if *at == "" {
			if *owner != "" {
				return nil, errors.New("explain: --device-owner needs --device")
			}
			return nil, nil
		}
		a := &Assumption{ID: "explain", Owner: *owner}
		if *at != "now" {
			if _, err := time.Parse(time.RFC3339, *at); err != nil {
				return nil, fmt.Errorf("explain: --device: expected an RFC 3339 instant or now, got %q", *at)
			}
			a.AttestedAt = *at
		}
		return a, nil
	}
}

// NewService implements requirement.Kind. Without a devices section the
// service gathers nothing and its endpoints say device trust is off.
func (Kind) NewService(section any, env requirement.Env) (requirement.Service, error) {
	k := &kindService{env: env, pages: newPageLimiter(PageRate, PageBurst)}
	if prev, ok := env.Prev.(*kindService); ok && prev.pages != nil {
		k.pages = prev.pages // a reload keeps the sessions' page budgets
	}
	if section == nil {
		return k, nil
	}
	opts := Options{Now: env.Now, Audit: k.audit, RefuseSimulator: !env.Dev}
	svc, err := NewService(*section.(*Config), env.Store, env.Logger.With("subsystem", "device"), opts)
	if err != nil {
		return nil, err
	}
	// Recording an enrollment (and its owner) and replacing a session's
	// one-time codes use the store's compare-and-delete: a Redis ACL user
	// that may not run its script would fail every enrollment. Checked
	// here, so that the start (or the reload) fails instead.
	ctx, cancel := context.WithTimeout(context.Background(), storeCheckTimeout)
	defer cancel()
	if err := store.CheckCompareAndDelete(ctx, env.Store); err != nil {
		_ = svc.Close()
		return nil, fmt.Errorf("device: the shared store must let the gateway record enrollments and one-time codes atomically (a compare-and-delete script): %w", err)
	}
	k.svc = svc
	return k, nil
}

// storeCheckTimeout bounds NewService's check of the store.
const storeCheckTimeout = 10 * time.Second

// kindService is device trust's runtime: evidence, pages, endpoints.
type kindService struct {
	svc *Service // nil: no devices section
	env requirement.Env
	// pages limits the device page loads of each browser session.
	pages *pageLimiter
}

// Gather implements requirement.Service: the device named by the client's
// device certificate, else the device bound to the browser session.
func (k *kindService) Gather(ctx context.Context, _ policy.Requirement, r *requirement.Request) (any, error) {
	if k.svc == nil {
		return nil, errors.New("device: a route requires a device but device trust is not configured")
	}
	var ev *Evidence
	var err error
	switch {
	case r.ClientCert != nil:
		ev, err = k.svc.CertEvidence(ctx, r.ClientCert)
	case r.SessionID != "":
		ev, err = k.svc.SessionEvidenceFrom(ctx, r.SessionID, func(ctx context.Context, key string) ([]byte, error) {
			return r.Get(ctx, k.env.Store, key)
		})
	default:
		return nil, nil
	}
	var de *Error
	switch {
	case errors.As(err, &de):
		if de.Reason == ReasonNotVerified {
			return nil, nil
		}
		f := &Facts{Problem: de.Reason}
		if ev != nil {
			f.ID = ev.DeviceID
		}
		return f, nil
	case err != nil:
		return nil, err
	}
	return &Facts{ID: ev.DeviceID, Trust: ev.Trust, AttestedAt: ev.AttestedAt, Owner: ev.Owner}, nil
}

// Prefetch implements requirement.Prefetcher: the session's device binding
// is read with the session.
func (k *kindService) Prefetch(_ policy.Requirement, sessionID string, _ map[string]string, keys []string) []string {
	if k.svc == nil || sessionID == "" {
		return keys
	}
	return append(keys, k.svc.BindingKey(sessionID))
}

// Close implements requirement.Service.
func (k *kindService) Close() error {
	if k.svc != nil {
		return k.svc.Close()
	}
	return nil
}

// Claim implements requirement.Claimer.
func (k *kindService) Claim(facts any, c *contexttoken.Claims) {
	if f, ok := facts.(*Facts); ok && f.Problem == "" && !f.AttestedAt.IsZero() {
		c.Device = &contexttoken.Device{ID: f.ID, Trust: f.Trust, AttestedAt: contexttoken.NewNumericDate(f.AttestedAt)}
	}
}

// Audit implements requirement.Auditor.
func (k *kindService) Audit(facts any, rec *audit.Record) {
	if f, ok := facts.(*Facts); ok && f.ID != "" {
		rec.DeviceID = f.ID
	}
}

// ClientCAs implements requirement.ClientCAs.
func (k *kindService) ClientCAs() *x509.CertPool {
	if k.svc == nil {
		return nil
	}
	return k.svc.ClientCAs()
}

// audit writes device events to the audit log.
func (k *kindService) audit(ctx context.Context, e AuditEvent) {
	rec := audit.Record{Time: e.Time, Kind: "device", Event: e.Action, Decision: e.Outcome,
		DeviceID: e.DeviceID, User: e.Email, Detail: e.Detail}
	if e.Reason != "" {
		rec.Reasons = []string{string(e.Reason)}
	}
	if e.Reboot {
		rec.Detail = strings.TrimSpace(rec.Detail + " reboot noted")
	}
	if k.env.Audit != nil {
		k.env.Audit(ctx, rec)
	}
}
