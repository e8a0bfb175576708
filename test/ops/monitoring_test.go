package ops

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/accessgateway/gateway/internal/metrics"
)

const monitoringDir = repoRoot + "/deploy/monitoring"

// promtool returns Debian's promtool (package prometheus, which `make test`
// installs); without it the test is skipped, or fails when CI is set.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		msg := "promtool not installed: run make test (it installs Debian's prometheus package) or apt-get install prometheus"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

func TestAlertRulesPassPromtool(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "gateway-alerts.yaml"},
		{"test", "rules", "gateway-alerts.test.yaml"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = monitoringDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// Names that are not the gateway's own but exist wherever it is scraped:
// Prometheus's scrape health and the Go and process collectors that
// internal/metrics registers.
var foreignMetrics = map[string]bool{
	"up": true, "process_cpu_seconds_total": true, "process_resident_memory_bytes": true, "go_goroutines": true,
}

var (
	promqlStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promqlMatchers  = regexp.MustCompile(`\{[^{}]*\}`)
	promqlRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlNumbers   = regexp.MustCompile(`\b[0-9][0-9a-zA-Z_.]*`)
	promqlIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(?`)
	labelValues     = regexp.MustCompile(`label_values\(([^,()]+)(?:\{[^}]*\})?\s*,[^)]*\)`)
	promqlKeywords  = map[string]bool{"and": true, "or": true, "unless": true, "offset": true, "bool": true, "by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
	histogramSuffix = regexp.MustCompile(`_(?:bucket|sum|count)$`)
)

// metricNames returns the metric names in a PromQL expression: identifiers
// that are not functions, keywords, label names in matchers or groupings,
// durations or strings.
func metricNames(expr string) []string {
	expr = labelValues.ReplaceAllString(expr, "$1")
	expr = promqlStrings.ReplaceAllString(expr, `""`)
	expr = promqlMatchers.ReplaceAllString(expr, " ")
	expr = promqlRanges.ReplaceAllString(expr, " ")
	expr = promqlGrouping.ReplaceAllString(expr, " ")
	expr = promqlNumbers.ReplaceAllString(expr, " ") // numbers and durations (offset 1d)
	var out []string
	for _, m := range promqlIdent.FindAllString(expr, -1) {
		if strings.HasSuffix(m, "(") {
			continue // a function
		}
		m = strings.TrimSpace(m)
		if promqlKeywords[strings.ToLower(m)] || strings.HasPrefix(m, "$") {
			continue
		}
		out = append(out, m)
	}
	return out
}

func TestMetricNamesParser(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`sum by (job, route) (rate(gateway_requests_total{job=~".*gateway.*", decision="deny"}[10m] offset 1d)) > 1`, []string{"gateway_requests_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(gateway_upstream_duration_seconds_bucket[5m]))) > 2 and up == 0`, []string{"gateway_upstream_duration_seconds_bucket", "up"}},
		{`gateway_certificate_expiry_timestamp_seconds - time() < 14 * 86400`, []string{"gateway_certificate_expiry_timestamp_seconds"}},
		{`label_values(gateway_requests_total{job=~"$job"}, route)`, []string{"gateway_requests_total"}},
		{`sum(up{job=~"$job"})`, []string{"up"}},
	} {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%q): expected %v, got %v", tc.expr, tc.want, got)
		}
	}
}

// checkKnown fails for a name the gateway does not export.
func checkKnown(t *testing.T, where, expr string) int {
	t.Helper()
	names := metricNames(expr)
	for _, n := range names {
		base := histogramSuffix.ReplaceAllString(n, "")
		if !slices.Contains(metrics.Names(), n) && !(base != n && slices.Contains(metrics.Names(), base)) && !foreignMetrics[n] {
			t.Errorf("%s: metric %s (in %q) is not registered by internal/metrics", where, n, expr)
		}
	}
	return len(names)
}

// Every metric the alerting rules and the dashboard use exists.
func TestMonitoringUsesExistingMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(monitoringDir, "gateway-alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(b, &rules); err != nil {
		t.Fatalf("gateway-alerts.yaml: %v", err)
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			if checkKnown(t, "alert "+r.Alert, r.Expr) == 0 {
				t.Errorf("alert %s: expected its expression to use a metric, got %q", r.Alert, r.Expr)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: expected a severity, a summary and a description", r.Alert)
			}
		}
	}
	// The list: store errors, IdP or ticket systems unavailable,
	// deny-rate spikes, audit sink failing, certificate expiry, break-glass.
	for _, a := range []string{"GatewaySessionStoreErrors", "GatewayIdentityProviderDown", "GatewayEvidenceUnavailable",
		"GatewayDenyRateSpike", "GatewayAuditWriteFailing", "GatewayCertificateExpiringSoon", "GatewayBreakGlassGrant"} {
		if !alerts[a] {
			t.Errorf("expected alert %s, got none", a)
		}
	}

	b, err = os.ReadFile(filepath.Join(monitoringDir, "gateway-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("gateway-dashboard.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard: expected a uid, a title and panels, got %q %q %d", dash.UID, dash.Title, len(dash.Panels))
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("dashboard: panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("dashboard: panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			checkKnown(t, "panel "+p.Title, tg.Expr)
			for _, n := range metricNames(tg.Expr) {
				used[histogramSuffix.ReplaceAllString(n, "")] = true
			}
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			checkKnown(t, "variable "+v.Name, q["query"].(string))
		}
	}
	// The dashboard shows every gateway metric.
	for _, n := range metrics.Names() {
		if !used[n] && n != metrics.NameBuildInfo && n != metrics.NameLastReloadSuccess {
			t.Errorf("dashboard: expected a panel using %s, got none", n)
		}
	}
}
