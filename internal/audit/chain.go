package audit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
)

// zeroHash is the Prev of the first record of a chain.
const zeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// checkpointType is the "typ" header of a checkpoint signature; it keeps a
// checkpoint signature from being taken for a context token and back.
const checkpointType = "gateway-audit-checkpoint"

// sigAlgs are the algorithms a checkpoint may be signed with: the context
// token's.
var sigAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}

// hashLine returns the hex SHA-256 of body, the bytes of a line up to (not
// including) its `,"hash":` member.
func hashLine(dst *[64]byte, body []byte) {
	sum := sha256.Sum256(body)
	hex.Encode(dst[:], sum[:])
}

// checkpointPayload is what a checkpoint's signature covers (the JWS
// payload, detached): {"seq":N,"hash":"<the checkpoint's own hash>"}. The
// hash covers the checkpoint and, through Prev, every record before it.
func checkpointPayload(seq uint64, hash []byte) []byte {
	b := append([]byte(nil), `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"hash":"`...)
	b = append(b, hash...)
	return append(b, `"}`...)
}

// boundPrefix starts the statement that ends every checkpoint's detail:
// "checkpoint_every N" (alone, or after "; "), the most records the log
// writes after that checkpoint before the next one (Options.CheckpointEvery).
// It is in the hashed bytes, so a signed checkpoint vouches for it; the
// verifier, given keys, fails a file with more records than that after a
// signed checkpoint. Stating it in detail, not in a member of its own, keeps
// the record format as it was: verifiers from before it read the files.
const boundPrefix = "checkpoint_every "

// withBound returns a checkpoint's detail with the bound stated at its end.
// The end, because what comes before may hold text the log does not choose
// (an error message, a path): only the last part is read as the statement.
func withBound(detail string, every int) string {
	s := boundPrefix + strconv.Itoa(every)
	if detail == "" {
		return s
	}
	return detail + "; " + s
}

// statedBound returns the bound a checkpoint's detail states, or 0 when it
// states none (a checkpoint written before checkpoints stated it).
func statedBound(detail string) int {
	last := detail
	if i := strings.LastIndex(detail, "; "); i >= 0 {
		last = detail[i+2:]
	}
	digits, ok := strings.CutPrefix(last, boundPrefix)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n <= 0 || strconv.Itoa(n) != digits {
		return 0
	}
	return n
}

// checkpointSigner signs checkpoints with the gateway's key.
type checkpointSigner struct {
	js  jose.Signer
	kid string
	alg jose.SignatureAlgorithm
}

func newCheckpointSigner(s crypto.Signer, kid string) (*checkpointSigner, error) {
	alg, err := algFor(s.Public())
	if err != nil {
		return nil, err
	}
	if kid == "" {
		if kid, err = thumbprint(s.Public()); err != nil {
			return nil, err
		}
	}
	opts := (&jose.SignerOptions{}).WithType(checkpointType).WithHeader("kid", kid)
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: cryptosigner.Opaque(s)}, opts)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint signer: %w", err)
	}
	return &checkpointSigner{js: js, kid: kid, alg: alg}, nil
}

// sign returns the detached compact JWS (header..signature) over the
// checkpoint payload.
func (c *checkpointSigner) sign(seq uint64, hash []byte) (string, error) {
	obj, err := c.js.Sign(checkpointPayload(seq, hash))
	if err != nil {
		return "", fmt.Errorf("audit: signing checkpoint %d: %w", seq, err)
	}
	return obj.DetachedCompactSerialize()
}

// algFor returns the JWS algorithm for a public key, as the context token
// chooses it.
func algFor(pub crypto.PublicKey) (jose.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("audit: expected an ECDSA key on P-256, got curve %s", k.Curve.Params().Name)
		}
		return jose.ES256, nil
	case ed25519.PublicKey:
		return jose.EdDSA, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("audit: expected an RSA key of at least 2048 bits, got %d", k.N.BitLen())
		}
		return jose.RS256, nil
	}
	return "", fmt.Errorf("audit: expected an ECDSA P-256, Ed25519 or RSA key, got %T", pub)
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of pub, base64url: the kid
// the gateway gives its keys.
func thumbprint(pub crypto.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("audit: key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// errNoKey is wrapped when a checkpoint names a key the set does not hold.
var errNoKey = errors.New("no such key")
