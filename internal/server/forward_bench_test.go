package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc/peer"

	"github.com/accessgateway/gateway/internal/audit"
)

// BenchmarkForwardAuthCheck is the cost of one forward-auth decision on the
// HTTP check endpoint (Traefik's and Caddy's headers): a signed-in user,
// allowed, with the context token minted (cached per claims) and the audit
// record queued, without the network.
func BenchmarkForwardAuthCheck(b *testing.B) {
	g := newFwdGateway(b, trustedIn)
	al := audit.New(discard{}, nil, nil)
	defer al.Close()
	g.srv.audit = al
	cookie := g.session("ann@corp.example")
	h := g.srv.Handler()
	r := httptest.NewRequest(http.MethodGet, forwardAuthPath, nil)
	r.RemoteAddr = ingress
	for k, v := range traefik("GET", "tool.example", "/reports?q=1", employee) {
		r.Header.Set(k, v)
	}
	r.AddCookie(cookie)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkExtAuthzGRPCCheck is the same decision through the ext_authz
// gRPC service's Check, without the gRPC transport.
func BenchmarkExtAuthzGRPCCheck(b *testing.B) {
	g := newFwdGateway(b, "127.0.0.0/8")
	al := audit.New(discard{}, nil, nil)
	defer al.Close()
	g.srv.audit = al
	cookie := g.session("ann@corp.example")
	req := checkRequest("198.51.100.7:5555", "GET", "tool.example", "/reports?q=1", map[string]string{"cookie": "_gateway_session=" + cookie.Value})
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: addrPort("127.0.0.1:6000")})
	b.ReportAllocs()
	for b.Loop() {
		if resp := g.srv.check(ctx, req); resp.GetOkResponse() == nil {
			b.Fatalf("not allowed: %v", resp)
		}
	}
}

type addrPort string

func (a addrPort) Network() string { return "tcp" }
func (a addrPort) String() string  { return string(a) }
