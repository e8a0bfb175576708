package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/token"
)

// keys: `gateway keys generate --out FILE [--alg ES256]` writes a new
// context-token signing key (PEM, mode 0600, never overwriting) and prints
// its kid and the config lines to add; `--session` writes a session
// encryption key (base64) instead.
func keys(w io.Writer, args []string) error {
	if len(args) == 0 || args[0] != "generate" {
		return errors.New("keys: expected `keys generate --out FILE [--alg ES256|EdDSA|RS256]` or `keys generate --session --out FILE`")
	}
	fs := flag.NewFlagSet("keys generate", flag.ContinueOnError)
	out := fs.String("out", "", "file to write the private key to (0600; must not exist)")
	alg := fs.String("alg", "ES256", "algorithm: ES256, EdDSA or RS256")
	session := fs.Bool("session", false, "write a session encryption key (AES-256, base64) instead of a signing key")
	if err := fs.Parse(args[1:]); err != nil {
		return exitError(2)
	}
	if *out == "" {
		return errors.New("keys generate: --out is required")
	}
	if *session {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("keys generate: %w", err)
		}
		if _, err := fmt.Fprintln(f, auth.NewKey()); err != nil {
			f.Close()
			return fmt.Errorf("keys generate: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("keys generate: %w", err)
		}
		fmt.Fprintf(w, `wrote %[1]s (session encryption key, AES-256)
if it is your first session key, add it as the active one:
  session:
    encryption_keys:
      - {file: %[1]s, state: active}
when rotating, add it as {file: %[1]s, state: next} on every replica first, then make it
active and the old one retired; remove the retired key once the sessions it sealed have ended
(session.lifetime)
`, *out)
		return nil
	}
	kid, err := token.WriteKeyFile(*out, *alg)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, `wrote %[1]s (%[2]s, kid %[3]s)
if it is your first signing key, add it as the active one:
  token:
    keys:
      - {file: %[1]s, state: active}
when rotating, add it as {file: %[1]s, state: next} (published in the JWKS before it signs), then
make it active and the old one retired with an until date
`, *out, *alg, kid)
	return nil
}
