package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/accessgateway/gateway/internal/store"
)

// RevokedIDTokenPrefix begins the store keys of ID tokens revoked at
// sign-out: the prefix and the base64url SHA-256 of the token. The token
// itself is never stored.
const RevokedIDTokenPrefix = "revoked:idt:"

// revokedSkew is kept beyond a revoked token's exp: the replicas' clocks, and
// the verifier's, may run a little behind the one that revoked it.
const revokedSkew = time.Minute

// ErrTokenRevoked means a bearer ID token was revoked: it was the hint of a
// sign-out (see SignOut), so it was handed to a browser, and the session it
// came from has ended.
var ErrTokenRevoked = errors.New("auth: bearer token: revoked at sign-out")

// ErrRevocationUnknown means the store that holds the revoked ID tokens did
// not answer: a bearer token can be neither accepted (it may have been
// revoked) nor called invalid. Errors wrapping it wrap the store's error too.
var ErrRevocationUnknown = errors.New("auth: bearer token: the revocation list did not answer")

// ProviderSignOut is how the browser ends the provider's session once the
// gateway has ended its own (OpenID Connect RP-Initiated Logout 1.0): a
// form to post to the provider's end_session_endpoint. It is a POST, which
// the specification allows (§2), rather than a redirect: id_token_hint is the
// user's ID token, and in a URL it would land in the browser's history and
// in the access logs of the provider and of every proxy on the way.
type ProviderSignOut struct {
	// Action is the end_session_endpoint, its own query included.
	Action string
	// Fields are the form's fields, in this order: id_token_hint (when the
	// session kept the ID token and it opens), client_id, and
	// post_logout_redirect_uri (when configured).
	Fields []FormField
	// Origins are where posting the form takes the browser: the endpoint's
	// origin and the post-logout redirect's. The page's CSP form-action must
	// allow both: browsers check it on the redirect that follows a form's
	// submission too.
	Origins []string
}

// FormField is one hidden field of a form.
type FormField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// SignOut ends the session id for every replica. If the session holds the ID
// token (kept as the provider sign-out's hint), it is revoked first (see
// RevokeIDToken): the hint goes to the browser, and the token must not
// outlive the session as a bearer token.
//
// It returns the provider's sign-out form, or nil when EndProviderSession is
// off, the provider advertises no end_session_endpoint, or it is not
// discovered yet. An error means the store did not answer: the session may
// still be live, and no form is returned (the hint is not handed out
// unrevoked).
func (a *Authenticator) SignOut(ctx context.Context, id string, sess *Session) (*ProviderSignOut, error) {
	hint, err := a.sessions.IDToken(id, sess)
	if err != nil {
		a.cfg.Logger.Warn("auth: the session's ID token cannot be opened; provider sign-out without id_token_hint", "err", err)
		hint = ""
	}
	if hint != "" {
		if err := a.RevokeIDToken(ctx, hint); err != nil {
			return nil, err
		}
	}
	if err := a.sessions.Delete(ctx, id); err != nil {
		return nil, err
	}
	d := a.state.Load()
	if !a.cfg.EndProviderSession || d == nil || d.endSession == nil {
		return nil, nil
	}
	out := &ProviderSignOut{Action: d.endSession.String(), Origins: []string{origin(d.endSession)}}
	if hint != "" {
		out.Fields = append(out.Fields, FormField{"id_token_hint", hint})
	}
	out.Fields = append(out.Fields, FormField{"client_id", a.cfg.ClientID})
	if a.cfg.PostLogoutRedirectURL != "" {
		out.Fields = append(out.Fields, FormField{"post_logout_redirect_uri", a.cfg.PostLogoutRedirectURL})
		if u, err := url.Parse(a.cfg.PostLogoutRedirectURL); err == nil && u.Host != "" {
			if o := origin(u); o != out.Origins[0] {
				out.Origins = append(out.Origins, o)
			}
		}
	}
	return out, nil
}

// origin is u's scheme and host, as CSP names a source.
func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

// RevokeIDToken records, in the shared store, that the ID token raw must no
// longer be accepted as a bearer token (VerifyBearer), on any replica, until
// its expiry. The store holds only the token's SHA-256, for as long as the
// token would verify (its exp, plus a minute for clocks that run behind). A
// token whose exp cannot be read, or has long passed, is never accepted
// anyway: nothing is stored for it.
func (a *Authenticator) RevokeIDToken(ctx context.Context, raw string) error {
	exp, ok := idTokenExpiry(raw)
	if !ok {
		return nil
	}
	ttl := exp.Add(revokedSkew).Sub(a.Now())
	if ttl <= 0 {
		return nil
	}
	if err := a.sessions.st.Set(ctx, revokedKey(revocationSum(raw)), []byte("1"), ttl); err != nil {
		return fmt.Errorf("auth: revoke the ID token: %w", err)
	}
	return nil
}

// checkRevoked asks the shared store whether the token whose SHA-256 is sum
// was revoked: ErrTokenRevoked if it was, an error wrapping
// ErrRevocationUnknown if the store did not answer. It reads with store.MGet,
// which the Redis store may answer from the replica's local cache (kept
// current by Redis's invalidations) when the prefix is among its CacheReads.
func (a *Authenticator) checkRevoked(ctx context.Context, sum [32]byte) error {
	vals, err := store.MGet(ctx, a.sessions.st, revokedKey(sum))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRevocationUnknown, err)
	}
	if vals[0] != nil {
		return ErrTokenRevoked
	}
	return nil
}

// revocationSum is what a revocation is keyed on: the SHA-256 of the
// token's signing input (header and payload), not of the whole string. The
// signature has other spellings that verify as well — for ECDSA the
// signature (r, n−s) — so a key over the whole string would let a revoked
// token through as another spelling. The signing input has one spelling
// only for a token that passed canonicalCompact (go-jose re-encodes the
// header and payload it decoded before checking the signature), which
// VerifyBearer asks first.
func revocationSum(raw string) [32]byte {
	if i := strings.LastIndexByte(raw, '.'); i >= 0 {
		raw = raw[:i]
	}
	return sha256.Sum256([]byte(raw))
}

// canonicalCompact accepts only a JWS in compact serialization whose
// header and payload are each in canonical base64url: the alphabet only (no
// whitespace, padding or JSON), and no spare bits set in the last
// character. go-jose reads other serializations of the same token too (the
// JSON one, whitespace stripped, spare bits ignored), so a check keyed on
// the signing input's text must refuse them. The signature is left to
// go-jose: revocationSum does not read it.
func canonicalCompact(raw string) error {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return fmt.Errorf("expected a JWS in compact serialization (three segments), got %d segments", len(parts))
	}
	for i, p := range parts[:2] {
		b, err := base64.RawURLEncoding.Strict().DecodeString(p)
		if err != nil || p == "" || len(p) != base64.RawURLEncoding.EncodedLen(len(b)) {
			return fmt.Errorf("expected segment %d of the token in canonical base64url", i+1)
		}
	}
	return nil
}

func revokedKey(sum [32]byte) string {
	return RevokedIDTokenPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// idTokenExpiry reads the exp claim of a compact JWS without verifying it:
// it is only used for a token the gateway verified before (the session's),
// to know how long to remember its revocation.
func idTokenExpiry(raw string) (time.Time, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var c struct {
		Exp json.Number `json:"exp"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return time.Time{}, false
	}
	f, err := c.Exp.Float64()
	if err != nil || f <= 0 {
		return time.Time{}, false
	}
	// An exp beyond any real one (year 36812) is read as that year, not
	// as an overflowed instant.
	return time.Unix(int64(min(f, 1<<40)), 0), true
}
