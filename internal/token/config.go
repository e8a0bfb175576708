package token

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/accessgateway/gateway/contexttoken"
)

// Key states.
const (
	StateActive  = "active"
	StateNext    = "next"
	StateRetired = "retired"
)

// Limits and defaults of the token section.
const (
	DefaultHeader    = contexttoken.DefaultHeader
	DefaultAlgorithm = contexttoken.ES256
	DefaultLifetime  = 5 * time.Minute
	// MaxLifetime caps lifetime: a context token is a bearer credential and
	// must stay short-lived.
	MaxLifetime = 5 * time.Minute
	// MinLifetime keeps tokens usable across ordinary clock skew.
	MinLifetime = 30 * time.Second
)

// Config is the `token:` section of the gateway's configuration.
//
//	token:
//	  header: X-Gateway-Context   # default
//	  algorithm: ES256            # ES256 (default) | EdDSA | RS256
//	  lifetime: 5m                # default and maximum 5m, minimum 30s
//	  reuse: 30s                  # token cache; 0s turns it off (see Cache)
//	  keys:
//	    - {file: keys/2026-11.pem, state: active}
//	    - {file: keys/2026-12.pem, state: next}
//	    - {file: keys/2026-10.pem, state: retired, until: 2026-12-01T00:00:00Z}
//
// Zero values mean the defaults; call WithDefaults to see them filled in.
type Config struct {
	// Header is the request header that carries the token upstream. The
	// gateway strips every inbound header of this name.
	Header string `yaml:"header" json:"header"`
	// Algorithm is the signing algorithm; the active key must fit it.
	Algorithm string `yaml:"algorithm" json:"algorithm"`
	// Lifetime is the longest a token lives (exp - iat).
	Lifetime time.Duration `yaml:"lifetime" json:"lifetime"`
	// Reuse is how long the gateway may reuse a minted token for requests
	// with identical claims. Nil means DefaultReuse; 0 turns reuse off.
	Reuse *time.Duration `yaml:"reuse" json:"reuse,omitempty"`
	// Keys are the signing keys, PEM files holding private keys.
	Keys []KeyConfig `yaml:"keys" json:"keys"`
}

// KeyConfig is one signing key.
type KeyConfig struct {
	// File is a PEM file with one private key (PKCS #8 "PRIVATE KEY", SEC 1
	// "EC PRIVATE KEY" or PKCS #1 "RSA PRIVATE KEY"), unencrypted. A
	// relative path is resolved against the signer's base directory.
	File string `yaml:"file" json:"file"`
	// State is active, next or retired.
	State string `yaml:"state" json:"state"`
	// Until is when a retired key leaves the JWKS. Required for retired
	// keys, not allowed for the others.
	Until time.Time `yaml:"until" json:"until,omitzero"`
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Header == "" {
		c.Header = DefaultHeader
	}
	if c.Algorithm == "" {
		c.Algorithm = DefaultAlgorithm
	}
	if c.Lifetime == 0 {
		c.Lifetime = DefaultLifetime
	}
	if c.Reuse == nil {
		r := DefaultReuse
		c.Reuse = &r
	}
	return c
}

// Validate reports every problem in c, each prefixed with its field path
// relative to the section (e.g. `keys[1].state: ...`). Zero values are
// valid (they mean the defaults). Validate reads no files: a key file that
// is missing or bad is reported by NewSigner.
func (c Config) Validate() []error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{path}, args...)...))
	}
	if c.Header != "" {
		if !httpguts.ValidHeaderFieldName(c.Header) {
			add("header", "expected an HTTP header name, got %q", c.Header)
		} else if forbiddenHeader(c.Header) {
			add("header", "expected a header of the application's own, got the reserved %q", c.Header)
		}
	}
	switch c.Algorithm {
	case "", contexttoken.ES256, contexttoken.EdDSA, contexttoken.RS256:
	default:
		add("algorithm", "expected ES256, EdDSA or RS256, got %q", c.Algorithm)
	}
	if c.Lifetime != 0 && (c.Lifetime < MinLifetime || c.Lifetime > MaxLifetime) {
		add("lifetime", "expected between %s and %s, got %s", MinLifetime, MaxLifetime, c.Lifetime)
	}
	if c.Reuse != nil {
		life := c.Lifetime
		if life == 0 {
			life = DefaultLifetime
		}
		if *c.Reuse < 0 || *c.Reuse > life/2 {
			add("reuse", "expected between 0s and half the lifetime (%s), got %s", life/2, *c.Reuse)
		}
	}
	if len(c.Keys) == 0 {
		add("keys", "expected at least one key (one active), got none")
	}
	active := 0
	files := map[string]int{}
	for i, k := range c.Keys {
		p := fmt.Sprintf("keys[%d]", i)
		if strings.TrimSpace(k.File) == "" {
			add(p+".file", "expected a PEM file path, got none")
		} else if j, dup := files[k.File]; dup {
			add(p+".file", "expected each key file once, got %q again (also keys[%d])", k.File, j)
		} else {
			files[k.File] = i
		}
		switch k.State {
		case StateActive:
			active++
		case StateNext:
		case StateRetired:
			if k.Until.IsZero() {
				add(p+".until", "expected the time a retired key leaves the key set, got none")
			}
		case "":
			add(p+".state", "expected active, next or retired, got none")
		default:
			add(p+".state", "expected active, next or retired, got %q", k.State)
		}
		if k.State != StateRetired && !k.Until.IsZero() {
			add(p+".until", "expected until only on a retired key, got it on a %s key", k.State)
		}
	}
	if len(c.Keys) > 0 && active != 1 {
		add("keys", "expected exactly one active key, got %d", active)
	}
	return errs
}

// forbiddenHeader reports header names the token must never use: they mean
// something else to proxies and browsers.
func forbiddenHeader(h string) bool {
	switch http.CanonicalHeaderKey(h) {
	case "Authorization", "Cookie", "Set-Cookie", "Host", "Content-Length", "Content-Type",
		"Transfer-Encoding", "Connection", "Proxy-Authorization", "Forwarded":
		return true
	}
	return false
}
