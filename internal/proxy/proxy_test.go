package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/netip"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/route"
)

// seen is what the upstream received.
type seen struct {
	RequestURI string
	Host       string
	Header     http.Header
}

// newUpstream starts a tool that answers with what it received.
func newUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(seen{RequestURI: r.RequestURI, Host: r.Host, Header: r.Header})
	}))
	t.Cleanup(up.Close)
	return up
}

// newGateway starts a front server that does what the gateway does before
// the proxy: normalize the path, find the client, and put a Forward in the
// context. It strips nothing itself: the Upstream's Rewrite must.
func newGateway(t *testing.T, target string, trusted []netip.Prefix) *httptest.Server {
	t.Helper()
	tr, err := NewTransport(TransportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	up, err := NewUpstream(target, false, tr, func(w http.ResponseWriter, r *http.Request, err error) {
		http.Error(w, "bad gateway: "+err.Error(), http.StatusBadGateway)
	})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, err := route.Normalize(r.URL.EscapedPath())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		client, trustedPeer, err := ClientAddr(r, trusted)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f := &Forward{
			Allowed:      true,
			Path:         path,
			ClientIP:     client,
			TrustedPeer:  trustedPeer,
			Set:          http.Header{"X-Gateway-Context": {"signed.context.token"}},
			StripCookies: []string{"_gateway_session"},
		}
		up.ServeHTTP(w, r.WithContext(WithForward(r.Context(), f)))
	}))
	t.Cleanup(gw.Close)
	return gw
}

// rawRequest sends request bytes exactly as written, so header names keep
// their case and underscores, and returns what the upstream saw.
func rawRequest(t *testing.T, addr, req string) (int, seen) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(strings.ReplaceAll(req, "\n", "\r\n"))); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s seen
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, s
}

type proxyTest struct {
	name    string
	trusted bool // the gateway trusts the loopback test client as a proxy
	request string
	// wantURI is the request URI the upstream receives.
	wantURI string
	// wantHeader are headers the upstream must see with exactly these values;
	// a nil value means the header must be absent.
	wantHeader map[string][]string
	wantStatus int
}

func (tc proxyTest) run(t *testing.T, upstream string) {
	t.Helper()
	var trusted []netip.Prefix
	if tc.trusted {
		trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	gw := newGateway(t, upstream, trusted)
	status, got := rawRequest(t, gw.Listener.Addr().String(), tc.request)
	want := tc.wantStatus
	if want == 0 {
		want = http.StatusOK
	}
	if status != want {
		t.Fatalf("status = %d, want %d", status, want)
	}
	if status != http.StatusOK {
		return
	}
	if got.RequestURI != tc.wantURI {
		t.Errorf("upstream request URI = %q, want %q", got.RequestURI, tc.wantURI)
	}
	for name := range got.Header {
		f := string(foldInto(nil, name))
		if strings.HasPrefix(f, Namespace) && name != "X-Gateway-Context" {
			t.Errorf("upstream saw namespace header %q: %q", name, got.Header[name])
		}
		if strings.Contains(name, "_") {
			t.Errorf("upstream saw underscore header %q: %q", name, got.Header[name])
		}
	}
	for name, want := range tc.wantHeader {
		if v := got.Header[name]; !reflect.DeepEqual(v, want) {
			t.Errorf("upstream header %s = %q, want %q", name, v, want)
		}
	}
}

func TestUpstreamHygiene(t *testing.T) {
	up := newUpstream(t)
	spoofed := `X-Gateway-User: admin@corp.example
x-gateway-user: admin@corp.example
X_Gateway_User: admin@corp.example
X-GATEWAY_user: admin@corp.example
x_gateway-context: forged.jws.token
X-Gateway-Context: forged.jws.token
X_Forwarded_For: 10.0.0.1
X-Forwarded_Host: admin.corp.example
X-HTTP-Method-Override: DELETE
`
	tests := []proxyTest{
		{
			name: "untrusted client: spoofed identity, forwarding and cookie",
			request: "GET /customers/./42/%2e%2e//42/orders?q=1 HTTP/1.1\nHost: support.corp.example\n" + spoofed +
				"X-Forwarded-For: 10.0.0.1\nX-Forwarded-Uri: /public\nX-Real-IP: 10.0.0.1\n" +
				"Cookie: theme=dark; _gateway_session=s3cret; lang=en\nAccept: text/html\nConnection: close\n\n",
			wantURI: "/customers/42/orders?q=1",
			wantHeader: map[string][]string{
				"X-Gateway-Context":      {"signed.context.token"},
				"X-Forwarded-For":        {"127.0.0.1"},
				"X-Forwarded-Host":       {"support.corp.example"},
				"X-Forwarded-Proto":      {"http"},
				"X-Forwarded-Uri":        nil,
				"X-Real-Ip":              nil,
				"Cookie":                 {"theme=dark; lang=en"},
				"Accept":                 {"text/html"},
				"X-Http-Method-Override": nil,
			},
		},
		{
			name:    "trusted proxy: its X-Forwarded-For chain is kept, variants are not",
			trusted: true,
			request: "GET /a/b HTTP/1.1\nHost: support.corp.example\n" + spoofed +
				"X-Forwarded-For: 198.51.100.7\nX-Forwarded-Proto: https\nX-Forwarded-Host: support.corp.example\n" +
				"Cookie: _gateway_session=s3cret\nConnection: close\n\n",
			wantURI: "/a/b",
			wantHeader: map[string][]string{
				"X-Gateway-Context": {"signed.context.token"},
				"X-Forwarded-For":   {"198.51.100.7, 127.0.0.1"},
				"X-Forwarded-Proto": {"https"},
				"X-Forwarded-Host":  {"support.corp.example"},
				"X-Real-Ip":         {"198.51.100.7"},
				"Cookie":            nil,
			},
		},
		{
			// The gateway routed support.corp.example: a trusted balancer
			// that passes the client's X-Forwarded-Host on untouched (many
			// do) must not name another host to the upstream.
			name:    "trusted proxy: X-Forwarded-Host naming another host is replaced by the routed one",
			trusted: true,
			request: "GET /a HTTP/1.1\nHost: support.corp.example\nX-Forwarded-Host: admin.corp.example\nConnection: close\n\n",
			wantURI: "/a",
			wantHeader: map[string][]string{
				"X-Forwarded-Host": {"support.corp.example"},
			},
		},
		{
			// Rack reads the last element of a list.
			name:    "trusted proxy: an X-Forwarded-Host list is replaced by the routed host",
			trusted: true,
			request: "GET /a HTTP/1.1\nHost: support.corp.example\nX-Forwarded-Host: support.corp.example,admin.corp.example\nConnection: close\n\n",
			wantURI: "/a",
			wantHeader: map[string][]string{
				"X-Forwarded-Host": {"support.corp.example"},
			},
		},
		{
			name:    "trusted proxy: X-Forwarded-Host naming the routed host with a port is kept",
			trusted: true,
			request: "GET /a HTTP/1.1\nHost: support.corp.example\nX-Forwarded-Host: Support.Corp.Example:8443\nConnection: close\n\n",
			wantURI: "/a",
			wantHeader: map[string][]string{
				"X-Forwarded-Host": {"Support.Corp.Example:8443"},
			},
		},
		{
			name:    "trusted proxy: X-Real-IP is the client the gateway judged",
			trusted: true,
			request: "GET /a HTTP/1.1\nHost: h\nX-Forwarded-For: 198.51.100.7\nX-Real-IP: 10.9.9.9\nTrue-Client-IP: 10.9.9.9\n" +
				"CF-Connecting-IP: 10.9.9.9\nConnection: close\n\n",
			wantURI: "/a",
			wantHeader: map[string][]string{
				"X-Real-Ip": {"198.51.100.7"}, "True-Client-Ip": nil, "Cf-Connecting-Ip": nil,
			},
		},
		{
			name: "identity headers of other proxies and path overrides",
			request: "GET /a HTTP/1.1\nHost: h\nX-Forwarded-User: admin\nX_Forwarded_Email: admin@corp.example\n" +
				"X-Auth-Request-User: admin\nRemote-User: admin\nX-Remote-User: admin\nX-Webauth-User: admin\n" +
				"X-Original-URL: /admin\nX-Rewrite-URL: /admin\nX-Forwarded-Prefix: /admin\nX-Forwarded-Ssl: on\n" +
				"Connection: close\n\n",
			wantURI: "/a",
			wantHeader: map[string][]string{
				"X-Forwarded-User": nil, "X-Auth-Request-User": nil, "Remote-User": nil, "X-Remote-User": nil,
				"X-Webauth-User": nil, "X-Original-Url": nil, "X-Rewrite-Url": nil, "X-Forwarded-Prefix": nil,
				"X-Forwarded-Ssl": nil,
			},
		},
		{
			name: "cookie spellings the session reader accepts never go upstream",
			request: "GET /a HTTP/1.1\nHost: h\nCookie: a=1; _gateway_session =SID; _Gateway_Session=x; " +
				"_gateway_session_login_00ff=b; _gateway.session=p\nConnection: close\n\n",
			wantURI:    "/a",
			wantHeader: map[string][]string{"Cookie": {"a=1"}},
		},
		{
			name:       "h2c upgrade is refused before the upstream",
			request:    "GET /a HTTP/1.1\nHost: h\nConnection: Upgrade, HTTP2-Settings\nUpgrade: h2c\nHTTP2-Settings: AAMAAABk\n\n",
			wantStatus: http.StatusBadRequest,
		},
		{
			name:       "an upgrade the route does not allow is refused",
			request:    "GET /a HTTP/1.1\nHost: h\nConnection: upgrade\nUpgrade: spdy/3.1\n\n",
			wantStatus: http.StatusBadRequest,
		},
		{
			name:    "escapes arrive normalized",
			request: "GET /caf%c3%a9/%61dmin/a%3bb HTTP/1.1\nHost: h\nConnection: close\n\n",
			wantURI: "/caf%C3%A9/admin/a%3Bb",
		},
		{
			name:       "encoded slash never reaches the upstream",
			request:    "GET /public/..%2fadmin HTTP/1.1\nHost: h\nConnection: close\n\n",
			wantStatus: http.StatusBadRequest,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, up.URL) })
	}
}

func TestUpstreamWithBasePath(t *testing.T) {
	up := newUpstream(t)
	gw := newGateway(t, up.URL+"/tool", nil)
	_, got := rawRequest(t, gw.Listener.Addr().String(), "GET /x/../y%20z HTTP/1.1\nHost: h\nConnection: close\n\n")
	if want := "/tool/y%20z"; got.RequestURI != want {
		t.Fatalf("upstream request URI = %q, want %q", got.RequestURI, want)
	}
}

func TestUpstreamRefusesWithoutDecision(t *testing.T) {
	reached := false
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
	defer up.Close()
	u, err := NewUpstream(up.URL, false, http.DefaultTransport, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]*http.Request{
		"no Forward":          httptest.NewRequest("GET", "/", nil),
		"Forward not allowed": httptest.NewRequest("GET", "/", nil).WithContext(WithForward(context.Background(), &Forward{Path: "/"})),
	} {
		rec := httptest.NewRecorder()
		u.ServeHTTP(rec, req)
		if rec.Code != http.StatusInternalServerError || reached {
			t.Fatalf("%s: status %d, upstream reached %v; want 500 and not reached", name, rec.Code, reached)
		}
	}
}

func TestNewUpstreamErrors(t *testing.T) {
	for _, target := range []string{"", "/relative", "ftp://h/", "http://", "://bad"} {
		if _, err := NewUpstream(target, false, nil, nil); err == nil ||
			!strings.HasPrefix(err.Error(), "proxy: expected an absolute http(s) upstream URL, got ") {
			t.Errorf("NewUpstream(%q) error = %v", target, err)
		}
	}
}

// TestUpstreamResponseHygiene: the upstream cannot set the gateway's
// cookies in the browser, nor switch protocols unasked.
func TestUpstreamResponseHygiene(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cookies":
			for _, c := range []string{"_gateway_session=EVIL; Path=/; HttpOnly", " _gateway_session =EVIL2", "=_gateway_session=EVIL3",
				"_GATEWAY_SESSION=EVIL4", "_gateway_session_login_00ff=EVIL5", "theme=dark; Path=/"} {
				w.Header().Add("Set-Cookie", c)
			}
			w.Header().Add("Set-Cookie2", `_gateway_session="EVIL6"; Version=1`)
		case "/switch":
			// A 101 to a request that asked for no upgrade.
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			rw.WriteString("HTTP/1.1 101 Switching Protocols\r\n\r\n")
			rw.Flush()
			time.Sleep(100 * time.Millisecond)
		}
	}))
	t.Cleanup(up.Close)
	gw := newGateway(t, up.URL, nil)
	resp, err := http.Get(gw.URL + "/cookies")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header["Set-Cookie"]; !reflect.DeepEqual(got, []string{"theme=dark; Path=/"}) {
		t.Errorf("Set-Cookie = %q, want only theme", got)
	}
	if got := resp.Header["Set-Cookie2"]; got != nil {
		t.Errorf("Set-Cookie2 = %q, want none", got)
	}
	status, _ := rawRequest(t, gw.Listener.Addr().String(), "GET /switch HTTP/1.1\nHost: h\nConnection: close\n\n")
	if status != http.StatusBadGateway {
		t.Errorf("unasked 101: status %d, want 502", status)
	}
}

// TestUpstreamSetCookieOutsideTheHeader: an upstream cannot set the
// gateway's cookies through the parts of a response modifyResponse does
// not see: an informational response (ReverseProxy relays 1xx from its
// Got1xxResponse hook) and the trailer (read after the body), announced or
// not, on either transport. A 100 Continue is not relayed at all; other
// cookies and the 103's Link pass.
func TestUpstreamSetCookieOutsideTheHeader(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusContinue) // unasked: the request has no Expect
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.Header()["Set-Cookie"] = []string{"_gateway_session=EVIL-103; Path=/", "theme=dark"}
		w.WriteHeader(http.StatusEarlyHints)
		clear(w.Header())
		if r.URL.Path == "/announced" {
			w.Header().Set("Trailer", "Set-Cookie")
		}
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "body")
		w.(http.Flusher).Flush() // chunked: the trailer follows
		key := "Set-Cookie"
		if r.URL.Path != "/announced" {
			key = http.TrailerPrefix + key
		}
		w.Header()[key] = []string{" _gateway_session =EVIL-TRAILER", "lang=en"}
	}))
	t.Cleanup(up.Close)
	for _, kind := range []string{"direct", "std"} {
		std, err := NewTransport(TransportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(std.CloseIdleConnections)
		var tr http.RoundTripper = std
		if kind == "direct" {
			d := NewDirectTransport(std, TransportOptions{})
			t.Cleanup(d.Close)
			tr = d
		}
		u, err := NewUpstream(up.URL, false, tr, func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, err.Error(), http.StatusBadGateway)
		})
		if err != nil {
			t.Fatal(err)
		}
		gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u.ServeHTTP(w, r.WithContext(WithForward(r.Context(), &Forward{Allowed: true, Path: r.URL.Path, StripCookies: []string{"_gateway_session"}})))
		}))
		t.Cleanup(gw.Close)
		for _, path := range []string{"/announced", "/unannounced"} {
			t.Run(kind+path, func(t *testing.T) {
				var interim []string
				trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
					interim = append(interim, fmt.Sprintf("%d Link=%q Set-Cookie=%q", code, h["Link"], h["Set-Cookie"]))
					return nil
				}}
				req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, gw.URL+path, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := []string{`103 Link=["</app.css>; rel=preload"] Set-Cookie=["theme=dark"]`}
				if !reflect.DeepEqual(interim, want) {
					t.Errorf("informational responses: expected %q, got %q", want, interim)
				}
				if string(b) != "body" || resp.Header["Set-Cookie"] != nil {
					t.Errorf("final response: expected the body and no Set-Cookie, got %q and %q", b, resp.Header["Set-Cookie"])
				}
				if got := resp.Trailer["Set-Cookie"]; !reflect.DeepEqual(got, []string{"lang=en"}) {
					t.Errorf("trailer Set-Cookie: expected only lang=en, got %q", got)
				}
			})
		}
	}
}
