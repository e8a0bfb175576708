package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ErrForwardedFor is wrapped by the error of ClientAddr: a trusted proxy
// sent an X-Forwarded-For chain that is malformed where the client's
// address would be read.
var ErrForwardedFor = errors.New("proxy: malformed X-Forwarded-For")

// ClientAddr returns the address of the client: the connection's peer, or,
// when the peer is in trusted, the right-most address of X-Forwarded-For that
// is not itself a trusted proxy. It never believes a header from an
// untrusted peer. trustedPeer reports whether the peer was trusted.
//
// The chain is every X-Forwarded-For line, in order, each a comma-separated
// list; an element is an IP address, optionally with a port
// ("198.51.100.7:443", "[2001:db8::9]:443") and surrounded by spaces; an
// IPv4-mapped address is read as IPv4. A chain of trusted addresses only, or
// none, leaves the peer as the client.
//
// When an element the walk reaches before the client's address is
// malformed (not an address, an address with a zone, empty), ClientAddr
// returns the peer, true, and an error wrapping ErrForwardedFor: the client
// is unknown, and the request must be refused rather than judged as the
// proxy's own (which a source_cidrs rule for the internal network would
// pass). Elements left of the client's address are never read: they are
// whatever the client sent.
func ClientAddr(r *http.Request, trusted []netip.Prefix) (addr netip.Addr, trustedPeer bool, err error) {
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() || !contains(trusted, peer) {
		return peer, false, nil
	}
	hops := r.Header["X-Forwarded-For"]
	for i := len(hops) - 1; i >= 0; i-- {
		line := hops[i]
		for {
			// The last element of what is left of the line (no
			// strings.Split: this runs on every request).
			k := strings.LastIndexByte(line, ',')
			elem := line[k+1:]
			a, err := hopAddr(trimOWS(elem))
			if err != nil || a.Zone() != "" {
				// A zoned address ("fe80::1%eth0") never matches a CIDR,
				// so it would slip past deny rules on source addresses.
				return peer, true, malformedHop(elem)
			}
			if a = a.Unmap(); !contains(trusted, a) {
				return a, true, nil
			}
			if k < 0 {
				break
			}
			line = line[:k]
		}
	}
	return peer, true, nil
}

// malformedHop is the error for the X-Forwarded-For element elem.
func malformedHop(elem string) error {
	if len(elem) > 64 {
		elem = elem[:64] + "…"
	}
	return fmt.Errorf("%w: expected an IP address (with an optional port, without a zone) as each element right of the client's, got %q", ErrForwardedFor, elem)
}

// hopAddr parses one X-Forwarded-For element: an address, or an address
// with a port ("198.51.100.7:443", "[2001:db8::9]:443"), as Azure
// Application Gateway appends the client. Read as malformed, such an
// element would make every client behind the balancer its own trusted
// address.
func hopAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		if ap, perr := netip.ParseAddrPort(s); perr == nil {
			return ap.Addr(), nil
		}
	}
	return a, err
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	// The zone of a link-local peer is dropped: zoned addresses match no
	// CIDR (trusted proxies, source rules).
	return a.Unmap().WithZone("")
}

func contains(nets []netip.Prefix, a netip.Addr) bool {
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
