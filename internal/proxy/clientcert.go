package proxy

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// maxClientCertHeader bounds the header before any decoding.
const maxClientCertHeader = 16 << 10

// ErrClientCertHeader is wrapped by every ParseClientCertHeader error.
var ErrClientCertHeader = errors.New("proxy: bad client certificate header")

// ParseClientCertHeader parses the client certificate a TLS-terminating load
// balancer passes in a header: one PEM CERTIFICATE block, URL-escaped (as
// nginx's $ssl_client_escaped_cert, or form-encoded with '+' for spaces) or
// raw. Percent-escapes are decoded; '+' stays '+' (base64 needs it) unless
// the armor line shows form encoding ("BEGIN+CERTIFICATE"). Anything around the block other than
// whitespace, a second block, or a header longer than 16 KiB is an error.
// The caller must read the header only from a trusted proxy, and must still
// verify the certificate (chain, validity, revocation): this only parses.
func ParseClientCertHeader(raw string) (*x509.Certificate, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: empty", ErrClientCertHeader)
	}
	if len(raw) > maxClientCertHeader {
		return nil, fmt.Errorf("%w: expected at most %d bytes, got %d", ErrClientCertHeader, maxClientCertHeader, len(raw))
	}
	if strings.Contains(raw, "%") {
		unescape := url.PathUnescape
		if strings.Contains(raw, "BEGIN+CERTIFICATE") {
			// Form encoding (Go's url.QueryEscape): '+' is a space, and
			// base64's own '+' was escaped as %2B.
			unescape = url.QueryUnescape
		}
		u, err := unescape(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrClientCertHeader, err)
		}
		raw = u
	}
	b, rest := pem.Decode([]byte(raw))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: expected a PEM CERTIFICATE block", ErrClientCertHeader)
	}
	if len(b.Headers) > 0 || len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("%w: expected exactly one PEM CERTIFICATE block and nothing else", ErrClientCertHeader)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrClientCertHeader, err)
	}
	return c, nil
}
