package forward

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// Traefik and Envoy are not packaged by Debian, so their side of the
// contract is played here by small Go front proxies that do what their
// documentation says, and the same scenarios as nginx's and Caddy's run
// through them. What is real: the gateway, the HTTP exchanges with it, and
// for gRPC the official ext_authz protos (go-control-plane v1.40.0) over a
// real gRPC client and server.

// front is an ingress built in Go: a host other than the tool's is not
// found, /.gateway/auth* is not found (only the ingress asks it), /.gateway/ and /.well-known/gateway/ go to the gateway,
// everything else is authorized by check and then proxied to the tool.
type front struct {
	gateway, tool *httputil.ReverseProxy
	// check decides r: true to forward it (r's headers already rewritten),
	// false when it wrote the denial to w.
	check func(w http.ResponseWriter, r *http.Request) bool
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	switch p := r.URL.Path; {
	case host != "127.0.0.1":
		// The tool's router matches its host only (Traefik's Host rule,
		// an Envoy virtual host's domains), as documented.
		http.NotFound(w, r)
	case strings.HasPrefix(p, "/.gateway/auth"):
		http.NotFound(w, r)
	case strings.HasPrefix(p, "/.gateway/"), strings.HasPrefix(p, "/.well-known/gateway/"):
		f.gateway.ServeHTTP(w, r)
	default:
		if f.check(w, r) {
			f.tool.ServeHTTP(w, r)
		}
	}
}

func reverseProxy(target string) *httputil.ReverseProxy {
	u, _ := url.Parse(target)
	return &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host
		pr.SetXForwarded() // X-Forwarded-For is the client's address
	}}
}

func startFront(t *testing.T, port int, g *gateway, up *upstream, check func(http.ResponseWriter, *http.Request) bool) string {
	ln, err := takeListener(port)
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: &front{gateway: reverseProxy(g.URL), tool: reverseProxy(up.URL), check: check}, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Close() })
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

func clientIP(r *http.Request) string {
	h, _, _ := net.SplitHostPort(r.RemoteAddr)
	return h
}

// copyAnswer writes the authorizer's answer to the client.
func copyAnswer(w http.ResponseWriter, resp *http.Response) {
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

var noRedirects = &http.Client{Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// startTraefik plays Traefik's ForwardAuth middleware
// (doc.traefik.io/traefik/middlewares/http/forwardauth/): a GET to address
// with the client's headers and X-Forwarded-Method, -Proto, -Host, -Uri,
// -For; a 2xx answer lets the request through with authResponseHeaders
// copied onto it ("replacing any existing conflicting headers"); any other
// answer is returned to the client. The entry point drops the client's
// X-Forwarded-* headers (forwardedHeaders, untrusted clients:
// doc.traefik.io/traefik/routing/entrypoints/#forwarded-headers), and the
// documented headers middleware sets or removes its customRequestHeaders
// (doc.traefik.io/traefik/middlewares/http/headers/).
func startTraefik(t *testing.T, port int, g *gateway, up *upstream) *ingress {
	path, authResponseHeaders := traefikForwardAuth(t) // as docs/forward-auth.md configures it
	custom := traefikRequestHeaders(t)
	address := g.URL + path
	check := func(w http.ResponseWriter, r *http.Request) bool {
		// The headers middleware: an empty value removes the header.
		for _, kv := range custom {
			if kv[1] == "" {
				r.Header.Del(kv[0])
			} else {
				r.Header.Set(kv[0], kv[1])
			}
		}
		for k := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-forwarded-") || strings.EqualFold(k, "X-Real-Ip") {
				r.Header.Del(k)
			}
		}
		fr, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, address, nil)
		for k, v := range r.Header {
			fr.Header[k] = v
		}
		fr.Header.Set("X-Forwarded-Method", r.Method)
		fr.Header.Set("X-Forwarded-Proto", "http")
		fr.Header.Set("X-Forwarded-Host", r.Host)
		fr.Header.Set("X-Forwarded-Uri", r.URL.RequestURI())
		fr.Header.Set("X-Forwarded-For", clientIP(r))
		resp, err := noRedirects.Do(fr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return false
		}
		defer resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			copyAnswer(w, resp)
			return false
		}
		for _, h := range authResponseHeaders {
			r.Header.Del(h)
			if v := resp.Header.Values(h); len(v) > 0 {
				r.Header[http.CanonicalHeaderKey(h)] = v
			}
		}
		return true
	}
	return &ingress{name: "traefik", URL: startFront(t, port, g, up, check), spoof: []string{"X-Forwarded-Uri", "X-Forwarded-Method"}}
}

// startEnvoyHTTP plays Envoy's ext_authz filter with an HTTP service
// (Envoy v3 API, extensions.filters.http.ext_authz.v3): the check request
// has the original method, Host and path_prefix + path, Content-Length 0,
// and the headers allowed_headers matches (Host, Method, Path,
// Content-Length and Authorization always); a 200 lets the request through
// with allowed_upstream_headers set (overriding) and the headers named in
// x-envoy-auth-headers-to-remove removed; any other answer goes to the
// client. The check request's Host is the original request's (Envoy does
// not rewrite it: envoyproxy/envoy#34175, istio/istio#43836).
// use_remote_address: X-Forwarded-For is the client's address.
func startEnvoyHTTP(t *testing.T, port int, g *gateway, up *upstream) *ingress {
	allowed := func(name string) bool {
		n := strings.ToLower(name)
		switch n {
		case "cookie", "accept", "authorization", "x-forwarded-for", "x-forwarded-proto", "x-http-method-override",
			"x-forwarded-host", "x-forwarded-port", "x-real-ip", "x-client-ip", "forwarded", "upgrade":
			return true
		}
		return strings.HasPrefix(n, "x-gateway-") || strings.HasPrefix(n, "x_gateway_")
	}
	upstreamHeaders := []string{"x-gateway-context", "x-gateway-request-id", "cookie"}
	check := func(w http.ResponseWriter, r *http.Request) bool {
		r.Header.Set("X-Forwarded-For", clientIP(r))
		r.Header.Set("X-Forwarded-Proto", "http")
		cr, _ := http.NewRequestWithContext(r.Context(), r.Method, g.URL+"/.gateway/auth/envoy"+r.URL.RequestURI(), http.NoBody)
		cr.Host = r.Host
		for k, v := range r.Header {
			if allowed(k) {
				cr.Header[k] = v
			}
		}
		resp, err := noRedirects.Do(cr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return false
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			copyAnswer(w, resp)
			return false
		}
		for _, h := range upstreamHeaders {
			if v := resp.Header.Get(h); v != "" {
				r.Header.Set(h, v)
			}
		}
		for _, h := range strings.Split(resp.Header.Get("X-Envoy-Auth-Headers-To-Remove"), ",") {
			if h = strings.TrimSpace(h); h != "" {
				delete(r.Header, h)
				r.Header.Del(h)
				for k := range r.Header {
					if strings.EqualFold(k, h) {
						delete(r.Header, k)
					}
				}
			}
		}
		return true
	}
	return &ingress{name: "envoy-http", URL: startFront(t, port, g, up, check), spoof: []string{"X-Forwarded-Uri", "X-Original-URI"}, removes: true}
}

// startEnvoyGRPC plays Envoy's ext_authz filter with a gRPC service: a
// CheckRequest (official protos) with the downstream address in
// source.address and every request header (lower-case, pseudo-headers
// included) over a real gRPC connection to the gateway's Authorization
// service; OK applies headers (append_action) and headers_to_remove;
// DeniedHttpResponse goes to the client with its status, headers and body.
func startEnvoyGRPC(t *testing.T, port int, g *gateway, up *upstream) *ingress {
	conn, err := grpc.NewClient(g.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	authz := authv3.NewAuthorizationClient(conn)
	check := func(w http.ResponseWriter, r *http.Request) bool {
		h := map[string]string{":authority": r.Host, ":method": r.Method, ":path": r.URL.RequestURI(), ":scheme": "http"}
		for k, v := range r.Header {
			h[strings.ToLower(k)] = strings.Join(v, ",")
		}
		ip, p, _ := net.SplitHostPort(r.RemoteAddr)
		pn, _ := strconv.Atoi(p)
		resp, err := authz.Check(r.Context(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(pn)}}}}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: r.Method, Host: r.Host, Path: r.URL.RequestURI(), Scheme: "http", Protocol: "HTTP/1.1", Headers: h}},
		}})
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden) // failure_mode_allow: false
			return false
		}
		if codes.Code(resp.GetStatus().GetCode()) != codes.OK {
			d := resp.GetDeniedResponse()
			for _, o := range d.GetHeaders() {
				if o.GetAppendAction() == corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
					w.Header().Set(o.GetHeader().GetKey(), o.GetHeader().GetValue())
				} else {
					w.Header().Add(o.GetHeader().GetKey(), o.GetHeader().GetValue())
				}
			}
			code := int(d.GetStatus().GetCode())
			if code == 0 {
				code = http.StatusForbidden
			}
			w.WriteHeader(code)
			_, _ = io.Copy(w, bytes.NewBufferString(d.GetBody()))
			return false
		}
		ok := resp.GetOkResponse()
		for _, name := range ok.GetHeadersToRemove() {
			for k := range r.Header {
				if strings.EqualFold(k, name) {
					delete(r.Header, k)
				}
			}
		}
		for _, o := range ok.GetHeaders() {
			if o.GetAppendAction() == corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
				r.Header.Set(o.GetHeader().GetKey(), o.GetHeader().GetValue())
			} else {
				r.Header.Add(o.GetHeader().GetKey(), o.GetHeader().GetValue())
			}
		}
		return true
	}
	return &ingress{name: "envoy-grpc", URL: startFront(t, port, g, up, check), spoof: []string{"X-Forwarded-Uri", "X-Original-URI"}, removes: true}
}

func TestTraefikContract(t *testing.T) { testIngress(t, "forward-auth", startTraefik) }
func TestEnvoyHTTPContract(t *testing.T) {
	testIngress(t, "ext-authz-http", startEnvoyHTTP)
}
func TestEnvoyGRPCContract(t *testing.T) {
	testIngress(t, "ext-authz-grpc", startEnvoyGRPC)
}

// serveGRPC serves the gateway's ext_authz gRPC service on loopback.
func (g *gateway) serveGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := g.srv.GRPCServer()
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	g.grpcAddr = ln.Addr().String()
}
