package route

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ErrBadPath is wrapped by every Normalize error; such requests get a 400.
var ErrBadPath = errors.New("route: bad path")

// Normalize returns the one normalized form of a raw request path (the path
// of the request target exactly as the client sent it: see RawPath) that
// rules match and that goes upstream:
//
//   - a percent-escape of a character that may appear raw in a path segment
//     (unreserved A-Z a-z 0-9 - . _ ~, the sub-delimiters ! $ & ' ( ) * + , =,
//     ':' and '@') is decoded, except %3B (';', which starts Servlet path
//     parameters); every other escape is kept with uppercase hex. Upstreams
//     disagree on whether they compare such escapes decoded (Go's ServeMux,
//     Django, Rails) or as sent (Express), so the gateway sends only the
//     decoded form;
//   - bytes that may not appear raw in a path are escaped;
//   - empty segments ("//") are removed and "." and ".." are resolved
//     (".." never climbs above "/"), after decoding, so "%2e%2e" is "..";
//   - a trailing slash is kept.
//
// Rejected with ErrBadPath, because an upstream that decodes or splits them
// could see a different path than the rules did: encoded slashes and
// backslashes (%2F, %5C), raw backslashes, NUL and other control characters,
// malformed escapes, dot segments with path parameters ("..;x", ".;", which
// Tomcat and Jetty resolve as ".." and "."), and segments that are only path
// parameters (";x", which Servlet containers drop, so "/;x/admin" is their
// "/admin"; the Servlet 6 specification lists both as suspicious sequences to
// refuse), and a raw '#' (a fragment, which clients never send: an upstream
// that parses the target as a URL would end the path there). Other path parameters are kept ("/admin;x"); which routes such a
// path may reach is the table's business (Table.Check).
// Query and fragment are not part of the input.
func Normalize(p string) (string, error) {
	if p == "" || p[0] != '/' {
		return "", fmt.Errorf("%w: expected a path starting with '/', got %q", ErrBadPath, p)
	}
	if isClean(p) {
		return p, nil
	}
	// Pass 1: decode/validate escapes into a canonical escaped string.
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return "", fmt.Errorf("%w: malformed percent-escape in %q", ErrBadPath, p)
			}
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			i += 2
			switch {
			case d == '/' || d == '\\':
				return "", fmt.Errorf("%w: encoded slash or backslash in %q", ErrBadPath, p)
			case d < 0x20 || d == 0x7f:
				return "", fmt.Errorf("%w: encoded control character in %q", ErrBadPath, p)
			case isPathChar(d) && d != ';':
				b.WriteByte(d)
			default:
				writeEscaped(&b, d)
			}
		case c == '\\':
			return "", fmt.Errorf("%w: backslash in %q", ErrBadPath, p)
		case c == '#':
			// A client never sends a fragment; an upstream that parses the
			// target as a URL would cut the path here.
			return "", fmt.Errorf("%w: raw '#' in %q", ErrBadPath, p)
		case c < 0x20 || c == 0x7f:
			return "", fmt.Errorf("%w: control character in path", ErrBadPath)
		case isPathChar(c):
			b.WriteByte(c)
		default:
			writeEscaped(&b, c)
		}
	}
	s := b.String()
	// Pass 2: resolve segments.
	trailing := strings.HasSuffix(s, "/") || strings.HasSuffix(s, "/.") || strings.HasSuffix(s, "/..")
	parts := strings.Split(s, "/")
	out := parts[:0]
	for _, seg := range parts {
		if name, _, ok := strings.Cut(seg, ";"); ok {
			switch name {
			case ".", "..":
				return "", fmt.Errorf("%w: dot segment with parameters in %q", ErrBadPath, p)
			case "":
				return "", fmt.Errorf("%w: segment of path parameters only in %q", ErrBadPath, p)
			}
		}
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	r := "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		r += "/"
	}
	return r, nil
}

// isClean reports whether p is already normalized (the common case, with no
// allocation): only path characters, no escapes, no empty, dot or
// parameter-only segments.
func isClean(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' || !isPathChar(c) {
			return false
		}
		if c == '/' && i+1 < len(p) {
			switch n := p[i+1]; {
			case n == '/' || n == ';':
				return false
			case n == '.':
				rest := p[i+2:]
				if rest == "" || rest[0] == '/' || rest[0] == ';' ||
					rest[0] == '.' && (len(rest) == 1 || rest[1] == '/' || rest[1] == ';') {
					return false
				}
			}
		}
	}
	return true
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// isPathChar: unreserved, sub-delims, ':', '@' and '/'.
func isPathChar(c byte) bool {
	if isUnreserved(c) {
		return true
	}
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '/':
		return true
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func writeEscaped(b *strings.Builder, c byte) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&15])
}

// RawPath returns the path of r's request target exactly as the client sent
// it: r.RequestURI up to the query, with an absolute-form target
// ("http://host/p") reduced to its path. It never re-escapes a decoded path
// the way url.URL.EscapedPath does when the raw path holds a byte that
// should have been escaped ("/a%2Fb|" would come back as "/a/b%7C", hiding
// the encoded slash). For a request that did not come from a server (an
// empty RequestURI) it returns r.URL.RawPath or r.URL.Path. An asterisk or
// authority-form target has no path: the result does not start with '/' and
// Normalize refuses it.
// URLPath returns the path of a parsed URL as it was written: its RawPath
// when url.Parse kept one, never a re-escaped form (which would turn a
// refused spelling into an accepted one).
func URLPath(u *url.URL) string {
	if u.RawPath != "" {
		return u.RawPath
	}
	// Without RawPath, url.Parse found the written form to be the default
	// encoding of Path: EscapedPath gives it back unchanged.
	if p := u.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

func RawPath(r *http.Request) string {
	t := r.RequestURI
	if t == "" {
		if r.URL == nil {
			return ""
		}
		if r.URL.RawPath != "" {
			return r.URL.RawPath
		}
		return r.URL.Path
	}
	if i := strings.IndexByte(t, '?'); i >= 0 {
		t = t[:i]
	}
	if t != "" && t[0] != '/' {
		// Absolute form: scheme "://" authority path.
		if i := strings.Index(t, "://"); i > 0 {
			rest := t[i+3:]
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				return rest[j:]
			}
			return "/"
		}
	}
	return t
}
