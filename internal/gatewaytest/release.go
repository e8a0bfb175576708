package gatewaytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var release struct {
	once sync.Once
	dir  string
	err  error
	out  []byte
}

// ReleaseBinary builds cmd/gateway as a release build (-tags prod, as
// `make build` and the Dockerfile do) once per test binary and returns its
// path; root is the repository's root, relative to the test's directory.
// A TestMain calls RemoveReleaseBinary after the tests.
func ReleaseBinary(t testing.TB, root string) string {
	t.Helper()
	release.once.Do(func() {
		if release.dir, release.err = os.MkdirTemp("", "gateway-release-bin-"); release.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-tags", "prod", "-o", filepath.Join(release.dir, "gateway"), "./cmd/gateway")
		cmd.Dir = root
		release.out, release.err = cmd.CombinedOutput()
	})
	if release.err != nil {
		t.Fatalf("gatewaytest: building the release gateway: %v\n%s", release.err, release.out)
	}
	return filepath.Join(release.dir, "gateway")
}

// RemoveReleaseBinary removes what ReleaseBinary built.
func RemoveReleaseBinary() {
	if release.dir != "" {
		_ = os.RemoveAll(release.dir)
	}
}

// Eventually polls cond every 25 ms until it holds, and fails the test if
// d passes first.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
