package auth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrBadReturn is wrapped by every ValidateReturn error.
var ErrBadReturn = errors.New("auth: bad return URL")

// ValidateReturn accepts a post-sign-in target only when it is an absolute
// URL with the given scheme whose host (without port) is routed by this
// gateway, with no user info, and a path that is exactly one leading '/'
// followed by no '/' or '\' (so "//evil", "/\evil" and "/\t/evil" fail).
// Whitespace and control characters anywhere are rejected. It returns the
// URL re-serialized from its parsed parts.
func ValidateReturn(raw, scheme string, routed func(host string) bool) (string, error) {
	if raw == "" || len(raw) > 4096 {
		return "", fmt.Errorf("%w: empty or too long", ErrBadReturn)
	}
	for _, c := range raw {
		if c <= 0x20 || c == 0x7f || c == '\\' {
			return "", fmt.Errorf("%w: whitespace, control character or backslash in %q", ErrBadReturn, raw)
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadReturn, err)
	}
	if u.Scheme != scheme || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", fmt.Errorf("%w: expected %s://<routed host>/..., got %q", ErrBadReturn, scheme, raw)
	}
	if !routed(strings.ToLower(u.Hostname())) {
		return "", fmt.Errorf("%w: host %q is not routed by this gateway", ErrBadReturn, u.Hostname())
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if p[0] != '/' || strings.HasPrefix(p, "//") {
		return "", fmt.Errorf("%w: path %q", ErrBadReturn, p)
	}
	out := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	return out.String(), nil
}
