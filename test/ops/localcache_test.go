package ops

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store/redistest"
)

const cacheReplicaConfig = replicaBase + `routes:
  - name: tool
    host: 127.0.0.1
    upstream: {{.Upstream}}
    rules: {allow: [{domains: [example.com]}]}
`

// Two replicas with the opt-in local cache (session.redis.local_cache, the
// longest max_age): while signed in, the replicas answer the session from
// memory (their metrics say so); a sign-out answered by one replica ends
// the session on the other for the very next request — the cache never
// serves a session Redis no longer holds.
func TestReplicasLocalCacheSignOut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateway processes and redis-server")
	}
	rds := redistest.Start(t)
	idp := newIdP(t)
	up := newUpstream(t)
	root, _ := sharedKeys(t)
	rs := startReplicas(t, root, 2, cacheReplicaConfig, idp, map[string]string{"Redis": rds.Addr(), "Upstream": up.URL,
		"RedisOptions": "local_cache: {enabled: true, max_age: 1m}"})
	fr, frontURL, replicas := rs.front, rs.url, rs.procs

	for _, r := range replicas {
		eventually(t, 5*time.Second, r.name+"'s local cache to serve", func() bool {
			return r.metric("gateway_session_cache_serving") == "1"
		})
	}
	b := browser(nil)
	signIn(t, b, idp, user("jane@example.com"), frontURL+"/")
	for range 20 {
		mustGet(t, b, frontURL+"/signed-in", http.StatusOK)
	}
	for _, r := range replicas {
		hits, _ := strconv.ParseFloat(r.metric("gateway_session_cache_hits_total"), 64)
		if hits < 5 {
			t.Errorf("%s: %v reads answered by the local cache after 10 requests of one session; want most of them", r.name, hits)
		}
	}

	// The session cookie as it was, to replay after the sign-out (the
	// browser's jar drops it; a copied cookie would not be).
	fu, _ := url.Parse(frontURL)
	var cookies []string
	for _, ck := range b.Jar.Cookies(fu) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}
	if len(cookies) == 0 {
		t.Fatal("no cookie after sign-in")
	}

	// Sign out through the front: the page on one replica, the POST on the
	// other (round-robin).
	page := mustGet(t, b, frontURL+"/.gateway/sign-out", http.StatusOK)
	csrf := formCSRF.FindStringSubmatch(page)
	if csrf == nil {
		t.Fatalf("sign-out page has no CSRF token: %.500s", page)
	}
	req, _ := http.NewRequest(http.MethodPost, frontURL+"/.gateway/sign-out",
		strings.NewReader(url.Values{"csrf": {html.UnescapeString(csrf[1])}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Signed out") {
		t.Fatalf("sign-out: %d %.300s", resp.StatusCode, body)
	}
	signedOutAt := len(fr.hops())
	hits := up.hits.Load()
	// The very next requests, on both replicas, with the old cookie: refused.
	old := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := range 6 {
		r, _ := http.NewRequest(http.MethodGet, frontURL+fmt.Sprintf("/after-sign-out-%d", i), nil)
		r.Header.Set("Cookie", strings.Join(cookies, "; "))
		resp, err := old.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("request %d after sign-out answered 200 by replica %d: the local cache served a session Redis no longer holds", i, fr.hops()[len(fr.hops())-1].backend)
		}
	}
	by := map[int]bool{}
	for _, h := range fr.hops()[signedOutAt:] {
		by[h.backend] = true
	}
	if len(by) != 2 {
		t.Errorf("expected both replicas to refuse the signed-out session, got %v", by)
	}
	if up.hits.Load() != hits {
		t.Error("a request with the signed-out session reached the tool")
	}
}
