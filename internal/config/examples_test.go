package config_test

// The shipped configurations must stay valid: every deploy/examples/*.yaml
// and the gateway configuration embedded in the Kubernetes ConfigMap load
// (strict decoding, ${ENV}, Validate) and their policy tests pass. The
// Kubernetes manifests parse as YAML and agree with the embedded
// configuration (ports, Secrets, mount paths, the Redis Service).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/explain"
	"github.com/accessgateway/gateway/internal/store"
)

const (
	examplesDir   = "../../deploy/examples"
	kubernetesDir = "../../deploy/kubernetes"
)

// exampleEnv is every environment variable the examples reference. A new
// ${VAR} in an example must be added here (and documented in the file).
var exampleEnv = map[string]string{
	"OIDC_CLIENT_SECRET":      "test-client-secret",
	"REDIS_PASSWORD":          "test-redis-password",
	"REDIS_SENTINEL_PASSWORD": "test-sentinel-password",
}

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// checkPolicyTests runs cfg's policy tests and fails t on any failure. It
// also flips every test's expectation and requires each flipped test to fail,
// so that a test which would pass whatever the policy says is caught.
func checkPolicyTests(t *testing.T, cfg *config.Config) {
	t.Helper()
	if len(cfg.Tests) == 0 {
		t.Fatal("no policy tests: every shipped configuration carries tests:")
	}
	results, err := explain.RunTests(cfg)
	if err != nil {
		t.Fatalf("RunTests: %v", err)
	}
	if len(results) != len(cfg.Tests) {
		t.Fatalf("RunTests returned %d results for %d tests", len(results), len(cfg.Tests))
	}
	for _, r := range results {
		if !r.Pass {
			t.Errorf("policy test %q failed: %s", r.Name, r.Why)
		}
	}
	flipped := *cfg
	flipped.Tests = slices.Clone(cfg.Tests)
	for i := range flipped.Tests {
		if flipped.Tests[i].Expect == "allow" {
			flipped.Tests[i].Expect = "deny"
		} else {
			flipped.Tests[i].Expect = "allow"
		}
	}
	results, err = explain.RunTests(&flipped)
	if err != nil {
		t.Fatalf("RunTests (flipped): %v", err)
	}
	for _, r := range results {
		if r.Pass {
			t.Errorf("policy test %q passes with its expectation flipped", r.Name)
		}
	}
}

func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"basic.yaml", "redis.yaml"} {
		if !slices.Contains(files, filepath.Join(examplesDir, want)) {
			t.Errorf("deploy/examples/%s is missing (found %v)", want, files)
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := config.LoadFile(f, config.Options{Lookup: lookupIn(exampleEnv)})
			if err != nil {
				t.Fatalf("LoadFile:\n%v", err)
			}
			checkPolicyTests(t, cfg)
		})
	}
}

// TestExamplesNeedTheirEnv pins that ${VAR} is not silently empty: without
// the environment every example that references a variable fails to load,
// naming the variable.
func TestExamplesNeedTheirEnv(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte("${")) {
				t.Skip("references no environment variable")
			}
			_, err = config.LoadFile(f, config.Options{Lookup: lookupIn(nil)})
			if !config.IsProblems(err) || !strings.Contains(err.Error(), "is not set") {
				t.Fatalf("LoadFile without environment: got %v, want an \"environment variable ... is not set\" problem", err)
			}
		})
	}
}

// TestRedisExampleModes loads redis.yaml as written (Sentinel) and with its
// commented Cluster variant swapped in, so the comment stays a valid config.
func TestRedisExampleModes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(examplesDir, "redis.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := clusterVariant(string(b))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		yaml string
		want store.RedisMode
	}{
		{"as written", string(b), store.RedisSentinel},
		{"cluster variant", cluster, store.RedisCluster},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Load([]byte(tc.yaml), config.Options{Lookup: lookupIn(exampleEnv)})
			if err != nil {
				t.Fatalf("Load:\n%v", err)
			}
			if cfg.Session.Store != "redis" || cfg.Session.Redis == nil {
				t.Fatalf("session.store = %q, redis = %v; want redis with a redis section", cfg.Session.Store, cfg.Session.Redis)
			}
			if got := cfg.Session.Redis.Mode(); got != tc.want {
				t.Fatalf("redis mode = %s, want %s", got, tc.want)
			}
		})
	}
}

// clusterVariant replaces the active `  redis:` block of session with the
// commented `  # redis:` block that follows it, uncommented.
func clusterVariant(doc string) (string, error) {
	lines := strings.Split(doc, "\n")
	start := slices.Index(lines, "  redis:")
	if start < 0 {
		return "", errors.New("no \"  redis:\" line in redis.yaml")
	}
	end := start + 1
	for end < len(lines) && strings.HasPrefix(lines[end], "    ") {
		end++
	}
	c := slices.Index(lines[end:], "  # redis:")
	if c < 0 {
		return "", errors.New("no commented \"  # redis:\" variant after the redis block in redis.yaml")
	}
	c += end
	variant := []string{"  redis:"}
	for i := c + 1; i < len(lines) && strings.HasPrefix(lines[i], "  #   "); i++ {
		variant = append(variant, "  "+strings.TrimPrefix(lines[i], "  # "))
	}
	if len(variant) == 1 {
		return "", errors.New("the commented redis variant in redis.yaml is empty")
	}
	out := slices.Concat(lines[:start], variant, lines[end:])
	return strings.Join(out, "\n"), nil
}

// manifest is the part of a Kubernetes object that the checks below read.
// Fields not listed are ignored (this is not a schema validation).
type manifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Replicas *int             `yaml:"replicas"`
		Selector selector         `yaml:"selector"` // Deployment, StatefulSet, PDB (matchLabels); Service (flat)
		Ports    []servicePort    `yaml:"ports"`
		Template podTemplate      `yaml:"template"`
		PodSel   selector         `yaml:"podSelector"`
		Ingress  []networkIngress `yaml:"ingress"`
	} `yaml:"spec"`
}

// selector decodes both a label map (Service) and {matchLabels: …}.
type selector struct {
	MatchLabels map[string]string
}

func (s *selector) UnmarshalYAML(b []byte) error {
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return err
	}
	if ml, ok := m["matchLabels"].(map[string]any); ok {
		m = ml
	}
	s.MatchLabels = map[string]string{}
	for k, v := range m {
		s.MatchLabels[k] = fmt.Sprint(v)
	}
	return nil
}

type servicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	TargetPort any    `yaml:"targetPort"`
}

type networkIngress struct {
	From []struct {
		PodSelector selector `yaml:"podSelector"`
	} `yaml:"from"`
	Ports []struct {
		Port int `yaml:"port"`
	} `yaml:"ports"`
}

type podTemplate struct {
	Metadata struct {
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		SecurityContext struct {
			RunAsNonRoot *bool `yaml:"runAsNonRoot"`
		} `yaml:"securityContext"`
		Containers []container `yaml:"containers"`
		Volumes    []struct {
			Name      string `yaml:"name"`
			ConfigMap *struct {
				Name string `yaml:"name"`
			} `yaml:"configMap"`
			Secret *struct {
				SecretName string `yaml:"secretName"`
			} `yaml:"secret"`
		} `yaml:"volumes"`
	} `yaml:"spec"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
	ReadinessProbe probe `yaml:"readinessProbe"`
	LivenessProbe  probe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

// readManifests parses every document of every deploy/kubernetes/*.yaml. The
// first decode is strict YAML into a generic value (syntax, duplicate keys);
// the second reads the fields the checks need.
func readManifests(t *testing.T) map[string]*manifest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(kubernetesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no manifests in deploy/kubernetes")
	}
	out := map[string]*manifest{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b), yaml.Strict())
		for i := 0; ; i++ {
			var doc any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: document %d: %v", filepath.Base(f), i, err)
			}
			if doc == nil {
				continue
			}
			raw, err := yaml.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			m := &manifest{}
			if err := yaml.Unmarshal(raw, m); err != nil {
				t.Fatalf("%s: document %d: %v", filepath.Base(f), i, err)
			}
			where := fmt.Sprintf("%s: document %d (%s %s)", filepath.Base(f), i, m.Kind, m.Metadata.Name)
			if m.APIVersion == "" || m.Kind == "" || m.Metadata.Name == "" {
				t.Fatalf("%s: expected apiVersion, kind and metadata.name", where)
			}
			if m.Kind != "Namespace" && m.Metadata.Namespace != "access-gateway" {
				t.Errorf("%s: namespace %q, want access-gateway", where, m.Metadata.Namespace)
			}
			key := m.Kind + "/" + m.Metadata.Name
			if _, dup := out[key]; dup {
				t.Errorf("%s: %s defined twice", where, key)
			}
			out[key] = m
		}
	}
	return out
}

func need(t *testing.T, ms map[string]*manifest, key string) *manifest {
	t.Helper()
	m := ms[key]
	if m == nil {
		keys := make([]string, 0, len(ms))
		for k := range ms {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		t.Fatalf("manifest %s missing; have %v", key, keys)
	}
	return m
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestKubernetesManifests(t *testing.T) {
	ms := readManifests(t)
	for _, key := range []string{"Namespace/access-gateway", "ConfigMap/gateway-config", "Secret/gateway-env",
		"Secret/gateway-token-keys", "Deployment/gateway", "PodDisruptionBudget/gateway", "Service/gateway",
		"StatefulSet/redis", "Service/redis", "NetworkPolicy/redis-from-gateway-only"} {
		need(t, ms, key)
	}
	dep := need(t, ms, "Deployment/gateway")
	pod := dep.Spec.Template
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 3 {
		t.Errorf("Deployment replicas = %v, want 3", dep.Spec.Replicas)
	}
	if !subset(dep.Spec.Selector.MatchLabels, pod.Metadata.Labels) {
		t.Errorf("Deployment selector %v does not select its pods %v", dep.Spec.Selector.MatchLabels, pod.Metadata.Labels)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("gateway pod has %d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if want := []string{"serve", "--config", "/etc/gateway/gateway.yaml"}; !slices.Equal(c.Args, want) {
		t.Errorf("gateway args = %q, want %q", c.Args, want)
	}
	if c.Image != "ghcr.io/accessgateway/gateway:latest" {
		t.Errorf("gateway image = %q", c.Image)
	}
	if r := pod.Spec.SecurityContext.RunAsNonRoot; r == nil || !*r {
		t.Error("gateway pod: securityContext.runAsNonRoot is not true")
	}
	sc := c.SecurityContext
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("gateway container: readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("gateway container: allowPrivilegeEscalation is not false")
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("gateway container: capabilities.drop = %q, want [ALL]", sc.Capabilities.Drop)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("gateway container: resources %+v lack cpu/memory requests or a memory limit", c.Resources)
	}
	pdb := need(t, ms, "PodDisruptionBudget/gateway")
	if !subset(pdb.Spec.Selector.MatchLabels, pod.Metadata.Labels) {
		t.Errorf("PodDisruptionBudget selector %v does not select the gateway pods %v", pdb.Spec.Selector.MatchLabels, pod.Metadata.Labels)
	}

	// The embedded configuration: its ${VAR}s must be exactly what the
	// Deployment's env provides, and it must load and pass its tests.
	env := map[string]string{}
	secrets := map[string]*manifest{}
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("env %s: expected a secretKeyRef", e.Name)
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		s := need(t, ms, "Secret/"+ref.Name)
		if _, ok := s.StringData[ref.Key]; !ok {
			t.Errorf("env %s: Secret %s has no key %q", e.Name, ref.Name, ref.Key)
		}
		secrets[ref.Name] = s
		env[e.Name] = "value-of-" + e.Name
	}
	cm := need(t, ms, "ConfigMap/gateway-config")
	doc, ok := cm.Data["gateway.yaml"]
	if !ok {
		t.Fatal("ConfigMap gateway-config has no gateway.yaml")
	}
	cfg, err := config.Load([]byte(doc), config.Options{Lookup: lookupIn(env)})
	if err != nil {
		t.Fatalf("the ConfigMap's gateway.yaml does not load with the Deployment's env %v:\n%v", slices.Sorted(maps.Keys(env)), err)
	}
	checkPolicyTests(t, cfg)

	// Mounts: the config directory (never a subPath, which would not be
	// updated and so never reloaded) and the key files named in token.keys.
	mounts := map[string]string{} // volume name → mount path
	for _, vm := range c.VolumeMounts {
		if vm.SubPath != "" {
			t.Errorf("volumeMount %s uses subPath: a ConfigMap or Secret mounted by subPath never updates", vm.Name)
		}
		mounts[vm.Name] = vm.MountPath
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			need(t, ms, "ConfigMap/"+v.ConfigMap.Name)
			if mounts[v.Name] != "/etc/gateway" {
				t.Errorf("ConfigMap volume %s mounted at %q, want /etc/gateway", v.Name, mounts[v.Name])
			}
		case v.Secret != nil:
			secrets[v.Secret.SecretName] = need(t, ms, "Secret/"+v.Secret.SecretName)
		}
	}
	if cfg.Token == nil || len(cfg.Token.Keys) == 0 {
		t.Fatal("the ConfigMap's gateway.yaml has no token keys")
	}
	for i, k := range cfg.Token.Keys {
		dir, file := path.Split(k.File)
		found := false
		for _, v := range pod.Spec.Volumes {
			if v.Secret != nil && path.Clean(mounts[v.Name]) == path.Clean(dir) {
				_, found = secrets[v.Secret.SecretName].StringData[file]
			}
		}
		if !found {
			t.Errorf("token.keys[%d].file %q is not a key of a Secret mounted at %s", i, k.File, dir)
		}
	}

	// Ports and probes agree with listen and admin.
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	portOf := func(addr string) int {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("address %q: %v", addr, err)
		}
		var n int
		fmt.Sscan(p, &n)
		return n
	}
	if got, want := ports["http"], portOf(cfg.Listen.Address); got != want {
		t.Errorf("container port http = %d, listen.address port = %d", got, want)
	}
	if got, want := ports["admin"], portOf(cfg.Admin.Address); got != want {
		t.Errorf("container port admin = %d, admin.address port = %d", got, want)
	}
	if host, _, _ := net.SplitHostPort(cfg.Admin.Address); host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("admin.address %q: the kubelet probes the pod IP, so the admin listener must bind every interface", cfg.Admin.Address)
	}
	for _, p := range []struct {
		name, path string
		pr         probe
	}{{"readiness", "/readyz", c.ReadinessProbe}, {"liveness", "/healthz", c.LivenessProbe}} {
		if p.pr.HTTPGet == nil || p.pr.HTTPGet.Path != p.path || fmt.Sprint(p.pr.HTTPGet.Port) != "admin" {
			t.Errorf("%s probe = %+v, want httpGet %s on port admin", p.name, p.pr.HTTPGet, p.path)
		}
	}
	svc := need(t, ms, "Service/gateway")
	if !subset(svc.Spec.Selector.MatchLabels, pod.Metadata.Labels) {
		t.Errorf("Service gateway selector %v does not select the gateway pods", svc.Spec.Selector.MatchLabels)
	}
	for _, p := range svc.Spec.Ports {
		if tp := fmt.Sprint(p.TargetPort); tp != "http" {
			t.Errorf("Service gateway port %s targets %s, want only the public port http", p.Name, tp)
		}
	}

	// Redis: the config's address is the redis Service, whose selector picks
	// the StatefulSet's pods, which the NetworkPolicy opens to the gateway only.
	if cfg.Session.Store != "redis" || cfg.Session.Redis == nil || len(cfg.Session.Redis.Addrs) != 1 {
		t.Fatalf("session: store %q redis %v; want redis with one address", cfg.Session.Store, cfg.Session.Redis)
	}
	rsvc := need(t, ms, "Service/redis")
	host, port, _ := net.SplitHostPort(cfg.Session.Redis.Addrs[0])
	if want := "redis.access-gateway.svc.cluster.local"; host != want && host != "redis" && host != "redis.access-gateway" {
		t.Errorf("session.redis.addrs[0] host %q is not the redis Service (%s)", host, want)
	}
	if len(rsvc.Spec.Ports) != 1 || fmt.Sprint(rsvc.Spec.Ports[0].Port) != port {
		t.Errorf("Service redis ports %+v do not match session.redis.addrs[0] port %s", rsvc.Spec.Ports, port)
	}
	sts := need(t, ms, "StatefulSet/redis")
	redisLabels := sts.Spec.Template.Metadata.Labels
	if !subset(rsvc.Spec.Selector.MatchLabels, redisLabels) || !subset(sts.Spec.Selector.MatchLabels, redisLabels) {
		t.Errorf("redis selectors (Service %v, StatefulSet %v) do not select the redis pods %v",
			rsvc.Spec.Selector.MatchLabels, sts.Spec.Selector.MatchLabels, redisLabels)
	}
	if subset(rsvc.Spec.Selector.MatchLabels, pod.Metadata.Labels) {
		t.Error("the redis Service selects the gateway pods")
	}
	np := need(t, ms, "NetworkPolicy/redis-from-gateway-only")
	if !subset(np.Spec.PodSel.MatchLabels, redisLabels) {
		t.Errorf("NetworkPolicy podSelector %v does not select the redis pods", np.Spec.PodSel.MatchLabels)
	}
	if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 ||
		!subset(np.Spec.Ingress[0].From[0].PodSelector.MatchLabels, pod.Metadata.Labels) ||
		subset(np.Spec.Ingress[0].From[0].PodSelector.MatchLabels, redisLabels) {
		t.Errorf("NetworkPolicy ingress %+v: want exactly one source, the gateway pods", np.Spec.Ingress)
	}
}

// The README's commands that create the gateway-token-keys Secret put in it
// every key file the ConfigMap's gateway.yaml names under the Secret's mount
// (token.keys and session.encryption_keys): a Secret created or replaced
// without one leaves the gateway unable to start (or a reload rejected).
// Every file they read is one a README command generates, with --session
// for session keys.
func TestKubernetesReadmeSecretsHoldEveryKeyFile(t *testing.T) {
	ms := readManifests(t)
	cm := need(t, ms, "ConfigMap/gateway-config")
	cfg, err := config.Load([]byte(cm.Data["gateway.yaml"]), config.Options{Lookup: lookupIn(exampleEnv)})
	if err != nil {
		t.Fatal(err)
	}
	const keysDir = "/etc/gateway-keys/"
	session := map[string]bool{}
	var named []string
	for _, k := range cfg.Token.Keys {
		named = append(named, k.File)
	}
	for _, k := range cfg.Session.EncryptionKeys {
		named = append(named, k.File)
		session[path.Base(k.File)] = true
	}
	b, err := os.ReadFile(filepath.Join(kubernetesDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		cur := ""
		for _, line := range strings.Split(block[1], "\n") {
			line = strings.TrimSpace(line)
			if strings.HasSuffix(line, `\`) {
				cur += strings.TrimSuffix(line, `\`) + " "
				continue
			}
			cmds = append(cmds, cur+line)
			cur = ""
		}
	}
	generated := map[string]bool{} // file -> generated with --session
	for _, c := range cmds {
		if f := strings.Fields(c); len(f) > 3 && f[0] == "gateway" && f[1] == "keys" && f[2] == "generate" {
			for i := range f {
				if f[i] == "--out" && i+1 < len(f) {
					generated[f[i+1]] = slices.Contains(f, "--session")
				}
			}
		}
	}
	var creates int
	for _, c := range cmds {
		if !strings.Contains(c, "create secret generic gateway-token-keys") {
			continue
		}
		creates++
		keys := map[string]bool{}
		for _, m := range regexp.MustCompile(`--from-file=(\S+)`).FindAllStringSubmatch(c, -1) {
			key, src, ok := strings.Cut(m[1], "=")
			if !ok {
				key, src = path.Base(m[1]), m[1]
			}
			keys[key] = true
			isSession, ok := generated[src]
			if !ok {
				t.Errorf("README: %q reads %s, which no `gateway keys generate --out` of the README writes", c, src)
			} else if isSession != session[key] {
				t.Errorf("README: %s becomes Secret key %s, but it was generated with --session=%v", src, key, isSession)
			}
		}
		for _, f := range named {
			if !strings.HasPrefix(f, keysDir) {
				t.Errorf("gateway.yaml names %s outside the gateway-token-keys mount %s", f, keysDir)
				continue
			}
			if !keys[strings.TrimPrefix(f, keysDir)] {
				t.Errorf("README: %q leaves out %s, which gateway.yaml names", c, strings.TrimPrefix(f, keysDir))
			}
		}
	}
	if creates == 0 {
		t.Fatal("README: no command creates the gateway-token-keys Secret")
	}
}
