package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr returns the address of the client: the connection's peer, or,
// when the peer is in trusted, the right-most address of X-Forwarded-For that
// is not itself a trusted proxy. It never believes a header from an
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
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
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
