package ops

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// devOnlyPackages are the import-path prefixes that belong to the
// quickstart (`gateway dev`) and must not be in a release build: the
// embedded development OpenID provider and what it brings (zitadel's op,
// chi, cors), the demo tool, and devmode itself. OpenTelemetry is not on
// the list on purpose: tracing of the request path will bring it into the
// production binary; what must stay out is the dev provider's stack.
var devOnlyPackages = []string{
	"github.com/accessgateway/gateway/internal/devmode",
	"github.com/accessgateway/gateway/internal/devidp",
	"github.com/accessgateway/gateway/internal/demo",
	"github.com/zitadel/oidc/v3/pkg/op",
	"github.com/zitadel/",
	"github.com/go-chi/chi",
	"github.com/rs/cors",
}

func devOnly(pkg string) bool {
	for _, p := range devOnlyPackages {
		if pkg == p || strings.HasPrefix(pkg, p+"/") || (strings.HasSuffix(p, "/") && strings.HasPrefix(pkg, p)) {
			return true
		}
	}
	return false
}

// The release build (-tags prod) depends on none of the quickstart's
// packages; the default build still has them, so `go run ./cmd/gateway dev`
// works as the README says.
func TestProductionBuildLeavesOutTheQuickstart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tags    []string
		wantDev bool
	}{
		{"release build (-tags prod)", []string{"-tags", "prod"}, false},
		{"default build (go run ./cmd/gateway dev)", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"list", "-deps"}, tc.tags...)
			out := goCmd(t, append(args, "./cmd/gateway")...)
			var found []string
			for _, pkg := range strings.Fields(string(out)) {
				if devOnly(pkg) {
					found = append(found, pkg)
				}
			}
			switch {
			case tc.wantDev && !strings.Contains(string(out), "github.com/accessgateway/gateway/internal/devidp\n"):
				t.Errorf("expected the default build to include the dev provider (gateway dev), got none of it")
			case !tc.wantDev && len(found) > 0:
				t.Errorf("expected the release build to depend on no quickstart package, got %d:\n  %s", len(found), strings.Join(found, "\n  "))
			}
		})
	}
}

// The matcher itself: the list is about the dev provider's stack only.
func TestDevOnlyMatcher(t *testing.T) {
	for pkg, want := range map[string]bool{
		"github.com/accessgateway/gateway/internal/devidp":       true,
		"github.com/accessgateway/gateway/internal/devidpx":      false,
		"github.com/accessgateway/gateway/internal/demo":         true,
		"github.com/zitadel/oidc/v3/pkg/op":                      true,
		"github.com/zitadel/schema":                              true,
		"github.com/go-chi/chi/v5":                               true,
		"github.com/rs/cors/internal":                            true,
		"go.opentelemetry.io/otel/trace":                         false,
		"github.com/coreos/go-oidc/v3/oidc":                      false,
		"github.com/accessgateway/gateway/internal/server":       false,
		"github.com/accessgateway/gateway/internal/devicesomewh": false,
	} {
		if got := devOnly(pkg); got != want {
			t.Errorf("devOnly(%q): expected %v, got %v", pkg, want, got)
		}
	}
}

// `gateway dev` in a release binary says how to get the quickstart and
// exits 2; the other commands are there.
func TestReleaseBinaryExplainsMissingDev(t *testing.T) {
	bin := gatewayBinary(t)
	cmd := exec.Command(bin, "dev")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("gateway dev: expected exit status 2, got %v", err)
	}
	for _, want := range []string{"not part of this release build", "go run ./cmd/gateway dev"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("gateway dev: expected %q in its message, got:\n%s", want, stderr.String())
		}
	}
	out, err := exec.Command(bin, "help").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"serve", "check", "explain", "keys generate"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("gateway help: expected %q, got:\n%s", want, out)
		}
	}
}

// `make build` and the Dockerfile build the release binary.
func TestReleaseBuildsUseTheProdTag(t *testing.T) {
	goBuild := regexp.MustCompile(`(?m)(?:go|\$\(GO\)) build[^\n]*\./cmd/gateway(?:[ \t]|$)`)
	for _, f := range []string{"Makefile", "deploy/Dockerfile"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		lines := goBuild.FindAllString(string(b), -1)
		if len(lines) == 0 {
			t.Errorf("%s: expected a go build of ./cmd/gateway, got none", f)
		}
		for _, l := range lines {
			if !strings.Contains(l, "-tags prod") {
				t.Errorf("%s: expected the gateway built with -tags prod, got %q", f, l)
			}
		}
	}
}
