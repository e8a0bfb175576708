package tracing

import (
	"context"
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestProblems(t *testing.T) {
	bad := 1.5
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"grpc", Config{Endpoint: "collector:4317"}, nil},
		{"http URL", Config{Endpoint: "https://otel.example/v1/traces", Protocol: "http"}, nil},
		{"missing endpoint", Config{}, []string{"otlp_endpoint: required: the OTLP collector, e.g. otel-collector:4317"}},
		{"URL with grpc", Config{Endpoint: "https://otel.example"}, []string{"otlp_endpoint: a URL needs protocol: http"}},
		{"bad protocol and ratio", Config{Endpoint: "c:4317", Protocol: "udp", SampleRatio: &bad},
			[]string{`protocol: expected grpc or http, got "udp"`, "sample_ratio: expected between 0 and 1, got 1.5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cfg.Problems(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Problems() = %q, want %q", got, tc.want)
			}
		})
	}
}

// A nil Tracer (tracing off) does nothing: no span, no header, no trace ID.
func TestNilTracer(t *testing.T) {
	var tr *Tracer
	r := httptest.NewRequest("GET", "/", nil)
	ctx, span := tr.StartRequest(r, true)
	span.End()
	if TraceID(ctx) != "" || span.SpanContext().IsValid() {
		t.Fatal("a nil tracer made a span")
	}
	h := r.Header.Clone()
	h.Set("Traceparent", "client's")
	tr.Inject(ctx, h)
	if h.Get("Traceparent") != "client's" {
		t.Fatal("a nil tracer touched headers")
	}
	if tr.Close(context.Background()) != nil || tr.Flush(context.Background()) != nil {
		t.Fatal("nil tracer Close/Flush")
	}
}

// New with a configuration builds an exporter without connecting.
func TestNewDoesNotConnect(t *testing.T) {
	for _, c := range []Config{{Endpoint: "127.0.0.1:1", Insecure: true}, {Endpoint: "http://127.0.0.1:1/v1/traces", Protocol: "http"}} {
		tr, err := New(context.Background(), &c, "test")
		if err != nil || tr == nil {
			t.Fatalf("New(%+v): %v", c, err)
		}
		_, span := tr.Start(context.Background(), "x")
		span.End()
		ctx, cancel := context.WithTimeout(context.Background(), 0)
		cancel()
		_ = tr.Close(ctx)
	}
	if tr, err := New(context.Background(), nil, "x"); tr != nil || err != nil {
		t.Fatal("a nil config is tracing off")
	}
}
