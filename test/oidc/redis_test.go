package oidc

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/redis/go-redis/v9"

	"github.com/accessgateway/gateway/internal/server"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

// The provider is down when a replica starts: the replica serves anyway,
// answers /readyz 503 and sign-ins with a 503 page, while sessions already
// in Redis keep working on it. When the provider comes up, discovery
// succeeds by itself and sign-in works.
func TestProviderDownAtStartThenUp(t *testing.T) {
	rs := redistest.Start(t)
	up := newUpstream(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	jane := &mockoidc.MockUser{Subject: "u-jane", Email: "jane@example.com", EmailVerified: true, Groups: []string{"eng"}}
	m1, p := startMockOIDC(t, ln, nil, jane)
	dir := t.TempDir()
	vars := gwVars{Issuer: p.issuer, ClientID: p.clientID, ClientSecret: p.secret, OIDCExtra: p.oidc, RedisAddr: rs.Addr(), Dir: dir}

	// Replica a signs jane in while the provider is up.
	a := newGateway(t).start(t, vars, up, server.Options{})
	c := browser(t, nil)
	p.queue()
	resp, body := get(t, c, a.URL+"/before")
	mustStatus(t, resp, body, http.StatusOK)

	// The provider goes away; replica b starts (same Redis, same keys).
	if err := m1.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// b has its own upstream: a tool verifies tokens of one issuer (b's URL).
	upB := newUpstream(t)
	b := newGateway(t).start(t, vars, upB, server.Options{DiscoveryBackoff: 20 * time.Millisecond})
	if code, body := b.readyz(t); code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready: identity provider") {
		t.Fatalf("readyz with the provider down: expected 503 naming the provider, got %d %s", code, body)
	}
	resp, body = get(t, browser(t, nil), b.URL+"/new-user")
	mustStatus(t, resp, body, http.StatusServiceUnavailable)
	if !strings.Contains(body, "Sign-in temporarily unavailable") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("sign-in with the provider down: expected the 503 sign-in page with Retry-After, got %.500s", body)
	}
	// jane's session (in Redis) works on b: cookies are per host, not port.
	resp, body = get(t, c, b.URL+"/existing")
	mustStatus(t, resp, body, http.StatusOK)
	if claimsOf(t, body).Email != "jane@example.com" {
		t.Errorf("existing session on b: expected jane's claims, got %.300s", body)
	}

	// The provider comes back at the same address; b discovers it by itself.
	var ln2 net.Listener
	eventually(t, "the provider's address to be free again", func() bool {
		ln2, err = net.Listen("tcp", addr)
		return err == nil
	})
	m2, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	m2.ClientID, m2.ClientSecret = p.clientID, p.secret
	if err := m2.Start(ln2, nil); err != nil {
		t.Fatal(err)
	}
	m2.CodeChallengeMethodsSupported = []string{"S256"}
	t.Cleanup(func() { _ = m2.Shutdown() })
	eventually(t, "b to become ready", func() bool { code, _ := b.readyz(t); return code == http.StatusOK })
	m2.QueueUser(&mockoidc.MockUser{Subject: "u-sam", Email: "sam@example.com", EmailVerified: true})
	resp, body = get(t, browser(t, nil), b.URL+"/after")
	mustStatus(t, resp, body, http.StatusOK)
	if claimsOf(t, body).Email != "sam@example.com" {
		t.Errorf("sign-in after the provider came up: expected sam's claims, got %.300s", body)
	}
}

// What someone who reads Redis gets: no refresh token and no ID token in
// any key, in any form the provider issued them (whole, or the JWT's
// payload); the session's identity (email, groups) is readable by design.
func TestRedisHoldsNoReadableToken(t *testing.T) {
	rs := redistest.Start(t)
	up := newUpstream(t)
	m, p := startMockOIDC(t, nil, nil, &mockoidc.MockUser{Subject: "u-jane", Email: "jane@example.com", EmailVerified: true, Groups: []string{"eng"}})
	// Record what the provider issues: the token responses' refresh and ID tokens.
	issued := recordTokens(t, p)
	g := newGateway(t).start(t, gwVars{Issuer: p.issuer, ClientID: p.clientID, ClientSecret: p.secret,
		OIDCExtra: p.oidc, RedisAddr: rs.Addr()}, up, server.Options{})
	_ = m
	c := browser(t, nil)
	p.queue()
	resp, body := get(t, c, g.URL+"/")
	mustStatus(t, resp, body, http.StatusOK)

	toks := issued()
	if toks.refresh == "" || toks.id == "" {
		t.Fatalf("the provider issued no refresh or ID token to look for: %+v", toks)
	}
	secrets := map[string]string{"refresh token": toks.refresh, "ID token": toks.id, "ID token payload": strings.Split(toks.id, ".")[1],
		"ID token signature": strings.Split(toks.id, ".")[2]}
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	sessions := 0
	for _, k := range keys {
		v, err := rdb.Get(ctx, k).Result()
		if err != nil {
			continue // not a string value
		}
		if strings.Contains(k, "session:") {
			sessions++
			// mockoidc advertises no end_session_endpoint: the ID token,
			// kept only as a sign-out hint, is not stored at all.
			if !strings.Contains(v, `"rt":"v2.`) || strings.Contains(v, `"idt"`) {
				t.Errorf("session %s: expected a sealed rt and no idt, got %.300s", k, v)
			}
			if !strings.Contains(v, "jane@example.com") {
				t.Errorf("session %s: expected the identity in the clear (documented), got %.300s", k, v)
			}
		}
		for what, s := range secrets {
			if strings.Contains(v, s) || strings.Contains(k, s) {
				t.Errorf("Redis key %s holds the %s in the clear", k, what)
			}
		}
	}
	if sessions != 1 {
		t.Fatalf("expected one session key in Redis, got %d of %v", sessions, keys)
	}
}
