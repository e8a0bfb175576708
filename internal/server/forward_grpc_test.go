package server

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// grpcClient serves g's ext_authz service on a loopback listener and
// returns a real gRPC client of it (what Envoy's ext_authz filter is).
func grpcClient(t testing.TB, g *fwdGateway) authv3.AuthorizationClient {
	t.Helper()
	errc := make(chan error, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	stop, err := g.srv.listenGRPC(addr, errc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

// checkRequest is what Envoy sends (Envoy v3 API, AttributeContext): the
// downstream peer in source.address, the request in request.http with
// lower-case header names (pseudo-headers included, as Envoy sends them).
func checkRequest(source, method, host, path string, headers map[string]string) *authv3.CheckRequest {
	h := map[string]string{":authority": host, ":method": method, ":path": path}
	for k, v := range headers {
		h[k] = v
	}
	ip, port, _ := net.SplitHostPort(source)
	p := 0
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Host: host, Path: path, Scheme: "https", Protocol: "HTTP/1.1", Headers: h}},
	}}
}

func headerValue(opts []*corev3.HeaderValueOption, name string) (string, corev3.HeaderValueOption_HeaderAppendAction, bool) {
	for _, o := range opts {
		if o.GetHeader().GetKey() == name {
			return o.GetHeader().GetValue(), o.GetAppendAction(), true
		}
	}
	return "", 0, false
}

func TestExtAuthzGRPC(t *testing.T) {
	// 127.0.0.1 (the gRPC peer, playing Envoy) and 10.0.0.0/8 (a load
	// balancer in front of Envoy) are trusted.
	g := newFwdGateway(t, "127.0.0.0/8, "+trustedIn)
	client := grpcClient(t, g)
	ann := g.session("ann@corp.example")
	cat := g.session("cat@corp.example", "contractors")
	cookie := func(c string) string { return "_gateway_session=" + c + "; theme=dark" }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("signed in: OK with the token set and the client's copies removed", func(t *testing.T) {
		resp, err := client.Check(ctx, checkRequest("198.51.100.7:5555", "GET", "tool.example", "/reports?q=1", map[string]string{
			"cookie": cookie(ann.Value), "x-gateway-context": "forged", "x_gateway_context": "forged", "x-gateway-user": "root",
			"x-http-method-override": "DELETE"}))
		if err != nil {
			t.Fatal(err)
		}
		if codes.Code(resp.GetStatus().GetCode()) != codes.OK || resp.GetOkResponse() == nil {
			t.Fatalf("not OK: %v", resp)
		}
		ok := resp.GetOkResponse()
		tok, action, found := headerValue(ok.GetHeaders(), "x-gateway-context")
		if !found || action != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Fatalf("x-gateway-context not set to overwrite: %v", ok.GetHeaders())
		}
		cl, err := g.verify(tok)
		if err != nil {
			t.Fatalf("token does not verify: %v", err)
		}
		if cl.Email != "ann@corp.example" || cl.SourceIP != "198.51.100.7" {
			t.Fatalf("claims %+v", cl)
		}
		if _, _, found := headerValue(ok.GetHeaders(), "x-gateway-request-id"); !found {
			t.Fatal("no request ID")
		}
		rm := strings.Join(ok.GetHeadersToRemove(), ",")
		for _, want := range []string{"x_gateway_context", "x-gateway-user", "x-http-method-override"} {
			if !strings.Contains(rm, want) {
				t.Errorf("headers_to_remove %q lacks %s", rm, want)
			}
		}
		if strings.Contains(","+rm+",", ",x-gateway-context,") {
			t.Errorf("headers_to_remove %q removes the header the gateway sets", rm)
		}
	})
	t.Run("a trusted balancer before Envoy: the client from X-Forwarded-For", func(t *testing.T) {
		resp, err := client.Check(ctx, checkRequest("10.0.0.3:5555", "GET", "tool.example", "/reports", map[string]string{
			"cookie": cookie(ann.Value), "x-forwarded-for": "203.0.113.50, 10.0.0.3"}))
		if err != nil {
			t.Fatal(err)
		}
		tok, _, _ := headerValue(resp.GetOkResponse().GetHeaders(), "x-gateway-context")
		cl, err := g.verify(tok)
		if err != nil || cl.SourceIP != "203.0.113.50" {
			t.Fatalf("claims %+v, %v; want source 203.0.113.50", cl, err)
		}
	})
	t.Run("an untrusted source's X-Forwarded-For is not believed", func(t *testing.T) {
		resp, err := client.Check(ctx, checkRequest("198.51.100.7:5555", "GET", "tool.example", "/reports", map[string]string{
			"cookie": cookie(ann.Value), "x-forwarded-for": "10.9.9.9"}))
		if err != nil {
			t.Fatal(err)
		}
		tok, _, _ := headerValue(resp.GetOkResponse().GetHeaders(), "x-gateway-context")
		cl, err := g.verify(tok)
		if err != nil || cl.SourceIP != "198.51.100.7" {
			t.Fatalf("claims %+v, %v; want source 198.51.100.7", cl, err)
		}
	})
	t.Run("signed out browser: denied with the redirect to sign in", func(t *testing.T) {
		resp, err := client.Check(ctx, checkRequest("198.51.100.7:5555", "GET", "tool.example", "/reports", nil))
		if err != nil {
			t.Fatal(err)
		}
		d := resp.GetDeniedResponse()
		if codes.Code(resp.GetStatus().GetCode()) != codes.Unauthenticated || d.GetStatus().GetCode() != 302 {
			t.Fatalf("want Unauthenticated with 302, got %v", resp)
		}
		if loc, _, _ := headerValue(d.GetHeaders(), "location"); !strings.HasPrefix(loc, g.idp.AuthorizationEndpoint()) {
			t.Fatalf("location %q is not the provider's", loc)
		}
		if c, _, _ := headerValue(d.GetHeaders(), "set-cookie"); !strings.Contains(c, "HttpOnly") {
			t.Fatalf("no binding cookie: %v", d.GetHeaders())
		}
	})
	t.Run("deny rule: denied with the page", func(t *testing.T) {
		resp, err := client.Check(ctx, checkRequest("198.51.100.7:5555", "GET", "tool.example", "/reports", map[string]string{"cookie": cookie(cat.Value)}))
		if err != nil {
			t.Fatal(err)
		}
		d := resp.GetDeniedResponse()
		if codes.Code(resp.GetStatus().GetCode()) != codes.PermissionDenied || d.GetStatus().GetCode() != 403 ||
			!strings.Contains(d.GetBody(), "A deny rule of tool excludes you") {
			t.Fatalf("want PermissionDenied, 403 and the page, got %v", resp)
		}
		if ct, _, _ := headerValue(d.GetHeaders(), "content-type"); !strings.HasPrefix(ct, "text/html") {
			t.Fatalf("content-type %q", ct)
		}
	})
	t.Run("API client signed out: 401 JSON", func(t *testing.T) {
		resp, err := client.Check(ctx, checkRequest("198.51.100.7:5555", "POST", "tool.example", "/reports", map[string]string{"accept": "application/json"}))
		if err != nil {
			t.Fatal(err)
		}
		d := resp.GetDeniedResponse()
		if d.GetStatus().GetCode() != 401 || !strings.Contains(d.GetBody(), `"sign-in-required"`) {
			t.Fatalf("want 401 JSON, got %v", resp)
		}
	})
	t.Run("malformed path: denied", func(t *testing.T) {
		resp, err := client.Check(ctx, checkRequest("198.51.100.7:5555", "GET", "tool.example", "/status/../reports", map[string]string{"cookie": cookie(ann.Value)}))
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetDeniedResponse().GetStatus().GetCode() != 400 {
			t.Fatalf("want 400, got %v", resp)
		}
	})
	recs := g.records()
	if len(recs) != 7 {
		t.Fatalf("%d audit records, want 7: %+v", len(recs), recs)
	}
	for _, r := range recs {
		if r.Transport != "ext-authz-grpc" {
			t.Fatalf("record without the gRPC transport: %+v", r)
		}
	}
}

// The gRPC service agrees with the HTTP one (TestForwardAuthCredentials):
// Cookie set to what the tool may receive, never Authorization; the
// emptied credential headers in headers_to_remove.
func TestExtAuthzGRPCCredentials(t *testing.T) {
	g := newFwdGateway(t, "127.0.0.0/8", bearerRoute)
	client := grpcClient(t, g)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range credCases {
		t.Run(c.name, func(t *testing.T) {
			h := map[string]string{}
			for k, v := range c.credentials(g) {
				h[strings.ToLower(k)] = strings.Join(v, ",")
			}
			resp, err := client.Check(ctx, checkRequest("198.51.100.7:5555", "GET", "tool.example", c.path, h))
			if err != nil {
				t.Fatal(err)
			}
			ok := resp.GetOkResponse()
			if codes.Code(resp.GetStatus().GetCode()) != codes.OK || ok == nil {
				t.Fatalf("not OK: %v", resp)
			}
			if _, _, found := headerValue(ok.GetHeaders(), "x-gateway-context"); !found {
				t.Fatalf("no context token: %v", ok.GetHeaders())
			}
			if v, _, found := headerValue(ok.GetHeaders(), "authorization"); found {
				t.Errorf("authorization set to %q: the client's is forwarded or removed, never set", v)
			}
			v, action, found := headerValue(ok.GetHeaders(), "cookie")
			switch {
			case c.wantCookie == "" && found:
				t.Errorf("cookie set to %q, want it removed or left alone", v)
			case c.wantCookie != "" && (v != c.wantCookie || action != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD):
				t.Errorf("cookie %q (%v), want %q overwriting", v, action, c.wantCookie)
			}
			removed := slices.Sorted(slices.Values(ok.GetHeadersToRemove()))
			if !slices.Equal(removed, c.wantRemoved) {
				t.Errorf("headers_to_remove %q, want %q", removed, c.wantRemoved)
			}
		})
	}
}

// Envoy's own address must be trusted before anything it says is believed.
func TestExtAuthzGRPCUntrustedPeer(t *testing.T) {
	g := newFwdGateway(t, trustedIn) // 127.0.0.1 is not trusted
	client := grpcClient(t, g)
	ann := g.session("ann@corp.example")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := client.Check(ctx, checkRequest("10.0.0.3:5555", "GET", "tool.example", "/reports",
		map[string]string{"cookie": "_gateway_session=" + ann.Value}))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetOkResponse() != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 403 {
		t.Fatalf("want a 403 denial, got %v", resp)
	}
	recs := g.records()
	if len(recs) != 1 || recs[0].Decision != "deny" || recs[0].SourceIP != "127.0.0.1" || !strings.Contains(recs[0].Detail, "not in trusted_proxies") {
		t.Fatalf("audit %+v", recs)
	}
}

// A CheckRequest whose source is not an IP socket address (none, a pipe:
// Envoy listening on a Unix socket, or an address that does not parse)
// names no client: it is refused, never judged with an unknown address, on
// which a deny rule on source addresses would not match.
func TestExtAuthzGRPCWithoutClientAddress(t *testing.T) {
	g := newFwdGateway(t, "127.0.0.0/8, "+trustedIn, `  - name: internal
    host: tool.example
    path: /internal
    upstream: http://127.0.0.1:1
    rules:
      allow: [{domains: [corp.example]}]
      deny: [{source_cidrs: [203.0.113.0/24]}]
`)
	client := grpcClient(t, g)
	ann := g.session("ann@corp.example")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := func() *authv3.CheckRequest {
		return checkRequest("203.0.113.9:5555", "GET", "tool.example", "/internal",
			map[string]string{"cookie": "_gateway_session=" + ann.Value, "x-forwarded-for": "203.0.113.9"})
	}
	// The control: the client's address is known and the deny rule holds.
	resp, err := client.Check(ctx, req())
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetOkResponse() != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 403 {
		t.Fatalf("control: want the deny rule's 403, got %v", resp)
	}
	for _, c := range []struct {
		name string
		mod  func(*authv3.CheckRequest)
	}{
		{"no source", func(r *authv3.CheckRequest) { r.Attributes.Source = nil }},
		{"no address", func(r *authv3.CheckRequest) { r.Attributes.Source.Address = nil }},
		{"pipe", func(r *authv3.CheckRequest) {
			r.Attributes.Source.Address = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/run/envoy/ingress.sock"}}}
		}},
		{"not an IP", func(r *authv3.CheckRequest) {
			r.Attributes.Source.Address.GetSocketAddress().Address = "client.example"
		}},
		{"empty IP", func(r *authv3.CheckRequest) { r.Attributes.Source.Address.GetSocketAddress().Address = "" }},
	} {
		r := req()
		c.mod(r)
		resp, err := client.Check(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetOkResponse() != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 400 ||
			!strings.Contains(resp.GetDeniedResponse().GetBody(), "client") {
			t.Errorf("%s: want a 400 denial that names the missing client address, got %v", c.name, resp.GetStatus())
		}
	}
	recs := g.records()
	if len(recs) != 6 {
		t.Fatalf("%d audit records, want 6: %+v", len(recs), recs)
	}
	for _, rec := range recs[1:] {
		if rec.Decision != "deny" || !slices.Equal(rec.Reasons, []string{"bad-request"}) ||
			rec.SourceIP != "127.0.0.1" || !strings.Contains(rec.Detail, "source.address") {
			t.Errorf("audit %+v", rec)
		}
	}
}

// gateway serve with forward_auth.grpc_address serves the ext_authz gRPC
// service beside the public and admin listeners, until its context ends.
func TestServeGRPCListener(t *testing.T) {
	free := func() string { return freeLoopback(t) }
	// Ports picked free may be taken by another process before Serve binds
	// them: try again with new ones.
	var (
		grpcAddr string
		cancel   context.CancelFunc
		done     chan error
	)
	for attempt := 0; ; attempt++ {
		grpcAddr = free()
		cfg, _ := fwdConfigFile(t, "127.0.0.0/8", fmt.Sprintf("listen: {address: %q}\nadmin: {address: %q}\naudit: {file: %q}\n",
			free(), free(), filepath.Join(t.TempDir(), "audit.log")))
		cfg.ForwardAuth.GRPCAddress = grpcAddr
		var ctx context.Context
		ctx, cancel = context.WithCancel(context.Background())
		ready := make(chan struct{})
		done = make(chan error, 1)
		go func() { done <- Serve(ctx, cfg, Options{}, func() { close(ready) }) }()
		var err error
		select {
		case <-ready:
		case err = <-done:
		}
		if err == nil {
			break
		}
		cancel()
		if !strings.Contains(err.Error(), "address already in use") || attempt == 4 {
			t.Fatalf("Serve: %v", err)
		}
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	resp, err := authv3.NewAuthorizationClient(conn).Check(cctx, checkRequest("198.51.100.7:5555", "GET", "tool.example", "/status", nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetOkResponse() == nil {
		t.Fatalf("the public route was not allowed: %v", resp)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v after its context ended", err)
	}
}
