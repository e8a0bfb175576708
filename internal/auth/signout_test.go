package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

// Sign-out ends the session and hands the browser a form for the provider's
// end_session_endpoint: its own query kept, id_token_hint, client_id and
// post_logout_redirect_uri in the body (none in a URL), and the origins the
// page must let the form go to.
func TestSignOutProviderForm(t *testing.T) {
	p := newFakeProvider(t)
	p.set(func(p *fakeProvider) {
		p.idClaims = idClaims(`,"email":"ann@corp.example","email_verified":true,"groups":[]`)
	})
	tests := []struct {
		name     string
		end      bool
		redirect string
		want     []string // the fields' names, in order; nil: no form
		origins  []string
	}{
		{name: "off", end: false},
		{name: "with post_logout_redirect_uri", end: true, redirect: "https://gw.example/.gateway/sign-out",
			want: []string{"id_token_hint", "client_id", "post_logout_redirect_uri"}, origins: []string{p.URL, "https://gw.example"}},
		{name: "without", end: true, want: []string{"id_token_hint", "client_id"}, origins: []string{p.URL}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuth(t, p, func(c *Config) { c.EndProviderSession, c.PostLogoutRedirectURL = tc.end, tc.redirect })
			id, _, err := signIn(t, a, p)
			if err != nil {
				t.Fatal(err)
			}
			sess, _ := a.sessions.Load(context.Background(), id)
			hint, _ := a.sessions.IDToken(id, sess)
			form, err := a.SignOut(context.Background(), id, sess)
			if err != nil {
				t.Fatalf("SignOut: %v", err)
			}
			if _, err := a.sessions.Load(context.Background(), id); !errors.Is(err, ErrNoSession) {
				t.Errorf("after SignOut: expected ErrNoSession, got %v", err)
			}
			if tc.want == nil {
				if form != nil {
					t.Fatalf("expected no provider sign-out, got %+v", form)
				}
				// The ID token is kept only as that sign-out's hint.
				if sess.SealedID != "" {
					t.Errorf("the session keeps an ID token that no sign-out will use (%d bytes)", len(sess.SealedID))
				}
				return
			}
			if form == nil || form.Action != p.URL+"/logout?tenant=t1" {
				t.Fatalf("expected a form posting to the end_session_endpoint %s/logout?tenant=t1, got %+v", p.URL, form)
			}
			var names []string
			for _, f := range form.Fields {
				names = append(names, f.Name)
				want := map[string]string{"id_token_hint": hint, "client_id": "gw", "post_logout_redirect_uri": tc.redirect}[f.Name]
				if f.Value != want || want == "" {
					t.Errorf("field %s: expected %.40q, got %.40q", f.Name, want, f.Value)
				}
			}
			if fmt.Sprint(names) != fmt.Sprint(tc.want) {
				t.Errorf("fields: expected %v, got %v", tc.want, names)
			}
			if fmt.Sprint(form.Origins) != fmt.Sprint(tc.origins) {
				t.Errorf("origins: expected %v, got %v", tc.origins, form.Origins)
			}
		})
	}
}

// The ID token a sign-out hands to the browser as id_token_hint is refused
// as a bearer token from then on, also when this replica remembered it as
// verified before.
func TestSignOutRevokesTheIDTokenAsBearer(t *testing.T) {
	a, id, sess, hint := signedInAnn(t)
	ctx := context.Background()
	if b, err := a.VerifyBearer(ctx, hint); err != nil || b.Email != "ann@corp.example" {
		t.Fatalf("before sign-out the ID token is a valid bearer token: expected ann, got %+v, %v", b, err)
	}
	form, err := a.SignOut(ctx, id, sess)
	if err != nil || form == nil || form.Fields[0].Value != hint {
		t.Fatalf("SignOut: expected a form with the session's ID token as hint, got %+v, %v", form, err)
	}
	if b, err := a.VerifyBearer(ctx, hint); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("after sign-out: expected ErrTokenRevoked for the hint, got %+v, %v", b, err)
	}
	if _, ok := a.bearer[sha256Of(hint)]; ok {
		t.Error("the revoked token is still remembered as verified")
	}
	// The store holds its hash, never the token.
	key := revokedKey(revocationSum(hint))
	if !strings.HasPrefix(key, RevokedIDTokenPrefix) || strings.Contains(key, strings.Split(hint, ".")[2]) {
		t.Errorf("revocation key %q: expected the prefix and the token's hash only", key)
	}
}

// A revocation recorded by one replica counts on another at once, though
// the other remembers the token as verified: with a shared memory store, and
// with Redis and each replica's local cache, which Redis's invalidation
// keeps current.
func TestRevocationReachesEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (a, b store.Store)
	}{
		{"shared memory store", func(t *testing.T) (store.Store, store.Store) {
			st := store.NewMemory()
			t.Cleanup(func() { st.Close() })
			return st, st
		}},
		{"redis with local caches", func(t *testing.T) (store.Store, store.Store) {
			open := func() *store.Redis {
				r, err := store.NewRedis(context.Background(), store.RedisConfig{Addrs: []string{srv.Addr()}, KeyPrefix: t.Name() + ":",
					LocalCache: store.RedisLocalCache{Enabled: true, MaxAge: time.Minute}},
					store.CacheReads(nil, SessionKeyPrefix, RevokedIDTokenPrefix))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r.Close() })
				deadline := time.Now().Add(5 * time.Second)
				for s, _ := r.CacheStats(); !s.Serving; s, _ = r.CacheStats() {
					if time.Now().After(deadline) {
						t.Fatal("the local cache did not start serving within 5 s")
					}
					time.Sleep(5 * time.Millisecond)
				}
				return r
			}
			return open(), open()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakeProvider(t)
			p.set(func(p *fakeProvider) {
				p.idClaims = idClaims(`,"email":"ann@corp.example","email_verified":true,"groups":["eng"]`)
			})
			stA, stB := tc.open(t)
			keys := EphemeralKeyring() // the replicas share the session keys
			a, b := newAuth(t, p, nil), newAuth(t, p, nil)
			a.sessions, b.sessions = NewSessionsWithKeys(stA, keys), NewSessionsWithKeys(stB, keys)
			ctx := context.Background()
			id, _, err := signIn(t, a, p)
			if err != nil {
				t.Fatal(err)
			}
			sess, err := b.sessions.Load(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			hint, _ := b.sessions.IDToken(id, sess)
			for range 2 { // the second answered from a's memo (and cache)
				if _, err := a.VerifyBearer(ctx, hint); err != nil {
					t.Fatalf("replica a, before sign-out: %v", err)
				}
			}
			if _, err := b.SignOut(ctx, id, sess); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond) // b answers the browser; the client asks a
			if s, err := a.VerifyBearer(ctx, hint); !errors.Is(err, ErrTokenRevoked) {
				t.Fatalf("replica a, after sign-out at b: expected ErrTokenRevoked, got %+v, %v", s, err)
			}
		})
	}
}

// A store that does not answer makes a bearer token neither valid nor
// invalid (ErrRevocationUnknown), even one the memo holds; and a sign-out
// that cannot record the revocation does not end the session either.
func TestRevocationFailsClosed(t *testing.T) {
	p := newFakeProvider(t)
	p.set(func(p *fakeProvider) {
		p.idClaims = idClaims(`,"email":"ann@corp.example","email_verified":true,"groups":["eng"]`)
	})
	a := newAuth(t, p, nil)
	ctx := context.Background()
	id, _, err := signIn(t, a, p)
	if err != nil {
		t.Fatal(err)
	}
	sess, _ := a.sessions.Load(ctx, id)
	hint, _ := a.sessions.IDToken(id, sess)
	if _, err := a.VerifyBearer(ctx, hint); err != nil {
		t.Fatal(err)
	}
	fs := &failingSets{Store: a.sessions.st}
	a.sessions = NewSessionsWithKeys(fs, a.sessions.keys.Load())
	if form, err := a.SignOut(ctx, id, sess); !errors.Is(err, errStoreDown) || form != nil {
		t.Fatalf("SignOut with a failing store: expected its error and no form, got %+v, %v", form, err)
	}
	if _, err := a.sessions.Load(ctx, id); err != nil {
		t.Errorf("the session ended though its ID token was not revoked: %v", err)
	}
	fs.Store.Close()
	if _, err := a.VerifyBearer(ctx, hint); !errors.Is(err, ErrRevocationUnknown) || !errors.Is(err, store.ErrClosed) {
		t.Fatalf("VerifyBearer with a closed store: expected ErrRevocationUnknown wrapping store.ErrClosed, got %v", err)
	}
}

var errStoreDown = errors.New("store down for writes")

// failingSets is a store whose Set fails.
type failingSets struct{ store.Store }

func (f *failingSets) Set(context.Context, string, []byte, time.Duration) error { return errStoreDown }

// The revocation lasts as long as the token would verify: until its exp
// plus a minute for clocks behind, exactly. A token without a readable exp,
// or past it by more than that minute, is never accepted: nothing is kept.
func TestRevokeIDTokenLastsUntilExpiry(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	jws := func(payload string) string {
		return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
	}
	for _, tc := range []struct {
		name string
		raw  string
		kept time.Duration // 0: nothing stored
	}{
		{"an hour left", jws(fmt.Sprintf(`{"sub":"u","exp":%d}`, t0.Add(time.Hour).Unix())), time.Hour + time.Minute},
		{"exp as a float", jws(fmt.Sprintf(`{"exp":%d.0}`, t0.Add(time.Hour).Unix())), time.Hour + time.Minute},
		{"expired within the skew", jws(fmt.Sprintf(`{"exp":%d}`, t0.Add(-30*time.Second).Unix())), 30 * time.Second},
		{"expired long ago", jws(fmt.Sprintf(`{"exp":%d}`, t0.Add(-time.Hour).Unix())), 0},
		{"no exp", jws(`{"sub":"u"}`), 0},
		{"not a JWS", "opaque-token", 0},
		{"payload not JSON", "a.bm90IGpzb24.c", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			var mu sync.Mutex
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			st := store.NewMemory(store.WithClock(clock))
			defer st.Close()
			a := &Authenticator{sessions: NewSessions(st), Now: clock}
			if err := a.RevokeIDToken(context.Background(), tc.raw); err != nil {
				t.Fatal(err)
			}
			revoked := func() bool {
				return errors.Is(a.checkRevoked(context.Background(), revocationSum(tc.raw)), ErrTokenRevoked)
			}
			if tc.kept == 0 {
				if revoked() || st.Len() != 0 {
					t.Fatalf("expected nothing stored, got %d entries", st.Len())
				}
				return
			}
			mu.Lock()
			now = t0.Add(tc.kept - time.Nanosecond)
			mu.Unlock()
			if !revoked() {
				t.Fatalf("revocation gone %v before it should end", time.Nanosecond)
			}
			mu.Lock()
			now = t0.Add(tc.kept)
			mu.Unlock()
			if revoked() {
				t.Fatalf("revocation still there %v after the token's exp", tc.kept)
			}
		})
	}
}

func sha256Of(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// signedInAnn signs ann in at a provider that keeps her ID token as the
// sign-out hint, and returns the session and that token.
func signedInAnn(t *testing.T) (a *Authenticator, id string, sess *Session, hint string) {
	t.Helper()
	p := newFakeProvider(t)
	p.set(func(p *fakeProvider) {
		p.idClaims = idClaims(`,"email":"ann@corp.example","email_verified":true,"groups":["eng"]`)
	})
	a = newAuth(t, p, nil)
	id, _, err := signIn(t, a, p)
	if err != nil {
		t.Fatal(err)
	}
	sess, _ = a.sessions.Load(context.Background(), id)
	hint, _ = a.sessions.IDToken(id, sess)
	return a, id, sess, hint
}

// The signature of a JWS has other spellings that verify too (base64url's
// spare low bits in its last character; go-jose decodes leniently): a token
// revoked at sign-out stays revoked in every one of them.
func TestRevocationHoldsForEverySpellingOfTheToken(t *testing.T) {
	a, id, sess, hint := signedInAnn(t)
	ctx := context.Background()
	if _, err := a.SignOut(ctx, id, sess); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(hint, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var variant string
	for _, c := range alphabet {
		s := parts[2][:len(parts[2])-1] + string(c)
		if s == parts[2] {
			continue
		}
		if b, err := base64.RawURLEncoding.DecodeString(s); err == nil && string(b) == string(sig) {
			variant = parts[0] + "." + parts[1] + "." + s
			break
		}
	}
	if variant == "" {
		t.Fatal("expected another spelling of the RS256 signature (2,048 bits leave 4 spare bits in base64url)")
	}
	if _, err := a.VerifyBearer(ctx, hint); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("expected the revoked token itself refused, got %v", err)
	}
	if b, err := a.VerifyBearer(ctx, variant); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("expected another spelling of the revoked token refused as revoked, got %v, %v", b, err)
	}
}

// The same signed header and payload reach go-jose in other serializations
// than the compact one the provider issued: the JWS JSON serialization,
// whitespace inside the compact form (go-jose strips it), and base64url
// with the spare low bits of a segment's last character set (decoded
// leniently, and re-encoded for the signature check). None of them is a way
// around a revocation: VerifyBearer takes the compact serialization only,
// each segment in its one canonical base64url spelling.
func TestRevokedTokenRefusedInEveryOtherSerialization(t *testing.T) {
	a, id, sess, hint := signedInAnn(t)
	ctx := context.Background()
	if _, err := a.SignOut(ctx, id, sess); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(hint, ".")
	variants := map[string]string{
		"json serialization": fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, parts[0], parts[1], parts[2]),
		"json, flattened with a header": fmt.Sprintf(`{"payload":%q,"protected":%q,"header":{},"signature":%q}`,
			parts[1], parts[0], parts[2]),
		"space in the payload": parts[0] + "." + parts[1][:10] + " " + parts[1][10:] + "." + parts[2],
		"tab in the header":    parts[0][:5] + "\t" + parts[0][5:] + "." + parts[1] + "." + parts[2],
	}
	for i, name := range []string{"spare bits of the header", "spare bits of the payload"} {
		if s := otherSpelling(parts[i]); s != "" {
			p := slicesClone(parts)
			p[i] = s
			variants[name] = strings.Join(p, ".")
		}
	}
	if len(variants) < 5 {
		t.Fatalf("expected a header or payload with spare bits in its last character, got %q", hint)
	}
	for name, v := range variants {
		t.Run(name, func(t *testing.T) {
			if b, err := a.VerifyBearer(ctx, v); err == nil {
				t.Fatalf("a revoked token was accepted as %s: %+v", name, b)
			}
		})
	}
	// A token not revoked is refused the same way when not in its compact
	// canonical form, and accepted when it is.
	fresh := oidcTokenForAnn(t, a)
	fp := strings.Split(fresh, ".")
	if _, err := a.VerifyBearer(ctx, fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, fp[0], fp[1], fp[2])); err == nil {
		t.Error("a JSON-serialized bearer token was accepted")
	}
	if b, err := a.VerifyBearer(ctx, fresh); err != nil || b.Email != "ann@corp.example" {
		t.Errorf("the compact token: expected ann, got %+v, %v", b, err)
	}
}

// otherSpelling returns seg with its last character's spare bits set, when
// it has any ("" when its length leaves none).
func otherSpelling(seg string) string {
	want, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return ""
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, c := range alphabet {
		s := seg[:len(seg)-1] + string(c)
		if s == seg {
			continue
		}
		if b, err := base64.RawURLEncoding.DecodeString(s); err == nil && string(b) == string(want) {
			return s
		}
	}
	return ""
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// oidcTokenForAnn signs a new ID token for ann, as the test provider would
// issue it, valid for an hour.
func oidcTokenForAnn(t *testing.T, a *Authenticator) string {
	t.Helper()
	claims := fmt.Sprintf(`{"iss":%q,"aud":"gw","sub":"u1","email":"ann@corp.example","email_verified":true,"groups":["eng"],"exp":%d,"iat":%d,"jti":"fresh"}`,
		a.cfg.Issuer, time.Now().Add(time.Hour).Unix(), time.Now().Unix())
	return oidctest.SignIDToken(signingKey(), "k1", oidc.RS256, claims)
}
