package server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"

	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/proxy"
)

// Envoy's ext_authz gRPC service (envoy.service.auth.v3.Authorization/Check,
// Envoy v3 API, go-control-plane v1.40.0): the same decision as every other
// transport. The CheckRequest's HTTP attributes become the original request
// and run through serveOriginal with an in-memory response; that response
// becomes the CheckResponse (OK with headers to set and to remove upstream,
// or DeniedHttpResponse with the page, its status and headers).

// maxDeniedBody bounds the page sent back in a DeniedHttpResponse.
const maxDeniedBody = 256 << 10

// GRPCServer returns a gRPC server that serves Envoy's ext_authz
// Authorization service with this gateway's decisions.
func (s *Server) GRPCServer() *grpc.Server {
	g := grpc.NewServer(grpc.MaxRecvMsgSize(1 << 20))
	authv3.RegisterAuthorizationServer(g, authz{s: s})
	return g
}

type authz struct {
	authv3.UnimplementedAuthorizationServer
	s *Server
}

// Check implements authv3.AuthorizationServer. It never returns an error:
// every failure is a denial in the response (fail closed), so that Envoy
// shows the gateway's page rather than its own.
func (a authz) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return a.s.check(ctx, req), nil
}

func (s *Server) check(ctx context.Context, req *authv3.CheckRequest) *authv3.CheckResponse {
	rt := s.rt.Load()
	q := &request{rt: rt, id: newRequestID(), mode: modeEnvoyGRPC}
	hr := req.GetAttributes().GetRequest().GetHttp()
	r := &http.Request{
		Method: hr.GetMethod(), URL: &url.URL{Path: forwardAuthPath}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: headersOf(hr), Body: http.NoBody, Host: hr.GetHost(), RequestURI: forwardAuthPath,
		RemoteAddr: sourceAddr(req.GetAttributes().GetSource().GetAddress()),
	}
	ctx = context.WithValue(ctx, reqKey{}, q)
	r = r.WithContext(proxy.WithForward(ctx, &q.client))
	q.host, q.path = hostOnly(r.Host), forwardAuthPath
	rec := &recorder{header: http.Header{}}
	var envoy netip.Addr
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		envoy = addrOf(p.Addr.String())
	}
	switch {
	case !rt.cfg.ForwardAuth.Enabled:
		q.client.ClientIP = envoy
		s.forwardRefused(rec, r, q, http.StatusForbidden, policy.ReasonBadRequest, "forward-auth mode is not enabled",
			pageData{Title: "Forbidden", Message: "Forward-auth mode is not enabled on this gateway (forward_auth.enabled)."})
	case !envoy.IsValid() || !inNets(rt.cfg.TrustedNets(), envoy):
		// Only a trusted proxy's attributes (source address, headers,
		// path) are believed.
		q.client.ClientIP = envoy
		s.forwardRefused(rec, r, q, http.StatusForbidden, policy.ReasonBadRequest,
			fmt.Sprintf("ext_authz check from %s, which is not in trusted_proxies (claimed %s %s%s)", envoy, hr.GetMethod(), truncate(hr.GetHost(), 100), truncate(hr.GetPath(), 200)),
			pageData{Title: "Forbidden", Message: "This service answers only the gateway's trusted proxies (trusted_proxies)."})
	case !addrOf(r.RemoteAddr).IsValid():
		// No client: a source that is no IP socket address (none, or a
		// pipe when Envoy listens on a Unix socket). Judged with an
		// unknown address, a deny rule on source addresses would not match.
		q.client.ClientIP = envoy
		s.forwardRefused(rec, r, q, http.StatusBadRequest, policy.ReasonBadRequest,
			fmt.Sprintf("ext_authz check without the client's IP address in attributes.source.address (got %s)", describeSource(req.GetAttributes().GetSource().GetAddress())),
			pageData{Title: "Bad request", Message: "The proxy that asked about this request did not say which address the client connects from, so the gateway cannot judge it.",
				Next: "Tell the gateway's operators (their Envoy must listen on TCP, or pass the client's address) and quote the request ID."})
	default:
		// The client is the source Envoy saw, or, when that is itself a
		// trusted proxy, the right-most untrusted X-Forwarded-For address.
		q.client.ClientIP, q.client.TrustedPeer, q.clientErr = proxy.ClientAddr(r, rt.cfg.TrustedNets())
		o := original{method: hr.GetMethod(), host: hr.GetHost(), uri: hr.GetPath()}
		if q.clientErr != nil {
			s.forwardedForRefused(rec, r, q)
			break
		}
		if err := o.validate(); err != nil {
			s.forwardRefused(rec, r, q, http.StatusBadRequest, policy.ReasonBadRequest, err.Error(),
				pageData{Title: "Bad request", Message: "The proxy that asked about this request described it incompletely: " + err.Error() + "."})
			break
		}
		s.serveOriginal(rec, r, q, o)
	}
	if !q.forwardAllowed && rec.code >= 200 && rec.code < 300 {
		rec.code = http.StatusForbidden // only allowForwarded allows (forwardGuard)
	}
	return rec.checkResponse(r.Header, rt)
}

// headersOf returns the original request's headers from the attributes
// (the merged map, or the raw list with encode_raw_headers), without
// pseudo-headers.
func headersOf(hr *authv3.AttributeContext_HttpRequest) http.Header {
	h := http.Header{}
	if raw := hr.GetHeaderMap().GetHeaders(); len(raw) > 0 {
		for _, kv := range raw {
			if !strings.HasPrefix(kv.GetKey(), ":") {
				h.Add(kv.GetKey(), string(kv.GetRawValue()))
			}
		}
		return h
	}
	for k, v := range hr.GetHeaders() {
		if !strings.HasPrefix(k, ":") {
			h.Add(k, v)
		}
	}
	return h
}

// sourceAddr is "ip:port" of an Envoy socket address ("" when absent).
func sourceAddr(a *corev3.Address) string {
	sa := a.GetSocketAddress()
	if sa == nil {
		return ""
	}
	return net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
}

// describeSource says what an Envoy source address is, for the record of a
// check refused for naming no client IP.
func describeSource(a *corev3.Address) string {
	switch {
	case a == nil:
		return "none"
	case a.GetPipe() != nil:
		return "a pipe"
	case a.GetSocketAddress() != nil:
		return fmt.Sprintf("%q", truncate(a.GetSocketAddress().GetAddress(), 100))
	}
	return "an address of another kind"
}

func addrOf(hostport string) netip.Addr {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	return netip.Addr{}
}

func inNets(nets []netip.Prefix, a netip.Addr) bool {
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// recorder is the in-memory response a gRPC check is answered into.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	if room := maxDeniedBody - r.body.Len(); room < len(b) {
		r.body.Write(b[:max(room, 0)])
		return len(b), nil
	}
	return r.body.Write(b)
}

// checkResponse turns the recorded answer into Envoy's CheckResponse. An
// allow sets the context token and request ID upstream (overwriting any
// copy), removes every other header of the client's that only the gateway
// may set (in) and every credential the gateway consumed; a deny carries
// the gateway's status, headers and page.
func (r *recorder) checkResponse(in http.Header, rt *runtime) *authv3.CheckResponse {
	code := r.code
	if code == 0 {
		code = http.StatusInternalServerError // nothing answered: fail closed
	}
	if code == http.StatusOK {
		set := http.Header{}
		for _, name := range []string{rt.tokenHeader, RequestIDHeader} {
			if v := r.header.Values(name); len(v) > 0 {
				set[http.CanonicalHeaderKey(name)] = v
			}
		}
		remove := gatewayOnly(in, rt, proxy.IngressEnvoy, set)
		// The tool never receives a credential the gateway consumed: the
		// credential headers are the HTTP answer's (toolCredentials), the
		// Cookie header replaced by the client's without the gateway's
		// cookies, and those left empty (Cookie with none left,
		// Authorization with the bearer token the gateway consumed)
		// removed. An Authorization header the gateway did not consume is
		// left as it is.
		if c := r.header.Get("Cookie"); c != "" {
			set["Cookie"] = []string{c}
		}
		remove = append(remove, emptied(in, r.header)...)
		ok := &authv3.OkHttpResponse{Headers: headerOptions(set), HeadersToRemove: remove}
		return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok}}
	}
	grpcCode := codes.PermissionDenied
	switch {
	case code == http.StatusUnauthorized || code == http.StatusFound:
		grpcCode = codes.Unauthenticated
	case code >= 500:
		grpcCode = codes.Unavailable
	}
	denied := &authv3.DeniedHttpResponse{
		Status:  &typev3.HttpStatus{Code: typev3.StatusCode(code)},
		Headers: headerOptions(r.header),
		Body:    r.body.String(),
	}
	return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(grpcCode), Message: http.StatusText(code)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied}}
}

// headerOptions lists h for Envoy: each name's first value overwrites, the
// others are appended (several Set-Cookie).
func headerOptions(h http.Header) []*corev3.HeaderValueOption {
	var out []*corev3.HeaderValueOption
	for name, vals := range h {
		switch strings.ToLower(name) {
		case "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "te", "trailer":
			continue // Envoy frames the response itself
		}
		for i, v := range vals {
			action := corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
			if i > 0 {
				action = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
			}
			out = append(out, &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: strings.ToLower(name), Value: v},
				AppendAction: action,
			})
		}
	}
	return out
}

// listenGRPC binds forward_auth.grpc_address and serves the ext_authz gRPC
// service on it; an error of Serve goes to errc. stop ends it, gracefully
// within 10 seconds.
func (s *Server) listenGRPC(addr string, errc chan<- error) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("forward_auth.grpc_address: %w", err)
	}
	g := s.GRPCServer()
	go func() {
		if err := g.Serve(ln); err != nil {
			errc <- fmt.Errorf("ext_authz gRPC listener: %w", err)
		}
	}()
	return func() {
		done := make(chan struct{})
		go func() { g.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			g.Stop()
		}
	}, nil
}
