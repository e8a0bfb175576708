//go:build prod

package main

import (
	"context"
	"fmt"
	"os"
)

// devUsage says where the quickstart went in a release build.
const devUsage = `  dev                      not in this release build (-tags prod): go run ./cmd/gateway dev
                           from the source has it
`

// devMissing is what `gateway dev` prints in a release build.
const devMissing = `gateway dev: the quickstart (embedded development OpenID provider and demo tool)
is not part of this release build, which was built with -tags prod.
Run it from a checkout of the source instead:

  go run ./cmd/gateway dev                    # the quickstart
  go run ./cmd/gateway dev --config FILE      # your own config, locally

or build a binary that has it: go build -o gateway ./cmd/gateway (without -tags prod).
`

// dev explains that a release build has no quickstart, and exits 2.
func dev(context.Context, []string) error {
	fmt.Fprint(os.Stderr, devMissing)
	return exitError(2)
}
