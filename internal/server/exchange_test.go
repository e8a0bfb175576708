package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/store"
)

// hangingStore is a store whose reads wait for their context to end while
// hang is set: a store that stopped answering without closing anything.
type hangingStore struct {
	store.Store
	hang atomic.Bool
}

func (h *hangingStore) Get(ctx context.Context, k string) ([]byte, error) {
	if h.hang.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return h.Store.Get(ctx, k)
}

// exchangeGateway is a real Server behind a real HTTP server, with a route
// /live re-checked every second whose tool streams server-sent events
// until the gateway ends the exchange.
type exchangeGateway struct {
	t      *testing.T
	srv    *Server
	url    string
	auditW *lockedBuffer
}

func newExchangeGateway(t *testing.T, st store.Store) *exchangeGateway {
	t.Helper()
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for {
			fmt.Fprint(w, "data: tick\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(tool.Close)
	cfg, _ := fwdConfigFile(t, "203.0.113.0/24", `  - name: live
    host: tool.example
    path: /live
    upstream: `+tool.URL+`
    recheck_interval: 1s
    rules: {allow: [{domains: [corp.example]}]}
`)
	g := &exchangeGateway{t: t, auditW: &lockedBuffer{}}
	al := audit.New(g.auditW, nil, nil)
	var err error
	g.srv, err = New(context.Background(), cfg, Options{Audit: al, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(g.srv.Handler())
	t.Cleanup(func() { hs.Close(); g.srv.Close(); al.Close() })
	g.url = hs.URL
	return g
}

// session creates a session of ann@corp.example that ends at expires.
func (g *exchangeGateway) session(expires time.Time) (*http.Cookie, *auth.Session) {
	g.t.Helper()
	rt := g.srv.rt.Load()
	sess := &auth.Session{Subject: "sub-ann", Email: "ann@corp.example", CreatedAt: time.Now(), ExpiresAt: expires}
	id, err := rt.sessions.Create(context.Background(), sess)
	if err != nil {
		g.t.Fatal(err)
	}
	return &http.Cookie{Name: rt.cfg.Session.CookieName, Value: id}, sess
}

// open starts the event stream with cookie and reads its first event.
func (g *exchangeGateway) open(cookie *http.Cookie) (*bufio.Reader, func()) {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.url+"/live/events", nil)
	req.Host = "tool.example"
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		g.t.Fatalf("expected the stream to open, got %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		g.t.Fatal(err)
	}
	return br, func() { resp.Body.Close() }
}

// ended waits up to within for the stream to end and returns when it did.
func (g *exchangeGateway) ended(br *bufio.Reader, within time.Duration) time.Time {
	g.t.Helper()
	done := make(chan time.Time, 1)
	go func() {
		for {
			if _, err := br.ReadString('\n'); err != nil {
				done <- time.Now()
				return
			}
		}
	}()
	select {
	case at := <-done:
		return at
	case <-time.After(within):
		g.t.Fatalf("the stream is still open after %s", within)
		return time.Time{}
	}
}

// response waits for the response record of the stream and returns it.
func (g *exchangeGateway) response() audit.Record {
	g.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		g.auditW.mu.Lock()
		lines := strings.Split(strings.TrimSpace(g.auditW.b.String()), "\n")
		g.auditW.mu.Unlock()
		for _, line := range lines {
			var r audit.Record
			if json.Unmarshal([]byte(line), &r) == nil && r.Kind == audit.KindResponse && r.Path == "/live/events" {
				return r
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.t.Fatal("no response record for /live/events")
	return audit.Record{}
}

// TestNotAfterEndsAnExchangeWhileAReCheckWaits: an exchange ends at its
// decision's not_after even when a re-check is still waiting for the store
// then: the re-check does not hold the timer that ends it.
func TestNotAfterEndsAnExchangeWhileAReCheckWaits(t *testing.T) {
	st := &hangingStore{Store: store.NewMemory()}
	g := newExchangeGateway(t, st)
	start := time.Now()
	cookie, sess := g.session(start.Add(1500 * time.Millisecond))
	br, closeStream := g.open(cookie)
	defer closeStream()
	// The re-check due at 1s waits for the store (up to recheckTimeout);
	// the session ends at 1.5s.
	st.hang.Store(true)
	at := g.ended(br, 5*time.Second)
	if late := at.Sub(sess.ExpiresAt); late > 700*time.Millisecond {
		t.Errorf("the exchange ended %s after the session did", late)
	}
	want := responseAccessEnded + sess.ExpiresAt.UTC().Format(time.RFC3339Nano)
	if r := g.response(); r.Detail != want {
		t.Errorf("response record detail = %q, want %q", r.Detail, want)
	}
}

// TestResponseRecordNamesTheEndARecheckSet: when a re-check finds the access
// ends sooner than the first decision said, the exchange ends then, and
// its response record names that instant, not the first decision's.
func TestResponseRecordNamesTheEndARecheckSet(t *testing.T) {
	g := newExchangeGateway(t, store.NewMemory())
	cookie, sess := g.session(time.Now().Add(time.Hour))
	br, closeStream := g.open(cookie)
	defer closeStream()
	// The next re-check (at 1s) reads a session that ends at 1.8s.
	sess.ExpiresAt = time.Now().Add(1800 * time.Millisecond)
	if err := g.srv.rt.Load().sessions.Save(context.Background(), cookie.Value, sess); err != nil {
		t.Fatal(err)
	}
	at := g.ended(br, 4*time.Second)
	if late := at.Sub(sess.ExpiresAt); late > 700*time.Millisecond || late < -100*time.Millisecond {
		t.Errorf("the exchange ended %s after the session's new end", late)
	}
	want := responseAccessEnded + sess.ExpiresAt.UTC().Format(time.RFC3339Nano)
	if r := g.response(); r.Detail != want {
		t.Errorf("response record detail = %q, want %q", r.Detail, want)
	}
}
