package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/accessgateway/gateway/internal/audit"
)

const auditUsage = "audit: expected `audit verify [--jwks FILE|URL]… [--key PEM]… [--after SEQ:HASH | --allow-partial] FILE…`"

// auditCmd: `gateway audit verify [--jwks FILE|URL] [--key PEM]
// [--after SEQ:HASH | --allow-partial] FILE…` checks audit files as one
// hash chain, read in the order of their first record's seq whatever order
// they are given in (`audit.jsonl*` lists the current file first), and
// says so when that is not the order given: it prints the first modified,
// deleted, inserted or reordered record and exits 1, or prints a one-line
// summary. With keys,
// every checkpoint's signature is checked too. The chain must start at seq
// 1, or hold or continue the --after anchor (the last seq and hash of an
// earlier verification); --allow-partial accepts files that start later
// without one, so that deleting the oldest files goes unseen.
func auditCmd(ctx context.Context, w io.Writer, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return errors.New(auditUsage)
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	var jwks, keys multi
	fs.Var(&jwks, "jwks", "JWKS file or https URL with the checkpoint keys (repeatable)")
	fs.Var(&keys, "key", "PEM file with a public key, certificate or the signing key (repeatable)")
	after := fs.String("after", "", "SEQ:HASH of a record verified before (the last seq and hash of an earlier summary): the files must hold or continue it")
	partial := fs.Bool("allow-partial", false, "accept files that start after seq 1 without --after (a deleted first file then goes unseen)")
	// Flags may come before, between or after the files.
	var files []string
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			return exitError(2)
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) == 0 {
		return errors.New(auditUsage)
	}
	v := &audit.Verifier{AllowPartial: *partial}
	if *after != "" {
		if *partial {
			return errors.New("audit verify: --after and --allow-partial exclude each other: the anchor says where the chain starts")
		}
		a, err := audit.ParseAnchor(*after)
		if err != nil {
			return fmt.Errorf("audit verify: --after: %w", err)
		}
		v.After = &a
	}
	var ks *audit.KeySet
	add := func(k *audit.KeySet, err error) error {
		if err != nil {
			return err
		}
		if ks == nil {
			ks = k
		} else {
			ks.Merge(k)
		}
		return nil
	}
	for _, src := range jwks {
		if err := add(audit.LoadJWKS(ctx, src)); err != nil {
			return err
		}
	}
	for _, path := range keys {
		if err := add(audit.LoadPEM(path)); err != nil {
			return err
		}
	}
	v.Keys = ks
	ordered, err := audit.ChainOrder(files)
	if err != nil {
		return err
	}
	// Said on the result's line, so that an ok stays one line; a problem
	// between files names the file read before.
	note := ""
	if !slices.Equal(ordered, files) {
		note = "the files were given out of chain order: read in the order of their first record's seq"
	}
	s, err := v.Files(ordered...)
	var p *audit.Problem
	if errors.As(err, &p) {
		if note != "" {
			fmt.Fprintf(w, "FAIL %s; %s\n", p, note)
		} else {
			fmt.Fprintf(w, "FAIL %s\n", p)
		}
		return exitError(1)
	}
	if err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintf(w, "%s; %s\n", s, note)
	} else {
		fmt.Fprintln(w, s)
	}
	return nil
}
