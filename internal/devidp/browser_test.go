package devidp

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const chromiumPath = "/usr/bin/chromium"

// TestBrowserSignIn drives the sign-in page with a real headless Chromium:
// the person clicks the on-call engineer's button, the browser follows the
// redirects to a real relying-party server, and the code it receives
// exchanges for an ID token that go-oidc verifies.
//
// Starting Chromium dominates its run time, so -short skips it.
func TestBrowserSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the headless Chromium test")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("chromium not installed at %s (apt-get install chromium): %v", chromiumPath, err)
	}
	type callback struct{ code, state string }
	got := make(chan callback, 1)
	rpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- callback{r.URL.Query().Get("code"), r.URL.Query().Get("state")}:
		default:
		}
		_, _ = io.WriteString(w, "<!doctype html><title>relying party</title><p id=done>signed in</p>")
	}))
	defer rpSrv.Close()
	redirect := rpSrv.URL + "/.gateway/callback"

	u := newUnstarted(t)
	p, err := newProvider(Config{
		Issuer:   u.issuer,
		Clients:  []Client{{ID: confidentialID, Secret: confidentialSecret, RedirectURIs: []string{redirect}}},
		Insecure: true,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, testKey())
	if err != nil {
		t.Fatal(err)
	}
	e := u.start(t, p)

	cfg := &oauth2.Config{ClientID: confidentialID, ClientSecret: confidentialSecret, RedirectURL: redirect,
		Endpoint: e.rp.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
	pkce, state, nonce := oauth2.GenerateVerifier(), rand.Text(), rand.Text()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	actx, cancelA := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	bctx, cancelT := context.WithTimeout(bctx, 30*time.Second)
	defer cancelT()

	if err := chromedp.Do(bctx,
		chromedp.Navigate(cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(pkce), oidc.Nonce(nonce))),
		chromedp.WaitVisible(chromedp.CSS("#user-dev-oncall")),
	); err != nil {
		t.Fatalf("open the sign-in page: %v", err)
	}
	banner, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(".banner")))
	if err != nil || banner != "Development sign-in — not for production" {
		t.Errorf("banner: expected the development warning, got %q (%v)", banner, err)
	}
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS("#user-dev-oncall")),
		chromedp.WaitVisible(chromedp.CSS("#done")),
	); err != nil {
		t.Fatalf("click the on-call engineer: %v", err)
	}

	var cb callback
	select {
	case cb = <-got:
	case <-bctx.Done():
		t.Fatal("the relying party never received the callback")
	}
	if cb.state != state || cb.code == "" {
		t.Fatalf("callback: expected state %q and a code, got %+v", state, cb)
	}
	tok, err := cfg.Exchange(e.ctx, cb.code, oauth2.VerifierOption(pkce))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := e.rp.Verifier(&oidc.Config{ClientID: confidentialID}).Verify(e.ctx, raw)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Nonce != nonce || c.Email != "oncall@dev.example" || !slices.Equal(c.Groups, []string{"engineering", "oncall"}) {
		t.Errorf("id_token: expected the on-call engineer with nonce %q, got %+v", nonce, c)
	}
}
