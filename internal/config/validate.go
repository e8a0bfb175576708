package config

import (
	"crypto/x509"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/proxy"
	"github.com/accessgateway/gateway/internal/route"
)

// DefaultShutdownGrace is listen.shutdown_grace's default: in-flight requests
// get this long to finish after SIGTERM (Kubernetes waits 30 s by default
// before it kills the pod).
const DefaultShutdownGrace = 15 * time.Second

// applyDefaults fills every default in one place. It runs before Validate.
func (c *Config) applyDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defDur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Listen.Address, ":8080")
	defDur(&c.Listen.ReadHeaderTimeout, 10*time.Second)
	defDur(&c.Listen.IdleTimeout, 120*time.Second)
	defDur(&c.Listen.ShutdownGrace, DefaultShutdownGrace)
	def(&c.Admin.Address, "127.0.0.1:9090")
	if c.Dev {
		// gateway dev listens on loopback only: ":8080" means 127.0.0.1:8080.
		for _, a := range []*string{&c.Listen.Address, &c.Admin.Address, &c.ForwardAuth.GRPCAddress} {
			if strings.HasPrefix(*a, ":") {
				*a = "127.0.0.1" + *a
			}
		}
	}
	if len(c.OIDC.Scopes) == 0 {
		c.OIDC.Scopes = []string{"openid", "email", "profile"}
	}
	def(&c.OIDC.GroupsClaim, "groups")
	def(&c.OIDC.UserInfo, auth.UserInfoAuto)
	if c.OIDC.EndProviderSession == nil {
		t := true
		c.OIDC.EndProviderSession = &t
	}
	if c.OIDC.RequireVerifiedEmail == nil {
		t := true
		c.OIDC.RequireVerifiedEmail = &t
	}
	defDur(&c.OIDC.RefreshInterval, 5*time.Minute)
	def(&c.Session.Store, "memory")
	defDur(&c.Session.Lifetime, 12*time.Hour)
	def(&c.Session.CookieName, "_gateway_session")
	c.Session.CookieDomain = strings.ToLower(strings.TrimPrefix(c.Session.CookieDomain, "."))
	def(&c.Audit.File, "-")
	if s := c.Audit.RedisStream; s != nil && s.Stream == "" {
		// Under a key prefix that is set, as every key of the gateway is
		// (<key_prefix>cache-canary:…, the store's keys); without one,
		// the key it always had.
		s.Stream = audit.DefaultStream
		if c.Session.Redis != nil && c.Session.Redis.KeyPrefix != "" {
			s.Stream = c.Session.Redis.KeyPrefix + audit.StreamKey
		}
	}
	def(&c.Log.Format, "json")
	def(&c.Log.Level, "info")
	for i := range c.Routes {
		r := &c.Routes[i]
		r.Host = strings.ToLower(r.Host)
		def(&r.Path, "/")
		def(&r.Title, r.Name)
		def(&r.PathCase, PathCaseSensitive)
		if r.UpstreamTimeout == nil {
			d := DefaultUpstreamTimeout
			r.UpstreamTimeout = &d
		}
		if r.RecheckInterval == nil {
			d := DefaultRecheckInterval
			r.RecheckInterval = &d
		}
		if r.MethodOverrideBodyLimit == nil {
			n := int64(DefaultMethodOverrideBodyLimit)
			r.MethodOverrideBodyLimit = &n
		}
		if r.Upgrades == nil {
			r.Upgrades = append([]string(nil), proxy.DefaultUpgrades...)
		}
		for j := range r.Rules.Allow {
			normalizeCondition(&r.Rules.Allow[j])
		}
		for j := range r.Rules.Deny {
			normalizeCondition(&r.Rules.Deny[j])
		}
	}
	for i := range c.Tests {
		t := &c.Tests[i]
		def(&t.Method, http.MethodGet)
		t.Method = strings.ToUpper(t.Method)
	}
}

func normalizeCondition(cond *policy.Condition) {
	for i, d := range cond.Domains {
		cond.Domains[i] = strings.ToLower(d)
	}
	for i, m := range cond.Methods {
		cond.Methods[i] = strings.ToUpper(m)
	}
}

// Validate checks the whole configuration and returns Problems listing every
// problem with its field path, or nil. It reads referenced files (CA files)
// but changes nothing.
func (c *Config) Validate() error {
	v := &validator{}
	c.validate(v)
	if len(v.probs) > 0 {
		return redactProblems(v.probs)
	}
	return nil
}

type validator struct{ probs Problems }

func (c *Config) warn(format string, args ...any) {
	c.warnings = append(c.warnings, redactURLs(fmt.Sprintf(format, args...)))
}

// IsLoopbackHost reports whether host (without port or brackets) is
// localhost or a loopback address (127.0.0.0/8, ::1).
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func (v *validator) add(path, format string, args ...any) {
	v.probs = append(v.probs, path+": "+fmt.Sprintf(format, args...))
}

var (
	routeName  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	cookieName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	hostLabel  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

func (c *Config) validate(v *validator) {
	c.warnings = nil
	pub, err := url.Parse(c.PublicURL)
	switch {
	case c.PublicURL == "":
		v.add("public_url", "required: the gateway's own URL, e.g. https://gateway.corp.example")
	case err != nil || pub.Host == "" || (pub.Scheme != "https" && pub.Scheme != "http"):
		v.add("public_url", "expected an absolute http(s) URL, got %q", c.PublicURL)
		pub = nil
	case pub.Path != "" && pub.Path != "/" || pub.RawQuery != "" || pub.Fragment != "" || pub.User != nil:
		v.add("public_url", "expected scheme and host only, got %q", c.PublicURL)
	case pub.Scheme == "http" && !c.Dev && !IsLoopbackHost(pub.Hostname()):
		v.add("public_url", "expected https, got %q (plain http is accepted only for a loopback host such as http://localhost:8080, or in gateway dev --config FILE)", c.PublicURL)
	case pub.Scheme == "http" && !c.Dev:
		c.warn("public_url: plain http on a loopback host (%q): fine for a local trial; browsers will send the session cookie without TLS", c.PublicURL)
	}

	if h, _, err := net.SplitHostPort(c.Listen.Address); err != nil {
		v.add("listen.address", "expected host:port, got %q", c.Listen.Address)
	} else if c.Dev && !IsLoopbackHost(h) {
		v.add("listen.address", "gateway dev listens on loopback only (127.0.0.1, ::1, localhost), got %q", c.Listen.Address)
	}
	if h, _, err := net.SplitHostPort(c.Admin.Address); err != nil {
		v.add("admin.address", "expected host:port, got %q", c.Admin.Address)
	} else if c.Dev && !IsLoopbackHost(h) {
		v.add("admin.address", "gateway dev listens on loopback only (127.0.0.1, ::1, localhost), got %q", c.Admin.Address)
	} else if c.Admin.Address == c.Listen.Address {
		v.add("admin.address", "must differ from listen.address (%q): the admin listener is never routed", c.Admin.Address)
	}
	if t := c.Listen.TLS; t != nil {
		if t.CertFile == "" {
			v.add("listen.tls.cert_file", "required when listen.tls is set")
		}
		if t.KeyFile == "" {
			v.add("listen.tls.key_file", "required when listen.tls is set")
		}
	}

	iss, err := url.Parse(c.OIDC.Issuer)
	switch {
	case c.OIDC.Issuer == "":
		v.add("oidc.issuer", "required: the OIDC provider's issuer URL")
	case err != nil || iss.Host == "" || (iss.Scheme != "https" && iss.Scheme != "http"):
		v.add("oidc.issuer", "expected an absolute https URL, got %q", c.OIDC.Issuer)
		iss = nil
	case iss.User != nil || iss.RawQuery != "" || iss.ForceQuery || iss.Fragment != "":
		// OpenID Connect Discovery: an issuer has no query or fragment;
		// user info would be sent to the provider and logged with the
		// issuer.
		v.add("oidc.issuer", "expected an https URL without user info, query or fragment, got %q", c.OIDC.Issuer)
	case iss.Scheme == "http" && !c.Dev && !IsLoopbackHost(iss.Hostname()):
		v.add("oidc.issuer", "expected https, got %q (plain http is accepted only for a provider on a loopback host such as http://localhost:9998; to try the gateway locally, run gateway dev --config FILE, or leave oidc.issuer out there to use the embedded development provider)", c.OIDC.Issuer)
	case iss.Scheme == "http" && !c.Dev:
		c.warn("oidc.issuer: plain http on a loopback host (%q): fine for a local trial, never for production", c.OIDC.Issuer)
	}
	switch c.OIDC.UserInfo {
	case auth.UserInfoAuto, auth.UserInfoAlways, auth.UserInfoNever:
	default:
		v.add("oidc.userinfo", "expected auto, always or never, got %q", c.OIDC.UserInfo)
	}
	if g := c.OIDC.GroupsClaim; strings.TrimSpace(g) != g || strings.HasPrefix(g, ".") || strings.HasSuffix(g, ".") || strings.Contains(g, "..") {
		v.add("oidc.groups_claim", "expected a claim name or a dotted path such as realm_access.roles, got %q", g)
	}
	if f := c.OIDC.CAFile; f != "" {
		if iss != nil && iss.Scheme != "https" {
			v.add("oidc.ca_file", "set, but oidc.issuer is not https")
		}
		if b, err := os.ReadFile(f); err != nil {
			v.add("oidc.ca_file", "%v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
			v.add("oidc.ca_file", "expected PEM certificates in %q, found none", f)
		}
	}
	if p := c.OIDC.PostLogoutRedirectURL; p != "" {
		u, err := url.Parse(p)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Fragment != "" || u.User != nil:
			v.add("oidc.post_logout_redirect_url", "expected an absolute https URL without fragment such as https://gateway.corp.example/.gateway/sign-out, got %q", p)
		case u.Scheme == "http" && !c.Dev && !IsLoopbackHost(u.Hostname()):
			v.add("oidc.post_logout_redirect_url", "expected https, got %q", p)
		}
	}
	if c.OIDC.ClientID == "" {
		v.add("oidc.client_id", "required")
	}
	hasOpenID := false
	for _, s := range c.OIDC.Scopes {
		hasOpenID = hasOpenID || s == "openid"
	}
	if !hasOpenID {
		v.add("oidc.scopes", "must include \"openid\", got %q", c.OIDC.Scopes)
	}
	if c.OIDC.RefreshInterval < time.Minute {
		v.add("oidc.refresh_interval", "expected at least 1m, got %s", c.OIDC.RefreshInterval)
	}

	switch c.Session.Store {
	case "memory":
		if c.Session.Redis != nil {
			v.add("session.redis", "set, but session.store is \"memory\": set store: redis or remove this section")
		}
	case "redis":
		if c.Session.Redis == nil {
			v.add("session.redis", "required when session.store is \"redis\"")
		} else {
			for _, e := range c.Session.Redis.Validate() {
				v.probs = append(v.probs, "session.redis."+e.Error())
			}
		}
	default:
		v.add("session.store", "expected memory or redis, got %q", c.Session.Store)
	}
	for _, e := range auth.ValidateKeys(c.Session.EncryptionKeys) {
		v.probs = append(v.probs, "session.encryption_keys"+e.Error())
	}
	if len(c.Session.EncryptionKeys) == 0 && c.Session.Store == "redis" && !c.Dev {
		v.add("session.encryption_keys", "required with store: redis: every replica needs the key that seals the refresh and ID tokens in Redis (create one with gateway keys generate --session --out FILE, then list it as {file: FILE, state: active})")
	}
	if c.Session.Lifetime < time.Minute || c.Session.Lifetime > 30*24*time.Hour {
		v.add("session.lifetime", "expected between 1m and 720h, got %s", c.Session.Lifetime)
	}
	if !cookieName.MatchString(c.Session.CookieName) {
		v.add("session.cookie_name", "expected letters, digits, '_', '.', '-', got %q", c.Session.CookieName)
	}
	// Browsers store a cookie whose name has the __Host- or __Secure- prefix
	// (compared without regard to case) only when it is Secure — here,
	// when public_url is https — and a __Host- one only without a Domain:
	// any other combination is a sign-in that never sticks.
	if name := strings.ToLower(c.Session.CookieName); strings.HasPrefix(name, "__host-") || strings.HasPrefix(name, "__secure-") {
		prefix := c.Session.CookieName[:strings.IndexByte(c.Session.CookieName, '-')+1]
		if pub != nil && pub.Scheme != "https" {
			v.add("session.cookie_name", "browsers keep a %s cookie only over https, and public_url is %q: drop the prefix, or serve https", prefix, c.PublicURL)
		}
		if strings.HasPrefix(name, "__host-") && c.Session.CookieDomain != "" {
			v.add("session.cookie_name", "browsers refuse a %s cookie with a domain, and session.cookie_domain is %q: use __Secure- or no prefix to share the session across hosts", prefix, c.Session.CookieDomain)
		}
	}
	if d := c.Session.CookieDomain; d != "" {
		if !validHost(d) {
			v.add("session.cookie_domain", "expected a DNS domain, got %q", d)
		} else if pub != nil && !WithinDomain(strings.ToLower(pub.Hostname()), d) {
			v.add("session.cookie_domain", "public_url host %q is not within %q", pub.Hostname(), d)
		}
	}

	for _, p := range c.Audit.Problems() {
		v.probs = append(v.probs, "audit."+p)
	}
	if c.Tracing != nil {
		for _, p := range c.Tracing.Problems() {
			v.probs = append(v.probs, "tracing."+p)
		}
	}
	if c.Audit.RedisStream != nil && c.Session.Store != "redis" {
		v.add("audit.redis_stream", "needs session.store: redis (the stream is written to the session store's Redis)")
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		v.add("log.format", "expected json or text, got %q", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "expected debug, info, warn or error, got %q", c.Log.Level)
	}
	if d := c.Templates.Dir; d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			v.add("templates.dir", "expected a readable directory, got %q", d)
		}
	}

	switch {
	case c.Token == nil && !c.Dev:
		v.add("token", "required: the keys that sign the context token (create one with: gateway keys generate --out FILE)")
	case c.Token != nil:
		for _, e := range c.Token.Validate() {
			v.probs = append(v.probs, "token."+e.Error())
		}
	}

	c.validateSections(v)
	if h := c.Listen.ClientCertHeader; h != "" {
		switch strings.ToLower(h) {
		case "authorization", "cookie", "host", "content-type", "content-length", "transfer-encoding", "connection", "proxy-authorization":
			v.add("listen.client_cert_header", "expected a header of the load balancer's own such as X-Client-Cert, got the reserved %q", h)
		default:
			if !cookieName.MatchString(h) {
				v.add("listen.client_cert_header", "expected a header name such as X-Client-Cert, got %q", h)
			}
		}
	}
	if c.Listen.ReadHeaderTimeout < 0 {
		v.add("listen.read_header_timeout", "expected a positive duration, got %s", c.Listen.ReadHeaderTimeout)
	}
	if c.Listen.IdleTimeout < 0 {
		v.add("listen.idle_timeout", "expected a positive duration, got %s", c.Listen.IdleTimeout)
	}
	if c.Listen.ShutdownGrace < 0 {
		v.add("listen.shutdown_grace", "expected a positive duration, got %s", c.Listen.ShutdownGrace)
	}

	c.trustedNets = nil
	for i, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, aerr := netip.ParseAddr(s); aerr == nil {
				p, err = a.Prefix(a.BitLen())
			}
		}
		path := fmt.Sprintf("trusted_proxies[%d]", i)
		switch {
		case err != nil:
			v.add(path, "expected a CIDR or IP address, got %q", s)
		case p.Bits() == 0:
			v.add(path, "%q trusts every client's X-Forwarded-* headers; list your load balancers' addresses", s)
		case p.Addr().Is4In6():
			// Peers are compared unmapped: such an entry would never match.
			v.add(path, "expected an IPv4 CIDR for IPv4 proxies, got IPv4-mapped %q (it would never match)", s)
		default:
			c.trustedNets = append(c.trustedNets, p.Masked())
		}
	}
	for _, fam := range []struct {
		name string
		is4  bool
	}{{"IPv4", true}, {"IPv6", false}} {
		if f := coverage(c.trustedNets, fam.is4); f > maxTrustedShare {
			v.add("trusted_proxies", "the %s entries together cover %.3g%% of all %s addresses (at most %.3g%% is accepted): "+
				"every client there could choose its own address; list your load balancers' addresses or subnets",
				fam.name, 100*f, fam.name, 100*maxTrustedShare)
		}
	}
	if r := c.StripHeaders; r.Replace != nil && len(r.Add) > 0 {
		v.add("strip_headers", "set add or replace, not both (list every header in replace)")
	} else if r.Replace != nil && len(r.Replace) == 0 {
		// An emptied replace list would stop stripping every other proxy's
		// identity header (Remote-User, X-Forwarded-User, ...).
		v.add("strip_headers.replace", "expected at least one header, got an empty list, which would strip none of the default identity headers; remove replace to keep the defaults")
	}
	for _, l := range []struct {
		key   string
		names []string
	}{{"add", c.StripHeaders.Add}, {"replace", c.StripHeaders.Replace}} {
		for i, n := range l.names {
			if _, err := proxy.NewHeaderList(n); err != nil {
				v.add(fmt.Sprintf("strip_headers.%s[%d]", l.key, i), "%v", err)
			} else if strings.HasPrefix(strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(n)), "x-gateway-") {
				v.add(fmt.Sprintf("strip_headers.%s[%d]", l.key, i), "%q is in the gateway's namespace, which is always stripped", n)
			}
		}
	}

	c.validateForwardAuth(v)
	c.validateRoutes(v, pub)
	c.validateTests(v)
}

func (c *Config) validateRoutes(v *validator, pub *url.URL) {
	if len(c.Routes) == 0 {
		v.add("routes", "at least one route is required")
	}
	names := map[string]int{}
	keys := map[string]int{}
	foldKeys := map[string]int{}
	for i := range c.Routes {
		r := &c.Routes[i]
		p := fmt.Sprintf("routes[%d]", i)
		if !routeName.MatchString(r.Name) {
			v.add(p+".name", "expected lowercase letters, digits, '.', '_', '-' (1-63), got %q", r.Name)
		} else if j, dup := names[r.Name]; dup {
			v.add(p+".name", "duplicate of routes[%d].name %q", j, r.Name)
		} else {
			names[r.Name] = i
		}
		if !validHost(r.Host) {
			v.add(p+".host", "expected a DNS host name without port, got %q", r.Host)
		} else if !r.Public && pub != nil {
			switch d := c.Session.CookieDomain; {
			case d == "" && r.Host != strings.ToLower(pub.Hostname()):
				v.add(p+".host", "%q differs from the public_url host %q and session.cookie_domain is not set, so the session cookie cannot reach it", r.Host, pub.Hostname())
			case d != "" && !WithinDomain(r.Host, d):
				v.add(p+".host", "%q is not within session.cookie_domain %q", r.Host, d)
			}
		}
		if _, err := route.ParsePattern(r.Path); err != nil {
			v.add(p+".path", "%v", err)
		} else if strings.HasPrefix(r.Path, "/.gateway") || strings.HasPrefix(r.Path, "/.well-known/gateway") {
			v.add(p+".path", "%q is reserved for the gateway", r.Path)
		} else {
			key := fmt.Sprintf("%s %s %v", r.Host, route.Canonical(r.Path), r.Exact)
			foldKey := strings.ToLower(key)
			if j, dup := keys[key]; dup {
				v.add(p, "duplicate of routes[%d]: same host, path and exact", j)
			} else if j, dup := foldKeys[foldKey]; dup {
				v.add(p, "differs from routes[%d] only in letter case; a case-insensitive upstream reads them as one route", j)
			} else {
				keys[key] = i
				foldKeys[foldKey] = i
			}
		}
		switch r.PathCase {
		case PathCaseSensitive, PathCaseInsensitive:
		default:
			v.add(p+".path_case", "expected %s or %s, got %q", PathCaseSensitive, PathCaseInsensitive, r.PathCase)
		}
		if d := *r.UpstreamTimeout; d < 0 || d > 24*time.Hour {
			v.add(p+".upstream_timeout", "expected between 0s (no limit) and 24h, got %s", d)
		}
		if d := *r.RecheckInterval; d < time.Second || d > 24*time.Hour {
			v.add(p+".recheck_interval", "expected between 1s and 24h, got %s", d)
		}
		if n := *r.MethodOverrideBodyLimit; n < 0 || n > MaxMethodOverrideBodyLimit {
			v.add(p+".method_override_body_limit", "expected between 0 and %d bytes (64 MiB), got %d", MaxMethodOverrideBodyLimit, n)
		}
		for _, err := range proxy.ValidateUpgrades(r.Upgrades) {
			v.probs = append(v.probs, p+".upgrades"+err.Error())
		}
		u, err := url.Parse(r.Upstream)
		switch {
		case r.Upstream == "":
			v.add(p+".upstream", "required: the URL of the tool, e.g. http://10.0.0.5:8080")
		case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
			v.add(p+".upstream", "expected an absolute http(s) URL, got %q", r.Upstream)
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			v.add(p+".upstream", "expected no user info, query or fragment, got %q", r.Upstream)
		}
		for _, f := range []struct{ name, v string }{{"title", r.Title}, {"owner", r.Owner}} {
			if len(f.v) > 200 || strings.IndexFunc(f.v, unicode.IsControl) >= 0 {
				v.add(p+"."+f.name, "expected one line of at most 200 characters, got %q", f.v)
			}
		}
		if strings.ContainsAny(r.Audience, " \t\r\n") {
			v.add(p+".audience", "expected a string without spaces such as https://wiki.internal, got %q", r.Audience)
		}
		if r.UpstreamCAFile != "" {
			if u != nil && u.Scheme != "https" {
				v.add(p+".upstream_ca_file", "set, but the upstream is not https")
			}
			if b, err := os.ReadFile(r.UpstreamCAFile); err != nil {
				v.add(p+".upstream_ca_file", "%v", err)
			} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
				v.add(p+".upstream_ca_file", "no PEM certificate found in %q", r.UpstreamCAFile)
			}
		}
		if r.Public {
			c.validateRequire(v, i)
			if len(r.Rules.Allow)+len(r.Rules.Deny) > 0 {
				v.add(p+".rules", "a public route has no rules; remove them or public: true")
			}
			if r.AllowBearer {
				v.add(p+".allow_bearer", "a public route takes no credentials")
			}
			continue
		}
		if len(r.Rules.Allow) == 0 {
			v.add(p+".rules.allow", "no allow entry: the route would deny everyone; add one (e.g. domains: [corp.example])")
		}
		if got, ok := c.emptied[p+".rules.deny"]; ok {
			v.add(p+".rules.deny", "expected at least one entry, got %s: an emptied deny list denies no one; list the entries, or remove deny", got)
		}
		vars := pathVars(r.Path)
		for j := range r.Rules.Allow {
			c.validateCondition(v, fmt.Sprintf("%s.rules.allow[%d]", p, j), &r.Rules.Allow[j], vars)
		}
		for j := range r.Rules.Deny {
			c.validateCondition(v, fmt.Sprintf("%s.rules.deny[%d]", p, j), &r.Rules.Deny[j], vars)
		}
		if got, ok := c.emptied[p+".require"]; ok {
			v.add(p+".require", "expected at least one requirement, got %s: list the requirements, or remove require", got)
		}
		c.validateRequire(v, i)
	}
	c.validateVariableEdges(v)
}

// validateVariableEdges refuses two routes of a host whose constrained path
// variables at one position share a segment ({customer_id:[0-9]+} and
// {id:\d+}): the route table tries the last one added first, so the order
// of the file, not the rules, would decide which route — and which rules —
// serve /customers/42.
func (c *Config) validateVariableEdges(v *validator) {
	byHost := map[string]*route.ConflictIndex{}
	for i := range c.Routes {
		r := &c.Routes[i]
		pat, err := route.ParsePattern(r.Path)
		if err != nil {
			continue // reported with the path
		}
		ci := r.PathCase == PathCaseInsensitive
		x := byHost[r.Host]
		if x == nil {
			x = &route.ConflictIndex{}
			byHost[r.Host] = x
		}
		for _, k := range x.Conflicts(pat, ci) {
			q := &c.Routes[k.ID]
			v.add(fmt.Sprintf("routes[%d].path", i), "%s and routes[%d].path %s (%s) have different expressions for the variable at segment %d that both match %q: "+
				"which route serves such a path would depend on the order of the file; write the same expression in both, or expressions that share no segment",
				r.Path, k.ID, q.Path, q.Name, k.Pos, k.Sample)
		}
		x.Add(i, pat, ci)
	}
}

// conditionFields names a rule entry's list fields for problems: the key,
// and what one item of it is.
var conditionFields = []struct{ key, item, items string }{
	{"emails", "address", "addresses"}, {"domains", "domain", "domains"}, {"groups", "group", "groups"},
	{"claims", "claim", "claims"}, {"vars", "path variable", "path variables"}, {"methods", "method", "methods"},
	{"source_cidrs", "CIDR", "CIDRs"},
}

func (c *Config) validateCondition(v *validator, p string, cond *policy.Condition, routeVars []string) {
	// A field written but left empty (groups: [], or a groups: whose items
	// were all commented out) decodes as if absent: the entry would match
	// on its other fields alone, a user in no group would pass.
	for _, f := range conditionFields {
		if got, ok := c.emptied[p+"."+f.key]; ok {
			v.add(p+"."+f.key, "expected at least one %s, got %s: the entry would match on its other fields alone; list the %s, or remove %s", f.item, got, f.items, f.key)
		}
	}
	for _, prob := range cond.Problems() {
		v.probs = append(v.probs, p+prob)
	}
	for _, name := range slices.Sorted(maps.Keys(cond.Claims)) {
		if auth.IsProtocolClaim(name) {
			v.add(p+".claims."+name, "%q is a protocol claim of the ID token, which the gateway checks and never keeps in an identity: a rule on it would never match; decide on identity claims (email, groups, or the provider's own)", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cond.Vars)) {
		if !slices.Contains(routeVars, name) {
			if len(routeVars) == 0 {
				v.add(p+".vars."+name, "the route's path has no variables; vars match variables of routes[].path such as /customers/{customer_id}")
			} else {
				v.add(p+".vars."+name, "unknown path variable %q (the route's path has %s)", name, strings.Join(routeVars, ", "))
			}
		}
	}
}

func (c *Config) validateTests(v *validator) {
	routes := map[string]bool{}
	for _, r := range c.Routes {
		routes[r.Name] = true
	}
	for i, t := range c.Tests {
		p := fmt.Sprintf("tests[%d]", i)
		if t.Name == "" {
			v.add(p+".name", "required")
		}
		switch {
		case t.Route != "" && t.URL != "":
			v.add(p, "set route (with path) or url, not both")
		case t.Route != "":
			if !routes[t.Route] {
				v.add(p+".route", "unknown route %q", t.Route)
			}
		case t.URL != "":
			if u, err := url.Parse(t.URL); err != nil || u.Host == "" {
				v.add(p+".url", "expected an absolute URL, got %q", t.URL)
			}
			if t.Path != "" {
				v.add(p+".path", "set with url; put the path in the url")
			}
		default:
			v.add(p, "set route (with path) or url")
		}
		if t.Source != "" {
			if _, err := netip.ParseAddr(t.Source); err != nil {
				v.add(p+".source_ip", "expected an IP address, got %q", t.Source)
			}
		}
		if t.Time != "" {
			if _, err := time.Parse(time.RFC3339, t.Time); err != nil {
				v.add(p+".time", "expected RFC 3339 such as 2026-11-30T18:00:00+01:00, got %q", t.Time)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(t.User.Claims)) {
			if auth.IsProtocolClaim(name) {
				v.add(p+".user.claims."+name, "%q is a protocol claim of the ID token, which a signed-in identity never carries: the test would pass where a real request does not", name)
			}
		}
		c.validateAssumptions(v, i)
		if t.Expect != "allow" && t.Expect != "deny" {
			v.add(p+".expect", "expected allow or deny, got %q", t.Expect)
		}
		for j, r := range t.Reason {
			if !policy.KnownReason(policy.Reason(r)) {
				v.add(fmt.Sprintf("%s.reasons[%d]", p, j), "unknown reason %q", r)
			}
		}
	}
}

// pathVars lists the variables of a route's path template.
func pathVars(path string) []string {
	pat, err := route.ParsePattern(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range pat {
		if s.Var != "" {
			out = append(out, s.Var)
		}
	}
	return out
}

// maxTrustedShare is the largest share of one address family that
// trusted_proxies may cover: 1/64, four IPv4 /8s (10.0.0.0/8 with the other
// private ranges fits) or an IPv6 /6 (fc00::/7 fits).
const maxTrustedShare = 1.0 / 64

// coverage returns the share of the IPv4 (or IPv6) address space that the
// union of nets covers. CIDR prefixes either nest or do not overlap, so the
// union is the sum over the prefixes that no other contains.
func coverage(nets []netip.Prefix, is4 bool) float64 {
	var fam []netip.Prefix
	for _, p := range nets {
		if p.Addr().Is4() == is4 {
			fam = append(fam, p)
		}
	}
	share := 0.0
	for i, p := range fam {
		covered := false
		for j, q := range fam {
			if i != j && q.Bits() <= p.Bits() && q.Contains(p.Addr()) && (q.Bits() < p.Bits() || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			share += math.Ldexp(1, -p.Bits())
		}
	}
	return share
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if h == "localhost" {
		return true
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	for _, l := range strings.Split(h, ".") {
		if !hostLabel.MatchString(l) {
			return false
		}
	}
	return true
}

// WithinDomain reports whether host is domain or a subdomain of it, on label
// boundaries: "evilcorp.example" is not within "corp.example".
func WithinDomain(host, domain string) bool {
	return host == domain || strings.HasSuffix(host, "."+domain)
}

func (c *Config) validateForwardAuth(v *validator) {
	f := &c.ForwardAuth
	if !f.Enabled {
		if f.GRPCAddress != "" {
			v.add("forward_auth.grpc_address", "set, but forward_auth.enabled is false: set enabled: true or remove it")
		}
		return
	}
	if len(c.TrustedProxies) == 0 {
		v.add("forward_auth.enabled", "requires trusted_proxies: the addresses of the ingress or mesh proxies that ask for decisions (no one else is answered)")
	}
	if a := f.GRPCAddress; a != "" {
		switch h, port, err := net.SplitHostPort(a); {
		case err != nil || port == "":
			v.add("forward_auth.grpc_address", "expected host:port, got %q", a)
		case c.Dev && !IsLoopbackHost(h):
			// The plain-gRPC decision service answers whoever connects:
			// gateway dev keeps every listener on loopback.
			v.add("forward_auth.grpc_address", "gateway dev listens on loopback only (127.0.0.1, ::1, localhost), got %q", a)
		case a == c.Listen.Address || a == c.Admin.Address:
			v.add("forward_auth.grpc_address", "must differ from listen.address and admin.address, got %q", a)
		}
	}
}
