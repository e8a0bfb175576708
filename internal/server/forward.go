package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/proxy"
	"github.com/accessgateway/gateway/internal/route"
)

// Forward-auth mode: an ingress (nginx, Traefik, Caddy) or a mesh proxy
// (Envoy, Istio) asks the gateway about a request it will forward itself.
// The request path is the proxy mode's, unchanged (serveRoute: route,
// identity, every requirement kind, policy.Decide, deny page, context
// token, audit record); only how the request arrives and how an allow
// leaves differ. The original method, host and URI are read only from a
// peer in trusted_proxies; an allow is 200 with the headers the ingress
// must set upstream; a deny is the gateway's own answer (page, JSON, or the
// redirect to sign in).

// transport is how a request reached the decision.
type transport uint8

const (
	// modeProxy: the gateway proxies the request itself.
	modeProxy transport = iota
	// modeForwardAuth: Traefik ForwardAuth, Caddy forward_auth. The
	// original request is in X-Forwarded-Method, -Host, -Uri (and -Proto,
	// -For); every answer is the gateway's own.
	modeForwardAuth
	// modeNginx: nginx auth_request, which understands only 2xx, 401 and
	// 403 from the subrequest: 401 means "send the browser to
	// /.gateway/sign-in", 403 "show the gateway's page" (error_page).
	modeNginx
	// modeNginxPage: nginx's error_page 403 asking for the page of a
	// request its auth_request check refused. The same original request
	// (X-Original-Method, -URI), decided again to render the page that
	// fits; never an allow: nginx does not forward what it refused.
	modeNginxPage
	// modeEnvoyHTTP: Envoy's ext_authz HTTP service. Envoy sends the
	// original method, Host and path (after a path prefix).
	modeEnvoyHTTP
	// modeEnvoyGRPC: Envoy's ext_authz gRPC service (forward_grpc.go).
	modeEnvoyGRPC
)

// String is the audit record's transport field ("" for proxy mode).
func (m transport) String() string {
	switch m {
	case modeForwardAuth:
		return "forward-auth"
	case modeNginx:
		return "nginx"
	case modeNginxPage:
		return "nginx-page"
	case modeEnvoyHTTP:
		return "ext-authz-http"
	case modeEnvoyGRPC:
		return "ext-authz-grpc"
	}
	return ""
}

// The check endpoints (contract; docs/forward-auth.md). They answer only
// the exact paths below, on any Host (the ingress chooses the Host it sends
// to the gateway), and only peers in trusted_proxies.
const (
	forwardAuthPath = "/.gateway/auth"
	nginxAuthPath   = "/.gateway/auth/nginx"
	nginxPagePath   = "/.gateway/auth/nginx/page"
	// envoyAuthPrefix is the ext_authz http_service path_prefix; the
	// original request's path and query follow it.
	envoyAuthPrefix = "/.gateway/auth/envoy"
	// signInPath starts a sign-in for ?rd=URL (nginx's error_page 401).
	signInPath = "/.gateway/sign-in"
)

// maxOriginalURI bounds the original request target a proxy may send.
const maxOriginalURI = 8 << 10

// original is the request an ingress asks about.
type original struct {
	method, host, uri string
}

// serveForwardAuth answers r if it is a forward-auth check (by its raw
// path) and reports whether it did. q's client is the check request's: the
// ingress's peer address and, when it is trusted, its X-Forwarded-For.
func (s *Server) serveForwardAuth(w http.ResponseWriter, r *http.Request, q *request) bool {
	p := r.URL.EscapedPath()
	var o original
	switch {
	case p == forwardAuthPath:
		q.mode = modeForwardAuth
	case p == nginxAuthPath:
		q.mode = modeNginx
	case p == nginxPagePath:
		q.mode = modeNginxPage
	case strings.HasPrefix(r.RequestURI, envoyAuthPrefix+"/"):
		q.mode = modeEnvoyHTTP
	default:
		return false
	}
	rt := q.rt
	q.host, q.path = hostOnly(r.Host), p
	// A check's body (there should be none) is never read.
	CloseAfterDenial(w, r)
	if !rt.cfg.ForwardAuth.Enabled {
		q.mode = modeProxy
		// An address that serves nothing here, audited like every other
		// (serveReserved).
		s.record(r, nil, policy.Decision{Reasons: []policy.Reason{policy.ReasonRouteNotFound}}, http.StatusNotFound)
		s.page(w, r, http.StatusNotFound, pageData{Title: "Not found", Message: "Forward-auth mode is not enabled on this gateway (forward_auth.enabled)."})
		return true
	}
	q.guard = forwardGuard{ResponseWriter: w, q: q} // in the request's own allocation
	w = &q.guard
	if q.mode == modeNginx {
		w = &nginxWriter{ResponseWriter: w}
	}
	if !q.client.TrustedPeer {
		// A peer that is not a trusted proxy is never believed about the
		// request it claims to ask about (a client reaching this endpoint
		// could otherwise choose the URI that is judged).
		s.forwardRefused(w, r, q, http.StatusForbidden, policy.ReasonBadRequest,
			fmt.Sprintf("forward-auth check from %s, which is not in trusted_proxies (claimed %s)", q.client.ClientIP, claimed(r)),
			pageData{Title: "Forbidden", Message: "This address answers only the gateway's trusted proxies (trusted_proxies)."})
		return true
	}
	if q.clientErr != nil {
		s.forwardedForRefused(w, r, q)
		return true
	}
	var err error
	switch q.mode {
	case modeForwardAuth:
		o, err = fromHeaders(r, "X-Forwarded-Method", "X-Forwarded-Uri")
	case modeNginx, modeNginxPage:
		o, err = fromHeaders(r, "X-Original-Method", "X-Original-URI")
	case modeEnvoyHTTP:
		o = original{method: r.Method, host: r.Host, uri: strings.TrimPrefix(r.RequestURI, envoyAuthPrefix)}
		err = o.validate()
	}
	if err != nil {
		s.forwardRefused(w, r, q, http.StatusBadRequest, policy.ReasonBadRequest, err.Error(),
			pageData{Title: "Bad request", Message: "The proxy that asked about this request described it incompletely: " + err.Error() + ".",
				Next: "This is a configuration problem of the ingress; tell the gateway's operators and quote the request ID."})
		return true
	}
	if q.mode != modeEnvoyHTTP {
		// nginx, Traefik and Caddy cannot remove the client's copies of
		// the gateway's headers by pattern: refuse such requests instead.
		in := proxy.IngressForwardAuth
		if q.mode == modeNginx || q.mode == modeNginxPage {
			in = proxy.IngressNginx
		}
		if names := gatewayOnly(r.Header, rt, in, nil); len(names) > 0 {
			q.host = hostOnly(o.host)
			s.forwardRefused(w, r, q, http.StatusBadRequest, policy.ReasonBadRequest, "client sent "+names[0],
				pageData{Title: "Bad request", Message: "This request carries the header " + names[0] + ", which only the gateway may set.",
					Next: "Remove it from the request (a browser extension or a script may add it)."})
			return true
		}
	}
	s.serveOriginal(w, r, q, o)
	return true
}

// claimed describes the original request r claims, for audit details.
func claimed(r *http.Request) string {
	var b strings.Builder
	for _, h := range []string{"X-Forwarded-Method", "X-Original-Method", "X-Forwarded-Host", "X-Forwarded-Uri", "X-Original-URI"} {
		if v := r.Header.Get(h); v != "" {
			fmt.Fprintf(&b, "%s=%q ", h, v)
		}
	}
	out := strings.TrimSpace(b.String())
	if out == "" {
		return "nothing"
	}
	if len(out) > 512 {
		out = out[:512] + "…"
	}
	return out
}

// fromHeaders reads the original request from the named method and URI
// headers and X-Forwarded-Host (X-Forwarded-Proto, when sent, must be http
// or https). Every one must be present exactly once.
func fromHeaders(r *http.Request, methodHeader, uriHeader string) (original, error) {
	one := func(name string) (string, error) {
		v := r.Header.Values(name)
		switch len(v) {
		case 0:
			return "", fmt.Errorf("server: expected the header %s, got none", name)
		case 1:
			return v[0], nil
		}
		return "", fmt.Errorf("server: expected one %s header, got %d", name, len(v))
	}
	var o original
	var err error
	if o.method, err = one(methodHeader); err != nil {
		return o, err
	}
	if o.uri, err = one(uriHeader); err != nil {
		return o, err
	}
	if o.host, err = one("X-Forwarded-Host"); err != nil {
		return o, err
	}
	if v := r.Header.Values("X-Forwarded-Proto"); len(v) > 1 || len(v) == 1 && v[0] != "http" && v[0] != "https" {
		return o, fmt.Errorf("server: expected X-Forwarded-Proto http or https, got %q", v)
	}
	return o, o.validate()
}

// validate checks the original request strictly: a method token, a host
// name (with optional port), and an origin-form URI without fragment.
func (o original) validate() error {
	if o.method == "" || len(o.method) > 32 || strings.IndexFunc(o.method, func(c rune) bool { return !isTokenChar(c) }) >= 0 {
		return fmt.Errorf("server: expected an HTTP method, got %q", o.method)
	}
	if len(o.host) > 255 || !proxy.ValidHost(o.host) {
		return fmt.Errorf("server: expected a host name, got %q", o.host)
	}
	if o.uri == "" || o.uri[0] != '/' || len(o.uri) > maxOriginalURI {
		return fmt.Errorf("server: expected a request URI starting with '/', got %q", truncate(o.uri, 200))
	}
	for i := 0; i < len(o.uri); i++ {
		if c := o.uri[i]; c <= ' ' || c == 0x7f || c == '#' {
			return fmt.Errorf("server: expected a request URI without spaces, control characters or fragment, got %q", truncate(o.uri, 200))
		}
	}
	return nil
}

func isTokenChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// serveOriginal decides the original request o on the proxy mode's path
// (serveRoute) and answers on w. r is the check request (its context
// carries q; its headers are the original request's, as the ingress
// forwarded them).
func (s *Server) serveOriginal(w http.ResponseWriter, r *http.Request, q *request, o original) {
	q.host = hostOnly(o.host)
	u, err := url.ParseRequestURI(o.uri)
	// The path as the ingress forwards it (never re-escaped from the
	// decoded path), normalized and checked against the readings of
	// Servlet and case-insensitive upstreams like the proxy mode's.
	target := &http.Request{RequestURI: o.uri}
	var p string
	if err == nil {
		p, err = q.rt.table.NormalizeRequest(q.host, target)
	}
	if err != nil {
		q.path = ""
		s.forwardRefused(w, r, q, http.StatusBadRequest, policy.ReasonBadRequest, "", pageData{Title: "Bad request",
			Message: "The address of this request is malformed: " + err.Error() + ".", Next: "Check the link you followed."})
		return
	}
	q.path = p
	if p != route.RawPath(target) {
		// In proxy mode the tool receives the normalized path; here the
		// ingress forwards the original one, which the tool may read
		// differently ("/a/../admin", "%61dmin", "//admin"). Judge only
		// what the tool will see: a path already in normal form.
		s.forwardRefused(w, r, q, http.StatusBadRequest, policy.ReasonBadRequest, "path not in normal form: "+truncate(u.EscapedPath(), 200),
			pageData{Title: "Bad request", Message: "The address of this request is not in its normal form (the gateway would read it as " + p + ").",
				Next: "Open " + p + " instead."})
		return
	}
	if strings.HasPrefix(p, reservedPrefix) || p == jwksPath {
		s.forwardRefused(w, r, q, http.StatusNotFound, policy.ReasonRouteNotFound, "the ingress asked about a gateway address",
			pageData{Title: "Not found", Message: "This address belongs to the gateway itself; the ingress must send it to the gateway instead of asking about it.",
				Next: "Tell the ingress's operators: route /.gateway/ and /.well-known/gateway/ to the gateway."})
		return
	}
	orig := &http.Request{
		Method: o.method, URL: u, Proto: r.Proto, ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor,
		// The ingress's headers are the original request's (cookies,
		// Authorization, Accept); read-only from here on.
		Header: r.Header, Body: http.NoBody, Host: o.host, RemoteAddr: r.RemoteAddr, RequestURI: o.uri,
		// TLS stays nil: the connection is the ingress's, and its client
		// certificate is not the user's device certificate.
	}
	s.serveRoute(w, orig.WithContext(r.Context()))
}

// pageAfterRefusal answers nginx's page check for a request its first
// check refused but which is allowed now: the access changed in between (a
// grant given, a window opened, a sign-in on another tab). nginx did not
// forward the request and will not: the browser is sent to ask again (GET
// and HEAD, to the same path on the same host), anything else is told to.
// The record says so, as a denial: nothing reached the tool.
func (s *Server) pageAfterRefusal(w http.ResponseWriter, r *http.Request, q *request, e *routeEntry) {
	d := policy.Decision{Reasons: []policy.Reason{policy.ReasonChanged}}
	status := http.StatusConflict
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		status = http.StatusSeeOther
	}
	rec := s.decisionRecord(r, e, d, status)
	rec.Detail = "nginx refused this request at its check; allowed at the page check: not forwarded, the client is told to try again"
	s.audit.Log(rec)
	s.countDecision(e, rec.Decision, string(policy.ReasonChanged))
	w.Header().Set("Cache-Control", "no-store")
	if status == http.StatusSeeOther {
		// The path is the normalized one the check judged ("/…", never
		// "//…"), with the request's query: same host, no open redirect.
		loc := q.path
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(status)
		return
	}
	s.page(w, r, status, pageData{Title: "Try again", Message: "Your access changed while the gateway was refusing this request; it was not sent to the tool.",
		Next: "Send it again.", Reason: string(policy.ReasonChanged)})
}

// allowForwarded is the final step of an allowed request in forward-auth
// mode: 200 with the headers the ingress sets upstream (f.Set: the context
// token and the request ID). It returns the status sent.
func (s *Server) allowForwarded(w http.ResponseWriter, r *http.Request, q *request, f *proxy.Forward) int {
	h := w.Header()
	for k, v := range f.Set {
		h[k] = v
	}
	h.Set("Cache-Control", "no-store")
	// The tool must not receive a credential the gateway consumed: its
	// cookies (a session cookie the tool could replay) or a bearer ID token
	// it verified (valid on every allow_bearer route). The answer carries
	// the client's Cookie and Authorization headers as the tool may receive
	// them, which the documented ingress configurations set on the request
	// (nginx auth_request_set, Caddy copy_headers, Traefik
	// authResponseHeaders, Envoy allowed_upstream_headers for Cookie).
	// Both are sent even when empty, so that an ingress replaces the
	// client's header.
	toolCredentials(h, r.Header, q)
	if q.mode == modeEnvoyHTTP {
		// Envoy removes these from the request it forwards (ext_authz HTTP
		// service contract, Envoy v3 API: x-envoy-auth-headers-to-remove):
		// the client's copies of the gateway's headers and the credential
		// headers left empty, as the gRPC service does.
		if rm := append(gatewayOnly(r.Header, q.rt, proxy.IngressEnvoy, f.Set), emptied(r.Header, h)...); len(rm) > 0 {
			h.Set("X-Envoy-Auth-Headers-To-Remove", strings.Join(rm, ","))
		}
	}
	q.forwardAllowed = true
	w.WriteHeader(http.StatusOK)
	return http.StatusOK
}

// forwardGuard keeps every answer to an ingress that is not the allow of
// allowForwarded out of 2xx, which ingresses read as "let it through": a
// page, a redirect or an error that came out 200 (a kind's page, a body
// written without a status) is sent as 403 instead. An allow is an
// explicit act, never a status that happened to be 2xx.
type forwardGuard struct {
	http.ResponseWriter
	q     *request
	wrote bool
}

func (w *forwardGuard) WriteHeader(code int) {
	if !w.wrote && code >= 200 && code < 300 && !w.q.forwardAllowed {
		code = http.StatusForbidden
	}
	w.wrote = w.wrote || code >= 200
	w.ResponseWriter.WriteHeader(code)
}

func (w *forwardGuard) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *forwardGuard) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// toolCredentials sets on the allow answer h the client's credential
// headers (in) as the tool may receive them: Cookie without the gateway's
// cookies; Authorization empty when the gateway consumed the bearer token
// in it (identify, allow_bearer), else as the client sent it: a header the
// gateway did not read (a Basic or API token on a route without
// allow_bearer, a scheme other than Bearer) is the client's to the tool,
// as in proxy mode. Each is "" when nothing is left.
func toolCredentials(h, in http.Header, q *request) {
	h["Cookie"] = []string{toolCookies(in, q.rt)}
	if v := in["Authorization"]; len(v) > 0 && !q.client.StripAuthorization {
		h["Authorization"] = v // in is read-only
	} else {
		h["Authorization"] = []string{""}
	}
}

// credentialHeaders are the headers toolCredentials sets on every allow
// answer.
var credentialHeaders = [...]string{"Cookie", "Authorization"}

// emptied returns the lowercase names of the credential headers the client
// sent (in) that the allow answer h leaves empty: an ingress that can
// remove headers (Envoy) removes them rather than forward them empty.
func emptied(in, h http.Header) []string {
	var out []string
	for _, name := range credentialHeaders {
		if len(in[name]) > 0 && strings.Join(h[name], "") == "" {
			out = append(out, strings.ToLower(name))
		}
	}
	return out
}

// toolCookies is the client's Cookie header without the gateway's cookies
// ("" when none are left).
func toolCookies(in http.Header, rt *runtime) string {
	h := http.Header{"Cookie": in["Cookie"]}
	proxy.StripCookies(h, rt.stripCookies...)
	return strings.Join(h["Cookie"], "; ")
}

// gatewayOnly returns the lowercase names in h that an upstream could take
// for the gateway's word, the headers proxy mode deletes from every request
// (proxy.StripInbound): the X-Gateway-* namespace, the configured token
// header, the path- and method-override headers and the strip_headers list
// (identity headers of other proxies), in any letter case and with '_' or
// '.' for '-' (proxy.SpoofableInForwardAuth) — but not the headers the
// ingress in (or a CDN, load balancer or TLS terminator in front of it) sets
// itself, nor the configured client certificate header, which a trusted
// ingress sets for the gateway to read: those in the spelling they are set
// in only.
// Names in except are left out.
func gatewayOnly(h http.Header, rt *runtime, in proxy.Ingress, except http.Header) []string {
	var out []string
	cert := rt.cfg.Listen.ClientCertHeader
	for name := range h {
		// The token header is in rt.stripHeaders (every runtime adds it).
		if !proxy.SpoofableInForwardAuth(name, rt.stripHeaders, in) {
			continue
		}
		// The ingress sets the header as configured; another spelling
		// ('_' or '.' for '-') is the client's, which the gateway does not
		// read but a tool might.
		if cert != "" && strings.EqualFold(name, cert) {
			continue
		}
		if _, ok := except[http.CanonicalHeaderKey(name)]; ok {
			continue
		}
		out = append(out, strings.ToLower(name))
	}
	return out
}

// forwardRefused answers a request that is refused before a decision could
// be made (a forward-auth check from an untrusted peer or with a malformed
// original request; any request whose client address is unknown), with an
// audit record that says why.
func (s *Server) forwardRefused(w http.ResponseWriter, r *http.Request, q *request, status int, reason policy.Reason, detail string, pd pageData) {
	rec := audit.Record{
		Time: s.now(), Kind: audit.KindDecision, RequestID: q.id, Host: q.host, Method: r.Method,
		Path: q.path, SourceIP: q.client.ClientIP.String(), Status: status, Decision: "deny",
		Reasons: []string{string(reason)}, Detail: detail, Transport: q.mode.String(), TraceID: q.traceID,
	}
	s.audit.Log(rec)
	q.recorded = true
	s.countDecision(nil, "deny", string(reason))
	pd.Reason = string(reason)
	s.page(w, r, status, pd)
}

// forwardedForRefused answers a request whose client address is unknown
// (q.clientErr: a trusted proxy sent a malformed X-Forwarded-For chain), in
// any mode, with 400 and a record of reason malformed-forwarded-for whose
// source is the proxy and whose detail quotes the element. Judged with the
// proxy's own address instead, it could pass a source_cidrs rule for the
// network the proxies are in.
func (s *Server) forwardedForRefused(w http.ResponseWriter, r *http.Request, q *request) {
	s.forwardRefused(w, r, q, http.StatusBadRequest, policy.ReasonMalformedForwardedFor, q.clientErr.Error(),
		pageData{Title: "Bad request", Message: "The proxy in front of the gateway sent a malformed X-Forwarded-For header, so the address this request comes from is unknown.",
			Next: "Remove any X-Forwarded-For header your client adds; if that is not it, tell the gateway's operators (their load balancer or ingress) and quote the request ID."})
}

// nginxWriter maps the gateway's answers to the three statuses nginx's
// auth_request understands: 2xx (allow), 401 (sign in: nginx's error_page
// 401 sends the browser to /.gateway/sign-in) and 403 (every other answer:
// nginx's error_page 403 asks the gateway for its page). nginx reads no
// body from an auth subrequest, so none is sent.
type nginxWriter struct {
	http.ResponseWriter
	signIn bool
	code   int
}

func (w *nginxWriter) WriteHeader(code int) {
	if w.code != 0 {
		return
	}
	switch {
	case code >= 200 && code < 300:
	case w.signIn:
		code = http.StatusUnauthorized
	default:
		code = http.StatusForbidden
	}
	w.code = code
	h := w.Header()
	h.Del("Location")
	h.Del("Content-Type")
	w.ResponseWriter.WriteHeader(code)
}

func (w *nginxWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.code != http.StatusOK {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// nginxSignIn answers "sign in first" to nginx (startLogin in nginx mode):
// 401 and nothing else. The sign-in itself starts at /.gateway/sign-in,
// where nginx's error_page 401 sends the browser, so no login state is
// stored for a subrequest.
func nginxSignIn(w http.ResponseWriter) int {
	if nw, ok := w.(*nginxWriter); ok {
		nw.signIn = true
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	return http.StatusUnauthorized
}

// forwardSignIn starts a sign-in that returns to ?rd=URL, a URL on a routed
// host: the target of nginx's error_page 401. rd is the rest of the query
// after "rd=", verbatim, so nginx's unescaped $request_uri (with its own
// '?' and '&') fits; a percent-encoded URL ("https%3A%2F%2F...") is
// decoded once.
func (s *Server) forwardSignIn(w http.ResponseWriter, r *http.Request) {
	q := reqFrom(r.Context())
	rt := q.rt
	if !rt.cfg.ForwardAuth.Enabled {
		s.page(w, r, http.StatusNotFound, pageData{Title: "Not found", Message: "There is no gateway page at this address."})
		return
	}
	rd, ok := strings.CutPrefix(r.URL.RawQuery, "rd=")
	if l := strings.ToLower(rd); ok && (strings.HasPrefix(l, "http%3a") || strings.HasPrefix(l, "https%3a")) {
		var err error
		if rd, err = url.QueryUnescape(rd); err != nil {
			ok = false
		}
	}
	ret, err := auth.ValidateReturn(rd, rt.publicURL.Scheme, rt.routed)
	if !ok || err != nil {
		s.page(w, r, http.StatusBadRequest, pageData{Title: "Bad sign-in link",
			Message: "This sign-in link does not name an address of a tool behind this gateway.",
			Next:    "Open the tool's address again.", Reason: string(policy.ReasonBadRequest)})
		return
	}
	// The sign-in is the proxy mode's (startLogin: its limits, errors and
	// binding cookie), as if the browser had asked for ret itself.
	u, err := url.Parse(ret)
	var p string
	if err == nil {
		p, err = route.Normalize(u.EscapedPath())
	}
	if err != nil {
		s.page(w, r, http.StatusBadRequest, pageData{Title: "Bad sign-in link", Message: "This sign-in link names a malformed address.",
			Next: "Open the tool's address again.", Reason: string(policy.ReasonBadRequest)})
		return
	}
	orig := r.WithContext(r.Context())
	orig.Host, orig.URL = u.Host, &url.URL{Path: u.Path, RawPath: p, RawQuery: u.RawQuery}
	q.path = p
	s.startLogin(w, orig, q)
}
