package device

import (
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestConfigYAML(t *testing.T) {
	src := `
inventory_file: /etc/gateway/devices.yaml
ek_ca_files: [/etc/gateway/ek-roots.pem]
pcr_policy:
  pcrs: [0, 7]
  allowed:
    - pcr: 7
      values: ["` + strings.Repeat("ab", 32) + `"]
code_ttl: 3m
nonce_ttl: 1m
binding_ttl: 12h
certificates:
  lifetime: 8h
`
	var c Config
	if err := yaml.UnmarshalWithOptions([]byte(src), &c, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if errs := c.WithDefaults().Validate(); len(errs) > 0 {
		t.Fatalf("expected a valid config, got %v", errs)
	}
	if c.CodeTTL != 3*time.Minute || c.Certificates.Lifetime != 8*time.Hour || c.PCRPolicy.Allowed[0].PCR != 7 {
		t.Fatalf("decoded %+v", c)
	}
	if err := yaml.UnmarshalWithOptions([]byte("inventory_fle: x\n"), &c, yaml.Strict()); err == nil {
		t.Fatal("expected an unknown key to be an error")
	}
}

func TestConfigValidate(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		cfg  Config
		want []string // one substring per expected error, in order
	}{
		{name: "defaults", cfg: Config{}},
		{name: "both inventories", cfg: Config{InventoryFile: "x", Inventory: []InventoryDevice{{ID: "a", Serial: "s", EKPubSHA256: hash, Status: StatusActive}}},
			want: []string{"inventory_file: set both"}},
		{name: "bad device", cfg: Config{Inventory: []InventoryDevice{{ID: "a b", EKPubSHA256: "xyz", Status: "lost", Owner: "not-an-email"}}},
			want: []string{"inventory[0]: id:", "inventory[0]: serial: required", "inventory[0]: owner:", "inventory[0]: ek_pub_sha256: expected 64 hex", "inventory[0]: status:"}},
		{name: "no EK", cfg: Config{Inventory: []InventoryDevice{{ID: "a", Serial: "s", Status: StatusActive}}},
			want: []string{"inventory[0]: ek_pub_sha256: required unless ek_cert_file"}},
		{name: "duplicate ids", cfg: Config{Inventory: []InventoryDevice{
			{ID: "a", Serial: "s", EKPubSHA256: hash, Status: StatusActive}, {ID: "a", Serial: "t", EKPubSHA256: hash, Status: StatusActive}}},
			want: []string{`inventory: duplicate device ids ["a"]`}},
		{name: "PCR out of range and twice", cfg: Config{PCRPolicy: PCRPolicy{PCRs: []int{7, 24, 7}}},
			want: []string{"pcr_policy.pcrs[1]: expected a PCR index 0..23, got 24", "pcr_policy.pcrs[2]: PCR 7 listed twice"}},
		{name: "allowed PCR not quoted", cfg: Config{PCRPolicy: PCRPolicy{PCRs: []int{0}, Allowed: []PCRAllowed{{PCR: 7, Values: []string{"zz"}}, {PCR: 0}}}},
			want: []string{"pcr_policy.allowed[0].pcr: PCR 7 is not in pcr_policy.pcrs [0]", "pcr_policy.allowed[0].values[0]: expected 64 hex", "pcr_policy.allowed[1].values: expected at least one"}},
		{name: "durations", cfg: Config{CodeTTL: 2 * time.Hour, NonceTTL: -1, Certificates: CertConfig{Lifetime: 30 * 24 * time.Hour}},
			want: []string{"nonce_ttl: expected a positive", "code_ttl: expected at most 1h", "certificates.lifetime: expected at most 168h"}},
		{name: "CA half set", cfg: Config{Certificates: CertConfig{CACertFile: "ca.pem"}}, want: []string{"certificates: set both"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.cfg.Validate()
			if len(errs) != len(tt.want) {
				t.Fatalf("expected %d errors, got %d: %v", len(tt.want), len(errs), errs)
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d: expected %q, got %q", i, w, errs[i])
				}
			}
		})
	}
}
