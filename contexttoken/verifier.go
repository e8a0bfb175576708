package contexttoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Algorithms a Verifier can be told to accept, and the gateway can sign with.
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	RS256 = "RS256"
)

// Defaults applied by NewVerifier and NewStaticVerifier.
const (
	DefaultLeeway             = 30 * time.Second
	DefaultRefreshInterval    = 5 * time.Minute
	DefaultMinRefetchInterval = 10 * time.Second
	// MaxTokenSize is the longest token Verify will parse.
	MaxTokenSize = 16 << 10
	maxJWKSSize  = 1 << 20
)

// Config configures a Verifier. Issuer and Audiences are required; JWKSURL is
// required by NewVerifier and must be empty for NewStaticVerifier.
type Config struct {
	// JWKSURL is where the gateway publishes its keys, normally
	// https://<gateway host>/.well-known/gateway/jwks.json. It must be https,
	// or http on a loopback host (tests, a sidecar), unless InsecureHTTP.
	JWKSURL string
	// InsecureHTTP allows an http JWKSURL on any host, for example the
	// gateway's admin listener inside a cluster network. Whoever can change
	// the key set in transit can forge tokens: use it only on a network you
	// trust as much as the gateway itself.
	InsecureHTTP bool
	// Issuer is the expected iss: the gateway's external URL, compared exactly.
	Issuer string
	// Audiences are the accepted aud values; a token is accepted when its aud
	// names at least one of them. Normally the tool's own origin.
	Audiences []string
	// Algorithms is the allow-list of signature algorithms: any of ES256,
	// EdDSA and RS256. Default: ES256 only. HMAC algorithms and "none" can
	// never be allowed.
	Algorithms []string
	// Leeway is the clock skew allowed on exp, nbf and iat. Zero means
	// DefaultLeeway (30 s); it must not be negative nor more than 5 minutes.
	Leeway time.Duration
	// HTTPClient fetches the key set. Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// RefreshInterval is how long fetched keys are used before the key set is
	// fetched again. Zero means DefaultRefreshInterval (5 minutes, the
	// gateway's Cache-Control max-age).
	RefreshInterval time.Duration
	// MinRefetchInterval limits fetches: at most one per interval, whatever
	// the traffic (tokens with unknown kid cannot make the verifier hammer the
	// gateway). Zero means DefaultMinRefetchInterval (10 s).
	MinRefetchInterval time.Duration
}

// Verifier verifies context tokens. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	algs   []jose.SignatureAlgorithm
	static bool

	keys atomic.Pointer[keySet]

	fetchMu     sync.Mutex // serializes fetches; guards the fields below
	lastAttempt time.Time
	lastErr     error
}

type keySet struct {
	byID    map[string]verifyKey
	fetched time.Time
	etag    string
}

type verifyKey struct {
	key any // public key: *ecdsa.PublicKey, ed25519.PublicKey or *rsa.PublicKey
	alg string
}

// NewVerifier checks cfg and fetches the key set once, so that a tool with a
// wrong URL fails at start-up rather than on its first request. It returns an
// error wrapping ErrKeySet if that fetch fails or the set holds no key usable
// with the allowed algorithms.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	v, err := newVerifier(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.JWKSURL == "" {
		return nil, errors.New("contexttoken: config: expected a JWKSURL, got none")
	}
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && (cfg.InsecureHTTP || isLoopback(u.Hostname())))) || u.Host == "" {
		return nil, fmt.Errorf("contexttoken: config: expected JWKSURL to be an https URL (or http on loopback), got %q (set InsecureHTTP to allow http)", cfg.JWKSURL)
	}
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	ks, err := v.fetchLocked(ctx)
	if err != nil {
		return nil, err
	}
	if len(ks.byID) == 0 {
		return nil, fmt.Errorf("%w: expected a key for %v in %s, got none usable", ErrKeySet, v.cfg.Algorithms, cfg.JWKSURL)
	}
	return v, nil
}

// NewStaticVerifier returns a Verifier that uses keys and never fetches. It
// suits a process that holds the gateway's key set itself (the quickstart's
// demo tool) and tests. Private keys in the set are reduced to their public
// halves; symmetric keys are ignored.
func NewStaticVerifier(cfg Config, keys jose.JSONWebKeySet) (*Verifier, error) {
	if cfg.JWKSURL != "" {
		return nil, fmt.Errorf("contexttoken: config: expected no JWKSURL for a static verifier, got %q", cfg.JWKSURL)
	}
	v, err := newVerifier(cfg)
	if err != nil {
		return nil, err
	}
	ks, err := v.parseKeySet(keys)
	if err != nil {
		return nil, err
	}
	if len(ks.byID) == 0 {
		return nil, fmt.Errorf("%w: expected a key for %v in the static key set, got none usable", ErrKeySet, v.cfg.Algorithms)
	}
	v.static = true
	v.keys.Store(ks)
	return v, nil
}

func newVerifier(cfg Config) (*Verifier, error) {
	var problems []string
	if cfg.Issuer == "" {
		problems = append(problems, "expected an Issuer, got none")
	}
	if len(cfg.Audiences) == 0 {
		problems = append(problems, "expected at least one Audience, got none")
	}
	for i, a := range cfg.Audiences {
		if a == "" {
			problems = append(problems, fmt.Sprintf("Audiences[%d]: expected a non-empty audience", i))
		}
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = []string{ES256}
	}
	var algs []jose.SignatureAlgorithm
	for i, a := range cfg.Algorithms {
		switch a {
		case ES256, EdDSA, RS256:
			algs = append(algs, jose.SignatureAlgorithm(a))
		default:
			problems = append(problems, fmt.Sprintf("Algorithms[%d]: expected ES256, EdDSA or RS256, got %q", i, a))
		}
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	case cfg.Leeway < 0 || cfg.Leeway > 5*time.Minute:
		problems = append(problems, fmt.Sprintf("Leeway: expected between 0 and 5m, got %s", cfg.Leeway))
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	} else if cfg.RefreshInterval < 0 {
		problems = append(problems, fmt.Sprintf("RefreshInterval: expected a positive duration, got %s", cfg.RefreshInterval))
	}
	if cfg.MinRefetchInterval == 0 {
		cfg.MinRefetchInterval = DefaultMinRefetchInterval
	} else if cfg.MinRefetchInterval < 0 {
		problems = append(problems, fmt.Sprintf("MinRefetchInterval: expected a positive duration, got %s", cfg.MinRefetchInterval))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("contexttoken: config: %s", strings.Join(problems, "; "))
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Audiences = slices.Clone(cfg.Audiences)
	cfg.Algorithms = slices.Clone(cfg.Algorithms)
	return &Verifier{cfg: cfg, algs: algs}, nil
}

// Verify checks token as the package doc describes and returns its claims.
// Every error wraps one of the package's sentinel errors.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: expected a token, got an empty string", ErrMalformed)
	}
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("%w: expected at most %d bytes, got %d", ErrMalformed, MaxTokenSize, len(token))
	}
	tok, err := jwt.ParseSigned(token, v.algs)
	if err != nil {
		if alg, ok := peekAlg(token); ok && !slices.Contains(v.cfg.Algorithms, alg) {
			return nil, fmt.Errorf("%w: expected one of %v, got %q", ErrAlgorithm, v.cfg.Algorithms, alg)
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(tok.Headers) != 1 {
		return nil, fmt.Errorf("%w: expected one signature, got %d", ErrMalformed, len(tok.Headers))
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != Type {
		return nil, fmt.Errorf("%w: expected typ %q, got %q", ErrMalformed, Type, typ)
	}
	if h.KeyID == "" {
		return nil, fmt.Errorf("%w: expected a kid header, got none", ErrMalformed)
	}
	key, err := v.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	if h.Algorithm != key.alg {
		return nil, fmt.Errorf("%w: key %q is for %s, token says %q", ErrAlgorithm, h.KeyID, key.alg, h.Algorithm)
	}
	var c Claims
	if err := tok.Claims(key.key, &c); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return nil, fmt.Errorf("%w: with key %q", ErrSignature, h.KeyID)
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := v.checkClaims(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

func (v *Verifier) checkClaims(c *Claims) error {
	if c.Issuer != v.cfg.Issuer {
		return fmt.Errorf("%w: expected %q, got %q", ErrIssuer, v.cfg.Issuer, c.Issuer)
	}
	ok := false
	for _, a := range v.cfg.Audiences {
		if c.Audience.Contains(a) {
			ok = true
			break
		}
	}
	if !ok {
		return fmt.Errorf("%w: expected one of %q, got %q", ErrAudience, v.cfg.Audiences, []string(c.Audience))
	}
	if c.Subject == "" {
		return fmt.Errorf("%w: expected a sub claim, got none", ErrMalformed)
	}
	if c.Expiry == 0 || c.IssuedAt == 0 {
		return fmt.Errorf("%w: expected exp and iat claims, got exp=%d iat=%d", ErrMalformed, c.Expiry, c.IssuedAt)
	}
	now := v.cfg.Now()
	lw := v.cfg.Leeway
	if exp := c.Expiry.Time(); !now.Add(-lw).Before(exp) {
		return &ExpiredError{Expiry: exp, Now: now, Leeway: lw}
	}
	if c.NotBefore != 0 {
		if nbf := c.NotBefore.Time(); now.Add(lw).Before(nbf) {
			return fmt.Errorf("%w: expected nbf at or before %s (now plus leeway %s), got %s",
				ErrNotYetValid, now.Add(lw).UTC().Format(time.RFC3339), lw, nbf.Format(time.RFC3339))
		}
	}
	if iat := c.IssuedAt.Time(); now.Add(lw).Before(iat) {
		return fmt.Errorf("%w: expected iat at or before %s (now plus leeway %s), got %s",
			ErrNotYetValid, now.Add(lw).UTC().Format(time.RFC3339), lw, iat.Format(time.RFC3339))
	}
	return nil
}

// key returns the key named kid, fetching the key set when the cached one is
// older than RefreshInterval or does not know kid, at most once per
// MinRefetchInterval.
func (v *Verifier) key(ctx context.Context, kid string) (verifyKey, error) {
	ks := v.keys.Load()
	if v.static {
		if k, ok := ks.byID[kid]; ok {
			return k, nil
		}
		return verifyKey{}, fmt.Errorf("%w: expected one of the static keys, got kid %q", ErrUnknownKey, kid)
	}
	now := v.cfg.Now()
	if ks != nil && now.Sub(ks.fetched) < v.cfg.RefreshInterval {
		if k, ok := ks.byID[kid]; ok {
			return k, nil
		}
	}
	// Stale, or kid unknown: fetch unless another caller just did.
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	ks = v.keys.Load()
	fresh := ks != nil && now.Sub(ks.fetched) < v.cfg.RefreshInterval
	if fresh {
		if k, ok := ks.byID[kid]; ok {
			return k, nil
		}
	}
	if now.Sub(v.lastAttempt) < v.cfg.MinRefetchInterval {
		if !fresh && v.lastErr != nil {
			return verifyKey{}, fmt.Errorf("%w: last fetch failed and the next is allowed at %s: %w",
				ErrKeySet, v.lastAttempt.Add(v.cfg.MinRefetchInterval).UTC().Format(time.RFC3339), v.lastErr)
		}
		if ks != nil {
			if k, ok := ks.byID[kid]; ok {
				return k, nil
			}
		}
		return verifyKey{}, fmt.Errorf("%w: kid %q is not in the key set (fetched %s; next fetch allowed at %s)",
			ErrUnknownKey, kid, fetchedAt(ks), v.lastAttempt.Add(v.cfg.MinRefetchInterval).UTC().Format(time.RFC3339))
	}
	ks, err := v.fetchLocked(ctx)
	if err != nil {
		return verifyKey{}, err
	}
	if k, ok := ks.byID[kid]; ok {
		return k, nil
	}
	return verifyKey{}, fmt.Errorf("%w: kid %q is not in the key set fetched from %s", ErrUnknownKey, kid, v.cfg.JWKSURL)
}

func fetchedAt(ks *keySet) string {
	if ks == nil {
		return "never"
	}
	return ks.fetched.UTC().Format(time.RFC3339)
}

// fetchLocked fetches the key set; v.fetchMu must be held. The request runs
// with ctx's values but not its cancellation (one impatient caller must not
// fail the fetch for all), bounded by the HTTP client's timeout and 10 s.
func (v *Verifier) fetchLocked(ctx context.Context) (*keySet, error) {
	now := v.cfg.Now()
	v.lastAttempt = now
	ks, err := v.fetch(ctx, now)
	v.lastErr = err
	if err != nil {
		return nil, err
	}
	v.keys.Store(ks)
	return ks, nil
}

func (v *Verifier) fetch(ctx context.Context, now time.Time) (*keySet, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeySet, err)
	}
	req.Header.Set("Accept", "application/json")
	old := v.keys.Load()
	if old != nil && old.etag != "" {
		req.Header.Set("If-None-Match", old.etag)
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetching %s: %w", ErrKeySet, v.cfg.JWKSURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && old != nil {
		return &keySet{byID: old.byID, fetched: now, etag: old.etag}, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: fetching %s: expected status 200, got %d", ErrKeySet, v.cfg.JWKSURL, resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	dec := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, maxJWKSSize))
	if err := dec.Decode(&set); err != nil {
		return nil, fmt.Errorf("%w: parsing %s: %w", ErrKeySet, v.cfg.JWKSURL, err)
	}
	ks, err := v.parseKeySet(set)
	if err != nil {
		return nil, err
	}
	ks.fetched = now
	ks.etag = resp.Header.Get("ETag")
	return ks, nil
}

// parseKeySet keeps the signature keys usable with an allowed algorithm.
// Keys without kid, with use other than "sig", symmetric keys and keys for
// other algorithms are skipped; a kid that appears twice is an error.
func (v *Verifier) parseKeySet(set jose.JSONWebKeySet) (*keySet, error) {
	ks := &keySet{byID: make(map[string]verifyKey, len(set.Keys))}
	for _, k := range set.Keys {
		if k.KeyID == "" || (k.Use != "" && k.Use != "sig") || !k.Valid() {
			continue
		}
		pub := k.Public()
		if pub.Key == nil { // symmetric
			continue
		}
		alg := algFor(pub.Key)
		if alg == "" || (k.Algorithm != "" && k.Algorithm != alg) || !slices.Contains(v.cfg.Algorithms, alg) {
			continue
		}
		if _, dup := ks.byID[k.KeyID]; dup {
			return nil, fmt.Errorf("%w: expected unique key IDs, got %q twice", ErrKeySet, k.KeyID)
		}
		ks.byID[k.KeyID] = verifyKey{key: pub.Key, alg: alg}
	}
	return ks, nil
}

// algFor returns the one algorithm a public key may be used with here, or ""
// when the key is unsuitable (another curve, RSA under 2048 bits).
func algFor(key any) string {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return ES256
		}
	case ed25519.PublicKey:
		return EdDSA
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return RS256
		}
	}
	return ""
}

// peekAlg reads the alg of a token that go-jose refused, only to say why in
// the error. It makes no security decision.
func peekAlg(token string) (string, bool) {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", false
	}
	var h struct {
		Alg *string `json:"alg"`
	}
	if json.Unmarshal(b, &h) != nil || h.Alg == nil {
		return "", false
	}
	return *h.Alg, true
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1" || strings.HasPrefix(host, "127.")
}
