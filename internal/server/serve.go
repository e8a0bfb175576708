package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/metrics"
	"github.com/accessgateway/gateway/internal/proxy"
	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/token"
	"github.com/accessgateway/gateway/internal/tracing"
)

// NewLogger returns the operational logger the config asks for.
func NewLogger(cfg config.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// Serve runs the gateway for cfg until ctx ends: it opens the audit log,
// builds the Server, watches the config file (and SIGHUP), and serves the
// public and admin listeners, shutting down gracefully. ready, if set, is
// called once the listeners are bound.
func Serve(ctx context.Context, cfg *config.Config, opts Options, ready func()) error {
	logger := opts.Logger
	if logger == nil {
		logger = NewLogger(cfg.Log, os.Stderr)
	}
	store.SetRedisLogger(logger.With("subsystem", "redis"))
	ao := cfg.Audit.Options
	ao.Logger = logger.With("subsystem", "audit")
	if ao.RedisStream != nil {
		// The stream uses the session store's Redis (validated: redis_stream
		// needs session.store: redis).
		r, err := store.NewRedis(ctx, *cfg.Session.Redis)
		if err != nil {
			return fmt.Errorf("audit.redis_stream: %w", err)
		}
		defer r.Close()
		ao.Redis = r.Client()
	}
	if cfg.Token != nil {
		// The checkpoint written at open is signed too, with the key the
		// server signs with (New sets it again, and every reload after).
		// A key that does not load fails the build below, with its reason.
		if sg, err := token.NewSigner(*cfg.Token, cfg.PublicURL); err == nil {
			ao.Signer, ao.KeyID = sg.ActiveKey()
		}
	}
	al, err := audit.OpenOptions(ao)
	if err != nil {
		return err
	}
	defer al.Close()
	opts.Logger, opts.Audit = logger, al
	if opts.Tracer == nil && cfg.Tracing != nil {
		tr, err := tracing.New(ctx, cfg.Tracing, version())
		if err != nil {
			return err
		}
		defer func() {
			c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = tr.Close(c)
		}()
		opts.Tracer = tr
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	opts.LoadOptions.Dev = cfg.Dev
	buildCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	srv, err := New(buildCtx, cfg, opts)
	cancel()
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Watch(ctx); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				// SIGHUP also reopens the audit file (logrotate's rename).
				if err := al.Reopen(); err != nil {
					logger.Error("audit: reopen on SIGHUP failed", "err", err)
				}
				_ = srv.Reload(ctx)
			}
		}
	}()

	pub := HTTPServer(cfg.Listen.Address, srv.Handler(), cfg.Listen, logger)
	fresh := &freshConns{}
	pub.ConnState = fresh.track
	adm := HTTPServer(cfg.Admin.Address, srv.AdminHandler(), cfg.Listen, logger)
	// The certificate is read by every (re)load: a renewed one is served
	// to new connections without a restart.
	pub.TLSConfig = srv.ListenTLS()
	pl, err := net.Listen("tcp", cfg.Listen.Address)
	if err != nil {
		return fmt.Errorf("public listener: %w", err)
	}
	if pub.TLSConfig == nil {
		pl = proxy.GuardListener(pl) // refuses Content-Length with Transfer-Encoding (plain HTTP only)
	}
	al2, err := net.Listen("tcp", cfg.Admin.Address)
	if err != nil {
		pl.Close()
		return fmt.Errorf("admin listener: %w", err)
	}
	errc := make(chan error, 3)
	if a := cfg.ForwardAuth.GRPCAddress; a != "" {
		stop, err := srv.listenGRPC(a, errc)
		if err != nil {
			pl.Close()
			al2.Close()
			return err
		}
		defer stop()
		logger.Info("ext_authz gRPC listener", "address", a)
	}
	go func() {
		var err error
		if pub.TLSConfig != nil {
			err = pub.ServeTLS(pl, "", "")
		} else {
			err = pub.Serve(pl)
		}
		errc <- fmt.Errorf("public listener: %w", err)
	}()
	go func() { errc <- fmt.Errorf("admin listener: %w", adm.Serve(al2)) }()
	logger.Info("gateway serving", "public", cfg.Listen.Address, "admin", cfg.Admin.Address, "routes", len(cfg.Routes), "public_url", cfg.PublicURL)
	if ready != nil {
		ready()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	return drain(pub, adm, fresh, cfg.Listen.ShutdownGrace, logger)
}

// freshConns remembers the public listener's connections that have not
// begun a request (http.StateNew): a browser's preconnected sockets, or a
// proxy's pool. http.Server.Shutdown counts such a connection as busy for
// its first 5 seconds, so without this one preconnect would hold a
// shutdown for 5 s, and with a short shutdown_grace report requests "cut
// off" that never existed.
type freshConns struct{ m sync.Map } // net.Conn → time accepted

func (f *freshConns) track(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		f.m.Store(c, time.Now())
	case http.StateActive, http.StateHijacked, http.StateClosed:
		// The first byte of a request (later ones find nothing to delete),
		// or gone. Idle is always preceded by Active: nothing to do.
		f.m.Delete(c)
	}
}

// closeIdle closes the connections that have sent nothing for at least
// quiet (their clients retry elsewhere: no request was begun).
func (f *freshConns) closeIdle(quiet time.Duration) {
	now := time.Now()
	f.m.Range(func(k, v any) bool {
		if now.Sub(v.(time.Time)) >= quiet {
			if _, ok := f.m.LoadAndDelete(k); ok {
				_ = k.(net.Conn).Close()
			}
		}
		return true
	})
}

// drain shuts the listeners down gracefully: new connections are refused
// at once (the admin listener's too, so readiness fails), requests in flight
// get grace to finish, and the connections still busy after it are closed.
func drain(pub, adm *http.Server, fresh *freshConns, grace time.Duration, logger *slog.Logger) error {
	logger.Info("gateway stopping: draining requests in flight", "grace", grace.String())
	shutdown, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	_ = adm.Shutdown(shutdown)
	done := make(chan struct{})
	if fresh != nil {
		// While Shutdown waits, connections that have not begun a request
		// for a second are closed (a request whose first bytes are on the
		// way still gets that second).
		go func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					fresh.closeIdle(time.Second)
				}
			}
		}()
	}
	err := pub.Shutdown(shutdown)
	close(done)
	if errors.Is(err, context.DeadlineExceeded) {
		_ = pub.Close()
		_ = adm.Close()
		logger.Error("gateway stopped: requests still in flight after listen.shutdown_grace were cut off", "grace", grace.String())
		return fmt.Errorf("shutdown: requests still in flight after listen.shutdown_grace (%s) were cut off", grace)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("gateway stopped")
	return nil
}

// version is the gateway's module version (from the build), for traces.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}
