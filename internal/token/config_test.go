package token

import (
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

func dur(d time.Duration) *time.Duration { return &d }

func TestConfigYAML(t *testing.T) {
	const src = `
header: X-Gateway-Context
algorithm: ES256
lifetime: 5m
reuse: 15s
keys:
  - {file: keys/2026-11.pem, state: active}
  - {file: keys/2026-12.pem, state: next}
  - {file: keys/2026-10.pem, state: retired, until: 2026-12-01T00:00:00Z}
`
	var c Config
	if err := yaml.UnmarshalWithOptions([]byte(src), &c, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if c.Header != "X-Gateway-Context" || c.Algorithm != "ES256" || c.Lifetime != 5*time.Minute || c.Reuse == nil || *c.Reuse != 15*time.Second {
		t.Fatalf("unexpected config %+v", c)
	}
	want := []KeyConfig{
		{File: "keys/2026-11.pem", State: StateActive},
		{File: "keys/2026-12.pem", State: StateNext},
		{File: "keys/2026-10.pem", State: StateRetired, Until: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
	}
	if len(c.Keys) != len(want) {
		t.Fatalf("expected %d keys, got %d", len(want), len(c.Keys))
	}
	for i := range want {
		if c.Keys[i].File != want[i].File || c.Keys[i].State != want[i].State || !c.Keys[i].Until.Equal(want[i].Until) {
			t.Errorf("keys[%d]: expected %+v, got %+v", i, want[i], c.Keys[i])
		}
	}
	if errs := c.Validate(); len(errs) != 0 {
		t.Fatalf("expected a valid config, got %v", errs)
	}

	// Unknown keys are errors (strict decoding).
	err := yaml.UnmarshalWithOptions([]byte("lifetime: 5m\nlifetme: 5m\n"), &c, yaml.Strict())
	if err == nil || !strings.Contains(err.Error(), "lifetme") {
		t.Fatalf("expected an unknown-field error naming lifetme, got %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.Header != "X-Gateway-Context" || c.Algorithm != "ES256" || c.Lifetime != 5*time.Minute || *c.Reuse != DefaultReuse {
		t.Fatalf("unexpected defaults %+v", c)
	}
	off := Config{Reuse: dur(0)}.WithDefaults()
	if *off.Reuse != 0 {
		t.Fatalf("reuse: 0s must stay off, got %s", *off.Reuse)
	}
}

func TestConfigValidate(t *testing.T) {
	until := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	active := KeyConfig{File: "a.pem", State: StateActive}
	tests := []struct {
		name string
		cfg  Config
		want []string // every error, in order
	}{
		{name: "minimal", cfg: Config{Keys: []KeyConfig{active}}},
		{name: "full rotation", cfg: Config{Header: "X-Corp-Context", Algorithm: "EdDSA", Lifetime: time.Minute, Reuse: dur(30 * time.Second), Keys: []KeyConfig{
			active, {File: "b.pem", State: StateNext}, {File: "c.pem", State: StateRetired, Until: until}}}},
		{name: "no keys", cfg: Config{}, want: []string{"keys: expected at least one key (one active), got none"}},
		{name: "misspelt state", cfg: Config{Keys: []KeyConfig{active, {File: "b.pem", State: "nxt"}}},
			want: []string{`keys[1].state: expected active, next or retired, got "nxt"`}},
		{name: "no active", cfg: Config{Keys: []KeyConfig{{File: "b.pem", State: StateNext}}},
			want: []string{"keys: expected exactly one active key, got 0"}},
		{name: "two active", cfg: Config{Keys: []KeyConfig{active, {File: "b.pem", State: StateActive}}},
			want: []string{"keys: expected exactly one active key, got 2"}},
		{name: "retired without until", cfg: Config{Keys: []KeyConfig{active, {File: "b.pem", State: StateRetired}}},
			want: []string{"keys[1].until: expected the time a retired key leaves the key set, got none"}},
		{name: "until on a next key", cfg: Config{Keys: []KeyConfig{active, {File: "b.pem", State: StateNext, Until: until}}},
			want: []string{"keys[1].until: expected until only on a retired key, got it on a next key"}},
		{name: "same file twice", cfg: Config{Keys: []KeyConfig{active, {File: "a.pem", State: StateNext}}},
			want: []string{`keys[1].file: expected each key file once, got "a.pem" again (also keys[0])`}},
		{name: "no file, no state", cfg: Config{Keys: []KeyConfig{active, {}}},
			want: []string{"keys[1].file: expected a PEM file path, got none", "keys[1].state: expected active, next or retired, got none"}},
		{name: "lifetime over the cap", cfg: Config{Lifetime: 10 * time.Minute, Keys: []KeyConfig{active}},
			want: []string{"lifetime: expected between 30s and 5m0s, got 10m0s"}},
		{name: "lifetime too short", cfg: Config{Lifetime: time.Second, Keys: []KeyConfig{active}},
			want: []string{"lifetime: expected between 30s and 5m0s, got 1s"}},
		{name: "reuse over half the lifetime", cfg: Config{Lifetime: time.Minute, Reuse: dur(time.Minute), Keys: []KeyConfig{active}},
			want: []string{"reuse: expected between 0s and half the lifetime (30s), got 1m0s"}},
		{name: "negative reuse", cfg: Config{Reuse: dur(-time.Second), Keys: []KeyConfig{active}},
			want: []string{"reuse: expected between 0s and half the lifetime (2m30s), got -1s"}},
		{name: "HS256", cfg: Config{Algorithm: "HS256", Keys: []KeyConfig{active}},
			want: []string{`algorithm: expected ES256, EdDSA or RS256, got "HS256"`}},
		{name: "bad header", cfg: Config{Header: "X Gateway", Keys: []KeyConfig{active}},
			want: []string{`header: expected an HTTP header name, got "X Gateway"`}},
		{name: "reserved header", cfg: Config{Header: "authorization", Keys: []KeyConfig{active}},
			want: []string{`header: expected a header of the application's own, got the reserved "authorization"`}},
		{name: "all at once", cfg: Config{Algorithm: "none", Lifetime: time.Hour, Keys: []KeyConfig{{File: "a.pem", State: "on"}}},
			want: []string{`algorithm: expected ES256, EdDSA or RS256, got "none"`, "lifetime: expected between 30s and 5m0s, got 1h0m0s",
				`keys[0].state: expected active, next or retired, got "on"`, "keys: expected exactly one active key, got 0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.cfg.Validate()
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("expected errors\n%s\ngot\n%s", strings.Join(tc.want, "\n"), strings.Join(got, "\n"))
			}
		})
	}
}
