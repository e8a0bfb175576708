package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/accessgateway/gateway/internal/device/agent"
)

// benchUser is who signs in to every proxy.
func benchUser() *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: "bench-ann", Email: "ann@bench.example", EmailVerified: true,
		PreferredUsername: "ann", Groups: []string{"support", "eng"}}
}

// browser is an HTTP client with a cookie jar that follows redirects, as a
// browser signing in does.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

// signIn runs the OIDC code flow through the proxy at base: the first GET
// of path redirects to the provider, which signs the queued user in and
// redirects to the proxy's callback, which sets the session cookie and
// redirects back. It returns the browser and the Cookie header it sends.
func signIn(m *mockoidc.MockOIDC, base, path string) (*http.Client, string, error) {
	c := browser()
	m.QueueUser(benchUser())
	resp, err := c.Get(base + path)
	if err != nil {
		return nil, "", fmt.Errorf("blackbox: sign in at %s: %w", base, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != upstreamBody {
		return nil, "", fmt.Errorf("blackbox: sign in at %s: expected 200 with the upstream's body, got %d %.300q", base, resp.StatusCode, body)
	}
	return c, cookieHeader(c, base), nil
}

// cookieHeader is the Cookie header c sends to base.
func cookieHeader(c *http.Client, base string) string {
	u, _ := url.Parse(base)
	var parts []string
	for _, ck := range c.Jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// checkServes verifies, before a proxy is measured, that it serves the
// upstream only when signed in: without the cookie the answer is not the
// upstream's (a redirect to sign in, 401 or 403); with it, it is. wantToken
// also requires that the upstream saw a context token.
func checkServes(url, host, cookie string, wantToken bool) error {
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(ck string) (*http.Response, string, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = host
		if ck != "" {
			req.Header.Set("Cookie", ck)
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b), nil
	}
	if cookie != "" {
		resp, body, err := get("")
		if err != nil {
			return fmt.Errorf("blackbox: anonymous GET %s: %w", url, err)
		}
		if resp.StatusCode == http.StatusOK || body == upstreamBody {
			return fmt.Errorf("blackbox: %s served the upstream without a session (status %d)", url, resp.StatusCode)
		}
		switch resp.StatusCode {
		case http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusUnauthorized, http.StatusForbidden:
		default:
			return fmt.Errorf("blackbox: anonymous GET %s: expected a sign-in redirect, 401 or 403, got %d", url, resp.StatusCode)
		}
	}
	resp, body, err := get(cookie)
	if err != nil {
		return fmt.Errorf("blackbox: GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK || body != upstreamBody {
		return fmt.Errorf("blackbox: GET %s signed in: expected 200 with the upstream's body, got %d %.300q", url, resp.StatusCode, body)
	}
	if wantToken && resp.Header.Get(seenContextHeader) == "" {
		return fmt.Errorf("blackbox: GET %s: the upstream saw no context token", url)
	}
	return nil
}

var (
	enrollCmd = regexp.MustCompile(`id="enroll-command">[^<]*enroll ([A-Za-z0-9-]+)<`)
	verifyCmd = regexp.MustCompile(`id="verify-command">[^<]*verify ([A-Za-z0-9-]+)<`)
	formCSRF  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	formRet   = regexp.MustCompile(`name="return" value="([^"]+)"`)
)

// completeChain walks the signed-in browser c through the pages the route
// at path shows until it serves the upstream, as an employee would: the
// device page (the agent, on the TPM simulator, enrolls the device and
// verifies it with the page's one-time codes), the justification form (the
// ticket is submitted). A requirement that needs no step from the person (an
// open time window) shows no page. Adding a kind to the chain route in
// gateway.yaml.tmpl needs a step here only if it shows a new page.
func completeChain(ctx context.Context, tpm *agent.TPM, c *http.Client, base, path, ticket string) error {
	for step := 0; step < 6; step++ {
		resp, err := c.Get(base + path)
		if err != nil {
			return fmt.Errorf("blackbox: GET %s: %w", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := html.UnescapeString(string(b))
		switch {
		case resp.StatusCode == http.StatusOK && body == upstreamBody:
			return nil
		case resp.StatusCode != http.StatusForbidden:
			return fmt.Errorf("blackbox: GET %s: expected the upstream or a requirement's page (403), got %d %.300q", path, resp.StatusCode, body)
		case enrollCmd.MatchString(body) && verifyCmd.MatchString(body):
			if err := bindDevice(ctx, tpm, base, body); err != nil {
				return err
			}
		case strings.Contains(body, `action="/.gateway/justify"`) || strings.Contains(body, "justification-required"):
			if err := justify(c, base, body, ticket); err != nil {
				return err
			}
		default:
			return fmt.Errorf("blackbox: GET %s: a requirement's page the harness cannot complete: %.600s", path, body)
		}
	}
	return fmt.Errorf("blackbox: %s still refused after every step", path)
}

// bindDevice binds the device to the browser session whose device page is
// body: the agent enrolls the device and verifies it with the page's codes.
func bindDevice(ctx context.Context, tpm *agent.TPM, base, body string) error {
	ec, vc := enrollCmd.FindStringSubmatch(body), verifyCmd.FindStringSubmatch(body)
	cl := &agent.Client{Gateway: base, TPM: tpm}
	if _, err := cl.Enroll(ctx, ec[1]); err != nil {
		return fmt.Errorf("blackbox: agent enroll: %w", err)
	}
	res, err := cl.Verify(ctx, vc[1])
	if err != nil {
		return fmt.Errorf("blackbox: agent verify: %w", err)
	}
	if !res.SessionBound {
		return fmt.Errorf("blackbox: agent verify: the session was not bound: %+v", res)
	}
	return nil
}

// justify submits ticket on the justification form body (POST
// /.gateway/justify with the form's CSRF token and return address).
func justify(c *http.Client, base, body, ticket string) error {
	csrf, ret := formCSRF.FindStringSubmatch(body), formRet.FindStringSubmatch(body)
	if csrf == nil || ret == nil {
		return fmt.Errorf("blackbox: the justification form lacks its csrf or return field: %.600s", body)
	}
	form := url.Values{"csrf": {csrf[1]}, "return": {ret[1]}, "ticket": {ticket}}
	req, err := http.NewRequest(http.MethodPost, base+"/.gateway/justify", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("blackbox: submit the justification: %w", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != upstreamBody {
		return fmt.Errorf("blackbox: submit the justification: expected to land on the upstream, got %d %.400q", resp.StatusCode, b)
	}
	return nil
}
