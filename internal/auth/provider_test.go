package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/accessgateway/gateway/internal/store"
)

var (
	testKeyOnce sync.Once
	testKey     *rsa.PrivateKey
)

func signingKey() *rsa.PrivateKey {
	testKeyOnce.Do(func() { testKey, _ = rsa.GenerateKey(rand.Reader, 2048) })
	return testKey
}

// fakeProvider is an OpenID provider for unit tests, speaking the documented
// JSON of OpenID Connect Discovery 1.0 (§3), the token endpoint (RFC 6749
// §5.1 plus id_token, Core §3.1.3.3), UserInfo (Core §5.3.2) and advertising
// an end_session_endpoint (RP-Initiated Logout 1.0 §2.1). Keys and the JWKS
// come from go-oidc's oidctest.
type fakeProvider struct {
	*httptest.Server
	keys *oidctest.Server

	mu sync.Mutex
	// idClaims are the ID token's claims beyond iss, aud, exp, iat, nonce.
	idClaims map[string]any
	// userinfo is the UserInfo answer (nil: 500).
	userinfo map[string]any
	// noUserInfo leaves userinfo_endpoint out of discovery.
	noUserInfo bool
	// nonce is echoed into the next ID token.
	nonce string
	// tokenStatus, when set, is the token endpoint's error status.
	tokenStatus int

	down          atomic.Bool // discovery answers 503
	userinfoCalls atomic.Int64
	refreshes     atomic.Int64
	keysFetches   atomic.Int64
}

func newFakeProvider(t *testing.T) *fakeProvider {
	t.Helper()
	p := &fakeProvider{keys: &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: signingKey().Public(), KeyID: "k1", Algorithm: oidc.RS256}}}}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	p.keys.SetIssuer(p.URL)
	t.Cleanup(p.Close)
	return p
}

func (p *fakeProvider) set(f func(p *fakeProvider)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *fakeProvider) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		if p.down.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		d := map[string]any{
			"issuer": p.URL, "authorization_endpoint": p.URL + "/auth", "token_endpoint": p.URL + "/token",
			"jwks_uri": p.URL + "/keys", "end_session_endpoint": p.URL + "/logout?tenant=t1",
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		}
		if !p.noUserInfo {
			d["userinfo_endpoint"] = p.URL + "/userinfo"
		}
		writeJSON(w, d)
	case "/keys":
		p.keysFetches.Add(1)
		p.keys.ServeHTTP(w, r)
	case "/token":
		_ = r.ParseForm()
		if p.tokenStatus != 0 {
			w.WriteHeader(p.tokenStatus)
			writeJSON(w, map[string]string{"error": "invalid_grant"})
			return
		}
		if r.PostForm.Get("grant_type") == "refresh_token" {
			p.refreshes.Add(1)
			if r.PostForm.Get("refresh_token") != "rt-1" && r.PostForm.Get("refresh_token") != "rt-2" {
				w.WriteHeader(http.StatusBadRequest)
				writeJSON(w, map[string]string{"error": "invalid_grant"})
				return
			}
		}
		claims := map[string]any{"iss": p.URL, "aud": "gw", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
		if p.nonce != "" && r.PostForm.Get("grant_type") == "authorization_code" {
			claims["nonce"] = p.nonce
		}
		for k, v := range p.idClaims {
			claims[k] = v
		}
		b, _ := json.Marshal(claims)
		writeJSON(w, map[string]any{
			"access_token": "at-1", "token_type": "Bearer", "expires_in": 300, "refresh_token": "rt-2",
			"id_token": oidctest.SignIDToken(signingKey(), "k1", oidc.RS256, string(b)),
		})
	case "/userinfo":
		p.userinfoCalls.Add(1)
		if r.Header.Get("Authorization") != "Bearer at-1" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		if p.userinfo == nil {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		writeJSON(w, p.userinfo)
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// newAuth builds an Authenticator for p over a fresh memory store.
func newAuth(t *testing.T, p *fakeProvider, mod func(*Config)) *Authenticator {
	t.Helper()
	st := store.NewMemory()
	t.Cleanup(func() { st.Close() })
	cfg := Config{Issuer: p.URL, ClientID: "gw", ClientSecret: "s", Scopes: []string{"openid", "email"},
		RedirectURL: "https://gw.example/.gateway/callback", GroupsClaim: "groups", RequireVerifiedEmail: true,
		SessionLifetime: time.Hour, RefreshInterval: 5 * time.Minute, EndProviderSession: true,
		DiscoveryBackoff: 5 * time.Millisecond, DiscoveryMaxBackoff: 20 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(context.Background(), cfg, NewSessions(st))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// signIn runs StartLogin and Callback against p as a browser would.
func signIn(t *testing.T, a *Authenticator, p *fakeProvider) (string, *Session, error) {
	t.Helper()
	ctx := context.Background()
	login, err := a.StartLogin(ctx, "https://gw.example/x", "_gw")
	if err != nil {
		t.Fatalf("StartLogin: %v", err)
	}
	u, _ := url.Parse(login.RedirectURL)
	p.set(func(p *fakeProvider) { p.nonce = u.Query().Get("nonce") })
	state := u.Query().Get("state")
	r := httptest.NewRequest(http.MethodGet, "https://gw.example/.gateway/callback?code=c1&state="+url.QueryEscape(state), nil)
	r.AddCookie(&http.Cookie{Name: login.CookieName, Value: login.CookieValue})
	id, sess, _, err := a.Callback(ctx, r, "_gw")
	return id, sess, err
}

func idClaims(extra string) map[string]any {
	m := map[string]any{}
	if err := json.Unmarshal([]byte(fmt.Sprintf(`{"sub":"u1"%s}`, extra)), &m); err != nil {
		panic(err)
	}
	return m
}

func jsonMap(s string) map[string]any {
	m := map[string]any{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err)
	}
	return m
}

var _ = strings.Contains
