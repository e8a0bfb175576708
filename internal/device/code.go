package device

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/accessgateway/gateway/internal/store"
)

// Code purposes for NewCode.
const (
	PurposeEnroll = "enroll" // `gateway-agent enroll CODE`
	PurposeVerify = "verify" // `gateway-agent verify CODE`
)

// codeAlphabet is Crockford's base32: no I, L, O, U, so codes read aloud and
// typed by hand survive. 10 characters carry 50 bits.
const (
	codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	codeLen      = 10
)

// NewCode returns the session's one-time code for the device page of a
// signed-in user: IssueCode without a tool name.
func (s *Service) NewCode(ctx context.Context, purpose, sessionID, email string) (string, time.Time, error) {
	return s.IssueCode(ctx, CodeRequest{Purpose: purpose, SessionID: sessionID, Email: email})
}

// CodeRequest describes the one-time code a device page asks for.
type CodeRequest struct {
	// Purpose is PurposeEnroll or PurposeVerify.
	Purpose string
	// SessionID is the browser session the code binds (stored only hashed).
	SessionID string
	// Email is the signed-in user of that session. The agent shows it
	// before it enrolls or binds, and enrollment records it as the device's
	// owner when the inventory names none.
	Email string
	// Tool names what the page was shown for (the route's name), so the
	// agent can say which tool the binding is for. Empty for the standalone
	// device page. At most MaxToolName bytes of printable text.
	Tool string
}

// MaxToolName bounds CodeRequest.Tool.
const MaxToolName = 200

// IssueCode returns the browser session's one-time code for req.Purpose:
// "XXXXX-XXXXX", 50 random bits, single use, valid for code_ttl, kept in the
// store (hashed) with the session, the user's email and the tool name. The
// page shows it with the agent command (AgentCommand) and polls CodeStatus.
//
// A session holds at most one code of each purpose, on every replica:
// IssueCode returns the code it holds while that code is unused, has at
// least half of code_ttl left and was issued for the same user and tool (a
// reloaded page shows the same code); otherwise it issues a new one that
// replaces it, and the replaced code stops working (it reads as expired).
// Concurrent calls for one session agree on one code.
func (s *Service) IssueCode(ctx context.Context, req CodeRequest) (string, time.Time, error) {
	if req.Purpose != PurposeEnroll && req.Purpose != PurposeVerify {
		return "", time.Time{}, fmt.Errorf("device: expected code purpose %q or %q, got %q", PurposeEnroll, PurposeVerify, req.Purpose)
	}
	if req.SessionID == "" || req.Email == "" {
		return "", time.Time{}, errors.New("device: a code needs a session and the signed-in user's email")
	}
	if len(req.Tool) > MaxToolName || strings.IndexFunc(req.Tool, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "", time.Time{}, fmt.Errorf("device: expected a tool name of at most %d printable bytes, got %q", MaxToolName, req.Tool)
	}
	sessionHash := hashKey(req.SessionID)
	current := keySessionCode + req.Purpose + ":" + sessionHash
	for range recordAttempts {
		seed, err := s.st.Get(ctx, current)
		switch {
		case errors.Is(err, store.ErrNotFound):
			seed = nil
		case err != nil:
			return "", time.Time{}, fmt.Errorf("device: read the session's code: %w", err)
		default:
			code := sessionCode(req.SessionID, req.Purpose, seed)
			if exp, ok, err := s.reusableCode(ctx, code, req, sessionHash); err != nil {
				return "", time.Time{}, err
			} else if ok {
				return code, exp, nil
			}
		}
		next := randomBytes(32)
		code := sessionCode(req.SessionID, req.Purpose, next)
		exp, err := s.storeCode(ctx, code, req, sessionHash)
		if err != nil {
			return "", time.Time{}, err
		}
		installed, err := s.replaceSessionCode(ctx, req, current, seed, next)
		if err != nil || !installed {
			s.dropCode(ctx, code)
		}
		if err != nil {
			return "", time.Time{}, err
		}
		if installed {
			return code, exp, nil
		}
		// Another page load of this session installed its code first.
	}
	return "", time.Time{}, fmt.Errorf("device: the session's %s code changed %d times while one was issued", req.Purpose, recordAttempts)
}

// sessionCode derives a session's code from the seed kept in the store
// under keySessionCode: HMAC-SHA256 keyed by the session ID, so that the
// store (which holds the seed and the code's hash, never the session ID)
// cannot give the code back, while the session's next page load can.
func sessionCode(sessionID, purpose string, seed []byte) string {
	mac := hmac.New(sha256.New, []byte(sessionID))
	mac.Write([]byte("accessgateway/device/code/v1\x00"))
	mac.Write([]byte(purpose))
	mac.Write([]byte{0})
	mac.Write(seed)
	raw := mac.Sum(nil)[:codeLen]
	var b strings.Builder
	for i, x := range raw {
		if i == codeLen/2 {
			b.WriteByte('-')
		}
		b.WriteByte(codeAlphabet[x&31])
	}
	return b.String()
}

// reusableCode reports whether code, the session's current code, may be
// shown again for req: unused, for the same user and tool, and with at least
// half of code_ttl left. It returns the code's expiry.
func (s *Service) reusableCode(ctx context.Context, code string, req CodeRequest, sessionHash string) (time.Time, bool, error) {
	var rec codeRecord
	if err := s.getJSON(ctx, keyCode+hashKey(normalizeCode(code)), &rec); errors.Is(err, store.ErrNotFound) {
		return time.Time{}, false, nil // used or expired
	} else if err != nil {
		return time.Time{}, false, fmt.Errorf("device: read code: %w", err)
	}
	ok := rec.Purpose == req.Purpose && rec.SessionHash == sessionHash && rec.Email == req.Email && rec.Tool == req.Tool &&
		rec.ExpiresAt.Sub(s.now()) >= s.cfg.CodeTTL/2
	return rec.ExpiresAt, ok, nil
}

// storeCode stores a new code and its pending state.
func (s *Service) storeCode(ctx context.Context, code string, req CodeRequest, sessionHash string) (time.Time, error) {
	exp := s.now().Add(s.cfg.CodeTTL)
	h := hashKey(normalizeCode(code))
	rec := codeRecord{Purpose: req.Purpose, SessionHash: sessionHash, Email: req.Email, Tool: req.Tool, ExpiresAt: exp}
	ok, err := s.setNXJSON(ctx, keyCode+h, rec, s.cfg.CodeTTL)
	if err != nil {
		return time.Time{}, fmt.Errorf("device: store code: %w", err)
	}
	if !ok {
		return time.Time{}, errors.New("device: code collision, try again")
	}
	if err := s.setCodeState(ctx, h, CodeState{State: CodePending, sessionHash: sessionHash}); err != nil {
		_ = s.st.Delete(ctx, keyCode+h)
		return time.Time{}, err
	}
	return exp, nil
}

// replaceSessionCode makes next the seed of the session's current code in
// place of seed (nil: none), atomically: only if the store still holds seed.
// The code it replaces stops working (retireCode). It reports false when
// another page load of the session changed the current code first.
func (s *Service) replaceSessionCode(ctx context.Context, req CodeRequest, key string, seed, next []byte) (bool, error) {
	if seed != nil {
		removed, err := s.st.CompareAndDelete(ctx, key, seed)
		if err != nil {
			return false, fmt.Errorf("device: replace the session's code: %w", err)
		}
		if !removed {
			return false, nil
		}
		if err := s.retireCode(ctx, sessionCode(req.SessionID, req.Purpose, seed)); err != nil {
			return false, err
		}
	}
	ok, err := s.st.SetNX(ctx, key, next, s.cfg.CodeTTL)
	if err != nil {
		return false, fmt.Errorf("device: store the session's code: %w", err)
	}
	return ok, nil
}

// retireCode ends a replaced code: unless the agent used it already (then
// its state keeps the result for the page that showed it), it stops working
// and reads as expired.
func (s *Service) retireCode(ctx context.Context, code string) error {
	h := hashKey(normalizeCode(code))
	if _, err := s.st.Take(ctx, keyCode+h); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("device: retire the session's previous code: %w", err)
	}
	if err := s.st.Delete(ctx, keyCodeState+h); err != nil {
		return fmt.Errorf("device: retire the session's previous code: %w", err)
	}
	return nil
}

// dropCode removes a code that was stored but not installed as the
// session's code (best effort: it expires anyway).
func (s *Service) dropCode(ctx context.Context, code string) {
	h := hashKey(normalizeCode(code))
	_ = s.st.Delete(ctx, keyCode+h, keyCodeState+h)
}

func (s *Service) setNXJSON(ctx context.Context, key string, v any, ttl time.Duration) (bool, error) {
	b, err := marshalJSON(v)
	if err != nil {
		return false, err
	}
	return s.st.SetNX(ctx, key, b, ttl)
}

// AgentCommand is the command the device page shows next to a code, e.g.
// "gateway-agent --gateway https://gw.example.com verify ABCDE-FGHJK".
func AgentCommand(gatewayURL, purpose, code string) string {
	return fmt.Sprintf("gateway-agent --gateway %s %s %s", gatewayURL, purpose, code)
}

// normalizeCode maps what a user typed to the canonical 10 characters:
// case-insensitive, '-' and spaces ignored, O read as 0 and I, L as 1. It
// returns "" for anything that cannot be a code.
func normalizeCode(in string) string {
	if len(in) > 32 {
		return ""
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(in) {
		switch r {
		case '-', ' ':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if !strings.ContainsRune(codeAlphabet, r) {
			return ""
		}
		b.WriteRune(r)
	}
	if b.Len() != codeLen {
		return ""
	}
	return b.String()
}

// Code states reported by CodeStatus.
const (
	CodePending = "pending" // not used yet
	CodeDone    = "done"    // the agent enrolled or verified the device
	CodeFailed  = "failed"  // the agent tried and was denied; see Reason
	CodeExpired = "expired" // unknown, expired, or not this session's code
)

// CodeState is what the device page shows while it polls.
type CodeState struct {
	State    string `json:"state"`
	DeviceID string `json:"device_id,omitempty"`
	Reason   Reason `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`

	sessionHash string
}

type codeStateRecord struct {
	CodeState
	SessionHash string `json:"session"`
}

func (s *Service) setCodeState(ctx context.Context, codeHash string, st CodeState) error {
	rec := codeStateRecord{CodeState: st, SessionHash: st.sessionHash}
	if err := s.setJSON(ctx, keyCodeState+codeHash, rec, s.cfg.CodeTTL+s.cfg.NonceTTL+time.Minute); err != nil {
		return fmt.Errorf("device: store code state: %w", err)
	}
	return nil
}

// CodeStatus tells the device page (polling) what became of a code it showed
// to the session: pending, done (with the device), failed (with the reason)
// or expired. A code of another session reads as expired.
func (s *Service) CodeStatus(ctx context.Context, sessionID, code string) (CodeState, error) {
	n := normalizeCode(code)
	if n == "" || sessionID == "" {
		return CodeState{State: CodeExpired}, nil
	}
	var rec codeStateRecord
	if err := s.getJSON(ctx, keyCodeState+hashKey(n), &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return CodeState{State: CodeExpired}, nil
		}
		return CodeState{}, fmt.Errorf("device: read code state: %w", err)
	}
	if rec.SessionHash != hashKey(sessionID) {
		return CodeState{State: CodeExpired}, nil
	}
	return rec.CodeState, nil
}

// takeCode consumes a code: it is single use even when what follows fails.
func (s *Service) takeCode(ctx context.Context, code, purpose string) (codeRecord, string, error) {
	n := normalizeCode(code)
	h := hashKey(n)
	var rec codeRecord
	if err := s.takeJSON(ctx, keyCode+h, &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return rec, h, newError(ReasonNotVerified, "the code is unknown, already used or expired: get a new one from the device page", nil)
		}
		return rec, h, fmt.Errorf("device: read code: %w", err)
	}
	if rec.Purpose != purpose {
		return rec, h, newError(ReasonNotVerified, fmt.Sprintf("this is a %s code, expected a %s code", rec.Purpose, purpose), nil)
	}
	if !s.now().Before(rec.ExpiresAt) {
		return rec, h, newError(ReasonNotVerified, "the code expired: get a new one from the device page", nil)
	}
	return rec, h, nil
}
