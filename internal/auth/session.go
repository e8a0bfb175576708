package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/accessgateway/gateway/internal/store"
)

// ErrNoSession means the cookie names no live session: sign in again.
var ErrNoSession = errors.New("auth: no session")

// Session is a signed-in browser. It lives server-side in the store, under
// a key derived from the cookie value (the cookie value itself is not
// stored, so a store dump does not yield usable cookies).
type Session struct {
	Subject string              `json:"sub"`
	Email   string              `json:"email"`
	Name    string              `json:"name,omitempty"`
	Groups  []string            `json:"groups,omitempty"`
	Claims  map[string][]string `json:"claims,omitempty"`
	// CreatedAt and ExpiresAt bound the session; ExpiresAt never moves.
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// RefreshToken, when the IdP issued one, is used to re-check the user
	// every refresh interval. NextRefresh is when that is due.
	//
	// RefreshToken and IDToken are plaintext only in memory, between
	// sign-in (or refresh) and Save: the store holds them sealed
	// (SealedRefresh, SealedID: AES-256-GCM under the session keyring, bound
	// to this session's store key). A Session from Load has them empty; ask
	// Sessions.RefreshToken or Sessions.IDToken to open them.
	RefreshToken  string    `json:"-"`
	SealedRefresh string    `json:"rt,omitempty"`
	NextRefresh   time.Time `json:"next_refresh,omitzero"`
	// IDToken is kept as the hint for RP-initiated logout.
	IDToken  string `json:"-"`
	SealedID string `json:"idt,omitempty"`
	// CSRF is the session's token for the gateway's own forms.
	CSRF string `json:"csrf"`
}

// MarshalJSON writes the session without the claims that repeat its
// subject, email or groups (the groups claim is most of a session's
// claims, and can be long): "cf" names each left out and what it copies,
// and UnmarshalJSON puts it back, so Claims reads the same after a round
// trip.
func (s *Session) MarshalJSON() ([]byte, error) {
	type plain Session // without the methods
	out := struct {
		*plain
		Claims map[string][]string `json:"claims,omitempty"`
		From   map[string]string   `json:"cf,omitempty"`
	}{plain: (*plain)(s)}
	for k, v := range s.Claims {
		from := ""
		switch {
		case len(v) == 1 && v[0] == s.Subject && k == "sub":
			from = "sub"
		case len(v) == 1 && v[0] == s.Email && k == "email":
			from = "email"
		case len(s.Groups) > 0 && slices.Equal(v, s.Groups):
			from = "groups"
		}
		if from == "" {
			if out.Claims == nil {
				out.Claims = make(map[string][]string, len(s.Claims))
			}
			out.Claims[k] = v
			continue
		}
		if out.From == nil {
			out.From = map[string]string{}
		}
		out.From[k] = from
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote (and sessions written
// before it, whose claims are all in "claims").
func (s *Session) UnmarshalJSON(b []byte) error {
	type plain Session
	in := struct {
		*plain
		From map[string]string `json:"cf"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	for k, from := range in.From {
		if s.Claims == nil {
			s.Claims = make(map[string][]string, len(in.From))
		}
		switch from {
		case "sub":
			s.Claims[k] = []string{s.Subject}
		case "email":
			s.Claims[k] = []string{s.Email}
		case "groups":
			s.Claims[k] = slices.Clone(s.Groups)
		default:
			return fmt.Errorf("auth: session claim %q copies unknown field %q", k, from)
		}
	}
	return nil
}

// LogValue redacts the tokens.
func (s *Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("sub", s.Subject), slog.String("email", s.Email),
		slog.Time("expires_at", s.ExpiresAt))
}

// Sessions stores sessions in a store.Store.
//
// Load reads the store on every call (so a sign-out on another replica is
// seen at once) but keeps the decoded form of recently seen values: when the
// bytes read equal the bytes decoded before, the JSON is not decoded again.
type Sessions struct {
	st store.Store
	// keys seal and open tokens; SetKeys replaces them (rotation).
	keys atomic.Pointer[Keyring]
	Now  func() time.Time

	mu      sync.Mutex
	decoded map[string]decodedSession
}

type decodedSession struct {
	raw  []byte
	sess Session
}

// maxDecoded bounds the decode cache; when full it starts over.
const maxDecoded = 10000

// NewSessions returns a session registry over st whose tokens are sealed
// with a key that lives only as long as this process (EphemeralKeyring):
// right for the in-memory store. A shared store needs NewSessionsWithKeys.
func NewSessions(st store.Store) *Sessions {
	return NewSessionsWithKeys(st, EphemeralKeyring())
}

// NewSessionsWithKeys returns a session registry over st whose refresh and
// ID tokens are sealed with keys.
func NewSessionsWithKeys(st store.Store, keys *Keyring) *Sessions {
	s := &Sessions{st: st, Now: time.Now, decoded: map[string]decodedSession{}}
	s.keys.Store(keys)
	return s
}

// RefreshToken opens the session's sealed refresh token ("" when it has
// none). An error (ErrUnsealable) means the token exists but cannot be
// opened: its key was rotated out, or the stored value was altered.
func (s *Sessions) RefreshToken(id string, sess *Session) (string, error) {
	if sess.RefreshToken != "" || sess.SealedRefresh == "" {
		return sess.RefreshToken, nil
	}
	return s.keys.Load().open(sess.SealedRefresh, SessionKey(id)+"|rt")
}

// IDToken opens the session's sealed ID token ("" when it has none), as
// RefreshToken does.
func (s *Sessions) IDToken(id string, sess *Session) (string, error) {
	if sess.IDToken != "" || sess.SealedID == "" {
		return sess.IDToken, nil
	}
	return s.keys.Load().open(sess.SealedID, SessionKey(id)+"|idt")
}

// Store returns the underlying store.
func (s *Sessions) Store() store.Store { return s.st }

// sessionKeyPrefix prefixes the store keys of sessions.
const sessionKeyPrefix = "session:"

// SessionKeyPrefix begins every SessionKey.
const SessionKeyPrefix = sessionKeyPrefix

// SessionKey is the store key of the session whose cookie value is id:
// "session:" and the base64url SHA-256 of id. It runs on every request, so
// it hashes id in place and builds the key in one allocation.
func SessionKey(id string) string {
	// sha256.Sum256 only reads its argument: hashing the string's bytes
	// without copying them is safe.
	h := sha256.Sum256(unsafe.Slice(unsafe.StringData(id), len(id)))
	var buf [len(sessionKeyPrefix) + 43]byte // 43 = base64 (no padding) of 32 bytes
	copy(buf[:], sessionKeyPrefix)
	base64.RawURLEncoding.Encode(buf[len(sessionKeyPrefix):], h[:])
	return string(buf[:])
}

// NewID returns a random 256-bit identifier, base64url without padding.
func NewID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Create stores sess under a new random ID and returns the ID (the cookie value).
func (s *Sessions) Create(ctx context.Context, sess *Session) (string, error) {
	id := NewID()
	if sess.CSRF == "" {
		sess.CSRF = NewID()
	}
	b, ttl, err := s.encode(id, sess)
	if err != nil {
		return "", err
	}
	// SetNX: a new session never replaces a value, whatever happens.
	ok, err := s.st.SetNX(ctx, SessionKey(id), b, ttl)
	if err != nil {
		return "", fmt.Errorf("auth: save session: %w", err)
	}
	if !ok {
		return "", errors.New("auth: save session: expected a new session ID, found one in use")
	}
	return id, nil
}

// Save writes sess back under id until its ExpiresAt, only if the session is
// still in the store (store.SetXX); when it is not (signed out, ended by
// another replica, expired) it writes nothing and returns ErrNoSession.
//
// Every write of an existing session goes through Save, because every one
// follows a read, and often a slow step between (a refresh asks the
// identity provider and UserInfo): a sign-out that lands in between must
// stay a sign-out, not be undone by the write.
func (s *Sessions) Save(ctx context.Context, id string, sess *Session) error {
	b, ttl, err := s.encode(id, sess)
	if err != nil {
		return err
	}
	ok, err := s.st.SetXX(ctx, SessionKey(id), b, ttl)
	if err != nil {
		return fmt.Errorf("auth: save session: %w", err)
	}
	if !ok {
		return ErrNoSession
	}
	return nil
}

// encode seals sess's tokens for id and returns the stored form and its TTL
// (until sess.ExpiresAt).
func (s *Sessions) encode(id string, sess *Session) ([]byte, time.Duration, error) {
	ttl := sess.ExpiresAt.Sub(s.Now())
	if ttl <= 0 {
		return nil, 0, fmt.Errorf("auth: session already expired at %s", sess.ExpiresAt.Format(time.RFC3339))
	}
	// Seal the tokens bound to this session and to their role, so that a
	// value copied within the store to another session or field does not open.
	if sess.RefreshToken != "" {
		sess.SealedRefresh = s.keys.Load().seal(sess.RefreshToken, SessionKey(id)+"|rt")
	}
	if sess.IDToken != "" {
		sess.SealedID = s.keys.Load().seal(sess.IDToken, SessionKey(id)+"|idt")
	}
	b, err := json.Marshal(sess)
	if err != nil {
		return nil, 0, fmt.Errorf("auth: encode session: %w", err)
	}
	return b, ttl, nil
}

// Load returns the live session for id, ErrNoSession, or a store error
// (which callers must treat as "cannot decide").
func (s *Sessions) Load(ctx context.Context, id string) (*Session, error) {
	if !validID(id) {
		return nil, ErrNoSession
	}
	key := SessionKey(id)
	if v, ok := s.st.(store.Viewer); ok {
		// The memory store lends the value: compared with the decode
		// cache's copy, it is mostly not copied at all.
		var sess *Session
		err := v.View(ctx, key, func(b []byte) error {
			var err error
			sess, err = s.decode(key, b, true)
			return err
		})
		return sess, loadErr(err)
	}
	b, err := s.st.Get(ctx, key)
	if err != nil {
		return nil, loadErr(err)
	}
	return s.decode(key, b, false)
}

func loadErr(err error) error {
	switch {
	case err == nil, errors.Is(err, ErrNoSession):
		return err
	case errors.Is(err, store.ErrNotFound):
		return ErrNoSession
	case errors.Is(err, errDecode):
		return err
	}
	return fmt.Errorf("auth: load session: %w", err)
}

var errDecode = errors.New("auth: decode session")

// Decode is Load for a value the caller read from the store itself, under
// SessionKey(id) — typically with store.MGet, in the same round trip as other
// evidence of the request. A nil b (the key was absent) is ErrNoSession. The
// decoded form of recently seen values is kept, as Load keeps it.
func (s *Sessions) Decode(id string, b []byte) (*Session, error) {
	if !validID(id) || b == nil {
		return nil, ErrNoSession
	}
	return s.decode(SessionKey(id), b, false)
}

// decode returns the live session stored as b under key, from the decode
// cache when b equals the bytes decoded before. borrowed says b is lent by
// the store (store.Viewer): it is copied before the cache keeps it.
func (s *Sessions) decode(key string, b []byte, borrowed bool) (*Session, error) {
	s.mu.Lock()
	d, hit := s.decoded[key]
	s.mu.Unlock()
	var sess Session
	if hit && bytes.Equal(d.raw, b) {
		sess = d.sess // a copy; its slices and maps are never modified
	} else {
		if err := json.Unmarshal(b, &sess); err != nil {
			return nil, fmt.Errorf("%w: %w", errDecode, err)
		}
		if borrowed {
			b = bytes.Clone(b)
		}
		s.mu.Lock()
		if len(s.decoded) >= maxDecoded {
			clear(s.decoded)
		}
		s.decoded[key] = decodedSession{raw: b, sess: sess}
		s.mu.Unlock()
	}
	if !s.Now().Before(sess.ExpiresAt) {
		return nil, ErrNoSession
	}
	return &sess, nil
}

// validID reports whether id can be a session cookie's value at all.
func validID(id string) bool { return id != "" && len(id) <= 128 }

// Delete ends the session for every replica.
func (s *Sessions) Delete(ctx context.Context, id string) error {
	key := SessionKey(id)
	s.mu.Lock()
	delete(s.decoded, key)
	s.mu.Unlock()
	if err := s.st.Delete(ctx, key); err != nil {
		return fmt.Errorf("auth: delete session: %w", err)
	}
	return nil
}

// CheckCSRF reports whether got is the session's CSRF token (constant-time).
// A session without a token, or an empty token, never matches: a form can
// only be accepted from a page the gateway rendered for this session.
func (s *Session) CheckCSRF(got string) bool {
	return s != nil && s.CSRF != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
}
