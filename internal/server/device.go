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
	// Exactly one value: a proxy that appends its header to the client's
	// copy instead of replacing it would otherwise hand the gateway the
	// client's (a device certificate is no secret; only the proxy's TLS
	// handshake proves its key was used).
	vals := r.Header.Values(h)
	if len(vals) != 1 {
		return nil
	}
	c, err := proxy.ParseClientCertHeader(vals[0])
	if err != nil {
		return nil
	}
	return c
}
