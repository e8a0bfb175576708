package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// The gateway's cookies are the session cookie and the sign-in binding
// cookies "<session cookie>_login_<id>" (internal/auth): every gateway cookie
// name is the session cookie's name or starts with it and '_'. The functions
// below take the session cookie's name and act on that whole family.
//
// Cookie names are compared the way the most lenient reader does, so that no
// spelling slips past the strip and reaches an upstream (or the browser)
// that reads it as a gateway cookie:
//
//   - spaces and tabs around the name are dropped (Go's net/http, browsers:
//     "_gateway_session =x" is _gateway_session);
//   - letter case does not count (ASP.NET's cookie collection);
//   - percent-escapes are decoded, '+', ' ' and '.' read as '_', "[…]"
//     ends the name and an unclosed '[' reads as '_' (PHP's $_COOKIE:
//     "_gateway%2Esession", "_gateway_session[a]" and "_gateway[session"
//     are all _gateway_session).

// ErrCookieConflict means a request carried the session cookie more than
// once with different values: a cookie set for a parent domain or a longer
// path can shadow the gateway's own ("cookie tossing"), and neither value
// can be trusted to be the browser's session.
var ErrCookieConflict = errors.New("proxy: the session cookie appears more than once with different values")

// SessionCookie returns the value of the cookie named name in the request
// header h, parsed the way browsers send it and servers tolerate it: pairs
// separated by ';' over every Cookie line, spaces and tabs around names and
// values dropped, one pair of double quotes around the value removed. The
// name must match exactly (the browser sends it as the gateway set it); a
// pair whose value is not made of cookie octets (RFC 6265) is skipped. It
// returns "" and nil when there is no such cookie, and ErrCookieConflict
// when there are several with different values.
func SessionCookie(h http.Header, name string) (string, error) {
	var found string
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			n, v, ok := strings.Cut(part, "=")
			if !ok || trimOWS(n) != name {
				continue
			}
			v = trimOWS(v)
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if v == "" || !validCookieValue(v) {
				continue
			}
			if found != "" && found != v {
				return "", fmt.Errorf("%w (%s)", ErrCookieConflict, name)
			}
			found = v
		}
	}
	return found, nil
}

// StripCookies removes from the Cookie header(s) of h every cookie of the
// gateway families named (see the package comment above: each name and its
// "name_…" extensions, in every spelling), and keeps every other cookie as
// the client sent it. A ';'-separated pair is removed when any of its
// ','-separated parts names a gateway cookie (RFC 2965 readers, such as
// Jetty in legacy mode, split there too). It does not allocate when there is
// nothing to remove.
func StripCookies(h http.Header, names ...string) {
	lines := h["Cookie"]
	if len(lines) == 0 || len(names) == 0 {
		return
	}
	dirty := false
	for _, line := range lines {
		if lineHasGatewayCookie(line, names) {
			dirty = true
			break
		}
	}
	if !dirty {
		return
	}
	var kept []string
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			if p := trimOWS(part); p != "" && !pairIsGateway(p, names) {
				kept = append(kept, p)
			}
		}
	}
	delete(h, "Cookie")
	if len(kept) > 0 {
		h["Cookie"] = []string{strings.Join(kept, "; ")}
	}
}

func lineHasGatewayCookie(line string, names []string) bool {
	for line != "" {
		var part string
		part, line, _ = strings.Cut(line, ";")
		if pairIsGateway(part, names) {
			return true
		}
	}
	return false
}

// pairIsGateway reports whether one ';'-separated Cookie pair, or any of its
// ','-separated parts, names a gateway cookie. A part without '=' is all name.
func pairIsGateway(pair string, names []string) bool {
	for pair != "" {
		var part string
		part, pair, _ = strings.Cut(pair, ",")
		n, _, _ := strings.Cut(part, "=")
		if isGatewayCookie(n, names) {
			return true
		}
	}
	return false
}

// StripSetCookies removes from a response header every Set-Cookie (and the
// obsolete Set-Cookie2) that would set a cookie of the gateway families in
// the browser: an upstream must never plant or replace a session (session
// fixation, or another user's session in the victim's browser). The name is
// read as a browser reads it (RFC 6265bis §5.6: up to the first ';', the
// name before the first '=', spaces and tabs trimmed), and a nameless cookie
// ("=_gateway_session=x", or no '=' at all) by the name its value would carry
// in the Cookie header, where browsers send it as just its value.
func StripSetCookies(h http.Header, names ...string) {
	if len(names) == 0 {
		return
	}
	for _, key := range [...]string{"Set-Cookie", "Set-Cookie2"} {
		lines := h[key]
		if len(lines) == 0 {
			continue
		}
		kept := lines[:0:0]
		dirty := false
		for _, l := range lines {
			if setCookieIsGateway(l, names) {
				dirty = true
				continue
			}
			kept = append(kept, l)
		}
		if !dirty {
			continue
		}
		if len(kept) == 0 {
			delete(h, key)
		} else {
			h[key] = kept
		}
	}
}

func setCookieIsGateway(line string, names []string) bool {
	pair, _, _ := strings.Cut(line, ";")
	n, v, ok := strings.Cut(pair, "=")
	if !ok {
		// No '=': a nameless cookie whose value is the whole pair.
		n, v = "", pair
	}
	if trimOWS(n) == "" {
		n, _, _ = strings.Cut(v, "=")
	}
	// Set-Cookie2 (RFC 2965) allows several cookies separated by ','; a
	// Set-Cookie value holding ", _gateway_session=" is dropped as well.
	return isGatewayCookie(n, names) || pairIsGateway(pair, names)
}

// isGatewayCookie reports whether the cookie name n, folded, is one of
// names (folded) or starts with one of them and '_'.
func isGatewayCookie(n string, names []string) bool {
	var nb, gb [128]byte
	f := foldCookieName(nb[:0], n)
	if len(f) == 0 {
		return false
	}
	for _, g := range names {
		gf := foldCookieName(gb[:0], g)
		if len(gf) == 0 || len(f) < len(gf) || string(f[:len(gf)]) != string(gf) {
			continue
		}
		if len(f) == len(gf) || f[len(gf)] == '_' {
			return true
		}
	}
	return false
}

// foldCookieName appends the folded form of a cookie name to dst: escapes
// decoded, '+' as ' ', spaces and tabs around dropped, cut at a '[' that a
// ']' closes (else that '[' is '_'), lower case, and ' ' and '.' as '_'.
func foldCookieName(dst []byte, n string) []byte {
	start := len(dst)
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c == '%' && i+2 < len(n) && isHexDigit(n[i+1]) && isHexDigit(n[i+2]) {
			c = unhexDigit(n[i+1])<<4 | unhexDigit(n[i+2])
			i += 2
		} else if c == '+' {
			c = ' '
		}
		if c == '[' {
			if closed(n[i+1:]) {
				break // PHP: an array index; the name ends here
			}
			c = '_' // PHP: an unclosed '[' is not an index but '_'
		}
		dst = append(dst, c)
	}
	// Trim whitespace as the most lenient parser does (Go's trims CR and
	// LF too; C's isspace also VT and FF).
	s := start
	for s < len(dst) && isCookieSpace(dst[s]) {
		s++
	}
	e := len(dst)
	for e > s && isCookieSpace(dst[e-1]) {
		e--
	}
	out := append(dst[:start], dst[s:e]...)
	for i := start; i < len(out); i++ {
		switch c := out[i]; {
		case 'A' <= c && c <= 'Z':
			out[i] = c + ('a' - 'A')
		case c == ' ' || c == '.':
			out[i] = '_'
		}
	}
	return out
}

// closed reports whether rest, the part of a cookie name after a '[',
// holds a ']' (raw or percent-escaped, as PHP decodes the name first).
func closed(rest string) bool {
	for i := 0; i < len(rest); i++ {
		if rest[i] == ']' || rest[i] == '%' && i+2 < len(rest) && rest[i+1] == '5' && (rest[i+2] == 'D' || rest[i+2] == 'd') {
			return true
		}
	}
	return false
}

// trimOWS drops whitespace (isCookieSpace) at both ends.
func trimOWS(s string) string {
	for s != "" && isCookieSpace(s[0]) {
		s = s[1:]
	}
	for s != "" && isCookieSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// isCookieSpace: the whitespace some cookie parser trims around names and
// pairs (space and tab by RFC 6265; CR and LF by Go's; VT and FF by C's
// isspace).
func isCookieSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// validCookieValue: RFC 6265 cookie-octets (no controls, whitespace, '"',
// ',', ';' or '\').
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= 0x20 || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhexDigit(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
