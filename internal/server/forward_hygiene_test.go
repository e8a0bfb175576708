package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/proxy"
)

// spoofable are headers proxy mode deletes from every request (an upstream
// could take them for the gateway's word), in spellings a tool may read as
// the header: '.' and '_' for '-' (PHP's $_SERVER, CGI and WSGI fold both to
// '_'), path overrides, and the identity headers of other proxies.
var spoofable = []struct{ name, value string }{
	{"X.Http.Method.Override", "DELETE"},
	{"X-Http-Method.Override", "DELETE"},
	{"X_Http_Method_Override", "DELETE"},
	{"X.Gateway.Context", "forged"},
	{"X-Gateway.Request-Id", "forged"},
	{"X-Original-URL", "/admin"},
	{"X-Rewrite-URL", "/admin"},
	{"X-Forwarded-User", "admin"},
	{"Remote-User", "admin"},
	{"Remote.User", "admin"},
	{"X-Auth-Request-Email", "admin@corp.example"},
	// What an ingress or a CDN sets, in a spelling none sets: the client's,
	// forwarded untouched by whoever overwrites the '-' spelling.
	{"X_Forwarded_Prefix", "/admin"},
	{"X_Forwarded_Uri", "/admin"},
	{"X.Original.URI", "/admin"},
	{"X_Forwarded_For", "10.9.9.9"},
	{"Cf_Connecting_Ip", "10.9.9.9"},
}

// In forward-auth mode the ingress forwards the client's headers to the
// tool: a header proxy mode would have deleted makes the gateway refuse the
// request (nginx, Traefik and Caddy cannot remove headers by name on the
// gateway's word).
func TestForwardAuthRefusesHeadersProxyModeStrips(t *testing.T) {
	g := newFwdGateway(t, trustedIn)
	ann := g.session("ann@corp.example")
	for _, h := range spoofable {
		proxied := http.Header{h.name: {h.value}}
		proxy.StripInbound(proxied, nil)
		if len(proxied) != 0 {
			t.Fatalf("proxy mode keeps %s: the list is wrong", h.name)
		}
		for _, mode := range []struct {
			name, path string
			headers    map[string]string
			want       int // nginx's auth_request reads every refusal as 403
		}{
			{"traefik", forwardAuthPath, traefik("GET", "tool.example", "/reports", employee), http.StatusBadRequest},
			{"nginx", nginxAuthPath, nginxHeaders("GET", "tool.example", "/reports", employee), http.StatusForbidden},
		} {
			t.Run(mode.name+"/"+h.name, func(t *testing.T) {
				r := httptest.NewRequest(http.MethodGet, mode.path, nil)
				r.RemoteAddr = ingress
				for k, v := range mode.headers {
					r.Header.Set(k, v)
				}
				r.AddCookie(ann)
				w := httptest.NewRecorder()
				g.srv.Handler().ServeHTTP(w, r.Clone(r.Context()))
				if w.Code != http.StatusOK {
					t.Fatalf("expected 200 without the header, got %d", w.Code)
				}
				r.Header[h.name] = []string{h.value} // as the client spelt it
				w = httptest.NewRecorder()
				g.srv.Handler().ServeHTTP(w, r)
				if w.Code != mode.want {
					t.Fatalf("expected %d for a request carrying %s: %q, got %d", mode.want, h.name, h.value, w.Code)
				}
			})
		}
	}
}

// What an ingress sets on its own way — the headers describing the request,
// Traefik's X-Forwarded-Server and, after a stripPrefix, X-Forwarded-Prefix —
// does not make the gateway refuse.
func TestForwardAuthAcceptsWhatIngressesSet(t *testing.T) {
	g := newFwdGateway(t, trustedIn)
	r := httptest.NewRequest(http.MethodGet, forwardAuthPath, nil)
	r.RemoteAddr = ingress
	for k, v := range traefik("GET", "tool.example", "/reports", employee, "X-Forwarded-Server", "traefik-7d9f",
		"X-Forwarded-Prefix", "/tools", "X-Forwarded-Port", "443", "X-Real-Ip", "203.0.113.9") {
		r.Header.Set(k, v)
	}
	r.AddCookie(g.session("ann@corp.example"))
	w := httptest.NewRecorder()
	g.srv.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("expected 200 for what Traefik sets, got %d: %s", w.Code, w.Body)
	}
}

// Envoy can remove headers: an allowed check lists every header proxy mode
// would have deleted in headers_to_remove, whatever its spelling.
func TestExtAuthzGRPCRemovesHeadersProxyModeStrips(t *testing.T) {
	g := newFwdGateway(t, "127.0.0.0/8, "+trustedIn)
	client := grpcClient(t, g)
	ann := g.session("ann@corp.example")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	extra := map[string]string{"cookie": "_gateway_session=" + ann.Value}
	for _, h := range spoofable {
		extra[http.CanonicalHeaderKey(h.name)] = h.value
	}
	lower := map[string]string{}
	for k, v := range extra {
		lower[strings.ToLower(k)] = v
	}
	resp, err := client.Check(ctx, checkRequest("198.51.100.7:5555", "GET", "tool.example", "/reports", lower))
	if err != nil {
		t.Fatal(err)
	}
	ok := resp.GetOkResponse()
	if ok == nil {
		t.Fatalf("expected an allow, got %v", resp)
	}
	rm := ok.GetHeadersToRemove()
	for name := range lower {
		if name == "cookie" {
			continue
		}
		if !slices.Contains(rm, name) {
			t.Errorf("headers_to_remove %q does not list %s: Envoy would forward it to the tool", rm, name)
		}
	}
}

// Of the forwarding headers Envoy sets only X-Forwarded-For and -Proto
// (use_remote_address): a client's X-Real-IP, X-Forwarded-Host, -Port,
// Forwarded and X-Client-IP would reach the tool as the client sent them
// (proxy mode deletes them), so an allowed check has Envoy remove them.
func TestExtAuthzGRPCRemovesClientAddressHeaders(t *testing.T) {
	g := newFwdGateway(t, "127.0.0.0/8, "+trustedIn)
	client := grpcClient(t, g)
	ann := g.session("ann@corp.example")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hdr := map[string]string{"cookie": "_gateway_session=" + ann.Value,
		"x-real-ip": "10.9.9.9", "x-client-ip": "10.9.9.9", "forwarded": "for=10.9.9.9", "x-forwarded-host": "admin.example",
		"x-forwarded-port": "8443", "x-forwarded-for": "198.51.100.7", "x-forwarded-proto": "https"}
	resp, err := client.Check(ctx, checkRequest("198.51.100.7:5555", "GET", "tool.example", "/reports", hdr))
	if err != nil {
		t.Fatal(err)
	}
	ok := resp.GetOkResponse()
	if ok == nil {
		t.Fatalf("expected an allow, got %v", resp)
	}
	rm := ok.GetHeadersToRemove()
	for _, name := range []string{"x-real-ip", "x-client-ip", "forwarded", "x-forwarded-host", "x-forwarded-port"} {
		if !slices.Contains(rm, name) {
			t.Errorf("headers_to_remove %q does not list %s: Envoy would forward the client's to the tool", rm, name)
		}
	}
	for _, name := range []string{"x-forwarded-for", "x-forwarded-proto"} {
		if slices.Contains(rm, name) {
			t.Errorf("headers_to_remove %q lists %s, which Envoy sets itself", rm, name)
		}
	}
}

// A client's copy of another ingress's describing header is refused (nginx
// does not set X-Forwarded-Uri, Traefik does not set X-Original-URI, no
// HTTP ingress removes X-Envoy-Original-Path); a CDN's or TLS terminator's
// headers in front of the ingress are not.
func TestForwardAuthDescribingHeadersPerIngress(t *testing.T) {
	g := newFwdGateway(t, trustedIn)
	ann := g.session("ann@corp.example")
	for _, c := range []struct {
		name, path string
		headers    map[string]string
		extra      []string
		want       int
	}{
		{"nginx, X-Forwarded-Uri", nginxAuthPath, nginxHeaders("GET", "tool.example", "/reports", employee), []string{"X-Forwarded-Uri", "/admin"}, http.StatusForbidden},
		{"nginx, X-Envoy-Original-Path", nginxAuthPath, nginxHeaders("GET", "tool.example", "/reports", employee), []string{"X-Envoy-Original-Path", "/admin"}, http.StatusForbidden},
		{"traefik, X-Original-URI", forwardAuthPath, traefik("GET", "tool.example", "/reports", employee), []string{"X-Original-URI", "/admin"}, http.StatusBadRequest},
		{"traefik, X-Envoy-Original-Path", forwardAuthPath, traefik("GET", "tool.example", "/reports", employee), []string{"X-Envoy-Original-Path", "/admin"}, http.StatusBadRequest},
		{"traefik behind Cloudflare", forwardAuthPath, traefik("GET", "tool.example", "/reports", employee), []string{"CF-Connecting-IP", "203.0.113.9", "Cf-Ray", "8c1d", "True-Client-IP", "203.0.113.9"}, http.StatusOK},
		{"nginx behind an mTLS terminator", nginxAuthPath, nginxHeaders("GET", "tool.example", "/reports", employee), []string{"X-Ssl-Client-Verify", "SUCCESS", "X-Forwarded-Client-Cert", "Hash=ab"}, http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, c.path, nil)
			r.RemoteAddr = ingress
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			for i := 0; i+1 < len(c.extra); i += 2 {
				r.Header.Set(c.extra[i], c.extra[i+1])
			}
			r.AddCookie(ann)
			w := httptest.NewRecorder()
			g.srv.Handler().ServeHTTP(w, r)
			if w.Code != c.want {
				t.Fatalf("expected %d, got %d: %s", c.want, w.Code, w.Body)
			}
		})
	}
}

// A token header configured outside the gateway's namespace is the
// gateway's word too: a client's copy, in any spelling, is refused.
func TestForwardAuthRefusesTheConfiguredTokenHeader(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	file := filepath.Join(t.TempDir(), "token.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	g := newFwdGateway(t, trustedIn, "token: {header: X-Tool-Context, keys: [{file: \""+file+"\", state: active}]}\n")
	ann := g.session("ann@corp.example")
	for _, name := range []string{"X-Tool-Context", "x_tool_context", "X.Tool.Context"} {
		r := httptest.NewRequest(http.MethodGet, forwardAuthPath, nil)
		r.RemoteAddr = ingress
		for k, v := range traefik("GET", "tool.example", "/reports", employee) {
			r.Header.Set(k, v)
		}
		r.Header[name] = []string{"forged"}
		r.AddCookie(ann)
		w := httptest.NewRecorder()
		g.srv.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: expected 400, got %d", name, w.Code)
		}
	}
}

// Only allowForwarded allows: any other answer to an ingress that comes out
// 2xx — a status written as 200, or a body written without one — is sent
// as 403, which every ingress reads as a denial; through the nginx mapping
// too.
func TestForwardAnswersAre2xxOnlyWhenAllowed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed bool
		answer  func(w http.ResponseWriter)
		want    int
	}{
		{"a page written as 200", false, func(w http.ResponseWriter) { w.WriteHeader(http.StatusOK); _, _ = w.Write([]byte("page")) }, http.StatusForbidden},
		{"a body without a status", false, func(w http.ResponseWriter) { _, _ = w.Write([]byte("page")) }, http.StatusForbidden},
		{"204", false, func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }, http.StatusForbidden},
		{"a denial", false, func(w http.ResponseWriter) { w.WriteHeader(http.StatusUnauthorized) }, http.StatusUnauthorized},
		{"the allow", true, func(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) }, http.StatusOK},
	} {
		for _, nginx := range []bool{false, true} {
			name := tc.name
			if nginx {
				name += " (nginx)"
			}
			t.Run(name, func(t *testing.T) {
				q := &request{forwardAllowed: tc.allowed}
				rec := httptest.NewRecorder()
				var w http.ResponseWriter = &forwardGuard{ResponseWriter: rec, q: q}
				if nginx {
					w = &nginxWriter{ResponseWriter: w}
				}
				tc.answer(w)
				want := tc.want
				if nginx && want == http.StatusUnauthorized {
					want = http.StatusForbidden // not a sign-in (nginxSignIn): 403 to nginx
				}
				if rec.Code != want {
					t.Errorf("status %d, want %d", rec.Code, want)
				}
			})
		}
	}
}
