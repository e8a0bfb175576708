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
//   - a CONNECT request other than an HTTP/2 extended CONNECT (RFC 8441,
//     whose :protocol the Upstream judges as an upgrade): a tunnel to a
//     host and port: 400, connection closed;
//   - the HTTP/2 preface as a request ("PRI * HTTP/2.0", which Go's HTTP/1
//     server serves when it has header fields, as version 2.0: its chunked
//     body would escape the close below): 400, connection closed;
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
//     outright on plain-HTTP listeners, where it sees the raw header.) The
//     close is set on the final response itself (closeWriter), not only in
//     the header map beforehand: httputil.ReverseProxy clears that map
//     after each informational response from the upstream (a 103, or the
//     100 Continue that answers "Expect: 100-continue").
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
		case r.Method == "PRI":
			reason = "proxy: the HTTP/2 connection preface (PRI) is not a request; use HTTP/2 over TLS or HTTP/1.1"
		case r.Method == http.MethodConnect && len(r.Header[protocolHeader]) == 0:
			reason = "proxy: CONNECT opens a tunnel to a host, which the gateway never forwards"
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
			// Set now for a handler that writes nothing (the server then
			// sends the header map as it is), and again on the final answer.
			w.Header().Set("Connection", "close")
			w = &closeWriter{ResponseWriter: w}
		}
		next.ServeHTTP(w, r)
	})
}

// closeWriter sets "Connection: close" on the final response (a status of
// 200 or more, or 101), whatever happened to the header map before:
// httputil.ReverseProxy clears the map after relaying each informational
// response (clear(h) in its Got1xxResponse hook), so a close set before the
// handler ran would be gone by the time the final header is written, and
// the connection would stay open for the bytes after a chunked body.
//
// http.ResponseController reaches the server's writer through Unwrap
// (Hijack, deadlines, EnableFullDuplex); Flush is a method of its own
// because a flush before any WriteHeader sends the final header too.
type closeWriter struct {
	http.ResponseWriter
	final bool // the final header was written
}

func (w *closeWriter) WriteHeader(code int) {
	if !w.final && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.final = true
		w.Header().Set("Connection", "close")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *closeWriter) Write(b []byte) (int, error) {
	if !w.final {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// FlushError flushes; before the final header it writes that header (200,
// as the server would) with the close.
func (w *closeWriter) FlushError() error {
	if !w.final {
		w.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush is FlushError for callers that ask for an http.Flusher.
func (w *closeWriter) Flush() { _ = w.FlushError() }

// Unwrap lets http.ResponseController reach the server's writer.
func (w *closeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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
