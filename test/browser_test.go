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
	defer tpm.Close()
	cl := &agent.Client{Gateway: base, TPM: tpm}
	if _, err := cl.Enroll(context.Background(), m[1]); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	if _, err := cl.Verify(context.Background(), strings.TrimSpace(verify)); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// No click, no reload by us: the page polls and continues.
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
