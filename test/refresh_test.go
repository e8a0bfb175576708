package test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store/redistest"
)

// fakeClock is a settable clock for the gateway.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock           { c := &fakeClock{}; c.ns.Store(time.Now().UnixNano()); return c }
func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// Sessions are re-checked at the IdP every refresh interval, once, under a
// per-session lock, even when two replicas see the due session at the same
// moment (the IdP here treats refresh tokens as single use, like rotating
// providers: a second use would end the session). An IdP outage is tolerated
// for one more interval, then denied with 503; an IdP that refuses the grant
// ends the session.
func TestSessionRefreshUnderLockAcrossReplicas(t *testing.T) {
	rs := redistest.Start(t)
	var (
		mu     sync.Mutex
		used   = map[string]bool{}
		grants atomic.Int64
		down   atomic.Bool
	)
	m := newIdP(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") {
				_ = r.ParseForm()
				// x/oauth2 first tries client credentials in a header, which
				// mockoidc refuses before looking at the grant; count only the
				// attempts it evaluates (credentials in the form).
				if r.PostForm.Get("grant_type") == "refresh_token" && r.PostForm.Get("client_secret") != "" {
					grants.Add(1)
					rt := r.PostForm.Get("refresh_token")
					mu.Lock()
					seen := used[rt]
					used[rt] = true
					mu.Unlock()
					if seen {
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusBadRequest)
						_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
						return
					}
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	up := newUpstream(t)
	clock := newFakeClock()
	vars := idpVars(m, up)
	vars.Store, vars.RedisAddr, vars.Now = "redis", rs.Addr(), clock.Now
	a := startGateway(t, vars, baseConfig)
	b := startGateway(t, vars, baseConfig)

	c, resp, body := signIn(t, a, m, user("jane@example.com"), "/")
	mustStatus(t, resp, body, 200)
	nf := noFollow(c)

	// Due: many concurrent requests on both replicas; one refresh happens.
	clock.Add(6 * time.Minute)
	var wg sync.WaitGroup
	codes := make([]int, 12)
	for i := range codes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			g := a
			if i%2 == 1 {
				g = b
			}
			resp, err := nf.Get(g.URL + "/r")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}(i)
	}
	wg.Wait()
	for i, code := range codes {
		if code != 200 {
			t.Errorf("request %d during refresh: status %d", i, code)
		}
	}
	if n := grants.Load(); n != 1 {
		t.Fatalf("refresh grants at the IdP = %d, want exactly 1", n)
	}
	resp, body = get(t, nf, b.URL+"/after")
	mustStatus(t, resp, body, 200)

	// The IdP goes down when the next refresh is due: one more interval of grace…
	down.Store(true)
	clock.Add(6 * time.Minute)
	resp, body = get(t, nf, a.URL+"/grace")
	mustStatus(t, resp, body, 200)
	// …then the gateway fails closed and says why.
	clock.Add(5 * time.Minute)
	resp, body = get(t, nf, a.URL+"/late")
	mustStatus(t, resp, body, http.StatusServiceUnavailable)
	if !strings.Contains(body, "identity provider") {
		t.Errorf("503 page does not name the IdP: %.300s", body)
	}

	// The IdP is back but refuses the grant (reused token): the session ends.
	down.Store(false)
	resp, body = get(t, nf, b.URL+"/refused")
	mustStatus(t, resp, body, http.StatusFound)
	resp, body = get(t, nf, a.URL+"/refused")
	mustStatus(t, resp, body, http.StatusFound)
}
