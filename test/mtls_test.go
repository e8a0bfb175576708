package test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/device/agent"
)

// serverCert is a self-signed certificate for 127.0.0.1.
func serverCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gateway test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// A CLI client proves its device with a short-lived device certificate whose
// key lives in the TPM (gateway-agent cert), over mTLS, and its identity with
// a bearer ID token. Without the certificate the same request is denied.
func TestDeviceCertificateOverMTLS(t *testing.T) {
	tpm, id := newSimTPM(t)
	m := newIdP(t)
	up := newUpstream(t)
	vars := idpVars(m, up)
	vars.EKHash, vars.DeviceStatus = id.EKHash, "active"
	cert, roots := serverCert(t)
	g := startGatewayWith(t, vars, baseConfig+deviceConfig, &tls.Config{Certificates: []tls.Certificate{cert}})

	// Enroll through the browser page, then get a device certificate.
	c := browser(t)
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	m.QueueUser(user("jane@example.com"))
	resp, body := get(t, c, g.URL+"/secure/x")
	mustStatus(t, resp, body, http.StatusForbidden)
	ec := enrollCmd.FindStringSubmatch(htmlUnescape(body))
	if ec == nil {
		t.Fatalf("no enrollment code: %.800s", body)
	}
	cl := &agent.Client{Gateway: g.URL, TPM: tpm, HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}}
	if _, err := cl.Enroll(context.Background(), ec[1]); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	res, err := cl.Cert(context.Background())
	if err != nil {
		t.Fatalf("cert: %v", err)
	}
	var chain [][]byte
	rest := []byte(res.CertificatePEM)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		chain = append(chain, b.Bytes)
	}
	signer, err := tpm.Signer()
	if err != nil || len(chain) == 0 {
		t.Fatalf("device key/certificate: %v (%d certs)", err, len(chain))
	}

	// A CLI with a bearer ID token but no device certificate: denied.
	idToken := fetchIDToken(t, m, g, user("jane@example.com"))
	cli := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, body = get(t, cli, g.URL+"/secure/x", "Authorization", "Bearer "+idToken, "Accept", "application/json")
	mustStatus(t, resp, body, http.StatusForbidden)
	if jsonField(t, body, "error") != "device-not-verified" {
		t.Errorf("JSON error = %s", body)
	}

	// The same CLI over mTLS with the TPM-held device certificate: allowed.
	cli.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
		Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: signer}}}}
	resp, body = get(t, cli, g.URL+"/secure/x", "Authorization", "Bearer "+idToken, "Accept", "application/json")
	mustStatus(t, resp, body, http.StatusOK)

	// Jane's device certificate with another user's bearer token: the owner
	// check runs for bearer tokens too.
	bobToken := fetchIDToken(t, m, g, user("bob@example.com"))
	resp, body = get(t, cli, g.URL+"/secure/x", "Authorization", "Bearer "+bobToken, "Accept", "application/json")
	mustStatus(t, resp, body, http.StatusForbidden)
	if jsonField(t, body, "error") != "device-owner-mismatch" {
		t.Errorf("JSON error = %s", body)
	}

	// A certificate from another CA is not a device certificate.
	other, _ := serverCert(t)
	cli.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{other}}}
	req, _ := http.NewRequest("GET", g.URL+"/secure/x", nil)
	req.Header.Set("Authorization", "Bearer "+idToken)
	if resp, err := cli.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("a foreign client certificate was accepted as a device")
		}
	}
}
