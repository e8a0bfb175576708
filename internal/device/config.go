package device

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

// Config is the devices: section of the gateway's YAML.
//
//	devices:
//	  inventory_file: /etc/gateway/devices.yaml   # or inline: inventory: [...]
//	  ek_ca_files: [/etc/gateway/ek-roots.pem]     # manufacturer roots and intermediates
//	  pcr_policy:
//	    pcrs: [0, 7]                                # quoted from the SHA-256 bank
//	    allowed:
//	      - pcr: 7
//	        values: ["<64 hex digits>", ...]        # any of these
//	  code_ttl: 5m
//	  nonce_ttl: 2m
//	  binding_ttl: 24h
//	  certificates:
//	    ca_cert_file: /etc/gateway/device-ca.pem
//	    ca_key_file: /etc/gateway/device-ca.key
//	    lifetime: 8h
type Config struct {
	// InventoryFile is a YAML file with a top-level "devices:" list of
	// InventoryDevice. Relative ek_cert_file paths in it are resolved against
	// its directory. Exclusive with Inventory.
	InventoryFile string `yaml:"inventory_file,omitempty"`
	// Inventory lists the devices inline. Exclusive with InventoryFile.
	Inventory []InventoryDevice `yaml:"inventory,omitempty"`
	// EKCAFiles are PEM files with the TPM manufacturers' root and
	// intermediate certificates that EK certificates must chain to.
	// Self-signed certificates are roots; the others are intermediates.
	EKCAFiles []string `yaml:"ek_ca_files,omitempty"`
	// RequireEKCert makes enrollment fail when the agent presents no EK
	// certificate (by default the inventory's EK hash alone suffices).
	RequireEKCert bool `yaml:"require_ek_cert,omitempty"`
	// PCRPolicy is the posture every quote must satisfy.
	PCRPolicy PCRPolicy `yaml:"pcr_policy,omitempty"`
	// CodeTTL is how long a one-time code from the device page is valid.
	CodeTTL time.Duration `yaml:"code_ttl,omitempty"`
	// NonceTTL is how long an attestation or enrollment challenge is valid.
	NonceTTL time.Duration `yaml:"nonce_ttl,omitempty"`
	// BindingTTL is how long a session stays bound to a device at most; the
	// route's max_age is checked separately against AttestedAt.
	BindingTTL time.Duration `yaml:"binding_ttl,omitempty"`
	// EnrollmentTTL is how long an enrolled AK is kept in the store without
	// any attestation; every successful attestation renews it.
	EnrollmentTTL time.Duration `yaml:"enrollment_ttl,omitempty"`
	// Certificates configures the device CA for mTLS client certificates.
	Certificates CertConfig `yaml:"certificates,omitempty"`
}

// PCRPolicy says which PCRs (SHA-256 bank) a quote covers and which values
// are acceptable. A PCR that is quoted but has no Allowed entry is recorded
// but not judged.
type PCRPolicy struct {
	PCRs    []int        `yaml:"pcrs,omitempty"`
	Allowed []PCRAllowed `yaml:"allowed,omitempty"`
}

// PCRAllowed lists the acceptable SHA-256 values (hex) of one PCR.
type PCRAllowed struct {
	PCR    int      `yaml:"pcr"`
	Values []string `yaml:"values"`
}

// CertConfig configures the device CA. Without CACertFile and CAKeyFile the
// service generates a CA in memory at start: fine for one process (the
// quickstart), wrong for several replicas, which would not trust each
// other's certificates.
type CertConfig struct {
	CACertFile string        `yaml:"ca_cert_file,omitempty"`
	CAKeyFile  string        `yaml:"ca_key_file,omitempty"`
	Lifetime   time.Duration `yaml:"lifetime,omitempty"`
}

// Defaults.
const (
	DefaultCodeTTL       = 5 * time.Minute
	DefaultNonceTTL      = 2 * time.Minute
	DefaultBindingTTL    = 24 * time.Hour
	DefaultEnrollmentTTL = 400 * 24 * time.Hour
	DefaultCertLifetime  = 8 * time.Hour
)

// DefaultPCRs are quoted when the policy names none: PCR 0 (firmware code)
// and PCR 7 (Secure Boot policy).
var DefaultPCRs = []int{0, 7}

// WithDefaults returns a copy of c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.CodeTTL == 0 {
		c.CodeTTL = DefaultCodeTTL
	}
	if c.NonceTTL == 0 {
		c.NonceTTL = DefaultNonceTTL
	}
	if c.BindingTTL == 0 {
		c.BindingTTL = DefaultBindingTTL
	}
	if c.EnrollmentTTL == 0 {
		c.EnrollmentTTL = DefaultEnrollmentTTL
	}
	if c.Certificates.Lifetime == 0 {
		c.Certificates.Lifetime = DefaultCertLifetime
	}
	if len(c.PCRPolicy.PCRs) == 0 {
		c.PCRPolicy.PCRs = slices.Clone(DefaultPCRs)
	}
	return c
}

// Validate reports every problem in c (with defaults applied by the caller or
// not), with field paths relative to the section. It reads no files; file
// contents are checked by NewService.
func (c Config) Validate() []error {
	var errs []error
	add := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...)))
	}
	if c.InventoryFile != "" && len(c.Inventory) > 0 {
		add("inventory_file", "set both inventory_file and inventory; expected one")
	}
	for i, d := range c.Inventory {
		for _, err := range d.validate() {
			add(fmt.Sprintf("inventory[%d]", i), "%v", err)
		}
	}
	if ids := duplicateIDs(c.Inventory); len(ids) > 0 {
		add("inventory", "duplicate device ids %q", ids)
	}
	for i, f := range c.EKCAFiles {
		if f == "" {
			add(fmt.Sprintf("ek_ca_files[%d]", i), "empty path")
		}
	}
	seen := map[int]bool{}
	for i, p := range c.PCRPolicy.PCRs {
		if p < 0 || p > 23 {
			add(fmt.Sprintf("pcr_policy.pcrs[%d]", i), "expected a PCR index 0..23, got %d", p)
		}
		if seen[p] {
			add(fmt.Sprintf("pcr_policy.pcrs[%d]", i), "PCR %d listed twice", p)
		}
		seen[p] = true
	}
	quoted := c.PCRPolicy.PCRs
	if len(quoted) == 0 {
		quoted = DefaultPCRs
	}
	for i, a := range c.PCRPolicy.Allowed {
		path := fmt.Sprintf("pcr_policy.allowed[%d]", i)
		if !slices.Contains(quoted, a.PCR) {
			add(path+".pcr", "PCR %d is not in pcr_policy.pcrs %v", a.PCR, quoted)
		}
		if len(a.Values) == 0 {
			add(path+".values", "expected at least one value")
		}
		for j, v := range a.Values {
			if _, err := parseDigest(v); err != nil {
				add(fmt.Sprintf("%s.values[%d]", path, j), "%v", err)
			}
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"code_ttl", c.CodeTTL}, {"nonce_ttl", c.NonceTTL}, {"binding_ttl", c.BindingTTL},
		{"enrollment_ttl", c.EnrollmentTTL}, {"certificates.lifetime", c.Certificates.Lifetime}} {
		if d.v < 0 {
			add(d.name, "expected a positive duration, got %s", d.v)
		}
	}
	if c.CodeTTL > time.Hour {
		add("code_ttl", "expected at most 1h for a one-time code, got %s", c.CodeTTL)
	}
	if c.NonceTTL > 10*time.Minute {
		add("nonce_ttl", "expected at most 10m, got %s", c.NonceTTL)
	}
	if c.Certificates.Lifetime > 7*24*time.Hour {
		add("certificates.lifetime", "expected at most 168h for a short-lived certificate, got %s", c.Certificates.Lifetime)
	}
	if (c.Certificates.CACertFile == "") != (c.Certificates.CAKeyFile == "") {
		add("certificates", "set both ca_cert_file and ca_key_file, or neither")
	}
	return errs
}

// resolve makes p absolute against dir when it is relative.
func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}
