package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestDecisionCountsIntoRequests: Decision's counters are the Requests
// vector's children, so /metrics shows what it counts.
func TestDecisionCountsIntoRequests(t *testing.T) {
	tests := []struct {
		name                    string
		route, decision, reason string
		n                       int
	}{
		{"allow", "tool", "allow", "allow-rule-matched", 3},
		{"deny", "tool", "deny", "sign-in-required", 2},
		{"no route", "", "deny", "route-not-found", 1},
	}
	m := New()
	for _, tc := range tests {
		for i := 0; i < tc.n; i++ {
			m.Decision(tc.route, tc.decision, tc.reason).Inc()
		}
	}
	m.Requests.WithLabelValues("tool", "allow", "allow-rule-matched").Inc()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := float64(tc.n)
			if tc.name == "allow" {
				want++ // the direct WithLabelValues above
			}
			if got := testutil.ToFloat64(m.Requests.WithLabelValues(tc.route, tc.decision, tc.reason)); got != want {
				t.Fatalf("metrics: expected %v, got %v", want, got)
			}
		})
	}
}

func BenchmarkDecision(b *testing.B) {
	m := New()
	b.Run("WithLabelValues", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Requests.WithLabelValues("customer-records", "allow", "allow-rule-matched").Inc()
		}
	})
	b.Run("Decision", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Decision("customer-records", "allow", "allow-rule-matched").Inc()
		}
	})
}
