package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/accessgateway/gateway/internal/breakglass"
	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/store"
)

// breakglassCmd is `gateway breakglass list`: the grants the review page
// shows, from the shared store (Redis), on the command line.
func breakglassCmd(ctx context.Context, w io.Writer, args []string) error {
	if len(args) == 0 || args[0] != "list" {
		return errors.New("breakglass: expected the subcommand list (gateway breakglass list --config FILE [--all])")
	}
	fs := flag.NewFlagSet("breakglass list", flag.ContinueOnError)
	path := fs.String("config", "", "config file (YAML)")
	all := fs.Bool("all", false, "list every grant of the retention period, not only those not yet reviewed")
	if err := fs.Parse(args[1:]); err != nil {
		return exitError(2)
	}
	if *path == "" {
		return errors.New("breakglass list: --config is required")
	}
	cfg, err := config.LoadFile(*path, config.Options{})
	if err != nil {
		return err
	}
	sec, _ := cfg.Section("break_glass").(*breakglass.Config)
	if sec == nil {
		return errors.New("breakglass list: the config has no break_glass section")
	}
	if cfg.Session.Store != "redis" || cfg.Session.Redis == nil {
		return errors.New("breakglass list: grants live in the gateway's session store; with session.store: memory they exist only inside the running gateway — use its review page, /.gateway/break-glass/review")
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	st, err := store.NewRedis(cctx, *cfg.Session.Redis)
	if err != nil {
		return fmt.Errorf("breakglass list: session store: %w", err)
	}
	defer st.Close()
	svc, err := breakglass.New(*sec, breakglass.Options{Store: st})
	if err != nil {
		return err
	}
	defer svc.Close()
	var entries []breakglass.Entry
	if *all {
		entries, err = svc.List(cctx)
	} else {
		entries, err = svc.Unreviewed(cctx)
	}
	if err != nil {
		return fmt.Errorf("breakglass list: %w", err)
	}
	return printGrants(w, entries, time.Now())
}

func printGrants(w io.Writer, entries []breakglass.Entry, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GRANT\tUSER\tROUTE\tINCIDENT\tGRANTED\tEXPIRES\tSTATE\tREASON")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.User, e.Route, e.Incident.ID,
			e.GrantedAt.UTC().Format(time.RFC3339), e.ExpiresAt.UTC().Format(time.RFC3339), e.State(now), e.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d grants\n", len(entries))
	return nil
}
