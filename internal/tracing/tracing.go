// Package tracing is the gateway's OpenTelemetry tracing: spans of the
// request path (the request, identity, each requirement kind's evidence,
// the decision, the audit commit, the upstream call), exported over OTLP
// (gRPC or HTTP) when configured, and the W3C trace context passed upstream.
//
// Disabled (no tracing: section) it costs nothing: the server holds a nil
// *Tracer and every method of a nil *Tracer returns at once, creating no
// span and touching no header.
//
// The client's traceparent is believed only from trusted proxies (a load
// balancer that starts the trace); from anyone else the gateway starts a new
// trace, so an outside caller cannot join or steer the company's traces.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config is the top-level tracing: section.
//
//	tracing:
//	  otlp_endpoint: otel-collector.observability:4317
//	  protocol: grpc          # or http (port 4318, path /v1/traces)
//	  insecure: true          # plain text to the collector (in-cluster)
//	  sample_ratio: 0.1       # of the traces the gateway starts
//	  service_name: gateway
type Config struct {
	// Endpoint is the collector: host:port for grpc, host:port or a URL
	// for http.
	Endpoint string `yaml:"otlp_endpoint"`
	// Protocol is grpc (default) or http.
	Protocol string `yaml:"protocol"`
	// Insecure sends spans without TLS.
	Insecure bool `yaml:"insecure"`
	// Headers are sent with every export (an API key: use ${ENV}).
	Headers map[string]string `yaml:"headers"`
	// SampleRatio is the share of new traces recorded (default 1); a trace
	// a trusted proxy started keeps its parent's decision.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name resource attribute (default gateway).
	ServiceName string `yaml:"service_name"`
}

// Problems returns every problem with its path relative to the section.
func (c *Config) Problems() []string {
	var out []string
	switch {
	case c.Endpoint == "":
		out = append(out, "otlp_endpoint: required: the OTLP collector, e.g. otel-collector:4317")
	case strings.Contains(c.Endpoint, "://"):
		if u, err := url.Parse(c.Endpoint); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			out = append(out, fmt.Sprintf("otlp_endpoint: expected host:port or an http(s) URL, got %q", c.Endpoint))
		} else if c.Protocol != "http" {
			out = append(out, "otlp_endpoint: a URL needs protocol: http")
		}
	}
	switch c.Protocol {
	case "", "grpc", "http":
	default:
		out = append(out, fmt.Sprintf("protocol: expected grpc or http, got %q", c.Protocol))
	}
	if r := c.SampleRatio; r != nil && (*r < 0 || *r > 1) {
		out = append(out, fmt.Sprintf("sample_ratio: expected between 0 and 1, got %v", *r))
	}
	return out
}

// Tracer is the gateway's tracer; nil means tracing is off.
type Tracer struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// New builds the exporter and the tracer provider (no connection is made
// until spans are exported). A nil cfg returns a nil *Tracer.
func New(ctx context.Context, cfg *Config, version string) (*Tracer, error) {
	if cfg == nil {
		return nil, nil
	}
	if p := cfg.Problems(); len(p) > 0 {
		return nil, errors.New("tracing: " + p[0])
	}
	var exp sdktrace.SpanExporter
	var err error
	if cfg.Protocol == "http" {
		opts := []otlptracehttp.Option{otlptracehttp.WithHeaders(cfg.Headers)}
		if strings.Contains(cfg.Endpoint, "://") {
			opts = append(opts, otlptracehttp.WithEndpointURL(cfg.Endpoint))
		} else {
			opts = append(opts, otlptracehttp.WithEndpoint(cfg.Endpoint))
		}
		if cfg.Insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		exp, err = otlptrace.New(ctx, otlptracehttp.NewClient(opts...))
	} else {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.Endpoint), otlptracegrpc.WithHeaders(cfg.Headers)}
		if cfg.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		exp, err = otlptrace.New(ctx, otlptracegrpc.NewClient(opts...))
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: exporter: %w", err)
	}
	return NewWithExporter(cfg, exp, version), nil
}

// NewWithExporter builds a Tracer that exports to exp (tests, benchmarks).
func NewWithExporter(cfg *Config, exp sdktrace.SpanExporter, version string) *Tracer {
	ratio := 1.0
	name := "gateway"
	if cfg != nil {
		if cfg.SampleRatio != nil {
			ratio = *cfg.SampleRatio
		}
		if cfg.ServiceName != "" {
			name = cfg.ServiceName
		}
	}
	res := resource.NewSchemaless(attribute.String("service.name", name), attribute.String("service.version", version))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(2*time.Second)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithResource(res),
	)
	return &Tracer{tp: tp, tracer: tp.Tracer("github.com/accessgateway/gateway"),
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}
}

// noopSpan is returned by a nil Tracer.
var noopSpan trace.Span = noop.Span{}

// StartRequest starts the span of one request. The incoming trace context
// is believed only when trustParent (the peer is a trusted proxy).
func (t *Tracer) StartRequest(r *http.Request, trustParent bool) (context.Context, trace.Span) {
	if t == nil {
		return r.Context(), noopSpan
	}
	ctx := r.Context()
	if trustParent {
		ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	return t.tracer.Start(ctx, "gateway.request", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method)))
}

// Start starts a child span of the span in ctx.
func (t *Tracer) Start(ctx context.Context, name string) (context.Context, trace.Span) {
	if t == nil {
		return ctx, noopSpan
	}
	return t.tracer.Start(ctx, name)
}

// Inject writes the trace context of ctx (traceparent, tracestate) into h,
// replacing what the client sent, for the upstream.
func (t *Tracer) Inject(ctx context.Context, h http.Header) {
	if t == nil {
		return
	}
	h.Del("Traceparent")
	h.Del("Tracestate")
	t.prop.Inject(ctx, propagation.HeaderCarrier(h))
}

// TraceID returns the trace ID of the span in ctx ("" without one).
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

// Flush exports the spans ended so far.
func (t *Tracer) Flush(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.ForceFlush(ctx)
}

// Close flushes and stops the exporter.
func (t *Tracer) Close(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}
