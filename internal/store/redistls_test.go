package store_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

// writeTLSFiles writes a CA and a server certificate for the name
// "redis.test" signed by it, and returns the file paths.
func writeTLSFiles(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test redis CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "redis.test"},
		DNSNames: []string{"redis.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	return writeFile(t, filepath.Join(dir, "ca.pem"), pemOf("CERTIFICATE", caDER)),
		writeFile(t, filepath.Join(dir, "cert.pem"), pemOf("CERTIFICATE", srvDER)),
		writeFile(t, filepath.Join(dir, "key.pem"), pemOf("PRIVATE KEY", keyDER))
}

func TestRedisTLS(t *testing.T) {
	caFile, certFile, keyFile := writeTLSFiles(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// The plain port stays open for the harness's readiness PING; the store
	// talks to the TLS port.
	redistest.Start(t, "--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", certFile,
		"--tls-key-file", keyFile, "--tls-ca-cert-file", caFile, "--tls-auth-clients", "no")
	tlsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))

	r := newRedis(t, store.RedisConfig{Addrs: []string{tlsAddr},
		TLS: store.RedisTLS{Enabled: true, CAFile: caFile, ServerName: "redis.test"}})
	mustSet(t, r, "k", "over tls", time.Hour)
	wantValue(t, r, "k", "over tls")

	// The local cache's invalidation connection is TLS too, and its
	// watching works under TLS.
	c := newRedis(t, store.RedisConfig{Addrs: []string{tlsAddr}, LocalCache: store.RedisLocalCache{Enabled: true, MaxAge: time.Minute},
		TLS: store.RedisTLS{Enabled: true, CAFile: caFile, ServerName: "redis.test"}}, store.CacheReads(nil, ""))
	waitServing(t, c)
	for i := range 20 {
		v := fmt.Sprint("tls ", i)
		mustSet(t, r, "k", v, time.Hour)
		eventually(t, c, "k", []byte(v), "over TLS")
		waitServing(t, c)
	}

	for _, tc := range []struct {
		name string
		tls  store.RedisTLS
		want string
	}{
		{"system roots do not trust the test CA", store.RedisTLS{Enabled: true, ServerName: "redis.test"}, "certificate"},
		{"name mismatch", store.RedisTLS{Enabled: true, CAFile: caFile, ServerName: "other.test"}, "certificate"},
		{"no server name: the IP is not in the certificate", store.RedisTLS{Enabled: true, CAFile: caFile}, "certificate"},
		{"plain text to a TLS port", store.RedisTLS{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := store.NewRedis(t.Context(), store.RedisConfig{Addrs: []string{tlsAddr}, TLS: tc.tls})
			if err == nil {
				r.Close()
				t.Fatal("NewRedis = nil error; want a failed handshake")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewRedis error = %q; want it to mention %q", err, tc.want)
			}
		})
	}
}
