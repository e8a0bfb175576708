package faults

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// An upstream that accepts requests and never answers (/hang), and one that
// sends its headers and a first chunk and then stalls (/stall). 200
// requests, 50 at a time, whose clients give up after 500 ms. The gateway
// has no upstream response timeout (docs/config.md: streams are long-lived),
// so it holds each request as long as its client does and no longer: when
// the client goes, the upstream request is cancelled (the tool sees every
// one end), the goroutines return to the baseline (go_goroutines on the
// admin listener), and each request has its allow decision and a response
// record: 499 for the unanswered ones; for the stalled ones the 200 that
// was sent, marked as cut off.
func TestHangingUpstreamLeaksNothing(t *testing.T) {
	t.Parallel()
	p := newIdP(t)
	up := newTool(t)
	g := newGateway(t, p.gatewayFor(up.URL))
	c := signIn(t, g, p, "/")
	for i := range 20 {
		get(t, c, fmt.Sprintf("%s/warm/%d", g.url, i))
	}
	baseline := settledGoroutines(g)

	const n, parallel = 200, 50
	impatient := &http.Client{Jar: c.Jar, Timeout: 500 * time.Millisecond}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var answered []string
	sem := make(chan struct{}, parallel)
	for i := range n {
		path := fmt.Sprintf("/hang/%d", i)
		if i%2 == 1 {
			path = fmt.Sprintf("/stall/%d", i)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			resp, err := impatient.Get(g.url + path)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil {
				mu.Lock()
				answered = append(answered, path)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(answered) > 0 {
		t.Errorf("%d requests completed although the tool never finished them: %v", len(answered), answered[:min(5, len(answered))])
	}
	eventually(t, 10*time.Second, "the tool's requests to be cancelled", func() bool { return up.inFlight.Load() == 0 })
	if got := up.hits.Load(); got < n+21 {
		t.Errorf("the tool got %d requests, want the %d and the warm-up", got, n)
	}
	var after float64
	deadline := time.Now().Add(10 * time.Second)
	for after = g.metric("go_goroutines"); after > baseline+10 && time.Now().Before(deadline); after = g.metric("go_goroutines") {
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("go_goroutines: %v before, %v after %d abandoned requests", baseline, after, n)
	if after > baseline+10 {
		t.Errorf("go_goroutines: %v after the requests ended, want at most the baseline %v + 10", after, baseline)
	}

	// Every request has its decision and its response record.
	var rec map[string]map[string]record // path -> kind -> record
	eventually(t, 5*time.Second, "a response record for each request", func() bool {
		rec = map[string]map[string]record{}
		for _, r := range g.audit() {
			if strings.HasPrefix(r.Path, "/hang/") || strings.HasPrefix(r.Path, "/stall/") {
				if rec[r.Path] == nil {
					rec[r.Path] = map[string]record{}
				}
				rec[r.Path][r.Kind] = r
			}
		}
		done := 0
		for _, k := range rec {
			if _, ok := k["response"]; ok {
				done++
			}
		}
		return done == n
	})
	for path, k := range rec {
		d, resp := k["decision"], k["response"]
		want, cut := 499, false
		if strings.HasPrefix(path, "/stall/") {
			want, cut = http.StatusOK, true
		}
		if d.Decision != "allow" || resp.Status != want || strings.Contains(resp.Detail, "cut off") != cut {
			t.Errorf("%s: decision %q, response %d %q; want allow, %d, cut off %v", path, d.Decision, resp.Status, resp.Detail, want, cut)
		}
	}
}

// settledGoroutines waits until go_goroutines stops moving (idle
// connections closed or parked) and returns it.
func settledGoroutines(g *gateway) float64 {
	prev := g.metric("go_goroutines")
	for range 20 {
		time.Sleep(100 * time.Millisecond)
		cur := g.metric("go_goroutines")
		if cur == prev {
			return cur
		}
		prev = cur
	}
	return prev
}
