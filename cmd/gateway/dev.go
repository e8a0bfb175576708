//go:build !prod

package main

import (
	"context"
	"flag"

	"github.com/accessgateway/gateway/internal/devmode"
)

// devUsage is the usage of `gateway dev` in builds that have the quickstart.
const devUsage = `  dev                      quickstart: embedded dev IdP, demo tool and example policy
  dev      --config FILE   run your own config locally (loopback, plain http allowed;
                           without oidc.issuer it signs in at the embedded dev IdP)
`

// dev runs the quickstart, `gateway dev [--port 8080]`, or an operator's own
// configuration locally, `gateway dev --config FILE`.
func dev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	port := fs.Int("port", 8080, "gateway port on localhost (admin: port+1, dev IdP: port+2); not with --config")
	path := fs.String("config", "", "run this config file (loopback only, plain http allowed; without oidc.issuer it signs in at the embedded dev IdP)")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	return devmode.Run(ctx, devmode.Options{Port: *port, ConfigPath: *path})
}
