package faults

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store/redistest"
)

// countDenials503 counts the audit's denials answered with 503 (a signed-in
// request: evidence-unavailable; one without a session: sign-in-required,
// whose sign-in could not start).
// denials503AtLeast waits up to 5 s for at least want such denials
// (denials are written asynchronously) and returns how many there are.
func denials503AtLeast(g *gateway, want int) int {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(25 * time.Millisecond) {
		if n := countDenials503(g); n >= want || time.Now().After(deadline) {
			return n
		}
	}
}

func countDenials503(g *gateway) int {
	n := 0
	for _, r := range g.audit() {
		if r.Kind == "decision" && r.Decision == "deny" && r.Status == http.StatusServiceUnavailable {
			n++
		}
	}
	return n
}

// redisGateway is a gateway with its sessions in rs, and a signed-in
// browser that does not follow redirects.
func redisGateway(t *testing.T, rs *redistest.Server) (*gateway, *tool, *http.Client) {
	p := newIdP(t)
	up := newTool(t)
	cfg := p.gatewayFor(up.URL)
	cfg.Redis = rs.Addr()
	g := newGateway(t, cfg)
	return g, up, noFollow(signIn(t, g, p, "/"))
}

// Redis (with an append-only file, as docs/operations.md advises) is
// killed under a gateway whose users are signed in. Every request — with a
// session, without one, for a page or for JSON — is refused with 503 that
// says the session store failed, quickly, without a sign-in redirect and
// without reaching the tool; /readyz fails; each refusal is audited. Redis
// comes back on the same port with its data: the same session works again,
// without a new sign-in and without restarting the gateway.
func TestRedisStoppedFailsClosedAndSessionsSurviveItsRestart(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	g, up, c := redisGateway(t, rs)
	hits := up.hits.Load()

	rs.Stop()
	start := time.Now()
	code, body := get(t, c, g.url+"/while-down")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("refusal took %s, want it within the store's timeouts (300ms dial, one retry)", took)
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "session store") {
		t.Errorf("signed in, Redis down: expected 503 naming the session store, got %d: %.300s", code, body)
	}
	code, body = get(t, c, g.url+"/while-down", "Accept", "application/json")
	var js map[string]any
	if code != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &js) != nil || js["error"] != "evidence-unavailable" {
		t.Errorf("JSON client, Redis down: expected 503 with a JSON error (reason evidence-unavailable), got %d: %.300s", code, body)
	}
	if code, body = get(t, browser(true), g.url+"/anonymous"); code != http.StatusServiceUnavailable {
		t.Errorf("no session, Redis down: expected 503 (not a sign-in loop), got %d: %.300s", code, body)
	}
	if up.hits.Load() != hits {
		t.Fatal("a request reached the tool while the session store was down")
	}
	if code, body = g.ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, "session store") {
		t.Errorf("/readyz with Redis down: expected 503 naming the session store, got %d %q", code, body)
	}
	if n := denials503AtLeast(g, 3); n < 3 {
		t.Errorf("audit: %d denials with status 503, want the 3 refusals", n)
	}

	rs.Restart() // same port, same directory: the append-only file restores the sessions
	eventually(t, 10*time.Second, "the signed-in session to be served again", func() bool {
		code, _ := get(t, c, g.url+"/after-restart")
		return code == http.StatusOK
	})
	if up.hits.Load() == hits {
		t.Error("the tool saw no request after Redis came back")
	}
	if code, body = g.ready(); code != http.StatusOK {
		t.Errorf("/readyz after Redis came back: expected 200, got %d %q", code, body)
	}
}

// Redis stops answering (CLIENT PAUSE ALL: connections stay open, commands
// wait) for 3 s. Requests are refused with 503 within the store's read
// timeout (300ms, one retry) — not after the pause — and none is allowed;
// when the pause ends, service resumes without a restart.
func TestRedisSlowFailsClosedWithinTheTimeout(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	g, up, c := redisGateway(t, rs)
	hits := up.hits.Load()

	const pause = 3 * time.Second
	if _, err := rs.Do("CLIENT", "PAUSE", "3000", "ALL"); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	const clients = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var worst time.Duration
	codes := map[int]int{}
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			code, _ := get(t, c, g.url+"/while-slow")
			mu.Lock()
			codes[code]++
			worst = max(worst, time.Since(start))
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("%d requests while Redis was paused: statuses %v, slowest %s", clients, codes, worst)
	if codes[http.StatusServiceUnavailable] != clients {
		t.Errorf("expected every request refused with 503, got %v", codes)
	}
	// Two attempts of 300ms each and the retry's backoff; well below the
	// pause, so the refusal did not wait for Redis.
	if bound := 1500 * time.Millisecond; worst > bound {
		t.Errorf("slowest refusal took %s, want under %s (read timeout 300ms, one retry)", worst, bound)
	}
	if time.Since(paused) >= pause {
		t.Fatalf("the refusals outlasted the pause (%s): the test measured nothing", time.Since(paused))
	}
	if up.hits.Load() != hits {
		t.Fatal("a request reached the tool while Redis was paused")
	}
	time.Sleep(time.Until(paused.Add(pause)))
	eventually(t, 5*time.Second, "service to resume after the pause", func() bool {
		code, _ := get(t, c, g.url+"/after-pause")
		return code == http.StatusOK
	})
	if n := denials503AtLeast(g, clients); n < clients {
		t.Errorf("audit: %d denials with status 503, want at least %d", n, clients)
	}
}
