// Package metrics defines the gateway's Prometheus metrics on a registry of
// its own (served by the admin listener at /metrics).
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the gateway's instruments.
type Metrics struct {
	Registry *prometheus.Registry
	// Requests counts decisions by route and decision (allow|deny) and reason.
	Requests *prometheus.CounterVec
	// Upstream observes upstream round-trip latency by route.
	Upstream *prometheus.HistogramVec
	// StoreErrors counts session-store failures by operation.
	StoreErrors *prometheus.CounterVec
	// Reloads counts configuration reloads by result (ok|error).
	Reloads *prometheus.CounterVec
}

// New registers the instruments on a new registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_requests_total", Help: "Decisions by route, decision and first reason.",
		}, []string{"route", "decision", "reason"}),
		Upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_upstream_duration_seconds", Help: "Upstream response time (to headers) by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		StoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_session_store_errors_total", Help: "Session store failures by operation.",
		}, []string{"op"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_config_reloads_total", Help: "Configuration reloads by result.",
		}, []string{"result"}),
	}
	m.Registry.MustRegister(m.Requests, m.Upstream, m.StoreErrors, m.Reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
