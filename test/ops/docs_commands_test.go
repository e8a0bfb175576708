package ops

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/accessgateway/gateway/internal/config"
)

// shellBlocks returns the commands of the ```sh blocks of a Markdown file,
// with backslash continuations joined.
func shellBlocks(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		var cur string
		for _, line := range strings.Split(m[1], "\n") {
			line = strings.TrimSpace(line)
			if strings.HasSuffix(line, `\`) {
				cur += strings.TrimSuffix(line, `\`) + " "
				continue
			}
			if cur+line != "" {
				cmds = append(cmds, cur+line)
			}
			cur = ""
		}
	}
	return cmds
}

// The `helm template` commands docs/operations.md tells operators to run
// render (offline, with the chart's kubeVersion constraint) and yield a
// configuration that loads.
func TestOperationsDocHelmTemplateCommandsRender(t *testing.T) {
	var found int
	for _, cmd := range shellBlocks(t, filepath.Join(repoRoot, "docs/operations.md")) {
		if !strings.HasPrefix(cmd, "helm template ") {
			continue
		}
		found++
		pipeline, _, _ := strings.Cut(cmd, "|")
		args := strings.Fields(pipeline)[1:]
		for i, a := range args {
			switch a {
			case "deploy/helm/gateway":
				args[i] = chartDir
			case "my-values.yaml":
				args[i] = filepath.Join(chartDir, "ci/production-values.yaml")
			}
		}
		out := helm(t, args...)
		r := decodeManifests(t, cmd, out)
		if len(r.configMaps) != 1 {
			t.Fatalf("%s: expected the ConfigMap, got %d", cmd, len(r.configMaps))
		}
		env := func(string) (string, bool) { return "x", true }
		if _, err := config.Load([]byte(r.configMaps[0].Data["gateway.yaml"]), config.Options{Lookup: env}); err != nil {
			t.Errorf("%s: the rendered gateway.yaml does not load: %v", cmd, err)
		}
	}
	if found == 0 {
		t.Fatal("docs/operations.md: no helm template command")
	}
}

// The whole pipeline of docs/operations.md that extracts gateway.yaml from
// the rendered ConfigMap (helm template | yq > file) writes a file that
// loads, with the yq on PATH (Debian's yq wraps jq and prints strings as
// JSON unless told -r). Skipped without yq.
func TestOperationsDocConfigExtractionPipeline(t *testing.T) {
	yq, err := exec.LookPath("yq")
	if err != nil {
		t.Skip("yq is not installed")
	}
	out := filepath.Join(t.TempDir(), "gateway.yaml")
	var found int
	for _, cmd := range shellBlocks(t, filepath.Join(repoRoot, "docs/operations.md")) {
		if !strings.HasPrefix(cmd, "helm template ") || !strings.Contains(cmd, "| yq ") {
			continue
		}
		found++
		script := strings.NewReplacer("helm template ", helmBinary(t)+" template ", "deploy/helm/gateway", chartDir,
			"my-values.yaml", filepath.Join(chartDir, "ci/production-values.yaml"), "| yq ", "| "+yq+" ",
			"/tmp/gateway.yaml", out).Replace(cmd)
		if b, err := exec.Command("bash", "-o", "pipefail", "-c", script).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", script, err, b)
		}
		if _, err := config.LoadFile(out, config.Options{Lookup: func(string) (string, bool) { return "x", true }}); err != nil {
			t.Errorf("%s: the extracted file does not load: %v", cmd, err)
		}
	}
	if found == 0 {
		t.Fatal("docs/operations.md: no helm template | yq pipeline")
	}
}
