package contexttoken_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/token"
)

func TestMiddleware(t *testing.T) {
	clk := newClock(t0)
	s := newSigner(t, clk.Now, contexttoken.ES256, token.KeyConfig{File: keyFile(t, contexttoken.ES256), State: token.StateActive})
	v, err := contexttoken.NewStaticVerifier(contexttoken.Config{Issuer: issuer, Audiences: []string{aud}, Now: clk.Now}, s.PublicKeys())
	if err != nil {
		t.Fatal(err)
	}
	good := mint(t, s, claims())
	expired := func() string {
		old := newSigner(t, func() time.Time { return t0.Add(-time.Hour) }, contexttoken.ES256,
			token.KeyConfig{File: keyFile(t, contexttoken.ES256), State: token.StateActive})
		return mint(t, old, claims())
	}()

	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := contexttoken.FromContext(r.Context())
		if !ok {
			t.Error("handler reached without claims")
			http.Error(w, "no claims", 500)
			return
		}
		w.Write([]byte("hello " + c.Email))
	})

	tests := []struct {
		name       string
		header     string // middleware's header; "" is the default
		set        map[string][]string
		wantStatus int
		wantBody   string // for 200
		wantReason string // for errors
	}{
		{name: "valid", set: map[string][]string{"X-Gateway-Context": {good}}, wantStatus: 200, wantBody: "hello ada@example.com"},
		{name: "valid in custom header", header: "X-Corp-Context", set: map[string][]string{"X-Corp-Context": {good}}, wantStatus: 200, wantBody: "hello ada@example.com"},
		{name: "missing", wantStatus: 401, wantReason: "missing"},
		{name: "in another header", header: "X-Corp-Context", set: map[string][]string{"X-Gateway-Context": {good}}, wantStatus: 401, wantReason: "missing"},
		{name: "two headers", set: map[string][]string{"X-Gateway-Context": {good, good}}, wantStatus: 401, wantReason: "malformed"},
		{name: "garbage", set: map[string][]string{"X-Gateway-Context": {"abc"}}, wantStatus: 401, wantReason: "malformed"},
		{name: "unknown key", set: map[string][]string{"X-Gateway-Context": {expired}}, wantStatus: 401, wantReason: "unknown-key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/x", nil)
			for k, vs := range tc.set {
				for _, v := range vs {
					req.Header.Add(k, v)
				}
			}
			rec := httptest.NewRecorder()
			contexttoken.Middleware(v, tc.header)(app).ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("expected status %d, got %d (%s)", tc.wantStatus, rec.Code, rec.Body)
			}
			if tc.wantStatus == 200 {
				if rec.Body.String() != tc.wantBody {
					t.Fatalf("expected body %q, got %q", tc.wantBody, rec.Body)
				}
				return
			}
			var body contexttoken.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("expected a JSON error body, got %q: %v", rec.Body, err)
			}
			if body.Error != tc.wantReason || body.Message == "" {
				t.Fatalf("expected reason %q with a message, got %+v", tc.wantReason, body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != `GatewayContext error="`+tc.wantReason+`"` {
				t.Fatalf("unexpected WWW-Authenticate %q", got)
			}
		})
	}
}

func TestMiddlewareKeySetUnavailable(t *testing.T) {
	clk := newClock(t0)
	s := newSigner(t, clk.Now, contexttoken.ES256, token.KeyConfig{File: keyFile(t, contexttoken.ES256), State: token.StateActive})
	js := newJWKSServer(t, s)
	v := remoteVerifier(t, js, clk.Now)
	js.fail.Store(true)
	clk.Set(t0.Add(contexttoken.DefaultRefreshInterval))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set(contexttoken.DefaultHeader, mint(t, s, claims()))
	rec := httptest.NewRecorder()
	contexttoken.Middleware(v, "")(http.NotFoundHandler()).ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("expected 503, got %d", rec.Code)
	}
	var body contexttoken.ErrorBody
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if body.Error != "key-set" {
		t.Fatalf("expected reason key-set, got %+v", body)
	}
}

func TestReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&contexttoken.ExpiredError{Expiry: t0, Now: t0.Add(time.Hour), Leeway: time.Second}, "expired"},
		{contexttoken.ErrAudience, "audience"},
		{http.ErrAbortHandler, "invalid"},
	} {
		if got := contexttoken.Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v): expected %q, got %q", tc.err, tc.want, got)
		}
	}
}
