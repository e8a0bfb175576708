package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/accessgateway/gateway/internal/store"
)

// Config configures the OIDC relying party.
type Config struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string
	// RedirectURL is the callback: <public_url>/.gateway/callback.
	RedirectURL string
	// GroupsClaim names the claim holding the groups: a claim name or a
	// dotted path into nested objects (see ClaimAt).
	GroupsClaim string
	// UserInfo is auto (default), always or never: when to ask the
	// provider's UserInfo endpoint for the claims (see MergeClaims).
	UserInfo string
	// RequireVerifiedEmail refuses identities with email_verified false.
	RequireVerifiedEmail bool
	SessionLifetime      time.Duration
	RefreshInterval      time.Duration
	// CAFile is a PEM file of CA certificates trusted for the provider's
	// TLS certificates, in addition to the system's. Ignored when HTTPClient
	// is set.
	CAFile string
	// EndProviderSession sends the browser to the provider's
	// end_session_endpoint at sign-out (RP-initiated logout), when the
	// provider advertises one.
	EndProviderSession bool
	// PostLogoutRedirectURL is sent as post_logout_redirect_uri; it must be
	// registered at the provider. Empty: none (the provider shows its own page).
	PostLogoutRedirectURL string
	// DiscoveryBackoff is the first delay between discovery retries when the
	// provider is unreachable at start (doubling up to DiscoveryMaxBackoff);
	// zero means DefaultBackoff and DefaultMaxBackoff.
	DiscoveryBackoff    time.Duration
	DiscoveryMaxBackoff time.Duration
	// SignInLimits caps the sign-ins in progress (zero values: defaults).
	SignInLimits SignInLimits
	// GroupsMissing, when set, is called for every identity read (sign-in,
	// refresh) whose claims have no groups claim at all (absent or null, not
	// an empty list): absent is no groups, so deny rules on groups cannot
	// match that user — a provider that stopped releasing the claim would
	// turn them off without a sound.
	GroupsMissing func()
	// HTTPClient talks to the IdP; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Authenticator runs the authorization code flow with PKCE, state and
// nonce, creates sessions, refreshes them, and verifies bearer ID tokens.
//
// It is usable before the provider is discovered: sign-ins and bearer
// tokens then fail with ErrProviderUnavailable while sessions already in
// the store keep working, and discovery is retried in the background.
type Authenticator struct {
	cfg      Config
	state    atomic.Pointer[discovered]
	sessions *Sessions
	client   *http.Client
	Now      func() time.Time

	errMu   sync.Mutex
	lastErr error
	stop    context.CancelFunc
	done    chan struct{}

	bearerMu sync.Mutex
	bearer   map[[32]byte]*Session

	pending *pendingSignIns
}

// loginTTL bounds how long a sign-in may take at the IdP.
const loginTTL = 10 * time.Minute

// New builds an Authenticator and discovers the provider (construct →
// validate: discovery happens here, never on a request). If the provider
// cannot be reached, New still succeeds: it logs the error and retries
// discovery in the background with exponential backoff (see Ready). Errors
// are for what a retry cannot fix: a bad CA file or userinfo mode.
func New(ctx context.Context, cfg Config, sessions *Sessions) (*Authenticator, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch cfg.UserInfo {
	case "":
		cfg.UserInfo = UserInfoAuto
	case UserInfoAuto, UserInfoAlways, UserInfoNever:
	default:
		return nil, fmt.Errorf("auth: userinfo: expected auto, always or never, got %q", cfg.UserInfo)
	}
	if cfg.DiscoveryBackoff <= 0 {
		cfg.DiscoveryBackoff = DefaultBackoff
	}
	if cfg.DiscoveryMaxBackoff < cfg.DiscoveryBackoff {
		cfg.DiscoveryMaxBackoff = max(DefaultMaxBackoff, cfg.DiscoveryBackoff)
	}
	client := cfg.HTTPClient
	if client == nil {
		var err error
		if client, err = NewHTTPClient(cfg.CAFile); err != nil {
			return nil, err
		}
	}
	a := &Authenticator{cfg: cfg, sessions: sessions, client: client, Now: time.Now, done: make(chan struct{}),
		pending: newPendingSignIns(cfg.SignInLimits, loginTTL)}
	d, err := a.discover(ctx)
	if err == nil {
		a.state.Store(d)
		a.stop = func() {}
		close(a.done)
		return a, nil
	}
	a.setLastErr(err)
	cfg.Logger.Warn("auth: identity provider unreachable at start; serving anyway: sign-in answers 503 and /readyz is not ready until discovery succeeds; existing sessions keep working",
		"issuer", cfg.Issuer, "err", err, "retry_in", cfg.DiscoveryBackoff.String())
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.stop = cancel
	go a.retryDiscovery(rctx)
	return a, nil
}

// NewHTTPClient returns the client the gateway talks to the provider with:
// a 10 s timeout, and, with caFile, the file's CA certificates trusted in
// addition to the system's.
func NewHTTPClient(caFile string) (*http.Client, error) {
	if caFile == "" {
		return &http.Client{Timeout: 10 * time.Second}, nil
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("auth: oidc ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("auth: oidc ca_file: expected PEM certificates in %q, found none", caFile)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Timeout: 10 * time.Second, Transport: t}, nil
}

// Sessions returns the session registry.
func (a *Authenticator) Sessions() *Sessions { return a.sessions }

type loginState struct {
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Return   string `json:"return"`
	// Bind is the SHA-256 of the browser-binding cookie's value: the callback
	// must come from the browser that started the sign-in (login CSRF).
	Bind []byte `json:"bind"`
}

// Login is what StartLogin returns: where to send the browser and the
// binding cookie to set before doing so.
type Login struct {
	RedirectURL string
	CookieName  string
	CookieValue string
}

// StartLogin is StartLoginFrom for a client whose address is unknown: only
// the replica-wide cap of pending sign-ins applies.
func (a *Authenticator) StartLogin(ctx context.Context, returnURL, bindCookiePrefix string) (*Login, error) {
	return a.StartLoginFrom(ctx, netip.Addr{}, returnURL, bindCookiePrefix)
}

// StartLoginFrom records a pending sign-in (state, nonce, PKCE verifier and
// the validated return URL, server-side and single-use) and returns the IdP
// URL. The return URL is never sent through the IdP. Before the provider is
// discovered it fails with an error wrapping ErrProviderUnavailable.
//
// client is the request's client address (after trusted proxies). Pending
// sign-ins are capped per client address and per wider prefix of it
// (SignInLimits); over a cap it returns ErrTooManySignIns and stores nothing.
// At the replica's cap, the oldest pending sign-in of the network holding
// the most is ended (its state deleted) to make room.
func (a *Authenticator) StartLoginFrom(ctx context.Context, client netip.Addr, returnURL, bindCookiePrefix string) (*Login, error) {
	d, err := a.ready()
	if err != nil {
		return nil, err
	}
	state := NewID()
	evicted, err := a.pending.acquire(a.Now(), client, state)
	if err != nil {
		return nil, err
	}
	if evicted != "" {
		// Its callback will find no state ("start again"); the store holds
		// no more sign-ins than the replica's cap.
		if err := a.sessions.st.Delete(ctx, "login:"+evicted); err != nil {
			a.cfg.Logger.Warn("auth: an evicted pending sign-in could not be deleted; it expires by itself", "err", err)
		}
	}
	bind := NewID()
	h := sha256.Sum256([]byte(bind))
	ls := loginState{Nonce: NewID(), Verifier: oauth2.GenerateVerifier(), Return: returnURL, Bind: h[:]}
	b, _ := json.Marshal(ls)
	if err := a.sessions.st.Set(ctx, "login:"+state, b, loginTTL); err != nil {
		a.pending.release(state)
		return nil, fmt.Errorf("auth: save sign-in state: %w", err)
	}
	u := d.oauth.AuthCodeURL(state, oidc.Nonce(ls.Nonce), oauth2.S256ChallengeOption(ls.Verifier))
	return &Login{RedirectURL: u, CookieName: BindCookieName(bindCookiePrefix, state), CookieValue: bind}, nil
}

// BindCookieName is the name of the browser-binding cookie of one sign-in.
// Each sign-in has its own, so parallel sign-ins in several tabs work.
func BindCookieName(prefix, state string) string {
	h := sha256.Sum256([]byte(state))
	return fmt.Sprintf("%s_login_%x", prefix, h[:6])
}

// CallbackError is a failed callback; Msg (and Next, what the user can do)
// are safe to show the user.
type CallbackError struct {
	Msg  string
	Next string
	Err  error
}

func (e *CallbackError) Error() string { return "auth: callback: " + e.Msg + ": " + fmt.Sprint(e.Err) }
func (e *CallbackError) Unwrap() error { return e.Err }

// providerErrorCodes are the error codes an authorization response may
// carry: OAuth 2.0 (RFC 6749 §4.1.2.1) and OpenID Connect Core 1.0 §3.1.2.6.
var providerErrorCodes = map[string]bool{
	"invalid_request": true, "unauthorized_client": true, "access_denied": true,
	"unsupported_response_type": true, "invalid_scope": true, "server_error": true,
	"temporarily_unavailable": true, "interaction_required": true, "login_required": true,
	"account_selection_required": true, "consent_required": true, "invalid_request_uri": true,
	"invalid_request_object": true, "request_not_supported": true, "request_uri_not_supported": true,
	"registration_not_supported": true,
}

// clip cuts s to at most n bytes (whole runes), marking a cut with "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// ErrProviderUnreachable means the provider did not answer (or answered
// 5xx) while a sign-in was being completed: the sign-in fails, but the
// user's code was not refused; a new sign-in may work in a minute.
var ErrProviderUnreachable = errors.New("auth: the identity provider did not answer")

// Callback completes a sign-in: it takes the pending state (single use),
// checks the browser binding, exchanges the code with the PKCE verifier,
// verifies the ID token and its nonce, fetches UserInfo when the mode asks
// for it, and creates a session. It returns the new session ID and the
// return URL recorded at StartLogin. A refused sign-in is a *CallbackError;
// a provider that did not answer the code exchange is an error wrapping
// ErrProviderUnreachable.
func (a *Authenticator) Callback(ctx context.Context, r *http.Request, bindCookiePrefix string) (id string, sess *Session, returnURL string, err error) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		// Anyone can write a link to the callback: its error and
		// error_description are not the provider's word, and the page shows
		// only a code the specifications define. Both go to the log and the
		// audit record, quoted and cut short.
		shown := "an error it did not name in the standard way"
		if providerErrorCodes[e] {
			shown = e
		}
		return "", nil, "", &CallbackError{Msg: "the identity provider refused the sign-in (" + shown + ")",
			Err: fmt.Errorf("error %q, error_description %q", clip(e, 64), clip(q.Get("error_description"), 256))}
	}
	state, code := q.Get("state"), q.Get("code")
	if state == "" || code == "" || len(state) > 128 {
		return "", nil, "", &CallbackError{Msg: "the sign-in response lacks state or code", Err: errors.New("missing parameters")}
	}
	d, err := a.ready()
	if err != nil {
		return "", nil, "", err
	}
	b, err := a.sessions.st.Take(ctx, "login:"+state)
	if err == nil || errors.Is(err, store.ErrNotFound) {
		a.pending.release(state) // the state is gone from the store either way
	}
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, "", &CallbackError{Msg: "this sign-in link was already used or has expired; start again", Err: err}
	}
	if err != nil {
		return "", nil, "", err
	}
	var ls loginState
	if err := json.Unmarshal(b, &ls); err != nil {
		return "", nil, "", fmt.Errorf("auth: decode sign-in state: %w", err)
	}
	c, err := r.Cookie(BindCookieName(bindCookiePrefix, state))
	got := sha256.Sum256([]byte(func() string {
		if err != nil {
			return ""
		}
		return c.Value
	}()))
	if err != nil || subtle.ConstantTimeCompare(got[:], ls.Bind) != 1 {
		return "", nil, "", &CallbackError{Msg: "the sign-in did not start in this browser; start again", Err: errors.New("binding cookie mismatch")}
	}
	ctx = oidc.ClientContext(ctx, a.client)
	tok, err := d.oauth.Exchange(ctx, code, oauth2.VerifierOption(ls.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.Response == nil || re.Response.StatusCode >= 500 {
			// No answer, or the provider failing: not a refused code.
			return "", nil, "", fmt.Errorf("%w: token endpoint: %w", ErrProviderUnreachable, err)
		}
		return "", nil, "", &CallbackError{Msg: "the identity provider did not accept the sign-in code", Err: err}
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return "", nil, "", &CallbackError{Msg: "the identity provider returned no ID token", Err: errors.New("no id_token")}
	}
	idt, err := a.verifyIDToken(providerTokenContext(ctx), d, rawID)
	if err != nil {
		return "", nil, "", &CallbackError{Msg: "the ID token did not verify", Err: err}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(ls.Nonce)) != 1 {
		return "", nil, "", &CallbackError{Msg: "the ID token's nonce does not match this sign-in", Err: errors.New("nonce mismatch")}
	}
	now := a.Now()
	sess = &Session{CreatedAt: now, ExpiresAt: now.Add(a.cfg.SessionLifetime), IDToken: a.logoutHint(d, rawID)}
	if err := a.identify(ctx, d, idt, tok, sess); err != nil {
		return "", nil, "", a.signInError(err)
	}
	if tok.RefreshToken != "" {
		sess.RefreshToken = tok.RefreshToken
		sess.NextRefresh = now.Add(a.cfg.RefreshInterval)
	}
	id, err = a.sessions.Create(ctx, sess)
	if err != nil {
		return "", nil, "", err
	}
	sess.RefreshToken, sess.IDToken = "", "" // sealed in the store; not kept in memory
	return id, sess, ls.Return, nil
}

// verifyIDToken verifies an ID token (signature, issuer, audience, expiry:
// go-oidc) and that it was issued to the gateway's client, which go-oidc
// does not check: an azp claim, when present, must be the client ID, and a
// token with several audiences must carry one (OpenID Connect Core
// §3.1.3.7). An ID token the provider issued to another client that also
// names the gateway among its audiences is that client's, not a sign-in to
// the gateway. Nonce is not checked here.
func (a *Authenticator) verifyIDToken(ctx context.Context, d *discovered, raw string) (*oidc.IDToken, error) {
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if err := idTokenType(raw); err != nil {
		return nil, err
	}
	// sub is REQUIRED (Core §2) and is who the identity is: an empty one
	// would be one user for every such token, and would match UserInfo
	// answers without a sub.
	if idt.Subject == "" {
		return nil, errors.New("auth: ID token: expected a sub claim, got none")
	}
	var c struct {
		AZP      any `json:"azp"`
		ClientID any `json:"client_id"`
		CID      any `json:"cid"`
		Typ      any `json:"typ"`
	}
	if err := idt.Claims(&c); err != nil {
		return nil, fmt.Errorf("auth: decode ID token claims: %w", err)
	}
	// An access token in JWT form (RFC 9068) names the client it was issued
	// to in client_id (Okta's in cid), where an ID token names it in azp;
	// Keycloak's tokens say what they are in a typ claim ("ID" for an ID
	// token, "Bearer" for an access token). Signed by the same keys for the
	// same issuer, one whose audience is the gateway verifies like an ID
	// token.
	for _, f := range [...]struct {
		name string
		v    any
	}{{"client_id", c.ClientID}, {"cid", c.CID}} {
		if f.v == nil {
			continue
		}
		if id, _ := f.v.(string); id != a.cfg.ClientID {
			return nil, fmt.Errorf("auth: ID token: expected %s %q when present, got %s (a token issued to another client)", f.name, a.cfg.ClientID, clip(fmt.Sprint(f.v), 64))
		}
	}
	if c.Typ != nil {
		if typ, _ := c.Typ.(string); !strings.EqualFold(typ, "ID") {
			return nil, fmt.Errorf("auth: ID token: expected the typ claim \"ID\" when present, got %s (not an ID token)", clip(fmt.Sprint(c.Typ), 64))
		}
	}
	switch azp := c.AZP.(type) {
	case nil:
		if len(idt.Audience) > 1 {
			return nil, fmt.Errorf("auth: ID token: expected azp %q with several audiences %q, got none", a.cfg.ClientID, idt.Audience)
		}
	case string:
		if azp != a.cfg.ClientID {
			return nil, fmt.Errorf("auth: ID token: expected azp %q, got %q (issued to another client)", a.cfg.ClientID, azp)
		}
	default:
		return nil, fmt.Errorf("auth: ID token: expected azp %q, got a %s", a.cfg.ClientID, jsonType(azp))
	}
	return idt, nil
}

// idTokenType refuses a JWS whose header says it is not a plain JWT: an ID
// token's typ, when present, is "JWT" (RFC 7519 §5.1, any letter case, with
// or without "application/"). Other types name other tokens the provider
// signs with the same keys: "at+jwt" an access token (RFC 9068 §2.1),
// "logout+jwt" a back-channel logout token, "secevent+jwt" a security event.
func idTokenType(raw string) error {
	seg, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return fmt.Errorf("auth: ID token: decode its header: %w", err)
	}
	var h struct {
		Typ any `json:"typ"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return fmt.Errorf("auth: ID token: decode its header: %w", err)
	}
	if h.Typ == nil {
		return nil
	}
	typ, _ := h.Typ.(string)
	if t := strings.ToLower(typ); t != "jwt" && t != "application/jwt" {
		return fmt.Errorf("auth: ID token: expected the header's typ JWT when present, got %s (not an ID token)", clip(fmt.Sprint(h.Typ), 64))
	}
	return nil
}

// errUserInfo wraps a failed UserInfo request.
var errUserInfo = errors.New("auth: userinfo")

// identify reads the identity of a verified ID token, asking UserInfo (with
// the access token) when the mode says so, and fills sess.
func (a *Authenticator) identify(ctx context.Context, d *discovered, idt *oidc.IDToken, tok *oauth2.Token, sess *Session) error {
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return fmt.Errorf("auth: decode ID token claims: %w", err)
	}
	if a.needsUserInfo(all) {
		switch {
		case !d.userInfo && a.cfg.UserInfo == UserInfoAlways:
			return fmt.Errorf("%w: oidc.userinfo is always, but the provider advertises no userinfo_endpoint", errUserInfo)
		case !d.userInfo:
			// auto: nothing more to ask; fill decides with what there is.
		case tok == nil || tok.AccessToken == "":
			if a.cfg.UserInfo == UserInfoAlways {
				return fmt.Errorf("%w: the provider issued no access token to ask UserInfo with", errUserInfo)
			}
		default:
			ui, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				return fmt.Errorf("%w: %v", errUserInfo, err)
			}
			// OpenID Connect Core §5.3.2: the UserInfo sub MUST be verified
			// to exactly match the ID token's sub.
			if subtle.ConstantTimeCompare([]byte(ui.Subject), []byte(idt.Subject)) != 1 {
				return fmt.Errorf("%w: expected sub %q, got %q", errUserInfo, idt.Subject, ui.Subject)
			}
			var uiClaims map[string]any
			if err := ui.Claims(&uiClaims); err != nil {
				return fmt.Errorf("%w: decode claims: %v", errUserInfo, err)
			}
			// UserInfo may answer with distributed claims too (Core
			// §5.6.2): a groups claim it only points to is groups the
			// gateway does not have, as in the ID token — not no groups,
			// which would turn every deny rule on groups off for the user.
			// MergeClaims never takes "_claim_names" from UserInfo, so it
			// is read here. Where the ID token has the groups, they count.
			if v, ok := ClaimAt(all, a.cfg.GroupsClaim); (!ok || v == nil) && distributed(uiClaims, a.cfg.GroupsClaim) {
				return ErrGroupsOverage
			}
			all = MergeClaims(all, uiClaims)
		}
	}
	return a.fill(idt.Subject, all, sess)
}

// signInError turns an identity problem into what the user sees (and logs
// the operator's hint).
func (a *Authenticator) signInError(err error) error {
	switch {
	case errors.Is(err, ErrNoEmail):
		a.cfg.Logger.Warn("auth: sign-in refused: the provider sent no email claim, in neither the ID token nor UserInfo. "+
			"Check that oidc.scopes includes \"email\", that the provider releases the email claim to this client, "+
			"and that oidc.userinfo is not \"never\" if the provider serves email from UserInfo only",
			"client_id", a.cfg.ClientID, "scopes", a.cfg.Scopes, "userinfo", a.cfg.UserInfo)
		return &CallbackError{Msg: "the identity provider sent no email address for your account",
			Next: "The gateway needs your email address to decide what you may use. Ask your identity team to give your account an email address that is released to this application.", Err: err}
	case errors.Is(err, ErrGroupsOverage):
		a.cfg.Logger.Warn("auth: sign-in refused: the provider left the groups out of the token and referenced another API instead (Entra ID groups overage). "+
			"Limit the groups in the token (Entra ID: \"Groups assigned to the application\") or use app roles with oidc.groups_claim: roles",
			"groups_claim", a.cfg.GroupsClaim)
		return &CallbackError{Msg: "your account is in more groups than the identity provider puts in a sign-in",
			Next: "Ask the gateway's operators to limit the groups the provider sends to this application.", Err: err}
	case errors.Is(err, errUserInfo):
		a.cfg.Logger.Warn("auth: sign-in refused: the UserInfo request failed", "err", err)
		return &CallbackError{Msg: "the identity provider did not answer the request for your profile", Next: "Try again in a minute.", Err: err}
	}
	return &CallbackError{Msg: err.Error(), Err: err}
}

// RefreshResult says what MaybeRefresh did.
type RefreshResult int

const (
	// RefreshNotDue: nothing to do.
	RefreshNotDue RefreshResult = iota
	// Refreshed: the IdP confirmed the user; the session was updated.
	Refreshed
	// RefreshSkipped: another replica holds the lock; the session is still within grace.
	RefreshSkipped
)

// ErrIdPUnavailable means a due refresh could not reach the IdP and the
// session's grace ran out: deny with "try again", not "sign in".
var ErrIdPUnavailable = errors.New("auth: identity provider unavailable for the session refresh")

// MaybeRefresh re-asks the IdP about the user when the session's refresh is
// due, under a per-session lock in the store so replicas do not race (a
// rotated refresh token used twice would end the session). If the IdP says
// the grant is gone, the session is deleted and ErrNoSession returned. If the
// IdP cannot be reached (or is not discovered yet), the session lives on for
// one more interval, then ErrIdPUnavailable. A refresh token that cannot be
// opened (its key was rotated out) ends the session.
//
// When the refresh answer carries a new ID token, the identity is read again
// exactly as at sign-in (UserInfo included); when it carries none, the
// identity stays as it was.
func (a *Authenticator) MaybeRefresh(ctx context.Context, id string, sess *Session) (RefreshResult, error) {
	now := a.Now()
	if (sess.RefreshToken == "" && sess.SealedRefresh == "") || now.Before(sess.NextRefresh) {
		return RefreshNotDue, nil
	}
	grace := sess.NextRefresh.Add(a.cfg.RefreshInterval)
	d, err := a.ready()
	if err != nil {
		a.cfg.Logger.Warn("auth: session refresh due but the provider is not discovered yet", "err", err)
		if now.Before(grace) {
			return RefreshSkipped, nil
		}
		return RefreshNotDue, ErrIdPUnavailable
	}
	lock := "lock:refresh:" + SessionKey(id)
	ok, err := a.sessions.st.SetNX(ctx, lock, []byte("1"), 30*time.Second)
	if err != nil {
		return RefreshNotDue, fmt.Errorf("auth: refresh lock: %w", err)
	}
	if !ok {
		if now.Before(grace) {
			return RefreshSkipped, nil
		}
		return RefreshNotDue, ErrIdPUnavailable
	}
	defer a.sessions.st.Delete(context.WithoutCancel(ctx), lock)
	// Re-read under the lock: another replica may have refreshed already.
	cur, err := a.sessions.Load(ctx, id)
	if err != nil {
		return RefreshNotDue, err
	}
	if now.Before(cur.NextRefresh) {
		*sess = *cur
		return RefreshNotDue, nil
	}
	rt, err := a.sessions.RefreshToken(id, cur)
	if err != nil {
		a.cfg.Logger.Warn("auth: the session's refresh token cannot be opened (its encryption key was removed?); ending the session", "err", err, "email", cur.Email)
		_ = a.sessions.Delete(ctx, id)
		return RefreshNotDue, ErrNoSession
	}
	ctx = oidc.ClientContext(ctx, a.client)
	tok, err := d.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			_ = a.sessions.Delete(ctx, id)
			return RefreshNotDue, ErrNoSession
		}
		a.cfg.Logger.Warn("auth: session refresh failed", "err", err, "email", cur.Email)
		if now.Before(grace) {
			return RefreshSkipped, nil
		}
		return RefreshNotDue, ErrIdPUnavailable
	}
	if rawID, _ := tok.Extra("id_token").(string); rawID != "" {
		idt, err := a.verifyIDToken(providerTokenContext(ctx), d, rawID)
		if err != nil || idt.Subject != cur.Subject {
			_ = a.sessions.Delete(ctx, id)
			return RefreshNotDue, ErrNoSession
		}
		if err := a.identify(ctx, d, idt, tok, cur); err != nil {
			a.cfg.Logger.Warn("auth: the refreshed identity is not usable; ending the session", "err", err, "email", cur.Email)
			_ = a.sessions.Delete(ctx, id)
			return RefreshNotDue, ErrNoSession
		}
		cur.IDToken = a.logoutHint(d, rawID)
	}
	if tok.RefreshToken != "" {
		cur.RefreshToken = tok.RefreshToken
	}
	cur.NextRefresh = now.Add(a.cfg.RefreshInterval)
	// Save writes only a session that is still there: a sign-out that
	// landed while the provider was being asked stays a sign-out
	// (ErrNoSession), with the new tokens dropped.
	if err := a.sessions.Save(ctx, id, cur); err != nil {
		return RefreshNotDue, err
	}
	cur.RefreshToken, cur.IDToken = "", "" // sealed in the store; not kept in memory
	*sess = *cur
	return Refreshed, nil
}

// logoutHint is the ID token to keep in the session as id_token_hint for
// RP-initiated logout, or "" when sign-out will not send the browser to
// the provider (EndProviderSession off, or no end_session_endpoint): the
// token is then never used, and would be most of the session's bytes.
func (a *Authenticator) logoutHint(d *discovered, rawID string) string {
	if !a.cfg.EndProviderSession || d == nil || d.endSession == nil {
		return ""
	}
	return rawID
}

// VerifyBearer verifies an ID token from the same IdP presented as
// "Authorization: Bearer" by a non-browser client and returns the identity
// it carries, valid until the token's expiry. Only the ID token's own claims
// count (there is no access token to ask UserInfo with): it must carry the
// email.
//
// Only the JWS compact serialization is taken, its header and payload in
// canonical base64url (the spelling providers issue): every other
// serialization of the same signed header and payload, which go-jose would
// verify as well, is refused, so a revocation cannot be missed by
// re-spelling the token.
//
// A token revoked at a sign-out (RevokeIDToken, on any replica) is refused
// with ErrTokenRevoked. The shared store is asked on every call, before
// anything else answers; if it does not answer, the error wraps
// ErrRevocationUnknown.
//
// A verified token is remembered (by its SHA-256, until its expiry) so that
// an API client sending the same token on every request costs one signature
// verification, not one per request. Failures are never remembered. The memo
// only saves the verification: it answers after the revocation check, never
// instead of it.
//
// Before the provider is discovered it fails with an error wrapping
// ErrProviderUnavailable.
func (a *Authenticator) VerifyBearer(ctx context.Context, raw string) (*Session, error) {
	// One signing input, one spelling: go-jose also reads the JSON
	// serialization, strips whitespace and decodes base64url leniently, and
	// every such spelling of a revoked token would miss its revocation.
	if err := canonicalCompact(raw); err != nil {
		return nil, fmt.Errorf("auth: bearer token: %w", err)
	}
	key := sha256.Sum256([]byte(raw))
	if err := a.checkRevoked(ctx, revocationSum(raw)); err != nil {
		if errors.Is(err, ErrTokenRevoked) {
			a.bearerMu.Lock()
			delete(a.bearer, key)
			a.bearerMu.Unlock()
		}
		return nil, err
	}
	now := a.Now()
	a.bearerMu.Lock()
	if e, ok := a.bearer[key]; ok && now.Before(e.ExpiresAt) {
		a.bearerMu.Unlock()
		s := *e
		return &s, nil
	}
	a.bearerMu.Unlock()
	d, err := a.ready()
	if err != nil {
		return nil, err
	}
	ctx = oidc.ClientContext(ctx, a.client)
	idt, err := a.verifyIDToken(ctx, d, raw)
	if err != nil {
		return nil, fmt.Errorf("auth: bearer token: %w", err)
	}
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return nil, fmt.Errorf("auth: bearer token: decode claims: %w", err)
	}
	s := &Session{CreatedAt: idt.IssuedAt, ExpiresAt: idt.Expiry}
	if err := a.fill(idt.Subject, all, s); err != nil {
		return nil, fmt.Errorf("auth: bearer token: %w", err)
	}
	a.bearerMu.Lock()
	if a.bearer == nil || len(a.bearer) >= maxBearerCache {
		a.bearer = map[[32]byte]*Session{}
	}
	c := *s
	a.bearer[key] = &c
	a.bearerMu.Unlock()
	return s, nil
}

// maxBearerCache bounds the verified-bearer-token memo; when full it starts over.
const maxBearerCache = 10000

// BearerToken returns the token of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
}
