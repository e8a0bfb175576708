package ops

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"github.com/accessgateway/gateway/internal/gatewaytest"
)

// repoRoot is the repository's root, relative to this package.
const repoRoot = "../.."

// gatewayBinary is the release build of cmd/gateway (-tags prod, as
// `make build` and the Dockerfile do), built once per test run.
func gatewayBinary(t testing.TB) string { return gatewaytest.ReleaseBinary(t, repoRoot) }

func TestMain(m *testing.M) {
	code := m.Run()
	gatewaytest.RemoveReleaseBinary()
	os.Exit(code)
}

// goCmd runs the go tool in the repository's root and returns its stdout.
func goCmd(t testing.TB, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = repoRoot
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}
