// Package metrics defines the gateway's Prometheus metrics on a registry of
// its own (served by the admin listener at /metrics).
//
// The names and labels below are a contract: the Grafana dashboard and the
// alerting rules in deploy/monitoring/ use them (a test checks every name
// they use is registered here), and docs/operations.md lists them. Rename
// nothing; add new metrics instead.
package metrics

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

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
	// Reloads counts configuration reloads by result (ok|error). A reload
	// happens when the config file or any file it names that rotates (TLS
	// certificate and key, CA bundles, signing and session keys, the device
	// inventory) changes, and on SIGHUP.
	Reloads *prometheus.CounterVec
	// LastReloadOK is 1 when the last reload succeeded (or none happened
	// yet), 0 when it was rejected and the last good configuration serves.
	LastReloadOK prometheus.Gauge
	// LastReloadSuccess is the Unix time of the last configuration that was
	// built successfully (start or reload).
	LastReloadSuccess prometheus.Gauge
	// CertificateExpiry is the earliest NotAfter (Unix seconds) of the
	// certificates in each certificate file the configuration in force names
	// (listener certificate, device CA, Redis and upstream CA bundles, ...),
	// by file path.
	CertificateExpiry *prometheus.GaugeVec
	// Grants counts the grants requirement kinds made (a break-glass grant,
	// a verified justification), by kind and route, once their audit record
	// is written.
	Grants *prometheus.CounterVec
	// GroupsClaimMissing counts identities read (sign-ins, refreshes)
	// without the groups claim: a provider that stopped releasing it turns
	// every deny rule on groups off for its users, silently but for this.
	GroupsClaimMissing prometheus.Counter
	// ExchangesEnded counts the open exchanges (streams, WebSockets, long
	// downloads, requests the tool had not answered) the gateway ended
	// because the access did, by route and cause: not_after (the session,
	// a window or a grant ended) or withdrawn (a re-check denied).
	ExchangesEnded *prometheus.CounterVec

	idpUp atomic.Pointer[func() bool]

	// decisions caches the Requests children by their labels (Decision).
	decisions sync.Map // decisionLabels → prometheus.Counter
}

type decisionLabels struct{ route, decision, reason string }

// Decision returns the Requests counter of one route, decision and first
// reason: what Requests.WithLabelValues returns, from a cache. Counting a
// decision is then one lock-free map read and an atomic add, instead of
// hashing the three label values and looking the child up under the
// vector's lock on every request (BenchmarkDecision). The label sets are
// few (routes × decisions × reasons), so the cache is not bounded.
func (m *Metrics) Decision(route, decision, reason string) prometheus.Counter {
	k := decisionLabels{route, decision, reason}
	if c, ok := m.decisions.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c, _ := m.decisions.LoadOrStore(k, m.Requests.WithLabelValues(route, decision, reason))
	return c.(prometheus.Counter)
}

// The metric names, for the monitoring files' tests and for docs.
const (
	NameRequests           = "gateway_requests_total"
	NameUpstream           = "gateway_upstream_duration_seconds"
	NameStoreErrors        = "gateway_session_store_errors_total"
	NameReloads            = "gateway_config_reloads_total"
	NameLastReloadOK       = "gateway_config_last_reload_successful"
	NameLastReloadSuccess  = "gateway_config_last_reload_success_timestamp_seconds"
	NameCertificateExpiry  = "gateway_certificate_expiry_timestamp_seconds"
	NameIdentityProviderUp = "gateway_identity_provider_up"
	NameGrants             = "gateway_grants_total"
	NameGroupsClaimMissing = "gateway_identities_without_groups_claim_total"
	NameExchangesEnded     = "gateway_exchanges_ended_total"
	NameBuildInfo          = "gateway_build_info"

	// The audit log's, registered by RegisterAudit (audit.go).
	NameAuditWritten        = "gateway_audit_records_written_total"
	NameAuditCommitFailures = "gateway_audit_commit_failures_total"
	NameAuditDropped        = "gateway_audit_records_dropped_total"
	NameAuditWrites         = "gateway_audit_writes_total"
	NameAuditRotations      = "gateway_audit_rotations_total"
	NameAuditBuffered       = "gateway_audit_buffered_records"
	NameAuditSinkHealthy    = "gateway_audit_sink_healthy"

	// The Redis store's local cache, registered by RegisterSessionCache
	// (cache.go).
	NameSessionCacheHits    = "gateway_session_cache_hits_total"
	NameSessionCacheMisses  = "gateway_session_cache_misses_total"
	NameSessionCacheServing = "gateway_session_cache_serving"
)

// New registers the instruments on a new registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameRequests, Help: "Decisions by route, decision and first reason.",
		}, []string{"route", "decision", "reason"}),
		Upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: NameUpstream, Help: "Upstream response time (to headers) by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		StoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameStoreErrors, Help: "Session store failures by operation.",
		}, []string{"op"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameReloads, Help: "Configuration reloads by result.",
		}, []string{"result"}),
		LastReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: NameLastReloadOK, Help: "1 if the last configuration reload succeeded, 0 if it was rejected (the last good configuration serves).",
		}),
		LastReloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: NameLastReloadSuccess, Help: "Unix time of the last configuration built successfully (start or reload).",
		}),
		CertificateExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: NameCertificateExpiry, Help: "Earliest NotAfter (Unix time) of the certificates in each certificate file the configuration names.",
		}, []string{"file"}),
		Grants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameGrants, Help: "Grants made by requirement kinds (break-glass, justification), by kind and route.",
		}, []string{"kind", "route"}),
		GroupsClaimMissing: prometheus.NewCounter(prometheus.CounterOpts{
			Name: NameGroupsClaimMissing, Help: "Identities read at sign-in or refresh without the groups claim (rules on groups cannot match them).",
		}),
		ExchangesEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameExchangesEnded, Help: "Open exchanges the gateway ended because the access did, by route and cause (not_after, withdrawn).",
		}, []string{"route", "cause"}),
	}
	m.LastReloadOK.Set(1)
	idp := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: NameIdentityProviderUp, Help: "1 when the OIDC provider has been discovered (sign-in and bearer tokens work), else 0.",
	}, func() float64 {
		if f := m.idpUp.Load(); f != nil && (*f)() {
			return 1
		}
		return 0
	})
	version := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: NameBuildInfo, Help: "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": version, "go_version": runtime.Version()},
	})
	info.Set(1)
	m.Registry.MustRegister(m.Requests, m.Upstream, m.StoreErrors, m.Reloads, m.LastReloadOK,
		m.LastReloadSuccess, m.CertificateExpiry, m.Grants, m.GroupsClaimMissing, m.ExchangesEnded, idp, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveIdentityProvider sets the function behind gateway_identity_provider_up
// (read at every scrape).
func (m *Metrics) ObserveIdentityProvider(up func() bool) { m.idpUp.Store(&up) }

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Names returns the name of every gateway_* metric New, RegisterAudit and
// RegisterSessionCache register.
func Names() []string {
	return []string{NameRequests, NameUpstream, NameStoreErrors, NameReloads, NameLastReloadOK,
		NameLastReloadSuccess, NameCertificateExpiry, NameIdentityProviderUp, NameGrants, NameGroupsClaimMissing,
		NameExchangesEnded, NameBuildInfo,
		NameAuditWritten, NameAuditCommitFailures, NameAuditDropped, NameAuditWrites, NameAuditRotations,
		NameAuditBuffered, NameAuditSinkHealthy, NameSessionCacheHits, NameSessionCacheMisses, NameSessionCacheServing}
}
