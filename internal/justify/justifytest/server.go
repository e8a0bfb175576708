package justifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fault makes a fake misbehave instead of answering, until cleared with
// SetFault(nil).
type Fault struct {
	// Status answers with this status and the system's JSON error shape.
	Status int
	// Header adds headers to the answer (e.g. Retry-After,
	// X-RateLimit-Remaining).
	Header map[string]string
	// Body answers 200 with this body as it is (garbage, wrong shapes).
	Body string
	// Oversize answers 200 with a JSON body of at least this many bytes.
	Oversize int
	// Hang answers nothing until the client gives up (a timeout).
	Hang bool
}

// server is what every fake shares: a TLS test server, its CA as a file,
// faults and a request count.
type server struct {
	t      testing.TB
	srv    *httptest.Server
	caFile string

	mu       sync.Mutex
	fault    *Fault
	requests int
	last     *http.Request
	lastBody []byte
	done     chan struct{}
	gate     chan struct{}
	conns    int // open client connections
}

func newServer(t testing.TB, h http.Handler, mtls *x509.CertPool) *server {
	t.Helper()
	s := &server{t: t, done: make(chan struct{})}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		s.mu.Lock()
		s.requests++
		s.last, s.lastBody = r.Clone(r.Context()), body
		f, gate := s.fault, s.gate
		s.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			case <-s.done:
				return
			}
		}
		if f != nil {
			s.serveFault(w, r, f)
			return
		}
		h.ServeHTTP(w, r)
	}))
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake failures are expected in tests
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		s.mu.Lock()
		switch st {
		case http.StateNew:
			s.conns++
		case http.StateClosed, http.StateHijacked:
			s.conns--
		}
		s.mu.Unlock()
	}
	if mtls != nil {
		s.srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: mtls}
	}
	s.srv.StartTLS()
	der := s.srv.Certificate().Raw
	s.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(s.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatalf("justifytest: writing the CA: %v", err)
	}
	t.Cleanup(func() {
		close(s.done)
		s.srv.Close()
	})
	return s
}

func (s *server) serveFault(w http.ResponseWriter, r *http.Request, f *Fault) {
	for k, v := range f.Header {
		w.Header().Set(k, v)
	}
	switch {
	case f.Hang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		// Never an answer: drop the connection.
		panic(http.ErrAbortHandler)
	case f.Status != 0:
		writeJSON(w, f.Status, map[string]any{"message": http.StatusText(f.Status)})
	case f.Oversize > 0:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"padding":"` + strings.Repeat("x", f.Oversize) + `"}`))
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(f.Body))
	}
}

// URL is the fake's base URL (https, on loopback).
func (s *server) URL() string { return s.srv.URL }

// CAFile is a PEM file with the certificate that verifies the fake, for
// tls.ca_file.
func (s *server) CAFile() string { return s.caFile }

// SetFault makes the fake misbehave (nil: answer normally again).
func (s *server) SetFault(f *Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// Hold makes requests wait until release is called (after counting them),
// to line up concurrent clients.
func (s *server) Hold() (release func()) {
	g := make(chan struct{})
	s.mu.Lock()
	s.gate = g
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.gate = nil
			s.mu.Unlock()
			close(g)
		})
	}
}

// OpenConns is how many connections to the fake are open now.
func (s *server) OpenConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Requests is how many requests the fake received.
func (s *server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// LastRequest returns the last request received and its body (nil when
// none).
func (s *server) LastRequest() (*http.Request, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.lastBody
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ClientCert is a client certificate and key written to files, with the CA
// that issued it.
type ClientCert struct {
	CertFile, KeyFile string
	Pool              *x509.CertPool
}

// NewClientCert issues a client certificate from a new CA, for mTLS tests.
func NewClientCert(t testing.TB, cn string) ClientCert {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "justifytest client CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatalf("justifytest: client CA: %v", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatalf("justifytest: client certificate: %v", err)
	}
	kDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	c := ClientCert{CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client.key"), Pool: x509.NewCertPool()}
	c.Pool.AddCert(ca)
	if err := os.WriteFile(c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}
