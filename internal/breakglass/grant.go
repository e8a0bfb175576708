package breakglass

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"slices"
	"time"
)

// User is the signed-in user asking for, or holding, a grant.
type User struct {
	// Email is the user's address; Request parses it strictly
	// (policy.ParseEmail) and grants hold the canonical form.
	Email string
	// Groups are the user's groups from the identity provider.
	Groups []string
	// Session is what a grant is bound to: the session ID for a browser
	// (so that sign-out ends the grant), or another stable, secret value
	// the caller chooses for bearer-token clients. It is hashed before it
	// reaches the store and never appears in a Grant, a log or a
	// notification. Empty means "no grant".
	Session string
}

// LogValue shows the address and groups only.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("email", u.Email), slog.Any("groups", u.Groups))
}

// GrantRequest is what the user asks for on the break-glass page.
type GrantRequest struct {
	// Policy names the break-glass policy of the route; "" is the default
	// policy.
	Policy string
	// Route is the name of the route the grant is for; a grant is valid
	// on this route only.
	Route string
	// IncidentID is the page/incident the user names.
	IncidentID string
	// Reason is the user's explanation (1 to 500 characters).
	Reason string
	// Duration is how long the grant should last: 0 means the policy's
	// max_duration; otherwise at least 1m and at most max_duration.
	Duration time.Duration
}

// Grant is time-limited access to one route under one policy, for one user
// and session. It holds no secret: it goes into the audit log, the context
// token's break_glass claim and the notifications as it is.
type Grant struct {
	ID     string `json:"id"`
	User   string `json:"user"`
	Policy string `json:"policy"`
	Route  string `json:"route"`
	// Lifts are the requirement kinds this grant lifts (time_window,
	// justification, device).
	Lifts     []string  `json:"lifts"`
	Incident  Incident  `json:"incident"`
	Reason    string    `json:"reason"`
	GrantedAt time.Time `json:"granted_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Supersedes is the ID of the grant of the same session and route that
	// this one replaces, "" for none: a grant that no longer stood in for
	// the route (a reload changed its policy). Activate ends it
	// (CauseSuperseded).
	Supersedes string `json:"supersedes,omitempty"`

	// holder is the hash of the session the grant is bound to; set by
	// Request, carried to Activate, never serialized with the grant.
	holder string
	// slot is the daily-limit key the grant took (Request), given back
	// when Activate finds another grant in force.
	slot string
}

// LogValue shows the grant without its free-text reason.
func (g Grant) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", g.ID), slog.String("user", g.User), slog.String("policy", g.Policy),
		slog.String("route", g.Route), slog.String("incident", g.Incident.ID),
		slog.Time("expires_at", g.ExpiresAt),
	)
}

// LiftsKind reports whether the grant lifts the requirement kind.
func (g *Grant) LiftsKind(kind string) bool { return g != nil && slices.Contains(g.Lifts, kind) }

// MaxClockSkew is how far before its GrantedAt a grant is already honoured:
// replicas' clocks differ a little, and a grant made on one replica must
// hold on the next request served by another.
const MaxClockSkew = time.Minute

// Check is the pure test of a grant against a request: the grant must
// exist, be for this route, and hold at now. It returns whether it holds
// and, if so, the instant it stops holding (its expiry: an exclusive end,
// so at ExpiresAt it no longer holds). It does no I/O: whether the grant was
// revoked or its incident resolved is known to the caller through Active
// and Recheck.
//
// Check does NOT check the user or the session: Active only returns the
// grants of the session that asks.
func Check(g *Grant, route string, now time.Time) (ok bool, until time.Time) {
	if g == nil || g.Route == "" || g.Route != route || g.ExpiresAt.IsZero() {
		return false, time.Time{}
	}
	if now.Before(g.GrantedAt.Add(-MaxClockSkew)) || !now.Before(g.ExpiresAt) {
		return false, time.Time{}
	}
	return true, g.ExpiresAt
}

// record is what the store holds for a grant: the grant and the hash of
// its session.
type record struct {
	Grant  Grant  `json:"grant"`
	Holder string `json:"holder"`
}

// Store keys. User addresses, sessions and routes are hashed into keys so
// that keys are short, free of separators, and reveal nothing.
const (
	keyActive   = "breakglass:active:"   // + hash(holder, route)      -> record (TTL: until expiry)
	keyGrant    = "breakglass:grant:"    // + id                       -> record (TTL: retention)
	keyEnded    = "breakglass:ended:"    // + id                       -> End
	keyReviewed = "breakglass:reviewed:" // + id                       -> Review
	keyRecheck  = "breakglass:recheck:"  // + id                       -> "" (TTL: recheck interval)
	keyLimit    = "breakglass:limit:"    // + policy:hash(user):day:n  -> grant id
	keyIndex    = "breakglass:index:"    // + day:n                    -> grant id
	keyEndedFor = "breakglass:endedfor:" // + hash(holder, route)      -> endedFor (TTL: until expiry)
)

func hashHex(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// holderHash is what a session becomes before it reaches the store.
func holderHash(session string) string { return hashHex("breakglass-holder", session) }

func activeKey(holder, route string) string { return keyActive + hashHex(holder, route) }
