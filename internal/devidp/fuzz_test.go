package devidp

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// FuzzLoginSubmit posts arbitrary sign-in forms against one pending auth
// request: only its exact ID with a known user may sign in; everything else
// is a 400 that leaves the request pending.
func FuzzLoginSubmit(f *testing.F) {
	p, err := newProvider(Config{
		Issuer:   "http://127.0.0.1:1",
		Clients:  []Client{{ID: "g", Secret: "s", RedirectURIs: []string{"http://127.0.0.1:9/cb"}}},
		Insecure: true,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, testKey())
	if err != nil {
		f.Fatal(err)
	}
	defer p.Close()

	// One pending auth request, created through the real authorize endpoint.
	cfg := &oauth2.Config{ClientID: "g", RedirectURL: "http://127.0.0.1:9/cb", Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: "http://127.0.0.1:1/authorize"}}
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), nil))
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || loc.Query().Get("authRequestID") == "" {
		f.Fatalf("authorize: expected a redirect to the sign-in page, got %d %q", rec.Code, rec.Header().Get("Location"))
	}
	pending := loc.Query().Get("authRequestID")
	userIDs := []string{}
	for _, u := range DemoUsers() {
		userIDs = append(userIDs, u.ID)
	}

	f.Add(pending, "not-a-user")
	f.Add(pending, "")
	f.Add(strings.ToUpper(pending), userIDs[0])
	f.Add(pending+" ", userIDs[0])
	f.Add("", userIDs[0])
	f.Add("../../authorize", userIDs[1])
	f.Add(pending[:len(pending)-1], userIDs[2])
	f.Fuzz(func(t *testing.T, id, user string) {
		if id == pending && slices.Contains(userIDs, user) {
			t.Skip("a valid sign-in would complete the shared request")
		}
		form := url.Values{"authRequestID": {id}, "user": {user}}
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("id %q user %q: expected 400, got %d (Location %q)", id, user, rec.Code, rec.Header().Get("Location"))
		}
		if _, err := p.store.pendingAuthRequest(pending); err != nil {
			t.Fatalf("id %q user %q: the pending request changed: %v", id, user, err)
		}
	})
}
