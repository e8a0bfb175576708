package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accessgateway/gateway/internal/auth"
)

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 routes"}, {1, "1 route"}, {2, "2 routes"}} {
		if got := count(tc.n, "route"); got != tc.want {
			t.Errorf("count(%d): expected %q, got %q", tc.n, tc.want, got)
		}
	}
}

// keys generate tells the truth for a first key (state: active) and says
// how to rotate; --session writes a key the session keyring accepts.
func TestKeysGenerate(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"signing key", []string{"generate", "--out", filepath.Join(dir, "k.pem")},
			[]string{"if it is your first signing key, add it as the active one:", "- {file: " + filepath.Join(dir, "k.pem") + ", state: active}", "state: next"}},
		{"session key", []string{"generate", "--session", "--out", filepath.Join(dir, "s.key")},
			[]string{"encryption_keys:", "- {file: " + filepath.Join(dir, "s.key") + ", state: active}", "state: next"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := keys(&out, tc.args); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("expected the output to contain %q, got:\n%s", w, out.String())
				}
			}
			if err := keys(&out, tc.args); err == nil {
				t.Error("a second run overwrote the key file")
			}
		})
	}
	b, err := os.ReadFile(filepath.Join(dir, "s.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.NewKeyring([]auth.KeyConfig{{Key: string(b), State: auth.KeyActive}}); err != nil {
		t.Errorf("the session key does not load: %v", err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "s.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("session key mode: expected 0600, got %v", st.Mode().Perm())
	}
}
