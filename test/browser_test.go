package test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/accessgateway/gateway/internal/device/agent"
)

const chromiumPath = "/usr/bin/chromium"

func headless(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium not installed at %s: run make test (it installs it)", chromiumPath)
		}
		t.Skipf("chromium not installed at %s (apt-get install chromium)", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	bctx, cancelT := context.WithTimeout(bctx, 60*time.Second)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	return bctx
}

// In a real browser, on the quickstart: open the device-only tool, sign in
// on the dev IdP's page with a click, get the device page with its code,
// let the agent (TPM simulator) enroll and verify — and the page continues
// by itself to the tool, which shows the verified device claim.
func TestBrowserDeviceFlowContinuesByItself(t *testing.T) {
	b, cl, verify, enroll := openDevicePage(t)
	if _, err := cl.Enroll(context.Background(), enroll); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	if _, err := cl.Verify(context.Background(), verify); err != nil {
		t.Fatalf("verify: %v", err)
	}
	wantDeviceOnTool(t, b)
}

// The enroll command alone verifies the device for the page's session too
// (the agent says so): the page notices that as well and continues,
// without the verify command.
func TestBrowserEnrollAloneContinues(t *testing.T) {
	b, cl, _, enroll := openDevicePage(t)
	if _, err := cl.Enroll(context.Background(), enroll); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	wantDeviceOnTool(t, b)
}

// openDevicePage signs in on the quickstart in a headless browser, opens
// the device-only tool and returns the browser on its device page, an agent
// on a TPM simulator, and the page's verify and enroll codes.
func openDevicePage(t *testing.T) (context.Context, *agent.Client, string, string) {
	b := headless(t)
	base := startDev(t)
	if err := chromedp.Do(b,
		chromedp.Navigate(base+"/device-only"),
		chromedp.WaitVisible(chromedp.CSS("#user-dev-oncall")),
		chromedp.Click(chromedp.CSS("#user-dev-oncall")),
		chromedp.WaitVisible(chromedp.CSS("#verify-code")),
	); err != nil {
		t.Fatalf("sign-in and device page: %v", err)
	}
	reason, err := chromedp.Run(b, chromedp.Text(chromedp.CSS("#reason")))
	if err != nil || reason != "device-not-verified" {
		t.Fatalf("device page reason = %q, %v", reason, err)
	}
	verify, err := chromedp.Run(b, chromedp.Text(chromedp.CSS("#verify-code")))
	if err != nil {
		t.Fatal(err)
	}
	enrollCommand, err := chromedp.Run(b, chromedp.Text(chromedp.CSS("#enroll-command")))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`enroll ([A-Za-z0-9-]+)$`).FindStringSubmatch(strings.TrimSpace(enrollCommand))
	if m == nil {
		t.Fatalf("enroll command = %q", enrollCommand)
	}
	tpm, err := agent.OpenSimulator(filepath.Join(t.TempDir(), "sim-state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tpm.Close() })
	return b, &agent.Client{Gateway: base, TPM: tpm}, strings.TrimSpace(verify), m[1]
}

// wantDeviceOnTool waits, without a click or a reload of ours, for the
// device page to continue to the tool, whose claims name the device.
func wantDeviceOnTool(t *testing.T, b context.Context) {
	t.Helper()
	if err := chromedp.Do(b, chromedp.WaitVisible(chromedp.CSS("#claims"))); err != nil {
		t.Fatalf("the device page did not continue to the tool: %v", err)
	}
	claims, err := chromedp.Run(b, chromedp.Text(chromedp.CSS("#claims")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"oncall@dev.example", "dev-laptop", "tpm-attested"} {
		if !strings.Contains(claims, want) {
			t.Errorf("tool page claims lack %q: %.600s", want, claims)
		}
	}
}

// In a real browser, on the quickstart: customer 42's record asks for a
// ticket; a ticket about customer 7 is refused with the reason on the page;
// SUP-1 (about customer 42) opens the record, whose claims carry the
// justification.
func TestBrowserJustificationForm(t *testing.T) {
	b := headless(t)
	base := startDev(t)
	if err := chromedp.Do(b,
		chromedp.Navigate(base+"/customers/42"),
		chromedp.WaitVisible(chromedp.CSS("#user-dev-support")),
		chromedp.Click(chromedp.CSS("#user-dev-support")),
		chromedp.WaitVisible(chromedp.CSS("#justify-form")),
	); err != nil {
		t.Fatalf("sign-in and justification form: %v", err)
	}
	if res, err := chromedp.Run(b, chromedp.Text(chromedp.CSS("#resource"))); err != nil || res != "42" {
		t.Fatalf("the form names resource %q (%v), want 42", res, err)
	}
	if err := chromedp.Do(b,
		chromedp.SendKeys(chromedp.CSS("#ticket"), "SUP-2"),
		chromedp.Click(chromedp.CSS("#submit")),
	); err != nil {
		t.Fatal(err)
	}
	// The answer is the same page with another reason: wait for it (the
	// form page itself already shows justification-required).
	reason := ""
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if reason, _ = chromedp.Run(b, chromedp.Text(chromedp.CSS("#reason"))); reason == "ticket-resource-mismatch" {
			break
		}
	}
	if reason != "ticket-resource-mismatch" {
		t.Fatalf("a ticket about customer 7: reason %q", reason)
	}
	if err := chromedp.Do(b,
		chromedp.WaitVisible(chromedp.CSS("#justify-form")),
		chromedp.Clear(chromedp.CSS("#ticket")),
		chromedp.SendKeys(chromedp.CSS("#ticket"), "SUP-1"),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS("#claims")),
	); err != nil {
		t.Fatalf("SUP-1 did not open the record: %v", err)
	}
	claims, err := chromedp.Run(b, chromedp.Text(chromedp.CSS("#claims")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"support@dev.example", "justification", "SUP-1", "42"} {
		if !strings.Contains(claims, want) {
			t.Errorf("tool page claims lack %q: %.800s", want, claims)
		}
	}
}

// In a real browser, on the quickstart, the on-call journey: the console is
// closed (its window opens tomorrow) and its page says when it opens; the
// on-call engineer follows the break-glass offer, names incident INC-1 and
// gets in; the break-glass page shows the grant's remaining time; a
// reviewer, in another browser, marks the grant reviewed.
func TestBrowserOnCallJourney(t *testing.T) {
	b := headless(t)
	base := startDev(t)
	if err := chromedp.Do(b,
		chromedp.Navigate(base+"/console"),
		chromedp.WaitVisible(chromedp.CSS("#user-dev-oncall")),
		chromedp.Click(chromedp.CSS("#user-dev-oncall")),
		chromedp.WaitVisible(chromedp.CSS("#next-local")),
	); err != nil {
		t.Fatalf("sign-in and window page: %v", err)
	}
	next, err := chromedp.Run(b, chromedp.Text(chromedp.CSS("#next")))
	if err != nil || !strings.Contains(next, "opens next") || !strings.Contains(next, "UTC") {
		t.Fatalf("window page next opening = %q (%v)", next, err)
	}
	if err := chromedp.Do(b,
		chromedp.Click(chromedp.CSS(".offer a.button")),
		chromedp.WaitVisible(chromedp.CSS("#break-glass-form")),
		chromedp.SendKeys(chromedp.CSS("#incident"), "INC-1"),
		chromedp.SendKeys(chromedp.CSS("#reason"), "checkout errors: need the console"),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS("#claims")),
	); err != nil {
		t.Fatalf("break-glass did not open the console: %v", err)
	}
	claims, err := chromedp.Run(b, chromedp.Text(chromedp.CSS("#claims")))
	if err != nil || !strings.Contains(claims, "break_glass") || !strings.Contains(claims, "INC-1") {
		t.Fatalf("console claims lack the break_glass grant (%v): %.800s", err, claims)
	}
	if err := chromedp.Do(b,
		chromedp.Navigate(base+"/.gateway/break-glass?return=%2Fconsole"),
		chromedp.WaitVisible(chromedp.CSS("#active")),
	); err != nil {
		t.Fatalf("break-glass page: %v", err)
	}
	active, _ := chromedp.Run(b, chromedp.Text(chromedp.CSS("#active")))
	if !strings.Contains(active, "INC-1") || !strings.Contains(active, "left") {
		t.Fatalf("the grant's remaining time is not shown: %q", active)
	}

	// The reviewer, in a browser of their own.
	r := headless(t)
	if err := chromedp.Do(r,
		chromedp.Navigate(base+"/.gateway/break-glass/review"),
		chromedp.WaitVisible(chromedp.CSS("#title")),
	); err != nil {
		t.Fatal(err)
	}
	// Not signed in: sign in through any tool, then come back.
	if err := chromedp.Do(r,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#user-dev-lead")),
		chromedp.Click(chromedp.CSS("#user-dev-lead")),
		chromedp.WaitVisible(chromedp.CSS("#claims")),
		chromedp.Navigate(base+"/.gateway/break-glass/review"),
		chromedp.WaitVisible(chromedp.CSS(".mark-reviewed")),
	); err != nil {
		t.Fatalf("review page: %v", err)
	}
	list, _ := chromedp.Run(r, chromedp.Text(chromedp.CSS("main")))
	if !strings.Contains(list, "oncall@dev.example") || !strings.Contains(list, "INC-1") || !strings.Contains(list, "GET /console → 200") {
		t.Fatalf("review list lacks the grant or its use: %.1200s", list)
	}
	// The grant is still active: it is revoked first, then reviewed (an
	// active grant's review is refused).
	if err := chromedp.Do(r,
		chromedp.Click(chromedp.CSS(".revoke")),
		chromedp.WaitNotPresent(chromedp.CSS(".revoke")),
		chromedp.Click(chromedp.CSS(".mark-reviewed")),
	); err != nil {
		t.Fatal(err)
	}
	msg := ""
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if msg, _ = chromedp.Run(r, chromedp.Text(chromedp.CSS("#message"))); strings.HasPrefix(msg, "0 grants") {
			break
		}
	}
	if !strings.HasPrefix(msg, "0 grants") {
		t.Fatalf("after marking reviewed: %q", msg)
	}
}

// In a real browser, on the quickstart, sign-out ends the provider's
// session too: the gateway's answer is a page whose form the browser posts
// to the dev provider's end_session by itself (id_token_hint in the body,
// not in a URL), and the provider sends it back to the gateway's "Signed
// out" page. The page's CSP must allow the form's target: with the former
// redirect to the provider, Chromium stopped on the sign-out page
// (form-action 'self' applies to a form's redirects too).
func TestBrowserSignOutEndsTheProviderSession(t *testing.T) {
	b := headless(t)
	base := startDev(t)
	if err := chromedp.Do(b,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#user-dev-support")),
		chromedp.Click(chromedp.CSS("#user-dev-support")),
		chromedp.WaitVisible(chromedp.CSS("#claims")),
		chromedp.Navigate(base+"/.gateway/sign-out"),
		chromedp.WaitVisible(chromedp.CSS("form button")),
		chromedp.Click(chromedp.CSS("form button")),
	); err != nil {
		t.Fatalf("sign-in and sign-out: %v", err)
	}
	title := ""
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if title, _ = chromedp.Run(b, chromedp.Title()); title == "Signed out · Access gateway" {
			break
		}
	}
	loc, err := chromedp.Run(b, chromedp.Location())
	if err != nil || title != "Signed out · Access gateway" || loc != base+"/.gateway/sign-out" {
		t.Fatalf("after sign-out: expected the gateway's Signed out page at %s/.gateway/sign-out, back from the provider; got %q at %s (%v)", base, title, loc, err)
	}
}
