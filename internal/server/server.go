// Package server builds the running gateway from a configuration and serves
// it: the public handler (request path: normalize → route → session →
// evidence → decide → audit → deny page or proxy), the reserved /.gateway/
// endpoints (gorilla/mux), the admin listener, and hot reload (a new runtime
// is built whole and swapped atomically; a failed build keeps the old one).
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/explain"
	"github.com/accessgateway/gateway/internal/metrics"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/proxy"
	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/tracing"
)

// Options are the dependencies of a Server that do not come from the file.
type Options struct {
	Logger  *slog.Logger
	Audit   *audit.Log
	Metrics *metrics.Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Store, when set, replaces the store the config names (tests).
	Store store.Store
	// IdPClient talks to the OIDC provider; nil means a default client.
	IdPClient *http.Client
	// ConfigPath is the file Reload reads; empty disables Reload.
	ConfigPath string
	// LoadOptions are passed to config.Load on reload.
	LoadOptions config.Options
	// AgentCommand replaces "gateway-agent" in the commands the device page
	// shows (the quickstart shows the simulator's `go run` command).
	AgentCommand string
	// Tracer exports spans of the request path; nil: tracing is off.
	Tracer *tracing.Tracer
	// DiscoveryBackoff is the first delay between OIDC discovery retries
	// when the provider is unreachable at start; zero means auth.DefaultBackoff.
	DiscoveryBackoff time.Duration
}

// Server is the gateway.
type Server struct {
	opts    Options
	logger  *slog.Logger
	audit   *audit.Log
	metrics *metrics.Metrics
	now     func() time.Time
	tracer  *tracing.Tracer
	rt      atomic.Pointer[runtime]
	reload  sync.Mutex
	public  http.Handler
	// apiLimit throttles the agents' JSON APIs (/.gateway/api/) per client
	// address.
	apiLimit *limiter
}

// New builds a Server from cfg (construct → validate: OIDC discovery, the
// store's ping and template parsing happen here).
func New(ctx context.Context, cfg *config.Config, opts Options) (*Server, error) {
	s := &Server{opts: opts, logger: opts.Logger, audit: opts.Audit, metrics: opts.Metrics, now: opts.Now, tracer: opts.Tracer,
		apiLimit: newLimiter(5, 20)}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = metrics.New()
	}
	if s.audit == nil {
		s.audit = audit.New(discard{}, nil, s.logger)
	}
	if s.now == nil {
		s.now = time.Now
	}
	rt, err := s.build(ctx, cfg, nil)
	if err != nil {
		return nil, err
	}
	s.rt.Store(rt)
	// Requests the guard refuses before routing (h2c, upgrades with a
	// body) are audited like every other denial.
	s.public = proxy.GuardNotify(s.newPublicHandler(), s.guardRefused)
	// Checkpoints of the audit log are signed with the context token's
	// active key, so one JWKS verifies both.
	if err := s.audit.SetSigner(rt.signer.ActiveKey()); err != nil {
		s.logger.Warn("audit: checkpoints stay unsigned", "err", err)
	}
	s.metrics.RegisterAudit(s.audit.Stats)
	s.metrics.RegisterSessionCache(func() store.CacheStats {
		var st store.CacheStats
		if r, ok := s.rt.Load().store.(*store.Redis); ok {
			st, _ = r.CacheStats()
		}
		return st
	})
	s.metrics.ObserveIdentityProvider(func() bool { return s.rt.Load().auth.Ready() == nil })
	return s, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Config returns the configuration in force.
func (s *Server) Config() *config.Config { return s.rt.Load().cfg }

// Handler is the public listener's handler.
func (s *Server) Handler() http.Handler { return s.public }

// Reload reads the config file again and swaps in the new runtime. On any
// error the running configuration stays and the error is returned (and logged).
func (s *Server) Reload(ctx context.Context) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	if s.opts.ConfigPath == "" {
		return errors.New("server: reload: no config file")
	}
	err := s.reloadLocked(ctx)
	if err != nil {
		s.metrics.Reloads.WithLabelValues("error").Inc()
		s.metrics.LastReloadOK.Set(0)
		s.logger.Error("config reload rejected; the last good configuration keeps serving", "file", s.opts.ConfigPath, "err", err)
		return err
	}
	s.metrics.Reloads.WithLabelValues("ok").Inc()
	s.metrics.LastReloadOK.Set(1)
	s.logger.Info("config reloaded", "file", s.opts.ConfigPath, "routes", len(s.Config().Routes))
	return nil
}

func (s *Server) reloadLocked(ctx context.Context) error {
	cfg, err := config.LoadFile(s.opts.ConfigPath, s.opts.LoadOptions)
	if err != nil {
		return err
	}
	if err := PolicyTests(cfg); err != nil {
		return err
	}
	prev := s.rt.Load()
	cfg.Dev = prev.cfg.Dev
	for name, changed := range map[string]bool{
		"listen": !reflect.DeepEqual(prev.cfg.Listen, cfg.Listen), "admin": prev.cfg.Admin != cfg.Admin,
		"log": prev.cfg.Log != cfg.Log, "audit": !reflect.DeepEqual(prev.cfg.Audit, cfg.Audit),
		"tracing":                   !reflect.DeepEqual(prev.cfg.Tracing, cfg.Tracing),
		"forward_auth.grpc_address": prev.cfg.ForwardAuth.GRPCAddress != cfg.ForwardAuth.GRPCAddress,
	} {
		if changed {
			s.logger.Warn("config reload: this section changed but applies only at restart", "section", name)
		}
	}
	next, err := s.build(ctx, cfg, prev)
	if err != nil {
		return err
	}
	s.rt.Store(next)
	if prev.signer != next.signer {
		if err := s.audit.SetSigner(next.signer.ActiveKey()); err != nil {
			s.logger.Warn("audit: checkpoints keep the previous key", "err", err)
		}
	}
	// In-flight requests hold their own pointer; give them time, then release.
	time.AfterFunc(30*time.Second, func() { prev.close(next) })
	return nil
}

// PolicyTestsError is a configuration whose own policy tests fail: `gateway
// check` reports it, `gateway serve` refuses to start with it, and a reload
// rejects it like an invalid file.
type PolicyTestsError struct {
	Failed []explain.TestResult
	Total  int
}

func (e *PolicyTestsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config: %d of %d policy tests failed", len(e.Failed), e.Total)
	for _, r := range e.Failed {
		fmt.Fprintf(&b, "\n  FAIL %s: %s", r.Name, r.Why)
	}
	return b.String()
}

// PolicyTests runs cfg's policy tests (explain.RunTests, as `gateway check`
// does) and returns a *PolicyTestsError if any fails.
func PolicyTests(cfg *config.Config) error {
	results, err := explain.RunTests(cfg)
	if err != nil {
		return fmt.Errorf("config: policy tests: %w", err)
	}
	e := &PolicyTestsError{Total: len(results)}
	for _, r := range results {
		if !r.Pass {
			e.Failed = append(e.Failed, r)
		}
	}
	if len(e.Failed) > 0 {
		return e
	}
	return nil
}

// Close releases the runtime's resources.
func (s *Server) Close() error {
	if rt := s.rt.Load(); rt != nil {
		rt.close(nil)
	}
	return nil
}

// The admin listener's paths (contract: probes, load balancers and
// Prometheus use them; the Helm chart's test reads them from here).
const (
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
	MetricsPath = "/metrics"
)

// AdminHandler serves /healthz, /readyz and /metrics.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+HealthzPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET "+ReadyzPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rt := s.rt.Load()
		if rt == nil {
			http.Error(w, "not ready: no configuration loaded", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.audit.Healthy(); err != nil {
			http.Error(w, "not ready: audit log: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if err := rt.store.Ping(ctx); err != nil {
			s.metrics.StoreErrors.WithLabelValues("ping").Inc()
			http.Error(w, "not ready: session store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if err := rt.auth.Ready(); err != nil {
			http.Error(w, "not ready: identity provider: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET "+MetricsPath, s.metrics.Handler())
	mux.HandleFunc("/.well-known/gateway/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		s.rt.Load().signer.JWKSHandler().ServeHTTP(w, r)
	})
	return mux
}

// TLSConfig returns the public listener's TLS configuration around base
// (which holds the server certificate): TLS 1.2+, HTTP/2, and optional client
// certificates from the device CA in force (VerifyClientCertIfGiven, so
// browsers without a device certificate are not asked for one and CLI
// clients with one are mapped to their device). The pool is read per
// handshake, so a reload that changes the device CA applies at once.
func (s *Server) TLSConfig(base *tls.Config) *tls.Config {
	cfg := base.Clone()
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		var pool *x509.CertPool
		for _, svc := range s.rt.Load().kinds {
			if ca, ok := svc.(requirement.ClientCAs); ok {
				if pool = ca.ClientCAs(); pool != nil {
					break
				}
			}
		}
		if pool == nil {
			return nil, nil
		}
		c := cfg.Clone()
		c.GetConfigForClient = nil
		c.ClientAuth = tls.VerifyClientCertIfGiven
		c.ClientCAs = pool
		return c, nil
	}
	return cfg
}

// HTTPServer returns an *http.Server for h with the listener's timeouts.
// WriteTimeout is unset on purpose: streams and WebSockets are long-lived.
func HTTPServer(addr string, h http.Handler, l config.ListenConfig, logger *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// guardRefused audits a request the protocol guard refused before the
// request path began (it has no route and gets a request ID here).
func (s *Server) guardRefused(r *http.Request, reason string) {
	rt := s.rt.Load()
	ip, _, _ := proxy.ClientAddr(r, rt.cfg.TrustedNets()) // malformed: the proxy's (the request is refused anyway)
	s.audit.Log(audit.Record{Time: s.now(), Kind: audit.KindDecision, RequestID: newRequestID(), Host: hostOnly(r.Host),
		Method: r.Method, Path: r.URL.EscapedPath(), SourceIP: ip.String(), Decision: "deny", Status: http.StatusBadRequest,
		Reasons: []string{string(policy.ReasonBadRequest)}, Detail: reason})
	s.countDecision(nil, "deny", string(policy.ReasonBadRequest))
}
