package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"
)

func testCertPEM(t testing.TB) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "device-1"},
		NotBefore: time.Unix(1_700_000_000, 0), NotAfter: time.Unix(1_800_000_000, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestParseClientCertHeader(t *testing.T) {
	p := testCertPEM(t)
	other := testCertPEM(t)
	tests := []struct {
		name string
		raw  string
		ok   bool
	}{
		{name: "URL-escaped PEM (nginx $ssl_client_escaped_cert)", raw: url.QueryEscape(p), ok: true},
		{name: "path-escaped PEM", raw: url.PathEscape(p), ok: true},
		{name: "raw PEM keeps '+'", raw: p, ok: true},
		{name: "surrounding whitespace", raw: "\n" + p + "\n\n", ok: true},
		{name: "empty"},
		{name: "not PEM", raw: "MIIB..."},
		{name: "two certificates", raw: url.QueryEscape(p + other)},
		{name: "trailing garbage", raw: p + "x"},
		{name: "leading garbage is skipped by pem but not here", raw: "junk\n" + p, ok: true},
		{name: "a key, not a certificate", raw: strings.ReplaceAll(p, "CERTIFICATE", "PRIVATE KEY")},
		{name: "PEM headers", raw: strings.Replace(p, "-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1)},
		{name: "bad escape", raw: "%zz" + url.QueryEscape(p)},
		{name: "too long", raw: p + strings.Repeat(" ", 16<<10)},
		{name: "corrupt DER", raw: strings.Replace(p, "MII", "MIA", 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseClientCertHeader(tc.raw)
			if tc.ok {
				if err != nil || c == nil || c.Subject.CommonName != "device-1" {
					t.Fatalf("ParseClientCertHeader = %v, %v; want the certificate", c, err)
				}
				return
			}
			if err == nil || c != nil || !errors.Is(err, ErrClientCertHeader) {
				t.Fatalf("ParseClientCertHeader = %v, %v; want ErrClientCertHeader", c, err)
			}
		})
	}
}

// FuzzParseClientCertHeader: never panics; a parsed certificate comes with
// no error, an error with no certificate.
func FuzzParseClientCertHeader(f *testing.F) {
	p := testCertPEM(f)
	f.Add(url.QueryEscape(p))
	f.Add(p)
	f.Add("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
	f.Add("%2D%2D%2D")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := ParseClientCertHeader(raw)
		if (c == nil) == (err == nil) {
			t.Fatalf("ParseClientCertHeader(%q) = %v, %v", raw, c, err)
		}
		if err != nil && !errors.Is(err, ErrClientCertHeader) {
			t.Fatalf("error %v does not wrap ErrClientCertHeader", err)
		}
	})
}
