package store_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

// testCA issues server certificates for "redis.test".
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a server certificate for redis.test and its key into dir.
func (ca *testCA) issue(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "redis.test"},
		DNSNames: []string{"redis.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	writeAtomic(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeAtomic(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

// writeAtomic replaces path by a rename, as tools that rotate files do.
func writeAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// The Redis CA bundle rotates without a new client: after ReloadCA, new
// connections verify against the new bundle; a bad file keeps the old one.
func TestRedisReloadCA(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca1, ca2 := newTestCA(t, "redis CA 1"), newTestCA(t, "redis CA 2")
	ca1.issue(t, certFile, keyFile)
	writeAtomic(t, caFile, ca1.pem)
	// The server's own CA setting (for client certificates, unused) is
	// another file: the client's bundle is what rotates here.
	serverCA := filepath.Join(dir, "server-ca.pem")
	writeAtomic(t, serverCA, ca1.pem)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := redistest.Start(t, "--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", certFile,
		"--tls-key-file", keyFile, "--tls-ca-cert-file", serverCA, "--tls-auth-clients", "no")
	r := newRedis(t, store.RedisConfig{Addrs: []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))},
		TLS: store.RedisTLS{Enabled: true, CAFile: caFile, ServerName: "redis.test"}})
	ctx := context.Background()
	ping := func() error { return r.Ping(ctx) }
	if err := ping(); err != nil {
		t.Fatalf("ping with CA 1: %v", err)
	}

	// The server moves to a certificate from CA 2 (restart: new connections).
	ca2.issue(t, certFile, keyFile)
	srv.Restart()
	if err := ping(); err == nil {
		t.Fatal("expected the handshake with a CA 2 certificate to fail while the client trusts CA 1, got success")
	}

	for _, tc := range []struct {
		name        string
		file        []byte
		wantChanged bool
		wantErr     bool
	}{
		{"the new bundle (CA 1 and CA 2)", append(append([]byte{}, ca1.pem...), ca2.pem...), true, false},
		{"the same bundle again", append(append([]byte{}, ca1.pem...), ca2.pem...), false, false},
		{"a file without certificates keeps the bundle in use", []byte("not a certificate\n"), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeAtomic(t, caFile, tc.file)
			changed, err := r.ReloadCA()
			if (err != nil) != tc.wantErr || changed != tc.wantChanged {
				t.Fatalf("ReloadCA: expected changed=%v error=%v, got changed=%v error=%v", tc.wantChanged, tc.wantErr, changed, err)
			}
			srv.Restart() // every connection is dialed anew
			if err := ping(); err != nil {
				t.Fatalf("ping after the reload: %v", err)
			}
		})
	}
	if _, err := (&store.Redis{}).ReloadCA(); err != nil {
		t.Errorf("ReloadCA without TLS: expected no error, got %v", err)
	}
}
