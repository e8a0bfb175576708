// Command gateway-agent proves to the access gateway, with the laptop's TPM,
// that this is a company-issued device in good shape.
//
//	gateway-agent [flags] enroll CODE   once per device, with a code from the gateway's device page
//	gateway-agent [flags] verify CODE   bind this device to the browser session showing CODE
//	gateway-agent [flags] cert          get a short-lived client certificate for mTLS
//	gateway-agent [flags] status        show the TPM's identity (for IT) and check it with the gateway
//
// Flags: --gateway URL (or $GATEWAY_URL; https://HOST[:PORT], plain http only
// on loopback), --tpm /dev/tpmrm0 | simulator | tcp://HOST:PORT, --state DIR
// (default: the user config dir), --yes.
//
// Before enroll and verify complete, the agent shows whose browser session
// the code belongs to (and for which tool) and asks for confirmation on the
// terminal; --yes skips the question for scripts. Without --yes and without a
// terminal on stdin it refuses before using the code.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/device/agent"
)

// Exit codes.
const (
	exitOK       = 0
	exitDenied   = 1 // the gateway refused
	exitUsage    = 2
	exitError    = 3 // TPM, network or file problem
	exitDeclined = 4 // the user did not confirm the session shown
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// isTerminal reports whether r is an interactive terminal (a character
// device). Tests replace it.
var isTerminal = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

const usage = `usage: gateway-agent [flags] COMMAND

commands:
  enroll CODE   enroll this device (once), with a code from the gateway's device page
  verify CODE   verify this device for the browser session that shows CODE
  cert          get a short-lived device certificate for command-line and API clients
  status        show this TPM's identity (give the EK hash to IT) and check it with the gateway

enroll and verify show whose browser session the code belongs to and ask before
they complete: only confirm your own session. --yes confirms without asking.

flags:
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gateway := fs.String("gateway", os.Getenv("GATEWAY_URL"), "the gateway's URL, e.g. https://access.example.com (default $GATEWAY_URL)")
	tpmSpec := fs.String("tpm", agent.DefaultDevice, `TPM to use: a device path, "simulator" (insecure, for demos and tests) or tcp://HOST:PORT (swtpm)`)
	stateDir := fs.String("state", defaultStateDir(), "directory for the agent's files (simulator state, certificates)")
	timeout := fs.Duration("timeout", 30*time.Second, "time limit for each request to the gateway")
	yes := fs.Bool("yes", false, "enroll or verify without asking to confirm the browser session (for scripts)")
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cmd, rest := fs.Arg(0), fs.Args()
	if len(rest) > 0 {
		rest = rest[1:]
	}
	wantArgs := map[string]int{"enroll": 1, "verify": 1, "cert": 0, "status": 0}
	n, ok := wantArgs[cmd]
	if !ok || len(rest) != n {
		fs.Usage()
		return exitUsage
	}
	if *gateway == "" && cmd != "status" {
		fmt.Fprintln(stderr, "gateway-agent: --gateway URL is required (or set GATEWAY_URL); the device page shows the full command")
		return exitUsage
	}
	if *gateway != "" {
		u, err := agent.CheckGatewayURL(*gateway)
		if err != nil {
			fmt.Fprintln(stderr, "gateway-agent: --gateway:", strings.TrimPrefix(err.Error(), "agent: "))
			return exitUsage
		}
		*gateway = u.String()
	}
	if (cmd == "enroll" || cmd == "verify") && !*yes && !isTerminal(stdin) {
		fmt.Fprintf(stderr, "gateway-agent: %s needs a confirmation and stdin is not a terminal: run it in a terminal, or pass --yes in scripts that only ever use their own codes. The code was not used.\n", cmd)
		return exitUsage
	}
	tpm, err := agent.Open(*tpmSpec, filepath.Join(*stateDir, "simulator.json"))
	if err != nil {
		fmt.Fprintln(stderr, "gateway-agent:", err)
		return exitError
	}
	defer tpm.Close()
	if *tpmSpec == "simulator" {
		fmt.Fprintln(stderr, "Note: using the built-in TPM simulator. It proves nothing about real hardware; use it only for demos and tests.")
	}
	// The time limit is per request: the confirmation in between waits for
	// its user (the gateway's challenge expires by itself).
	c := &agent.Client{Gateway: *gateway, TPM: tpm, HTTP: &http.Client{Timeout: *timeout}}
	c.Confirm = func(ctx context.Context, b agent.Binding) error {
		return confirm(ctx, b, *yes, stdin, stdout, stderr)
	}

	var res *device.Result
	switch cmd {
	case "enroll":
		res, err = c.Enroll(ctx, rest[0])
		if err == nil {
			fmt.Fprintf(stdout, "Enrolled: %s.\n", printable(res.Message))
			if res.SessionBound {
				fmt.Fprintln(stdout, "Your browser page will continue by itself. Next time, use `gateway-agent verify CODE` with the code the page shows.")
			}
		}
	case "verify":
		res, err = c.Verify(ctx, rest[0])
		if err == nil {
			fmt.Fprintf(stdout, "Verified: %s.\nGo back to your browser: the page will continue by itself.\n", printable(res.Message))
		}
	case "cert":
		res, err = c.Cert(ctx)
		if err == nil {
			path := filepath.Join(*stateDir, "device.crt")
			if werr := writeFile(path, []byte(res.CertificatePEM)); werr != nil {
				fmt.Fprintln(stderr, "gateway-agent:", werr)
				return exitError
			}
			fmt.Fprintf(stdout, "Certificate for device %s written to %s (valid until %s).\n", printable(res.DeviceID), path, res.NotAfter.Local().Format(time.RFC1123))
			fmt.Fprintln(stdout, "Its private key never leaves the TPM; clients built on the agent package use it through the TPM. Run `gateway-agent cert` again when it expires.")
		}
	case "status":
		return status(ctx, c, *gateway, stdout, stderr)
	}
	if err != nil {
		return explain(err, stderr)
	}
	return exitOK
}

func status(ctx context.Context, c *agent.Client, gateway string, stdout, stderr io.Writer) int {
	id, err := c.TPM.Identity()
	if err != nil {
		fmt.Fprintln(stderr, "gateway-agent:", err)
		return exitError
	}
	fmt.Fprintf(stdout, "TPM:              %s\n", c.TPM)
	fmt.Fprintf(stdout, "EK SHA-256:       %s\n", id.EKHash)
	if len(id.EKCert) > 0 {
		if cert, err := device.ParseEKCertificate(id.EKCert); err == nil {
			fmt.Fprintf(stdout, "EK certificate:   issued by %q, serial %s\n", cert.Issuer.String(), cert.SerialNumber)
		} else {
			fmt.Fprintf(stdout, "EK certificate:   present but unreadable: %v\n", err)
		}
	} else {
		fmt.Fprintln(stdout, "EK certificate:   none in the TPM (IT registers the EK SHA-256 above)")
	}
	fmt.Fprintf(stdout, "AK name:          %s\n", id.AKName)
	if gateway == "" {
		fmt.Fprintln(stdout, "Gateway:          not checked (no --gateway)")
		return exitOK
	}
	res, err := c.Check(ctx)
	if err != nil {
		fmt.Fprint(stdout, "Gateway:          not OK\n")
		return explain(err, stderr)
	}
	fmt.Fprintf(stdout, "Gateway:          OK, %s\n", printable(res.Message))
	return exitOK
}

// confirm shows what the code is about to bind and, unless yes, asks on the
// terminal. Anything but "y" or "yes" declines.
func confirm(ctx context.Context, b agent.Binding, yes bool, stdin io.Reader, stdout, stderr io.Writer) error {
	who := printable(b.Email)
	if who == "" {
		who = "(unknown user)"
	}
	tool := ""
	if b.Tool != "" {
		tool = fmt.Sprintf(" for %q", printable(b.Tool))
	}
	switch b.Purpose {
	case device.PurposeEnroll:
		fmt.Fprintf(stdout, "The gateway %s will enroll this device (%s) for %s and verify it for the browser session of %s%s.\n",
			printable(b.Gateway), printable(b.DeviceID), who, who, tool)
		fmt.Fprintf(stdout, "Unless IT's inventory names an owner, %s becomes the device's owner: only they can verify it later.\n", who)
	default:
		fmt.Fprintf(stdout, "The gateway %s will bind this device (%s) to the browser session of %s%s.\n",
			printable(b.Gateway), printable(b.DeviceID), who, tool)
	}
	if yes {
		return nil
	}
	fmt.Fprintf(stderr, "Is %s you, signed in in your own browser? Whoever holds that session will act as this device. Continue? [y/N] ", who)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(io.LimitReader(stdin, 256)).ReadString('\n')
		answer <- line
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(stderr)
		return ctx.Err()
	case line := <-answer:
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return nil
		}
		return agent.ErrDeclined
	}
}

// printable replaces control and other non-printable characters of a value
// the gateway sent, so that it cannot move the cursor, rewrite the terminal
// or send it commands (such as OSC 52, which sets the clipboard), and
// bounds its length. Every text from the gateway goes through it: the
// session and tool in the confirmation, messages, refusals and errors.
func printable(s string) string { return printableN(s, 256) }

// printableN is printable with a bound of n bytes (for error messages).
func printableN(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}

// explain tells the user what went wrong and what to do next.
func explain(err error, stderr io.Writer) int {
	if errors.Is(err, agent.ErrDeclined) {
		fmt.Fprintln(stderr, "Not confirmed: nothing was enrolled or bound, and the code is used up.")
		fmt.Fprintln(stderr, "If someone sent you this code, do not run it: codes are only for your own browser session. Tell IT security.")
		return exitDeclined
	}
	var ae *agent.APIError
	if !errors.As(err, &ae) {
		fmt.Fprintln(stderr, "gateway-agent:", printableN(err.Error(), 1024))
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			fmt.Fprintln(stderr, "The gateway did not answer in time. Check the --gateway URL and your network, then try again.")
		}
		return exitError
	}
	fmt.Fprintf(stderr, "The gateway refused: %s\n", printableN(ae.ErrorResponse.Error, 1024))
	next := map[device.Reason]string{
		device.ReasonNotEnrolled:   "If this is your company laptop, ask IT to register it (run `gateway-agent status` and give them the EK SHA-256), then enroll it with a code from the device page.",
		device.ReasonRevoked:       "IT has revoked this device. Contact IT; it can no longer be used for access.",
		device.ReasonOwnerMismatch: "This device belongs to another person than the one whose browser session showed the code (its owner is named in IT's inventory, or is who enrolled it). A device is only verified for its owner's session: sign in as its owner, or ask IT to reassign it. If someone sent you this code, do not use it.",
		device.ReasonPCRMismatch:   "The boot security state of this device (e.g. Secure Boot, firmware) does not match the company policy. Contact IT.",
		device.ReasonNotVerified:   "Reload the device page to get a new code and run the command again.",
	}
	switch {
	case next[ae.Reason] != "":
		fmt.Fprintln(stderr, next[ae.Reason])
	case ae.Status == 400:
		fmt.Fprintln(stderr, "This agent and the gateway do not understand each other; update gateway-agent.")
	default:
		fmt.Fprintln(stderr, "Try again in a minute; if it persists, contact IT.")
	}
	return exitDenied
}

func defaultStateDir() string {
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "gateway-agent")
	}
	return ".gateway-agent"
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
