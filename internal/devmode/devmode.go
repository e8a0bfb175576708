// Package devmode is `gateway dev`: the quickstart. With no files and no
// setup it starts, on loopback only, the embedded development OIDC provider
// (package devidp, with a page to pick a demo user), a demo upstream tool
// that shows the request it received and the verified context-token claims
// (package demo), and the gateway itself with the embedded example policy
// (dev.yaml) and the in-memory session store.
//
// With Options.ConfigPath (`gateway dev --config FILE`) it runs an
// operator's own configuration instead, with the same allowances: plain-http
// URLs, a generated signing key when the file has no token section, an
// ephemeral session encryption key, and — when the file names no
// oidc.issuer — the embedded development provider (its client registered
// for the file's public_url). No demo tool is started then.
//
// Every insecure setting lives here and nowhere else: plain-http URLs, the
// generated signing key, the dev provider. Run refuses non-loopback addresses.
package devmode

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/demo"
	"github.com/accessgateway/gateway/internal/devidp"
	"github.com/accessgateway/gateway/internal/server"
)

//go:embed dev.yaml
var devYAML []byte

// Options are the quickstart's flags.
type Options struct {
	// Port of the gateway on localhost (default 8080); the admin listener
	// takes Port+1 and the dev IdP Port+2.
	Port int
	// Out receives the banner; nil means os.Stdout.
	Out io.Writer
	// Ready, if set, is called with the gateway's URL once it serves.
	Ready func(url string)
	// ConfigPath runs this configuration file instead of the embedded one
	// (Port is then unused: the file's listen and admin addresses apply).
	ConfigPath string
}

// Config returns the quickstart's validated configuration for the given
// addresses (exported for tests and `gateway dev --print-config`).
func Config(port int, issuer, upstream, secret string) (*config.Config, error) {
	return config.Load(devYAML, config.Options{Dev: true, Lookup: lookup(port, issuer, upstream, secret)})
}

// lookup resolves the ${DEV_*} references of the embedded configuration.
func lookup(port int, issuer, upstream, secret string) func(string) (string, bool) {
	now := time.Now().UTC()
	vals := map[string]string{
		"DEV_PUBLIC_URL":    fmt.Sprintf("http://localhost:%d", port),
		"DEV_ADDR":          fmt.Sprintf("127.0.0.1:%d", port),
		"DEV_ADMIN_ADDR":    fmt.Sprintf("127.0.0.1:%d", port+1),
		"DEV_ISSUER":        issuer,
		"DEV_UPSTREAM":      upstream,
		"DEV_CLIENT_SECRET": secret,
		// The maintenance window of the quickstart opens tomorrow.
		"DEV_TOMORROW":   strings.ToLower(now.AddDate(0, 0, 1).Weekday().String()[:3]),
		"DEV_TODAY_NOON": time.Date(now.Year(), now.Month(), now.Day(), 12, 0, 0, 0, time.UTC).Format(time.RFC3339),
	}
	return func(k string) (string, bool) {
		v, ok := vals[k]
		return v, ok
	}
}

// writeConfig writes the embedded configuration to a file of its own in a
// new temporary directory, so that the quickstart's rules can be edited
// while it runs (the gateway watches and reloads the file).
func writeConfig() (string, error) {
	dir, err := os.MkdirTemp("", "gateway-dev-")
	if err != nil {
		return "", fmt.Errorf("dev: config directory: %w", err)
	}
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, devYAML, 0o600); err != nil {
		return "", fmt.Errorf("dev: write config: %w", err)
	}
	return path, nil
}

// Run starts the quickstart and blocks until ctx ends.
func Run(ctx context.Context, o Options) error {
	if o.Port == 0 {
		o.Port = 8080
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if o.ConfigPath != "" {
		return runConfig(ctx, o, logger)
	}
	gatewayURL := fmt.Sprintf("http://localhost:%d", o.Port)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", o.Port+2)
	secret := auth.NewID()

	idp, err := devidp.New(devidp.Config{
		Issuer: issuer,
		Clients: []devidp.Client{{ID: "gateway-dev", Secret: secret, RedirectURIs: []string{gatewayURL + "/.gateway/callback"},
			PostLogoutRedirectURIs: []string{gatewayURL + "/.gateway/sign-out"}}},
		Insecure: true,
		Logger:   logger.With("component", "dev-idp"),
	})
	if err != nil {
		return err
	}
	defer idp.Close()
	idpLn, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", o.Port+2))
	if err != nil {
		return fmt.Errorf("dev: identity provider listener: %w", err)
	}
	idpSrv := &http.Server{Handler: idp, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = idpSrv.Serve(idpLn) }()
	defer idpSrv.Close()

	// The demo tool verifies the gateway's tokens against its JWKS over HTTP,
	// as any tool behind the gateway would; its verifier is built once the
	// gateway serves its key set.
	var tool atomic.Pointer[http.Handler]
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("dev: demo tool listener: %w", err)
	}
	upSrv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := tool.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "demo tool: starting", http.StatusServiceUnavailable)
	})}
	go func() { _ = upSrv.Serve(upLn) }()
	defer upSrv.Close()

	cfgPath, err := writeConfig()
	if err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(cfgPath))
	lo := config.Options{Dev: true, Lookup: lookup(o.Port, issuer, "http://"+upLn.Addr().String(), secret)}
	cfg, err := config.LoadFile(cfgPath, lo)
	if err != nil {
		return fmt.Errorf("dev: embedded config: %w", err)
	}
	var readyErr error
	ready := func() {
		v, err := contexttoken.NewVerifier(ctx, contexttoken.Config{
			JWKSURL:   gatewayURL + "/.well-known/gateway/jwks.json",
			Issuer:    gatewayURL,
			Audiences: []string{"demo-tool"},
		})
		if err != nil {
			readyErr = err
			logger.Error("dev: demo tool cannot fetch the gateway's key set", "err", err)
			return
		}
		h := demo.New(v, "", logger.With("component", "demo-tool"))
		tool.Store(&h)
		fmt.Fprintf(o.Out, `
  Access gateway — development quickstart (not for production)

  Open  %[1]s/            the demo tool (sign in as any demo user)
        %[1]s/customers/42 support agents only, with a ticket about customer 42 (tickets:SUP-1)
        %[1]s/console      engineering, inside its maintenance window (closed today);
                           the on-call engineer can break glass with incident INC-1
        %[1]s/.gateway/break-glass/review  the review list (lead@dev.example)
        %[1]s/admin        engineering only
        %[1]s/device-only  company devices only: the page shows a code, then run
                           go run ./cmd/gateway-agent --tpm simulator --gateway %[1]s enroll CODE
                           go run ./cmd/gateway-agent --tpm simulator --gateway %[1]s verify CODE
  Users support@dev.example · oncall@dev.example · lead@dev.example · contractor@contractors.example
  Rules %[4]s
        (edit it while the gateway runs: close ticket SUP-1, change a window; it reloads)
  Admin http://127.0.0.1:%[2]d/metrics · /healthz · /readyz
  IdP   %[3]s (development sign-in page)

  Audit records are printed below as JSON lines. Ctrl-C stops everything.

`, gatewayURL, o.Port+1, issuer, cfgPath)
		if o.Ready != nil {
			o.Ready(gatewayURL)
		}
	}
	err = server.Serve(ctx, cfg, server.Options{Logger: logger.With("component", "gateway"), AgentCommand: "go run ./cmd/gateway-agent --tpm simulator",
		ConfigPath: cfgPath, LoadOptions: lo}, ready)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	if err == nil {
		err = readyErr
	}
	return err
}

// runConfig is `gateway dev --config FILE`.
func runConfig(ctx context.Context, o Options, logger *slog.Logger) error {
	// The embedded provider's address is needed before the file is loaded
	// (a file without oidc.issuer signs in there), so listen first.
	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("dev: identity provider listener: %w", err)
	}
	defer idpLn.Close()
	dev := &config.OIDCConfig{Issuer: "http://" + idpLn.Addr().String(), ClientID: "gateway-dev", ClientSecret: auth.NewID()}
	lo := config.Options{Dev: true, DevProvider: dev}
	cfg, err := config.LoadFile(o.ConfigPath, lo)
	if err != nil {
		return err
	}
	if err := server.PolicyTests(cfg); err != nil {
		return err
	}
	provider := cfg.OIDC.Issuer
	if cfg.OIDC.Issuer == dev.Issuer {
		idp, err := devidp.New(devidp.Config{
			Issuer: dev.Issuer,
			Clients: []devidp.Client{{ID: dev.ClientID, Secret: dev.ClientSecret,
				RedirectURIs:           []string{strings.TrimSuffix(cfg.PublicURL, "/") + "/.gateway/callback"},
				PostLogoutRedirectURIs: []string{cfg.OIDC.PostLogoutRedirectURL}}},
			Insecure: true,
			Logger:   logger.With("component", "dev-idp"),
		})
		if err != nil {
			return err
		}
		defer idp.Close()
		idpSrv := &http.Server{Handler: idp, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = idpSrv.Serve(idpLn) }()
		defer idpSrv.Close()
		provider += " (embedded development provider: pick a demo user)"
	} else {
		idpLn.Close()
	}
	ready := func() {
		fmt.Fprintf(o.Out, `
  Access gateway — %[1]s in development mode (not for production)

  Open  %[2]s   (%[3]d routes)
  IdP   %[4]s
  Admin http://%[5]s/metrics · /healthz · /readyz

  Editing the file reloads it. Ctrl-C stops everything.

`, o.ConfigPath, cfg.PublicURL, len(cfg.Routes), provider, cfg.Admin.Address)
		if o.Ready != nil {
			o.Ready(cfg.PublicURL)
		}
	}
	err = server.Serve(ctx, cfg, server.Options{Logger: logger.With("component", "gateway"), ConfigPath: o.ConfigPath, LoadOptions: lo}, ready)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
