package auth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

type signInTest struct {
	name     string
	mode     string         // oidc.userinfo; "" is auto
	groups   string         // groups claim path; "" is "groups"
	id       map[string]any // ID token claims (sub u1 included)
	userinfo map[string]any // nil: UserInfo answers 500
	noUI     bool           // no userinfo_endpoint in discovery

	wantEmail  string
	wantGroups []string
	wantClaim  [2]string // a claim name and its first value, if set
	wantErr    error     // errors.Is target; the error must also be a *CallbackError
	wantMsg    string    // part of CallbackError.Msg
	wantCalls  int64     // UserInfo requests
}

func (tc signInTest) run(t *testing.T) {
	p := newFakeProvider(t)
	p.set(func(p *fakeProvider) { p.idClaims, p.userinfo, p.noUserInfo = tc.id, tc.userinfo, tc.noUI })
	a := newAuth(t, p, func(c *Config) {
		c.UserInfo = tc.mode
		if tc.groups != "" {
			c.GroupsClaim = tc.groups
		}
	})
	_, sess, err := signIn(t, a, p)
	if got := p.userinfoCalls.Load(); got != tc.wantCalls {
		t.Errorf("UserInfo requests: expected %d, got %d", tc.wantCalls, got)
	}
	if tc.wantErr != nil || tc.wantMsg != "" {
		var ce *CallbackError
		if !errors.As(err, &ce) {
			t.Fatalf("expected a *CallbackError, got %v", err)
		}
		if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
			t.Errorf("expected an error wrapping %v, got %v", tc.wantErr, err)
		}
		if !strings.Contains(ce.Msg, tc.wantMsg) {
			t.Errorf("expected a message containing %q, got %q", tc.wantMsg, ce.Msg)
		}
		return
	}
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	if sess.Subject != "u1" || sess.Email != tc.wantEmail || !slices.Equal(sess.Groups, tc.wantGroups) {
		t.Errorf("expected u1 %s %v, got %s %s %v", tc.wantEmail, tc.wantGroups, sess.Subject, sess.Email, sess.Groups)
	}
	if k := tc.wantClaim[0]; k != "" && (len(sess.Claims[k]) == 0 || sess.Claims[k][0] != tc.wantClaim[1]) {
		t.Errorf("expected claim %s = %q, got %v", k, tc.wantClaim[1], sess.Claims[k])
	}
}

func TestSignInClaims(t *testing.T) {
	verified := `,"email":"ann@corp.example","email_verified":true`
	tests := []signInTest{
		{name: "everything in the ID token: no UserInfo request",
			id: idClaims(verified + `,"groups":["eng"]`), wantEmail: "ann@corp.example", wantGroups: []string{"eng"}},
		{name: "profile claims only from UserInfo (Core 5.4)",
			id:        idClaims(``),
			userinfo:  jsonMap(`{"sub":"u1","email":"ann@corp.example","email_verified":true,"groups":["eng","ops"],"name":"Ann"}`),
			wantEmail: "ann@corp.example", wantGroups: []string{"eng", "ops"}, wantClaim: [2]string{"name", "Ann"}, wantCalls: 1},
		{name: "auto: a missing groups claim alone asks UserInfo",
			id: idClaims(verified), userinfo: jsonMap(`{"sub":"u1","groups":"admins"}`),
			wantEmail: "ann@corp.example", wantGroups: []string{"admins"}, wantCalls: 1},
		{name: "always: the ID token wins where both have a claim",
			mode: UserInfoAlways, id: idClaims(verified + `,"groups":["eng"]`),
			userinfo:  jsonMap(`{"sub":"u1","email":"other@corp.example","email_verified":true,"groups":["root"],"dept":"support"}`),
			wantEmail: "ann@corp.example", wantGroups: []string{"eng"}, wantClaim: [2]string{"dept", "support"}, wantCalls: 1},
		{name: "email_verified travels with the email taken from UserInfo",
			id:       idClaims(`,"email_verified":true,"groups":[]`),
			userinfo: jsonMap(`{"sub":"u1","email":"ann@corp.example","email_verified":false}`),
			wantMsg:  "not verified", wantCalls: 1},
		{name: "email_verified as a string is understood",
			id:        idClaims(`,"groups":[]`),
			userinfo:  jsonMap(`{"sub":"u1","email":"ann@corp.example","email_verified":"true"}`),
			wantEmail: "ann@corp.example", wantGroups: []string{}, wantCalls: 1},
		{name: "UserInfo sub differs from the ID token's: refused",
			id: idClaims(``), userinfo: jsonMap(`{"sub":"u2","email":"ann@corp.example","email_verified":true}`),
			wantErr: errUserInfo, wantMsg: "did not answer the request for your profile", wantCalls: 1},
		{name: "UserInfo failing: refused",
			id: idClaims(``), userinfo: nil, wantErr: errUserInfo, wantCalls: 1},
		{name: "never: no UserInfo, so no email",
			mode: UserInfoNever, id: idClaims(``), userinfo: jsonMap(`{"sub":"u1","email":"ann@corp.example"}`),
			wantErr: ErrNoEmail, wantMsg: "sent no email address"},
		{name: "auto without a userinfo_endpoint: no email",
			noUI: true, id: idClaims(``), wantErr: ErrNoEmail, wantMsg: "sent no email address"},
		{name: "always without a userinfo_endpoint: refused",
			mode: UserInfoAlways, noUI: true, id: idClaims(verified), wantErr: errUserInfo},
		{name: "UserInfo without an email either",
			id: idClaims(``), userinfo: jsonMap(`{"sub":"u1","name":"Ann"}`), wantErr: ErrNoEmail, wantCalls: 1},
		{name: "Keycloak realm roles at a dotted path",
			groups: "realm_access.roles", id: idClaims(verified + `,"realm_access":{"roles":["support","offline_access"]}`),
			wantEmail: "ann@corp.example", wantGroups: []string{"support", "offline_access"}},
		{name: "Keycloak client roles at a deeper path",
			groups:    "resource_access.gateway.roles",
			id:        idClaims(verified + `,"resource_access":{"gateway":{"roles":["admin"]},"account":{"roles":["x"]}}`),
			wantEmail: "ann@corp.example", wantGroups: []string{"admin"}},
		{name: "nested groups only in UserInfo",
			groups: "realm_access.roles", id: idClaims(verified),
			userinfo:  jsonMap(`{"sub":"u1","realm_access":{"roles":["support"]}}`),
			wantEmail: "ann@corp.example", wantGroups: []string{"support"}, wantCalls: 1},
		{name: "UserInfo cannot override the ID token's nested groups with a claim named like the path",
			mode: UserInfoAlways, groups: "realm_access.roles",
			id:        idClaims(verified + `,"realm_access":{"roles":["eng"]}`),
			userinfo:  jsonMap(`{"sub":"u1","realm_access.roles":["admins"]}`),
			wantEmail: "ann@corp.example", wantGroups: []string{"eng"}, wantCalls: 1},
		{name: "a namespaced claim whose name has dots",
			groups: "https://corp.example/groups", id: idClaims(verified + `,"https://corp.example/groups":["eng"]`),
			wantEmail: "ann@corp.example", wantGroups: []string{"eng"}},
		{name: "Zitadel's roles: an object keyed by role",
			groups:    "urn:zitadel:iam:org:project:roles",
			id:        idClaims(verified + `,"urn:zitadel:iam:org:project:roles":{"support":{"123":"corp.zitadel.cloud"},"admin":{"123":"corp.zitadel.cloud"}}`),
			wantEmail: "ann@corp.example", wantGroups: []string{"admin", "support"}},
		// A rule on a nested claim names it by its path, as groups_claim
		// does; protocol claims are never part of the identity.
		{name: "a nested claim beside the groups, by its dotted path",
			id:        idClaims(verified + `,"groups":["eng"],"realm_access":{"roles":["contractor"]}`),
			wantEmail: "ann@corp.example", wantGroups: []string{"eng"}, wantClaim: [2]string{"realm_access.roles", "contractor"}},
		{name: "more claims than the gateway keeps: refused",
			id: idClaims(verified + `,"groups":["eng"],"extra":` + manyClaims(maxClaims)), wantMsg: "more than 256 claims"},
		{name: "groups of the wrong shape: refused",
			id: idClaims(verified + `,"groups":7`), wantMsg: "expected a string, a list of strings or an object keyed by group, got a number"},
		{name: "a group that is not a string: refused",
			id: idClaims(verified + `,"groups":["eng",7]`), wantMsg: "got a number at [1]"},
		{name: "Entra ID groups overage: refused",
			id:      idClaims(verified + `,"_claim_names":{"groups":"src1"},"_claim_sources":{"src1":{"endpoint":"https://graph.microsoft.com/v1.0/users/u1/getMemberObjects"}}`),
			wantErr: ErrGroupsOverage, wantMsg: "more groups than"},
		// UserInfo may carry distributed claims too (Core §5.6.2): groups
		// named there as held elsewhere are groups the gateway does not
		// have, as in the ID token, not no groups.
		{name: "groups overage in UserInfo: refused",
			id:       idClaims(verified),
			userinfo: jsonMap(`{"sub":"u1","_claim_names":{"groups":"src1"},"_claim_sources":{"src1":{"endpoint":"https://graph.microsoft.com/v1.0/users/u1/getMemberObjects"}}}`),
			wantErr:  ErrGroupsOverage, wantMsg: "more groups than", wantCalls: 1},
		{name: "groups overage in UserInfo, nested groups claim: refused",
			groups: "realm_access.roles", id: idClaims(verified),
			userinfo: jsonMap(`{"sub":"u1","_claim_names":{"realm_access.roles":"src1"},"_claim_sources":{"src1":{"endpoint":"https://idp.example/roles"}}}`),
			wantErr:  ErrGroupsOverage, wantCalls: 1},
		{name: "groups overage in UserInfo, the ID token's groups null: refused",
			mode: UserInfoAlways, id: idClaims(verified + `,"groups":null`),
			userinfo: jsonMap(`{"sub":"u1","_claim_names":{"groups":"src1"},"_claim_sources":{"src1":{"endpoint":"https://idp.example/groups"}}}`),
			wantErr:  ErrGroupsOverage, wantCalls: 1},
		{name: "the object holding a nested groups claim is distributed: refused",
			groups: "realm_access.roles", id: idClaims(verified + `,"_claim_names":{"realm_access":"src1"},"_claim_sources":{"src1":{"endpoint":"https://idp.example/realm"}}`),
			wantErr: ErrGroupsOverage},
		{name: "the object holding a nested groups claim is distributed in UserInfo: refused",
			groups: "resource_access.gateway.roles", id: idClaims(verified),
			userinfo: jsonMap(`{"sub":"u1","_claim_names":{"resource_access":"src1"},"_claim_sources":{"src1":{"endpoint":"https://idp.example/ra"}}}`),
			wantErr:  ErrGroupsOverage, wantCalls: 1},
		// null is no value (as for the groups: absent or null is no
		// groups): it does not hide UserInfo's groups, or the gateway would
		// decide on fewer groups than the provider says the user has.
		{name: "auto: a null groups claim asks UserInfo",
			id: idClaims(verified + `,"groups":null`), userinfo: jsonMap(`{"sub":"u1","groups":["contractors"]}`),
			wantEmail: "ann@corp.example", wantGroups: []string{"contractors"}, wantCalls: 1},
		{name: "always: UserInfo's groups fill a null groups claim",
			mode: UserInfoAlways, id: idClaims(verified + `,"groups":null`), userinfo: jsonMap(`{"sub":"u1","groups":["contractors"]}`),
			wantEmail: "ann@corp.example", wantGroups: []string{"contractors"}, wantCalls: 1},
		{name: "always: UserInfo's nested groups fill a null object on the way",
			mode: UserInfoAlways, groups: "realm_access.roles", id: idClaims(verified + `,"realm_access":null`),
			userinfo:  jsonMap(`{"sub":"u1","realm_access":{"roles":["contractors"]}}`),
			wantEmail: "ann@corp.example", wantGroups: []string{"contractors"}, wantCalls: 1},
		{name: "UserInfo's overage marker does not count where the ID token has the groups",
			mode: UserInfoAlways, id: idClaims(verified + `,"groups":["eng"]`),
			userinfo:  jsonMap(`{"sub":"u1","_claim_names":{"groups":"src1"},"_claim_sources":{"src1":{"endpoint":"https://idp.example/groups"}}}`),
			wantEmail: "ann@corp.example", wantGroups: []string{"eng"}, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// The refresh and ID tokens never reach the store in the clear, open only
// under their own session and role, and the session keeps working.
func TestSessionTokensSealedInStore(t *testing.T) {
	p := newFakeProvider(t)
	p.set(func(p *fakeProvider) {
		p.idClaims = idClaims(`,"email":"ann@corp.example","email_verified":true,"groups":["eng"]`)
	})
	a := newAuth(t, p, nil)
	id, sess, err := signIn(t, a, p)
	if err != nil {
		t.Fatal(err)
	}
	if sess.RefreshToken != "" || sess.IDToken != "" {
		t.Error("the returned session still holds plaintext tokens")
	}
	raw, err := a.sessions.st.Get(context.Background(), SessionKey(id))
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := a.sessions.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := a.sessions.IDToken(id, loaded)
	if err != nil || strings.Count(idt, ".") != 2 {
		t.Fatalf("IDToken: expected a JWT, got %q, %v", idt, err)
	}
	rt, err := a.sessions.RefreshToken(id, loaded)
	if err != nil || rt != "rt-2" {
		t.Fatalf("RefreshToken: expected rt-2, got %q, %v", rt, err)
	}
	for _, secret := range []string{"rt-2", idt, strings.Split(idt, ".")[1]} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the stored session contains a token in the clear: %.80s", secret)
		}
	}
	// Sealed values do not open under another session or in the other role.
	if _, err := a.sessions.RefreshToken(NewID(), loaded); !errors.Is(err, ErrUnsealable) {
		t.Errorf("a refresh token opened under another session: %v", err)
	}
	swapped := *loaded
	swapped.SealedRefresh = loaded.SealedID
	if _, err := a.sessions.RefreshToken(id, &swapped); !errors.Is(err, ErrUnsealable) {
		t.Errorf("the sealed ID token opened as the refresh token: %v", err)
	}
}

// A due refresh reads the identity again the same way as the sign-in,
// UserInfo included; a refresh token that cannot be opened ends the session.
func TestRefreshReadsUserInfoAndFailsClosed(t *testing.T) {
	p := newFakeProvider(t)
	p.set(func(p *fakeProvider) {
		p.idClaims = idClaims(``)
		p.userinfo = jsonMap(`{"sub":"u1","email":"ann@corp.example","email_verified":true,"groups":["eng"]}`)
	})
	a := newAuth(t, p, nil)
	id, sess, err := signIn(t, a, p)
	if err != nil {
		t.Fatal(err)
	}
	p.set(func(p *fakeProvider) {
		p.userinfo = jsonMap(`{"sub":"u1","email":"ann@corp.example","email_verified":true,"groups":["eng","oncall"]}`)
	})
	later := time.Now().Add(6 * time.Minute)
	a.Now = func() time.Time { return later }
	a.sessions.Now = a.Now
	res, err := a.MaybeRefresh(context.Background(), id, sess)
	if err != nil || res != Refreshed {
		t.Fatalf("MaybeRefresh: expected Refreshed, got %v, %v", res, err)
	}
	if !slices.Equal(sess.Groups, []string{"eng", "oncall"}) || p.userinfoCalls.Load() != 2 {
		t.Errorf("after refresh: expected groups [eng oncall] from a second UserInfo request, got %v (%d requests)", sess.Groups, p.userinfoCalls.Load())
	}

	// The same session under a keyring without its key: refresh ends it.
	other := NewSessionsWithKeys(a.sessions.st, EphemeralKeyring())
	other.Now = a.Now
	b := newAuth(t, p, nil)
	b.sessions, b.Now = other, a.Now
	loaded, err := other.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	b.Now = func() time.Time { return later.Add(6 * time.Minute) }
	other.Now = b.Now
	if _, err := b.MaybeRefresh(context.Background(), id, loaded); !errors.Is(err, ErrNoSession) {
		t.Fatalf("refresh with an unopenable token: expected ErrNoSession, got %v", err)
	}
	if _, err := other.Load(context.Background(), id); !errors.Is(err, ErrNoSession) {
		t.Errorf("the session survived: %v", err)
	}
}

// With the provider down at start, New succeeds, sign-in and bearer tokens
// fail with ErrProviderUnavailable, and discovery is retried until it works.
func TestDiscoveryRetriedUntilTheProviderAnswers(t *testing.T) {
	p := newFakeProvider(t)
	p.set(func(p *fakeProvider) {
		p.idClaims = idClaims(`,"email":"ann@corp.example","email_verified":true,"groups":[]`)
	})
	p.down.Store(true)
	a := newAuth(t, p, nil)
	if err := a.Ready(); !errors.Is(err, ErrProviderUnavailable) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Ready while down: expected ErrProviderUnavailable with the cause, got %v", err)
	}
	if _, err := a.StartLogin(context.Background(), "https://gw.example/", "_gw"); !errors.Is(err, ErrProviderUnavailable) {
		t.Errorf("StartLogin while down: expected ErrProviderUnavailable, got %v", err)
	}
	if _, err := a.VerifyBearer(context.Background(), "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"); !errors.Is(err, ErrProviderUnavailable) {
		t.Errorf("VerifyBearer while down: expected ErrProviderUnavailable, got %v", err)
	}
	if form, err := a.SignOut(context.Background(), "id", &Session{}); form != nil || err != nil {
		t.Errorf("SignOut while down: expected no provider form, got %+v, %v", form, err)
	}
	p.down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for a.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("still not ready 5 s after the provider came up: %v", a.Ready())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, _, err := signIn(t, a, p); err != nil {
		t.Fatalf("sign-in after discovery: %v", err)
	}
}

// A code exchange the provider refuses (4xx) is a CallbackError; one it
// does not answer, or answers 5xx, wraps ErrProviderUnreachable, so the
// page says the provider failed rather than that the sign-in was refused.
func TestCallbackTellsARefusedCodeFromAProviderThatDidNotAnswer(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int  // the token endpoint's error status
		down        bool // the provider is gone by the exchange
		unreachable bool
	}{
		{name: "refused", status: 400},
		{name: "failing", status: 503, unreachable: true},
		{name: "gone", down: true, unreachable: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakeProvider(t)
			p.set(func(p *fakeProvider) {
				p.idClaims = idClaims(`,"email":"ann@corp.example","email_verified":true,"groups":[]`)
				p.tokenStatus = tc.status
			})
			a := newAuth(t, p, nil)
			if tc.down {
				p.Close()
			}
			_, _, err := signIn(t, a, p)
			var ce *CallbackError
			if got := errors.Is(err, ErrProviderUnreachable); got != tc.unreachable || got == errors.As(err, &ce) {
				t.Fatalf("Callback: expected unreachable=%v (and a CallbackError otherwise), got %T %v", tc.unreachable, err, err)
			}
		})
	}
}

// Close stops the retries (the goroutine ends).
func TestCloseStopsDiscoveryRetries(t *testing.T) {
	p := newFakeProvider(t)
	p.down.Store(true)
	a := newAuth(t, p, nil)
	done := make(chan struct{})
	go func() { a.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the discovery retries")
	}
}

// holdRefresh is a transport that holds the first refresh_token grant at the
// token endpoint until release is closed, and says when it arrived.
type holdRefresh struct {
	armed   atomic.Bool
	arrived chan struct{}
	release chan struct{}
}

func (h *holdRefresh) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/token" && r.Body != nil && h.armed.Load() {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte("grant_type=refresh_token")) && h.armed.CompareAndSwap(true, false) {
			close(h.arrived)
			<-h.release
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// A sign-out that lands while a request of the same session is refreshing
// it at the provider stays a sign-out: the refresh writes back only a
// session that is still there (store.SetXX), answers ErrNoSession, and the
// cookie does not work again. With the memory store and with Redis.
func TestRefreshDoesNotUndoSignOut(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range []struct {
		name string
		open func(t *testing.T) store.Store
	}{
		{"memory", func(t *testing.T) store.Store {
			st := store.NewMemory()
			t.Cleanup(func() { st.Close() })
			return st
		}},
		{"redis", func(t *testing.T) store.Store {
			r, err := store.NewRedis(context.Background(), store.RedisConfig{Addrs: []string{srv.Addr()}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakeProvider(t)
			p.set(func(p *fakeProvider) {
				p.idClaims = idClaims(`,"email":"ann@corp.example","email_verified":true,"groups":["eng"]`)
			})
			hold := &holdRefresh{arrived: make(chan struct{}), release: make(chan struct{})}
			a := newAuth(t, p, func(c *Config) { c.HTTPClient = &http.Client{Transport: hold, Timeout: 10 * time.Second} })
			a.sessions = NewSessions(tc.open(t))
			ctx := context.Background()
			id, _, err := signIn(t, a, p)
			if err != nil {
				t.Fatal(err)
			}
			later := time.Now().Add(6 * time.Minute) // the refresh is due (interval 5m)
			a.Now = func() time.Time { return later }
			sess, err := a.sessions.Load(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			hold.armed.Store(true)
			done := make(chan error, 1)
			go func() { _, err := a.MaybeRefresh(ctx, id, sess); done <- err }()
			<-hold.arrived // the refresh is at the provider
			// The user signs out (what POST /.gateway/sign-out does to the session).
			if err := a.sessions.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			close(hold.release)
			if err := <-done; !errors.Is(err, ErrNoSession) {
				t.Errorf("MaybeRefresh across a sign-out: expected ErrNoSession, got %v", err)
			}
			if p.refreshes.Load() != 1 {
				t.Fatalf("expected the refresh to reach the provider once, got %d", p.refreshes.Load())
			}
			if s, err := a.sessions.Load(ctx, id); !errors.Is(err, ErrNoSession) {
				t.Fatalf("the signed-out session is back after the refresh: %+v, %v", s, err)
			}
		})
	}
}
