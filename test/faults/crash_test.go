package faults

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readFile is dir/name as a string.
func readFile(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	return string(b), err
}

// The gateway is killed (SIGKILL) while a slow response streams and
// clients keep requesting. Every request the tool received has its allow
// decision record (it is written before forwarding), and the file verifies.
// A crash in the middle of a write (appended here: SIGKILL does not cut a
// write(2) in half, a power cut can) leaves a torn last line: verify reports
// it as truncated; the restarted gateway removes it, says so in its start
// checkpoint (length and SHA-256, docs/audit.md) and continues the chain,
// and `gateway audit verify --key` passes on the whole file.
func TestKilledMidRequestLeavesAVerifiableLog(t *testing.T) {
	t.Parallel()
	p := newIdP(t)
	up := newTool(t)
	g := newGateway(t, p.gatewayFor(up.URL))
	c := signIn(t, g, p, "/")

	streaming := make(chan struct{})
	go func() {
		resp, err := c.Get(g.url + "/stream")
		if err == nil {
			close(streaming)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(fmt.Sprintf("%s/work/%d/%d", g.url, w, i))
				if err != nil {
					return // the gateway is gone
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	<-streaming
	eventually(t, 10*time.Second, "requests in flight", func() bool { return up.hits.Load() > 200 })
	if err := g.stop(syscall.SIGKILL); err == nil {
		t.Fatal("expected the killed gateway to exit with an error")
	}
	close(stop)
	wg.Wait()

	out, err := g.verifyAudit()
	t.Logf("audit verify right after SIGKILL: %s", strings.TrimSpace(out))
	if err != nil && !strings.Contains(out, "truncated") {
		t.Errorf("audit verify after SIGKILL: expected ok (or a torn last line), got %v: %s", err, out)
	}
	allowed := map[string]bool{}
	for _, r := range g.audit() {
		if r.Kind == "decision" && r.Decision == "allow" {
			allowed[r.RequestID] = true
		}
	}
	ids := up.requestIDs()
	var missing int
	for _, id := range ids {
		if !allowed[id] {
			missing++
		}
	}
	t.Logf("the tool received %d requests; %d without an allow record", len(ids), missing)
	if missing > 0 {
		t.Errorf("%d requests reached the tool without their decision record", missing)
	}

	const torn = `{"seq":999999,"prev":"00`
	f, err := os.OpenFile(filepath.Join(g.dir, "audit.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(torn); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := g.verifyAudit(); err == nil || !strings.Contains(out, "truncated") {
		t.Errorf("audit verify with a torn last line: expected it reported as truncated, got %v: %s", err, out)
	}

	g.start(true)
	if code, body := get(t, c, g.url+"/after-restart"); code != http.StatusOK {
		t.Errorf("after the restart: expected the session to be served, got %d: %.300s", code, body)
	}
	if err := g.stop(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: expected a clean exit, got %v", err)
	}
	var start string
	for _, r := range g.audit() {
		if r.Kind == "checkpoint" && r.Event == "start" {
			start = r.Detail
		}
	}
	if want := fmt.Sprintf("removed an incomplete last line of %d bytes (sha256 ", len(torn)); !strings.Contains(start, want) {
		t.Errorf("the restart's start checkpoint: expected it to say %q, got %q", want, start)
	}
	if out, err := g.verifyAudit(); err != nil || !strings.HasPrefix(out, "ok:") {
		t.Errorf("audit verify after the restart: expected ok, got %v: %s", err, out)
	}
}
