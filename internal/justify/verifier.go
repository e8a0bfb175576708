package justify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accessgateway/gateway/internal/policy"
)

// Query is what a lookup knows about the request, beyond the ticket.
type Query struct {
	// User is the signed-in user's email address.
	User string
	// Login is the user's GitHub login, when a source the operator trusts
	// vouches for it (the claim github.login_claim names); an assignee with
	// this login then involves User even without an entry in github.users.
	// A login that github.users maps never involves anyone but its mapped
	// email. Empty otherwise: never fill it from a claim people choose,
	// such as preferred_username.
	Login string
	// Route is the route's name (sent to the http verifier).
	Route string
	// Resource is the bound resource (e.g. the customer ID from the path);
	// "" when the route binds none.
	Resource string
}

// Ticket is what a system answered about one ticket, reduced to the facts
// the check needs. It holds no ticket text (title, description, comments).
type Ticket struct {
	System string
	ID     string
	// URL is where people browse the ticket ("" when unknown).
	URL string
	// Open is true while the ticket is open/active: not done, resolved,
	// closed or cancelled.
	Open bool
	// Status is the system's own word for the state ("In Progress",
	// "acknowledged"), for the audit record.
	Status string
	// Involved are the lowercase email addresses of the people the ticket
	// involves in the configured roles.
	Involved []string
	// Logins are the lowercase GitHub logins of the involved people that
	// github.users does not map (github only), matched against Query.Login.
	// A mapped login is in Involved as its email only.
	Logins []string
	// Resources are the customers (resources) the ticket names, as the
	// system spells them.
	Resources []string
	// Verdict, when set, is the system's own judgement (the http verifier's
	// reason); Check returns it as it is.
	Verdict policy.Reason
	// ExpiresAt, when set, is when the answer stops holding (the http
	// verifier's expires_at). Lookup never returns an expired answer; the
	// caller ends its grant there.
	ExpiresAt time.Time
	// VerifiedAt is when the system gave this answer.
	VerifiedAt time.Time
	// Cached is true when the answer came from the cache; Stale when it
	// stood in for an unavailable system (on_unavailable: allow-cached).
	Cached, Stale bool
	// Pin, when set, is the system's own lasting ID of the ticket asked
	// for by an ID the system reuses (an Opsgenie tiny ID): a grant is
	// re-verified by it, so it follows its own ticket.
	Pin string
}

// LogValue summarizes the ticket for logs and audit (no people, no text).
func (t Ticket) LogValue() slog.Value {
	return slog.GroupValue(slog.String("system", t.System), slog.String("id", t.ID),
		slog.Bool("open", t.Open), slog.String("status", t.Status),
		slog.Int("involved", len(t.Involved)), slog.Int("resources", len(t.Resources)),
		slog.Time("verified_at", t.VerifiedAt), slog.Bool("cached", t.Cached), slog.Bool("stale", t.Stale))
}

// Options are the Verifier's dependencies.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives operational messages (default: discarded).
	Logger *slog.Logger
	// Transport, when set, builds the round tripper of each system from the
	// TLS configuration its settings produce (nil when it has none). The
	// default clones http.DefaultTransport with that TLS configuration.
	Transport func(tlsConfig *tls.Config) http.RoundTripper
	// Prev is the Verifier being replaced (a configuration reload), or nil.
	// A system whose settings did not change keeps its answer cache, its
	// circuit breaker and its rate-limit wait; connections are new (CA and
	// certificate files are read again). Prev may be closed afterwards.
	Prev *Verifier
}

// Verifier looks tickets up in the configured systems. It is safe for
// concurrent use. Build a new one to change the configuration.
type Verifier struct {
	systems map[string]*system
	names   []string
	now     func() time.Time
	log     *slog.Logger
}

// backend is one type of ticket system.
type backend interface {
	// normalize maps a trimmed, ASCII-only ID to its canonical spelling.
	normalize(id string) (string, bool)
	// syntax describes valid IDs, for error messages.
	syntax() string
	// fromURL extracts an ID from the path (below the web URL's path) and
	// query of a pasted URL.
	fromURL(path string, q url.Values) (string, bool)
	// fetch asks the system. It returns ErrNotFound, an *UnavailableError,
	// or the ticket (without System, VerifiedAt, Cached, Stale).
	fetch(ctx context.Context, c *client, id string, q Query) (Ticket, error)
	// perQuery reports whether the answer depends on the Query (then the
	// cache key includes it).
	perQuery() bool
}

// system is one configured system with its cache and breaker.
type system struct {
	name    string
	cfg     SystemConfig
	be      backend
	idRE    *regexp.Regexp
	web     *url.URL
	client  *client
	cache   *cache
	breaker *breaker
	local   bool // no I/O: no cache, no breaker
	maxBody int64

	mu           sync.Mutex
	blockedUntil time.Time // 429 Retry-After
	inflight     map[string]*call
	transport    http.RoundTripper
}

// New builds the systems of cfg: it applies defaults, refuses a config with
// problems, compiles patterns, loads CA and client certificate files. It does
// not contact any system.
func New(cfg Config, opts Options) (*Verifier, error) {
	if probs := cfg.Problems(); len(probs) > 0 {
		return nil, fmt.Errorf("justify: invalid config: %s", strings.Join(probs, "; "))
	}
	cfg = cfg.WithDefaults()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	v := &Verifier{systems: map[string]*system{}, now: opts.Now, log: opts.Logger}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	for name, sc := range cfg.Systems {
		s, err := newSystem(name, sc, cfg.MaxBodyBytes, opts)
		if err != nil {
			v.Close()
			return nil, err
		}
		if p := opts.Prev; p != nil && !s.local {
			if old := p.systems[name]; old != nil && old.maxBody == s.maxBody && reflect.DeepEqual(old.cfg, s.cfg) {
				s.cache, s.breaker = old.cache, old.breaker
				old.mu.Lock()
				s.blockedUntil = old.blockedUntil
				old.mu.Unlock()
			}
		}
		v.systems[name] = s
		v.names = append(v.names, name)
	}
	sort.Strings(v.names)
	return v, nil
}

func newSystem(name string, sc SystemConfig, maxBody int64, opts Options) (*system, error) {
	s := &system{name: name, cfg: sc, maxBody: maxBody}
	if sc.IDPattern != "" {
		re, err := regexp.Compile("^(?:" + sc.IDPattern + ")$")
		if err != nil {
			return nil, fmt.Errorf("justify: systems.%s.id_pattern: %w", name, err)
		}
		s.idRE = re
	}
	if sc.WebURL != "" {
		u, err := url.Parse(sc.WebURL)
		if err != nil {
			return nil, fmt.Errorf("justify: systems.%s.web_url: %w", name, err)
		}
		s.web = u
	}
	var err error
	switch sc.Type {
	case TypeJira:
		s.be = newJira(sc)
	case TypeGitHub:
		s.be, err = newGitHub(sc)
	case TypePagerDuty:
		s.be = newPagerDuty(sc)
	case TypeOpsgenie:
		s.be = newOpsgenie(sc)
	case TypeServiceNow:
		s.be = newServiceNow(sc)
	case TypeHTTP:
		s.be = newHTTPVerifier(name, sc)
	case TypeStatic:
		s.be, err = newStatic(sc)
		s.local = true
	default:
		err = fmt.Errorf("expected a known type, got %q", sc.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("justify: systems.%s: %w", name, err)
	}
	if s.local {
		return s, nil
	}
	tc, err := tlsConfig(sc.TLS)
	if err != nil {
		return nil, fmt.Errorf("justify: systems.%s.tls: %w", name, err)
	}
	if opts.Transport != nil {
		s.transport = opts.Transport(tc)
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = tc
		t.MaxIdleConnsPerHost = 8
		s.transport = t
	}
	base, err := url.Parse(sc.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("justify: systems.%s.base_url: %w", name, err)
	}
	s.client = &client{
		system: name,
		base:   base,
		auth:   sc.Auth,
		max:    maxBody,
		now:    opts.Now,
		http: &http.Client{
			Transport: s.transport,
			// A redirect is an answer the system does not document for
			// these calls, and following it could carry credentials to
			// another host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	s.cache = newCache(sc.Cache.Size)
	s.inflight = map[string]*call{}
	s.breaker = &breaker{failures: sc.Breaker.Failures, openFor: sc.Breaker.OpenFor}
	return s, nil
}

func tlsConfig(c TLSConfig) (*tls.Config, error) {
	if c.CAFile == "" && c.CertFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: expected PEM certificates in %s, got none", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Close releases the systems' idle connections. The Verifier must not be
// used afterwards.
func (v *Verifier) Close() error {
	for _, s := range v.systems {
		if t, ok := s.transport.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
	}
	return nil
}

// Systems returns the configured system names, sorted.
func (v *Verifier) Systems() []string { return append([]string(nil), v.names...) }

// URL returns the browse URL of a ticket, or "" when the system has none.
func (v *Verifier) URL(ref Ref) string {
	s := v.systems[ref.System]
	if s == nil {
		return ""
	}
	if b, ok := s.be.(interface{ browse(string) string }); ok {
		return b.browse(ref.ID)
	}
	return ""
}

// Lookup asks the ticket's system about it, through the system's answer
// cache, circuit breaker and rate-limit wait:
//
//   - a cached answer younger than its TTL (cache.ttl for a found ticket,
//     cache.negative_ttl for "not found") is returned without I/O;
//   - while a 429's Retry-After wait runs, or the circuit is open, the
//     system is not asked and the result is an *UnavailableError;
//   - otherwise the system is asked within the system's timeout; concurrent
//     lookups of the same ticket share one request.
//
// With on_unavailable: allow-cached, a found ticket answered within
// cache.max_stale stands in for an unavailable system (Ticket.Stale). Errors:
// ErrNotFound (wrapped), *UnavailableError, the *ParseError of an ID the
// system does not accept (any more: a grant's ticket after a reload narrowed
// id_pattern), or an error for a Ref that Parse would not have produced.
// Lookup does not judge the ticket: see Check.
func (v *Verifier) Lookup(ctx context.Context, ref Ref, q Query) (Ticket, error) {
	s := v.systems[ref.System]
	if s == nil {
		return Ticket{}, fmt.Errorf("justify: expected a configured system, got %q", ref.System)
	}
	now := v.now()
	key := ref.ID
	if !s.local && s.be.perQuery() {
		key = cacheKey(ref.ID, q)
	}
	// Only normalized IDs are ever cached, so a hit needs no check.
	if !s.local {
		if e, ok := s.cache.get(key); ok && now.Before(e.freshUntil) {
			if e.notFound {
				return Ticket{}, fmt.Errorf("%w: %s (cached)", ErrNotFound, ref)
			}
			t := e.ticket
			t.Cached = true
			return finish(t, q), nil
		}
	}
	n, err := s.normalize(ref.ID)
	if err != nil {
		// An ID the system no longer accepts (a reload narrowed its
		// id_pattern): refused as Parse would refuse it now, not an
		// unreachable system.
		return Ticket{}, err
	}
	if n != ref.ID {
		return Ticket{}, fmt.Errorf("justify: expected a normalized ID of %s, got %q", ref.System, ref.ID)
	}
	if s.local {
		t, err := s.be.fetch(ctx, nil, ref.ID, q)
		if err != nil {
			return Ticket{}, err
		}
		t.System, t.VerifiedAt = s.name, now
		return finish(t, q), nil
	}
	e, cached := s.cache.get(key)
	return v.coalesce(ctx, s, key, ref, q, e, cached)
}

// call is one lookup in flight; concurrent lookups of the same key wait for
// it instead of asking the system again.
type call struct {
	done    chan struct{}
	waiters int // guarded by system.mu; for tests
	t       Ticket
	err     error
	retry   bool // the leader's caller went away: ask again
}

// coalesce makes one request per key at a time: the first caller asks,
// the others wait for its answer (or their own context). When the asking
// caller gives up, a waiting one asks in its place.
func (v *Verifier) coalesce(ctx context.Context, s *system, key string, ref Ref, q Query, e entry, cached bool) (Ticket, error) {
	s.mu.Lock()
	if c, ok := s.inflight[key]; ok {
		c.waiters++
		s.mu.Unlock()
		select {
		case <-c.done:
			if c.retry {
				// The asking caller went away: start over (the cache may
				// hold an answer by now).
				return v.Lookup(ctx, ref, q)
			}
			if c.err != nil {
				return Ticket{}, c.err
			}
			return finish(c.t, q), nil
		case <-ctx.Done():
			return Ticket{}, &UnavailableError{System: s.name, Cause: "lookup cancelled", Err: ctx.Err()}
		}
	}
	c := &call{done: make(chan struct{})}
	s.inflight[key] = c
	s.mu.Unlock()
	c.t, c.err = v.ask(ctx, s, key, ref, q, e, cached)
	c.retry = c.err != nil && ctx.Err() != nil
	s.mu.Lock()
	delete(s.inflight, key)
	s.mu.Unlock()
	close(c.done)
	if c.err != nil {
		return Ticket{}, c.err
	}
	return finish(c.t, q), nil
}

// ask asks the system, honouring the rate-limit wait and the breaker, and
// caches the answer. The ticket it returns has not been through finish.
func (v *Verifier) ask(ctx context.Context, s *system, key string, ref Ref, q Query, e entry, cached bool) (Ticket, error) {
	now := v.now()
	fallback := func(uerr *UnavailableError) (Ticket, error) {
		if s.cfg.OnUnavailable == OnUnavailableAllowCached && cached && !e.notFound &&
			now.Before(e.ticket.VerifiedAt.Add(s.cfg.Cache.MaxStale)) &&
			(e.ticket.ExpiresAt.IsZero() || now.Before(e.ticket.ExpiresAt)) {
			t := e.ticket
			t.Cached, t.Stale = true, true
			v.log.Warn("justification system unavailable; using a cached answer",
				"system", s.name, "cause", uerr.Cause, "verified_at", t.VerifiedAt)
			return t, nil
		}
		return Ticket{}, uerr
	}
	s.mu.Lock()
	blocked := s.blockedUntil
	s.mu.Unlock()
	if now.Before(blocked) {
		return fallback(&UnavailableError{System: s.name, Cause: "rate limited (429)", RetryAt: blocked})
	}
	probe, until := s.breaker.allow(now)
	if !probe {
		return fallback(&UnavailableError{System: s.name, Cause: "circuit open", RetryAt: until})
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	t, err := s.be.fetch(cctx, s.client, ref.ID, q)
	cancel()
	now2 := v.now()
	var uerr *UnavailableError
	switch {
	case err == nil:
		s.breaker.success()
		t.System, t.ID, t.VerifiedAt = s.name, ref.ID, now2
		fresh := now2.Add(s.cfg.Cache.TTL)
		if !t.ExpiresAt.IsZero() {
			if !now2.Before(t.ExpiresAt) {
				// Expired on arrival: the answer no longer holds.
				t.Open, t.Verdict = false, ReasonClosed
				t.Status = "expired"
			} else if t.ExpiresAt.Before(fresh) {
				fresh = t.ExpiresAt
			}
		}
		s.cache.put(key, entry{ticket: t, freshUntil: fresh}, now2)
		return t, nil
	case errors.Is(err, ErrNotFound):
		s.breaker.success()
		s.cache.put(key, entry{notFound: true, freshUntil: now2.Add(s.cfg.Cache.NegativeTTL)}, now2)
		return Ticket{}, fmt.Errorf("%w: %s", ErrNotFound, ref)
	case ctx.Err() != nil:
		// The caller gave up (the client went away): no verdict on the
		// system's health.
		s.breaker.release()
		return Ticket{}, &UnavailableError{System: s.name, Cause: "lookup cancelled", Err: ctx.Err()}
	case errors.As(err, &uerr) && !uerr.RetryAt.IsZero():
		s.breaker.release()
		s.mu.Lock()
		if uerr.RetryAt.After(s.blockedUntil) {
			s.blockedUntil = uerr.RetryAt
		}
		s.mu.Unlock()
		v.log.Warn("justification system rate limited", "system", s.name, "retry_at", uerr.RetryAt)
		return fallback(uerr)
	case errors.As(err, &uerr) && uerr.OnlyThisTicket:
		// The system answered; only this ticket's answer is unusable. Not a
		// failure of the system: one such ticket, asked for again and
		// again, must not shut the system off for every other ticket.
		s.breaker.success()
		v.log.Warn("justification lookup unusable for this ticket", "system", s.name, "error", uerr.Error())
		return fallback(uerr)
	default:
		if uerr == nil {
			uerr = &UnavailableError{System: s.name, Cause: "lookup failed", Err: err}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			uerr.Cause = fmt.Sprintf("timeout after %s", s.cfg.Timeout)
		}
		if s.breaker.failure(now2) {
			v.log.Warn("justification system circuit opened", "system", s.name, "cause", uerr.Cause)
		}
		v.log.Warn("justification lookup failed", "system", s.name, "error", uerr.Error())
		return fallback(uerr)
	}
}

// finish applies the per-query parts that are not cached: an unmapped
// login of the ticket that equals the query's involves the query's user.
// (Logins holds no mapped login, so a session that claims someone else's
// mapped login gains nothing.)
func finish(t Ticket, q Query) Ticket {
	if q.Login != "" && q.User != "" {
		for _, l := range t.Logins {
			if asciiEqualFold(l, q.Login) {
				inv := make([]string, 0, len(t.Involved)+1)
				t.Involved = append(append(inv, t.Involved...), lowerASCII(q.User))
				break
			}
		}
	}
	return t
}

// cacheKey is the key of a per-query answer: the parts, each prefixed
// with its length so that no two queries share a key.
func cacheKey(id string, q Query) string {
	var b strings.Builder
	for _, p := range [...]string{id, lowerASCII(q.User), q.Route, q.Resource} {
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}
