package test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/device/agent"
	"github.com/accessgateway/gateway/internal/devmode"
)

// startDev runs `gateway dev` in-process on a random port range.
func startDev(t *testing.T) string {
	t.Helper()
	base, _ := startDevWithFile(t)
	return base
}

var rulesFile = regexp.MustCompile(`(?m)^  Rules (\S+)$`)

// startDevWithFile is startDev; it also returns the quickstart's rules file
// (the banner names it), which the gateway watches.
func startDevWithFile(t *testing.T) (string, string) {
	t.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		port := 20000 + rand.IntN(30000)
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		errc := make(chan error, 1)
		out := &syncBuffer{}
		go func() {
			errc <- devmode.Run(ctx, devmode.Options{Port: port, Out: out, Ready: func(u string) { ready <- u }})
		}()
		select {
		case u := <-ready:
			t.Cleanup(func() {
				cancel()
				select {
				case <-errc:
				case <-time.After(10 * time.Second):
					t.Error("gateway dev did not stop")
				}
			})
			out.mu.Lock()
			m := rulesFile.FindStringSubmatch(out.b.String())
			out.mu.Unlock()
			if m == nil {
				t.Fatalf("the banner names no rules file: %s", out.b.String())
			}
			return u, m[1]
		case err := <-errc:
			cancel()
			t.Logf("port %d: %v; trying another", port, err)
		case <-time.After(20 * time.Second):
			cancel()
			t.Fatal("gateway dev did not start in 20 s")
		}
	}
	t.Fatal("gateway dev could not start")
	return "", ""
}

var (
	loginAction = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	authReqID   = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)
)

// devSignIn opens path, picks the demo user on the dev IdP's page, and
// returns the final response.
func devSignIn(t *testing.T, base, path, userID string) (*http.Client, *http.Response, string) {
	t.Helper()
	c := browser(t)
	resp, body := get(t, c, base+path)
	mustStatus(t, resp, body, 200)
	act, id := loginAction.FindStringSubmatch(body), authReqID.FindStringSubmatch(body)
	if act == nil || id == nil {
		t.Fatalf("expected the dev sign-in page, got %s: %.500s", resp.Request.URL, body)
	}
	target, _ := resp.Request.URL.Parse(act[1])
	resp2, err := c.PostForm(target.String(), url.Values{"authRequestID": {id[1]}, "user": {userID}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	b, _ := io.ReadAll(resp2.Body)
	return c, resp2, string(b)
}

// devJustify posts the quickstart's justification form of page body.
func devJustify(t *testing.T, c *http.Client, base, body, ticket string) (*http.Response, string) {
	t.Helper()
	csrf, ret := formCSRF.FindStringSubmatch(body), formReturn.FindStringSubmatch(body)
	if csrf == nil || ret == nil {
		t.Fatalf("no justification form: %.600s", body)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/.gateway/justify", strings.NewReader(url.Values{
		"csrf": {html.UnescapeString(csrf[1])}, "return": {html.UnescapeString(ret[1])}, "ticket": {ticket}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	return do(t, c, req)
}

// The quickstart's headline: customer 42's record needs a ticket about
// customer 42; one about another customer is refused with the reason shown;
// closing the ticket in the quickstart's rules file ends access (hot reload).
func TestDevQuickstartSignInReachesDemoTool(t *testing.T) {
	base, rules := startDevWithFile(t)
	c, resp, body := devSignIn(t, base, "/customers/42", "dev-support")
	mustStatus(t, resp, body, http.StatusForbidden)
	if !strings.Contains(body, "justification-required") || !strings.Contains(body, `id="resource">42`) {
		t.Fatalf("expected the ticket form for customer 42: %.800s", body)
	}
	resp, b := devJustify(t, c, base, body, "SUP-2")
	mustStatus(t, resp, b, http.StatusForbidden)
	if !strings.Contains(b, "ticket-resource-mismatch") || !strings.Contains(b, "is not about customer 42") {
		t.Fatalf("a ticket about customer 7: %.800s", b)
	}
	resp, body = devJustify(t, c, base, b, "SUP-1")
	mustStatus(t, resp, body, 200)
	if resp.Request.URL.String() != base+"/customers/42" {
		t.Errorf("landed on %s", resp.Request.URL)
	}
	for _, want := range []string{"support@dev.example", "customers", "demo-tool"} {
		if !strings.Contains(body, want) {
			t.Errorf("demo tool page lacks %q (verified claims): %.1500s", want, body)
		}
	}
	// The same browser, JSON view: the demo tool reports verified claims.
	resp, body = get(t, c, base+"/customers/42", "Accept", "application/json")
	mustStatus(t, resp, body, 200)
	var report struct {
		Verified bool
		Claims   struct{ Email, Route string }
	}
	if err := json.Unmarshal([]byte(body), &report); err != nil || !report.Verified ||
		report.Claims.Email != "support@dev.example" || report.Claims.Route != "customers" {
		t.Errorf("demo JSON lacks verified claims (%v): %.800s", err, body)
	}
	if !strings.Contains(body, `"justification"`) || !strings.Contains(body, "SUP-1") {
		t.Errorf("demo JSON lacks the justification claim: %.800s", body)
	}

	// Close SUP-1 in the rules file: the gateway reloads it and access ends.
	b0, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	closed := strings.Replace(string(b0), "{id: SUP-1, state: open,", "{id: SUP-1, state: closed,", 1)
	if closed == string(b0) {
		t.Fatal("the rules file has no open SUP-1")
	}
	if err := os.WriteFile(rules, []byte(closed), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "access ends once SUP-1 is closed", func() bool {
		resp, body := get(t, c, base+"/customers/42")
		return resp.StatusCode == http.StatusForbidden && strings.Contains(body, "ticket-closed")
	})

	// The contractor may use the demo tool but not customer records.
	c2, resp, body := devSignIn(t, base, "/", "dev-contractor")
	mustStatus(t, resp, body, 200)
	resp, body = get(t, c2, base+"/customers/42")
	mustStatus(t, resp, body, http.StatusForbidden)
	if !strings.Contains(body, "deny-rule-matched") {
		t.Errorf("403 page lacks its reason: %.500s", body)
	}
}

// The quickstart's device demo: the agent on the simulator (fixed seed, so
// its EK is the one in the embedded inventory) enrolls and verifies, and the
// device-only route opens.
func TestDevQuickstartDeviceOnlyRoute(t *testing.T) {
	base := startDev(t)
	c, resp, body := devSignIn(t, base, "/device-only", "dev-oncall")
	mustStatus(t, resp, body, http.StatusForbidden)
	body = html.UnescapeString(body)
	if !strings.Contains(body, "go run ./cmd/gateway-agent --tpm simulator --gateway "+base+" verify ") {
		t.Fatalf("device page does not show the simulator command: %.1500s", body)
	}
	ec, vc := enrollCmd.FindStringSubmatch(body), verifyCmd.FindStringSubmatch(body)
	if ec == nil || vc == nil {
		t.Fatalf("no codes on the page: %.1500s", body)
	}
	tpm, err := agent.OpenSimulator(filepath.Join(t.TempDir(), "sim-state"))
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	cl := &agent.Client{Gateway: base, TPM: tpm}
	if _, err := cl.Enroll(context.Background(), ec[1]); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	if _, err := cl.Verify(context.Background(), vc[1]); err != nil {
		t.Fatalf("verify: %v", err)
	}
	resp, body = get(t, c, base+"/device-only", "Accept", "application/json")
	mustStatus(t, resp, body, 200)
	if !strings.Contains(body, "dev-laptop") {
		t.Errorf("demo tool does not show the device claim: %.800s", body)
	}
}
