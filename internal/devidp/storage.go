package devidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// groupsClaim is the ID token and userinfo claim that lists the user's groups.
const groupsClaim = "groups"

// Errors of the sign-in step, for the login page to choose its message.
var (
	errUnknownAuthRequest = errors.New("devidp: unknown or expired sign-in request")
	errAuthRequestDone    = errors.New("devidp: sign-in request already completed")
	errUnknownUser        = errors.New("devidp: unknown demo user")
	errClosed             = errors.New("devidp: provider closed")
)

var (
	_ op.Storage                   = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*storage)(nil)
	_ op.AuthRequest               = (*authRequest)(nil)
	_ op.RefreshTokenRequest       = (*refreshRequest)(nil)
	_ op.Client                    = (*client)(nil)
)

type storageConfig struct {
	now      func() time.Time
	users    []User
	clients  []Client
	key      *rsa.PrivateKey
	keyID    string
	loginURL func(authRequestID string) string
}

// storage is the in-memory op.Storage. Every method takes mu; values handed
// to the library are copies, so the library never shares memory with the
// maps.
type storage struct {
	now      func() time.Time
	users    map[string]User
	clients  map[string]*client
	key      *rsa.PrivateKey
	keyID    string
	loginURL func(string) string

	mu            sync.Mutex
	closed        bool
	authRequests  map[string]*authRequest
	codes         map[string]codeEntry
	accessTokens  map[string]*accessToken
	refreshTokens map[string]*refreshToken
}

type codeEntry struct {
	authRequestID string
	expires       time.Time
}

type accessToken struct {
	id             string
	clientID       string
	subject        string
	audience       []string
	scopes         []string
	refreshTokenID string
	expires        time.Time
}

type refreshToken struct {
	token         string
	clientID      string
	subject       string
	audience      []string
	scopes        []string
	amr           []string
	authTime      time.Time
	accessTokenID string
	expires       time.Time
}

func newStorage(cfg storageConfig) *storage {
	s := &storage{
		now:           cfg.now,
		users:         make(map[string]User, len(cfg.users)),
		clients:       make(map[string]*client, len(cfg.clients)),
		key:           cfg.key,
		keyID:         cfg.keyID,
		loginURL:      cfg.loginURL,
		authRequests:  map[string]*authRequest{},
		codes:         map[string]codeEntry{},
		accessTokens:  map[string]*accessToken{},
		refreshTokens: map[string]*refreshToken{},
	}
	for _, u := range cfg.users {
		u.Groups = slices.Clone(u.Groups)
		s.users[u.ID] = u
	}
	for _, c := range cfg.clients {
		s.clients[c.ID] = &client{
			id:           c.ID,
			secret:       c.Secret,
			redirectURIs: slices.Clone(c.RedirectURIs),
			postLogout:   slices.Clone(c.PostLogoutRedirectURIs),
			loginURL:     cfg.loginURL,
		}
	}
	return s
}

func (s *storage) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	clear(s.authRequests)
	clear(s.codes)
	clear(s.accessTokens)
	clear(s.refreshTokens)
}

func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("devidp: random ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// pruneLocked drops expired auth requests, codes and tokens so the maps stay
// bounded. mu must be held.
func (s *storage) pruneLocked(now time.Time) {
	for id, r := range s.authRequests {
		if !now.Before(r.created.Add(AuthRequestLifetime)) {
			delete(s.authRequests, id)
		}
	}
	for c, e := range s.codes {
		if !now.Before(e.expires) {
			delete(s.codes, c)
		}
	}
	for id, t := range s.accessTokens {
		if !now.Before(t.expires) {
			delete(s.accessTokens, id)
		}
	}
	for id, t := range s.refreshTokens {
		if !now.Before(t.expires) {
			delete(s.refreshTokens, id)
		}
	}
}

// ---- the sign-in step (used by the login page, not by the library) ----

// pendingAuthRequest returns a copy of the auth request id if it exists, has
// not expired and is not yet completed.
func (s *storage) pendingAuthRequest(id string) (authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.liveAuthRequestLocked(id)
	if err != nil {
		return authRequest{}, err
	}
	if r.done {
		return authRequest{}, errAuthRequestDone
	}
	return r.snapshot(), nil
}

// completeLogin marks the auth request id as signed in by userID. It refuses
// an unknown, expired or already completed request and an unknown user, and
// then changes nothing.
func (s *storage) completeLogin(id, userID string) (User, authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.liveAuthRequestLocked(id)
	if err != nil {
		return User{}, authRequest{}, err
	}
	if r.done {
		return User{}, authRequest{}, errAuthRequestDone
	}
	u, ok := s.users[userID]
	if !ok {
		return User{}, authRequest{}, errUnknownUser
	}
	r.userID = u.ID
	r.done = true
	r.authTime = s.now()
	return u, r.snapshot(), nil
}

func (s *storage) liveAuthRequestLocked(id string) (*authRequest, error) {
	if s.closed {
		return nil, errClosed
	}
	r, ok := s.authRequests[id]
	if !ok || id == "" {
		return nil, errUnknownAuthRequest
	}
	if !s.now().Before(r.created.Add(AuthRequestLifetime)) {
		delete(s.authRequests, id)
		return nil, errUnknownAuthRequest
	}
	return r, nil
}

// ---- op.AuthStorage ----

// CreateAuthRequest stores a validated authorization request. Beyond the
// library's validation it requires the openid scope and PKCE with S256, and
// adds offline_access so a refresh token is always issued. The user ID from
// an id_token_hint is ignored: the person always picks a user.
func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if len(req.Prompt) == 1 && req.Prompt[0] == oidc.PromptNone {
		return nil, oidc.ErrLoginRequired().WithDescription("devidp: prompt=none cannot be satisfied: the development provider keeps no sign-in session")
	}
	if !slices.Contains(req.Scopes, oidc.ScopeOpenID) {
		return nil, oidc.ErrInvalidScope().WithDescription("devidp: expected scope to contain %q, got %q", oidc.ScopeOpenID, req.Scopes)
	}
	if req.CodeChallenge == "" || req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("devidp: expected PKCE with code_challenge_method S256, got code_challenge_method %q and %d-byte code_challenge", req.CodeChallengeMethod, len(req.CodeChallenge))
	}
	if req.ResponseType != oidc.ResponseTypeCode {
		return nil, oidc.ErrInvalidRequest().WithDescription("devidp: expected response_type %q, got %q", oidc.ResponseTypeCode, req.ResponseType)
	}
	id, err := randomID()
	if err != nil {
		return nil, err
	}
	scopes := slices.Clone(req.Scopes)
	if !slices.Contains(scopes, oidc.ScopeOfflineAccess) {
		scopes = append(scopes, oidc.ScopeOfflineAccess)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	now := s.now()
	s.pruneLocked(now)
	r := &authRequest{
		id:           id,
		created:      now,
		clientID:     req.ClientID,
		redirectURI:  req.RedirectURI,
		state:        req.State,
		nonce:        req.Nonce,
		scopes:       scopes,
		responseType: req.ResponseType,
		responseMode: req.ResponseMode,
		codeChallenge: &oidc.CodeChallenge{
			Challenge: req.CodeChallenge,
			Method:    req.CodeChallengeMethod,
		},
	}
	s.authRequests[id] = r
	snap := r.snapshot()
	return &snap, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.liveAuthRequestLocked(id)
	if err != nil {
		return nil, err
	}
	snap := r.snapshot()
	return &snap, nil
}

// AuthRequestByCode consumes the code: a code is looked up once, whether the
// exchange that looks it up succeeds or not.
func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	e, ok := s.codes[code]
	delete(s.codes, code)
	if !ok || !s.now().Before(e.expires) {
		return nil, errors.New("devidp: authorization code unknown, used or expired")
	}
	r, err := s.liveAuthRequestLocked(e.authRequestID)
	if err != nil {
		return nil, err
	}
	if !r.done {
		return nil, errors.New("devidp: authorization code for a request that is not signed in")
	}
	snap := r.snapshot()
	return &snap, nil
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.liveAuthRequestLocked(id)
	if err != nil {
		return err
	}
	if !r.done {
		return errors.New("devidp: refusing a code for a request that is not signed in")
	}
	s.codes[code] = codeEntry{authRequestID: id, expires: s.now().Add(CodeLifetime)}
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.authRequests, id)
	for c, e := range s.codes {
		if e.authRequestID == id {
			delete(s.codes, c)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	clientID, err := tokenRequestClient(req)
	if err != nil {
		return "", time.Time{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", time.Time{}, errClosed
	}
	t, err := s.newAccessTokenLocked(clientID, req, "")
	if err != nil {
		return "", time.Time{}, err
	}
	return t.id, t.expires, nil
}

// CreateAccessAndRefreshTokens issues a new access token and refresh token.
// With a currentRefreshToken (the refresh grant) it rotates: the current
// refresh token and the access token issued with it stop working.
func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, req op.TokenRequest, currentRefreshToken string) (string, string, time.Time, error) {
	clientID, err := tokenRequestClient(req)
	if err != nil {
		return "", "", time.Time{}, err
	}
	newRefresh, err := randomID()
	if err != nil {
		return "", "", time.Time{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", "", time.Time{}, errClosed
	}
	now := s.now()
	rt := &refreshToken{
		token:    newRefresh,
		clientID: clientID,
		subject:  req.GetSubject(),
		audience: slices.Clone(req.GetAudience()),
		scopes:   slices.Clone(req.GetScopes()),
		expires:  now.Add(RefreshTokenLifetime),
	}
	switch r := req.(type) {
	case *authRequest:
		rt.authTime, rt.amr = r.authTime, r.GetAMR()
	case *refreshRequest:
		rt.authTime, rt.amr = r.authTime, slices.Clone(r.amr)
	}
	if currentRefreshToken != "" {
		cur, ok := s.refreshTokens[currentRefreshToken]
		if !ok || !now.Before(cur.expires) || cur.clientID != clientID || cur.subject != req.GetSubject() {
			return "", "", time.Time{}, op.ErrInvalidRefreshToken
		}
		delete(s.refreshTokens, currentRefreshToken)
		delete(s.accessTokens, cur.accessTokenID)
	}
	at, err := s.newAccessTokenLocked(clientID, req, newRefresh)
	if err != nil {
		return "", "", time.Time{}, err
	}
	rt.accessTokenID = at.id
	s.refreshTokens[newRefresh] = rt
	return at.id, newRefresh, at.expires, nil
}

func (s *storage) newAccessTokenLocked(clientID string, req op.TokenRequest, refreshTokenID string) (*accessToken, error) {
	id, err := randomID()
	if err != nil {
		return nil, err
	}
	if _, ok := s.users[req.GetSubject()]; !ok {
		return nil, fmt.Errorf("devidp: token for unknown user %q", req.GetSubject())
	}
	t := &accessToken{
		id:             id,
		clientID:       clientID,
		subject:        req.GetSubject(),
		audience:       slices.Clone(req.GetAudience()),
		scopes:         slices.Clone(req.GetScopes()),
		refreshTokenID: refreshTokenID,
		expires:        s.now().Add(AccessTokenLifetime),
	}
	s.accessTokens[id] = t
	return t, nil
}

func tokenRequestClient(req op.TokenRequest) (string, error) {
	switch r := req.(type) {
	case *authRequest:
		return r.clientID, nil
	case *refreshRequest:
		return r.clientID, nil
	default:
		return "", fmt.Errorf("devidp: unsupported token request type %T", req)
	}
}

func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	rt, ok := s.refreshTokens[token]
	if !ok || !s.now().Before(rt.expires) {
		return nil, errors.New("devidp: refresh token unknown, used or expired")
	}
	return &refreshRequest{
		clientID: rt.clientID,
		subject:  rt.subject,
		audience: slices.Clone(rt.audience),
		scopes:   slices.Clone(rt.scopes),
		amr:      slices.Clone(rt.amr),
		authTime: rt.authTime,
	}, nil
}

func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.accessTokens {
		if t.subject == userID && t.clientID == clientID {
			delete(s.accessTokens, id)
		}
	}
	for id, t := range s.refreshTokens {
		if t.subject == userID && t.clientID == clientID {
			delete(s.refreshTokens, id)
		}
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(_ context.Context, clientID, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refreshTokens[token]
	if !ok || rt.clientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.subject, rt.token, nil
}

func (s *storage) RevokeToken(_ context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.accessTokens[tokenOrID]; ok {
		if at.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.accessTokens, tokenOrID)
		return nil
	}
	if rt, ok := s.refreshTokens[tokenOrID]; ok {
		if rt.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.refreshTokens, tokenOrID)
		delete(s.accessTokens, rt.accessTokenID)
	}
	// An unknown token is already "revoked" (RFC 7009 section 2.2).
	return nil
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{id: s.keyID, key: s.key}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{id: s.keyID, key: &s.key.PublicKey}}, nil
}

// ---- op.OPStorage ----

func (s *storage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	c, ok := s.clients[clientID]
	if !ok {
		return nil, fmt.Errorf("devidp: unknown client %q", clientID)
	}
	return c, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, clientID, secret string) error {
	c, ok := s.clients[clientID]
	if !ok {
		return fmt.Errorf("devidp: unknown client %q", clientID)
	}
	if c.secret == "" {
		return fmt.Errorf("devidp: client %q is public and has no secret", clientID)
	}
	if subtle.ConstantTimeCompare([]byte(c.secret), []byte(secret)) != 1 {
		return fmt.Errorf("devidp: wrong secret for client %q", clientID)
	}
	return nil
}

// SetUserinfoFromScopes is deprecated in the library; SetUserinfoFromRequest
// does the work.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's user claims.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, _ []string) error {
	return s.setUserinfo(info, req.GetSubject())
}

func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	s.mu.Lock()
	t, ok := s.accessTokens[tokenID]
	live := ok && s.now().Before(t.expires) && t.subject == subject
	s.mu.Unlock()
	if !live {
		return errors.New("devidp: access token unknown, revoked or expired")
	}
	return s.setUserinfo(info, subject)
}

func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	t, ok := s.accessTokens[tokenID]
	live := ok && s.now().Before(t.expires) && t.subject == subject && slices.Contains(t.audience, clientID)
	var scopes []string
	var expires time.Time
	var tokenClient string
	if live {
		scopes, expires, tokenClient = slices.Clone(t.scopes), t.expires, t.clientID
	}
	s.mu.Unlock()
	if !live {
		return errors.New("devidp: access token unknown, expired or not for this client")
	}
	info := new(oidc.UserInfo)
	if err := s.setUserinfo(info, subject); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Scope = scopes
	resp.ClientID = tokenClient
	resp.Expiration = oidc.FromTime(expires)
	return nil
}

// setUserinfo sets every claim the provider asserts, whatever the scopes:
// sub, name, email, email_verified and groups.
func (s *storage) setUserinfo(info *oidc.UserInfo, userID string) error {
	u, ok := s.users[userID]
	if !ok {
		return fmt.Errorf("devidp: unknown user %q", userID)
	}
	info.Subject = u.ID
	info.Name = u.Name
	info.Email = u.Email
	info.EmailVerified = oidc.Bool(true)
	info.AppendClaims(groupsClaim, slices.Clone(u.Groups))
	return nil
}

// GetPrivateClaimsFromScopes adds nothing: access tokens are opaque.
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID refuses: JWT client authentication is not supported.
func (s *storage) GetKeyByIDAndClientID(_ context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	return nil, fmt.Errorf("devidp: JWT client authentication is not supported (client %q, key %q)", clientID, keyID)
}

// ValidateJWTProfileScopes refuses: the JWT profile grant is not supported.
func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("devidp: the JWT profile grant is not supported")
}

func (s *storage) Health(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	return nil
}

// ---- the library's request and client types ----

// authRequest is a stored authorization request. The library gets copies.
type authRequest struct {
	id            string
	created       time.Time
	clientID      string
	redirectURI   string
	state         string
	nonce         string
	scopes        []string
	responseType  oidc.ResponseType
	responseMode  oidc.ResponseMode
	codeChallenge *oidc.CodeChallenge
	userID        string
	done          bool
	authTime      time.Time
}

func (r *authRequest) snapshot() authRequest {
	c := *r
	c.scopes = slices.Clone(r.scopes)
	if r.codeChallenge != nil {
		cc := *r.codeChallenge
		c.codeChallenge = &cc
	}
	return c
}

func (r *authRequest) GetID() string         { return r.id }
func (r *authRequest) GetACR() string        { return "" }
func (r *authRequest) GetAudience() []string { return []string{r.clientID} }
func (r *authRequest) GetAuthTime() time.Time {
	return r.authTime
}
func (r *authRequest) GetClientID() string                   { return r.clientID }
func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return r.codeChallenge }
func (r *authRequest) GetNonce() string                      { return r.nonce }
func (r *authRequest) GetRedirectURI() string                { return r.redirectURI }
func (r *authRequest) GetResponseType() oidc.ResponseType    { return r.responseType }
func (r *authRequest) GetResponseMode() oidc.ResponseMode    { return r.responseMode }
func (r *authRequest) GetScopes() []string                   { return r.scopes }
func (r *authRequest) GetState() string                      { return r.state }
func (r *authRequest) GetSubject() string                    { return r.userID }
func (r *authRequest) Done() bool                            { return r.done }

// GetAMR is empty: the development provider checks no authenticator.
func (r *authRequest) GetAMR() []string { return nil }

// refreshRequest is the data behind a refresh token, for the refresh grant.
type refreshRequest struct {
	clientID string
	subject  string
	audience []string
	scopes   []string
	amr      []string
	authTime time.Time
}

func (r *refreshRequest) GetAMR() []string             { return r.amr }
func (r *refreshRequest) GetAudience() []string        { return r.audience }
func (r *refreshRequest) GetAuthTime() time.Time       { return r.authTime }
func (r *refreshRequest) GetClientID() string          { return r.clientID }
func (r *refreshRequest) GetScopes() []string          { return r.scopes }
func (r *refreshRequest) GetSubject() string           { return r.subject }
func (r *refreshRequest) SetCurrentScopes(sc []string) { r.scopes = sc }

// client is a registered relying party. A client with a secret is a
// confidential web client (client_secret_basic or _post); one without is a
// public user-agent client (no client authentication, PKCE only).
type client struct {
	id           string
	secret       string
	redirectURIs []string
	postLogout   []string
	loginURL     func(string) string
}

func (c *client) GetID() string                    { return c.id }
func (c *client) RedirectURIs() []string           { return slices.Clone(c.redirectURIs) }
func (c *client) PostLogoutRedirectURIs() []string { return slices.Clone(c.postLogout) }
func (c *client) ApplicationType() op.ApplicationType {
	if c.secret == "" {
		return op.ApplicationTypeUserAgent
	}
	return op.ApplicationTypeWeb
}
func (c *client) AuthMethod() oidc.AuthMethod {
	if c.secret == "" {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c *client) LoginURL(id string) string            { return c.loginURL(id) }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration       { return IDTokenLifetime }
func (c *client) DevMode() bool                        { return true }
func (c *client) IsScopeAllowed(scope string) bool     { return scope == groupsClaim }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// signingKey and publicKey adapt the RSA key to the library.
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

type publicKey struct {
	id  string
	key *rsa.PublicKey
}

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.key }
