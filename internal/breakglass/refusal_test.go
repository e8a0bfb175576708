package breakglass

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A provider's refusal says each thing once: the check, the provider, the
// HTTP status and the provider's words — not the provider's error again
// after the detail that already quotes it.
func TestProviderRefusalSaysEachPieceOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"unavailable with a status", &UnavailableError{Provider: "rota", Status: http.StatusBadGateway, Err: errors.New("Bad Gateway")},
			"breakglass: refused (break-glass-provider-unavailable): on-call check: rota: HTTP 502: Bad Gateway"},
		{"unavailable without a response", &UnavailableError{Provider: "rota", Err: errors.New("dial tcp: connection refused")},
			"breakglass: refused (break-glass-provider-unavailable): on-call check: rota: dial tcp: connection refused"},
		{"misconfigured", &MisconfiguredError{Provider: "rota", Status: http.StatusUnauthorized, Err: errors.New("Unauthorized")},
			"breakglass: refused (break-glass-provider-misconfigured): on-call check: rota: HTTP 401: Unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &stubProvider{}
			p.set(func(p *stubProvider) { p.onErr = tc.err })
			f := newFixture(t, testConfig(), Options{Providers: map[string]Provider{"rota": p}})
			_, err := f.svc.Request(context.Background(), alice, request("billing", "INC-1"))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("refusal says\n%v\nwant\n%s", err, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("the provider's error is not wrapped: %v", err)
			}
		})
	}
}

// PagerDuty's users list answering 404 (a wrong base_url) is a
// misconfiguration that names the list once, and is not "incident not
// found".
func TestPagerDutyListNotFoundSaysItOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }))
	defer srv.Close()
	pd, err := NewPagerDuty("pd", ProviderConfig{Type: TypePagerDuty, Token: "t", BaseURL: srv.URL, Timeout: 5 * time.Second}, srv.Client(), newClock(t0).Now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pd.OnCall(context.Background(), "alice@corp.example", t0)
	var me *MisconfiguredError
	if !errors.As(err, &me) || me.Status != http.StatusNotFound {
		t.Fatalf("OnCall = %v, want a *MisconfiguredError with status 404", err)
	}
	if errors.Is(err, ErrNotFound) {
		t.Fatalf("a 404 from the users list reads as incident not found: %v", err)
	}
	msg := err.Error()
	if strings.Count(msg, "404") != 1 || strings.Contains(msg, "incident") || !strings.Contains(msg, "/users") {
		t.Fatalf("error %q: want the status once, the users list named, no incident", msg)
	}
}
