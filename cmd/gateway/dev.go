package main

import (
	"context"
	"flag"

	"github.com/accessgateway/gateway/internal/devmode"
)

// dev runs the quickstart: `gateway dev [--port 8080]`.
func dev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	port := fs.Int("port", 8080, "gateway port on localhost (admin: port+1, dev IdP: port+2)")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	return devmode.Run(ctx, devmode.Options{Port: *port})
}
