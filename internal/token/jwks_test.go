package token

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestJWKSHandler(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a.pem", "ES256")
	writeKey(t, dir, "b.pem", "ES256")
	until := t0.Add(2 * time.Minute)
	clk := t0
	s, err := NewSigner(Config{Keys: []KeyConfig{
		{File: "a.pem", State: StateActive},
		{File: "b.pem", State: StateRetired, Until: until},
	}}, testIssuer, WithBaseDir(dir), WithClock(func() time.Time { return clk }))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.JWKSHandler())
	defer srv.Close()

	get := func(method, etag string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+JWKSPath, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	resp, body := get("GET", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("expected 200 application/jwk-set+json, got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The retired key leaves in 2 minutes: caches must not keep the set longer.
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=120" {
		t.Fatalf("expected max-age=120, got %q", got)
	}
	etag := resp.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
		t.Fatalf("expected a strong ETag, got %q", etag)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("expected 2 keys, got %d", len(set.Keys))
	}
	for _, k := range set.Keys {
		if k["kty"] != "EC" || k["crv"] != "P-256" || k["alg"] != "ES256" || k["use"] != "sig" || k["kid"] == "" || k["x"] == nil || k["y"] == nil {
			t.Fatalf("expected an EC P-256 signature key, got %v", k)
		}
		if _, ok := k["d"]; ok {
			t.Fatalf("private key material in the JWKS: %v", k)
		}
	}

	if resp, body := get("GET", etag); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Fatalf("If-None-Match: expected 304 without body, got %d %q", resp.StatusCode, body)
	}
	if resp, _ := get("GET", `"other", `+etag); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match list: expected 304, got %d", resp.StatusCode)
	}
	if resp, body := get("HEAD", ""); resp.StatusCode != 200 || len(body) != 0 {
		t.Fatalf("HEAD: expected 200 without body, got %d", resp.StatusCode)
	}
	if resp, _ := get("POST", ""); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: expected 405 with Allow, got %d", resp.StatusCode)
	}

	// After the retired key's until: one key, a new ETag, the full max-age.
	clk = until
	resp, body = get("GET", etag)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == etag {
		t.Fatalf("after until: expected 200 with a new ETag, got %d %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=300" {
		t.Fatalf("expected max-age=300, got %q", got)
	}
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("expected 1 key, got %s (%v)", body, err)
	}
	if string(s.JWKS()) != string(body) {
		t.Fatalf("JWKS() and the handler differ:\n%s\n%s", s.JWKS(), body)
	}
}
