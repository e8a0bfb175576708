package test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The device page reads (and makes) the session's one-time codes in the
// store on every load, on the standalone page and on a route's device
// denial alike. One browser session gets a burst of loads, then a 429 page
// that shows no codes, says what to do and is audited; another session is
// not affected, and the budget refills with time.
func TestDevicePageRateLimit(t *testing.T) {
	const burst = 20 // device.PageBurst
	clock := newFakeClock()
	m := newIdP(t)
	up := newUpstream(t)
	vars := idpVars(m, up)
	vars.EKHash, vars.DeviceStatus = strings.Repeat("ab", 32), "active"
	vars.Now = clock.Now
	g := startGateway(t, vars, baseConfig+deviceConfig)

	c, resp, body := signIn(t, g, m, user("jane@example.com"), "/secure/data")
	mustStatus(t, resp, body, http.StatusForbidden) // the device page, with codes: one load
	if verifyCmd.FindStringSubmatch(htmlUnescape(body)) == nil {
		t.Fatalf("the first device page shows no code: %.600s", body)
	}
	for i := 1; i < burst; i++ {
		resp, body = get(t, c, g.URL+"/.gateway/device")
		mustStatus(t, resp, body, http.StatusOK)
	}

	// Past the burst: the standalone page...
	resp, body = get(t, c, g.URL+"/.gateway/device")
	mustStatus(t, resp, body, http.StatusTooManyRequests)
	if !strings.Contains(body, "Too many device pages") || verifyCmd.MatchString(htmlUnescape(body)) {
		t.Fatalf("the limited page: %.800s", body)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" {
		t.Error("the limited page has no Retry-After")
	}
	// ...and the route's device denial: still the device reason, no codes.
	resp, body = get(t, c, g.URL+"/secure/data")
	mustStatus(t, resp, body, http.StatusTooManyRequests)
	if !strings.Contains(body, "device-not-verified") || !strings.Contains(body, "Too many device pages") || verifyCmd.MatchString(htmlUnescape(body)) {
		t.Fatalf("the limited device denial: %.800s", body)
	}

	limited, decided := 0, false
	for _, r := range g.audit() {
		if r.Kind == "device" && r.Event == "device.page" && r.Decision == "denied" && r.User == "jane@example.com" {
			limited++
		}
		if r.Kind == "decision" && r.Route == "secure" && r.Status == http.StatusTooManyRequests {
			decided = true
		}
	}
	if limited != 2 || !decided {
		t.Fatalf("audit: %d device.page denials (want 2), the route's 429 decision recorded: %v", limited, decided)
	}

	// Another session has its own budget.
	other, resp2, body2 := signIn(t, g, m, user("ann@example.com"), "/")
	mustStatus(t, resp2, body2, http.StatusOK)
	resp2, body2 = get(t, other, g.URL+"/.gateway/device")
	mustStatus(t, resp2, body2, http.StatusOK)

	// The budget refills: one load every two seconds.
	clock.Add(2 * time.Second)
	resp, body = get(t, c, g.URL+"/.gateway/device")
	mustStatus(t, resp, body, http.StatusOK)
}
