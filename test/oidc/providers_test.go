package oidc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/devidp"
)

// provider is one row's OpenID provider, started for a gateway at gwURL.
type provider struct {
	issuer, clientID, secret string
	// oidc are extra lines of the gateway's oidc: section.
	oidc string
	// browserTLS trusts the provider's pages (TLS rows).
	browserTLS *tls.Config
	// login completes the provider's sign-in step from its page (nil:
	// the provider signs in without one).
	login func(t *testing.T, c *http.Client, resp *http.Response, body string) (*http.Response, string)
	// queue queues the user before a sign-in (mockoidc).
	queue func()
	// endSessions are the RP-initiated logout requests the provider received.
	endSessions func() []url.Values

	mu sync.Mutex
	// onToken sees the refresh and ID tokens of every token response (mockoidc).
	onToken func(refresh, id string)
}

// --- the embedded development provider (zitadel/oidc op, our storage) ---

var (
	devLoginAction = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	devAuthReqID   = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)
)

func startDevIdP(t *testing.T, gwURL string) *provider {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	secret := auth.NewID()
	idp, err := devidp.New(devidp.Config{
		Issuer: issuer,
		Clients: []devidp.Client{{ID: "gateway", Secret: secret, RedirectURIs: []string{gwURL + "/.gateway/callback"},
			PostLogoutRedirectURIs: []string{gwURL + "/.gateway/sign-out"}}},
		Insecure: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var ends []url.Values
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/end_session") {
			if r.Method != http.MethodPost || r.URL.Query().Has("id_token_hint") {
				t.Errorf("end_session: expected a POST with id_token_hint in the body, got %s %s", r.Method, r.URL)
			}
			_ = r.ParseForm() // the query and a POST's form (the provider reads both)
			mu.Lock()
			ends = append(ends, r.Form)
			mu.Unlock()
		}
		idp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); idp.Close() })
	return &provider{
		issuer: issuer, clientID: "gateway", secret: secret,
		oidc: "  scopes: [openid, email, profile, offline_access]\n  post_logout_redirect_url: " + gwURL + "/.gateway/sign-out\n",
		login: func(t *testing.T, c *http.Client, resp *http.Response, body string) (*http.Response, string) {
			return devLogin(t, c, resp, body, "dev-support")
		},
		endSessions: func() []url.Values { mu.Lock(); defer mu.Unlock(); return append([]url.Values(nil), ends...) },
	}
}

// devLogin picks a demo user on the dev provider's sign-in page.
func devLogin(t *testing.T, c *http.Client, resp *http.Response, body, user string) (*http.Response, string) {
	t.Helper()
	act, id := devLoginAction.FindStringSubmatch(body), devAuthReqID.FindStringSubmatch(body)
	if act == nil || id == nil {
		t.Fatalf("expected the dev provider's sign-in page, got %s: %.400s", resp.Request.URL, body)
	}
	target, _ := resp.Request.URL.Parse(act[1])
	return postForm(t, c, target.String(), url.Values{"authRequestID": {id[1]}, "user": {user}})
}

// --- mockoidc (a standard provider that signs queued users in) ---

func startMockOIDC(t *testing.T, ln net.Listener, serverTLS *tls.Config, user mockoidc.User) (*mockoidc.MockOIDC, *provider) {
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{oidc: "  scopes: [openid, email, profile, groups]\n", queue: func() { m.QueueUser(user) }}
	// Token responses pass p.onToken (when set): tests look for the tokens
	// the provider issued where they must not be.
	if err := m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != mockoidc.TokenEndpoint {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var tok struct {
				RefreshToken string `json:"refresh_token"`
				IDToken      string `json:"id_token"`
			}
			if json.Unmarshal(rec.Body.Bytes(), &tok) == nil {
				p.mu.Lock()
				hook := p.onToken
				p.mu.Unlock()
				if hook != nil {
					hook(tok.RefreshToken, tok.IDToken)
				}
			}
			maps.Copy(w.Header(), rec.Header())
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		})
	}); err != nil {
		t.Fatal(err)
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	if serverTLS != nil {
		ln = tls.NewListener(ln, serverTLS)
	}
	if err := m.Start(ln, serverTLS); err != nil {
		t.Fatal(err)
	}
	m.CodeChallengeMethodsSupported = []string{"S256"}
	t.Cleanup(func() { _ = m.Shutdown() })
	c := m.Config()
	p.issuer, p.clientID, p.secret = c.Issuer, c.ClientID, c.ClientSecret
	return m, p
}

// keycloakUser is a user whose ID token carries roles the way Keycloak puts
// them: realm roles under realm_access.roles, client roles under
// resource_access.<client>.roles, no "groups" claim.
type keycloakUser struct {
	sub, email  string
	realm, tool []string
}

func (u *keycloakUser) ID() string { return u.sub }

func (u *keycloakUser) Userinfo([]string) ([]byte, error) {
	return []byte(`{"sub":"` + u.sub + `","email":"` + u.email + `","email_verified":true}`), nil
}

type keycloakClaims struct {
	*mockoidc.IDTokenClaims
	Email          string                         `json:"email"`
	EmailVerified  bool                           `json:"email_verified"`
	RealmAccess    map[string][]string            `json:"realm_access"`
	ResourceAccess map[string]map[string][]string `json:"resource_access"`
}

func (u *keycloakUser) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	return &keycloakClaims{IDTokenClaims: base, Email: u.email, EmailVerified: true,
		RealmAccess:    map[string][]string{"roles": u.realm},
		ResourceAccess: map[string]map[string][]string{"gateway": {"roles": u.tool}, "account": {"roles": {"manage-account"}}},
	}, nil
}

// --- zitadel/oidc's example OpenID provider (not ours) ---

var zitadelOnce sync.Once

// startZitadelExample runs zitadel/oidc's example server (exampleop with its
// in-memory storage and username/password page) for a web client of the
// gateway. Its clients follow OpenID Connect Core §5.4: with an access token
// issued, the ID token carries no email or profile claims; UserInfo does.
func startZitadelExample(t *testing.T, gwURL string) *provider {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String() + "/"
	clientID := "gateway-" + strings.ReplaceAll(ln.Addr().String(), ":", "-")
	// The example registers clients in a package-level map, before use.
	storage.RegisterClients(storage.WebClient(clientID, "secret", gwURL+"/.gateway/callback"))
	router := exampleop.SetupServer(issuer, storage.NewStorage(storage.NewUserStore(issuer)), nil, false)
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return &provider{
		issuer: issuer, clientID: clientID, secret: "secret",
		oidc: "  scopes: [openid, email, profile]\n",
		login: func(t *testing.T, c *http.Client, resp *http.Response, body string) (*http.Response, string) {
			id := resp.Request.URL.Query().Get("authRequestID")
			if id == "" || !strings.Contains(body, `name="username"`) {
				t.Fatalf("expected the example provider's login page, got %s: %.400s", resp.Request.URL, body)
			}
			target, _ := resp.Request.URL.Parse("/login/username")
			return postForm(t, c, target.String(), url.Values{"id": {id}, "username": {"test-user@127.0.0.1"}, "password": {"verysecure"}})
		},
	}
}

// --- a private CA for the TLS row ---

// privateCA returns a server TLS config for 127.0.0.1 signed by a new CA, the
// CA's PEM file, and a client config that trusts it.
func privateCA(t *testing.T) (*tls.Config, string, *tls.Config) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Corp private CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "idp.corp.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "corp-ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	server := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	return server, file, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

type issuedTokens struct{ refresh, id string }

// recordTokens records the tokens a mockoidc provider issues (at the
// provider, with its middleware); it returns the last ones issued.
func recordTokens(t *testing.T, p *provider) func() issuedTokens {
	t.Helper()
	var mu sync.Mutex
	var last issuedTokens
	p.mu.Lock()
	p.onToken = func(refresh, id string) {
		mu.Lock()
		defer mu.Unlock()
		last = issuedTokens{refresh, id}
	}
	p.mu.Unlock()
	return func() issuedTokens { mu.Lock(); defer mu.Unlock(); return last }
}
