package contexttoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

type ctxKey struct{}

// NewContext returns a copy of ctx that carries c.
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// FromContext returns the verified claims that Middleware stored in ctx.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Claims)
	return c, ok && c != nil
}

// ErrorHandler answers a request whose token failed verification. err wraps
// one of the package's sentinel errors.
type ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

// Middleware verifies the token in header (DefaultHeader when empty) of
// every request. A request without a valid token is answered by WriteError
// and never reaches next; a request with one reaches next with the claims in
// its context (see FromContext).
func Middleware(v *Verifier, header string) func(http.Handler) http.Handler {
	return MiddlewareWith(v, header, WriteError)
}

// MiddlewareWith is Middleware with a custom answer to failed requests.
// onError must write a response; next is not called. It panics when v or
// onError is nil (a wiring mistake, caught at start-up).
func MiddlewareWith(v *Verifier, header string, onError ErrorHandler) func(http.Handler) http.Handler {
	if header == "" {
		header = DefaultHeader
	}
	if v == nil || onError == nil {
		panic("contexttoken: Middleware needs a Verifier and an ErrorHandler")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			vals := r.Header.Values(header)
			var err error
			switch len(vals) {
			case 0:
				err = fmt.Errorf("%w: expected header %s, got none", ErrMissing, header)
			case 1:
				var c *Claims
				if c, err = v.Verify(r.Context(), vals[0]); err == nil {
					next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), c)))
					return
				}
			default:
				err = fmt.Errorf("%w: expected one %s header, got %d", ErrMalformed, header, len(vals))
			}
			onError(w, r, err)
		})
	}
}

// ErrorBody is the JSON body WriteError writes.
type ErrorBody struct {
	// Error is Reason(err): a short stable code such as "expired".
	Error string `json:"error"`
	// Message is err's text: what was expected and what was got.
	Message string `json:"message"`
}

// WriteError answers with a JSON ErrorBody: status 503 when the key set is
// unavailable (ErrKeySet), 401 otherwise, with a WWW-Authenticate header
// naming the failure.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status := StatusCode(err)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", fmt.Sprintf(`GatewayContext error=%q`, Reason(err)))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ErrorBody{Error: Reason(err), Message: err.Error()})
}

// StatusCode maps a verification error to an HTTP status: 503 for
// ErrKeySet, 401 for every other error.
func StatusCode(err error) int {
	if errors.Is(err, ErrKeySet) {
		return http.StatusServiceUnavailable
	}
	return http.StatusUnauthorized
}
