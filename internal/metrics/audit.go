package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/accessgateway/gateway/internal/audit"
)

// RegisterAudit exports the audit log's counters (read from stats at
// scrape time): records written, failed commits (requests refused because
// their record could not be written), records dropped while the sink
// failed, write calls, rotations, records buffered, and whether the sink is
// healthy (1) or failing (0).
func (m *Metrics) RegisterAudit(stats func() audit.Stats) {
	counter := func(name, help string, v func(audit.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(stats())) })
	}
	gauge := func(name, help string, v func(audit.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return v(stats()) })
	}
	for _, c := range []prometheus.Collector{
		counter("gateway_audit_records_written_total", "Audit records written to the file, checkpoints included.", func(s audit.Stats) uint64 { return s.Written }),
		counter("gateway_audit_commit_failures_total", "Audit commits that failed: allowed requests refused with 503 because their record could not be written.", func(s audit.Stats) uint64 { return s.Failed }),
		counter("gateway_audit_records_dropped_total", "Audit records dropped while the sink failed and the buffer was full.", func(s audit.Stats) uint64 { return s.Dropped }),
		counter("gateway_audit_writes_total", "Write calls of the audit log (group commit: several records per write).", func(s audit.Stats) uint64 { return s.Writes }),
		counter("gateway_audit_rotations_total", "Audit file rotations.", func(s audit.Stats) uint64 { return s.Rotations }),
		gauge("gateway_audit_buffered_records", "Audit records waiting in memory for the sink.", func(s audit.Stats) float64 { return float64(s.Buffered) }),
		gauge("gateway_audit_sink_healthy", "1 when the audit sink accepts writes, 0 while it fails.", func(s audit.Stats) float64 {
			if s.Healthy {
				return 1
			}
			return 0
		}),
	} {
		// A second server on the same registry (tests) keeps the first's.
		_ = m.Registry.Register(c)
	}
}
