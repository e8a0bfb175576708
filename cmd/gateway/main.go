// Command gateway is the employee access gateway.
//
// Release builds use the build tag "prod" (`make build`, deploy/Dockerfile):
// they leave out the quickstart (`gateway dev`: the development OpenID
// provider and the demo tool), whose dependencies have no place in a
// production binary. The default build (`go run ./cmd/gateway dev`) keeps it.
//
//	gateway serve   --config FILE    run the gateway
//	gateway check   --config FILE    validate a config and run its policy tests
//	gateway explain --config FILE …  answer a what-if with the decision and its reasons
//	gateway dev [--config FILE]      the quickstart, or an operator's own config locally
//	gateway keys generate --out FILE write a new context-token signing key (--session: a session encryption key)
//	gateway audit verify FILE…       check the audit log's hash chain and signatures
//	gateway breakglass list --config FILE  break-glass grants not yet reviewed (--all: every one)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/explain"
	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/requirement/kinds"
	"github.com/accessgateway/gateway/internal/server"
)

var usage = fmt.Sprintf(usageFormat, devUsage)

const usageFormat = `usage: gateway <command> [flags]

commands:
  serve    --config FILE   run the gateway (reloads on file change and SIGHUP)
  check    --config FILE   validate the config, list every problem, run its policy tests
  explain  --config FILE   what-if: --user EMAIL --groups a,b --url URL | --route NAME --path P
%s  keys generate --out FILE write a new context-token signing key (PEM)
  keys generate --session --out FILE
                           write a new session encryption key (base64)
  audit verify FILE…       check audit files (any order, from seq 1): --jwks FILE|URL, --key PEM,
                           --after SEQ:HASH (continue an earlier verification), --allow-partial
  breakglass list --config FILE [--all]
                           break-glass grants not yet reviewed (from Redis)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "check":
		err = check(os.Stdout, os.Args[2:])
	case "explain":
		err = explainCmd(os.Stdout, os.Args[2:])
	case "dev":
		err = dev(ctx, os.Args[2:])
	case "keys":
		err = keys(os.Stdout, os.Args[2:])
	case "audit":
		err = auditCmd(ctx, os.Stdout, os.Args[2:])
	case "breakglass":
		err = breakglassCmd(ctx, os.Stdout, os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "gateway: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(int(ee))
		}
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// exitError exits with a code after the command printed its own output.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "", "config file (YAML)")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	if *path == "" {
		return errors.New("serve: --config is required")
	}
	cfg, err := config.LoadFile(*path, config.Options{})
	if err != nil {
		return err
	}
	// The request path allocates little and lives short: collecting less
	// often buys CPU for a little memory (docs/performance.md). GOGC and
	// GOMEMLIMIT in the environment still decide when set.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	// The same verdict as `gateway check` and as a reload: a file whose own
	// policy tests fail is not served.
	if err := server.PolicyTests(cfg); err != nil {
		return err
	}
	return server.Serve(ctx, cfg, server.Options{ConfigPath: *path}, nil)
}

func check(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	path := fs.String("config", "", "config file (YAML)")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	if *path == "" {
		return errors.New("check: --config is required")
	}
	cfg, err := config.LoadFile(*path, config.Options{})
	if err != nil {
		fmt.Fprintf(w, "%s: invalid\n%v\n", *path, err)
		return exitError(1)
	}
	for _, warning := range cfg.Warnings() {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
	results, err := explain.RunTests(cfg)
	if err != nil {
		fmt.Fprintf(w, "%s: %v\n", *path, err)
		return exitError(1)
	}
	failed := 0
	for _, r := range results {
		if r.Pass {
			fmt.Fprintf(w, "ok   %s\n", r.Name)
		} else {
			failed++
			fmt.Fprintf(w, "FAIL %s: %s\n", r.Name, r.Why)
		}
	}
	if failed > 0 {
		fmt.Fprintf(w, "%s: valid, but %d of %s failed\n", *path, failed, count(len(results), "policy test"))
		return exitError(1)
	}
	fmt.Fprintf(w, "%s: valid (%s, %s passed)\n", *path, count(len(cfg.Routes), "route"), count(len(results), "policy test"))
	return nil
}

// count says "1 route", "2 routes", "0 routes".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func explainCmd(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	path := fs.String("config", "", "config file (YAML)")
	user := fs.String("user", "", "email of the user (empty: not signed in)")
	groups := fs.String("groups", "", "comma-separated groups")
	var claims multi
	fs.Var(&claims, "claim", "claim=value (repeatable)")
	rname := fs.String("route", "", "route name (with --path)")
	rpath := fs.String("path", "/", "path on the route")
	u := fs.String("url", "", "full URL instead of --route/--path")
	method := fs.String("method", "GET", "HTTP method")
	src := fs.String("source-ip", "", "client IP address")
	at := fs.String("time", "", "instant, RFC 3339 (default now)")
	// Each requirement kind adds the flags that describe its facts.
	assume := map[string]func() (any, error){}
	for _, k := range kinds.All {
		if a, ok := k.(requirement.Assumer); ok {
			assume[k.Name()] = a.ExplainFlags(fs)
		}
	}
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	if *path == "" {
		return errors.New("explain: --config is required")
	}
	cfg, err := config.LoadFile(*path, config.Options{})
	if err != nil {
		return err
	}
	p, err := explain.New(cfg)
	if err != nil {
		return err
	}
	q := explain.Query{Email: *user, Route: *rname, Path: *rpath, URL: *u, Method: *method, SourceIP: *src}
	if *groups != "" {
		q.Groups = strings.Split(*groups, ",")
	}
	for _, c := range claims {
		k, v, ok := strings.Cut(c, "=")
		if !ok {
			return fmt.Errorf("explain: --claim expects name=value, got %q", c)
		}
		if q.Claims == nil {
			q.Claims = map[string][]string{}
		}
		q.Claims[k] = append(q.Claims[k], v)
	}
	if *at != "" {
		if q.Time, err = time.Parse(time.RFC3339, *at); err != nil {
			return fmt.Errorf("explain: --time: %w", err)
		}
	}
	if q.Time.IsZero() {
		q.Time = time.Now()
	}
	for name, get := range assume {
		a, err := get()
		if err != nil {
			return err
		}
		if a != nil {
			if q.Assume == nil {
				q.Assume = map[string]any{}
			}
			q.Assume[name] = a
		}
	}
	a, err := p.Ask(q)
	if err != nil {
		return err
	}
	verdict := "deny"
	if a.Decision.Allow {
		verdict = "allow"
	}
	route := a.Route
	if route == "" {
		route = "(none)"
	}
	fmt.Fprintf(w, "decision: %s\nroute:    %s\npath:     %s\nreasons:  %v\n", verdict, route, a.Path, a.Decision.Reasons)
	if a.Decision.Rule != "" {
		fmt.Fprintf(w, "rule:     %s\n", a.Decision.Rule)
	}
	if len(a.Decision.Grants) > 0 {
		fmt.Fprintf(w, "grants:   %v\n", a.Decision.Grants)
	}
	if len(a.Decision.Lifted) > 0 {
		fmt.Fprintf(w, "lifted:   %v\n", a.Decision.Lifted)
	}
	if a.Decision.Allow && !a.Decision.NotAfter.IsZero() {
		fmt.Fprintf(w, "until:    %s\n", a.Decision.NotAfter.Format(time.RFC3339))
	}
	return nil
}
