package proxy

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
)

// Namespace is the prefix of the gateway's own headers, lowercase, with '-'.
const Namespace = "x-gateway-"

// forwarding headers say where the request came from. The gateway sets its
// own (X-Forwarded-For, -Proto, -Host; X-Real-IP for a trusted proxy's
// client) from what it judged, so every client-sent one is deleted.
var forwarding = map[string]bool{
	"forwarded":         true,
	"x-forwarded-for":   true,
	"x-forwarded-host":  true,
	"x-forwarded-proto": true,
	"x-forwarded-port":  true,
	"x-real-ip":         true,
	"x-client-ip":       true,
}

// pathOverride headers make some frameworks serve another path than the
// request's (Symfony, Zend and IIS read X-Original-URL and X-Rewrite-URL;
// Spring's ForwardedHeaderFilter and Werkzeug's ProxyFix prepend
// X-Forwarded-Prefix; Envoy restores X-Envoy-Original-Path; gunicorn takes
// a SCRIPT_NAME header for the WSGI SCRIPT_NAME and serves the rest of the
// path, so /public/admin is /admin to the app, and lists it and PATH_INFO
// as headers a front end may set: forwarder_headers). Rules judge the
// request's normalized path, so these never reach the upstream, whatever
// strip_headers says.
var pathOverride = map[string]bool{
	"x-original-url":        true,
	"x-original-uri":        true,
	"x-rewrite-url":         true,
	"x-forwarded-uri":       true,
	"x-forwarded-prefix":    true,
	"x-forwarded-path":      true,
	"x-envoy-original-path": true,
	"x-script-name":         true,
	"script-name":           true,
	"path-info":             true,
}

// methodOverride headers make some frameworks (Symfony, Laravel, Rack,
// Express method-override) execute a POST as another method, and
// X-Forwarded-Method, X-Forwarded-Uri's companion, is how forward-auth
// ingresses (Traefik, Caddy) describe the request's method to whatever
// judges it behind them. Rules match the request's method, so these never
// reach the upstream.
var methodOverride = map[string]bool{
	"x-http-method-override": true,
	"x-http-method":          true,
	"x-method-override":      true,
	"x-forwarded-method":     true,
}

// DefaultStripHeaders are the headers through which other authenticating
// proxies, CDNs and load balancers tell an application who the user is,
// where they connect from and how: a tool that used to sit behind one of them
// may still believe these headers. They are deleted from every request in
// every letter case and with '_' or '.' for '-' (CGI, WSGI, PHP and Rack read
// X_Forwarded_User as X-Forwarded-User). A trailing '*' makes an entry a
// prefix. The configuration's strip_headers adds to or replaces this list.
var DefaultStripHeaders = []string{
	// oauth2-proxy, and nginx auth_request set-ups.
	"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups", "X-Forwarded-Preferred-Username",
	"X-Forwarded-Access-Token", "X-Auth-Request-*", "X-Auth-User", "X-Auth-Email",
	// Authelia, Apache-style remote users, the Kubernetes authenticating proxy.
	"Remote-User", "Remote-Email", "Remote-Groups", "Remote-Name",
	"X-Remote-User", "X-Remote-Email", "X-Remote-Group", "X-Remote-Groups", "X-Remote-Extra-*",
	// Grafana, Gitea and other "auth proxy" integrations; Authentik; Pomerium;
	// Vouch; Cloudflare Access; Google IAP; AWS ALB; Azure App Service.
	"X-Webauth-*", "X-Authentik-*", "X-Pomerium-*", "X-Vouch-*", "Cf-Access-*",
	"X-Goog-Authenticated-User-*", "X-Goog-Iap-Jwt-Assertion", "X-Amzn-Oidc-*",
	"X-Ms-Client-Principal*", "X-Ms-Token-*",
	// Client certificates passed by a TLS terminator (Envoy, nginx).
	"X-Forwarded-Client-Cert", "X-Client-Cert*", "X-Client-Verify", "X-Client-Dn", "X-Ssl-*", "Ssl-Client-*",
	// Client addresses: the gateway judged one address (X-Forwarded-For from
	// trusted_proxies) and sends only that one.
	"True-Client-IP", "CF-Connecting-IP", "CF-Connecting-IPv6", "Fastly-Client-IP", "X-Cluster-Client-IP",
	"X-Forwarded", "Forwarded-For", "X-Originating-IP", "X-Remote-IP", "X-Remote-Addr", "Client-IP",
	"X-ProxyUser-Ip", "X-Azure-ClientIP", "X-Azure-SocketIP",
	// Scheme, host and internal-hop claims (Rack, Rails, Django, Envoy).
	"X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Forwarded-Protocol", "X-Url-Scheme", "Front-End-Https",
	"X-Forwarded-Server", "X-Host", "X-Original-Host", "X-HTTP-Host-Override", "X-Envoy-*",
	// Framework internals: Next.js passes its middleware's decisions in
	// x-middleware-* headers (rewrite, next, override-headers, request-*)
	// and, before 15.2.3, skipped the middleware — where apps check
	// authorization — for a request carrying x-middleware-subrequest
	// (CVE-2025-29927); x-invoke-* drive its internal routing.
	"X-Middleware-*", "X-Invoke-*",
}

// HeaderList is a set of header names and name prefixes (an entry ending in
// '*'), compared in every letter case and with '_' or '.' for '-'. It is
// immutable once built and safe for concurrent use.
type HeaderList struct {
	names    map[string]bool
	prefixes [][]byte
	entries  []string
}

// NewHeaderList compiles names. Each must be a header name (RFC 9110 token
// characters) or such a name followed by '*'.
func NewHeaderList(names ...string) (*HeaderList, error) {
	l := &HeaderList{names: map[string]bool{}}
	for _, n := range names {
		base, prefix := strings.CutSuffix(n, "*")
		if base == "" || !validToken(base) {
			return nil, fmt.Errorf("proxy: expected a header name such as X-Remote-User, or a prefix such as X-Webauth-*, got %q", n)
		}
		f := foldInto(nil, base)
		if prefix {
			l.prefixes = append(l.prefixes, f)
		} else {
			l.names[string(f)] = true
		}
		l.entries = append(l.entries, n)
	}
	return l, nil
}

// MustHeaderList is NewHeaderList for lists known to be valid.
func MustHeaderList(names ...string) *HeaderList {
	l, err := NewHeaderList(names...)
	if err != nil {
		panic(err)
	}
	return l
}

var defaultStrip = MustHeaderList(DefaultStripHeaders...)

// DefaultStripList is DefaultStripHeaders, compiled.
func DefaultStripList() *HeaderList { return defaultStrip }

// Entries returns the list as given.
func (l *HeaderList) Entries() []string { return append([]string(nil), l.entries...) }

// Contains reports whether name is in the list, in any spelling.
func (l *HeaderList) Contains(name string) bool {
	var buf [128]byte
	return l.containsFolded(foldInto(buf[:0], name))
}

func (l *HeaderList) containsFolded(f []byte) bool {
	if l == nil {
		return false
	}
	if l.names[string(f)] {
		return true
	}
	for _, p := range l.prefixes {
		if bytes.HasPrefix(f, p) {
			return true
		}
	}
	return false
}

// foldInto appends the folded form of a header name to dst: lowercase, with
// '_' and '.' as '-', the way CGI, WSGI, PHP and Rack turn header names into
// variable names (HTTP_X_FORWARDED_USER), so that every spelling an upstream
// reads as one header is one name here.
func foldInto(dst []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '_' || c == '.':
			c = '-'
		}
		dst = append(dst, c)
	}
	return dst
}

// StripInbound deletes from h every client-sent header an upstream could
// take for the gateway's word: the gateway's namespace (X-Gateway-*), the
// forwarding headers (the gateway sets its own), the path-override and
// method-override headers, HTTP2-Settings, and every header in strip (nil
// means DefaultStripList), each in any letter case and with '_' or '.' for
// '-'. It folds names in a stack buffer and does not allocate: it is on
// every request's path.
func StripInbound(h http.Header, strip *HeaderList) {
	if strip == nil {
		strip = defaultStrip
	}
	var buf [128]byte
	for name := range h {
		f := foldInto(buf[:0], name)
		if bytes.HasPrefix(f, namespaceBytes) || always[string(f)] || strip.containsFolded(f) {
			delete(h, name)
		}
	}
}

var namespaceBytes = []byte(Namespace)

// always is every name StripInbound deletes whatever the list: one map
// lookup per header on the request path.
var always = func() map[string]bool {
	m := map[string]bool{"http2-settings": true}
	for _, set := range []map[string]bool{forwarding, pathOverride, methodOverride} {
		for k := range set {
			m[k] = true
		}
	}
	return m
}()

// Ingress names the headers one kind of ingress sets itself on the check
// it sends the gateway in forward-auth mode (describing the request, or on
// its own way): the gateway must not take them for the client's. forwards
// are the forwarding headers it sets (or removes) on the request to the
// tool; nil means all of them (the nginx, Caddy and Traefik configurations of
// docs/forward-auth.md set or remove each). A client's copy of any other
// reaches the tool untouched.
type Ingress struct{ sets, forwards *HeaderList }

// The ingresses forward-auth mode knows.
var (
	// IngressForwardAuth is Traefik's ForwardAuth and Caddy's forward_auth:
	// X-Forwarded-Method and -Uri describe the request; Traefik adds
	// X-Forwarded-Server, and after a stripPrefix X-Forwarded-Prefix.
	IngressForwardAuth = Ingress{sets: MustHeaderList("X-Forwarded-Method", "X-Forwarded-Uri", "X-Forwarded-Server", "X-Forwarded-Prefix")}
	// IngressNginx is nginx's auth_request as the gateway's snippet sets it
	// up: X-Original-URI and X-Original-Method describe the request.
	IngressNginx = Ingress{sets: MustHeaderList("X-Original-URI", "X-Original-Method")}
	// IngressEnvoy is Envoy's ext_authz (HTTP or gRPC): Envoy describes the
	// request in the check itself; X-Envoy-* are its own (it removes a
	// client's at the edge). Of the forwarding headers it sets only
	// X-Forwarded-For and -Proto (use_remote_address); a client's
	// X-Real-IP, X-Forwarded-Host, Forwarded … are left to the gateway to
	// remove.
	IngressEnvoy = Ingress{MustHeaderList("X-Envoy-*"), MustHeaderList("X-Forwarded-For", "X-Forwarded-Proto")}
)

// infrastructure are the entries of DefaultStripHeaders that CDNs, load
// balancers and TLS terminators in front of an ingress set themselves (the
// client's address, scheme and host; the client certificate): in proxy
// mode the gateway deletes them and sends its own judgement, but in
// forward-auth mode the ingress forwards the request, and refusing them
// would refuse every request that came through Cloudflare, Front Door or an
// mTLS terminator. Whoever sits in front overwrites a client's copies.
var infrastructure = MustHeaderList(
	"True-Client-IP", "CF-Connecting-IP", "CF-Connecting-IPv6", "Fastly-Client-IP", "X-Cluster-Client-IP",
	"X-Forwarded", "Forwarded-For", "X-Originating-IP", "X-Remote-IP", "X-Remote-Addr", "Client-IP",
	"X-ProxyUser-Ip", "X-Azure-ClientIP", "X-Azure-SocketIP", "X-Azure-Ref", "Cf-Ray", "Cf-Visitor", "Cf-Ipcountry",
	"X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Forwarded-Protocol", "X-Url-Scheme", "Front-End-Https",
	"X-Forwarded-Server", "X-Host", "X-Original-Host",
	"X-Forwarded-Client-Cert", "X-Client-Cert*", "X-Client-Verify", "X-Client-Dn", "X-Ssl-*", "Ssl-Client-*",
)

// SpoofableInForwardAuth reports whether a header the client sent, which
// the ingress in forward-auth mode will forward to the tool, could be taken
// by the tool for the gateway's word: the gateway's namespace, the path- and
// method-override headers, and the headers of strip (nil means
// DefaultStripList) through which other authenticating proxies name the
// user — in any letter case and with '_' or '.' for '-' — except what the
// ingress in front sets itself (in: its describing headers and the
// forwarding headers it sets on the request to the tool, in.forwards) and
// the infrastructure headers of CDNs,
// load balancers and TLS terminators (the client's address, scheme, host
// and certificate), which whoever sets them overwrites. Those are set in
// their '-' spelling only: a '_' or '.' spelling of them (which CGI, PHP,
// WSGI and Rack read as the same header) is the client's, and whoever
// overwrites the '-' spelling forwards it untouched. The gateway refuses
// such a request (nginx, Traefik, Caddy) or has Envoy remove the header.
func SpoofableInForwardAuth(name string, strip *HeaderList, in Ingress) bool {
	if strip == nil {
		strip = defaultStrip
	}
	var buf [128]byte
	f := foldInto(buf[:0], name)
	switch {
	case bytes.HasPrefix(f, namespaceBytes):
		return true
	case strings.IndexAny(name, "_.") < 0 && (forwarding[string(f)] && (in.forwards == nil || in.forwards.containsFolded(f)) ||
		in.sets.containsFolded(f) || infrastructure.containsFolded(f)):
		return false
	}
	return always[string(f)] || strip.containsFolded(f)
}

// SameHeader reports whether a and b name one header for an upstream: equal
// in any letter case and with '_' or '.' for '-' (without allocating).
func SameHeader(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var fa, fb [128]byte
	return bytes.Equal(foldInto(fa[:0], a), foldInto(fb[:0], b))
}

// validToken reports whether s is an RFC 9110 token (a valid header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
