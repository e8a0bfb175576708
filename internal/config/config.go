// Package config holds the gateway's YAML configuration: its types, strict
// decoding (unknown keys are errors), ${ENV} substitution, defaults in one
// place (applyDefaults) and Validate, which reports every problem with its
// field path ("routes[2].upstream: ...").
//
// Load never has side effects: it reads the file and the environment and
// returns a *Config or an error listing all problems. Building the running
// gateway from a Config is the server package's job.
package config

import (
	"net/netip"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/proxy"
	"github.com/accessgateway/gateway/internal/route"
	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/token"
	"github.com/accessgateway/gateway/internal/tracing"
)

// Config is the whole gateway configuration.
type Config struct {
	// PublicURL is the gateway's own URL: the OIDC callback lives under it
	// and it is the context token's issuer.
	PublicURL string         `yaml:"public_url"`
	Listen    ListenConfig   `yaml:"listen"`
	Admin     AdminConfig    `yaml:"admin"`
	OIDC      OIDCConfig     `yaml:"oidc"`
	Session   SessionConfig  `yaml:"session"`
	Audit     AuditConfig    `yaml:"audit"`
	Log       LogConfig      `yaml:"log"`
	Templates TemplateConfig `yaml:"templates"`
	// Tracing exports OpenTelemetry spans of the request path over OTLP;
	// absent: no tracing (and no cost).
	Tracing *tracing.Config `yaml:"tracing"`
	// Token is the signed context token sent upstream. Required outside
	// `gateway dev`, which generates a key at start when it is absent.
	Token *token.Config `yaml:"token"`
	// TrustedProxies are the CIDRs of load balancers whose X-Forwarded-*
	// headers are believed. Empty means no client is trusted.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ForwardAuth lets an existing ingress or service mesh ask the gateway
	// for decisions instead of proxying through it (docs/forward-auth.md).
	ForwardAuth ForwardAuthConfig `yaml:"forward_auth"`
	// StripHeaders changes the list of identity headers of other proxies
	// that are deleted from every forwarded request (StripHeaderNames).
	StripHeaders StripHeadersConfig `yaml:"strip_headers"`
	Routes       []Route            `yaml:"routes"`
	// Tests are policy tests run by `gateway check`.
	Tests []PolicyTest `yaml:"tests"`

	// sections are the requirement kinds' top-level sections (devices:,
	// justification:, schedules:, ...), decoded by Load, by kind name.
	sections map[string]any

	// Derived by Validate; not read from YAML.
	trustedNets []netip.Prefix
	// dir is the directory of the file, for relative paths.
	dir string
	// Dev is set only by `gateway dev`; it allows insecure settings.
	Dev bool `yaml:"-"`
	// warnings are what Validate accepted but an operator should know.
	warnings []string
	// emptied are the rule fields, deny lists and require sections the file
	// has but left empty (null, [] or {}), by path, with what was found:
	// YAML decodes them like absent ones, so Load notes them for Validate.
	emptied map[string]string
}

// ListenConfig is the public listener.
type ListenConfig struct {
	Address string `yaml:"address"`
	// TLS terminates TLS in the gateway. Without it the gateway serves plain
	// HTTP and must sit behind a TLS-terminating load balancer.
	TLS *TLSConfig `yaml:"tls"`
	// ReadHeaderTimeout and friends bound slow clients.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	// ShutdownGrace is how long `gateway serve` waits, after SIGTERM or
	// SIGINT, for requests in flight to finish before it closes their
	// connections. New connections are refused at once.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// ClientCertHeader names the header in which a TLS-terminating load
	// balancer passes the client's certificate (URL-escaped PEM, as nginx's
	// $ssl_client_escaped_cert). It is read only from trusted_proxies peers
	// and stripped from every other request.
	ClientCertHeader string `yaml:"client_cert_header"`
}

// ForwardAuthConfig is forward-auth mode: nginx auth_request, Traefik
// ForwardAuth, Caddy forward_auth and Envoy ext_authz (HTTP and gRPC) ask
// the gateway for the decision about a request they then forward
// themselves. Only peers in trusted_proxies are answered.
type ForwardAuthConfig struct {
	// Enabled serves the check endpoints under /.gateway/auth on the public
	// listener and the sign-in start endpoint /.gateway/sign-in.
	Enabled bool `yaml:"enabled"`
	// GRPCAddress, when set, is the host:port of a listener for Envoy's
	// ext_authz gRPC service (envoy.service.auth.v3.Authorization). It
	// applies at start only. Plain gRPC (h2c): keep it on a private
	// network, reachable by the mesh's proxies only.
	GRPCAddress string `yaml:"grpc_address"`
}

// StripHeadersConfig adds to, or replaces, proxy.DefaultStripHeaders: the
// identity, client-address and scheme headers of other proxies that no
// upstream may receive from a client. Entries are header names, or prefixes
// ending in '*'; they match in every letter case and with '_' or '.' for
// '-'. The gateway's own namespace (X-Gateway-*), the forwarding,
// path-override and method-override headers are always deleted, whatever
// this says.
type StripHeadersConfig struct {
	// Add extends the default list.
	Add []string `yaml:"add"`
	// Replace, when set, is the whole list instead of the default (Add is
	// then refused: list everything in Replace).
	Replace []string `yaml:"replace"`
}

// TLSConfig names the certificate and key files of a TLS listener.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// AdminConfig is the admin listener (health, readiness, metrics, JWKS).
type AdminConfig struct {
	Address string `yaml:"address"`
}

// OIDCConfig is the identity provider.
type OIDCConfig struct {
	Issuer       string   `yaml:"issuer"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`
	// GroupsClaim names the claim that holds the user's groups: a claim name
	// or a dotted path into nested objects ("realm_access.roles").
	GroupsClaim string `yaml:"groups_claim"`
	// UserInfo is when to ask the provider's UserInfo endpoint for claims:
	// auto (when the ID token lacks the email or the groups claim), always
	// or never.
	UserInfo string `yaml:"userinfo"`
	// RequireVerifiedEmail refuses ID tokens whose email_verified is false.
	RequireVerifiedEmail *bool `yaml:"require_verified_email"`
	// RefreshInterval is how often a session's tokens are refreshed when the
	// IdP issued a refresh token and no access-token expiry says otherwise.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// CAFile is a PEM file of CA certificates trusted, beside the system's,
	// for the provider's TLS certificate (a provider behind a private CA).
	CAFile string `yaml:"ca_file"`
	// EndProviderSession makes sign-out continue at the provider's
	// end_session_endpoint (RP-initiated logout), when it advertises one.
	EndProviderSession *bool `yaml:"end_provider_session"`
	// PostLogoutRedirectURL is where the provider sends the browser after
	// its sign-out; it must be registered at the provider.
	PostLogoutRedirectURL string `yaml:"post_logout_redirect_url"`
}

// SessionConfig says where sessions live and how the cookie looks.
type SessionConfig struct {
	Store        string             `yaml:"store"` // memory | redis
	Redis        *store.RedisConfig `yaml:"redis"`
	Lifetime     time.Duration      `yaml:"lifetime"`
	CookieName   string             `yaml:"cookie_name"`
	CookieDomain string             `yaml:"cookie_domain"`
	// EncryptionKeys seal the refresh and ID tokens a session keeps in the
	// store (AES-256-GCM). Required with store: redis outside gateway dev;
	// without them the gateway uses a key that lives as long as the process.
	EncryptionKeys []auth.KeyConfig `yaml:"encryption_keys"`
}

// AuditConfig is the audit log: where records go, fsync, signed
// checkpoints, rotation, an optional Redis stream (see docs/audit.md).
type AuditConfig struct {
	audit.Options `yaml:",inline"`
}

// LogConfig sets the operational log.
type LogConfig struct {
	Format string `yaml:"format"` // json | text
	Level  string `yaml:"level"`  // debug | info | warn | error
}

// TemplateConfig lets operators override the embedded pages.
type TemplateConfig struct {
	Dir string `yaml:"dir"`
}

// Route maps a host and path to an upstream, with the rules that guard it.
type Route struct {
	Name string `yaml:"name"`
	// Title is the tool's display name on the gateway's pages; default Name.
	Title string `yaml:"title"`
	// Owner is who to ask for access (an email address, a URL or a team
	// name); deny pages show it.
	Owner string `yaml:"owner"`
	Host  string `yaml:"host"`
	// Path is a prefix on segment boundaries ("/admin" matches "/admin" and
	// "/admin/x", not "/administrator") or a template with variables
	// ("/customers/{customer_id}", "{id:[0-9]+}"). Empty means "/".
	Path string `yaml:"path"`
	// Exact makes Path match only itself, not the paths below it.
	Exact bool `yaml:"exact"`
	// PathCase is how the upstream compares paths: "sensitive" (the
	// default) or "insensitive" (Express and Koa by default, ASP.NET Core):
	// an insensitive route matches, and its rules judge, "/Customers/43" as
	// "/customers/{id}". Whatever it says, a path that a case-insensitive or
	// a Servlet upstream would read as another route is refused with 400.
	PathCase string `yaml:"path_case"`
	// FormatSuffix says the upstream reads a trailing ".ext" of the last
	// segment as a response format, the way Rails' "(.:format)" does
	// ("/customers/43.json" is customer 43): then a path that would be
	// another route or other path variables without its suffix is refused
	// with 400, for every path of the route's host.
	FormatSuffix bool `yaml:"format_suffix"`
	// Upgrades are the protocols a request may upgrade the connection to
	// (Upgrade header, 101 response); default [websocket]; [] allows none.
	// h2c can never be allowed.
	Upgrades []string `yaml:"upgrades"`
	// Upstream is the http or https URL requests are proxied to.
	Upstream       string `yaml:"upstream"`
	UpstreamCAFile string `yaml:"upstream_ca_file"`
	// UpstreamTimeout is how long the gateway waits for the upstream's
	// response headers once the request is sent (default 60s; 0 waits as
	// long as the client does). A body may take as long as it takes
	// (streams, downloads). When it passes, the client gets a 504 page.
	UpstreamTimeout *time.Duration `yaml:"upstream_timeout"`
	// RecheckInterval is how often an exchange still open (a stream, a
	// WebSocket, a long download) has its access decided again; when the
	// decision is a denial (a sign-out, a revoked device or grant, a
	// closed ticket, a tightened rule) the exchange is ended. Default 30s.
	RecheckInterval *time.Duration `yaml:"recheck_interval"`
	// MethodOverrideBodyLimit is how much of a POST's body the gateway
	// reads to find a _method it names (Rails, Laravel and Symfony execute
	// the POST as that method), on routes whose rules list methods: bytes,
	// default 1 MiB. A body larger, or one the gateway cannot parse, is
	// judged as if it named every method. 0 reads none (every such POST
	// with a body is judged so).
	MethodOverrideBodyLimit *int64 `yaml:"method_override_body_limit"`
	// BodyMethodOverride says the tool may execute a POST as the method a
	// _method in its body names (default true: Rails, Laravel, Symfony do).
	// false for tools that do not: their bodies are never read for it.
	BodyMethodOverride *bool `yaml:"body_method_override"`
	// PreserveHost sends the client's Host header upstream instead of the
	// upstream's host.
	PreserveHost bool `yaml:"preserve_host"`
	// AllowBearer lets non-browser clients authenticate with an ID token
	// from the same IdP in "Authorization: Bearer".
	AllowBearer bool `yaml:"allow_bearer"`
	// Audience is the context token's aud for this route; default the
	// upstream's origin (scheme://host[:port]).
	Audience string `yaml:"audience"`
	// TokenGroups, when set, limits the groups claim to these groups, so big
	// group lists do not bloat the header.
	TokenGroups []string `yaml:"token_groups"`
	// Public routes need no sign-in and no rule; use with care.
	Public bool `yaml:"public"`
	// Rules decide who may use the route; Require adds evidence it needs:
	// one section per requirement kind (device, justification, ...), each
	// decoded by its kind.
	Rules   policy.Rules `yaml:"rules"`
	Require Requirements `yaml:"require"`

	// specs are the decoded require sections by kind name (Load);
	// requires are the compiled requirements in checking order (Validate).
	specs    map[string]any
	requires []policy.Requirement
}

// Requirements is a route's require: section, kept undecoded until each
// requirement kind decodes its own part.
type Requirements map[string]*Node

// Node is a YAML value kept undecoded for its requirement kind.
type Node struct{ node ast.Node }

// UnmarshalYAML keeps the node (goccy/go-yaml's NodeUnmarshaler).
func (n *Node) UnmarshalYAML(node ast.Node) error { n.node = node; return nil }

// Requirements returns the route's compiled requirements in checking order
// (after Validate).
func (r *Route) Requirements() []policy.Requirement { return r.requires }

// Spec returns the route's decoded require section of kind, or nil.
func (r *Route) Spec(kind string) any { return r.specs[kind] }

// Section returns the decoded top-level section of the requirement kind
// named kind (devices: for "device"), or nil when the file has none.
func (c *Config) Section(kind string) any { return c.sections[kind] }

// PolicyTest is a what-if that `gateway check` evaluates.
type PolicyTest struct {
	Name   string   `yaml:"name"`
	User   TestUser `yaml:"user"`
	Route  string   `yaml:"route"`
	URL    string   `yaml:"url"`
	Path   string   `yaml:"path"`
	Method string   `yaml:"method"`
	Source string   `yaml:"source_ip"`
	Time   string   `yaml:"time"`
	Expect string   `yaml:"expect"` // allow | deny
	Reason []string `yaml:"reasons"`

	// assume holds the facts the test assumes for requirement kinds, by
	// kind name: a test's device:, justification: ... keys, decoded by Load.
	assume map[string]any
}

// Assumptions returns the test's assumed facts by requirement kind name.
func (t *PolicyTest) Assumptions() map[string]any { return t.assume }

// TestUser is the identity a policy test runs as.
type TestUser struct {
	Email  string              `yaml:"email"`
	Groups []string            `yaml:"groups"`
	Claims map[string][]string `yaml:"claims"`
}

// Warnings are what validation accepted but an operator should know (e.g. a
// plain-http issuer on a loopback host). Serve logs them; check prints them.
func (c *Config) Warnings() []string { return c.warnings }

// Path case settings (routes[].path_case).
const (
	PathCaseSensitive   = "sensitive"
	PathCaseInsensitive = "insensitive"
)

// RouteOptions are the route table settings of r.
func (r *Route) RouteOptions() route.Options {
	return route.Options{Exact: r.Exact, CaseInsensitive: r.PathCase == PathCaseInsensitive, FormatSuffix: r.FormatSuffix}
}

// DefaultUpstreamTimeout is routes[].upstream_timeout when unset.
const DefaultUpstreamTimeout = 60 * time.Second

// DefaultMethodOverrideBodyLimit is routes[].method_override_body_limit
// when unset.
const DefaultMethodOverrideBodyLimit = 1 << 20

// MaxMethodOverrideBodyLimit bounds routes[].method_override_body_limit:
// the body is held in memory while the gateway reads it.
const MaxMethodOverrideBodyLimit = 64 << 20

// DefaultRecheckInterval is routes[].recheck_interval when unset.
const DefaultRecheckInterval = 30 * time.Second

// StripHeaderNames is the list of identity headers of other proxies deleted
// from forwarded requests: strip_headers.replace when set, else
// proxy.DefaultStripHeaders plus strip_headers.add.
func (c *Config) StripHeaderNames() []string {
	if c.StripHeaders.Replace != nil {
		return append([]string(nil), c.StripHeaders.Replace...)
	}
	return append(append([]string(nil), proxy.DefaultStripHeaders...), c.StripHeaders.Add...)
}

// TrustedNets returns the parsed trusted proxy prefixes (after Validate).
func (c *Config) TrustedNets() []netip.Prefix { return c.trustedNets }

// Dir is the directory of the configuration file ("" when not loaded from a
// file); relative paths in the file (key files) are resolved against it.
func (c *Config) Dir() string { return c.dir }
