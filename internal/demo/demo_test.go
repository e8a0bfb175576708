package demo

import (
	"bytes"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/token"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*token.Signer, http.Handler, *bytes.Buffer) {
	t.Helper()
	now := func() time.Time { return t0 }
	s, err := token.NewDevSigner("https://gw.example.com", token.WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	v, err := contexttoken.NewStaticVerifier(contexttoken.Config{
		Issuer: "https://gw.example.com", Audiences: []string{"http://demo.localhost:8080"}, Now: now,
	}, s.PublicKeys())
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	return s, New(v, "", slog.New(slog.NewTextHandler(&logs, nil))), &logs
}

func demoClaims() contexttoken.Claims {
	return contexttoken.Claims{
		Audience: contexttoken.Audience{"http://demo.localhost:8080"},
		Subject:  "00u1abcd", Email: "ada@example.com", Groups: []string{"eng", "sre"},
		Route: "demo", SourceIP: "203.0.113.7",
		Device:        &contexttoken.Device{ID: "dev_1", Trust: "tpm-attested", AttestedAt: contexttoken.NewNumericDate(t0.Add(-time.Hour))},
		Justification: &contexttoken.Justification{System: "jira", ID: "OPS-1", VerifiedAt: contexttoken.NewNumericDate(t0), Resource: "cust-42"},
	}
}

func request(tok, accept string) *http.Request {
	r := httptest.NewRequest("GET", "http://demo.localhost:8080/customers/cust-42?tab=<b>", nil)
	r.RemoteAddr = "192.0.2.10:40000"
	r.Header.Set("User-Agent", "test")
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	r.Header.Set("Cookie", "app=secret-session")
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	if tok != "" {
		r.Header.Set(contexttoken.DefaultHeader, tok)
	}
	return r
}

func TestPageGolden(t *testing.T) {
	s, h, logs := setup(t)
	tok, err := s.Mint(demoClaims(), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var jti string
	{
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, request(tok, "application/json"))
		var rep Report
		if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		jti = rep.Claims.ID
	}
	tests := []struct {
		name       string
		token      string
		wantStatus int
	}{
		{"verified", tok, 200},
		{"missing", "", 401},
		{"invalid", tok[:len(tok)-4] + "AAAA", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, request(tc.token, "text/html,application/xhtml+xml"))
			if rec.Code != tc.wantStatus {
				t.Fatalf("expected %d, got %d", tc.wantStatus, rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Fatalf("unexpected Content-Type %q", ct)
			}
			got := rec.Body.String()
			if tc.token != "" {
				if strings.Contains(got, tc.token) {
					t.Fatal("the page shows the whole token")
				}
				got = strings.ReplaceAll(got, Shorten(tc.token), "<shortened token>")
				got = strings.ReplaceAll(got, s.KeyID(), "<kid>")
			}
			got = strings.ReplaceAll(got, jti, "<jti>")
			if strings.Contains(got, "secret-session") {
				t.Fatal("the page shows a cookie value")
			}
			golden := filepath.Join("testdata", tc.name+".html.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Fatalf("page differs from %s:\n%s", golden, got)
			}
		})
	}
	if strings.Contains(logs.String(), tok[20:60]) {
		t.Fatal("the log contains the token")
	}
}

func TestJSON(t *testing.T) {
	s, h, _ := setup(t)
	tok, err := s.Mint(demoClaims(), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		token      string
		wantStatus int
		wantReason string
	}{
		{"verified", tok, 200, ""},
		{"missing", "", 401, "missing"},
		{"tampered", tok[:len(tok)-4] + "AAAA", 401, "signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, request(tc.token, "application/json"))
			if rec.Code != tc.wantStatus {
				t.Fatalf("expected %d, got %d", tc.wantStatus, rec.Code)
			}
			var rep Report
			if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
				t.Fatalf("expected JSON, got %q: %v", rec.Body, err)
			}
			if rep.Request.Method != "GET" || rep.Request.Path != "/customers/cust-42" || rep.Request.Query != "tab=<b>" {
				t.Fatalf("unexpected request %+v", rep.Request)
			}
			if tc.wantStatus == 200 {
				if !rep.Verified || rep.Claims == nil || rep.Claims.Justification.Resource != "cust-42" || rep.Error != nil {
					t.Fatalf("unexpected report %+v", rep)
				}
			} else if rep.Verified || rep.Claims != nil || rep.Error == nil || rep.Error.Error != tc.wantReason {
				t.Fatalf("expected reason %q, got %+v", tc.wantReason, rep.Error)
			}
			for _, hd := range rep.Request.Headers {
				switch hd.Name {
				case "Cookie":
					if hd.Value != "" {
						t.Fatalf("cookie shown: %+v", hd)
					}
				case contexttoken.DefaultHeader:
					if hd.Value != Shorten(tc.token) || len(hd.Value) > 30 {
						t.Fatalf("token not shortened: %+v", hd)
					}
				}
			}
		})
	}
}

func TestWantsJSON(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                                 false,
		"application/json":                 true,
		"Application/JSON; q=1":            true,
		"text/html,application/json":       false,
		"application/json;q=0.9,text/html": true,
		"*/*":                              false,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept", accept)
		if got := wantsJSON(r); got != want {
			t.Errorf("Accept %q: expected %v, got %v", accept, want, got)
		}
	}
}
