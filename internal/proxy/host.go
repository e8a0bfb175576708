package proxy

import (
	"net"
	"strings"
)

// ValidHost reports whether h (a Host header, or an X-Forwarded-Host) is
// one authority in the form RFC 9110 §7.2 gives it: a host name of letters,
// digits, '-', '.' and '_', an IPv4 address, or an IPv6 literal in brackets
// (no zone), then optionally ':' and a port of at most five digits.
//
// Go's server accepts any sub-delimiter in Host ("tool.example:1,admin.example")
// and net.SplitHostPort any port, so the gateway would route such a Host as
// tool.example, while the upstream, which receives it (preserve_host, and
// X-Forwarded-Host always), may read another host: Rack takes the last
// element of a list in X-Forwarded-Host, a URL parser takes what follows an
// '@'. The gateway refuses a request whose Host is not valid (400).
func ValidHost(h string) bool {
	name, port := h, ""
	if strings.HasPrefix(h, "[") {
		i := strings.IndexByte(h, ']')
		if i < 0 {
			return false
		}
		name = h[1:i]
		switch rest := h[i+1:]; {
		case rest == "":
		case rest[0] == ':':
			port = rest[1:]
		default:
			return false
		}
		if !strings.Contains(name, ":") {
			return false
		}
		for i := 0; i < len(name); i++ {
			if c := name[i]; !isHexDigit(c) && c != ':' && c != '.' {
				return false
			}
		}
	} else {
		if i := strings.IndexByte(h, ':'); i >= 0 {
			name, port = h[:i], h[i+1:]
		}
		if name == "" || len(name) > 253 {
			return false
		}
		for i := 0; i < len(name); i++ {
			c := name[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
				return false
			}
		}
	}
	if len(port) > 5 {
		return false
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	return true
}

// sameHostName reports whether two hosts name the same host, whatever
// their ports, letter case or trailing dot.
func sameHostName(a, b string) bool { return HostName(a) == HostName(b) }

// HostName is the host name of a Host header or URL host (host[:port]):
// lower case, without the port, brackets or a trailing dot. The server
// routes by it; compare host names through it (requirement.HostName is it).
func HostName(hostport string) string {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		hostport = host
	}
	return strings.ToLower(strings.TrimSuffix(strings.Trim(hostport, "[]"), "."))
}
