package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// keysRefetchInterval is the least time between two fetches of the
// provider's JWKS caused by bearer tokens whose key the gateway does not
// know. Tokens from the provider's token endpoint (sign-in, refresh) are
// not held to it.
const keysRefetchInterval = 30 * time.Second

// signingAlgs are the algorithms an ID token may be signed with: go-oidc's
// list (asymmetric only: never none, never HS256 with the client secret).
var signingAlgs = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true, "ES256": true, "ES384": true, "ES512": true,
	"PS256": true, "PS384": true, "PS512": true, "EdDSA": true,
}

// providerKeys is the provider's JWKS as the ID token verifier's key set
// (go-oidc's KeySet). It differs from go-oidc's RemoteKeySet in when it
// fetches the keys again: RemoteKeySet does on every token it cannot verify
// with the keys it has — any key ID, or a signature that does not verify —
// so every forged bearer token would be a request to the provider. Here a
// token from the token endpoint (providerTokenContext) refetches when no
// key verifies it, and any other token (a bearer token) at most once per
// keysRefetchInterval.
type providerKeys struct {
	url    string
	client *http.Client
	algs   []jose.SignatureAlgorithm
	now    func() time.Time

	mu      sync.Mutex // guards keys and fetched
	keys    []jose.JSONWebKey
	fetched time.Time // of the last fetch attempt, successful or not

	fetchMu sync.Mutex // one fetch at a time
}

type providerTokenKey struct{}

// providerTokenContext marks ctx as verifying a token the gateway received
// from the provider's token endpoint itself, over TLS: its key may have just
// been rotated in, and fetching the keys for it cannot be forced by a client.
func providerTokenContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, providerTokenKey{}, true)
}

func (k *providerKeys) cached() []jose.JSONWebKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys
}

// VerifySignature implements oidc.KeySet.
func (k *providerKeys) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, k.algs)
	if err != nil {
		return nil, fmt.Errorf("auth: malformed token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("auth: expected a token with one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	if payload := verifyWith(jws, kid, k.cached()); payload != nil {
		return payload, nil
	}
	// No key verifies it: the provider may have rotated its keys (a new key
	// ID, or new material under the same one). Any client can send such a
	// token, so only a token from the token endpoint fetches the keys each
	// time; others wait for keysRefetchInterval since the last fetch.
	fromProvider, _ := ctx.Value(providerTokenKey{}).(bool)
	keys, err := k.refetch(ctx, fromProvider)
	if err != nil {
		return nil, err
	}
	if payload := verifyWith(jws, kid, keys); payload != nil {
		return payload, nil
	}
	return nil, errors.New("auth: the token's signature does not verify with the provider's keys")
}

// verifyWith verifies jws with the key of ID kid among keys (every key when
// kid is empty) and returns its payload, or nil.
func verifyWith(jws *jose.JSONWebSignature, kid string, keys []jose.JSONWebKey) []byte {
	for i := range keys {
		if kid != "" && keys[i].KeyID != kid {
			continue
		}
		if p, err := jws.Verify(&keys[i]); err == nil {
			return p
		}
	}
	return nil
}

// refetch fetches the keys again, unless a fetch began after this call did
// or, when !force, less than keysRefetchInterval ago: then it returns the
// keys there are.
func (k *providerKeys) refetch(ctx context.Context, force bool) ([]jose.JSONWebKey, error) {
	start := k.now()
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	k.mu.Lock()
	fetched, keys := k.fetched, k.keys
	k.mu.Unlock()
	if !fetched.IsZero() && (fetched.After(start) || (!force && start.Sub(fetched) < keysRefetchInterval)) {
		return keys, nil
	}
	// The fetch is the replica's, not the request's: a client that goes
	// away must not leave it failed, and the keys stale, for an interval.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	keys, err := k.fetch(fctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fetched = k.now()
	if err != nil {
		return nil, err
	}
	k.keys = keys
	return keys, nil
}

func (k *providerKeys) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("auth: provider keys: %w", err)
	}
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth: provider keys: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("auth: provider keys: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("auth: provider keys: %s", resp.Status)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("auth: provider keys: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		// As go-oidc: keys of algorithms or types it cannot use are
		// skipped (RFC 7517 §5), not a reason to fail the whole set.
		var meta struct {
			Alg string `json:"alg"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("auth: provider keys: %w", err)
		}
		if meta.Alg != "" && !signingAlgs[meta.Alg] {
			continue
		}
		var key jose.JSONWebKey
		if err := json.Unmarshal(raw, &key); err != nil {
			if errors.Is(err, jose.ErrUnsupportedKeyType) {
				continue
			}
			return nil, fmt.Errorf("auth: provider keys: %w", err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}
