package token

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/accessgateway/gateway/contexttoken"
)

// Signer mints context tokens with the active key and publishes the key set.
// It is immutable after NewSigner and safe for concurrent use.
type Signer struct {
	issuer    string
	header    string
	lifetime  time.Duration
	reuse     time.Duration
	now       func() time.Time
	active    key
	signer    jose.Signer
	published []publishedKey // active, then next keys, then retired keys
}

// ActiveKey returns the private key that signs tokens now and its key ID,
// for the audit log's signed checkpoints (verifiable against the same
// JWKS). Callers must never log or serialize the key.
func (s *Signer) ActiveKey() (crypto.Signer, string) { return s.active.priv, s.active.kid }

type publishedKey struct {
	jwk   jose.JSONWebKey
	state string
	until time.Time // zero unless retired
}

// Option adjusts a Signer.
type Option func(*options)

type options struct {
	now     func() time.Time
	baseDir string
}

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithBaseDir resolves relative key file paths against dir (normally the
// directory of the configuration file). Default: the working directory.
func WithBaseDir(dir string) Option { return func(o *options) { o.baseDir = dir } }

// NewSigner validates cfg, loads every key file and returns a Signer. It
// fails on any problem: invalid config, an unreadable or unsupported key, an
// active key that does not fit cfg.Algorithm, two files holding the same key.
// All problems are reported at once, each with its field path. issuer is the
// gateway's external URL, the iss of every token.
func NewSigner(cfg Config, issuer string, opts ...Option) (*Signer, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if issuer == "" {
		return nil, errors.New("token: expected an issuer URL, got none")
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("token: invalid config: %w", errors.Join(errs...))
	}
	cfg = cfg.WithDefaults()
	var errs []error
	keys := make([]key, len(cfg.Keys))
	seen := map[string]int{}
	for i, kc := range cfg.Keys {
		path := kc.File
		if !filepath.IsAbs(path) && o.baseDir != "" {
			path = filepath.Join(o.baseDir, path)
		}
		k, err := loadKeyFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("keys[%d].file: %w", i, err))
			continue
		}
		if j, dup := seen[k.kid]; dup {
			errs = append(errs, fmt.Errorf("keys[%d].file: expected a key different from keys[%d], got the same key (kid %s)", i, j, k.kid))
			continue
		}
		seen[k.kid] = i
		if kc.State == StateActive && k.alg != cfg.Algorithm {
			errs = append(errs, fmt.Errorf("keys[%d].file: expected a key for algorithm %s, got a key for %s", i, cfg.Algorithm, k.alg))
			continue
		}
		keys[i] = k
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("token: loading keys: %w", errors.Join(errs...))
	}
	var active key
	var next, retired []publishedKey
	for i, kc := range cfg.Keys {
		pk := publishedKey{jwk: keys[i].publicJWK(), state: kc.State}
		switch kc.State {
		case StateActive:
			active = keys[i]
		case StateNext:
			next = append(next, pk)
		case StateRetired:
			pk.until = kc.Until
			retired = append(retired, pk)
		}
	}
	return newSigner(issuer, cfg, active, slices.Concat(next, retired), o.now)
}

// NewDevSigner returns a Signer with a new in-memory ES256 key and the
// default settings, for the quickstart (`gateway dev`). Its key is lost on
// restart, so tools behind it must refetch the key set (they do, on unknown kid).
func NewDevSigner(issuer string, opts ...Option) (*Signer, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if issuer == "" {
		return nil, errors.New("token: expected an issuer URL, got none")
	}
	priv, err := generate(contexttoken.ES256)
	if err != nil {
		return nil, fmt.Errorf("token: generating dev key: %w", err)
	}
	k, err := newKey(priv)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return newSigner(issuer, Config{}.WithDefaults(), k, nil, o.now)
}

func newSigner(issuer string, cfg Config, active key, others []publishedKey, now func() time.Time) (*Signer, error) {
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(active.alg), Key: jose.JSONWebKey{Key: active.priv, KeyID: active.kid}},
		(&jose.SignerOptions{}).WithType(contexttoken.Type),
	)
	if err != nil {
		return nil, fmt.Errorf("token: building signer: %w", err)
	}
	return &Signer{
		issuer:    issuer,
		header:    cfg.Header,
		lifetime:  cfg.Lifetime,
		reuse:     *cfg.Reuse,
		now:       now,
		active:    active,
		signer:    signer,
		published: append([]publishedKey{{jwk: active.publicJWK(), state: StateActive}}, others...),
	}, nil
}

// Issuer returns the iss of the tokens.
func (s *Signer) Issuer() string { return s.issuer }

// Header returns the request header that carries the token.
func (s *Signer) Header() string { return s.header }

// Lifetime returns the longest lifetime of a token.
func (s *Signer) Lifetime() time.Duration { return s.lifetime }

// Reuse returns the configured token reuse window (see Cache).
func (s *Signer) Reuse() time.Duration { return s.reuse }

// KeyID returns the kid of the active key.
func (s *Signer) KeyID() string { return s.active.kid }

// Algorithm returns the signing algorithm.
func (s *Signer) Algorithm() string { return s.active.alg }

// LogValue shows the issuer, the active kid and the algorithm; no key material.
func (s *Signer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("issuer", s.issuer), slog.String("kid", s.active.kid),
		slog.String("alg", s.active.alg), slog.Int("published", len(s.published)))
}

// Close releases nothing today; it exists for the gateway's component
// lifecycle.
func (s *Signer) Close() error { return nil }

// Mint signs claims with the active key. It sets iss to the issuer, iat and
// nbf to now, exp to now + lifetime or notAfter, whichever is earlier (both
// truncated to whole seconds, so exp never exceeds notAfter), and a random
// jti; values the caller put in those fields are overwritten. It fails
// closed: when sub or aud is empty, when notAfter is zero, or when notAfter
// leaves less than one second.
func (s *Signer) Mint(c contexttoken.Claims, notAfter time.Time) (string, error) {
	now := s.now()
	if err := s.prepare(&c, now, notAfter); err != nil {
		return "", err
	}
	return s.sign(&c)
}

func (s *Signer) sign(c *contexttoken.Claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("token: encoding claims: %w", err)
	}
	obj, err := s.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("token: signing: %w", err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("token: serializing: %w", err)
	}
	return tok, nil
}

func (s *Signer) prepare(c *contexttoken.Claims, now, notAfter time.Time) error {
	if c.Subject == "" {
		return errors.New("token: expected a subject (sub), got none")
	}
	if len(c.Audience) == 0 || slices.Contains(c.Audience, "") {
		return fmt.Errorf("token: expected non-empty audiences (aud), got %q", []string(c.Audience))
	}
	if notAfter.IsZero() {
		return errors.New("token: expected notAfter (the end of the session or grant), got the zero time")
	}
	exp := now.Add(s.lifetime)
	if notAfter.Before(exp) {
		exp = notAfter
	}
	iat := now.Unix()
	if exp.Unix() <= iat {
		return fmt.Errorf("token: expected notAfter after %s, got %s", time.Unix(iat+1, 0).UTC().Format(time.RFC3339), notAfter.UTC().Format(time.RFC3339))
	}
	jti, err := newJTI()
	if err != nil {
		return err
	}
	c.Issuer = s.issuer
	c.IssuedAt = contexttoken.NumericDate(iat)
	c.NotBefore = contexttoken.NumericDate(iat)
	c.Expiry = contexttoken.NumericDate(exp.Unix())
	c.ID = jti
	return nil
}

func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token: generating jti: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
