package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/accessgateway/gateway/internal/policy"
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
	GroupsClaim string
	// RequireVerifiedEmail refuses ID tokens with email_verified false.
	RequireVerifiedEmail bool
	SessionLifetime      time.Duration
	RefreshInterval      time.Duration
	// HTTPClient talks to the IdP; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// SignInLimits caps the sign-ins in progress (zero values: defaults).
	SignInLimits SignInLimits
}

// Authenticator runs the authorization code flow with PKCE, state and
// nonce, creates sessions, refreshes them, and verifies bearer ID tokens.
type Authenticator struct {
	cfg      Config
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
	sessions *Sessions
	endURL   string
	client   *http.Client
	Now      func() time.Time

	bearerMu sync.Mutex
	bearer   map[[32]byte]*Session

	pending *pendingSignIns
}

// loginTTL bounds how long a sign-in may take at the IdP.
const loginTTL = 10 * time.Minute

// New discovers the provider (construct → validate: discovery happens here,
// never on a request) and returns an Authenticator.
func New(ctx context.Context, cfg Config, sessions *Sessions) (*Authenticator, error) {
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx = oidc.ClientContext(ctx, client)
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("auth: oidc discovery of %q: %w", cfg.Issuer, err)
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = p.Claims(&extra)
	a := &Authenticator{
		cfg:      cfg,
		provider: p,
		verifier: p.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     p.Endpoint(),
			RedirectURL:  cfg.RedirectURL,
			Scopes:       cfg.Scopes,
		},
		sessions: sessions,
		endURL:   extra.EndSession,
		client:   client,
		Now:      time.Now,
		pending:  newPendingSignIns(cfg.SignInLimits, loginTTL),
	}
	return a, nil
}

// Sessions returns the session registry.
func (a *Authenticator) Sessions() *Sessions { return a.sessions }

// EndSessionURL is the IdP's RP-initiated logout endpoint, if it has one.
func (a *Authenticator) EndSessionURL() string { return a.endURL }

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
// URL. The return URL is never sent through the IdP.
//
// client is the request's client address (after trusted proxies). Pending
// sign-ins are capped per client address and per replica (SignInLimits); over
// a cap it returns ErrTooManySignIns and stores nothing.
func (a *Authenticator) StartLoginFrom(ctx context.Context, client netip.Addr, returnURL, bindCookiePrefix string) (*Login, error) {
	state := NewID()
	if err := a.pending.acquire(a.Now(), client, state); err != nil {
		return nil, err
	}
	bind := NewID()
	h := sha256.Sum256([]byte(bind))
	ls := loginState{Nonce: NewID(), Verifier: oauth2.GenerateVerifier(), Return: returnURL, Bind: h[:]}
	b, _ := json.Marshal(ls)
	if err := a.sessions.st.Set(ctx, "login:"+state, b, loginTTL); err != nil {
		a.pending.release(state)
		return nil, fmt.Errorf("auth: save sign-in state: %w", err)
	}
	u := a.oauth.AuthCodeURL(state, oidc.Nonce(ls.Nonce), oauth2.S256ChallengeOption(ls.Verifier))
	return &Login{RedirectURL: u, CookieName: BindCookieName(bindCookiePrefix, state), CookieValue: bind}, nil
}

// BindCookieName is the name of the browser-binding cookie of one sign-in.
// Each sign-in has its own, so parallel sign-ins in several tabs work.
func BindCookieName(prefix, state string) string {
	h := sha256.Sum256([]byte(state))
	return fmt.Sprintf("%s_login_%x", prefix, h[:6])
}

// CallbackError is a failed callback; Msg is safe to show the user.
type CallbackError struct {
	Msg string
	Err error
}

func (e *CallbackError) Error() string { return "auth: callback: " + e.Msg + ": " + fmt.Sprint(e.Err) }
func (e *CallbackError) Unwrap() error { return e.Err }

// Callback completes a sign-in: it takes the pending state (single use),
// checks the browser binding, exchanges the code with the PKCE verifier,
// verifies the ID token and its nonce, and creates a session. It returns the
// new session ID and the return URL recorded at StartLogin.
func (a *Authenticator) Callback(ctx context.Context, r *http.Request, bindCookiePrefix string) (id string, sess *Session, returnURL string, err error) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return "", nil, "", &CallbackError{Msg: "the identity provider refused the sign-in (" + e + ")", Err: errors.New(q.Get("error_description"))}
	}
	state, code := q.Get("state"), q.Get("code")
	if state == "" || code == "" || len(state) > 128 {
		return "", nil, "", &CallbackError{Msg: "the sign-in response lacks state or code", Err: errors.New("missing parameters")}
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
	tok, err := a.oauth.Exchange(ctx, code, oauth2.VerifierOption(ls.Verifier))
	if err != nil {
		return "", nil, "", &CallbackError{Msg: "the identity provider did not accept the sign-in code", Err: err}
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return "", nil, "", &CallbackError{Msg: "the identity provider returned no ID token", Err: errors.New("no id_token")}
	}
	idt, err := a.verifier.Verify(ctx, rawID)
	if err != nil {
		return "", nil, "", &CallbackError{Msg: "the ID token did not verify", Err: err}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(ls.Nonce)) != 1 {
		return "", nil, "", &CallbackError{Msg: "the ID token's nonce does not match this sign-in", Err: errors.New("nonce mismatch")}
	}
	now := a.Now()
	sess = &Session{CreatedAt: now, ExpiresAt: now.Add(a.cfg.SessionLifetime), IDToken: rawID}
	if err := a.fill(idt, sess); err != nil {
		return "", nil, "", &CallbackError{Msg: err.Error(), Err: err}
	}
	if tok.RefreshToken != "" {
		sess.RefreshToken = tok.RefreshToken
		sess.NextRefresh = now.Add(a.cfg.RefreshInterval)
	}
	id, err = a.sessions.Create(ctx, sess)
	if err != nil {
		return "", nil, "", err
	}
	return id, sess, ls.Return, nil
}

// fill copies identity claims from a verified ID token into sess.
func (a *Authenticator) fill(idt *oidc.IDToken, sess *Session) error {
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return fmt.Errorf("auth: decode ID token claims: %w", err)
	}
	email, _ := all["email"].(string)
	if _, err := policy.ParseEmail(email); err != nil {
		return fmt.Errorf("the ID token has no valid email claim: %w", err)
	}
	if a.cfg.RequireVerifiedEmail {
		if v, ok := all["email_verified"].(bool); !ok || !v {
			return errors.New("the identity provider has not verified this email address")
		}
	}
	sess.Subject = idt.Subject
	sess.Email = email
	sess.Name, _ = all["name"].(string)
	sess.Groups = stringList(all[a.cfg.GroupsClaim])
	sess.Claims = map[string][]string{}
	// Keep at most 64 claims, chosen deterministically (sorted by name).
	for _, k := range slices.Sorted(maps.Keys(all)) {
		switch k {
		case "iss", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "auth_time", "azp", "sid", "jti":
			continue
		}
		if l := stringList(all[k]); len(l) > 0 && len(sess.Claims) < 64 {
			sess.Claims[k] = l
		}
	}
	return nil
}

// stringList returns a claim as a list of strings (a string, a bool, or a
// list of strings); other shapes give nil.
func stringList(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case bool:
		if t {
			return []string{"true"}
		}
		return []string{"false"}
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		if len(out) > 1024 {
			out = out[:1024]
		}
		return out
	}
	return nil
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
// IdP cannot be reached, the session lives on for one more interval, then
// ErrIdPUnavailable.
func (a *Authenticator) MaybeRefresh(ctx context.Context, id string, sess *Session) (RefreshResult, error) {
	now := a.Now()
	if sess.RefreshToken == "" || now.Before(sess.NextRefresh) {
		return RefreshNotDue, nil
	}
	grace := sess.NextRefresh.Add(a.cfg.RefreshInterval)
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
	ctx = oidc.ClientContext(ctx, a.client)
	tok, err := a.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: cur.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
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
		idt, err := a.verifier.Verify(ctx, rawID)
		if err != nil || idt.Subject != cur.Subject {
			_ = a.sessions.Delete(ctx, id)
			return RefreshNotDue, ErrNoSession
		}
		if err := a.fill(idt, cur); err != nil {
			_ = a.sessions.Delete(ctx, id)
			return RefreshNotDue, ErrNoSession
		}
		cur.IDToken = rawID
	}
	if tok.RefreshToken != "" {
		cur.RefreshToken = tok.RefreshToken
	}
	cur.NextRefresh = now.Add(a.cfg.RefreshInterval)
	if err := a.sessions.Save(ctx, id, cur); err != nil {
		return RefreshNotDue, err
	}
	*sess = *cur
	return Refreshed, nil
}

// VerifyBearer verifies an ID token from the same IdP presented as
// "Authorization: Bearer" by a non-browser client and returns the identity
// it carries, valid until the token's expiry.
//
// A verified token is remembered (by its SHA-256, until its expiry) so that
// an API client sending the same token on every request costs one signature
// verification, not one per request. Failures are never remembered. This
// changes nothing about what is accepted: an ID token cannot be revoked
// before its expiry either way.
func (a *Authenticator) VerifyBearer(ctx context.Context, raw string) (*Session, error) {
	key := sha256.Sum256([]byte(raw))
	now := a.Now()
	a.bearerMu.Lock()
	if e, ok := a.bearer[key]; ok && now.Before(e.ExpiresAt) {
		a.bearerMu.Unlock()
		s := *e
		return &s, nil
	}
	a.bearerMu.Unlock()
	ctx = oidc.ClientContext(ctx, a.client)
	idt, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("auth: bearer token: %w", err)
	}
	s := &Session{CreatedAt: idt.IssuedAt, ExpiresAt: idt.Expiry}
	if err := a.fill(idt, s); err != nil {
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
