package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/justify"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/proxy"
	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/requirement/kinds"
	"github.com/accessgateway/gateway/internal/route"
	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/token"
	"github.com/accessgateway/gateway/templates"
)

// runtime is everything built from one configuration. It is immutable once
// built; a reload builds a new one and swaps the pointer.
type runtime struct {
	cfg        *config.Config
	publicURL  *url.URL
	table      *route.Table[*routeEntry]
	store      store.Store
	sessions   *auth.Sessions
	auth       *auth.Authenticator
	pages      *templates.Pages
	transports []*proxy.DirectTransport
	signer     *token.Signer
	minter     token.Minter
	// tokenHeader is the header the token travels in; stripped from clients.
	tokenHeader string
	// stripHeaders and stripCookies are what every forwarded request loses
	// beyond the X-Gateway-* namespace (computed once, not per request).
	stripHeaders *proxy.HeaderList
	stripCookies []string
	// kinds are the requirement kinds' services, aligned with kinds.All.
	kinds []requirement.Service
	// reserved serves /.gateway/ on routed hosts: the gateway's own
	// endpoints and every kind's (built per runtime: they close over it).
	reserved http.Handler
	// ownsStore is false when the store was taken over from the previous runtime.
	ownsStore bool
	// cert is the public listener's certificate (listen.tls), read from its
	// files by every build: a renewed certificate is served after a reload.
	cert *tls.Certificate
}

type routeEntry struct {
	cfg      *config.Route
	audience string
	groups   map[string]bool // token_groups filter; nil: all
	policy   *policy.Route
	upstream *proxy.Upstream
	// services are the kind services of the route's requirements, aligned
	// with policy.Requirements() (looked up once, at build time).
	services []requirement.Service
	// prefetch are the indexes of the requirements whose service is a
	// Prefetcher (lifters excepted: they are gathered only when needed).
	prefetch []int
	// title is the route's display name on pages.
	title string
	// judgeBodyMethod: a POST's body may name a _method the tool executes,
	// and the route's rules list methods (formmethod.go).
	judgeBodyMethod bool
}

// build constructs a runtime from cfg. It reuses the previous runtime's store
// when the session settings did not change (so in-memory sessions survive a
// reload) and its authenticator when the OIDC settings did not change.
func (s *Server) build(ctx context.Context, cfg *config.Config, prev *runtime) (*runtime, error) {
	rt := &runtime{cfg: cfg, table: route.NewTable[*routeEntry]()}
	var err error
	rt.publicURL, err = url.Parse(cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("server: public_url: %w", err)
	}
	for _, w := range cfg.Warnings() {
		s.logger.Warn("config: " + w)
	}
	rt.pages, err = templates.Load(cfg.Templates.Dir)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			rt.close(prev)
		}
	}()

	if prev != nil && reflect.DeepEqual(prev.cfg.Session.Store, cfg.Session.Store) &&
		reflect.DeepEqual(prev.cfg.Session.Redis, cfg.Session.Redis) {
		rt.store, rt.ownsStore = prev.store, prev.ownsStore
	} else if s.opts.Store != nil {
		rt.store = s.opts.Store
	} else {
		rt.ownsStore = true
		switch cfg.Session.Store {
		case "redis":
			// The request path's reads (the session, its device binding,
			// its grants: Prefetch; whether a bearer token was revoked) may
			// come from the replica's cache.
			r, err := store.NewRedis(ctx, *cfg.Session.Redis,
				store.CacheReads(s.logger, auth.SessionKeyPrefix, device.BindingKeyPrefix, justify.GrantKeyPrefix, auth.RevokedIDTokenPrefix))
			if err != nil {
				return nil, fmt.Errorf("server: session store: %w", err)
			}
			rt.store = r
		default:
			rt.store = store.NewMemory()
		}
	}
	if prev != nil && prev.store == rt.store && reflect.DeepEqual(prev.cfg.Session.EncryptionKeys, cfg.Session.EncryptionKeys) {
		rt.sessions = prev.sessions // the same keys (an ephemeral one survives the reload)
	} else {
		keys := auth.EphemeralKeyring()
		if len(cfg.Session.EncryptionKeys) > 0 {
			if keys, err = auth.NewKeyring(cfg.Session.EncryptionKeys); err != nil {
				return nil, fmt.Errorf("server: %w", err)
			}
		} else if cfg.Session.Store == "redis" {
			s.logger.Warn("session.encryption_keys not set: tokens in Redis are sealed with a key only this process knows; other replicas cannot refresh its sessions and a restart ends their refresh")
		}
		rt.sessions = auth.NewSessionsWithKeys(rt.store, keys)
		rt.sessions.Now = s.now
	}

	if prev != nil && prev.sessions == rt.sessions && sameAuth(prev.cfg, cfg) {
		rt.auth = prev.auth
	} else {
		a, err := auth.New(ctx, auth.Config{
			Issuer:                cfg.OIDC.Issuer,
			ClientID:              cfg.OIDC.ClientID,
			ClientSecret:          cfg.OIDC.ClientSecret,
			Scopes:                cfg.OIDC.Scopes,
			RedirectURL:           strings.TrimSuffix(cfg.PublicURL, "/") + callbackPath,
			GroupsClaim:           cfg.OIDC.GroupsClaim,
			UserInfo:              cfg.OIDC.UserInfo,
			RequireVerifiedEmail:  *cfg.OIDC.RequireVerifiedEmail,
			SessionLifetime:       cfg.Session.Lifetime,
			RefreshInterval:       cfg.OIDC.RefreshInterval,
			CAFile:                cfg.OIDC.CAFile,
			EndProviderSession:    *cfg.OIDC.EndProviderSession,
			PostLogoutRedirectURL: cfg.OIDC.PostLogoutRedirectURL,
			DiscoveryBackoff:      s.opts.DiscoveryBackoff,
			HTTPClient:            s.opts.IdPClient,
			Logger:                s.logger,
			GroupsMissing:         s.groupsClaimMissing,
		}, rt.sessions)
		if err != nil {
			return nil, err
		}
		a.Now = s.now
		rt.auth = a
	}

	switch {
	case cfg.Token == nil && prev != nil && prev.cfg.Token == nil && prev.cfg.PublicURL == cfg.PublicURL:
		rt.signer = prev.signer // dev: keep the generated key across reloads
	case cfg.Token == nil:
		if !cfg.Dev {
			return nil, errors.New("server: token: required outside gateway dev")
		}
		rt.signer, err = token.NewDevSigner(cfg.PublicURL, token.WithClock(s.now))
	default:
		rt.signer, err = token.NewSigner(*cfg.Token, cfg.PublicURL, token.WithClock(s.now))
	}
	if err != nil {
		return nil, err
	}
	rt.minter = token.NewCache(rt.signer)
	rt.tokenHeader = rt.signer.Header()
	strip := append(cfg.StripHeaderNames(), rt.tokenHeader)
	if h := cfg.Listen.ClientCertHeader; h != "" {
		strip = append(strip, h)
	}
	for _, k := range kinds.All {
		if c, ok := k.(requirement.HeaderConsumer); ok {
			if sec := cfg.Section(k.Name()); sec != nil {
				strip = append(strip, c.ConsumedHeaders(sec)...)
			}
		}
	}
	if rt.stripHeaders, err = proxy.NewHeaderList(strip...); err != nil {
		return nil, fmt.Errorf("server: strip_headers: %w", err)
	}
	rt.stripCookies = []string{cfg.Session.CookieName}

	for i, k := range kinds.All {
		env := requirement.Env{Store: rt.store, Logger: s.logger, Now: s.now, Audit: s.kindAudit,
			Commit: s.kindCommit, ReadAudit: readAudit(cfg.Audit.File, s.audit), PublicURL: cfg.PublicURL, Dev: cfg.Dev,
			AgentCommand: s.opts.AgentCommand}
		if prev != nil {
			env.Prev = prev.kinds[i]
		}
		svc, err := k.NewService(cfg.Section(k.Name()), env)
		if err != nil {
			return nil, fmt.Errorf("server: %s: %w", k.Name(), err)
		}
		rt.kinds = append(rt.kinds, svc)
	}
	rt.reserved = s.newReservedHandler(rt)

	type transportKey struct {
		ca      string
		timeout time.Duration
	}
	transports := map[transportKey]*proxy.DirectTransport{}
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		pol, err := policy.Compile(rc.Name, rc.Public, rc.Rules, rc.Requirements())
		if err != nil {
			return nil, err
		}
		var services []requirement.Service
		for _, q := range pol.Requirements() {
			j := kinds.Index(q.Kind())
			if j < 0 {
				return nil, fmt.Errorf("server: routes[%d]: unknown requirement kind %q", i, q.Kind())
			}
			services = append(services, rt.kinds[j])
		}
		tk := transportKey{ca: rc.UpstreamCAFile}
		if rc.UpstreamTimeout != nil {
			tk.timeout = *rc.UpstreamTimeout
		}
		t := transports[tk]
		if t == nil {
			o := proxy.TransportOptions{CAFile: tk.ca, ResponseHeaderTimeout: tk.timeout}
			std, err := proxy.NewTransport(o)
			if err != nil {
				return nil, fmt.Errorf("server: routes[%d]: %w", i, err)
			}
			t = proxy.NewDirectTransport(std, o)
			transports[tk] = t
			rt.transports = append(rt.transports, t)
		}
		timed := timedTransport{next: t, obs: s.metrics.Upstream.WithLabelValues(rc.Name)}
		up, err := proxy.NewUpstream(rc.Upstream, rc.PreserveHost, timed, s.upstreamError)
		if err != nil {
			return nil, fmt.Errorf("server: routes[%d]: %w", i, err)
		}
		up.AllowUpgrades(rc.Upgrades)
		e := &routeEntry{cfg: rc, policy: pol, upstream: up, audience: rc.Audience, services: services, title: rc.Title}
		e.judgeBodyMethod = pol.JudgesMethods() && (rc.BodyMethodOverride == nil || *rc.BodyMethodOverride)
		for j, svc := range services {
			if _, ok := svc.(requirement.Prefetcher); ok && !pol.IsLifter(j) {
				e.prefetch = append(e.prefetch, j)
			}
		}
		if e.audience == "" {
			u, _ := url.Parse(rc.Upstream)
			e.audience = u.Scheme + "://" + u.Host
		}
		if len(rc.TokenGroups) > 0 {
			e.groups = map[string]bool{}
			for _, g := range rc.TokenGroups {
				e.groups[g] = true
			}
		}
		if err := rt.table.AddRoute(rc.Host, rc.Path, rc.RouteOptions(), e); err != nil {
			return nil, fmt.Errorf("server: routes[%d]: %w", i, err)
		}
	}
	// Last, what rotates in place (it may fail; nothing after it does).
	if err := s.rotate(rt, prev); err != nil {
		return nil, err
	}
	ok = true
	return rt, nil
}

func sameAuth(a, b *config.Config) bool {
	return reflect.DeepEqual(a.OIDC, b.OIDC) && a.PublicURL == b.PublicURL &&
		a.Session.Lifetime == b.Session.Lifetime
}

// close releases what rt owns and next does not share.
func (rt *runtime) close(next *runtime) {
	if rt.auth != nil && (next == nil || next.auth != rt.auth) {
		_ = rt.auth.Close()
	}
	for _, t := range rt.transports {
		t.Close() // this runtime takes no new requests; its transports keep no connection
	}
	for _, k := range rt.kinds {
		if k != nil {
			_ = k.Close()
		}
	}
	if rt.ownsStore && rt.store != nil && (next == nil || next.store != rt.store) {
		_ = rt.store.Close()
	}
}

// routed reports whether host (lowercase, no port) has a route.
func (rt *runtime) routed(host string) bool { return rt.table.HasHost(host) }

// timedTransport observes the upstream's time to response headers in the
// route's histogram (the observer is looked up once, at build time).
type timedTransport struct {
	next http.RoundTripper
	obs  prometheus.Observer
}

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	t.obs.Observe(time.Since(start).Seconds())
	return resp, err
}

// groupsClaimMissing counts an identity read without the groups claim and,
// while the configuration's rules name groups, says so in the log: deny
// rules on groups cannot match that user (absent is no groups), and a
// provider that stopped releasing the claim would otherwise turn them off
// for everyone without a sound.
func (s *Server) groupsClaimMissing() {
	s.metrics.GroupsClaimMissing.Inc()
	if rt := s.rt.Load(); rt != nil && rulesNameGroups(rt.cfg) {
		s.logger.Warn("an identity without the groups claim: rules on groups cannot match it; check that the provider releases the claim (oidc.groups_claim, scopes)",
			"groups_claim", rt.cfg.OIDC.GroupsClaim)
	}
}

// rulesNameGroups reports whether any route's allow or deny entry names groups.
func rulesNameGroups(cfg *config.Config) bool {
	for i := range cfg.Routes {
		for _, c := range cfg.Routes[i].Rules.Allow {
			if len(c.Groups) > 0 {
				return true
			}
		}
		for _, c := range cfg.Routes[i].Rules.Deny {
			if len(c.Groups) > 0 {
				return true
			}
		}
	}
	return false
}
