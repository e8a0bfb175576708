package proxy

import (
	"net/http"
	"strings"
)

// Guard wraps the public handler. It refuses, before anything else runs,
// requests that no route may forward, and it closes connections whose
// framing a load balancer in front might have read differently:
//
//   - an h2c upgrade or HTTP2-Settings header: 400, connection closed;
//   - an upgrade request that also has a body (an upgrade is a GET or a
//     bodiless request; a body would be read by one side and not the other),
//     or that is HTTP/1.0: 400, connection closed;
//   - an HTTP/1.0 request, or an HTTP/1.x request with a chunked body:
//     served, then the connection is closed. Go's server removes the
//     Content-Length header of a request that also has Transfer-Encoding
//     before any handler runs, so a handler cannot tell such a request from a
//     plain chunked one; closing after every chunked request means that
//     whatever a front end that trusted Content-Length sent after the chunked
//     body is never read as a request. (GuardListener refuses the request
//     outright on plain-HTTP listeners, where it sees the raw header.)
//
// Per-route upgrade allow-lists are enforced by the Upstream.
func Guard(next http.Handler) http.Handler { return GuardNotify(next, nil) }

// GuardNotify is Guard that first calls refused, when it is not nil, with
// each request it refuses and why (the hook for an audit record: the
// request has no gateway request ID yet).
func GuardNotify(next http.Handler, refused func(r *http.Request, reason string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reason string
		switch {
		case len(r.Header["Http2-Settings"]) > 0 || upgradesTo(r.Header, "h2c"):
			reason = "proxy: HTTP/2 over cleartext (h2c) is not accepted; use HTTP/2 over TLS or HTTP/1.1"
		case hasUpgrade(r.Header) && (len(r.TransferEncoding) > 0 || r.ContentLength != 0):
			reason = "proxy: an upgrade request carries no body"
		case hasUpgrade(r.Header) && r.ProtoMajor == 1 && r.ProtoMinor == 0:
			// RFC 9110 §7.8: Upgrade in an HTTP/1.0 request is ignored.
			reason = "proxy: HTTP/1.0 requests cannot upgrade"
		}
		if reason != "" {
			if refused != nil {
				refused(r, reason)
			}
			refuse(w, reason)
			return
		}
		if r.ProtoMajor == 1 && (r.ProtoMinor == 0 || len(r.TransferEncoding) > 0) {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// upgradesTo reports whether any Upgrade element names protocol.
func upgradesTo(h http.Header, protocol string) bool {
	for _, line := range h["Upgrade"] {
		for line != "" {
			var elem string
			elem, line, _ = strings.Cut(line, ",")
			name, _, _ := strings.Cut(trimOWS(elem), "/")
			if strings.EqualFold(trimOWS(name), protocol) {
				return true
			}
		}
	}
	return false
}

// refuse answers 400 and closes the connection.
func refuse(w http.ResponseWriter, msg string) {
	w.Header().Set("Connection", "close")
	http.Error(w, msg, http.StatusBadRequest)
}
