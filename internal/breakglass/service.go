package breakglass

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/accessgateway/gateway/internal/store"
)

// Options are the service's dependencies.
type Options struct {
	// Store holds grants, limits and the review index; shared by all
	// replicas (Redis) or one process (memory). Required.
	Store store.Store
	// HTTPClient talks to the providers and notification targets; nil
	// means a client with the default transport. Redirects are never
	// followed (a secret header must not travel to another host).
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// OnNotifyFailure is called for every failed notification attempt
	// (wire it to the audit log). It runs on the notifier's goroutines.
	OnNotifyFailure func(NotifyFailure)
	// Providers replace the configured provider of the same name (tests, or
	// a provider this package does not know).
	Providers map[string]Provider
	// After is the backoff timer of notification retries; nil means
	// time.After. Tests pass one that fires at once.
	After func(time.Duration) <-chan time.Time
	// DrainTimeout is how long Close lets queued notifications go out
	// (default 10s).
	DrainTimeout time.Duration
}

// Service is the break-glass library: requests, grants, limits, rechecks,
// review and notifications. It is safe for concurrent use; everything
// replicas must share lives in the store.
type Service struct {
	cfg          Config
	st           store.Store
	now          func() time.Time
	log          *slog.Logger
	providers    map[string]Provider
	limitLoc     *time.Location
	notifier     *notifier
	drainTimeout time.Duration

	mu       sync.Mutex
	rechecks map[string]checkMemo // grant ID -> last recheck on this replica

	decodedMu sync.Mutex
	decoded   map[string]decodedGrant // active key -> the last record decoded
}

// decodedGrant saves Active the JSON decoding of a record it has seen: the
// store's bytes are compared with the ones decoded last time.
type decodedGrant struct {
	raw []byte
	g   Grant
}

// maxDecoded bounds Service.decoded.
const maxDecoded = 4096

type checkMemo struct {
	at      time.Time
	err     error
	expires time.Time
}

// Values of a recheck marker: a replica is asking the provider, or the
// provider answered that the incident is active ("active:" and the instant
// of the ask, Unix nanoseconds).
const (
	markerAsking   = "asking"
	markerAnswered = "active:"
)

// answeredAt reads the instant of the ask from an answered marker; nil for
// any other value.
func answeredAt(v []byte) *time.Time {
	rest, ok := strings.CutPrefix(string(v), markerAnswered)
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return nil
	}
	t := time.Unix(0, n)
	return &t
}

// recheckErrorWait is how long a failed recheck is remembered on one
// replica: requests during a provider outage are denied without asking the
// provider each time.
const recheckErrorWait = 5 * time.Second

// Errors callers branch on.
var (
	ErrGrantNotFound    = errors.New("breakglass: grant not found")
	ErrAlreadyActivated = errors.New("breakglass: grant already activated")
	ErrAlreadyReviewed  = errors.New("breakglass: grant already reviewed")
	ErrSelfReview       = errors.New("breakglass: a grant cannot be reviewed by its holder")
	ErrStillActive      = errors.New("breakglass: grant still active")
	ErrEnded            = errors.New("breakglass: grant ended")
	// ErrNotHolder: the session that asks to end a grant (EndByHolder) is
	// not the one the grant is bound to.
	ErrNotHolder = errors.New("breakglass: grant not held by this session")
)

// End causes.
const (
	CauseRevoked          = "revoked"
	CauseIncidentResolved = "incident-resolved"
	CausePolicyRemoved    = "policy-removed"
	// CauseSuperseded: a new grant of the same session and route replaced
	// one that no longer stood in for the route (a reload changed the
	// route's policy, widened its lifts or shortened its max_duration).
	CauseSuperseded = "superseded"
	// CauseNotActivated: the grant was never usable: when it was to be
	// stored, another grant of the same session and route was in force
	// (two requests at once, such as a form sent twice).
	CauseNotActivated = "not-activated"
	// CauseEndedByHolder: the holder ended the grant before its expiry
	// (EndByHolder), from the session it is bound to.
	CauseEndedByHolder = "ended-by-holder"
)

// EndedError is EndByHolder's answer for a grant that had ended already:
// how (an End's cause, or "expired") and when. It matches ErrEnded with
// errors.Is.
type EndedError struct {
	ID    string
	Cause string
	At    time.Time
}

func (e *EndedError) Error() string {
	return fmt.Sprintf("breakglass: grant %s ended already (%s at %s): expected a grant in force", e.ID, e.Cause, e.At.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrEnded) true.
func (e *EndedError) Is(target error) bool { return target == ErrEnded }

// End records why and when a grant ended before its expiry.
type End struct {
	At    time.Time `json:"at"`
	By    string    `json:"by,omitempty"`
	Cause string    `json:"cause"`
}

// New builds the service: it applies defaults, checks the configuration
// (every problem is reported), builds the providers (static rotas are read
// here) and starts one notification worker per target. Close stops them.
func New(cfg Config, opts Options) (*Service, error) {
	cfg = cfg.WithDefaults()
	if probs := cfg.Problems(); len(probs) > 0 {
		return nil, fmt.Errorf("breakglass: invalid config:\n  %s", strings.Join(probs, "\n  "))
	}
	if opts.Store == nil {
		return nil, errors.New("breakglass: a store is required")
	}
	s := &Service{
		cfg: cfg, st: opts.Store, now: opts.Now, log: opts.Logger, drainTimeout: opts.DrainTimeout,
		providers: map[string]Provider{}, rechecks: map[string]checkMemo{},
		decoded: map[string]decodedGrant{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.drainTimeout <= 0 {
		s.drainTimeout = 10 * time.Second
	}
	client := noRedirects(opts.HTTPClient)
	for _, name := range sortedKeys(cfg.Providers) {
		if p, ok := opts.Providers[name]; ok && p != nil {
			s.providers[name] = p
			continue
		}
		p, err := buildProvider(name, cfg.Providers[name], client, s.now)
		if err != nil {
			return nil, err
		}
		s.providers[name] = p
	}
	var err error
	if s.limitLoc, err = time.LoadLocation(cfg.LimitTimeZone); err != nil {
		return nil, fmt.Errorf("breakglass: limit_time_zone: %w", err)
	}
	s.notifier = newNotifier(cfg, client, opts, s.now, s.log)
	return s, nil
}

func buildProvider(name string, pc ProviderConfig, client *http.Client, now func() time.Time) (Provider, error) {
	switch pc.Type {
	case TypePagerDuty:
		return NewPagerDuty(name, pc, client, now)
	case TypeOpsgenie:
		return NewOpsgenie(name, pc, client, now)
	case TypeStatic:
		r := pc.Rota
		if r == nil {
			loaded, err := LoadRota(pc.RotaFile)
			if err != nil {
				return nil, fmt.Errorf("breakglass: provider %s: %w", name, err)
			}
			r = &loaded
		}
		return NewStatic(name, *r)
	}
	return nil, fmt.Errorf("breakglass: provider %s: unknown type %q", name, pc.Type)
}

// noRedirects returns a copy of c (or a default client) that never follows
// redirects.
func noRedirects(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}

// Close stops the notification workers after letting queued notifications
// go out for up to Options.DrainTimeout; the rest are reported as final
// failures. The store is not closed (it is not the service's).
func (s *Service) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.drainTimeout)
	defer cancel()
	s.notifier.close(ctx)
	return nil
}

// Policy returns the named policy with defaults applied ("" is the default
// policy), and whether it exists.
func (s *Service) Policy(name string) (Policy, bool) {
	if name == "" {
		name = s.cfg.DefaultPolicy
	}
	p, ok := s.cfg.Policies[name]
	return p, ok && name != ""
}

// DefaultPolicy is the name of the default policy, "" when there is none.
func (s *Service) DefaultPolicy() string { return s.cfg.DefaultPolicy }

// MayBreakGlass reports whether the user is in one of the policy's groups:
// whether a denial page should offer break-glass. It does no I/O; Request
// checks the rest.
func (s *Service) MayBreakGlass(u User, policy string) bool {
	p, ok := s.Policy(policy)
	return ok && intersects(u.Groups, p.Groups)
}

// MayReview reports whether the user is in one of the reviewers groups.
func (s *Service) MayReview(u User) bool { return intersects(u.Groups, s.cfg.Reviewers) }

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// Request checks a break-glass request and returns the grant it would make:
// the user is in the policy's groups, the session holds no grant for the
// route that is in force (ReasonAlreadyGranted; one that no longer stands
// in for the route is named in Supersedes), the user is on call now, the
// incident is active, and the daily limit leaves room (a slot is taken: a
// later failure to audit or activate still counts against the day, except
// when Activate finds another grant in force). A refused request takes no
// slot.
//
// A refusal is a *Refusal with its reason (ReasonOf maps any error to one).
// Any other error means the store could not answer; deny.
//
// The grant is NOT stored: the caller writes the audit record first, then
// calls Activate — if the record cannot be written there is no grant.
func (s *Service) Request(ctx context.Context, u User, req GrantRequest) (Grant, error) {
	now := s.now()
	name := req.Policy
	if name == "" {
		name = s.cfg.DefaultPolicy
	}
	pol, ok := s.cfg.Policies[name]
	if !ok || name == "" {
		return Grant{}, refuse(ReasonInvalidRequest, fmt.Sprintf("policy: expected a configured break-glass policy, got %q", req.Policy))
	}
	email, err := normalizeEmail(u.Email)
	if err != nil {
		return Grant{}, refuse(ReasonInvalidRequest, fmt.Sprintf("email: expected an email address, got %q", u.Email))
	}
	if u.Session == "" {
		return Grant{}, refuse(ReasonInvalidRequest, "session: expected the session the grant is bound to, got none")
	}
	if msg := checkRoute(req.Route); msg != "" {
		return Grant{}, refuse(ReasonInvalidRequest, msg)
	}
	incidentID := strings.TrimSpace(req.IncidentID)
	if !incidentIDRE.MatchString(incidentID) {
		return Grant{}, refuse(ReasonInvalidRequest, fmt.Sprintf("incident: expected an incident ID of 1 to 128 letters, digits, '.', '_', ':' and '-', got %q", truncate(req.IncidentID, 140)))
	}
	reason := strings.TrimSpace(req.Reason)
	if msg := checkReason(reason); msg != "" {
		return Grant{}, refuse(ReasonInvalidRequest, msg)
	}
	dur := req.Duration
	switch {
	case dur == 0:
		dur = pol.MaxDuration
	case dur < time.Minute || dur > pol.MaxDuration:
		return Grant{}, refuse(ReasonInvalidRequest, fmt.Sprintf("duration: expected 1m to %s, got %s", pol.MaxDuration, dur))
	}
	if !intersects(u.Groups, pol.Groups) {
		return Grant{}, refuse(ReasonNotAllowed, fmt.Sprintf("expected membership in one of %q", pol.Groups))
	}
	// One grant per session and route at a time: a second one would take
	// another of the day's grants and hide the first from revocation. One
	// that no longer stands in for the route (a reload changed its policy)
	// is superseded by the new grant, explicitly (Activate ends it).
	holder := holderHash(u.Session)
	var supersedes string
	if cur, _, err := s.held(ctx, holder, req.Route); err != nil {
		return Grant{}, fmt.Errorf("breakglass: held grant: %w", err)
	} else if cur != nil {
		if s.stands(cur.Grant, name, email, now) {
			return Grant{}, alreadyGranted(cur.Grant)
		}
		supersedes = cur.Grant.ID
	}
	prov := s.providers[pol.Provider]
	onCall, err := prov.OnCall(ctx, email, now)
	if err != nil {
		return Grant{}, s.providerRefusal("on-call check", pol.Provider, err)
	}
	if !onCall {
		return Grant{}, refuse(ReasonNotOnCall, fmt.Sprintf("%s says %s is not on call now", pol.Provider, email))
	}
	inc, err := prov.Incident(ctx, incidentID)
	switch {
	case isNotFound(err):
		return Grant{}, &Refusal{Reason: ReasonIncidentNotFound, Detail: fmt.Sprintf("%s has no incident %q", pol.Provider, incidentID), Err: err}
	case err != nil:
		return Grant{}, s.providerRefusal("incident check", pol.Provider, err)
	case !inc.Active:
		return Grant{}, refuse(ReasonIncidentInactive, fmt.Sprintf("incident %s is %s", incidentID, inc.Status))
	}
	id := newID()
	slot, err := s.takeSlot(ctx, name, pol.DailyLimit, email, now, id)
	if err != nil {
		return Grant{}, fmt.Errorf("breakglass: daily limit: %w", err)
	}
	if slot == "" {
		return Grant{}, refuse(ReasonLimitReached, fmt.Sprintf("expected at most %d grants per day under policy %s", pol.DailyLimit, name))
	}
	return Grant{
		ID: id, User: email, Policy: name, Route: req.Route, Lifts: slices.Clone(pol.Lifts),
		Incident: inc, Reason: reason, GrantedAt: now, ExpiresAt: now.Add(dur), Supersedes: supersedes,
		holder: holder, slot: slot,
	}, nil
}

// alreadyGranted is the refusal of a request by a session that holds a
// grant for the route already.
func alreadyGranted(g Grant) *Refusal {
	return &Refusal{Reason: ReasonAlreadyGranted, Held: &g,
		Detail: fmt.Sprintf("grant %s for incident %s holds until %s; no second grant is made while it does",
			g.ID, g.Incident.ID, g.ExpiresAt.UTC().Format(time.RFC3339))}
}

// held reads the record in the active key of a session and route: the
// grant the session holds for the route, or nil. A value that is not a
// grant record is an error (fail closed).
func (s *Service) held(ctx context.Context, holder, route string) (*record, []byte, error) {
	b, err := s.st.Get(ctx, activeKey(holder, route))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, nil, fmt.Errorf("expected a stored grant: %w", err)
	}
	rec.Grant.holder = rec.Holder
	return &rec, b, nil
}

// stands reports whether g, held by the user with canonical address email,
// still lets them in under the policy named policy at now: the route's
// check (Kind's Requirement.Check) would accept it. Such a grant makes a
// second request for its route pointless; one that does not stand (its
// policy changed, its lifts no longer cover the policy's, a shortened
// max_duration ended it) may be superseded.
func (s *Service) stands(g Grant, policy, email string, now time.Time) bool {
	pol, ok := s.cfg.Policies[policy]
	if !ok || g.Policy != policy || g.User != email {
		return false
	}
	for _, l := range pol.Lifts {
		if !g.LiftsKind(l) {
			return false
		}
	}
	ok, _ = Check(&g, g.Route, now)
	return ok && now.Before(g.GrantedAt.Add(pol.MaxDuration))
}

// providerRefusal is the refusal for a provider's error in check (what
// was asked): ReasonProviderMisconfigured for a *MisconfiguredError —
// logged as an error, for the operators, since only they can fix it —
// and ReasonProviderUnavailable for anything else.
func (s *Service) providerRefusal(check, provider string, err error) *Refusal {
	detail := check + ": " + provider + ": " + providerDetail(err)
	var me *MisconfiguredError
	if errors.As(err, &me) {
		s.log.Error("break-glass provider misconfigured: every break-glass request and recheck on it is refused until the configuration is fixed",
			"provider", provider, "check", check, "status", me.Status, "error", providerDetail(err))
		return &Refusal{Reason: ReasonProviderMisconfigured, Detail: detail, Err: err}
	}
	return &Refusal{Reason: ReasonProviderUnavailable, Detail: detail, Err: err}
}

// providerDetail is what a provider's error says, for a refusal's Detail
// (the audit record): an *UnavailableError's or *MisconfiguredError's
// cause and status, which hold no secret (URLs are stripped; keys travel in
// headers).
func providerDetail(err error) string {
	var status int
	var cause error
	var ue *UnavailableError
	var me *MisconfiguredError
	switch {
	case errors.As(err, &me):
		status, cause = me.Status, me.Err
	case errors.As(err, &ue):
		status, cause = ue.Status, ue.Err
	default:
		return err.Error()
	}
	s := ""
	if status != 0 {
		s = fmt.Sprintf("HTTP %d", status)
	}
	if cause != nil {
		if s != "" {
			s += ": "
		}
		s += cause.Error()
	}
	return s
}

func checkRoute(r string) string {
	if r == "" || len(r) > 200 || !utf8.ValidString(r) || strings.IndexFunc(r, unicode.IsControl) >= 0 {
		return fmt.Sprintf("route: expected a route name of 1 to 200 bytes, got %q", truncate(r, 210))
	}
	return ""
}

// maxReason bounds the user's reason, in characters.
const maxReason = 500

func checkReason(r string) string {
	if !utf8.ValidString(r) {
		return "reason: expected UTF-8 text"
	}
	if n := utf8.RuneCountInString(r); n == 0 || n > maxReason {
		return fmt.Sprintf("reason: expected 1 to %d characters, got %d", maxReason, n)
	}
	// Control and format characters (newlines, bidi overrides, zero-width
	// characters) could disguise the reason on the review page and in
	// notifications.
	if i := strings.IndexFunc(r, func(c rune) bool { return unicode.IsControl(c) || unicode.Is(unicode.Cf, c) }); i >= 0 {
		c, _ := utf8.DecodeRuneInString(r[i:])
		return fmt.Sprintf("reason: expected text without control or format characters, got %U", c)
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// Activate stores a grant made by Request: from now until its expiry the
// session's requests to its route find it (Active), it is listed for review,
// and the notifications go out. Call it only after the audit record of the
// grant was written. Activating the same grant twice is ErrAlreadyActivated.
//
// One grant per session and route is in force at a time: g.Supersedes, if
// set, is ended first (CauseSuperseded); if another grant is in force
// when g is to be stored (a concurrent request of the same session), g is
// recorded as never activated, its daily slot is given back, and the error
// is a *Refusal with ReasonAlreadyGranted.
func (s *Service) Activate(ctx context.Context, g Grant) error {
	if g.holder == "" || g.ID == "" {
		return errors.New("breakglass: activate: expected a grant made by Request")
	}
	pol, ok := s.cfg.Policies[g.Policy]
	if !ok {
		return fmt.Errorf("breakglass: activate: policy %q is no longer configured", g.Policy)
	}
	now := s.now()
	if !now.Before(g.ExpiresAt) {
		return fmt.Errorf("breakglass: activate: grant %s expired at %s", g.ID, g.ExpiresAt.UTC().Format(time.RFC3339))
	}
	b, err := json.Marshal(record{Grant: g, Holder: g.holder})
	if err != nil {
		return fmt.Errorf("breakglass: activate: %w", err)
	}
	ok, err = s.st.SetNX(ctx, keyGrant+g.ID, b, s.retentionTTL(g, now))
	if err != nil {
		return fmt.Errorf("breakglass: activate: %w", err)
	}
	if !ok {
		return ErrAlreadyActivated
	}
	// Listed for review before it can be used: a grant that works is never
	// missing from the review list.
	if err := s.index(ctx, g, now); err != nil {
		return fmt.Errorf("breakglass: activate: review index: %w", err)
	}
	if g.Supersedes != "" {
		// The grant this one replaces ends first, explicitly (recorded,
		// announced): it no longer stood in for the route (Request).
		old, err := s.load(ctx, g.Supersedes)
		switch {
		case err == nil && old.Holder == g.holder && old.Grant.Route == g.Route:
			if _, err := s.end(ctx, old, End{At: now, Cause: CauseSuperseded}); err != nil {
				return fmt.Errorf("breakglass: activate: %w", err)
			}
		case err != nil && !errors.Is(err, ErrGrantNotFound):
			return fmt.Errorf("breakglass: activate: %w", err)
		}
	}
	akey := activeKey(g.holder, g.Route)
	if err := s.claimActive(ctx, akey, b, g, now); err != nil {
		return err
	}
	// An earlier grant's end is no longer news on the route's page.
	if err := s.st.Delete(ctx, keyEndedFor+hashHex(g.holder, g.Route)); err != nil {
		s.log.Warn("break-glass remembered end not cleared", "grant", g.ID, "error", err)
	}
	// A reviewer may have revoked the grant between its listing and now.
	// Only this grant's value is removed: a newer grant of the same session
	// and route that replaced it meanwhile stays.
	switch _, err := s.st.Get(ctx, keyEnded+g.ID); {
	case err == nil:
		_, _ = s.st.CompareAndDelete(ctx, akey, b)
		return ErrEnded
	case !errors.Is(err, store.ErrNotFound):
		_, _ = s.st.CompareAndDelete(ctx, akey, b)
		return fmt.Errorf("breakglass: activate: %w", err)
	}
	// The incident was verified just now: the next recheck is due one
	// interval later, on whichever replica serves the grant.
	if _, err := s.st.SetNX(ctx, keyRecheck+g.ID, []byte("1"), pol.RecheckInterval); err != nil {
		s.log.Warn("break-glass recheck marker not stored", "grant", g.ID, "error", err)
	}
	s.remember(g, checkMemo{at: now})
	s.notifier.send(Event{ID: newID(), Type: EventGranted, Time: now, Grant: g}, pol.Notify)
	return nil
}

// claimActive stores g's record b in the active key of its session and
// route unless another grant is in force there (set-if-absent, atomic
// across replicas): then g is never usable — its end is recorded
// (CauseNotActivated), its daily slot is given back — and the refusal is
// ReasonAlreadyGranted. A grant found there that has ended (a revocation
// between its two deletes of the key) is removed first.
func (s *Service) claimActive(ctx context.Context, akey string, b []byte, g Grant, now time.Time) error {
	for range 3 {
		ok, err := s.st.SetNX(ctx, akey, b, g.ExpiresAt.Sub(now))
		if err != nil {
			return fmt.Errorf("breakglass: activate: %w", err)
		}
		if ok {
			return nil
		}
		cur, curB, err := s.held(ctx, g.holder, g.Route)
		if err != nil {
			return fmt.Errorf("breakglass: activate: %w", err)
		}
		if cur == nil {
			continue // expired meanwhile
		}
		switch _, err := s.st.Get(ctx, keyEnded+cur.Grant.ID); {
		case err == nil:
			if _, err := s.st.CompareAndDelete(ctx, akey, curB); err != nil {
				return fmt.Errorf("breakglass: activate: %w", err)
			}
			continue
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("breakglass: activate: %w", err)
		}
		e, _ := json.Marshal(End{At: now, Cause: CauseNotActivated})
		if _, err := s.st.SetNX(ctx, keyEnded+g.ID, e, s.retentionTTL(g, now)); err != nil {
			return fmt.Errorf("breakglass: activate: %w", err)
		}
		if err := s.giveSlotBack(ctx, g); err != nil {
			s.log.Warn("break-glass daily slot not given back", "grant", g.ID, "error", err)
		}
		return alreadyGranted(cur.Grant)
	}
	return fmt.Errorf("breakglass: activate: the active grant of route %s kept changing", g.Route)
}

func (s *Service) retentionTTL(g Grant, now time.Time) time.Duration {
	return max(g.GrantedAt.Add(s.cfg.Retention).Sub(now), time.Second)
}

// Active returns the session's grant for the route, or nil. It is the
// steady-path lookup: one store Get. An error means the store could not
// answer; deny.
//
// The caller still runs Recheck (is the incident still active?) and Check
// (route, expiry) and compares the grant's Policy with the route's.
func (s *Service) Active(ctx context.Context, u User, route string) (*Grant, error) {
	if u.Session == "" || route == "" {
		return nil, nil
	}
	holder := holderHash(u.Session)
	key := activeKey(holder, route)
	b, err := s.st.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("breakglass: active grant: %w", err)
	}
	s.decodedMu.Lock()
	d, seen := s.decoded[key]
	s.decodedMu.Unlock()
	if !seen || !bytes.Equal(d.raw, b) {
		var rec record
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("breakglass: active grant: expected a stored grant: %w", err)
		}
		if rec.Holder != holder || rec.Grant.Route != route {
			return nil, nil
		}
		d = decodedGrant{raw: b, g: rec.Grant}
		d.g.holder = holder
		s.decodedMu.Lock()
		if len(s.decoded) >= maxDecoded {
			clear(s.decoded)
		}
		s.decoded[key] = d
		s.decodedMu.Unlock()
	}
	if !sameEmail(d.g.User, u.Email) {
		return nil, nil
	}
	g := d.g
	g.Lifts = slices.Clone(g.Lifts)
	return &g, nil
}

// sameEmail compares a canonical address with one as received, folding
// ASCII letters only (Unicode folding would let "\u212Aen" match "ken").
func sameEmail(canonical, got string) bool {
	if len(canonical) != len(got) {
		return false
	}
	for i := 0; i < len(got); i++ {
		c := got[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != canonical[i] {
			return false
		}
	}
	return true
}

// Revoke ends a grant now: its route stops accepting it on every replica,
// the end is recorded (Cause revoked, By by) and the notifications go out.
// Revoking an ended grant does nothing and is not an error.
func (s *Service) Revoke(ctx context.Context, id, by string) error {
	if strings.TrimSpace(by) == "" {
		return errors.New("breakglass: revoke: expected who revokes")
	}
	rec, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	_, err = s.end(ctx, rec, End{At: s.now(), By: by, Cause: CauseRevoked})
	return err
}

// EndByHolder ends a grant now at the request of its holder: u must be the
// grant's user with the session it is bound to (ErrNotHolder otherwise — a
// grant's ID alone, or the same user's other session, ends nothing). Like
// Revoke, the route stops accepting the grant on every replica, the end is
// recorded (Cause ended-by-holder, By the holder) and the notifications go
// out; the grant can be reviewed at once. A grant that has ended already
// (expired, revoked, ended before) is an *EndedError, and nothing changes.
// It returns the grant. An unknown ID is ErrGrantNotFound; any other error
// means the store could not answer.
func (s *Service) EndByHolder(ctx context.Context, u User, id string) (Grant, error) {
	rec, err := s.load(ctx, id)
	if err != nil {
		return Grant{}, err
	}
	g := rec.Grant
	g.holder = ""
	if u.Session == "" || rec.Holder != holderHash(u.Session) || !sameEmail(g.User, u.Email) {
		return Grant{}, ErrNotHolder
	}
	ended := func() error {
		b, err := s.st.Get(ctx, keyEnded+id)
		if err != nil {
			return fmt.Errorf("breakglass: end grant %s: %w", id, err)
		}
		var e End
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("breakglass: end grant %s: expected a stored end: %w", id, err)
		}
		return &EndedError{ID: id, Cause: e.Cause, At: e.At}
	}
	switch _, err := s.st.Get(ctx, keyEnded+id); {
	case err == nil:
		return g, ended()
	case !errors.Is(err, store.ErrNotFound):
		return Grant{}, fmt.Errorf("breakglass: end grant %s: %w", id, err)
	}
	now := s.now()
	if !now.Before(g.ExpiresAt) {
		return g, &EndedError{ID: id, Cause: StateExpired, At: g.ExpiresAt}
	}
	first, err := s.end(ctx, rec, End{At: now, By: g.User, Cause: CauseEndedByHolder})
	if err != nil {
		return Grant{}, err
	}
	if !first {
		// Ended meanwhile by someone else (a reviewer, a recheck).
		return g, ended()
	}
	return g, nil
}

// end deletes the grant's active key first (so that even when recording
// the end fails the grant no longer works), then records the end, deletes
// the active key again, and notifies, once. The second delete closes the
// race with an Activate in progress: one that stored the active key after
// the first delete but looked for the end before it was recorded.
//
// The active key is per session and route, not per grant: it is deleted
// only while it holds this grant (dropActive), so that ending an older
// grant leaves a newer one of the same session and route working.
func (s *Service) end(ctx context.Context, rec record, e End) (first bool, err error) {
	g := rec.Grant
	if err := s.dropActive(ctx, rec); err != nil {
		return false, fmt.Errorf("breakglass: end grant %s: %w", g.ID, err)
	}
	b, _ := json.Marshal(e)
	first, err = s.st.SetNX(ctx, keyEnded+g.ID, b, s.retentionTTL(g, e.At))
	if err != nil {
		return false, fmt.Errorf("breakglass: end grant %s: %w", g.ID, err)
	}
	if err := s.dropActive(ctx, rec); err != nil {
		return false, fmt.Errorf("breakglass: end grant %s: %w", g.ID, err)
	}
	s.forget(g.ID)
	if !first {
		return false, nil
	}
	s.rememberEnd(ctx, rec, e)
	ev := Event{ID: newID(), Type: EventRevoked, Time: e.At, Grant: g, By: e.By, Cause: e.Cause}
	if e.Cause != CauseRevoked {
		ev.Type = EventEnded
	}
	var notify []string
	if p, ok := s.cfg.Policies[g.Policy]; ok {
		notify = p.Notify
	}
	s.notifier.send(ev, notify)
	return true, nil
}

// endedFor is what the store remembers, per session and route, of a grant
// that ended early for a cause its holder may not know of (a revocation, its
// policy removed): the route's page says so until the grant would have
// expired.
type endedFor struct {
	Grant Grant `json:"grant"`
	End   End   `json:"end"`
}

// rememberEnd stores endedFor for a revoked grant, or one whose policy was
// removed. Other ends are known to the holder (ended-by-holder), said at
// once (incident-resolved: the request that finds it), or leave a grant in
// force (superseded, not-activated). Best effort: the page is then
// less specific, and the grant has ended all the same.
func (s *Service) rememberEnd(ctx context.Context, rec record, e End) {
	if e.Cause != CauseRevoked && e.Cause != CausePolicyRemoved {
		return
	}
	ttl := rec.Grant.ExpiresAt.Sub(e.At)
	if ttl <= 0 || rec.Holder == "" {
		return
	}
	b, err := json.Marshal(endedFor{Grant: rec.Grant, End: e})
	if err == nil {
		err = s.st.Set(ctx, keyEndedFor+hashHex(rec.Holder, rec.Grant.Route), b, ttl)
	}
	if err != nil {
		s.log.Warn("break-glass end not remembered for the holder's page", "grant", rec.Grant.ID, "error", err)
	}
}

// EndedFor returns how the session's latest grant for the route ended, and
// the grant, when a reviewer revoked it or its policy was removed before
// its expiry, until that expiry; nil otherwise (also when the store does
// not answer: the caller denies anyway and only says less). For the page of
// a denied request; never a reason to allow.
func (s *Service) EndedFor(ctx context.Context, u User, route string) (*End, *Grant) {
	if u.Session == "" || route == "" {
		return nil, nil
	}
	holder := holderHash(u.Session)
	b, err := s.st.Get(ctx, keyEndedFor+hashHex(holder, route))
	if err != nil {
		return nil, nil
	}
	var ef endedFor
	if json.Unmarshal(b, &ef) != nil || ef.Grant.Route != route || !sameEmail(ef.Grant.User, u.Email) {
		return nil, nil
	}
	return &ef.End, &ef.Grant
}

// dropActive deletes the active key of rec's session and route if it holds
// rec's grant, with a compare-and-delete of the value read: a newer grant
// that replaced it (before the read, or between the read and the delete)
// is never deleted. A value that is not a grant record is left alone
// (Active refuses it: fail closed).
func (s *Service) dropActive(ctx context.Context, rec record) error {
	akey := activeKey(rec.Holder, rec.Grant.Route)
	b, err := s.st.Get(ctx, akey)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var cur record
	if err := json.Unmarshal(b, &cur); err != nil || cur.Grant.ID != rec.Grant.ID {
		return nil
	}
	_, err = s.st.CompareAndDelete(ctx, akey, b)
	return err
}

// load reads a grant's record by ID.
func (s *Service) load(ctx context.Context, id string) (record, error) {
	if !grantIDRE(id) {
		return record{}, ErrGrantNotFound
	}
	b, err := s.st.Get(ctx, keyGrant+id)
	if errors.Is(err, store.ErrNotFound) {
		return record{}, ErrGrantNotFound
	}
	if err != nil {
		return record{}, fmt.Errorf("breakglass: grant %s: %w", id, err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return record{}, fmt.Errorf("breakglass: grant %s: expected a stored grant: %w", id, err)
	}
	rec.Grant.holder = rec.Holder
	return rec, nil
}

func grantIDRE(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// endCause is why Recheck ended g: its policy is gone from the
// configuration, or else its incident resolved.
func (s *Service) endCause(g Grant) string {
	if _, ok := s.cfg.Policies[g.Policy]; !ok {
		return CausePolicyRemoved
	}
	return CauseIncidentResolved
}

// Recheck reports whether the grant's incident is still active — the same
// incident, by the provider's own ID, not another one the typed ID (an
// Opsgenie alias) names now — asking the provider at most once per
// recheck_interval per grant across all replicas (a store marker) and
// otherwise answering from this replica's memory with no I/O. When the
// incident is resolved (or gone), Recheck ends the grant everywhere (Cause
// incident-resolved) and returns false. When the provider cannot answer it
// returns false and a *Refusal with ReasonProviderUnavailable (or
// ReasonProviderMisconfigured, when its answer says the configuration is
// wrong), and the grant stays (a later recheck may succeed); the request is denied
// meanwhile, fail closed. While another request is asking the provider for
// this interval, Recheck answers true without remembering it.
//
// A grant whose policy was removed from the configuration ends (Cause
// policy-removed).
func (s *Service) Recheck(ctx context.Context, g Grant) (still bool, err error) {
	now := s.now()
	pol, ok := s.cfg.Policies[g.Policy]
	if !ok {
		if g.holder != "" {
			if _, err := s.end(ctx, record{Grant: g, Holder: g.holder}, End{At: now, Cause: CausePolicyRemoved}); err != nil {
				return false, err
			}
		}
		return false, nil
	}
	s.mu.Lock()
	m, seen := s.rechecks[g.ID]
	s.mu.Unlock()
	if seen {
		if m.err == nil && now.Sub(m.at) < pol.RecheckInterval && !now.Before(m.at) {
			return true, nil
		}
		if m.err != nil && now.Sub(m.at) < recheckErrorWait && !now.Before(m.at) {
			return false, m.err
		}
	}
	// One replica asks per interval: the marker is per grant and per
	// interval of the service's clock (its TTL only cleans up), so the
	// interval holds whatever the store's own clock says. The replica that
	// takes it marks it answered once the provider said the incident is
	// active; until then the others do not take it for an answer.
	marker := fmt.Sprintf("%s%s:%d", keyRecheck, g.ID, now.UnixNano()/int64(pol.RecheckInterval))
	for range 2 {
		ok, err := s.st.SetNX(ctx, marker, []byte(markerAsking), pol.RecheckInterval)
		if err != nil {
			return false, fmt.Errorf("breakglass: recheck: %w", err)
		}
		if ok {
			break
		}
		v, err := s.st.Get(ctx, marker)
		switch {
		case err == nil && answeredAt(v) != nil:
			// Another replica (or this one) asked within the interval and
			// the incident was active; had it resolved, the grant's key
			// would be gone already. Remembered from when it was asked,
			// so that the interval holds from the ask, not from now.
			s.remember(g, checkMemo{at: *answeredAt(v)})
			return true, nil
		case err == nil:
			// Another request is asking right now: the last answer stands
			// until it has answered, but is not remembered — if the ask
			// fails, the next request here asks again.
			return true, nil
		case errors.Is(err, store.ErrNotFound):
			// The ask failed and was withdrawn: ask again.
			continue
		default:
			return false, fmt.Errorf("breakglass: recheck: %w", err)
		}
	}
	// Taken, or withdrawn twice in a row: this request asks.
	inc, err := s.providers[pol.Provider].Incident(ctx, g.Incident.ID)
	if err == nil && inc.Active && !sameIncident(inc, g.Incident) {
		// The ID the user typed (an Opsgenie alias or tiny ID) now names
		// another incident: the grant's own is no longer the open one.
		inc.Active = false
	}
	switch {
	case err == nil && inc.Active:
		if err := s.st.Set(ctx, marker, []byte(markerAnswered+strconv.FormatInt(now.UnixNano(), 10)), pol.RecheckInterval); err != nil {
			s.log.Warn("break-glass recheck answer not stored", "grant", g.ID, "error", err)
		}
		s.remember(g, checkMemo{at: now})
		return true, nil
	case err == nil || isNotFound(err):
		if g.holder == "" {
			return false, errors.New("breakglass: recheck: expected a grant from Active")
		}
		if _, err := s.end(ctx, record{Grant: g, Holder: g.holder}, End{At: now, Cause: CauseIncidentResolved}); err != nil {
			return false, err
		}
		return false, nil
	default:
		// Let the next request, on any replica, ask again.
		_ = s.st.Delete(ctx, marker)
		r := s.providerRefusal("incident recheck", pol.Provider, err)
		s.remember(g, checkMemo{at: now, err: r})
		return false, r
	}
}

// sameIncident reports whether a recheck's answer is the grant's incident:
// the provider's own ID (ProviderID, or ID when they are the same) is the
// one the grant was made for. An alias names one open alert at a time and
// is reused once it closes, so the ID the user typed alone does not say.
func sameIncident(got, granted Incident) bool {
	own := func(i Incident) string {
		if i.ProviderID != "" {
			return i.ProviderID
		}
		return i.ID
	}
	return own(got) == own(granted)
}

// remember records a recheck on this replica and drops the memories of
// grants that expired.
func (s *Service) remember(g Grant, m checkMemo) {
	m.expires = g.ExpiresAt
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rechecks) >= 64 {
		now := s.now()
		for id, old := range s.rechecks {
			if !now.Before(old.expires) {
				delete(s.rechecks, id)
			}
		}
	}
	s.rechecks[g.ID] = m
}

func (s *Service) forget(id string) {
	s.mu.Lock()
	delete(s.rechecks, id)
	s.mu.Unlock()
}
