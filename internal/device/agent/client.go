package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/accessgateway/gateway/internal/device"
)

// Client runs the agent's conversations with the gateway.
type Client struct {
	// Gateway is the gateway's base URL, e.g. https://gw.example.com.
	Gateway string
	// HTTP is the client to use; nil means http.DefaultClient.
	HTTP *http.Client
	TPM  *TPM
	// Confirm, when set, is asked before an enrollment or a verification
	// completes, with whose browser session the code would bind. An error
	// stops it: the gateway is told (the code's page shows the refusal) and
	// Enroll or Verify return that error. Nil completes without asking, as
	// scripts and tests do.
	Confirm func(ctx context.Context, b Binding) error
}

// Binding is what a one-time code is about to do, as the gateway reports it
// after the code was looked up and before anything is stored.
type Binding struct {
	// Purpose is device.PurposeEnroll or device.PurposeVerify.
	Purpose  string
	DeviceID string
	// Email is the signed-in user whose browser session the code belongs
	// to; an enrollment makes them the device's owner unless the inventory
	// names one.
	Email string
	// Tool is the tool the page was shown for ("" for the device page).
	Tool string
	// Gateway is the gateway's URL as the agent was given it.
	Gateway string
}

// ErrDeclined is returned by a Confirm function to say that its user did not
// confirm the binding.
var ErrDeclined = errors.New("agent: not confirmed: nothing was enrolled or bound")

// APIError is a non-2xx answer of the gateway.
type APIError struct {
	Status int
	device.ErrorResponse
}

func (e *APIError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("gateway refused (%s): %s", e.Reason, e.ErrorResponse.Error)
	}
	return fmt.Sprintf("gateway answered %d: %s", e.Status, e.ErrorResponse.Error)
}

// CheckGatewayURL checks the gateway's URL as the agent is given it and
// returns its origin: https (plain http only for a loopback host, as in the
// quickstart), and nothing but scheme, host and port. What the agent sends
// (the one-time code, the activated secret, quotes) goes to that origin
// only, and the confirmation names it, so user info
// ("https://access.example.com@evil.example"), a path or a query (which the
// API path would be appended to) and a fragment are refused rather than
// interpreted.
func CheckGatewayURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Opaque != "" || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, fmt.Errorf("agent: expected the gateway's URL, like https://access.example.com, got %q", raw)
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, fmt.Errorf("agent: expected the gateway's URL with scheme and host only, like https://access.example.com, got %q", raw)
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		return nil, fmt.Errorf("agent: expected an https gateway URL, got %q (plain http would expose the code and the device's proof to the network; it is accepted only for a loopback host such as http://localhost:8080)", raw)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// isLoopbackHost reports whether host (without port or brackets) is
// localhost or a loopback address (127.0.0.0/8, ::1).
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// errRedirect stops the HTTP client at a redirect (see post).
var errRedirect = errors.New("agent: redirect not followed")

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	gw, err := CheckGatewayURL(c.Gateway)
	if err != nil {
		return err
	}
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	u := gw.String() + device.APIPrefix + "/" + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	// Never follow a redirect: it would carry the body (the code, the
	// activated secret, a quote) to an origin the user did not confirm.
	// The device API never redirects.
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return errRedirect }
	rsp, err := noRedirect.Do(req)
	if errors.Is(err, errRedirect) {
		loc := ""
		if rsp != nil {
			loc = rsp.Header.Get("Location")
		}
		return fmt.Errorf("agent: the gateway %s answered with a redirect (to %q), which the agent does not follow: use the gateway's own URL, as its device page shows it", gw, truncate(loc, 200))
	}
	if err != nil {
		return fmt.Errorf("agent: reach the gateway: %w", err)
	}
	defer rsp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(rsp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("agent: read the gateway's answer: %w", err)
	}
	if rsp.StatusCode != http.StatusOK {
		e := &APIError{Status: rsp.StatusCode}
		if json.Unmarshal(b, &e.ErrorResponse) != nil || e.ErrorResponse.Error == "" {
			e.ErrorResponse.Error = fmt.Sprintf("unexpected answer %q", truncate(string(b), 200))
		}
		return e
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("agent: the gateway's answer is not the expected JSON: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Enroll enrolls this device with a one-time enrollment code: it sends the
// EK (and its certificate) and the AK, activates the credential the gateway
// returns, and quotes over its nonce.
func (c *Client) Enroll(ctx context.Context, code string) (*device.Result, error) {
	id, err := c.TPM.Identity()
	if err != nil {
		return nil, err
	}
	var start device.EnrollStartResponse
	if err := c.post(ctx, "enroll/start", device.EnrollStartRequest{Code: code, EKPublic: id.EKPublic, EKCert: id.EKCert, AKPublic: id.AKPublic}, &start); err != nil {
		return nil, err
	}
	if err := checkChallenge(start.Nonce, start.PCRs); err != nil {
		return nil, err
	}
	if err := c.confirm(ctx, start.ChallengeID, Binding{Purpose: device.PurposeEnroll, DeviceID: start.DeviceID,
		Email: start.SessionEmail, Tool: start.Tool}); err != nil {
		return nil, err
	}
	secret, err := c.TPM.ActivateCredential(start.Credential, start.EncryptedSecret)
	if err != nil {
		return nil, err
	}
	q, err := c.TPM.Quote(start.Nonce, start.PCRs)
	if err != nil {
		return nil, err
	}
	var res device.Result
	if err := c.post(ctx, "enroll/finish", device.EnrollFinishRequest{ChallengeID: start.ChallengeID, Secret: secret, Quote: q}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Verify attests the device and binds it to the browser session that shows
// code.
func (c *Client) Verify(ctx context.Context, code string) (*device.Result, error) {
	return c.attest(ctx, device.AttestVerify, code)
}

// Check attests the device without binding anything (refreshes posture).
func (c *Client) Check(ctx context.Context) (*device.Result, error) {
	return c.attest(ctx, device.AttestCheck, "")
}

// Cert attests the device and obtains a device certificate for the TPM
// certificate key (see TPM.Signer); Result.CertificatePEM holds it.
func (c *Client) Cert(ctx context.Context) (*device.Result, error) {
	res, err := c.attest(ctx, device.AttestCert, "")
	if err != nil {
		return nil, err
	}
	if err := c.checkCertificate(res.CertificatePEM); err != nil {
		return nil, err
	}
	return res, nil
}

// checkCertificate refuses an answer that is not PEM certificates, the
// first for the TPM's certificate key (the device CA's follow): whatever
// the gateway's URL answered must not replace a good certificate on disk
// with nothing, or with a certificate for a key this device does not hold.
func (c *Client) checkCertificate(p string) error {
	var certs []*x509.Certificate
	for rest := []byte(p); len(bytes.TrimSpace(rest)) > 0; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil || b.Type != "CERTIFICATE" {
			return errors.New("agent: the gateway's answer holds no certificate (expected PEM CERTIFICATE blocks)")
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fmt.Errorf("agent: the gateway's certificate does not parse: %w", err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return errors.New("agent: the gateway's answer holds no certificate (expected PEM CERTIFICATE blocks)")
	}
	cert := certs[0]
	signer, err := c.TPM.Signer()
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(signer.Public()) {
		return errors.New("agent: the gateway's certificate is for another key than this device's certificate key")
	}
	return nil
}

func (c *Client) attest(ctx context.Context, purpose, code string) (*device.Result, error) {
	if c.TPM == nil {
		return nil, errors.New("agent: no TPM")
	}
	id, err := c.TPM.Identity()
	if err != nil {
		return nil, err
	}
	var start device.AttestStartResponse
	if err := c.post(ctx, "attest/start", device.AttestStartRequest{Purpose: purpose, Code: code, AKPublic: id.AKPublic}, &start); err != nil {
		return nil, err
	}
	if err := checkChallenge(start.Nonce, start.PCRs); err != nil {
		return nil, err
	}
	if purpose == device.AttestVerify {
		if err := c.confirm(ctx, start.ChallengeID, Binding{Purpose: device.PurposeVerify, DeviceID: start.DeviceID,
			Email: start.SessionEmail, Tool: start.Tool}); err != nil {
			return nil, err
		}
	}
	q, err := c.TPM.Quote(start.Nonce, start.PCRs)
	if err != nil {
		return nil, err
	}
	req := device.AttestFinishRequest{ChallengeID: start.ChallengeID, Quote: q}
	if purpose == device.AttestCert {
		if req.Certify, err = c.TPM.CertifyKey(start.Nonce); err != nil {
			return nil, err
		}
	}
	var res device.Result
	if err := c.post(ctx, "attest/finish", req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// checkChallenge refuses a challenge's nonce and PCR list before the agent
// asks its user or uses the TPM: the gateway sends a fresh nonce and the
// distinct PCR indexes of its policy, and anything else (sent by whatever
// answers at the gateway's URL) is an error rather than a quote over no
// nonce, a panic or a huge allocation.
func checkChallenge(nonce []byte, pcrs []int) error {
	if err := checkQuoteInput(nonce, pcrs); err != nil {
		return fmt.Errorf("agent: the gateway's challenge is malformed: %w", err)
	}
	return nil
}

// confirm asks c.Confirm, if set; on refusal it cancels the challenge so the
// browser page and the audit log learn of it at once.
func (c *Client) confirm(ctx context.Context, challengeID string, b Binding) error {
	if c.Confirm == nil {
		return nil
	}
	b.Gateway = c.Gateway
	err := c.Confirm(ctx, b)
	if err == nil {
		return nil
	}
	// Best effort, and not bound by ctx, which may be what ended the
	// confirmation: an unanswered challenge expires by itself anyway.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var res device.Result
	_ = c.post(cctx, "cancel", device.CancelRequest{ChallengeID: challengeID}, &res)
	return err
}
