package device

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/accessgateway/gateway/internal/yamlcheck"
)

// InventoryDevice is one company-issued device as IT registers it.
//
// A device is identified by its TPM's endorsement key: EKPubSHA256 is the
// SHA-256 (hex) of the EK public key in DER SubjectPublicKeyInfo form (what
// `gateway-agent status` prints), and/or EKCertFile is the device's EK
// certificate, which must chain to one of the configured ek_ca_files. When
// both are given they must name the same key.
type InventoryDevice struct {
	ID          string `yaml:"id"`
	Serial      string `yaml:"serial"`
	Owner       string `yaml:"owner,omitempty"`
	EKPubSHA256 string `yaml:"ek_pub_sha256,omitempty"`
	EKCertFile  string `yaml:"ek_cert_file,omitempty"`
	Status      Status `yaml:"status"`
}

func (d InventoryDevice) validate() []error {
	var errs []error
	if d.ID == "" {
		errs = append(errs, errors.New("id: required"))
	} else if strings.ContainsAny(d.ID, " \t\r\n:/") || len(d.ID) > 128 {
		errs = append(errs, fmt.Errorf("id: expected up to 128 characters without spaces, ':' or '/', got %q", d.ID))
	}
	if d.Serial == "" {
		errs = append(errs, errors.New("serial: required"))
	}
	if d.Owner != "" {
		if a, err := mail.ParseAddress(d.Owner); err != nil || a.Address != d.Owner {
			errs = append(errs, fmt.Errorf("owner: expected an email address, got %q", d.Owner))
		}
	}
	if d.EKPubSHA256 == "" && d.EKCertFile == "" {
		errs = append(errs, errors.New("ek_pub_sha256: required unless ek_cert_file is set"))
	}
	if d.EKPubSHA256 != "" {
		if _, err := parseDigest(d.EKPubSHA256); err != nil {
			errs = append(errs, fmt.Errorf("ek_pub_sha256: %w", err))
		}
	}
	if d.Status != StatusActive && d.Status != StatusRevoked {
		errs = append(errs, fmt.Errorf("status: expected %q or %q, got %q", StatusActive, StatusRevoked, d.Status))
	}
	return errs
}

func duplicateIDs(ds []InventoryDevice) []string {
	seen := map[string]bool{}
	var dup []string
	for _, d := range ds {
		if seen[d.ID] && !slices.Contains(dup, d.ID) {
			dup = append(dup, d.ID)
		}
		seen[d.ID] = true
	}
	return dup
}

// Inventory is an immutable, validated set of devices, indexed by ID and by
// EK public key hash.
type Inventory struct {
	byID map[string]*InventoryDevice
	byEK map[string]*InventoryDevice // hex SHA-256 of the EK SPKI
	ekOf map[string]string           // device ID -> its EK's hash, as byEK spells it
}

// Device returns the device with id.
func (inv *Inventory) Device(id string) (InventoryDevice, bool) {
	d, ok := inv.byID[id]
	if !ok {
		return InventoryDevice{}, false
	}
	return *d, true
}

// ekHash is the hash (lower-case hex) of the EK the inventory names for the
// device id; "" when there is no such device. An enrollment made with
// another EK is not this device's.
func (inv *Inventory) ekHash(id string) string { return inv.ekOf[id] }

// ByEK returns the device whose EK public key has the given SHA-256 (hex).
func (inv *Inventory) ByEK(ekHash string) (InventoryDevice, bool) {
	d, ok := inv.byEK[strings.ToLower(ekHash)]
	if !ok {
		return InventoryDevice{}, false
	}
	return *d, true
}

// Len is the number of devices.
func (inv *Inventory) Len() int { return len(inv.byID) }

type inventoryFile struct {
	Devices []InventoryDevice `yaml:"devices"`
}

// LoadInventoryFile reads a YAML inventory file (strict: unknown keys are
// errors) and builds it with BuildInventory; relative ek_cert_file paths are
// resolved against the file's directory.
func LoadInventoryFile(path string, ekRoots *EKRoots) (*Inventory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("device: read inventory: %w", err)
	}
	if err := yamlcheck.CheckBytes(b); err != nil {
		return nil, fmt.Errorf("device: parse inventory %s: %w", path, err)
	}
	var f inventoryFile
	if err := yaml.UnmarshalWithOptions(b, &f, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("device: parse inventory %s: %w", path, err)
	}
	return BuildInventory(f.Devices, filepath.Dir(path), ekRoots)
}

// BuildInventory validates devices and indexes them. Each ek_cert_file is
// read (relative to dir), parsed and verified against ekRoots; a certificate
// that does not chain is an error. All problems are reported at once, with
// field paths "devices[i].field".
func BuildInventory(devices []InventoryDevice, dir string, ekRoots *EKRoots) (*Inventory, error) {
	inv := &Inventory{byID: map[string]*InventoryDevice{}, byEK: map[string]*InventoryDevice{}, ekOf: map[string]string{}}
	var errs []error
	for i := range devices {
		d := devices[i]
		path := fmt.Sprintf("devices[%d]", i)
		for _, err := range d.validate() {
			errs = append(errs, fmt.Errorf("%s.%w", path, err))
		}
		if _, dup := inv.byID[d.ID]; dup && d.ID != "" {
			errs = append(errs, fmt.Errorf("%s.id: duplicate device id %q", path, d.ID))
			continue
		}
		// The hash in one spelling (lower-case hex, no ':'), the one ByEK is
		// asked with: "AB:CD:…" and "abcd…" are one EK, found either way,
		// and registered once.
		hash := ""
		if b, err := parseDigest(d.EKPubSHA256); err == nil {
			hash = hex.EncodeToString(b)
		}
		if d.EKCertFile != "" {
			certHash, err := inventoryCertHash(resolve(dir, d.EKCertFile), ekRoots)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.ek_cert_file: %w", path, err))
				continue
			}
			if hash != "" && hash != certHash {
				errs = append(errs, fmt.Errorf("%s.ek_pub_sha256: expected the EK certificate's key hash %s, got %s", path, certHash, hash))
				continue
			}
			hash = certHash
		}
		if hash == "" {
			continue
		}
		if other, dup := inv.byEK[hash]; dup {
			errs = append(errs, fmt.Errorf("%s: EK already registered for device %q", path, other.ID))
			continue
		}
		inv.byID[d.ID] = &d
		inv.byEK[hash] = &d
		inv.ekOf[d.ID] = hash
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("device: invalid inventory: %w", errors.Join(errs...))
	}
	return inv, nil
}

func inventoryCertHash(path string, roots *EKRoots) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	cert, err := ParseEKCertificate(pemOrDER(b))
	if err != nil {
		return "", err
	}
	if err := roots.Verify(cert); err != nil {
		return "", err
	}
	return EKKeyHash(cert.PublicKey)
}

// SimulatorEKSHA256 is the EK of the TPM simulator gateway-agent runs with
// --tpm simulator (go-tpm-tools' simulator with the agent's fixed seed, the
// quickstart's device). The seed is public: anyone can run the simulator
// and be the device whose EK this is, so an inventory that lists it is
// refused outside gateway dev.
const SimulatorEKSHA256 = "494b77654b7600f84d7ca917bd253a38046ea6a28bbb43f533f4a5b0cd86eb59"

// simulatorDevice returns the ID of the device inv lists with the
// simulator's EK, or "".
func simulatorDevice(inv *Inventory) string {
	if d, ok := inv.ByEK(SimulatorEKSHA256); ok {
		return d.ID
	}
	return ""
}

// EKKeyHash returns the hex SHA-256 of pub in DER SubjectPublicKeyInfo form,
// the identity of an EK in the inventory.
func EKKeyHash(pub any) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("device: marshal EK public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// parseDigest parses a hex SHA-256 digest (64 hex digits, ':' allowed as a
// separator).
func parseDigest(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("expected 64 hex digits (SHA-256), got %q", s)
	}
	return b, nil
}
