package server

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
)

// clientCert returns the client certificate of the TLS connection, or the
// one a trusted proxy passed in the configured header (never from others).
func (s *Server) clientCert(r *http.Request, q *request) *x509.Certificate {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return r.TLS.PeerCertificates[0]
	}
	h := q.rt.cfg.Listen.ClientCertHeader
	if h == "" || !q.client.TrustedPeer {
		return nil
	}
	raw := r.Header.Get(h)
	if raw == "" || len(raw) > 16<<10 {
		return nil
	}
	if u, err := url.QueryUnescape(raw); err == nil {
		raw = u
	}
	b, _ := pem.Decode([]byte(raw))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil
	}
	return c
}
