// Package requirement is the seam every requirement kind plugs into: device
// trust, justification, time windows and break-glass are each one package
// that implements Kind, and one line in package kinds registers them.
//
// A kind owns, for itself:
//
//   - its YAML: the route's routes[].require.<name> section (NewSpec,
//     Compile) and, if it has one, a top-level section (Sectioned), decoded
//     strictly by package config, with problems reported by field path;
//   - its pure check: Compile returns a policy.Requirement whose Check
//     judges gathered facts at an instant (policy.Decide calls it);
//   - its evidence gathering, the only I/O of a decision (Service.Gather);
//   - its context-token claim (Claimer), audit fields (Auditor), deny pages
//     (Pager) and reserved /.gateway/ endpoints (Mounter);
//   - its inputs to policy tests and `gateway explain` (Assumer).
//
// The server asks each kind for these through the interfaces below and
// never names a kind; see docs/architecture.md for the contract.
package requirement

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/gorilla/mux"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/proxy"
	"github.com/accessgateway/gateway/internal/store"
)

// Kind is one kind of evidence a route can require.
type Kind interface {
	// Name is the kind's key under routes[].require and in policy tests
	// ("device", "justification").
	Name() string
	// Reasons lists every reason the kind's checks and pages use; they are
	// registered in the one vocabulary of package policy.
	Reasons() []policy.Reason
	// NewSpec returns a pointer to a new zero value of the kind's
	// routes[].require.<name> section, for the strict YAML decoder.
	NewSpec() any
	// Compile checks one route's decoded spec against the kind's decoded
	// top-level section (nil when the file has none, or the kind has no
	// section) and returns the pure requirement, or problems whose paths
	// are relative to routes[i].require.<name>.
	Compile(spec any, section any, r Route) (policy.Requirement, []Problem)
	// NewService builds the kind's runtime for one configuration: evidence
	// gathering, endpoints and pages. It is called once per configuration
	// load, even when the file has no section for the kind (section nil),
	// and must do its expensive setup here, not on first request.
	NewService(section any, env Env) (Service, error)
}

// Route is what a kind may know of the route it compiles for.
type Route struct {
	Name string
	// Vars are the path variables of the route's path template
	// ("customer_id" for /customers/{customer_id}).
	Vars []string
}

// Problem is one configuration problem: Path is relative to the part being
// checked ("" for the part itself, ".max_age", "[2].id").
type Problem struct {
	Path, Msg string
}

// Problemf is a Problem with a formatted message.
func Problemf(path, format string, args ...any) Problem {
	return Problem{Path: path, Msg: sprintf(format, args...)}
}

// Sectioned is a kind with a top-level configuration section.
type Sectioned interface {
	// Section returns the section's top-level key ("devices") and a
	// pointer to a new zero value of it, for the strict YAML decoder.
	Section() (key string, v any)
	// SectionProblems validates a decoded section; paths are relative to
	// the section's key. It must have no side effects (it may read files).
	SectionProblems(section any) []Problem
	// ResolvePaths makes the section's relative file paths absolute
	// against dir, the configuration file's directory.
	ResolvePaths(section any, dir string)
}

// FileWatcher is a Sectioned kind whose section names files that, when they
// change, reload the configuration (the device inventory).
type FileWatcher interface {
	WatchFiles(section any) []string
}

// SectionWarner is a Sectioned kind whose section can be valid but likely
// not what the operator meant (a time zone whose sign reads backwards):
// the config's warnings, logged at start and reload and printed by
// `gateway check`, never a refusal.
type SectionWarner interface {
	SectionWarnings(section any) []Problem
}

// ProductionChecker is a Sectioned kind with problems that hold outside
// `gateway dev` only (the quickstart may leave out what production must
// have: break-glass announced to someone).
type ProductionChecker interface {
	ProductionProblems(section any) []Problem
}

// HeaderConsumer is a Sectioned kind that reads a request header of its
// own (the justification header in which API clients name a ticket). Such
// a header speaks to the gateway, never to the tool: whatever its name, the
// gateway strips it before forwarding (in every spelling, as strip_headers)
// and in forward-auth mode refuses a request that carries it where the
// ingress would pass it on.
type HeaderConsumer interface {
	ConsumedHeaders(section any) []string
}

// Assumer is a kind that policy tests and `gateway explain` can give facts
// to ("assume a device attested an hour ago", "a ticket that names customer
// 42"), so the decision can be explained without the kind's systems.
type Assumer interface {
	// NewAssumption returns a pointer to a new zero value of the kind's key
	// in a policy test (tests[].device), for the strict YAML decoder.
	NewAssumption() any
	// AssumptionProblems validates a decoded assumption; paths are
	// relative to the assumption's key.
	AssumptionProblems(assumption any) []Problem
	// Assume turns a decoded, valid assumption (nil: none given) into the
	// facts Check judges for req at now (in has the route's request and
	// identity).
	Assume(assumption any, req policy.Requirement, in *policy.Input, now time.Time) any
	// ExplainFlags registers the kind's `gateway explain` flags and returns
	// a function that yields the assumption they describe (nil: none).
	ExplainFlags(fs *flag.FlagSet) func() (any, error)
}

// Env is what a kind's service is built with.
type Env struct {
	Store  store.Store
	Logger *slog.Logger
	Now    func() time.Time
	// Audit writes an audit record; when ctx carries a request, the
	// request's fields (ID, host, path, client) are filled in.
	Audit func(ctx context.Context, rec audit.Record)
	// Commit writes an audit record and returns once it is written, or an
	// error: a kind that grants (break-glass) grants nothing without it.
	Commit func(ctx context.Context, rec audit.Record) error
	// ReadAudit calls each for the records of this replica's audit log whose
	// line contains one of anyOf (a cheap filter before decoding), oldest
	// first; nil when the log is not a file the gateway can read. It is
	// slow: for review pages, never on the request path.
	ReadAudit func(ctx context.Context, anyOf []string, each func(*audit.Record)) error
	// PublicURL is the gateway's own URL (scheme and host only); compare
	// its host with a request's through HostName.
	PublicURL string
	// Dev is set in `gateway dev`.
	Dev bool
	// AgentCommand replaces "gateway-agent" in the commands device pages
	// show (the quickstart shows the simulator's `go run` command).
	AgentCommand string
	// Prev is this kind's service in the configuration being replaced (nil
	// at start); a kind may hand state over from it.
	Prev Service
}

// Service is a kind's runtime for one configuration.
type Service interface {
	// Gather collects the facts for requirement req (compiled by this
	// kind) for one request. It is the only I/O of a decision and must
	// honour ctx. Nil facts mean "nothing found" (Check decides what that
	// means); an error means the facts could not be gathered, and the
	// request is denied as evidence-unavailable (fail closed).
	Gather(ctx context.Context, req policy.Requirement, r *Request) (any, error)
	// Close releases the service's resources.
	Close() error
}

// Request is what Gather and Page know of the request being decided.
type Request struct {
	// HTTP is the incoming request; read it, never modify it.
	HTTP *http.Request
	// ID is the gateway's request ID.
	ID string
	// Route is the name of the route that matched; Title its display name.
	Route, Title string
	// Identity is who is calling (never nil when Gather is called).
	Identity *policy.Identity
	// SessionID and Session are the browser session; empty and nil for
	// bearer-token requests.
	SessionID string
	Session   *auth.Session
	// Vars are the route's path variables, from the normalized path.
	Vars map[string]string
	// Path is the normalized path (what the upstream gets).
	Path string
	// ClientIP is the client's address (after trusted proxies).
	ClientIP netip.Addr
	// ClientCert is the client's certificate: the TLS peer's, or one a
	// trusted proxy passed in listen.client_cert_header; nil otherwise.
	ClientCert *x509.Certificate
	// Now is the instant of the decision.
	Now time.Time

	// prefKeys and prefVals are store values the server read ahead with the
	// session, in one round trip (Prefetcher); a nil value is absent.
	prefKeys []string
	prefVals [][]byte
}

// SetPrefetched records store values read ahead for Get (the server calls
// it; vals[i] is keys[i]'s value, nil when absent).
func (r *Request) SetPrefetched(keys []string, vals [][]byte) {
	r.prefKeys, r.prefVals = keys, vals
}

// Get returns key's value: the one read ahead with the session when the
// server prefetched it (store.ErrNotFound when it was absent then), else
// from st. Kinds read their per-request keys through it.
func (r *Request) Get(ctx context.Context, st store.Store, key string) ([]byte, error) {
	for i, k := range r.prefKeys {
		if k == key {
			if r.prefVals[i] == nil {
				return nil, store.ErrNotFound
			}
			return r.prefVals[i], nil
		}
	}
	return st.Get(ctx, key)
}

// Prefetcher is a service whose Gather reads store keys that can be named
// before the session is loaded — from the session ID (the cookie value),
// the route and its path variables. The server reads them together with the
// session in one round trip (store.MGet) and Gather finds them through
// Request.Get: with Redis, the steady path of a request is one round trip
// whatever the route requires.
type Prefetcher interface {
	// Prefetch appends the keys Gather will read for req to keys.
	Prefetch(req policy.Requirement, sessionID string, vars map[string]string, keys []string) []string
}

// Claimer is a service that puts its facts in the context token.
type Claimer interface {
	// Claim adds the kind's claim for facts that met the requirement.
	Claim(facts any, c *contexttoken.Claims)
}

// Auditor is a service that adds its facts to decision records.
type Auditor interface {
	Audit(facts any, rec *audit.Record)
}

// Pager is a service that renders the deny page of its reasons.
type Pager interface {
	// Page returns the page for reason (one of the kind's), or false to
	// let the gateway show its generic page. req is the route's
	// requirement of this kind and facts what the kind gathered for it
	// (nil when none).
	Page(ctx context.Context, reason policy.Reason, req policy.Requirement, facts any, r *Request, h Host) (Page, bool)
}

// Offerer is a service that offers a way out on the deny pages of other
// kinds' reasons: break-glass offers itself when the route is outside its
// time window. Offer is asked for each of the route's requirements of the
// service's kind (req) when the request was denied for unmet (the unmet
// requirements' reasons); it must not do slow I/O.
type Offerer interface {
	Offer(ctx context.Context, req policy.Requirement, unmet []policy.Reason, r *Request) (Offer, bool)
}

// Offer is a link a deny page shows as a way out.
type Offer struct {
	// Text explains the offer; Label is the link's text; URL its target
	// (a gateway path, or an absolute URL of a gateway page on the
	// public_url's host).
	Text, Label, URL string
}

// Mounter is a service with reserved endpoints under /.gateway/.
type Mounter interface {
	// Mount adds the endpoints to m, whose paths are relative to
	// /.gateway (so "/device" serves /.gateway/device).
	Mount(m *mux.Router, h Host)
}

// ClientCAs is a service that accepts TLS client certificates (device
// certificates); the TLS listener asks for optional client certificates
// from the pools of every such service.
type ClientCAs interface {
	ClientCAs() *x509.CertPool
}

// SessionUnavailable is the page a kind's endpoint answers when
// Host.Session fails (never "signed out"): it says what failed — the
// session store, the identity provider a due refresh could not reach, or
// two session cookies — and that nothing was changed. Two different
// session cookies (cookie tossing: another site under the domain planted
// one) are a 400 whose page says to clear the site's cookies: trying again
// sends the same pair.
func SessionUnavailable(err error) Page {
	if errors.Is(err, proxy.ErrCookieConflict) {
		return CookieConflict()
	}
	msg := "The gateway's session store is not answering, so it cannot tell who you are; nothing was changed."
	if errors.Is(err, auth.ErrIdPUnavailable) {
		msg = "The gateway could not confirm your sign-in with the identity provider (your session was due to be checked with it, and it did not answer); nothing was changed."
	}
	return Page{Status: http.StatusServiceUnavailable, Title: "Temporarily unavailable", Message: msg,
		Next: "Try again in a minute.", Reason: policy.ReasonEvidenceError}
}

// CookieConflict is the page of a request that carried the session cookie
// twice with different values (proxy.ErrCookieConflict): neither is
// trusted, and only clearing the site's cookies ends it.
func CookieConflict() Page {
	return Page{Status: http.StatusBadRequest, Title: "Two session cookies",
		Message: "Your browser sent two different gateway session cookies (another site under this domain may have set one), so the gateway trusts neither; nothing was changed.",
		Next:    "Clear this site's cookies in your browser, then open the tool again and sign in.",
		Reason:  policy.ReasonEvidenceError}
}

// HostName is the host name of a Host header or URL host (host[:port]):
// lower case, without the port, brackets or a trailing dot (proxy.HostName,
// by which the server routes and forwards). Compare host names through it.
func HostName(hostport string) string { return proxy.HostName(hostport) }

// Page is a gateway page.
type Page struct {
	// Status is the HTTP status; zero means 403.
	Status int
	// Template is the page's template name; empty means "error.html".
	Template             string
	Title, Message, Next string
	Reason               policy.Reason
	// Extra carries page-specific values (codes, forms, times).
	Extra map[string]any
	// Offers are ways out the page shows (filled in by the server from
	// the route's Offerers).
	Offers []Offer
	// FormTargets are origins (scheme://host[:port]), besides the page's
	// own, that its forms may post to or be redirected to after posting
	// (the CSP's form-action): a form on the gateway's own host that
	// returns to a tool's host names the tool's origin.
	FormTargets []string
}

// Host is what the server offers kinds' endpoints and pages.
type Host interface {
	// Session returns the browser session of r and its ID (nil, "" when
	// signed out), or an error when the store does not answer: never treat
	// that as signed out.
	Session(r *http.Request) (*auth.Session, string, error)
	// Render writes p as HTML, or as a JSON error for API clients; it sets
	// the page's security headers and request ID.
	Render(w http.ResponseWriter, r *http.Request, p Page)
	// Request returns the gateway's view of r for endpoints: ID, client
	// address, and ClientCert. Identity is nil; call Session.
	Request(r *http.Request) *Request
	// RouteFor finds the route that serves rawURL (an absolute URL on a
	// routed host, or a path on r's host), with its path variables and its
	// requirement of kind (nil when it has none), for pages that act on
	// behalf of a route (a justification form).
	RouteFor(r *http.Request, rawURL, kind string) (RouteMatch, bool)
	// SafeReturn validates a return address for a redirect after a form:
	// an absolute URL on a routed host, or a path on r's host, with the
	// gateway's scheme. It returns the address to redirect to, or false.
	SafeReturn(r *http.Request, raw string) (string, bool)
}

// RouteMatch is a route found by Host.RouteFor.
type RouteMatch struct {
	Name, Title string
	// Host and Path are the normalized host and path that matched.
	Host, Path  string
	Vars        map[string]string
	Requirement policy.Requirement
	// Policy is the route's compiled policy: a page may ask whether the
	// route's rules admit the user at all (AdmittedBy) before acting for
	// them.
	Policy *policy.Route
}

// AdmittedBy reports whether the route's allow and deny entries admit id
// for a GET of the matched path from addr (the page the form returns to),
// the requirements aside (policy.DecideRules). A page that acts on a
// route's behalf (a ticket looked up, a grant recorded) does nothing for
// someone the route refuses anyway.
func (m RouteMatch) AdmittedBy(id *policy.Identity, addr netip.Addr, now time.Time) bool {
	if m.Policy == nil {
		return false
	}
	in := policy.Input{Route: m.Policy, Identity: id,
		Request: policy.Request{Method: http.MethodGet, Path: m.Path, SourceIP: addr, Vars: m.Vars}}
	return policy.DecideRules(&in, now).Allow
}
