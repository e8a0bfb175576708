package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"go.opentelemetry.io/otel/trace"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/proxy"
	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/tracing"
)

// Reserved paths (contract).
const (
	reservedPrefix = "/.gateway/"
	callbackPath   = "/.gateway/callback"
	jwksPath       = "/.well-known/gateway/jwks.json"
	// RequestIDHeader carries the request ID upstream (in the gateway's namespace).
	RequestIDHeader = "X-Gateway-Request-Id"
)

// request is the per-request state of the public handler.
type request struct {
	rt        *runtime
	id        string
	path      string // normalized, escaped
	host      string // lowercase, no port
	client    proxy.Forward
	sessionID string
	session   *auth.Session
	// ident is who the request was decided for (session or bearer token).
	ident *policy.Identity
	// kreq is what the requirement kinds saw of the request (gather, page);
	// facts are what they found, aligned with the route's requirements.
	kreq  requirement.Request
	facts []any
	// factsBuf backs facts for routes with few requirements.
	factsBuf [4]any
	// in is what the decision looks at (kept here, in the request's one
	// allocation, so that deciding allocates nothing for it).
	in policy.Input
	// traceID is the request's trace, when tracing is on.
	traceID string
	// entry, vars and found are the route the path resolved to (resolved
	// says the handler resolved it; forward-auth looks up its own path).
	entry    *routeEntry
	vars     map[string]string
	found    bool
	resolved bool
	// keysBuf, prefKeys and prefVals are the store keys read ahead with the
	// session for the requirement kinds (Prefetcher) and their values.
	keysBuf  [4]string
	prefKeys []string
	prefVals [][]byte
	// mode is how the request arrived: proxied (zero), or asked about by
	// an ingress in forward-auth mode (forward.go), which answers an allow
	// with headers instead of proxying.
	mode transport
	// accessEnded says the access ended before the upstream answered
	// (upstreamError answered 403).
	accessEnded bool
	// bodyOverrides are the methods the POST's body names as _method
	// (judgeBodyOverrides), judged again at each re-check.
	bodyOverrides []string
	// ex watches the exchange once the request is allowed (exchange.go).
	ex exchange
	// forwardAllowed says allowForwarded answered the ingress's check: the
	// one answer to an ingress that may be 2xx (forwardGuard, recorder);
	// guard is that writer of an HTTP check.
	forwardAllowed bool
	guard          forwardGuard
	// clientErr says the client's address is unknown: a trusted proxy's
	// X-Forwarded-For is malformed (proxy.ClientAddr; client.ClientIP is
	// then the proxy's). The request is refused (forwardedForRefused).
	clientErr error
	// recorded says a decision record of the request was written (record,
	// forwardRefused); reserved is the writer of a reserved endpoint's
	// answer, which audits a 404 that wrote none (serveReserved).
	recorded bool
	reserved statusWriter
}

// user is who the request is about, for audit records: the identity the
// decision was made for, else the browser session.
func (q *request) user() (email, subject string) {
	switch {
	case q.ident != nil:
		return q.ident.Email, q.ident.Subject
	case q.session != nil:
		return q.session.Email, q.session.Subject
	}
	return "", ""
}

type reqKey struct{}

func reqFrom(ctx context.Context) *request { q, _ := ctx.Value(reqKey{}).(*request); return q }

func (s *Server) newPublicHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt := s.rt.Load()
		q := &request{rt: rt, id: newRequestID()}
		q.client.ClientIP, q.client.TrustedPeer, q.clientErr = proxy.ClientAddr(r, rt.cfg.TrustedNets())
		// One context for the whole request: the trace's span (when tracing
		// is on), the handler's state and the proxy's Forward (filled in
		// once the request is allowed).
		ctx := r.Context()
		if s.tracer != nil {
			var span trace.Span
			ctx, span = s.tracer.StartRequest(r, q.client.TrustedPeer)
			defer span.End()
			q.traceID = tracing.TraceID(ctx)
		}
		ctx = context.WithValue(ctx, reqKey{}, q)
		r = r.WithContext(proxy.WithForward(ctx, &q.client))
		q.host = hostOnly(r.Host)
		if !proxy.ValidHost(r.Host) {
			// Routed by its name, it would reach an upstream that may read
			// another host in it ("tool.example:1,admin.example").
			CloseAfterDenial(w, r)
			s.record(r, nil, policy.Decision{Reasons: []policy.Reason{policy.ReasonBadRequest}}, http.StatusBadRequest)
			s.page(w, r, http.StatusBadRequest, pageData{Title: "Bad request", Message: "The Host of this request is not a host name with an optional port.", Next: "Check the link you followed."})
			return
		}
		if s.serveForwardAuth(w, r, q) {
			return
		}
		if q.clientErr != nil {
			CloseAfterDenial(w, r)
			s.forwardedForRefused(w, r, q)
			return
		}
		// One walk of the table normalizes the path and finds its route.
		p, entry, vars, found, err := rt.table.Resolve(q.host, r)
		if err != nil {
			CloseAfterDenial(w, r)
			s.record(r, nil, policy.Decision{Reasons: []policy.Reason{policy.ReasonBadRequest}}, http.StatusBadRequest)
			s.page(w, r, http.StatusBadRequest, pageData{Title: "Bad request", Message: "The address of this request is malformed: " + err.Error() + ".", Next: "Check the link you followed."})
			return
		}
		q.path, q.entry, q.vars, q.found, q.resolved = p, entry, vars, found, true
		if strings.HasPrefix(p, reservedPrefix) || p == jwksPath {
			// Reserved endpoints exist on routed hosts and the public URL's host only.
			if !rt.routed(q.host) && q.host != hostOnly(rt.publicURL.Host) {
				CloseAfterDenial(w, r)
				s.record(r, nil, policy.Decision{Reasons: []policy.Reason{policy.ReasonRouteNotFound}}, http.StatusNotFound)
				s.page(w, r, http.StatusNotFound, pageData{Title: "Unknown address", Message: "This gateway serves no host named " + q.host + ".", Reason: string(policy.ReasonRouteNotFound)})
				return
			}
			// Reserved endpoints see the normalized path only.
			r.URL.Path, r.URL.RawPath = p, ""
			s.serveReserved(w, r, q)
			return
		}
		s.serveRoute(w, r)
	})
}

// serveReserved serves a reserved endpoint. An address there that serves
// nothing on this gateway — an unknown page, or the page of something
// switched off (forward-auth, a requirement kind's endpoints, an unknown
// path of an agent API) — is a decision too (someone probing /.gateway/...):
// a 404 that did not write its record gets one here.
//
// A post from another site to any of them (the forms: sign-out,
// justification, break-glass; each also checks its own CSRF token) is
// refused here with the gateway's 403 page and a deny record, rather than
// the bare text answer of each form's http.CrossOriginProtection, which
// leaves no trace of the attempt.
func (s *Server) serveReserved(w http.ResponseWriter, r *http.Request, q *request) {
	if err := reservedCrossOrigin.Check(r); err != nil {
		CloseAfterDenial(w, r)
		s.forwardRefused(w, r, q, http.StatusForbidden, policy.ReasonBadRequest, "refused a cross-origin "+r.Method+": "+err.Error(),
			pageData{Title: "Form refused", Message: "This form of the gateway was sent from another site, so the gateway did not act on it.",
				Next: "Open the gateway's page again and use its form."})
		return
	}
	q.reserved = statusWriter{ResponseWriter: w}
	q.rt.reserved.ServeHTTP(&q.reserved, r)
	if q.reserved.code == http.StatusNotFound && !q.recorded {
		s.record(r, nil, policy.Decision{Reasons: []policy.Reason{policy.ReasonRouteNotFound}}, http.StatusNotFound)
	}
}

// reservedCrossOrigin judges the unsafe requests to reserved endpoints
// (serveReserved): safe methods and requests without browser headers pass.
var reservedCrossOrigin = http.NewCrossOriginProtection()

// newReservedHandler builds the router of the reserved paths for rt: the
// gateway's own endpoints and those of every requirement kind.
func (s *Server) newReservedHandler(rt *runtime) http.Handler {
	m := mux.NewRouter()
	m.SkipClean(true) // the path is already normalized by route.Normalize
	g := m.PathPrefix(reservedPrefix[:len(reservedPrefix)-1]).Subrouter()
	g.HandleFunc("/callback", s.callback).Methods(http.MethodGet)
	g.Handle("/sign-out", http.NewCrossOriginProtection().Handler(http.HandlerFunc(s.signOut))).Methods(http.MethodPost)
	g.HandleFunc("/sign-out", s.signOutPage).Methods(http.MethodGet)
	g.HandleFunc("/sign-in", s.forwardSignIn).Methods(http.MethodGet, http.MethodHead)
	// The agents' JSON APIs (/.gateway/api/...) are rate limited per client.
	g.PathPrefix("/api/").MatcherFunc(func(r *http.Request, _ *mux.RouteMatch) bool {
		return !s.apiLimit.allow(reqFrom(r.Context()).client.ClientIP)
	}).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		CloseAfterDenial(w, r)
		s.record(r, nil, policy.Decision{Reasons: []policy.Reason{policy.ReasonRateLimited}}, http.StatusTooManyRequests)
		w.Header().Set("Retry-After", "5")
		writeJSONError(w, r, http.StatusTooManyRequests, string(policy.ReasonRateLimited), "too many requests from this address; wait a few seconds and try again")
	})
	h := host{s}
	for _, svc := range rt.kinds {
		if mt, ok := svc.(requirement.Mounter); ok {
			mt.Mount(g, h)
		}
	}
	// A request for a gateway page that does not exist is a decision too
	// (someone probing /.gateway/...): it is audited.
	g.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.record(r, nil, policy.Decision{Reasons: []policy.Reason{policy.ReasonRouteNotFound}}, http.StatusNotFound)
		s.page(w, r, http.StatusNotFound, pageData{Title: "Not found", Message: "There is no gateway page at this address."})
	})
	g.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.record(r, nil, policy.Decision{Reasons: []policy.Reason{policy.ReasonBadRequest}}, http.StatusMethodNotAllowed)
		s.page(w, r, http.StatusMethodNotAllowed, pageData{Title: "Method not allowed", Message: "This gateway page does not accept " + r.Method + "."})
	})
	m.Handle(jwksPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqFrom(r.Context()).rt.signer.JWKSHandler().ServeHTTP(w, r)
	}))
	m.NotFoundHandler = g.NotFoundHandler
	return m
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// hostOnly returns the lowercase host of a Host header, without port
// (requirement.HostName: the kinds compare hosts the same way).
func hostOnly(h string) string { return requirement.HostName(h) }

// serveRoute is the request path for routed traffic.
func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request) {
	q := reqFrom(r.Context())
	rt := q.rt
	entry, vars, found := q.entry, q.vars, q.found
	if !q.resolved {
		entry, vars, found = rt.table.Lookup(q.host, q.path)
	}
	q.vars = vars
	if !found {
		CloseAfterDenial(w, r)
		d := policy.Decide(&q.in, s.now())
		s.record(r, nil, d, http.StatusNotFound)
		s.page(w, r, http.StatusNotFound, pageData{Title: "Unknown address", Message: "This gateway has no tool at " + q.host + q.path + ".", Next: "Check the address, or ask the tool's owner for the right link.", Reason: string(policy.ReasonRouteNotFound)})
		return
	}
	d, bearerInvalid := s.decideRoute(r, q, entry, vars)
	if bearerInvalid {
		CloseAfterDenial(w, r)
		s.record(r, entry, d, http.StatusUnauthorized)
		writeJSONError(w, r, http.StatusUnauthorized, "invalid-bearer-token", "the bearer ID token did not verify; obtain a new one from the identity provider")
		return
	}
	if !d.Allow {
		s.deny(w, r, entry, &q.in, d)
		return
	}
	if entry.judgeBodyMethod && bodyMayOverride(r, q.mode) && !s.judgeBodyOverrides(w, r, q, entry, &d) {
		return
	}
	s.forward(w, r, q, entry, &q.in, d)
}

// judgeBodyOverrides decides the allowed POST r again with the methods its
// body names as _method (formmethod.go), and answers when that is a denial
// or the body could not be read; false then. In forward-auth mode the body
// stays with the ingress: the POST is judged as naming any method.
func (s *Server) judgeBodyOverrides(w http.ResponseWriter, r *http.Request, q *request, entry *routeEntry, d *policy.Decision) bool {
	ov := anyMethod
	if q.mode == modeProxy {
		limit := int64(config.DefaultMethodOverrideBodyLimit)
		if l := entry.cfg.MethodOverrideBodyLimit; l != nil {
			limit = *l
		}
		var err error
		if ov, err = readBodyOverrides(w, r, limit); err != nil {
			CloseAfterDenial(w, r)
			s.record(r, entry, policy.Decision{Reasons: []policy.Reason{policy.ReasonBadRequest}}, http.StatusBadRequest)
			s.page(w, r, http.StatusBadRequest, pageData{Title: "Bad request", Message: "The gateway reads the body of a form sent to this tool before it forwards it, and " + err.Error() + ".", Next: "Send the form again."})
			return false
		}
	}
	if len(ov) == 0 {
		return true
	}
	q.bodyOverrides = ov
	in := &q.in
	in.Request.MethodOverrides = append(in.Request.MethodOverrides[:len(in.Request.MethodOverrides):len(in.Request.MethodOverrides)], ov...)
	if *d = policy.Decide(in, s.now()); !d.Allow {
		s.deny(w, r, entry, in, *d)
		return false
	}
	return true
}

// methodOverrides are the methods a tool may execute the POST r as: the
// values of _method in its query, which Symfony and Laravel honour (the
// body's are judgeBodyOverrides'). The query is read as PHP reads it into $_GET,
// where those frameworks look: '+' and escapes decoded (an invalid escape
// kept as written), and a parameter name's leading spaces dropped, ' ' and
// '.' read as '_', the name cut at a NUL or at an array's '[' — so
// ".method", "+_method", "_method%00" and "_method[]" are _method too. Nil,
// without allocating, for every other request.
func methodOverrides(r *http.Request) []string {
	q := r.URL.RawQuery
	// Symfony upper-cases the method before it looks: "post" is a POST.
	if !strings.EqualFold(r.Method, http.MethodPost) || !strings.Contains(q, "method") && !strings.Contains(q, "%") {
		return nil
	}
	var out []string
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		name, value, _ := strings.Cut(pair, "=")
		if phpParamName(phpURLDecode(name)) == "_method" {
			out = append(out, phpURLDecode(value))
		}
	}
	return nonEmpty(out)
}

// phpURLDecode decodes s as PHP's urldecode: '+' is a space, %XX its
// byte, and a '%' not followed by two hex digits stays as written.
func phpURLDecode(s string) string {
	if !strings.ContainsAny(s, "+%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && hexByte(s[i+1:i+3]) >= 0:
			b = append(b, byte(hexByte(s[i+1:i+3])))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// hexByte is the byte two hex digits spell, or -1.
func hexByte(s string) int {
	v, err := strconv.ParseUint(s, 16, 8)
	if err != nil {
		return -1
	}
	return int(v)
}

// phpParamName is the name PHP registers the decoded query parameter name
// under (php_register_variable_ex): leading spaces dropped, cut at a NUL,
// the part before an array's '[', with ' ' and '.' as '_'.
func phpParamName(name string) string {
	name = strings.TrimLeft(name, " ")
	if i := strings.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	if i := strings.IndexByte(name, '['); i > 0 {
		name = name[:i]
	}
	if strings.ContainsAny(name, " .") {
		name = strings.NewReplacer(" ", "_", ".", "_").Replace(name)
	}
	return name
}

// decideRoute takes the decision of r on entry (q.in is its input): who is
// calling, the evidence of the route's requirements, the lifters when a
// requirement is unmet. bearerInvalid says a bearer token did not verify
// (the decision is then sign-in-required). The request path and the
// re-check of an open exchange (exchange.go) both decide here.
func (s *Server) decideRoute(r *http.Request, q *request, entry *routeEntry, vars map[string]string) (d policy.Decision, bearerInvalid bool) {
	in := &q.in
	*in = policy.Input{
		Route:   entry.policy,
		Request: policy.Request{Method: r.Method, MethodOverrides: methodOverrides(r), Path: q.path, SourceIP: q.client.ClientIP, Vars: vars},
	}
	if q.bodyOverrides != nil {
		// A re-check (exchange.go): the body was read before the request
		// was forwarded.
		in.Request.MethodOverrides = append(in.Request.MethodOverrides[:len(in.Request.MethodOverrides):len(in.Request.MethodOverrides)], q.bodyOverrides...)
	}
	if !entry.cfg.Public {
		_, sp := s.tracer.Start(r.Context(), "gateway.identity")
		in.Identity, in.EvidenceErr = s.identify(r, q, entry)
		sp.End()
		q.ident = in.Identity
		if errors.Is(in.EvidenceErr, errBearerInvalid) {
			in.EvidenceErr = nil
			return policy.Decision{Reasons: []policy.Reason{policy.ReasonSignInRequired}}, true
		}
	}
	now := s.now()
	gathering := len(entry.services) > 0 && in.Identity != nil && in.EvidenceErr == nil
	if gathering {
		// The rules first: a request they deny is denied whatever the
		// facts, so none are gathered for it (no ticket looked up with the
		// gateway's account, no store read, for someone the route refuses).
		if d = policy.DecideRules(in, now); !d.Allow {
			return d, false
		}
		in.Facts, in.EvidenceErr = s.gather(r, q, entry, in.Identity, vars, now, false)
	}
	_, sp := s.tracer.Start(r.Context(), "gateway.decide")
	if gathering {
		d = policy.DecideFacts(in, now, d) // the rules were decided before the facts were gathered
	} else {
		d = policy.Decide(in, now)
	}
	sp.End()
	// A lifter (break-glass) matters only when a requirement is unmet: its
	// facts are gathered then, and the decision taken again.
	if !d.Allow && gathering && in.EvidenceErr == nil && entry.policy.HasLifters() && policy.KindOf(d.Reasons[0]) != "" {
		if in.EvidenceErr = s.gatherLifters(r, q, entry); in.EvidenceErr == nil {
			in.Facts = q.facts
		}
		d = policy.Decide(in, now)
	}
	return d, false
}

var errBearerInvalid = errors.New("server: bearer token invalid")

// gather asks the kind of each of the route's requirements for its facts:
// the only I/O of a decision. Lifters are skipped unless withLifters (see
// gatherLifters). An error from any kind denies the request
// (evidence-unavailable), fail closed.
func (s *Server) gather(r *http.Request, q *request, e *routeEntry, id *policy.Identity, vars map[string]string, now time.Time, withLifters bool) ([]any, error) {
	q.kreq = requirement.Request{HTTP: r, ID: q.id, Route: e.cfg.Name, Title: e.title, Identity: id,
		SessionID: q.sessionID, Session: q.session, Vars: vars, Path: q.path, ClientIP: q.client.ClientIP,
		ClientCert: s.clientCert(r, q), Now: now}
	q.kreq.SetPrefetched(q.prefKeys, q.prefVals)
	reqs := e.policy.Requirements()
	facts := q.factsBuf[:0]
	if len(reqs) > len(q.factsBuf) {
		facts = make([]any, 0, len(reqs))
	}
	for i, svc := range e.services {
		if !withLifters && e.policy.IsLifter(i) {
			facts = append(facts, nil)
			continue
		}
		ctx, sp := s.tracer.Start(r.Context(), "gateway.evidence."+reqs[i].Kind())
		f, err := svc.Gather(ctx, reqs[i], &q.kreq)
		sp.End()
		if err != nil {
			return nil, fmt.Errorf("server: %s evidence: %w", reqs[i].Kind(), err)
		}
		facts = append(facts, f)
	}
	q.facts = facts
	return facts, nil
}

// gatherLifters gathers the facts of the route's lifters into q.facts.
func (s *Server) gatherLifters(r *http.Request, q *request, e *routeEntry) error {
	reqs := e.policy.Requirements()
	for i, svc := range e.services {
		if !e.policy.IsLifter(i) {
			continue
		}
		f, err := svc.Gather(r.Context(), reqs[i], &q.kreq)
		if err != nil {
			return fmt.Errorf("server: %s evidence: %w", reqs[i].Kind(), err)
		}
		q.facts[i] = f
	}
	return nil
}

// identify establishes who is calling: a bearer ID token (where the route
// allows it) or the session cookie. A nil identity with a nil error means
// "not signed in"; an error means the question could not be answered.
func (s *Server) identify(r *http.Request, q *request, e *routeEntry) (*policy.Identity, error) {
	if tok, ok := auth.BearerToken(r); ok && e.cfg.AllowBearer {
		sess, err := q.rt.auth.VerifyBearer(r.Context(), tok)
		if errors.Is(err, auth.ErrRevocationUnknown) {
			s.metrics.StoreErrors.WithLabelValues("revoked").Inc()
			return nil, err // whether it was revoked is unknown: 503, not 401
		}
		if errors.Is(err, auth.ErrProviderUnavailable) {
			return nil, err // cannot check the token now: 503, not 401
		}
		if err != nil {
			return nil, errBearerInvalid
		}
		q.client.StripAuthorization = true
		return identityOf(sess), nil
	}
	c, err := proxy.SessionCookie(r.Header, q.rt.cfg.Session.CookieName)
	if err != nil || c == "" {
		return nil, err // a conflict between two session cookies denies
	}
	sess, err := s.loadWithEvidence(r, q, e, c)
	if errors.Is(err, auth.ErrNoSession) {
		return nil, nil
	}
	if err != nil {
		s.metrics.StoreErrors.WithLabelValues("load").Inc()
		return nil, err
	}
	if _, err := q.rt.auth.MaybeRefresh(r.Context(), c, sess); err != nil {
		if errors.Is(err, auth.ErrNoSession) {
			return nil, nil
		}
		if store.IsUnavailable(err) {
			s.metrics.StoreErrors.WithLabelValues("refresh").Inc()
		}
		return nil, err
	}
	q.sessionID, q.session = c, sess
	return identityOf(sess), nil
}

// loadWithEvidence loads the session of cookie value c. When the route's
// requirement kinds name store keys ahead (Prefetcher), they are read with
// the session in one round trip and kept for the kinds' Gather. The read is
// an MGet (which the Redis store may answer from its local cache) unless
// the session is all there is to read and the store lends values (Memory).
func (s *Server) loadWithEvidence(r *http.Request, q *request, e *routeEntry, c string) (*auth.Session, error) {
	if _, lends := q.rt.store.(store.Viewer); lends && len(e.prefetch) == 0 {
		return q.rt.sessions.Load(r.Context(), c)
	}
	keys := append(q.keysBuf[:0], auth.SessionKey(c))
	reqs := e.policy.Requirements()
	for _, i := range e.prefetch {
		keys = e.services[i].(requirement.Prefetcher).Prefetch(reqs[i], c, q.vars, keys)
	}
	vals, err := store.MGet(r.Context(), q.rt.store, keys...)
	if err != nil {
		return nil, err
	}
	q.prefKeys, q.prefVals = keys[1:], vals[1:]
	return q.rt.sessions.Decode(c, vals[0])
}

func identityOf(s *auth.Session) *policy.Identity {
	return &policy.Identity{Subject: s.Subject, Email: s.Email, Groups: s.Groups, Claims: s.Claims, NotAfter: s.ExpiresAt}
}

// forward sends an allowed request upstream with its context token and
// returns the status sent. The decision record is written (Commit) before
// anything reaches the upstream; if it cannot be written, or the token
// cannot be minted, the request is refused (fail closed). The response
// record (status, bytes, duration) follows when the response ends.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, q *request, e *routeEntry, in *policy.Input, d policy.Decision) {
	if q.mode != modeProxy {
		// The ingress forwards the Upgrade header: judge it as the proxy
		// does (routes[].upgrades), before the tool could switch
		// protocols; nginx's page check refuses it as its check did.
		if err := e.upstream.CheckUpgrade(r); err != nil {
			d = policy.Decision{Reasons: []policy.Reason{policy.ReasonBadRequest}}
			rec := s.decisionRecord(r, e, d, http.StatusBadRequest)
			rec.Detail = err.Error()
			s.audit.Log(rec)
			q.recorded = true
			s.countDecision(e, rec.Decision, string(policy.ReasonBadRequest))
			s.page(w, r, http.StatusBadRequest, pageData{Title: "Bad request", Message: "This request asks to switch to a protocol " + e.cfg.Name + " does not allow (" + strings.TrimPrefix(err.Error(), proxy.ErrUpgrade.Error()+": ") + ").",
				Next: "Open the page without it, or ask the gateway's operators to add the protocol to the route's upgrades.", Reason: string(policy.ReasonBadRequest)})
			return
		}
	}
	if q.mode == modeNginxPage {
		s.pageAfterRefusal(w, r, q, e)
		return
	}
	f := &q.client
	f.Path = q.path
	f.StripCookies = q.rt.stripCookies
	f.StripHeaders = q.rt.stripHeaders
	f.Set = http.Header{RequestIDHeader: []string{q.id}}
	if !e.cfg.Public {
		tok, err := q.rt.minter.Mint(s.claims(q, e, in, d), d.NotAfter)
		if err != nil {
			s.logger.Error("context token: mint failed; denying", "err", err, "route", e.cfg.Name, "request_id", q.id)
			d = policy.Decision{Reasons: []policy.Reason{policy.ReasonEvidenceError}}
			s.record(r, e, d, http.StatusInternalServerError)
			s.page(w, r, http.StatusInternalServerError, pageData{Title: "Cannot sign the request", Message: "The gateway could not sign the context token the tool needs, so it did not forward your request.", Next: "Try again; if it persists, tell the gateway's operators and quote the request ID.", Reason: string(policy.ReasonEvidenceError)})
			return
		}
		f.Set.Set(q.rt.tokenHeader, tok)
	}
	rec := s.decisionRecord(r, e, d, 0)
	_, csp := s.tracer.Start(r.Context(), "gateway.audit.commit")
	err := s.audit.Commit(r.Context(), rec)
	csp.End()
	if err != nil {
		s.logger.Error("audit: the decision record could not be written; refusing the allowed request", "err", err, "route", e.cfg.Name, "request_id", q.id)
		s.countDecision(e, "deny", string(policy.ReasonEvidenceError))
		// The refusal's own record waits in the log's buffer until the sink
		// works again (docs/audit.md: its response record says 503).
		s.audit.Log(audit.Record{Time: s.now(), Kind: audit.KindResponse, RequestID: q.id, User: rec.User, Subject: rec.Subject,
			Route: rec.Route, Host: rec.Host, Method: rec.Method, Path: rec.Path, TraceID: q.traceID, Status: http.StatusServiceUnavailable,
			Reasons: []string{string(policy.ReasonEvidenceError)}, Detail: "not forwarded: the decision record could not be written: " + err.Error()})
		CloseAfterDenial(w, r)
		w.Header().Set("Retry-After", "10")
		s.page(w, r, http.StatusServiceUnavailable, pageData{Title: "Temporarily unavailable", Message: "The gateway could not write the audit record every allowed request needs, so it did not forward your request.", Next: "Nothing is wrong with your access. Try again in a minute; if it persists, tell the gateway's operators.", Reason: string(policy.ReasonEvidenceError)})
		return
	}
	s.countDecision(e, "allow", string(d.Reasons[0]))
	if q.mode != modeProxy {
		// Forward-auth: the ingress forwards the request once it has this
		// answer, so it too waits for the decision record. The gateway
		// never sees the response: no response record.
		s.allowForwarded(w, r, q, f)
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	f.Allowed = true
	// The exchange ends when the access does: at d.NotAfter (the session's
	// end, and that of every time window and grant the decision relied on),
	// not only the context token, and before it when a re-check of the open
	// exchange denies (exchange.go). Its end cancels the request that goes
	// upstream: both transports then close the upstream connection;
	// ReverseProxy aborts a response in progress (the server closes the
	// client's connection) and closes both sides of an upgraded one.
	// Public routes too: a reload may make the route private, or remove it.
	x, ctx := s.watch(r, q, e, d)
	defer x.stop() // after the response record below is written
	r = r.WithContext(ctx)
	sw.ctx = ctx
	if s.tracer != nil {
		// The upstream call is a span of its own, and the upstream gets the
		// gateway's trace context (never the client's, unless a trusted
		// proxy started the trace).
		ctx, sp := s.tracer.Start(r.Context(), "gateway.upstream")
		defer sp.End()
		s.tracer.Inject(ctx, f.Set)
	}
	// The response record is written when the handler ends, also when
	// ReverseProxy aborts it (panics with http.ErrAbortHandler) because the
	// client or the tool went away in the middle of the body.
	completed := false
	defer func() {
		resp := audit.Record{Time: s.now(), Kind: audit.KindResponse, RequestID: q.id, User: rec.User, Subject: rec.Subject,
			Route: rec.Route, Host: rec.Host, Method: rec.Method, Path: rec.Path, Status: sw.status(), Bytes: sw.bytes, TraceID: q.traceID,
			DurationMS: float64(time.Since(start).Microseconds()) / 1000, Grants: rec.Grants,
			Justification: rec.Justification, BreakGlass: rec.BreakGlass, DeviceID: rec.DeviceID}
		// The access ended during the exchange: a response in progress was
		// aborted, an upgraded connection closed, or the tool had not
		// answered yet (403). A response that was complete is not "cut".
		if detail, ended := endedBy(context.Cause(ctx)); ended && (!completed || sw.code == http.StatusSwitchingProtocols || q.accessEnded) {
			resp.Detail = detail
		} else if !completed {
			resp.Detail = responseCutOff
		}
		s.audit.Log(resp)
	}()
	e.upstream.ServeHTTP(sw, r)
	completed = true
}

// responseCutOff is the detail of the response record of a response that
// ended before its body did (the client or the tool closed the connection).
const responseCutOff = "response cut off: the connection closed before the body ended"

// responseAccessEnded begins the detail of the response record of an
// exchange the gateway ended because the access did; the instant follows.
const responseAccessEnded = "response cut off: the access ended (the session, or a time window or grant the decision relied on) at "

// errAccessEnded is what ends a proxied exchange at the decision's NotAfter
// (the cause is an *accessEnded, which is errAccessEnded to errors.Is).
var errAccessEnded = errors.New("server: the access ended (session, time window or grant) during the exchange")

// claims builds the context token's claims for an allowed request.
func (s *Server) claims(q *request, e *routeEntry, in *policy.Input, d policy.Decision) contexttoken.Claims {
	id := in.Identity
	c := contexttoken.Claims{
		Audience: contexttoken.Audience{e.audience},
		Subject:  id.Subject,
		Email:    id.Email,
		Route:    e.cfg.Name,
		SourceIP: q.client.ClientIP.String(),
	}
	if e.groups == nil {
		c.Groups = id.Groups
	} else {
		for _, g := range id.Groups {
			if e.groups[g] {
				c.Groups = append(c.Groups, g)
			}
		}
	}
	lifted := len(d.Lifted) > 0
	for i, svc := range e.services {
		if cl, ok := svc.(requirement.Claimer); ok && i < len(in.Facts) && (lifted || !e.policy.IsLifter(i)) {
			cl.Claim(in.Facts[i], &c)
		}
	}
	return c
}

// record writes the audit record of a request that was not forwarded and
// counts the decision.
func (s *Server) record(r *http.Request, e *routeEntry, d policy.Decision, status int) {
	rec := s.decisionRecord(r, e, d, status)
	s.audit.Log(rec)
	reqFrom(r.Context()).recorded = true
	first := ""
	if len(d.Reasons) > 0 {
		first = string(d.Reasons[0])
	}
	s.countDecision(e, rec.Decision, first)
}

// countDecision counts a decision in the requests metric.
func (s *Server) countDecision(e *routeEntry, decision, reason string) {
	routeName := ""
	if e != nil {
		routeName = e.cfg.Name
	}
	s.metrics.Decision(routeName, decision, reason).Inc()
}

// decisionRecord is the audit record of a decision: the request, who
// asked, the verdict and its reasons, the grants relied on, and each
// requirement kind's facts.
func (s *Server) decisionRecord(r *http.Request, e *routeEntry, d policy.Decision, status int) audit.Record {
	q := reqFrom(r.Context())
	rec := audit.Record{
		Time: s.now(), Kind: audit.KindDecision, RequestID: q.id, Host: q.host, Method: r.Method,
		MethodOverrides: q.in.Request.MethodOverrides,
		Path:            q.path, SourceIP: q.client.ClientIP.String(), Status: status,
		Decision: "deny", Grants: d.Grants, Transport: q.mode.String(), TraceID: q.traceID,
	}
	if d.Allow {
		rec.Decision = "allow"
	}
	n := len(d.Reasons) + len(d.Lifted)
	if d.Rule != "" {
		n++
	}
	if n > 0 {
		rec.Reasons = make([]string, 0, n)
		for _, reason := range d.Reasons {
			rec.Reasons = append(rec.Reasons, string(reason))
		}
		for _, l := range d.Lifted {
			rec.Reasons = append(rec.Reasons, "lifted:"+string(l))
		}
		if d.Rule != "" {
			rec.Reasons = append(rec.Reasons, "rule:"+d.Rule)
		}
	}
	rec.User, rec.Subject = q.user()
	if e != nil {
		rec.Route = e.cfg.Name
		lifted := len(d.Lifted) > 0
		for i, svc := range e.services {
			if a, ok := svc.(requirement.Auditor); ok && i < len(q.facts) && (lifted || !e.policy.IsLifter(i)) {
				a.Audit(q.facts[i], &rec)
			}
		}
	}
	return rec
}

// upstreamError renders the 502 page when the upstream cannot be reached,
// and the 504 page when it did not answer in time (routes[].upstream_timeout,
// or a connection attempt that timed out).
func (s *Server) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if _, ended := endedBy(context.Cause(r.Context())); ended {
		// Not the tool's fault: the access ended before it answered.
		if q := reqFrom(r.Context()); q != nil {
			q.accessEnded = true
		}
		s.page(w, r, http.StatusForbidden, pageData{Title: "Your access ended", Message: "Your access to this tool ended (the end of your session, of its time window or of a grant, or a check while the tool was answering found it withdrawn) before the tool answered.", Next: "Reload the page: the gateway will check your access again."})
		return
	}
	s.logger.Warn("upstream error", "err", err, "host", r.Host)
	if errors.Is(err, context.Canceled) {
		w.WriteHeader(499)
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.page(w, r, http.StatusGatewayTimeout, pageData{Title: "The tool did not answer in time", Message: "The gateway let you through, but the tool behind it did not answer in time.", Next: "Try again in a minute. If it persists, tell the tool's owners; quote the request ID below."})
		return
	}
	s.page(w, r, http.StatusBadGateway, pageData{Title: "The tool is not answering", Message: "The gateway let you through, but the tool behind it did not respond.", Next: "Try again in a minute. If it persists, tell the tool's owners; quote the request ID below."})
}

// statusWriter records the status and the bytes of a proxied response, for
// its response record.
type statusWriter struct {
	http.ResponseWriter
	code  int // the final status (0: none yet)
	bytes int64
	// ctx is the exchange's: its end closes a hijacked connection (nil:
	// none is watched).
	ctx context.Context
}

// WriteHeader records the final status: the first of 200 or more, or 101.
// Informational responses (100, 103 relayed from the tool) come before it.
func (w *statusWriter) WriteHeader(c int) {
	if w.code == 0 && (c >= 200 || c == http.StatusSwitchingProtocols) {
		w.code = c
	}
	w.ResponseWriter.WriteHeader(c)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Hijack records 101: ReverseProxy hijacks the client's connection only to
// switch protocols after the upstream's 101, and writes that 101 itself on
// the connection, not through WriteHeader.
//
// The end of the exchange closes the client's connection. ReverseProxy
// closes only the upstream's then, and waits for both directions to end:
// once the tool has ended its side (passed on to the client as a
// half-close), the client's side would stay open, and the handler with it,
// for as long as the client neither writes nor closes — past the access's
// end, with no response record.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.code == 0 {
		w.code = http.StatusSwitchingProtocols
	}
	if err == nil && w.ctx != nil {
		context.AfterFunc(w.ctx, func() { _ = c.Close() })
	}
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the server's writer (deadlines,
// and Flush and Hijack for callers that skip this writer's own).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes through for streaming (ReverseProxy uses ResponseController).
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
