package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Whether a client gets JSON or a page: its Accept header's q-values.
func TestWantsJSON(t *testing.T) {
	for accept, want := range map[string]bool{
		"": false, "*/*": false, "application/json": true, "Application/JSON; charset=utf-8": true,
		"application/problem+json": true, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": false,
		"application/json, text/html":             false,
		"text/html;q=0.1, application/json":       true,
		"application/json;q=0.5, text/html;q=0.6": false,
		"application/json;q=0, text/plain":        false,
		"application/json;q=x":                    false,
		"text/plain, */*;q=0.1":                   false,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if got := wantsJSON(r); got != want {
			t.Errorf("Accept %q: wantsJSON = %v, want %v", accept, got, want)
		}
	}
}
