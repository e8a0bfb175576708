package ops

import (
	"os"
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
