package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/accessgateway/gateway/contexttoken"
)

// rsaBits is the size of generated RSA keys.
const rsaBits = 3072

// key is a private signing key with its derived identity. Its LogValue and
// String never show key material.
type key struct {
	priv crypto.Signer
	kid  string
	alg  string
}

func (k key) String() string { return fmt.Sprintf("token key %s (%s)", k.kid, k.alg) }

// LogValue shows only the key's ID and algorithm.
func (k key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.kid), slog.String("alg", k.alg))
}

func (k key) publicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"}
}

// newKey derives the algorithm and the RFC 7638 thumbprint kid of priv.
func newKey(priv any) (key, error) {
	s, ok := priv.(crypto.Signer)
	if !ok {
		return key{}, fmt.Errorf("expected an ECDSA, Ed25519 or RSA private key, got %T", priv)
	}
	alg, err := algForPrivate(s)
	if err != nil {
		return key{}, err
	}
	jwk := jose.JSONWebKey{Key: s.Public()}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return key{}, fmt.Errorf("computing key thumbprint: %w", err)
	}
	return key{priv: s, kid: base64.RawURLEncoding.EncodeToString(tp), alg: alg}, nil
}

func algForPrivate(s crypto.Signer) (string, error) {
	switch k := s.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("expected an ECDSA key on P-256 for ES256, got curve %s", k.Curve.Params().Name)
		}
		return contexttoken.ES256, nil
	case ed25519.PrivateKey:
		return contexttoken.EdDSA, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("expected an RSA key of at least 2048 bits, got %d", k.N.BitLen())
		}
		return contexttoken.RS256, nil
	}
	return "", fmt.Errorf("expected an ECDSA P-256, Ed25519 or RSA private key, got %T", s)
}

// parseKeyPEM reads one unencrypted private key from PEM data. An "EC
// PARAMETERS" block (as written by openssl ecparam -genkey) may precede it;
// any other block, or a second key, is an error.
func parseKeyPEM(data []byte) (key, error) {
	var found any
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "EC PARAMETERS" {
			continue
		}
		if found != nil {
			return key{}, fmt.Errorf("expected one private key in the PEM file, got another %q block", b.Type)
		}
		if _, enc := b.Headers["Proc-Type"]; enc {
			return key{}, errors.New("expected an unencrypted private key, got an encrypted PEM block")
		}
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			found, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			found, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			found, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			return key{}, fmt.Errorf("expected a PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block, got %q", b.Type)
		}
		if err != nil {
			return key{}, fmt.Errorf("parsing %s block: %w", b.Type, err)
		}
	}
	if found == nil {
		return key{}, errors.New("expected a PEM private key, found no PEM block")
	}
	return newKey(found)
}

func loadKeyFile(path string) (key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return key{}, fmt.Errorf("reading key: %w", err)
	}
	return parseKeyPEM(data)
}

// generate returns a new private key for alg.
func generate(alg string) (crypto.Signer, error) {
	switch alg {
	case contexttoken.ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case contexttoken.EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case contexttoken.RS256:
		return rsa.GenerateKey(rand.Reader, rsaBits)
	}
	return nil, fmt.Errorf("token: expected algorithm ES256, EdDSA or RS256, got %q", alg)
}

// GenerateKeyPEM returns a new private key for alg (ES256: P-256; EdDSA:
// Ed25519; RS256: RSA 3072) as an unencrypted PKCS #8 PEM block.
func GenerateKeyPEM(alg string) ([]byte, error) {
	k, err := generate(alg)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("token: encoding key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteKeyFile writes a new key for alg to path with mode 0600 and returns its
// kid. It refuses to overwrite an existing file (nor follows a symlink there).
func WriteKeyFile(path, alg string) (kid string, err error) {
	data, err := GenerateKeyPEM(alg)
	if err != nil {
		return "", err
	}
	k, err := parseKeyPEM(data)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("token: creating key file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("token: writing key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("token: writing key file %s: %w", path, err)
	}
	return k.kid, nil
}

// InspectKeyFile returns the kid and algorithm of the key in path, for a
// `gateway keys` listing. It never returns key material.
func InspectKeyFile(path string) (kid, alg string, err error) {
	k, err := loadKeyFile(path)
	if err != nil {
		return "", "", fmt.Errorf("token: %w", err)
	}
	return k.kid, k.alg, nil
}
