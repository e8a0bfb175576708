package audit

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxKeyFile bounds a JWKS or PEM file (and a JWKS response).
const maxKeyFile = 1 << 20

// KeySet holds the public keys checkpoint signatures are verified with, by
// key ID. Keep the retired keys' public halves: a checkpoint is verified with
// the key that was active when it was written.
type KeySet struct {
	keys map[string]jose.JSONWebKey
}

// NewKeySet returns a set of public keys, each under its RFC 7638 thumbprint
// (the kid the gateway gives its keys).
func NewKeySet(pubs ...crypto.PublicKey) (*KeySet, error) {
	ks := &KeySet{keys: map[string]jose.JSONWebKey{}}
	for _, pub := range pubs {
		if err := ks.add(pub, ""); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

func (ks *KeySet) add(pub crypto.PublicKey, kid string) error {
	alg, err := algFor(pub)
	if err != nil {
		return err
	}
	if kid == "" {
		if kid, err = thumbprint(pub); err != nil {
			return err
		}
	}
	ks.keys[kid] = jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: string(alg)}
	return nil
}

// Len is the number of keys in the set.
func (ks *KeySet) Len() int {
	if ks == nil {
		return 0
	}
	return len(ks.keys)
}

// Merge adds other's keys to ks.
func (ks *KeySet) Merge(other *KeySet) {
	if other == nil {
		return
	}
	for kid, k := range other.keys {
		ks.keys[kid] = k
	}
}

// LoadJWKS reads a JSON Web Key Set (RFC 7517) from a file or from an https
// URL (http only on a loopback host), such as the gateway's
// /.well-known/gateway/jwks.json. Private keys in the set are refused; keys
// without a kid get their thumbprint.
func LoadJWKS(ctx context.Context, source string) (*KeySet, error) {
	var body []byte
	var err error
	if strings.HasPrefix(source, "https://") || strings.HasPrefix(source, "http://") {
		body, err = fetchJWKS(ctx, source)
	} else {
		body, err = readBounded(source)
	}
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("audit: %s: expected a JSON Web Key Set, got %v", source, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("audit: %s: expected at least one key, got none", source)
	}
	ks := &KeySet{keys: map[string]jose.JSONWebKey{}}
	for i, k := range set.Keys {
		if !k.IsPublic() {
			return nil, fmt.Errorf("audit: %s: keys[%d]: expected a public key, got a private one", source, i)
		}
		if err := ks.add(k.Key, k.KeyID); err != nil {
			return nil, fmt.Errorf("audit: %s: keys[%d]: %w", source, i, err)
		}
	}
	return ks, nil
}

// jwksURLProblem says why u may not serve the keys checkpoints are verified
// with, or returns "": it must be https, or http on a loopback host — the
// rule of the context token's verifier. Whoever can change a key set in
// transit can make a rewritten log verify.
func jwksURLProblem(u *url.URL) string {
	if u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return fmt.Sprintf("expected an https URL (or http on loopback), got %q: fetch the JWKS over a channel you trust and give the file", u.Redacted())
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// jwksClient fetches a JWKS; a redirect is held to jwksURLProblem too.
var jwksClient = &http.Client{
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if p := jwksURLProblem(req.URL); p != "" {
			return errors.New("redirected: " + p)
		}
		return nil
	},
}

func fetchJWKS(ctx context.Context, source string) ([]byte, error) {
	u, err := url.Parse(source)
	if err != nil {
		return nil, fmt.Errorf("audit: jwks url: %w", err)
	}
	if p := jwksURLProblem(u); p != "" {
		return nil, fmt.Errorf("audit: jwks url: %s", p)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
	if err != nil {
		return nil, fmt.Errorf("audit: jwks url: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := jwksClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("audit: fetching %s: %w", source, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("audit: fetching %s: expected status 200, got %d", source, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("audit: fetching %s: %w", source, err)
	}
	if len(body) > maxKeyFile {
		return nil, fmt.Errorf("audit: %s: expected at most %d bytes, got more", source, maxKeyFile)
	}
	return body, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", path, err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("audit: %s: expected at most %d bytes, got more", path, maxKeyFile)
	}
	return b, nil
}

// LoadPEM reads public keys from a PEM file: PUBLIC KEY blocks, certificates,
// or the gateway's own signing key file (only its public half is kept). Each
// key gets its thumbprint as kid.
func LoadPEM(path string) (*KeySet, error) {
	b, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	ks := &KeySet{keys: map[string]jose.JSONWebKey{}}
	for n := 1; ; n++ {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		pub, err := pemPublic(block)
		if err != nil {
			return nil, fmt.Errorf("audit: %s: PEM block %d: %w", path, n, err)
		}
		if err := ks.add(pub, ""); err != nil {
			return nil, fmt.Errorf("audit: %s: PEM block %d: %w", path, n, err)
		}
	}
	if len(ks.keys) == 0 {
		return nil, fmt.Errorf("audit: %s: expected a PEM public key, certificate or private key, got none", path)
	}
	return ks, nil
}

func pemPublic(block *pem.Block) (crypto.PublicKey, error) {
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return c.PublicKey, nil
	case "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY":
		var priv any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			priv, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			priv, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			priv, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		}
		if err != nil {
			return nil, err
		}
		s, ok := priv.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("expected a signing key, got %T", priv)
		}
		return s.Public(), nil
	}
	return nil, fmt.Errorf("expected PUBLIC KEY, CERTIFICATE or PRIVATE KEY, got %q", block.Type)
}

// verifyCheckpoint checks sig, a detached compact JWS, over the checkpoint
// payload for seq and hash.
func (ks *KeySet) verifyCheckpoint(sig string, seq uint64, hash string) (kid string, err error) {
	payload := checkpointPayload(seq, []byte(hash))
	obj, err := jose.ParseDetached(sig, payload, sigAlgs)
	if err != nil {
		return "", fmt.Errorf("expected a detached JWS, got %v", err)
	}
	if len(obj.Signatures) != 1 {
		return "", fmt.Errorf("expected one signature, got %d", len(obj.Signatures))
	}
	h := obj.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != checkpointType {
		return "", fmt.Errorf("expected typ %q, got %q", checkpointType, typ)
	}
	key, ok := ks.keys[h.KeyID]
	if !ok {
		return h.KeyID, fmt.Errorf("kid %q: %w in the keys given", h.KeyID, errNoKey)
	}
	if key.Algorithm != h.Algorithm {
		return h.KeyID, fmt.Errorf("expected alg %s for kid %q, got %s", key.Algorithm, h.KeyID, h.Algorithm)
	}
	if err := obj.DetachedVerify(payload, key.Key); err != nil {
		return h.KeyID, errors.New("the signature does not verify")
	}
	return h.KeyID, nil
}
