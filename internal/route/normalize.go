package route

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadPath is wrapped by every Normalize error; such requests get a 400.
var ErrBadPath = errors.New("route: bad path")

// Normalize returns the one normalized form of an escaped request path
// (r.URL.EscapedPath()) that rules match and that goes upstream:
//
//   - percent-escapes of unreserved characters (A-Z a-z 0-9 - . _ ~) are
//     decoded, all other escapes are kept with uppercase hex;
//   - bytes that may not appear raw in a path are escaped;
//   - empty segments ("//") are removed and "." and ".." are resolved
//     (".." never climbs above "/"), after decoding, so "%2e%2e" is "..";
//   - a trailing slash is kept.
//
// Encoded slashes and backslashes (%2F, %5C), raw backslashes, NUL and other
// control characters, malformed escapes, and dot segments with path
// parameters ("..;x", ".;", which Tomcat and Jetty resolve as ".." and ".")
// are rejected with ErrBadPath: an upstream that decodes them could see a
// different path than the rules did. Other path parameters are kept as they
// are ("/admin;x" is not "/admin" for routing).
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
			case isUnreserved(d):
				b.WriteByte(d)
			default:
				writeEscaped(&b, d)
			}
		case c == '\\':
			return "", fmt.Errorf("%w: backslash in %q", ErrBadPath, p)
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
		if name, _, ok := strings.Cut(seg, ";"); ok && (name == "." || name == "..") {
			return "", fmt.Errorf("%w: dot segment with parameters in %q", ErrBadPath, p)
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
// allocation): only path characters, no escapes, no empty or dot segments.
func isClean(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' || !isPathChar(c) {
			return false
		}
		if c == '/' && i+1 < len(p) {
			switch n := p[i+1]; {
			case n == '/':
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
