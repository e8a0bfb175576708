package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/peer"
)

// intranetRoute allows anyone signed in from the internal network, where
// the trusted proxies are too: a request judged with a proxy's own address
// passes it.
const intranetRoute = `  - name: intranet
    host: intranet.example
    upstream: %UP%
    rules:
      allow: [{source_cidrs: [10.0.0.0/8, 127.0.0.0/8]}]
`

// TestMalformedForwardedFor: behind a trusted proxy, an X-Forwarded-For
// chain that is malformed before the client's address is found (an element
// that is not an address, a zoned address, an empty element) is refused with
// 400 and an audit record of its own reason, on every path that reads the
// client address: it is never judged with the proxy's own address, which
// may be inside a source_cidrs network. What proxies legitimately send is
// still read (ports, IPv4-mapped addresses, spaces, several lines).
func TestMalformedForwardedFor(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "intranet")
	}))
	defer up.Close()
	extra := strings.ReplaceAll(intranetRoute, "%UP%", up.URL)
	const outsider = "eve@else.example" // no rule but source_cidrs lets her in

	malformed := []struct{ name, xff string }{
		{"not an address", "not-an-ip"},
		{"not an address right of the client", "198.51.100.7, unknown"},
		{"zoned address", "fe80::1%eth0"},
		{"zoned address with a port", "[fe80::1%eth0]:443"},
		{"empty element", "198.51.100.7,"},
		{"a trusted hop, then garbage", "garbage, 10.0.0.9"},
	}
	for _, m := range malformed {
		t.Run("proxy mode/"+m.name, func(t *testing.T) {
			g := newFwdGateway(t, trustedIn, extra)
			before := hits.Load()
			r := httptest.NewRequest(http.MethodGet, "http://intranet.example/", nil)
			r.RemoteAddr = ingress
			r.Header.Set("X-Forwarded-For", m.xff)
			r.Header.Set("Accept", "application/json")
			r.AddCookie(g.session(outsider))
			w := httptest.NewRecorder()
			g.srv.Handler().ServeHTTP(w, r)
			var body struct{ Error, Message string }
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != http.StatusBadRequest || body.Error != "malformed-forwarded-for" || hits.Load() != before {
				t.Fatalf("status %d, body %s, upstream requests %d; want 400 malformed-forwarded-for and none",
					w.Code, w.Body.Bytes(), hits.Load()-before)
			}
			wantRefusal(t, g, "", "10.0.0.5")
		})
	}
	t.Run("proxy mode/page", func(t *testing.T) {
		g := newFwdGateway(t, trustedIn, extra)
		r := httptest.NewRequest(http.MethodGet, "http://intranet.example/", nil)
		r.RemoteAddr = ingress
		r.Header.Set("X-Forwarded-For", "not-an-ip")
		w := httptest.NewRecorder()
		g.srv.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "X-Forwarded-For") ||
			!strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("status %d, %s: %.300s", w.Code, w.Header().Get("Content-Type"), w.Body.String())
		}
		wantRefusal(t, g, "", "10.0.0.5")
	})

	checks := []struct {
		name, target, transport string
		headers                 map[string]string
		wire                    int // the status on the wire (nginx knows only 401 and 403)
	}{
		{"forward-auth", forwardAuthPath, "forward-auth", traefik("GET", "intranet.example", "/", "not-an-ip"), 400},
		{"nginx", nginxAuthPath, "nginx", nginxHeaders("GET", "intranet.example", "/", "fe80::1%eth0"), 403},
		{"nginx page", nginxPagePath, "nginx-page", nginxHeaders("GET", "intranet.example", "/", "not-an-ip"), 400},
		{"envoy http", envoyAuthPrefix + "/", "ext-authz-http", map[string]string{"X-Forwarded-For": "not-an-ip"}, 400},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			g := newFwdGateway(t, trustedIn, extra)
			r := httptest.NewRequest(http.MethodGet, c.target, nil)
			r.Host = "intranet.example"
			r.RemoteAddr = ingress
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			r.AddCookie(g.session(outsider))
			w := httptest.NewRecorder()
			g.srv.Handler().ServeHTTP(w, r)
			if w.Code != c.wire || w.Header().Get("X-Gateway-Context") != "" {
				t.Fatalf("status %d (context token %t), want %d: %.300s", w.Code, w.Header().Get("X-Gateway-Context") != "", c.wire, w.Body.String())
			}
			wantRefusal(t, g, c.transport, "10.0.0.5")
		})
	}
	t.Run("ext_authz grpc", func(t *testing.T) {
		g := newFwdGateway(t, trustedIn+", 127.0.0.0/8", extra)
		cookie := g.session(outsider)
		req := checkRequest("10.0.0.3:5555", "GET", "intranet.example", "/", map[string]string{
			"cookie": "_gateway_session=" + cookie.Value, "x-forwarded-for": "not-an-ip"})
		ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: addrPort("127.0.0.1:6000")})
		resp := g.srv.check(ctx, req)
		if resp.GetOkResponse() != nil || resp.GetDeniedResponse().GetStatus().GetCode() != http.StatusBadRequest {
			t.Fatalf("want a 400 denial, got %v", resp)
		}
		wantRefusal(t, g, "ext-authz-grpc", "10.0.0.3")
	})

	// The control: what proxies send is read, and the client judged.
	for _, ok := range []struct{ name, xff, client string }{
		{"a port, as Azure appends it", "198.51.100.7:443", "198.51.100.7"},
		{"an IPv6 address with a port", "[2001:db8::9]:443", "2001:db8::9"},
		{"IPv4-mapped", "::ffff:10.1.2.3", "10.1.2.3"},
		{"garbage left of the client", "not-an-ip, 10.0.0.9,  10.1.2.3 ,10.0.0.7", "10.1.2.3"},
	} {
		t.Run("read/"+ok.name, func(t *testing.T) {
			g := newFwdGateway(t, "10.0.0.0/24", extra)
			before := hits.Load()
			r := httptest.NewRequest(http.MethodGet, "http://intranet.example/", nil)
			r.RemoteAddr = ingress
			r.Header.Set("X-Forwarded-For", ok.xff)
			r.AddCookie(g.session(outsider))
			w := httptest.NewRecorder()
			g.srv.Handler().ServeHTTP(w, r)
			recs := g.records()
			if len(recs) == 0 || recs[0].SourceIP != ok.client {
				t.Fatalf("records %+v, want the first from %s", recs, ok.client)
			}
			allowed := strings.HasPrefix(ok.client, "10.")
			if allowed != (w.Code == http.StatusOK && hits.Load() == before+1) {
				t.Fatalf("status %d, upstream requests %d; allowed %t", w.Code, hits.Load()-before, allowed)
			}
		})
	}
	t.Run("read/several lines", func(t *testing.T) {
		g := newFwdGateway(t, "10.0.0.0/24", extra)
		r := httptest.NewRequest(http.MethodGet, "http://intranet.example/", nil)
		r.RemoteAddr = ingress
		r.Header.Add("X-Forwarded-For", "10.1.2.3")
		r.Header.Add("X-Forwarded-For", "10.0.0.8, 10.0.0.9")
		r.AddCookie(g.session(outsider))
		w := httptest.NewRecorder()
		g.srv.Handler().ServeHTTP(w, r)
		if recs := g.records(); w.Code != http.StatusOK || len(recs) == 0 || recs[0].SourceIP != "10.1.2.3" {
			t.Fatalf("status %d, records %+v; want 200 from 10.1.2.3", w.Code, recs)
		}
	})
}

// wantRefusal checks g's one decision record: a deny with status 400 and
// the reason malformed-forwarded-for, from the peer, that quotes the chain.
func wantRefusal(t *testing.T, g *fwdGateway, transport, peer string) {
	t.Helper()
	recs := g.records()
	if len(recs) != 1 {
		t.Fatalf("audit records %+v, want one", recs)
	}
	rec := recs[0]
	if rec.Decision != "deny" || rec.Status != http.StatusBadRequest || len(rec.Reasons) != 1 ||
		rec.Reasons[0] != "malformed-forwarded-for" || rec.Transport != transport || rec.SourceIP != peer ||
		!strings.Contains(rec.Detail, "X-Forwarded-For") {
		t.Fatalf("audit record %+v, want a 400 deny malformed-forwarded-for from %s, transport %q, detail naming X-Forwarded-For", rec, peer, transport)
	}
}
