package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/tracing"
)

// tracedGateway is a gateway with tracing into an in-memory exporter and a
// route to an upstream that records the trace context it receives.
func tracedGateway(t testing.TB) (*fwdGateway, *tracetest.InMemoryExporter, *tracing.Tracer, *string) {
	t.Helper()
	var mu sync.Mutex
	var got string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Get("Traceparent")
		mu.Unlock()
	}))
	t.Cleanup(up.Close)
	cfg, m := fwdConfigFile(t, "203.0.113.0/24", "  - name: traced\n    host: tool.example\n    path: /traced\n    upstream: "+up.URL+"\n    rules: {allow: [{domains: [corp.example]}]}\n")
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.NewWithExporter(nil, exp, "test")
	g := &fwdGateway{t: t, idp: m, auditW: &lockedBuffer{}}
	g.auditL = audit.New(g.auditW, nil, nil)
	var err error
	g.srv, err = New(context.Background(), cfg, Options{Audit: g.auditL, Tracer: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.srv.Close(); g.auditL.Close() })
	return g, exp, tr, &got
}

// One allowed request is one trace: the request span with its children
// (identity, decision, audit commit, upstream); the upstream receives the
// gateway's trace context, never the one an outside client sent; the audit
// records carry the trace ID.
func TestTracingSpansAndPropagation(t *testing.T) {
	g, exp, tr, got := tracedGateway(t)
	cookie := g.session("ann@corp.example")
	r := httptest.NewRequest(http.MethodGet, "http://tool.example/traced", nil)
	r.RemoteAddr = "198.51.100.7:4000" // not a trusted proxy
	const spoofed = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	r.Header.Set("Traceparent", spoofed)
	r.AddCookie(cookie)
	w := httptest.NewRecorder()
	g.srv.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if err := tr.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	names := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans.Snapshots() {
		names[s.Name()] = s
	}
	for _, n := range []string{"gateway.request", "gateway.identity", "gateway.decide", "gateway.audit.commit", "gateway.upstream"} {
		if names[n] == nil {
			t.Errorf("no %s span (have %d spans)", n, len(spans))
		}
	}
	root := names["gateway.request"]
	if root == nil {
		t.FailNow()
	}
	traceID := root.SpanContext().TraceID().String()
	if strings.Contains(spoofed, traceID) || root.Parent().IsValid() {
		t.Fatal("the trace of an untrusted client's traceparent was joined")
	}
	if !strings.Contains(*got, traceID) || *got == spoofed {
		t.Fatalf("upstream traceparent %q, want the gateway's trace %s", *got, traceID)
	}
	recs := g.records()
	found := false
	for _, rec := range recs {
		if rec.Kind == audit.KindDecision && rec.TraceID == traceID {
			found = true
		}
	}
	if !found {
		t.Fatalf("no decision record with trace %s", traceID)
	}
}

// From a trusted proxy the incoming trace is continued.
func TestTracingTrustedParent(t *testing.T) {
	g, exp, tr, _ := tracedGateway(t)
	cookie := g.session("ann@corp.example")
	r := httptest.NewRequest(http.MethodGet, "http://tool.example/traced", nil)
	r.RemoteAddr = "203.0.113.9:4000" // a trusted proxy
	r.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	r.AddCookie(cookie)
	g.srv.Handler().ServeHTTP(httptest.NewRecorder(), r)
	_ = tr.Flush(context.Background())
	for _, s := range exp.GetSpans().Snapshots() {
		if s.Name() == "gateway.request" && s.SpanContext().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
			t.Fatalf("trace %s, want the trusted proxy's", s.SpanContext().TraceID())
		}
	}
}

// discardExporter drops spans (the cost of tracing without a collector's).
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkTracing is one allowed, proxied request through the handler
// (loopback upstream), with tracing off, and on with every trace sampled
// and exported (to a discarding exporter).
func BenchmarkTracing(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			g, _, _, _ := tracedGateway(b)
			if on {
				g.srv.tracer = tracing.NewWithExporter(nil, discardExporter{}, "bench")
				defer g.srv.tracer.Close(context.Background())
			} else {
				g.srv.tracer = nil
			}
			al := audit.New(discard{}, nil, nil)
			defer al.Close()
			g.srv.audit = al
			cookie := g.session("ann@corp.example")
			h := g.srv.Handler()
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodGet, "http://tool.example/traced", nil)
				r.AddCookie(cookie)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
