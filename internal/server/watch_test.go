package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/metrics"
	"github.com/accessgateway/gateway/internal/token"
)

// WatchedFiles lists every file a reload must follow, once each.
func TestWatchedFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "up"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "up", "ca.pem"), selfSignedPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]byte(`public_url: http://127.0.0.1:8080
listen: {tls: {cert_file: tls/tls.crt, key_file: tls/tls.key}}
oidc: {issuer: "http://127.0.0.1:1", client_id: gw}
session:
  store: redis
  redis: {addrs: ["127.0.0.1:6379"], tls: {enabled: true, ca_file: redis/ca.crt}}
  encryption_keys: [{file: keys/s1.key, state: active}, {file: keys/s2.key, state: next}]
token: {keys: [{file: keys/t1.pem, state: active}, {file: keys/t2.pem, state: next}]}
devices:
  inventory_file: devices.yaml
  ek_ca_files: [ek/roots.pem]
  certificates: {ca_cert_file: device-ca/tls.crt, ca_key_file: device-ca/tls.key}
routes:
  - {name: a, host: 127.0.0.1, upstream: "https://127.0.0.1:9", upstream_ca_file: up/ca.pem, rules: {allow: [{domains: [corp.example]}]}}
  - {name: b, host: 127.0.0.1, path: /b, upstream: "https://127.0.0.1:9", upstream_ca_file: up/ca.pem, rules: {allow: [{domains: [corp.example]}]}}
`), config.Options{Dev: true, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	got := WatchedFiles(filepath.Join(dir, "gateway.yaml"), cfg)
	var want []string
	for _, f := range []string{"gateway.yaml", "tls/tls.crt", "tls/tls.key", "keys/t1.pem", "keys/t2.pem", "keys/s1.key", "keys/s2.key",
		"redis/ca.crt", "up/ca.pem", "devices.yaml", "device-ca/tls.crt", "device-ca/tls.key", "ek/roots.pem"} {
		want = append(want, filepath.Join(dir, f))
	}
	if !slices.Equal(got, want) {
		t.Errorf("WatchedFiles:\nexpected %v\ngot      %v", want, got)
	}
}

func TestRelevant(t *testing.T) {
	files := []string{"/etc/gateway/gateway.yaml", "/etc/gateway-tls/tls.crt"}
	for _, tc := range []struct {
		name string
		ev   fsnotify.Event
		want bool
	}{
		{"the file written", fsnotify.Event{Name: "/etc/gateway/gateway.yaml", Op: fsnotify.Write}, true},
		{"the file renamed over", fsnotify.Event{Name: "/etc/gateway/gateway.yaml", Op: fsnotify.Create}, true},
		{"a Secret volume's ..data swap", fsnotify.Event{Name: "/etc/gateway-tls/..data", Op: fsnotify.Create}, true},
		{"a version directory", fsnotify.Event{Name: "/etc/gateway-tls/..2026_12_01_00_00_01.1", Op: fsnotify.Create}, false},
		{"another file in the directory", fsnotify.Event{Name: "/etc/gateway/audit.log", Op: fsnotify.Write}, false},
		{"a chmod only", fsnotify.Event{Name: "/etc/gateway/gateway.yaml", Op: fsnotify.Chmod}, false},
		{"..data of an unwatched directory", fsnotify.Event{Name: "/etc/other/..data", Op: fsnotify.Create}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := relevant(tc.ev, files); got != tc.want {
				t.Errorf("relevant(%v): expected %v, got %v", tc.ev, tc.want, got)
			}
		})
	}
}

// Watch reloads when a key file's content changes (not only the config
// file), once per change; identical content does not reload; a bad key is
// rejected and counted, the last good signer keeps serving.
func TestWatchReloadsOnKeyFileChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	keyFile := filepath.Join(dir, "next.pem")
	if _, err := token.WriteKeyFile(filepath.Join(dir, "active.pem"), "ES256"); err != nil {
		t.Fatal(err)
	}
	writeKey := func(data []byte) {
		t.Helper()
		if err := os.WriteFile(keyFile+".tmp", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(keyFile+".tmp", keyFile); err != nil {
			t.Fatal(err)
		}
	}
	newKey := func() []byte {
		b, err := token.GenerateKeyPEM("ES256")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := newKey()
	writeKey(first)
	if err := os.WriteFile(path, []byte(`public_url: http://127.0.0.1:8080
oidc: {issuer: "http://127.0.0.1:1", client_id: gw}
token: {keys: [{file: active.pem, state: active}, {file: next.pem, state: next}]}
routes: [{name: a, host: 127.0.0.1, upstream: "http://127.0.0.1:9", public: true}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, m := watching(t, path)
	count := func(result string) float64 {
		fams, _ := m.Registry.Gather()
		for _, f := range fams {
			if f.GetName() == metrics.NameReloads {
				for _, mt := range f.GetMetric() {
					if mt.GetLabel()[0].GetValue() == result {
						return mt.GetCounter().GetValue()
					}
				}
			}
		}
		return 0
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	signer := s.rt.Load().signer
	for _, tc := range []struct {
		name            string
		data            []byte
		bad             bool
		wantOK, wantErr float64
	}{
		{"a new next key", newKey(), false, 1, 0},
		{"a key that does not parse", []byte("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n"), true, 1, 1},
		{"another new key", newKey(), false, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeKey(tc.data)
			waitFor("the reload", func() bool { return count("ok") == tc.wantOK && count("error") == tc.wantErr })
			switch cur := s.rt.Load().signer; {
			case tc.bad && cur != signer:
				t.Error("a rejected key file replaced the signer")
			case !tc.bad && cur == signer:
				t.Error("a new key file did not replace the signer")
			}
			signer = s.rt.Load().signer
		})
	}
	// The same content again (a resync rewriting identical files) does not reload.
	b, _ := os.ReadFile(keyFile)
	writeKey(b)
	time.Sleep(3 * watchDebounce)
	if count("ok") != 2 || count("error") != 1 {
		t.Errorf("identical content: expected no reload, got ok=%v error=%v", count("ok"), count("error"))
	}
	if !strings.Contains(strings.Join(WatchedFiles(path, s.Config()), " "), "next.pem") {
		t.Error("expected next.pem among the watched files")
	}
}

// selfSignedPEM is a CA certificate in PEM.
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// A configuration that names a key file not there yet (a ConfigMap applied
// before its Secret was mounted) is rejected, and loads by itself when the
// file appears — also when it appears while the rejected reload is being
// handled, before the watcher has looked at it or watches its directory
// (it was then taken as seen, and the reload never retried).
func TestWatchRetriesWhenANamedFileAppears(t *testing.T) {
	t.Run("after the rejection", func(t *testing.T) { testWatchRetries(t, false) })
	t.Run("while the rejection is handled", func(t *testing.T) { testWatchRetries(t, true) })
}

func testWatchRetries(t *testing.T, duringReload bool) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := token.WriteKeyFile(filepath.Join(keys, "a.pem"), "ES256"); err != nil {
		t.Fatal(err)
	}
	const base = `public_url: http://127.0.0.1:8080
oidc: {issuer: "http://127.0.0.1:1", client_id: gw}
routes: [{name: a, host: 127.0.0.1, upstream: "http://127.0.0.1:9", public: true}]
token: {keys: [{file: keys/a.pem, state: active}`
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p+".tmp", []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			t.Fatal(err)
		}
	}
	write(path, base+"]}\n")
	s, m := watching(t, path)
	reloads := func() (ok, bad float64) {
		fams, _ := m.Registry.Gather()
		for _, f := range fams {
			if f.GetName() == metrics.NameReloads {
				for _, mt := range f.GetMetric() {
					if mt.GetLabel()[0].GetValue() == "ok" {
						ok = mt.GetCounter().GetValue()
					} else {
						bad = mt.GetCounter().GetValue()
					}
				}
			}
		}
		return ok, bad
	}
	wait := func(wantOK, wantBad float64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			ok, bad := reloads()
			if ok == wantOK && bad == wantBad {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("expected ok=%v error=%v reloads, got ok=%v error=%v", wantOK, wantBad, ok, bad)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	b, err := token.GenerateKeyPEM("ES256")
	if err != nil {
		t.Fatal(err)
	}
	if duringReload {
		var once sync.Once
		// In the watcher's goroutine: no t.Fatal here; a failed write shows
		// as the reload never succeeding.
		f := func() { once.Do(func() { _ = os.WriteFile(filepath.Join(keys, "b.pem"), b, 0o600) }) }
		watchAfterReload.Store(&f)
		t.Cleanup(func() { watchAfterReload.Store(nil) })
	}
	write(path, base+", {file: keys/b.pem, state: next}]}\n")
	if !duringReload {
		wait(0, 1)
		write(filepath.Join(keys, "b.pem"), string(b))
	}
	wait(1, 1)
	if n := len(s.Config().Token.Keys); n != 2 {
		t.Errorf("expected the configuration with 2 keys in force, got %d", n)
	}
}

// A watched directory removed and created again, or replaced by another
// moved into its place (a deploy that swaps the whole directory), is
// watched again as soon as it is back: its next change reloads within
// seconds. Before, its watch was gone for good and changes were seen only
// by the minute's poll.
func TestWatchFollowsARecreatedDirectory(t *testing.T) {
	for _, how := range []string{"removed and created", "moved away, another moved in"} {
		t.Run(how, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "conf")
			path := filepath.Join(dir, "gateway.yaml")
			conf := func(d, upstream string) {
				t.Helper()
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(d, "active.pem")); err != nil {
					if _, err := token.WriteKeyFile(filepath.Join(d, "active.pem"), "ES256"); err != nil {
						t.Fatal(err)
					}
				}
				y := `public_url: http://127.0.0.1:8080
oidc: {issuer: "http://127.0.0.1:1", client_id: gw}
token: {keys: [{file: active.pem, state: active}]}
routes: [{name: a, host: 127.0.0.1, upstream: "` + upstream + `", public: true}]
`
				if err := os.WriteFile(filepath.Join(d, "gateway.yaml.tmp"), []byte(y), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(filepath.Join(d, "gateway.yaml.tmp"), filepath.Join(d, "gateway.yaml")); err != nil {
					t.Fatal(err)
				}
			}
			conf(dir, "http://127.0.0.1:9")
			s, _ := watching(t, path)
			serving := func(want string) {
				t.Helper()
				deadline := time.Now().Add(5 * time.Second)
				for s.Config().Routes[0].Upstream != want {
					if time.Now().After(deadline) {
						t.Fatalf("the gateway still serves upstream %s, want %s", s.Config().Routes[0].Upstream, want)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			switch how {
			case "removed and created":
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				time.Sleep(3 * watchDebounce) // the watcher sees it gone
				conf(dir, "http://127.0.0.1:10")
			default:
				conf(dir+".new", "http://127.0.0.1:10")
				if err := os.Rename(dir, dir+".old"); err != nil {
					t.Fatal(err)
				}
				time.Sleep(3 * watchDebounce)
				if err := os.Rename(dir+".new", dir); err != nil {
					t.Fatal(err)
				}
			}
			serving("http://127.0.0.1:10")
			// And the directory now in place is the one watched.
			conf(dir, "http://127.0.0.1:11")
			serving("http://127.0.0.1:11")
		})
	}
}

// watching loads the configuration file path (dev mode), starts a gateway
// on it and its watcher; both stop when the test ends.
func watching(t *testing.T, path string) (*Server, *metrics.Metrics) {
	t.Helper()
	opts := config.Options{Dev: true}
	cfg, err := config.LoadFile(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	s, err := New(context.Background(), cfg, Options{ConfigPath: path, LoadOptions: opts, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := s.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	return s, m
}
