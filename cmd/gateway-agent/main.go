// Command gateway-agent proves to the access gateway, with the laptop's TPM,
// that this is a company-issued device in good shape.
//
//	gateway-agent [flags] enroll CODE   once per device, with a code from the gateway's device page
//	gateway-agent [flags] verify CODE   bind this device to the browser session showing CODE
//	gateway-agent [flags] cert          get a short-lived client certificate for mTLS
//	gateway-agent [flags] status        show the TPM's identity (for IT) and check it with the gateway
//
// Flags: --gateway URL (or $GATEWAY_URL), --tpm /dev/tpmrm0 | simulator |
// tcp://HOST:PORT, --state DIR (default: the user config dir).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/device/agent"
)

// Exit codes.
const (
	exitOK     = 0
	exitDenied = 1 // the gateway refused
	exitUsage  = 2
	exitError  = 3 // TPM, network or file problem
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: gateway-agent [flags] COMMAND

commands:
  enroll CODE   enroll this device (once), with a code from the gateway's device page
  verify CODE   verify this device for the browser session that shows CODE
  cert          get a short-lived device certificate for command-line and API clients
  status        show this TPM's identity (give the EK hash to IT) and check it with the gateway

flags:
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gateway := fs.String("gateway", os.Getenv("GATEWAY_URL"), "the gateway's URL, e.g. https://access.example.com (default $GATEWAY_URL)")
	tpmSpec := fs.String("tpm", agent.DefaultDevice, `TPM to use: a device path, "simulator" (insecure, for demos and tests) or tcp://HOST:PORT (swtpm)`)
	stateDir := fs.String("state", defaultStateDir(), "directory for the agent's files (simulator state, certificates)")
	timeout := fs.Duration("timeout", 30*time.Second, "time limit for talking to the gateway")
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
	tpm, err := agent.Open(*tpmSpec, filepath.Join(*stateDir, "simulator.json"))
	if err != nil {
		fmt.Fprintln(stderr, "gateway-agent:", err)
		return exitError
	}
	defer tpm.Close()
	if *tpmSpec == "simulator" {
		fmt.Fprintln(stderr, "Note: using the built-in TPM simulator. It proves nothing about real hardware; use it only for demos and tests.")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := &agent.Client{Gateway: *gateway, TPM: tpm}

	var res *device.Result
	switch cmd {
	case "enroll":
		res, err = c.Enroll(ctx, rest[0])
		if err == nil {
			fmt.Fprintf(stdout, "Enrolled: %s.\n", res.Message)
			if res.SessionBound {
				fmt.Fprintln(stdout, "Your browser page will continue by itself. Next time, use `gateway-agent verify CODE` with the code the page shows.")
			}
		}
	case "verify":
		res, err = c.Verify(ctx, rest[0])
		if err == nil {
			fmt.Fprintf(stdout, "Verified: %s.\nGo back to your browser: the page will continue by itself.\n", res.Message)
		}
	case "cert":
		res, err = c.Cert(ctx)
		if err == nil {
			path := filepath.Join(*stateDir, "device.crt")
			if werr := writeFile(path, []byte(res.CertificatePEM)); werr != nil {
				fmt.Fprintln(stderr, "gateway-agent:", werr)
				return exitError
			}
			fmt.Fprintf(stdout, "Certificate for device %s written to %s (valid until %s).\n", res.DeviceID, path, res.NotAfter.Local().Format(time.RFC1123))
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
	fmt.Fprintf(stdout, "Gateway:          OK, %s\n", res.Message)
	return exitOK
}

// explain tells the user what went wrong and what to do next.
func explain(err error, stderr io.Writer) int {
	var ae *agent.APIError
	if !errors.As(err, &ae) {
		fmt.Fprintln(stderr, "gateway-agent:", err)
		if errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintln(stderr, "The gateway did not answer in time. Check the --gateway URL and your network, then try again.")
		}
		return exitError
	}
	fmt.Fprintf(stderr, "The gateway refused: %s\n", ae.ErrorResponse.Error)
	next := map[device.Reason]string{
		device.ReasonNotEnrolled:   "If this is your company laptop, ask IT to register it (run `gateway-agent status` and give them the EK SHA-256), then enroll it with a code from the device page.",
		device.ReasonRevoked:       "IT has revoked this device. Contact IT; it can no longer be used for access.",
		device.ReasonOwnerMismatch: "This device is registered to another person. Sign in to the gateway as its owner, or ask IT to reassign it.",
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
