package proxy

import (
	"bytes"
	"net/http"
	"strings"
)

// Namespace is the prefix of the gateway's own headers, lowercase, with '-'.
const Namespace = "x-gateway-"

// forwarding headers are believed only from trusted proxies.
var forwarding = map[string]bool{
	"forwarded":          true,
	"x-forwarded-for":    true,
	"x-forwarded-host":   true,
	"x-forwarded-proto":  true,
	"x-forwarded-port":   true,
	"x-forwarded-prefix": true,
	"x-forwarded-uri":    true,
	"x-real-ip":          true,
	"x-original-url":     true,
	"x-original-uri":     true,
	"x-client-ip":        true,
}

// methodOverride headers make some frameworks (Symfony, Laravel, Rack,
// Express method-override) execute a POST as another method. Rules match the
// request's method, so these never reach the upstream.
var methodOverride = map[string]bool{
	"x-http-method-override": true,
	"x-http-method":          true,
	"x-method-override":      true,
}

// foldName lowercases a header name and folds '_' to '-', the way some
// upstream frameworks (CGI, WSGI, PHP) read names.
func foldName(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

// foldInto appends the folded form of name (lowercase, '_' as '-') to dst.
func foldInto(dst []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		}
		dst = append(dst, c)
	}
	return dst
}

// StripInbound deletes from h every header in the gateway's namespace, the
// method-override headers, and the extra names given (for example a
// configured token header), in any letter case and with '_' for '-'. With
// keepForwarding false it also deletes every forwarding header and its
// variants (the peer is not a trusted proxy). It folds names in a stack
// buffer: it is on every request's path.
func StripInbound(h http.Header, keepForwarding bool, extra ...string) {
	var ebuf [4]string
	folded := ebuf[:0]
	for _, e := range extra {
		folded = append(folded, foldName(e))
	}
	var buf [128]byte
	for name := range h {
		f := foldInto(buf[:0], name)
		if bytes.HasPrefix(f, namespaceBytes) || methodOverride[string(f)] {
			delete(h, name)
			continue
		}
		if forwarding[string(f)] && (!keepForwarding || strings.IndexByte(name, '_') >= 0) {
			// Underscore variants are never legitimate, even from a trusted proxy.
			delete(h, name)
			continue
		}
		for _, e := range folded {
			if string(f) == e {
				delete(h, name)
				break
			}
		}
	}
}

var namespaceBytes = []byte(Namespace)

// StripCookies removes the named cookies from the Cookie header(s) and keeps
// every other cookie as the client sent it.
func StripCookies(h http.Header, names ...string) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var kept []string
	changed := false
	for _, line := range lines {
		var parts []string
		for _, p := range strings.Split(line, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(p), "=")
			drop := false
			for _, n := range names {
				if name == n {
					drop = true
					break
				}
			}
			if drop {
				changed = true
				continue
			}
			if strings.TrimSpace(p) != "" {
				parts = append(parts, strings.TrimSpace(p))
			}
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	if !changed {
		return
	}
	h.Del("Cookie")
	if len(kept) > 0 {
		h.Set("Cookie", strings.Join(kept, "; "))
	}
}
