package server

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/accessgateway/gateway/internal/auth"
)

// withEndSession adds end_session_endpoint to mockoidc's discovery
// document (RP-Initiated Logout 1.0 §2.1), which mockoidc does not
// advertise.
func withEndSession(endpoint func() string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != mockoidc.DiscoveryEndpoint {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var d map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			d["end_session_endpoint"] = endpoint()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(d)
		})
	}
}

// Sign-out with the provider's sign-out on: the session ends, and the
// answer is a page whose form posts to the provider's end_session_endpoint
// (the ID token in the form, no redirect carrying it in a URL), whose CSP
// lets that form go to the provider and to the post-logout page; and the
// ID token, a valid bearer token before, is refused from then on.
func TestSignOutPostsToTheProviderAndRevokesTheHint(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer up.Close()
	var m *mockoidc.MockOIDC
	m = startMockIdP(t, withEndSession(func() string { return m.Issuer() + "/logout" }))
	srv := toolServer(t, m, up.URL, `,
  post_logout_redirect_url: "http://gw.example/.gateway/sign-out"`, "    allow_bearer: true\n")

	kid, err := m.Keypair.KeyID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{"iss": m.Issuer(), "aud": m.Config().ClientID, "sub": "sub-ann",
		"email": "ann@corp.example", "email_verified": true, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
	idToken := oidctest.SignIDToken(m.Keypair.PrivateKey, kid, oidc.RS256, string(claims))
	bearer := func() int {
		r := httptest.NewRequest(http.MethodGet, "http://tool.example/x", nil)
		r.Header.Set("Authorization", "Bearer "+idToken)
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)
		return w.Code
	}
	if code := bearer(); code != http.StatusOK {
		t.Fatalf("before sign-out: the ID token as bearer: expected 200, got %d", code)
	}

	rt := srv.rt.Load()
	id, err := rt.sessions.Create(context.Background(), &auth.Session{Subject: "sub-ann", Email: "ann@corp.example",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), CSRF: "csrf-token", IDToken: idToken})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "http://tool.example/.gateway/sign-out", strings.NewReader(url.Values{"csrf": {"csrf-token"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.AddCookie(&http.Cookie{Name: rt.cfg.Session.CookieName, Value: id})
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, r)

	body := html.UnescapeString(w.Body.String())
	if w.Code != http.StatusOK || w.Header().Get("Location") != "" {
		t.Fatalf("sign-out: expected 200 with the provider's form and no redirect, got %d, Location %q", w.Code, w.Header().Get("Location"))
	}
	for _, want := range []string{
		`<form method="post" action="` + m.Issuer() + `/logout" id="provider-sign-out">`,
		`name="id_token_hint" value="` + idToken + `"`,
		`name="client_id" value="` + m.Config().ClientID + `"`,
		`name="post_logout_redirect_uri" value="http://gw.example/.gateway/sign-out"`,
		`<button type="submit" id="continue">`,
		`.submit()`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("sign-out page: expected %q in %s", want, body)
		}
	}
	idp, _ := url.Parse(m.Issuer())
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.HasSuffix(csp, "; form-action 'self' http://"+idp.Host+" http://gw.example") {
		t.Errorf("CSP: expected form-action 'self', the provider and the post-logout page, got %q", csp)
	}
	if sc := w.Header().Get("Set-Cookie"); !strings.Contains(sc, rt.cfg.Session.CookieName+"=;") {
		t.Errorf("sign-out did not clear the session cookie: %q", sc)
	}
	if _, err := rt.sessions.Load(context.Background(), id); err == nil {
		t.Error("the session survived the sign-out")
	}
	if code := bearer(); code != http.StatusUnauthorized {
		t.Fatalf("after sign-out: the ID token handed out as id_token_hint, as bearer: expected 401, got %d", code)
	}
}

func TestPageCSPFormTargets(t *testing.T) {
	for _, tc := range []struct {
		name    string
		origins []string
		want    string // what form-action allows
	}{
		{"none", nil, "'self'"},
		{"provider and post-logout page", []string{"https://idp.example", "http://[::1]:8080"}, "'self' https://idp.example http://[::1]:8080"},
		{"not a plain origin: left out", []string{"https://idp.example; script-src *", "javascript://x", "https://", "https://a/b"}, "'self'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pageCSPWith(tc.origins)
			if want := "; form-action " + tc.want; !strings.HasSuffix(got, want) || strings.Count(got, "form-action") != 1 {
				t.Errorf("expected a policy ending %q, got %q", want, got)
			}
		})
	}
}

// A script's sign-out (Accept: application/json) gets what the page gives a
// browser, as data: before, the csrf field to post; after, the provider's
// form to post (the same fields, in order) — not an error object, and not
// a silent skip of the provider's sign-out. Without the csrf field it is
// refused and nothing ends.
func TestJSONSignOutHandsOverTheProviderForm(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer up.Close()
	var m *mockoidc.MockOIDC
	m = startMockIdP(t, withEndSession(func() string { return m.Issuer() + "/logout" }))
	srv := toolServer(t, m, up.URL, `,
  post_logout_redirect_url: "http://gw.example/.gateway/sign-out"`, "")
	rt := srv.rt.Load()
	now := time.Now()
	id, err := rt.sessions.Create(context.Background(), &auth.Session{Subject: "sub-ann", Email: "ann@corp.example",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), CSRF: "csrf-token", IDToken: "header.payload.sig"})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, csrf string) (int, map[string]any, *httptest.ResponseRecorder) {
		t.Helper()
		var body *strings.Reader
		if method == http.MethodPost {
			body = strings.NewReader(url.Values{"csrf": {csrf}}.Encode())
		} else {
			body = strings.NewReader("")
		}
		r := httptest.NewRequest(method, "http://tool.example/.gateway/sign-out", body)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Accept", "application/json")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.AddCookie(&http.Cookie{Name: rt.cfg.Session.CookieName, Value: id})
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s: Content-Type %q, body %s", method, ct, w.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: %v: %s", method, err, w.Body)
		}
		return w.Code, out, w
	}
	if code, out, _ := call(http.MethodGet, ""); code != http.StatusOK || out["signed_out"] != false || out["csrf"] != "csrf-token" {
		t.Fatalf("GET before sign-out: %d %v", code, out)
	}
	if code, out, _ := call(http.MethodPost, "wrong"); code != http.StatusForbidden || out["error"] == nil {
		t.Fatalf("POST without the csrf field: expected a 403 error, got %d %v", code, out)
	}
	if _, err := rt.sessions.Load(context.Background(), id); err != nil {
		t.Fatal("a refused sign-out ended the session")
	}
	code, out, w := call(http.MethodPost, "csrf-token")
	if code != http.StatusOK || out["signed_out"] != true || out["error"] != nil {
		t.Fatalf("POST: %d %v", code, out)
	}
	form, _ := out["provider_sign_out"].(map[string]any)
	fields, _ := form["fields"].([]any)
	var got []string
	for _, f := range fields {
		f := f.(map[string]any)
		got = append(got, f["name"].(string)+"="+f["value"].(string))
	}
	want := []string{"id_token_hint=header.payload.sig", "client_id=" + m.Config().ClientID, "post_logout_redirect_uri=http://gw.example/.gateway/sign-out"}
	if form["action"] != m.Issuer()+"/logout" || form["method"] != "POST" || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("provider_sign_out: %v; want action %s/logout, POST, fields %v", form, m.Issuer(), want)
	}
	if sc := w.Header().Get("Set-Cookie"); !strings.Contains(sc, rt.cfg.Session.CookieName+"=;") {
		t.Errorf("sign-out did not clear the session cookie: %q", sc)
	}
	if _, err := rt.sessions.Load(context.Background(), id); err == nil {
		t.Error("the session survived the sign-out")
	}
	// Signed out already: said so, nothing for the provider.
	if code, out, _ := call(http.MethodPost, "csrf-token"); code != http.StatusOK || out["signed_out"] != true || out["provider_sign_out"] != nil {
		t.Fatalf("POST once signed out: %d %v", code, out)
	}
}
