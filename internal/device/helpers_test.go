package device_test

import (
	"encoding/pem"
	"os"
	"path/filepath"
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
