package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr returns the address of the client: the connection's peer, or,
// when the peer is in trusted, the right-most address of X-Forwarded-For that
// is not itself a trusted proxy (an element may carry a port). It never believes a header from an
// untrusted peer. trustedPeer reports whether the peer was trusted.
func ClientAddr(r *http.Request, trusted []netip.Prefix) (addr netip.Addr, trustedPeer bool) {
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() || !contains(trusted, peer) {
		return peer, false
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := hopAddr(strings.TrimSpace(parts[j]))
			if err != nil || a.Zone() != "" {
				// Malformed chain: stop at what we know. A zoned address
				// ("fe80::1%eth0") never matches a CIDR, so it would
				// slip past deny rules on source addresses.
				return peer, true
			}
			a = a.Unmap()
			if !contains(trusted, a) {
				return a, true
			}
		}
	}
	return peer, true
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
