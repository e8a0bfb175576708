package ops

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/server"
)

// HelmVersion is the helm the tests install when none is on PATH (a
// known-good version of helm.sh/helm/v3 from the Go module proxy).
const HelmVersion = "v3.22.0"

const chartDir = repoRoot + "/deploy/helm/gateway"

// helmBinary returns a helm: on PATH, in the cache, or installed there
// with `go install`. It skips the test only if the module proxy cannot be
// reached.
func helmBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "accessgateway-tools", "helm-"+HelmVersion)
	if _, err := os.Stat(filepath.Join(bin, "helm")); err == nil {
		return filepath.Join(bin, "helm")
	}
	t.Logf("installing helm %s into %s (go install)", HelmVersion, bin)
	cmd := exec.Command("go", "install", "helm.sh/helm/v3/cmd/helm@"+HelmVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		if proxyUnreachable(string(out)) {
			t.Skipf("helm is not installed and the Go module proxy is unreachable: %s", out)
		}
		t.Fatalf("go install helm %s: %v\n%s", HelmVersion, err, out)
	}
	return filepath.Join(bin, "helm")
}

func proxyUnreachable(out string) bool {
	for _, s := range []string{"dial tcp", "no such host", "connection refused", "i/o timeout", "TLS handshake timeout", "network is unreachable"} {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}

// rendered is a chart rendering decoded into Kubernetes API types.
type rendered struct {
	deployments     []appsv1.Deployment
	statefulSets    []appsv1.StatefulSet
	services        []corev1.Service
	configMaps      []corev1.ConfigMap
	secrets         []corev1.Secret
	pdbs            []policyv1.PodDisruptionBudget
	hpas            []autoscalingv2.HorizontalPodAutoscaler
	netpols         []networkingv1.NetworkPolicy
	serviceMonitors []monitoringv1.ServiceMonitor
}

// decodeManifests decodes every YAML document strictly (unknown fields are
// errors) into the type of its kind; an unknown kind is an error.
func decodeManifests(t *testing.T, name string, data []byte) *rendered {
	t.Helper()
	r := &rendered{}
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("%s: document %d: %v", name, i, err)
		}
		if meta.Kind == "" {
			continue // comments only
		}
		var target any
		switch meta.APIVersion + "/" + meta.Kind {
		case "apps/v1/Deployment":
			r.deployments = append(r.deployments, appsv1.Deployment{})
			target = &r.deployments[len(r.deployments)-1]
		case "apps/v1/StatefulSet":
			r.statefulSets = append(r.statefulSets, appsv1.StatefulSet{})
			target = &r.statefulSets[len(r.statefulSets)-1]
		case "v1/Service":
			r.services = append(r.services, corev1.Service{})
			target = &r.services[len(r.services)-1]
		case "v1/ConfigMap":
			r.configMaps = append(r.configMaps, corev1.ConfigMap{})
			target = &r.configMaps[len(r.configMaps)-1]
		case "v1/Secret":
			r.secrets = append(r.secrets, corev1.Secret{})
			target = &r.secrets[len(r.secrets)-1]
		case "v1/Namespace":
			target = &corev1.Namespace{}
		case "policy/v1/PodDisruptionBudget":
			r.pdbs = append(r.pdbs, policyv1.PodDisruptionBudget{})
			target = &r.pdbs[len(r.pdbs)-1]
		case "autoscaling/v2/HorizontalPodAutoscaler":
			r.hpas = append(r.hpas, autoscalingv2.HorizontalPodAutoscaler{})
			target = &r.hpas[len(r.hpas)-1]
		case "networking.k8s.io/v1/NetworkPolicy":
			r.netpols = append(r.netpols, networkingv1.NetworkPolicy{})
			target = &r.netpols[len(r.netpols)-1]
		case "monitoring.coreos.com/v1/ServiceMonitor":
			r.serviceMonitors = append(r.serviceMonitors, monitoringv1.ServiceMonitor{})
			target = &r.serviceMonitors[len(r.serviceMonitors)-1]
		default:
			t.Fatalf("%s: document %d: unexpected %s %s", name, i, meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), target); err != nil {
			t.Fatalf("%s: document %d (%s): strict decoding: %v", name, i, meta.Kind, err)
		}
	}
	return r
}

// gatewayContainer returns the gateway's Deployment and container.
func (r *rendered) gatewayContainer(t *testing.T, name string) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	if len(r.deployments) != 1 {
		t.Fatalf("%s: expected one Deployment, got %d", name, len(r.deployments))
	}
	d := &r.deployments[0]
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == "gateway" {
			return d, c
		}
	}
	t.Fatalf("%s: no container named gateway", name)
	return nil, nil
}

func portOf(t *testing.T, hostport string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("expected host:port, got %q", hostport)
	}
	n, _ := strconv.Atoi(p)
	return int32(n)
}

// defaults are the binary's own defaults for what the chart sets.
func binaryDefaults(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load([]byte("public_url: http://127.0.0.1:8080\noidc: {issuer: http://127.0.0.1:1, client_id: x}\nroutes: [{name: a, host: 127.0.0.1, upstream: http://127.0.0.1:9, public: true}]\n"), config.Options{Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// imageConfigPath is the config path of the image (the Dockerfile's CMD).
func imageConfigPath(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy/Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CMD \["serve", "--config", "([^"]+)"\]`).FindSubmatch(b)
	if m == nil {
		t.Fatal("deploy/Dockerfile: expected CMD [\"serve\", \"--config\", PATH]")
	}
	return string(m[1])
}

// checkGatewayPod checks what every rendering (and the plain manifests)
// must agree on with the binary: the command, the config path and mount,
// the ports of listen.address and admin.address, the probe paths, and a
// non-root, read-only, capability-less container.
func checkGatewayPod(t *testing.T, name string, r *rendered, wantPorts map[string]int32) *config.Config {
	t.Helper()
	d, c := r.gatewayContainer(t, name)
	cfgPath := imageConfigPath(t)
	if want := []string{"serve", "--config", cfgPath}; strings.Join(c.Args, " ") != strings.Join(want, " ") {
		t.Errorf("%s: args: expected %v (the image's CMD), got %v", name, want, c.Args)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for n, want := range wantPorts {
		if ports[n] != want {
			t.Errorf("%s: container port %s: expected %d, got %d", name, n, want, ports[n])
		}
	}
	for _, pr := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{{"readinessProbe", c.ReadinessProbe, server.ReadyzPath}, {"livenessProbe", c.LivenessProbe, server.HealthzPath}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			t.Errorf("%s: %s: expected an httpGet probe, got %+v", name, pr.what, pr.probe)
			continue
		}
		if pr.probe.HTTPGet.Path != pr.path || pr.probe.HTTPGet.Port.String() != "admin" {
			t.Errorf("%s: %s: expected %s on the admin port, got %s on %s", name, pr.what, pr.path, pr.probe.HTTPGet.Path, pr.probe.HTTPGet.Port.String())
		}
	}
	sc, psc := c.SecurityContext, d.Spec.Template.Spec.SecurityContext
	if sc == nil || psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("%s: expected a non-root, read-only container without privilege escalation or capabilities, got pod %+v container %+v", name, psc, sc)
	}
	// The config comes from a ConfigMap mounted as a directory (never a
	// subPath: subPath mounts are never updated, so no reload).
	var cmName string
	for _, m := range c.VolumeMounts {
		if m.MountPath == filepath.Dir(cfgPath) {
			if m.SubPath != "" {
				t.Errorf("%s: the config mount uses subPath %q: it would never be updated", name, m.SubPath)
			}
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == m.Name && v.ConfigMap != nil {
					cmName = v.ConfigMap.Name
				}
			}
		}
	}
	var cm *corev1.ConfigMap
	for i := range r.configMaps {
		if r.configMaps[i].Name == cmName {
			cm = &r.configMaps[i]
		}
	}
	if cm == nil {
		t.Fatalf("%s: no ConfigMap mounted at %s", name, filepath.Dir(cfgPath))
	}
	data, ok := cm.Data[filepath.Base(cfgPath)]
	if !ok {
		t.Fatalf("%s: ConfigMap %s has no key %s", name, cm.Name, filepath.Base(cfgPath))
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = "from-" + e.Name
	}
	cfg, err := config.Load([]byte(data), config.Options{Dir: filepath.Dir(cfgPath), Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatalf("%s: the rendered gateway.yaml does not load with the Deployment's environment: %v", name, err)
	}
	if got := portOf(t, cfg.Listen.Address); got != ports["http"] {
		t.Errorf("%s: listen.address port %d differs from the container port http %d", name, got, ports["http"])
	}
	if got := portOf(t, cfg.Admin.Address); got != ports["admin"] {
		t.Errorf("%s: admin.address port %d differs from the container port admin %d", name, got, ports["admin"])
	}
	// Every key file the config names is in a mounted Secret.
	mounted := map[string]string{} // dir -> secret name
	for _, m := range c.VolumeMounts {
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				mounted[m.MountPath] = v.Secret.SecretName
			}
		}
	}
	var files []string
	for _, k := range cfg.Token.Keys {
		files = append(files, k.File)
	}
	for _, k := range cfg.Session.EncryptionKeys {
		files = append(files, k.File)
	}
	if cfg.Listen.TLS != nil {
		files = append(files, cfg.Listen.TLS.CertFile, cfg.Listen.TLS.KeyFile)
	}
	if cfg.Session.Redis != nil && cfg.Session.Redis.TLS.CAFile != "" {
		files = append(files, cfg.Session.Redis.TLS.CAFile)
	}
	for _, f := range files {
		if _, ok := mounted[filepath.Dir(f)]; !ok {
			t.Errorf("%s: the config names %s, but no Secret is mounted at %s", name, f, filepath.Dir(f))
		}
	}
	return cfg
}

func helm(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %v: %v\n%s%s", args, err, out, stderr.Bytes())
	}
	return out
}

// The chart lints, renders with each set of values into objects that decode
// strictly into Kubernetes API types, and agrees with the binary (ports of
// its defaults, probe paths, config path) and with the plain manifests.
func TestHelmChart(t *testing.T) {
	defaults := binaryDefaults(t)
	wantPorts := map[string]int32{"http": portOf(t, defaults.Listen.Address), "admin": portOf(t, defaults.Admin.Address)}
	for _, tc := range []struct {
		name   string
		values string
		check  func(t *testing.T, r *rendered, cfg *config.Config)
	}{
		{"trial values: bundled Redis, inline secrets", "ci/trial-values.yaml", func(t *testing.T, r *rendered, cfg *config.Config) {
			if len(r.statefulSets) != 1 || len(r.serviceMonitors) != 0 || len(r.hpas) != 0 {
				t.Errorf("expected the bundled Redis and no ServiceMonitor or HPA, got %d StatefulSets, %d ServiceMonitors, %d HPAs", len(r.statefulSets), len(r.serviceMonitors), len(r.hpas))
			}
			var redisSvc string
			for _, s := range r.services {
				for _, p := range s.Spec.Ports {
					if p.Port == 6379 {
						redisSvc = fmt.Sprintf("%s:%d", s.Name, p.Port)
					}
				}
			}
			if cfg.Session.Redis == nil || len(cfg.Session.Redis.Addrs) != 1 || cfg.Session.Redis.Addrs[0] != redisSvc {
				t.Errorf("session.redis.addrs: expected the bundled Redis Service %s, got %+v", redisSvc, cfg.Session.Redis)
			}
		}},
		{"production values: external Redis with TLS, TLS, device CA, HPA, ServiceMonitor, upstream policies", "ci/production-values.yaml", func(t *testing.T, r *rendered, cfg *config.Config) {
			d, _ := r.gatewayContainer(t, "production")
			if d.Spec.Replicas != nil || len(r.hpas) != 1 || r.hpas[0].Spec.MinReplicas == nil || *r.hpas[0].Spec.MinReplicas < 2 {
				t.Errorf("expected the HPA to own the replica count (at least 2), got replicas %v and %d HPAs", d.Spec.Replicas, len(r.hpas))
			}
			if len(r.serviceMonitors) != 1 {
				t.Fatalf("expected one ServiceMonitor, got %d", len(r.serviceMonitors))
			}
			sm := r.serviceMonitors[0]
			if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Path != server.MetricsPath || sm.Spec.Endpoints[0].Port != "admin" {
				t.Errorf("ServiceMonitor: expected %s on the admin port, got %+v", server.MetricsPath, sm.Spec.Endpoints)
			}
			found := false
			for _, s := range r.services {
				if matches(sm.Spec.Selector.MatchLabels, s.Labels) {
					for _, p := range s.Spec.Ports {
						found = found || (p.Name == "admin" && p.Port == wantPorts["admin"])
					}
				}
			}
			if !found {
				t.Error("ServiceMonitor: no Service it selects has the admin port")
			}
			var upstreamPolicy bool
			for _, np := range r.netpols {
				if np.Namespace == "tools" {
					upstreamPolicy = len(np.Spec.Ingress) == 1 && len(np.Spec.Ingress[0].From) == 1 &&
						matches(np.Spec.Ingress[0].From[0].PodSelector.MatchLabels, d.Spec.Template.Labels)
				}
			}
			if !upstreamPolicy {
				t.Error("expected a NetworkPolicy in the tools namespace admitting only the gateway's pods")
			}
			if cfg.Listen.TLS == nil || cfg.Session.Redis.TLS.CAFile == "" || cfg.Section("device") == nil {
				t.Errorf("expected listen.tls, the Redis CA and the devices section, got %+v %+v", cfg.Listen.TLS, cfg.Session.Redis.TLS)
			}
			for _, w := range server.WatchedFiles("/etc/gateway/gateway.yaml", cfg) {
				if strings.HasPrefix(w, "/etc/gateway-device-ca/") {
					return
				}
			}
			t.Error("expected the device CA among the watched files")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vf := filepath.Join(chartDir, tc.values)
			helm(t, "lint", "--strict", chartDir, "-f", vf)
			out := helm(t, "template", "gw", chartDir, "--namespace", "access-gateway", "--kube-version", "1.31.0", "-f", vf)
			r := decodeManifests(t, tc.values, out)
			cfg := checkGatewayPod(t, tc.values, r, wantPorts)
			if len(r.pdbs) != 1 || r.pdbs[0].Spec.MaxUnavailable == nil || r.pdbs[0].Spec.MaxUnavailable.IntValue() != 1 {
				t.Errorf("expected a PodDisruptionBudget with maxUnavailable 1, got %+v", r.pdbs)
			}
			d, _ := r.gatewayContainer(t, tc.values)
			grace := int64(cfg.Listen.ShutdownGrace.Seconds())
			if tg := d.Spec.Template.Spec.TerminationGracePeriodSeconds; tg == nil || *tg <= grace {
				t.Errorf("terminationGracePeriodSeconds: expected more than listen.shutdown_grace (%ds), got %v", grace, tg)
			}
			tc.check(t, r, cfg)
		})
	}
	t.Run("without Redis the chart refuses to render", func(t *testing.T) {
		cmd := exec.Command(helmBinary(t), "template", "gw", chartDir, "--kube-version", "1.31.0")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "redis.addrs") {
			t.Errorf("expected an error naming redis.addrs, got %v: %s", err, out)
		}
	})
}

func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// The plain manifests (deploy/kubernetes) agree with the binary the same
// way, and with the chart on ports, probes and the config path.
func TestPlainManifestsAgreeWithTheBinary(t *testing.T) {
	defaults := binaryDefaults(t)
	wantPorts := map[string]int32{"http": portOf(t, defaults.Listen.Address), "admin": portOf(t, defaults.Admin.Address)}
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy/kubernetes/*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("deploy/kubernetes: %v", err)
	}
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(append(all, b...), []byte("\n---\n")...)
	}
	r := decodeManifests(t, "deploy/kubernetes", all)
	checkGatewayPod(t, "deploy/kubernetes", r, wantPorts)
}

// scripts/test-deps.sh installs the same helm the test looks for.
func TestTestDepsInstallTheSameHelm(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "scripts/test-deps.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^HELM_VERSION=(\S+)$`).FindSubmatch(b)
	if m == nil || string(m[1]) != HelmVersion {
		t.Errorf("scripts/test-deps.sh: expected HELM_VERSION=%s, got %q", HelmVersion, m)
	}
}

// terminationGracePeriodSeconds covers the preStop sleep and
// listen.shutdown_grace for every way of writing shutdownGrace that the
// gateway accepts (it is a Go duration: 1m, 1m30s, 90s…); a value the chart
// cannot convert is refused at render time instead of yielding a grace
// period shorter than the drain.
func TestHelmTerminationGraceCoversShutdownGrace(t *testing.T) {
	vf := filepath.Join(chartDir, "ci/trial-values.yaml")
	for _, grace := range []string{"15s", "45s", "90s", "1m", "1m30s", "2m", "1h", "500ms", "1500ms", "0s", "0"} {
		t.Run(grace, func(t *testing.T) {
			out := helm(t, "template", "gw", chartDir, "--namespace", "access-gateway", "--kube-version", "1.31.0",
				"-f", vf, "--set-string", "shutdownGrace="+grace, "--show-only", "templates/deployment.yaml",
				"--show-only", "templates/configmap.yaml")
			r := decodeManifests(t, grace, out)
			d, c := r.gatewayContainer(t, grace)
			cfg, err := config.Load([]byte(r.configMaps[0].Data["gateway.yaml"]), config.Options{Lookup: func(string) (string, bool) { return "x", true }})
			if err != nil {
				t.Fatalf("the rendered gateway.yaml does not load: %v", err)
			}
			var preStop int64
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
				preStop = c.Lifecycle.PreStop.Sleep.Seconds
			}
			drain := int64(math.Ceil(cfg.Listen.ShutdownGrace.Seconds()))
			tg := d.Spec.Template.Spec.TerminationGracePeriodSeconds
			if tg == nil || *tg <= preStop+drain {
				t.Errorf("shutdownGrace %s (listen.shutdown_grace %s): terminationGracePeriodSeconds %v does not exceed the preStop sleep (%ds) plus the drain (%ds): the kubelet would kill the pod mid-drain",
					grace, cfg.Listen.ShutdownGrace, ptrString(tg), preStop, drain)
			}
		})
	}
	t.Run("a duration the chart cannot convert is refused", func(t *testing.T) {
		cmd := exec.Command(helmBinary(t), "template", "gw", chartDir, "--kube-version", "1.31.0", "-f", vf, "--set-string", "shutdownGrace=1.5m")
		out, err := cmd.CombinedOutput()
		if err == nil {
			// Rendering it is fine only if the grace period is right.
			r := decodeManifests(t, "1.5m", out)
			d, _ := r.gatewayContainer(t, "1.5m")
			if tg := d.Spec.Template.Spec.TerminationGracePeriodSeconds; tg == nil || *tg <= 90 {
				t.Errorf("shutdownGrace 1.5m: expected an error naming shutdownGrace or terminationGracePeriodSeconds above 90, got %v", ptrString(tg))
			}
		} else if !strings.Contains(string(out), "shutdownGrace") {
			t.Errorf("expected an error naming shutdownGrace, got %v: %s", err, out)
		}
	})
}

func ptrString(p *int64) string {
	if p == nil {
		return "unset"
	}
	return strconv.FormatInt(*p, 10)
}
