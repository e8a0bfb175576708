package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/proxy"
)

// The client-certificate header of a TLS-terminating load balancer is
// believed only from a trusted proxy, and never when unset in the config.
func TestClientCertHeaderOnlyFromTrustedProxies(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "device"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	header := url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	s := &Server{}
	cases := []struct {
		name    string
		hdrName string // configured listen.client_cert_header
		trusted bool
		value   string
		want    bool
		// twice: the header sent twice (a load balancer that appends its
		// value to the client's copy instead of replacing it; a device
		// certificate is no secret): neither is believed.
		twice bool
	}{
		{"trusted proxy, configured header", "X-Client-Cert", true, header, true, false},
		{"untrusted peer", "X-Client-Cert", false, header, false, false},
		{"header not configured", "", true, header, false, false},
		{"garbage from a trusted proxy", "X-Client-Cert", true, "not-a-cert", false, false},
		{"a private key is not a certificate", "X-Client-Cert", true, url.QueryEscape("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), false, false},
		{"sent twice by a trusted proxy", "X-Client-Cert", true, header, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("X-Client-Cert", c.value)
			if c.twice {
				r.Header.Add("X-Client-Cert", c.value)
			}
			q := &request{rt: &runtime{cfg: &config.Config{Listen: config.ListenConfig{ClientCertHeader: c.hdrName}}},
				client: proxy.Forward{TrustedPeer: c.trusted}}
			got := s.clientCert(r, q)
			if (got != nil) != c.want {
				t.Fatalf("clientCert = %v, want a certificate: %v", got, c.want)
			}
			if got != nil && got.SerialNumber.Int64() != 7 {
				t.Fatalf("parsed the wrong certificate: %v", got.SerialNumber)
			}
		})
	}
}
