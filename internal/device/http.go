package device

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// APIPrefix is where the gateway mounts Handler on every routed host.
const APIPrefix = "/.gateway/api/device"

// BodyTimeout is how long Handler waits for a request body (from the moment
// the handler starts) before it answers 408 and the connection closes.
const BodyTimeout = 10 * time.Second

// bodyTimeout is BodyTimeout; tests shorten it.
var bodyTimeout = BodyTimeout

// Handler serves the agent's JSON API. Paths may carry APIPrefix or be
// already stripped of it:
//
//	POST enroll/start   EnrollStartRequest  -> EnrollStartResponse
//	POST enroll/finish  EnrollFinishRequest -> Result
//	POST attest/start   AttestStartRequest  -> AttestStartResponse
//	POST attest/finish  AttestFinishRequest -> Result
//	POST cancel         CancelRequest       -> Result
//
// Bodies are limited to MaxBodyBytes (413) and BodyTimeout (408).
// Malformed input is 400 with an ErrorResponse that names the member in the
// API's terms (its JSON path and the JSON type expected, e.g.
// "quote.pcrs[0].index: expected an integer, got a string"), never the
// gateway's Go types, and stores nothing; a denial
// is 403 with its Reason; a store failure is 503. The API needs no browser
// session: the one-time code and the TPM are the credentials. Rate limiting
// is the caller's concern.
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, APIPrefix)
		path = strings.Trim(path, "/")
		var h func(ctx context.Context, body []byte) (any, error)
		switch path {
		case "enroll/start":
			h = handle(s.EnrollStart)
		case "enroll/finish":
			h = handle(s.EnrollFinish)
		case "attest/start":
			h = handle(s.AttestStart)
		case "attest/finish":
			h = handle(s.AttestFinish)
		case "cancel":
			h = handle(s.Cancel)
		default:
			writeJSON(w, http.StatusNotFound, ErrorResponse{Error: "device: unknown API path " + r.URL.Path})
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, ErrorResponse{Error: "device: expected POST, got " + r.Method})
			return
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			writeJSON(w, http.StatusUnsupportedMediaType, ErrorResponse{Error: fmt.Sprintf("device: expected Content-Type application/json, got %q", ct)})
			return
		}
		// The body is read whole before anything else, within MaxBodyBytes
		// and BodyTimeout: a client sending it slowly holds the connection
		// no longer than that.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		var tooLarge *http.MaxBytesError
		var timeout interface{ Timeout() bool }
		switch {
		case errors.As(err, &tooLarge):
			writeJSON(w, http.StatusRequestEntityTooLarge, ErrorResponse{Error: fmt.Sprintf("device: request body larger than %d bytes", MaxBodyBytes)})
			return
		case errors.As(err, &timeout) && timeout.Timeout():
			writeJSON(w, http.StatusRequestTimeout, ErrorResponse{Error: fmt.Sprintf("device: request body not received within %s", bodyTimeout)})
			return
		case err != nil:
			writeJSON(w, http.StatusBadRequest, ErrorResponse{Error: "device: could not read the request body"})
			return
		}
		out, err := h(r.Context(), body)
		if err != nil {
			status, resp := errorResponse(err)
			if status == http.StatusServiceUnavailable {
				s.log.ErrorContext(r.Context(), "device: API request failed", "path", path, "err", err)
			}
			writeJSON(w, status, resp)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func handle[Req, Resp any](f func(context.Context, Req) (Resp, error)) func(context.Context, []byte) (any, error) {
	return func(ctx context.Context, body []byte) (any, error) {
		var req Req
		if err := decodeStrict(body, &req); err != nil {
			return nil, err
		}
		return f(ctx, req)
	}
}

// decodeStrict decodes exactly one JSON object with no unknown fields.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return badf("expected one JSON object, got trailing data")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badf("expected one JSON object, got trailing data")
	}
	if name, ok := duplicateName(body); ok {
		return badf("expected each member name once per object, got %q twice", name)
	}
	return nil
}

// decodeError describes a decoding error of a request body in the API's
// terms: the member's JSON path (quote.pcrs[0].index) and the JSON type
// expected and got. It never repeats encoding/json's message, which names
// the gateway's Go types.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		got := jsonValue(te.Value)
		if te.Type != nil && te.Type.Kind() == reflect.Slice && te.Type.Elem().Kind() == reflect.Uint8 && te.Value == "string" {
			got = "a string that is not standard base64"
		}
		if te.Field == "" {
			return badf("expected a JSON object, got %s", got)
		}
		return badf("%s: expected %s, got %s", memberPath(te.Field), jsonKind(te.Type), got)
	case errors.As(err, &se):
		return badf("expected a JSON object, got invalid JSON at byte %d", se.Offset)
	case errors.Is(err, io.EOF):
		return badf("expected a JSON object, got an empty body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badf("expected a JSON object, got JSON that ends early")
	}
	// DisallowUnknownFields: `json: unknown field "name"`, name quoted.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, qerr := strconv.Unquote(name); qerr == nil {
			return badf("unknown field %q", n)
		}
	}
	return badf("expected a JSON object of the documented shape")
}

// memberPath turns encoding/json's field path (quote.pcrs.0.index) into the
// notation of the API's other errors (quote.pcrs[0].index).
func memberPath(field string) string {
	parts := strings.Split(field, ".")
	var b strings.Builder
	for i, p := range parts {
		if _, err := strconv.Atoi(p); err == nil && i > 0 {
			b.WriteString("[" + p + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// jsonKind names the JSON a Go type of the API's messages decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another JSON type"
	}
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 time (a string)"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "base64-encoded bytes (a string)"
		}
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another JSON type"
}

// jsonValue describes encoding/json's UnmarshalTypeError.Value: a JSON
// type ("string", "bool", ...) or "number <literal>".
func jsonValue(v string) string {
	switch v {
	case "string", "number":
		return "a " + v
	case "array", "object":
		return "an " + v
	case "bool":
		return "a boolean"
	case "null":
		return "null"
	}
	if lit, ok := strings.CutPrefix(v, "number "); ok {
		if len(lit) > 32 {
			lit = lit[:32] + "…"
		}
		return "the number " + lit
	}
	return "another JSON value"
}

// duplicateName returns a member name that occurs twice in one object of
// the JSON text body (already known to be valid), comparing names as
// encoding/json matches them to fields: without regard to case, with the
// long s and the Kelvin sign folded onto s and k. Parsers disagree on
// which of two values counts (encoding/json takes the last).
func duplicateName(body []byte) (string, bool) {
	type frame struct {
		names   map[string]bool // nil for an array
		wantKey bool
	}
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].names != nil {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		if n := len(stack); n > 0 && stack[n-1].names != nil && stack[n-1].wantKey {
			if name, ok := tok.(string); ok {
				k := strings.ToLower(strings.ToUpper(name))
				if stack[n-1].names[k] {
					return name, true
				}
				stack[n-1].names[k], stack[n-1].wantKey = true, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{names: map[string]bool{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

func errorResponse(err error) (int, ErrorResponse) {
	var bad badRequest
	var de *Error
	switch {
	case errors.As(err, &bad):
		return http.StatusBadRequest, ErrorResponse{Error: err.Error()}
	case errors.As(err, &de):
		return http.StatusForbidden, ErrorResponse{Error: strings.TrimPrefix(de.Error(), "device: "), Reason: de.Reason}
	default:
		return http.StatusServiceUnavailable, ErrorResponse{Error: "device: the gateway could not complete the request; try again later"}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
