package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// An upgraded connection (HTTP/1.1 Upgrade, status 101) carries whatever the
// new protocol carries for as long as it stays open, and the gateway judges
// only the request that opened it. h2c above all must never pass: an
// upstream that accepts it then serves any number of HTTP/2 requests on the
// tunnel, none of which the gateway saw. So upgrades are allow-listed per
// route (WebSocket by default) and every other one is refused.

// DefaultUpgrades are the protocols a route may upgrade to unless its
// configuration says otherwise.
var DefaultUpgrades = []string{"websocket"}

// ErrUpgrade is wrapped by the errors of CheckUpgrade: the request asks for
// an upgrade its route does not allow, or is malformed as an upgrade.
var ErrUpgrade = errors.New("proxy: upgrade refused")

// forbiddenUpgrades can never be allowed: they tunnel HTTP requests the
// gateway would not judge.
var forbiddenUpgrades = map[string]bool{"h2c": true, "http": true, "h2": true}

// CheckUpgrade returns an error wrapping ErrUpgrade when h (a request's
// header) asks for a protocol upgrade that is not in allowed (protocol names
// compared without regard to case; a version such as "websocket/13" is
// judged by its name), or carries HTTP2-Settings, which only an h2c upgrade
// uses. Every Upgrade line and every comma-separated element counts, whether
// or not Connection names "upgrade" (an upstream may not require it). No
// Upgrade header is not an error.
func CheckUpgrade(h http.Header, allowed []string) error {
	if len(h["Http2-Settings"]) > 0 {
		return fmt.Errorf("%w: HTTP2-Settings is only sent to upgrade to h2c, which the gateway never forwards", ErrUpgrade)
	}
	for _, line := range h["Upgrade"] {
		for line != "" {
			var elem string
			elem, line, _ = strings.Cut(line, ",")
			elem = trimOWS(elem)
			if elem == "" {
				continue
			}
			if err := checkProtocol("Upgrade", elem, allowed); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkProtocol judges one protocol an upgrade asks for (an Upgrade
// element, or an extended CONNECT's :protocol, named by field).
func checkProtocol(field, elem string, allowed []string) error {
	name, version, _ := strings.Cut(elem, "/")
	if !validToken(name) || strings.Contains(version, "/") || version != "" && !validToken(version) {
		return fmt.Errorf("%w: expected protocol names such as websocket, got %s %q", ErrUpgrade, field, elem)
	}
	if forbiddenUpgrades[strings.ToLower(name)] || !upgradeAllowed(name, allowed) {
		return fmt.Errorf("%w: upgrade to %q is not allowed on this route", ErrUpgrade, elem)
	}
	return nil
}

// protocolHeader is where Go's HTTP/2 server puts the :protocol
// pseudo-header of an extended CONNECT (RFC 8441) in Request.Header.
const protocolHeader = ":protocol"

// CheckRequestUpgrade is CheckUpgrade for the request r, which also judges
// an HTTP/2 extended CONNECT (RFC 8441; Go's server accepts it when GODEBUG
// holds http2xconnect=1): its :protocol asks for the tunnel an HTTP/1.1
// Upgrade to that protocol opens, and is allowed only where that upgrade
// is. A plain CONNECT (a tunnel to a host and port, which no route
// forwards) is refused, and so is :protocol on any other method.
func CheckRequestUpgrade(r *http.Request, allowed []string) error {
	p, xconnect := r.Header[protocolHeader]
	if r.Method != http.MethodConnect && !xconnect {
		return CheckUpgrade(r.Header, allowed) // nearly every request
	}
	switch {
	case r.Method != http.MethodConnect:
		return fmt.Errorf("%w: expected :protocol only in a CONNECT request, got it in %s", ErrUpgrade, r.Method)
	case len(p) == 0 || p[0] == "":
		return fmt.Errorf("%w: CONNECT without :protocol opens a tunnel to a host, which the gateway never forwards", ErrUpgrade)
	case len(p) > 1:
		return fmt.Errorf("%w: expected one :protocol, got %d", ErrUpgrade, len(p))
	}
	if err := checkProtocol(":protocol", p[0], allowed); err != nil {
		return err
	}
	return CheckUpgrade(r.Header, allowed)
}

func upgradeAllowed(name string, allowed []string) bool {
	for _, a := range allowed {
		if strings.EqualFold(a, name) {
			return true
		}
	}
	return false
}

// ValidateUpgrades checks a route's configured upgrade list: protocol names
// (tokens), never h2c (nor "h2" or "HTTP", which would also tunnel HTTP).
func ValidateUpgrades(protocols []string) []error {
	var out []error
	for i, p := range protocols {
		switch {
		case !validToken(p) || strings.Contains(p, "/"):
			out = append(out, fmt.Errorf("[%d]: expected a protocol name such as websocket, got %q", i, p))
		case forbiddenUpgrades[strings.ToLower(p)]:
			out = append(out, fmt.Errorf("[%d]: %q would tunnel HTTP requests the gateway never judges; it cannot be allowed", i, p))
		}
	}
	return out
}

// hasUpgrade reports whether the request header asks for any upgrade.
func hasUpgrade(h http.Header) bool {
	for _, v := range h["Upgrade"] {
		if trimOWS(v) != "" {
			return true
		}
	}
	return false
}
