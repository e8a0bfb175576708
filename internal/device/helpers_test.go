package device_test

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accessgateway/gateway/internal/device/devicetest"
)

type pemBlock = pem.Block

func pemDecode(b []byte) (*pem.Block, []byte) { return pem.Decode(b) }

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustEKCA(t *testing.T) *devicetest.EKCA {
	t.Helper()
	ca, err := devicetest.NewEKCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// skipWithoutCgo skips when the simulator was built without cgo.
func skipWithoutCgo(t testing.TB, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "requires building with CGO") {
		t.Skip("skipping: the TPM simulator needs cgo (CGO_ENABLED=1, gcc, libssl-dev)")
	}
}
