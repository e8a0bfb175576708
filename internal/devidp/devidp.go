package devidp

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is a demo user the sign-in page offers. ID is the subject ("sub") of
// the tokens issued for the user.
type User struct {
	ID     string
	Email  string
	Name   string
	Groups []string
}

// Client is an OAuth 2.0 client (relying party) registered with the
// provider. A client with a Secret authenticates at the token endpoint with
// client_secret_basic or client_secret_post; a client without one is a
// public client and must use PKCE (which every client must anyway).
// RedirectURIs are compared exactly.
type Client struct {
	ID           string
	Secret       string
	RedirectURIs []string
	// PostLogoutRedirectURIs are where /end_session may send the browser
	// back (post_logout_redirect_uri, compared exactly). Optional: without a
	// registered one, /end_session ends on the provider's "signed out" page.
	PostLogoutRedirectURIs []string
}

// String prints the client without its secret.
func (c Client) String() string {
	return fmt.Sprintf("{ID:%s Secret:%s RedirectURIs:%v PostLogoutRedirectURIs:%v}", c.ID, redact(c.Secret), c.RedirectURIs, c.PostLogoutRedirectURIs)
}

// LogValue logs the client without its secret.
func (c Client) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", c.ID),
		slog.String("secret", redact(c.Secret)),
		slog.Any("redirect_uris", c.RedirectURIs),
		slog.Any("post_logout_redirect_uris", c.PostLogoutRedirectURIs),
	)
}

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "REDACTED"
}

// Config configures New.
type Config struct {
	// Issuer is the provider's issuer URL, exactly as the relying parties
	// configure it, e.g. "http://127.0.0.1:8081" or
	// "http://127.0.0.1:8080/.dev-idp". No query, no fragment.
	Issuer string
	// Clients are the registered relying parties; at least one.
	Clients []Client
	// Users are the demo users offered on the sign-in page; DemoUsers() when
	// empty.
	Users []User
	// Insecure must be true: New refuses to start otherwise. It acknowledges
	// that this provider signs anyone in as any demo user, over plain HTTP.
	Insecure bool
	// AllowNonLoopback lets the issuer's host be something other than
	// localhost or a loopback address (e.g. a container name in a local
	// compose setup). Off by default.
	AllowNonLoopback bool
	// Logger receives sign-in events (user and client, never tokens);
	// slog.Default() when nil. The zitadel library itself logs through
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock for auth request, code and token expiry;
	// time.Now when nil. The library stamps iat/exp of ID tokens with
	// time.Now regardless.
	Now func() time.Time
}

// Lifetimes of what the provider issues.
const (
	AuthRequestLifetime  = 10 * time.Minute
	CodeLifetime         = time.Minute
	AccessTokenLifetime  = time.Hour
	IDTokenLifetime      = time.Hour
	RefreshTokenLifetime = 24 * time.Hour
)

const (
	loginPath     = "/login"
	loggedOutPath = "/logged-out"
)

// DemoUsers returns the default demo users: a support agent, an on-call
// engineer and a contractor. Each call returns a fresh copy.
func DemoUsers() []User {
	return []User{
		{ID: "dev-support", Email: "support@dev.example", Name: "Sam Support", Groups: []string{"support"}},
		{ID: "dev-oncall", Email: "oncall@dev.example", Name: "Olive Oncall", Groups: []string{"engineering", "oncall"}},
		{ID: "dev-contractor", Email: "contractor@contractors.example", Name: "Casey Contractor", Groups: []string{"contractors"}},
		{ID: "dev-lead", Email: "lead@dev.example", Name: "Lee Lead", Groups: []string{"engineering", "security"}},
	}
}

// Provider is the development OpenID provider. It implements http.Handler:
// discovery (/.well-known/openid-configuration), /authorize, /login (the
// sign-in page), /oauth/token, /keys, /userinfo, /oauth/introspect, /revoke,
// /end_session, /healthz and /ready, all under the issuer's path.
type Provider struct {
	handler http.Handler
	store   *storage
	issuer  string
	prefix  string
	users   []User
	logger  *slog.Logger
	op      *op.Provider
}

// New validates cfg and builds the provider. It generates the RSA signing key
// and the access token encryption key; it starts no goroutine and opens no
// listener.
func New(cfg Config) (*Provider, error) {
	return newProvider(cfg, nil)
}

// newProvider is New with a given signing key (nil: generate one); tests share
// one key because RSA key generation dominates their run time.
func newProvider(cfg Config, key *rsa.PrivateKey) (*Provider, error) {
	if !cfg.Insecure {
		return nil, errors.New("devidp: Config.Insecure must be true: the development provider signs anyone in as any demo user over plain HTTP and must never run in production; got false")
	}
	users := make([]User, 0, len(cfg.Users))
	for _, u := range cfg.Users { // a copy: the caller may reuse its slices
		u.Groups = slices.Clone(u.Groups)
		users = append(users, u)
	}
	if len(users) == 0 {
		users = DemoUsers()
	}
	issuerURL, err := validate(cfg, users)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if key == nil {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("devidp: generate signing key: %w", err)
		}
	}
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return nil, fmt.Errorf("devidp: generate token encryption key: %w", err)
	}
	keyID, err := randomID()
	if err != nil {
		return nil, err
	}

	prefix := strings.TrimSuffix(issuerURL.EscapedPath(), "/")
	store := newStorage(storageConfig{
		now:      now,
		users:    users,
		clients:  cfg.Clients,
		key:      key,
		keyID:    keyID,
		loginURL: func(id string) string { return prefix + loginPath + "?authRequestID=" + url.QueryEscape(id) },
	})

	opConfig := &op.Config{
		CryptoKey:                cryptoKey,
		CryptoKeyId:              "devidp-" + keyID[:8],
		DefaultLogoutRedirectURI: prefix + loggedOutPath,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedClaims:          append(append([]string(nil), op.DefaultSupportedClaims...), groupsClaim),
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess, groupsClaim},
	}
	provider, err := op.NewProvider(opConfig, store, op.StaticIssuer(cfg.Issuer), op.WithAllowInsecure())
	if err != nil {
		return nil, fmt.Errorf("devidp: build provider for issuer %q: %w", cfg.Issuer, err)
	}

	p := &Provider{
		store:  store,
		issuer: cfg.Issuer,
		prefix: prefix,
		users:  users,
		logger: logger,
		op:     provider,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+loginPath, p.loginPage)
	mux.HandleFunc("POST "+loginPath, p.loginSubmit)
	mux.HandleFunc("GET "+loggedOutPath, p.loggedOut)
	mux.Handle("/", provider)
	var h http.Handler = mux
	if prefix != "" {
		h = http.StripPrefix(prefix, h)
	}
	p.handler = h
	logger.Warn("devidp: development OpenID provider enabled: anyone who reaches it can sign in as any demo user; never use it in production",
		"issuer", cfg.Issuer, "clients", len(cfg.Clients), "users", len(users))
	return p, nil
}

// ServeHTTP serves the provider's endpoints under the issuer's path.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.handler.ServeHTTP(w, r)
}

// Issuer returns the issuer URL, exactly as configured.
func (p *Provider) Issuer() string { return p.issuer }

// Close forgets every auth request, code and token; requests that need them
// fail afterwards. It does not stop any listener (the caller owns it).
// Close is idempotent.
func (p *Provider) Close() error {
	p.store.close()
	return nil
}

func validate(cfg Config, users []User) (*url.URL, error) {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	u, err := url.Parse(cfg.Issuer)
	switch {
	case cfg.Issuer == "":
		add("issuer: expected an absolute http(s) URL, got empty")
	case err != nil:
		add("issuer: expected an absolute http(s) URL, got %q: %v", cfg.Issuer, err)
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		add("issuer: expected an absolute http(s) URL with a host, got %q", cfg.Issuer)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		add("issuer: expected no query, fragment or user info, got %q", cfg.Issuer)
	case !cfg.AllowNonLoopback && !isLoopbackHost(u.Hostname()):
		add("issuer: expected a loopback host (localhost, 127.0.0.0/8, ::1) unless AllowNonLoopback is set, got %q", u.Hostname())
	}

	if len(cfg.Clients) == 0 {
		add("clients: expected at least one client, got none")
	}
	clientIDs := map[string]bool{}
	for i, c := range cfg.Clients {
		switch {
		case c.ID == "":
			add("clients[%d].id: expected a non-empty ID", i)
		case clientIDs[c.ID]:
			add("clients[%d].id: duplicate client ID %q", i, c.ID)
		}
		clientIDs[c.ID] = true
		if len(c.RedirectURIs) == 0 {
			add("clients[%d].redirect_uris: expected at least one redirect URI, got none", i)
		}
		for j, ru := range c.RedirectURIs {
			if !isAbsoluteHTTPURL(ru) {
				add("clients[%d].redirect_uris[%d]: expected an absolute http(s) URL without fragment, got %q", i, j, ru)
			}
		}
		for j, ru := range c.PostLogoutRedirectURIs {
			if !isAbsoluteHTTPURL(ru) {
				add("clients[%d].post_logout_redirect_uris[%d]: expected an absolute http(s) URL without fragment, got %q", i, j, ru)
			}
		}
	}

	userIDs := map[string]bool{}
	for i, usr := range users {
		switch {
		case usr.ID == "":
			add("users[%d].id: expected a non-empty ID", i)
		case userIDs[usr.ID]:
			add("users[%d].id: duplicate user ID %q", i, usr.ID)
		}
		userIDs[usr.ID] = true
		if addr, err := mail.ParseAddress(usr.Email); err != nil || addr.Address != usr.Email || addr.Name != "" {
			add("users[%d].email: expected a bare address like name@example.com, got %q", i, usr.Email)
		}
		if strings.TrimSpace(usr.Name) == "" {
			add("users[%d].name: expected a non-empty name", i)
		}
		for j, g := range usr.Groups {
			if strings.TrimSpace(g) == "" || g != strings.TrimSpace(g) {
				add("users[%d].groups[%d]: expected a non-empty group without surrounding spaces, got %q", i, j, g)
			}
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("devidp: invalid config: %s", strings.Join(problems, "; "))
	}
	return u, nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isAbsoluteHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Fragment == "" && u.User == nil
}
