package server

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The callback's error parameter comes from whoever wrote the link, not
// necessarily from the provider: anyone can send a user to
// /.gateway/callback?error=... on a routed host. The page names the error
// only when it is one of the codes OAuth 2.0 and OpenID Connect define, so
// a crafted link cannot put its own sentences ("call this number") on a
// page of the gateway's origin.
func TestCallbackErrorIsNotReflected(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer up.Close()
	m := startMockIdP(t)
	srv := toolServer(t, m, up.URL, "", "")

	get := func(query url.Values) (int, string) {
		r := httptest.NewRequest(http.MethodGet, "http://tool.example/.gateway/callback?"+query.Encode(), nil)
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)
		return w.Code, html.UnescapeString(w.Body.String())
	}

	const planted = "Your account is locked. Call the IT desk at +1 555 0100"
	for _, tc := range []struct {
		name  string
		query url.Values
	}{
		{"free text", url.Values{"error": {planted}}},
		{"a code, then free text", url.Values{"error": {"access_denied) " + planted + " ("}}},
		{"free text in the description", url.Values{"error": {"access_denied"}, "error_description": {planted}}},
		{"free text beside a state", url.Values{"error": {planted}, "state": {"s"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(tc.query)
			if code != http.StatusBadRequest {
				t.Errorf("expected 400, got %d", code)
			}
			if strings.Contains(body, "Your account is locked") || strings.Contains(body, "555 0100") {
				t.Errorf("the page shows the link's text: %s", body)
			}
			if !strings.Contains(body, "the identity provider refused the sign-in") {
				t.Errorf("the page does not say the provider refused the sign-in: %s", body)
			}
		})
	}
	// A code the specifications define is named, as before.
	for _, e := range []string{"access_denied", "login_required", "consent_required", "temporarily_unavailable"} {
		if _, body := get(url.Values{"error": {e}}); !strings.Contains(body, "the identity provider refused the sign-in ("+e+")") {
			t.Errorf("error=%s: expected the page to name it, got %s", e, body)
		}
	}
}
