package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/accessgateway/gateway/internal/token"
)

// keys: `gateway keys generate --out FILE [--alg ES256]` writes a new
// context-token signing key (PEM, mode 0600, never overwriting) and prints
// its kid and the config line to add.
func keys(w io.Writer, args []string) error {
	if len(args) == 0 || args[0] != "generate" {
		return errors.New("keys: expected `keys generate --out FILE [--alg ES256|EdDSA|RS256]`")
	}
	fs := flag.NewFlagSet("keys generate", flag.ContinueOnError)
	out := fs.String("out", "", "file to write the private key to (PEM, 0600; must not exist)")
	alg := fs.String("alg", "ES256", "algorithm: ES256, EdDSA or RS256")
	if err := fs.Parse(args[1:]); err != nil {
		return exitError(2)
	}
	if *out == "" {
		return errors.New("keys generate: --out is required")
	}
	kid, err := token.WriteKeyFile(*out, *alg)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s (%s, kid %s)\nadd it to the config as the next key, then promote it:\n  token:\n    keys:\n      - {file: %s, state: next}\n", *out, *alg, kid, *out)
	return nil
}
