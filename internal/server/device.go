package server

import (
	"crypto/x509"
	"net/http"

	"github.com/accessgateway/gateway/internal/proxy"
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
	c, err := proxy.ParseClientCertHeader(r.Header.Get(h))
	if err != nil {
		return nil
	}
	return c
}
