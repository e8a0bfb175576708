package server

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/store"
)

// countingStore counts the store calls that reach Redis in production: each
// is a round trip.
type countingStore struct {
	store.Store
	reads atomic.Int64

	mu sync.Mutex
	// lent are the values MGet returned (the store's own bytes with the
	// memory store) and what they held then: the request path must not
	// modify them.
	lent, held [][]byte
}

func (c *countingStore) Get(ctx context.Context, k string) ([]byte, error) {
	c.reads.Add(1)
	return c.Store.Get(ctx, k)
}

func (c *countingStore) MGet(ctx context.Context, keys ...string) ([][]byte, error) {
	c.reads.Add(1)
	vals, err := c.Store.(store.MultiGetter).MGet(ctx, keys...)
	c.mu.Lock()
	for _, v := range vals {
		if v != nil {
			c.lent, c.held = append(c.lent, v), append(c.held, bytes.Clone(v))
		}
	}
	c.mu.Unlock()
	return vals, err
}

// checkLent fails t if a value MGet returned was modified since.
func (c *countingStore) checkLent(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.lent) == 0 {
		t.Fatal("no value was read with MGet")
	}
	for i, v := range c.lent {
		if !bytes.Equal(v, c.held[i]) {
			t.Fatalf("a value MGet returned was modified by the request path: %q, was %q", v, c.held[i])
		}
	}
}

// The steady path of a route that requires a justification is one store
// round trip: the session and the grant are read together (Prefetcher,
// store.MGet), and the ticket system is not asked.
func TestSteadyPathIsOneRoundTrip(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer up.Close()
	cfg, _ := fwdConfigFile(t, "203.0.113.0/24", `  - name: records
    host: tool.example
    path: /records/{customer_id}
    upstream: `+up.URL+`
    rules: {allow: [{domains: [corp.example]}]}
    require:
      justification: {systems: [tickets], bind: {customer: "{customer_id}"}}
justification:
  systems:
    tickets:
      type: static
      static:
        tickets:
          - {id: SUP-1, state: open, assignees: [ann@corp.example], customers: ["42"]}
`)
	st := &countingStore{Store: store.NewMemory()}
	al := audit.New(discard{}, nil, nil)
	defer al.Close()
	srv, err := New(context.Background(), cfg, Options{Audit: al, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rt := srv.rt.Load()
	now := time.Now()
	id, err := rt.sessions.Create(context.Background(), &auth.Session{Subject: "sub-ann", Email: "ann@corp.example",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), CSRF: "csrf-token"})
	if err != nil {
		t.Fatal(err)
	}
	cookie := &http.Cookie{Name: rt.cfg.Session.CookieName, Value: id}
	form := url.Values{"csrf": {"csrf-token"}, "return": {"http://tool.example/records/42"}, "ticket": {"tickets:SUP-1"}}
	r := httptest.NewRequest(http.MethodPost, "http://tool.example/.gateway/justify", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.AddCookie(cookie)
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("justification form: %d %s", w.Code, w.Body)
	}
	get := func() int {
		r := httptest.NewRequest(http.MethodGet, "http://tool.example/records/42", nil)
		r.AddCookie(cookie)
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)
		return w.Code
	}
	if code := get(); code != http.StatusOK {
		t.Fatalf("first request: %d", code)
	}
	before := st.reads.Load()
	for range 10 {
		if code := get(); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
	}
	if n := st.reads.Load() - before; n != 10 {
		t.Fatalf("%d store round trips for 10 requests, want 10 (session and grant in one)", n)
	}
	// The memory store lends its own bytes (no copy per value): nothing on
	// the way may write to them.
	st.checkLent(t)
}
