package server

import (
	"errors"
	"net/http"
	"time"
)

// CloseAfterDenial prepares the answer to a request the gateway denies (or
// answers in any other way without reading its body) so that the body cannot
// hold the connection: on HTTP/1.x, for a request that has a body, it sets
// "Connection: close" and a read deadline of now. Call it before the response
// header is written.
//
// Why: net/http, once the handler answers, reads what is left of a body of
// up to 256 KB to reuse the connection. A client that sends its body one
// byte at a time therefore kept a goroutine and a connection per request for
// as long as it liked, without ever signing in (1,000 such connections: 1,000
// goroutines). With the deadline that read fails at once and the server
// closes the connection after the answer.
//
// Requests without a body are left alone (nothing is pending on the
// connection, and closing it would cost a new TLS handshake per sign-in
// redirect); so is HTTP/2, where the body is one stream's, dropped with the
// stream when the handler returns, and "Connection: close" would end every
// other stream of the connection.
func CloseAfterDenial(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor >= 2 || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	w.Header().Set("Connection", "close")
	// ErrNotSupported (a writer that reaches no connection, as in handler
	// unit tests) leaves "Connection: close", which still stops the server
	// from reading the body before it answers.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// LimitBody bounds the reading of a request body by a handler of the
// gateway's own (agent API, forms): at most max bytes (beyond, reads fail with
// *http.MaxBytesError and the connection closes after the answer) and until
// timeout from now (a read deadline on the connection, or on the stream for
// HTTP/2; a read past it fails, and IsBodyTimeout recognizes the error).
// Either failure leaves the connection unusable for another request, so the
// server closes it after the answer. Call it before reading r.Body.
//
// Not for proxied requests: their bodies stream to the upstream at the
// client's pace, bounded by the route's settings.
func LimitBody(w http.ResponseWriter, r *http.Request, max int64, timeout time.Duration) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, max)
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
}

// IsBodyTimeout reports whether err (from reading a body limited by
// LimitBody) means the client did not send it in time.
func IsBodyTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// IsBodyTooLarge reports whether err (from reading a body limited by
// LimitBody) means the body was larger than allowed.
func IsBodyTooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}
