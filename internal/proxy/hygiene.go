package proxy

import (
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

// StripInbound deletes from h every header in the gateway's namespace, the
// method-override headers, and the extra names given (for example a configured token header), in any
// letter case and with '_' for '-'. With keepForwarding false it also deletes
// every forwarding header and its variants (the peer is not a trusted proxy).
func StripInbound(h http.Header, keepForwarding bool, extra ...string) {
	for name := range h {
		f := foldName(name)
		if strings.HasPrefix(f, Namespace) || methodOverride[f] {
			delete(h, name)
			continue
		}
		if forwarding[f] && (!keepForwarding || f != strings.ToLower(name)) {
			// Underscore variants are never legitimate, even from a trusted proxy.
			delete(h, name)
			continue
		}
		for _, e := range extra {
			if f == foldName(e) {
				delete(h, name)
				break
			}
		}
	}
}

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
