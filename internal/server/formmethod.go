package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/accessgateway/gateway/internal/policy"
)

// Method overrides in a body. Rails (Rack::MethodOverride), Laravel and
// Symfony execute a POST as the method its _method parameter names — read
// from a form body (URL-encoded or multipart; Rack also reads a POST
// without a Content-Type as a form, and multipart/mixed and
// multipart/related bodies as multipart forms), and by Laravel from a JSON
// body. On a
// route whose rules list methods, the gateway reads such a body before it
// forwards the request, and judges the POST as every method it names
// (policy.Request.MethodOverrides). A body it cannot read to the end
// (larger than the route's method_override_body_limit, compressed,
// malformed) is judged as naming any method (policy.AnyMethod): deny
// entries on methods match it, allow entries on methods do not.
//
// Overrides only ever narrow a decision, so the body is read only after the
// request was allowed without them: an unauthenticated or denied client
// never makes the gateway hold a body.

// anyMethod is MethodOverrides for a body that may name any method.
var anyMethod = []string{policy.AnyMethod}

// maxOverrideValue bounds the value of a _method part of a multipart body.
const maxOverrideValue = 1 << 10

// bodyOverrideReadTimeout is how long the client has to send the part of
// the body the gateway reads.
const bodyOverrideReadTimeout = 30 * time.Second

// errBodyUnreadable: the client did not send the body it announced (it
// stopped, or was too slow).
var errBodyUnreadable = errors.New("the request body could not be read")

// bodyKind is how a framework reads a POST's body for _method.
type bodyKind uint8

const (
	bodyNone bodyKind = iota // no framework reads _method from it
	bodyURLEncoded
	bodyMultipart
	bodyJSON
	// bodyUnknown: a Content-Type the gateway cannot read as one type (it
	// does not parse, or there are several): a framework may read it as a
	// form.
	bodyUnknown
)

// overrideBodyKind says whether a POST's body may name a method override,
// and how to read it. Media types are compared as parsed (parameters,
// letter case).
func overrideBodyKind(h http.Header) (bodyKind, map[string]string) {
	cts := h.Values("Content-Type")
	switch {
	case len(cts) == 0:
		return bodyURLEncoded, nil // Rack reads a POST without a type as a form
	case len(cts) > 1:
		return bodyUnknown, nil
	}
	mt, params, err := mime.ParseMediaType(cts[0])
	// Laravel's isJson() looks for /json or +json in the whole header, its
	// parameters included: it then reads the body as JSON, whatever the
	// media type says.
	laravelJSON := strings.Contains(cts[0], "/json") || strings.Contains(cts[0], "+json")
	switch {
	case err != nil:
		return bodyUnknown, nil
	case laravelJSON && (mt == "application/x-www-form-urlencoded" || strings.HasPrefix(mt, "multipart/")):
		// Read as a form by Rack and PHP, as JSON by Laravel.
		return bodyUnknown, nil
	case mt == "application/x-www-form-urlencoded":
		return bodyURLEncoded, nil
	case mt == "multipart/form-data", mt == "multipart/mixed", mt == "multipart/related":
		// Rack parses the two others as forms too (PARSEABLE_DATA_MEDIA_TYPES).
		if b := params["boundary"]; b != "" && (rackBoundary(cts[0]) != b || phpBoundary(cts[0]) != b) {
			// The framework would split the body at another boundary
			// than the gateway does, and read other parts.
			return bodyUnknown, nil
		}
		return bodyMultipart, params
	case laravelJSON || strings.Contains(mt, "/json") || strings.Contains(mt, "+json"):
		// Laravel's isJson(); the lower-cased media type too (reading
		// a body Laravel would not only narrows the decision).
		return bodyJSON, nil
	}
	return bodyNone, nil
}

// rackMultipart is Rack's Rack::Multipart::MULTIPART: its greedy ".*" takes
// the boundary from the last "boundary=" of the Content-Type, wherever it
// stands (in another parameter's value too).
var rackMultipart = regexp.MustCompile(`(?i)^multipart/.*boundary="?([^";,]+)`)

// rackBoundary is the boundary Rack reads in the Content-Type ct.
func rackBoundary(ct string) string {
	if m := rackMultipart.FindStringSubmatch(ct); m != nil {
		return m[1]
	}
	return ""
}

// phpBoundary is the boundary PHP reads in the Content-Type ct
// (main/rfc1867.c): after the first '=' that follows the first "boundary"
// (in this letter case if there is one, else in any), wherever it stands;
// to the closing quote, or to the first ',' or ';'.
func phpBoundary(ct string) string {
	i := strings.Index(ct, "boundary")
	if i < 0 {
		i = strings.Index(strings.ToLower(ct), "boundary")
	}
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(ct[i:], '=')
	if j < 0 {
		return ""
	}
	b := ct[i+j+1:]
	if strings.HasPrefix(b, `"`) {
		b = b[1:]
		end := strings.IndexByte(b, '"')
		if end < 0 {
			return ""
		}
		return b[:end]
	}
	if end := strings.IndexAny(b, ",;"); end >= 0 {
		b = b[:end]
	}
	return b
}

// bodyMayOverride reports whether the POST r may carry a method override
// in its body: its type is one a framework reads (none included: Rack reads
// an untyped POST as a form), and it may have a body. In proxy mode the
// gateway holds the body. In forward-auth mode the ingress keeps it, and
// only Envoy's gRPC service sends the original request's own headers, whose
// Content-Length: 0 says there is none. The HTTP check endpoints never
// receive the original's length: nginx's snippet removes it from its
// question (proxy_pass_request_body off), Caddy and Traefik ask with a GET of
// their own whose Content-Length Go's transport writes itself, and Envoy's
// HTTP service sends the length of its question (0). There, a POST of such
// a type, untyped included, may have a body whatever the question's
// Content-Length says.
func bodyMayOverride(r *http.Request, mode transport) bool {
	if !strings.EqualFold(r.Method, http.MethodPost) { // Symfony upper-cases it first
		return false
	}
	if k, _ := overrideBodyKind(r.Header); k == bodyNone {
		return false
	}
	switch mode {
	case modeProxy:
		return r.Body != nil && r.Body != http.NoBody
	case modeEnvoyGRPC:
		return r.Header.Get("Content-Length") != "0"
	}
	return true
}

// readBodyOverrides reads up to limit bytes of the POST r's body and
// returns the methods it names as _method (nil for none), or anyMethod
// when it cannot tell. r.Body is replaced so that the upstream receives the
// whole body as sent. The error is errBodyUnreadable when the client did
// not send what it announced.
func readBodyOverrides(w http.ResponseWriter, r *http.Request, limit int64) ([]string, error) {
	kind, params := overrideBodyKind(r.Header)
	if r.Header.Get("Content-Encoding") != "" {
		return anyMethod, nil // a framework that decompresses would read what the gateway does not
	}
	if limit <= 0 {
		return anyMethod, nil
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyOverrideReadTimeout))
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r.Body, limit+1))
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		return nil, errBodyUnreadable
	}
	orig := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf.Bytes()), orig), orig}
	if n > limit {
		return anyMethod, nil
	}
	return nonEmpty(parseBodyOverrides(kind, params, buf.Bytes())), nil
}

// parseBodyOverrides reads the _method values of a body of kind.
func parseBodyOverrides(kind bodyKind, params map[string]string, b []byte) []string {
	switch kind {
	case bodyUnknown:
		return anyMethod
	case bodyURLEncoded:
		return urlEncodedOverrides(b)
	case bodyMultipart:
		return multipartOverrides(b, params["boundary"])
	case bodyJSON:
		return jsonOverrides(b)
	}
	return nil
}

// overrideName reports whether a form field named name (decoded) is
// _method: as PHP registers it (phpParamName; Laravel, Symfony), which
// covers Rack's exact name.
func overrideName(name string) bool { return phpParamName(name) == "_method" }

// urlEncodedOverrides returns the values of every _method field of a
// URL-encoded body, decoded as PHP decodes them, with "&" between fields
// (PHP, Rack 3) and with "&" or ";" (Rack 2, Rails 5 and older).
func urlEncodedOverrides(b []byte) []string {
	out := formFields(string(b), "&", nil)
	if bytes.IndexByte(b, ';') >= 0 {
		out = formFields(string(b), "&;", out)
	}
	return out
}

// formFields appends to out the values of the _method fields of the
// URL-encoded s, fields separated by any byte of seps.
func formFields(s, seps string, out []string) []string {
	for s != "" {
		kv := s
		if i := strings.IndexAny(s, seps); i >= 0 {
			kv, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		k, v, _ := strings.Cut(kv, "=")
		if overrideName(phpURLDecode(k)) {
			out = append(out, phpURLDecode(v))
		}
	}
	return out
}

// multipartOverrides returns the values of every _method part of a
// multipart body; anyMethod when it does not parse to its end.
func multipartOverrides(b []byte, boundary string) []string {
	if boundary == "" {
		return anyMethod
	}
	var out []string
	mr := multipart.NewReader(bytes.NewReader(b), boundary)
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			return anyMethod
		}
		// The field's name as PHP reads it: the name parameter of any
		// disposition, not only form-data.
		cds := p.Header.Values("Content-Disposition")
		if len(cds) != 1 {
			return anyMethod
		}
		_, cdp, err := mime.ParseMediaType(cds[0])
		if err != nil {
			return anyMethod
		}
		if !overrideName(cdp["name"]) {
			continue
		}
		v, err := io.ReadAll(io.LimitReader(p, maxOverrideValue+1))
		if err != nil || len(v) > maxOverrideValue || p.Header.Get("Content-Transfer-Encoding") != "" {
			return anyMethod
		}
		out = append(out, string(v))
	}
}

// jsonOverrides returns the string values of every top-level "_method" of
// a JSON body (Laravel reads it; a value that is not a string is not a
// method); anyMethod when the body is not one JSON value.
func jsonOverrides(b []byte) []string {
	d := json.NewDecoder(bytes.NewReader(b))
	t, err := d.Token()
	if err != nil {
		return anyMethod
	}
	if t != json.Delim('{') {
		return nil // not an object: no top-level _method
	}
	var out []string
	for d.More() {
		kt, err := d.Token()
		if err != nil {
			return anyMethod
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return anyMethod
		}
		if k, _ := kt.(string); k == "_method" {
			var s string
			if json.Unmarshal(v, &s) == nil {
				out = append(out, s)
			}
		}
	}
	if _, err := d.Token(); err != nil {
		return anyMethod
	}
	if _, err := d.Token(); err != io.EOF {
		return anyMethod
	}
	return out
}

// nonEmpty drops the empty values from vs: "_method=" names no method
// (Rack, Symfony and Laravel ignore it). vs itself when none is empty.
func nonEmpty(vs []string) []string {
	if !slices.Contains(vs, "") {
		return vs
	}
	out := vs[:0:0]
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}
