package contexttoken

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Every error returned by [Verifier.Verify] wraps exactly one
// of them, so callers can branch with errors.Is; the message adds what was
// expected and what was got.
var (
	// ErrMissing: the request carried no token (returned by the middleware).
	ErrMissing = errors.New("contexttoken: no token")
	// ErrMalformed: the token is not a compact JWS with a JSON claim set, or
	// its typ or kid header is missing or wrong.
	ErrMalformed = errors.New("contexttoken: malformed token")
	// ErrAlgorithm: the token's alg is not in the allow-list, or does not fit
	// the key named by kid.
	ErrAlgorithm = errors.New("contexttoken: algorithm not allowed")
	// ErrUnknownKey: no key in the key set has the token's kid, even after a
	// refetch.
	ErrUnknownKey = errors.New("contexttoken: unknown signing key")
	// ErrSignature: the signature does not verify with the named key.
	ErrSignature = errors.New("contexttoken: invalid signature")
	// ErrIssuer: iss is not the configured issuer.
	ErrIssuer = errors.New("contexttoken: wrong issuer")
	// ErrAudience: aud names none of the accepted audiences.
	ErrAudience = errors.New("contexttoken: wrong audience")
	// ErrExpired: exp has passed (see [ExpiredError] for the times).
	ErrExpired = errors.New("contexttoken: token expired")
	// ErrNotYetValid: nbf or iat is in the future beyond the leeway.
	ErrNotYetValid = errors.New("contexttoken: token not yet valid")
	// ErrKeySet: the key set could not be fetched or parsed. This is the
	// verifier's problem, not the caller's: the middleware answers 503.
	ErrKeySet = errors.New("contexttoken: key set unavailable")
)

// ExpiredError is returned when the token's exp has passed. It matches
// ErrExpired with errors.Is.
type ExpiredError struct {
	// Expiry is the token's exp; Now is the verifier's clock; Leeway the
	// allowance that was applied.
	Expiry, Now time.Time
	Leeway      time.Duration
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("contexttoken: token expired: expected exp after %s (now %s minus leeway %s), got %s",
		e.Now.Add(-e.Leeway).UTC().Format(time.RFC3339), e.Now.UTC().Format(time.RFC3339), e.Leeway,
		e.Expiry.UTC().Format(time.RFC3339))
}

// Is reports whether target is ErrExpired.
func (e *ExpiredError) Is(target error) bool { return target == ErrExpired }

// Reason returns a short stable code for err, for logs, metrics and the
// middleware's JSON body: "missing", "malformed", "algorithm", "unknown-key",
// "signature", "issuer", "audience", "expired", "not-yet-valid", "key-set",
// or "invalid" for anything else.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrMissing):
		return "missing"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrAlgorithm):
		return "algorithm"
	case errors.Is(err, ErrUnknownKey):
		return "unknown-key"
	case errors.Is(err, ErrSignature):
		return "signature"
	case errors.Is(err, ErrIssuer):
		return "issuer"
	case errors.Is(err, ErrAudience):
		return "audience"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrNotYetValid):
		return "not-yet-valid"
	case errors.Is(err, ErrKeySet):
		return "key-set"
	default:
		return "invalid"
	}
}
