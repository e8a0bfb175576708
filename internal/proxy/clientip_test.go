package proxy

import (
	"errors"
	"net/http"
	"net/netip"
	"testing"
)

type clientAddrTest struct {
	name        string
	remote      string
	xff         []string // X-Forwarded-For lines
	trusted     []string
	want        string // "" means the invalid Addr
	wantTrusted bool
	// wantErr: the chain is malformed (an error wrapping ErrForwardedFor,
	// with the peer as the address).
	wantErr bool
}

func (tc clientAddrTest) run(t *testing.T) {
	t.Helper()
	r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
	if tc.xff != nil {
		r.Header["X-Forwarded-For"] = tc.xff
	}
	var nets []netip.Prefix
	for _, s := range tc.trusted {
		nets = append(nets, netip.MustParsePrefix(s))
	}
	got, trusted, err := ClientAddr(r, nets)
	var want netip.Addr
	if tc.want != "" {
		want = netip.MustParseAddr(tc.want)
	}
	if got != want || trusted != tc.wantTrusted || (err != nil) != tc.wantErr || err != nil && !errors.Is(err, ErrForwardedFor) {
		t.Fatalf("ClientAddr(remote %q, XFF %q, trusted %q) = %v, %v, %v; want %v, %v, error %t",
			tc.remote, tc.xff, tc.trusted, got, trusted, err, want, tc.wantTrusted, tc.wantErr)
	}
}

func TestClientAddr(t *testing.T) {
	lb := []string{"10.0.0.0/24"}
	tests := []clientAddrTest{
		{name: "no trusted proxies: peer", remote: "203.0.113.9:5555", want: "203.0.113.9"},
		{name: "untrusted peer ignores XFF", remote: "203.0.113.9:5555", xff: []string{"10.0.0.1"}, trusted: lb,
			want: "203.0.113.9"},
		{name: "no trusted proxies ignores XFF", remote: "10.0.0.2:5555", xff: []string{"198.51.100.7"},
			want: "10.0.0.2"},
		{name: "trusted peer without XFF", remote: "10.0.0.2:5555", trusted: lb, want: "10.0.0.2", wantTrusted: true},
		{name: "trusted peer takes XFF", remote: "10.0.0.2:5555", xff: []string{"198.51.100.7"}, trusted: lb,
			want: "198.51.100.7", wantTrusted: true},
		{name: "right-most untrusted, spoofed left part ignored", remote: "10.0.0.2:5555",
			xff: []string{"1.2.3.4, 198.51.100.7"}, trusted: lb, want: "198.51.100.7", wantTrusted: true},
		{name: "chain of several trusted proxies", remote: "10.0.0.2:5555",
			xff: []string{"1.2.3.4, 198.51.100.7, 10.0.0.5, 10.0.0.3"}, trusted: lb, want: "198.51.100.7", wantTrusted: true},
		{name: "several XFF lines are one list", remote: "10.0.0.2:5555",
			xff: []string{"1.2.3.4", "198.51.100.7, 10.0.0.5", "10.0.0.3"}, trusted: lb, want: "198.51.100.7", wantTrusted: true},
		{name: "every hop trusted: peer", remote: "10.0.0.2:5555", xff: []string{"10.0.0.7"}, trusted: lb,
			want: "10.0.0.2", wantTrusted: true},
		{name: "malformed right-most hop: refused", remote: "10.0.0.2:5555", xff: []string{"198.51.100.7, not-an-ip"},
			trusted: lb, want: "10.0.0.2", wantTrusted: true, wantErr: true},
		{name: "malformed hop after trusted hops: refused", remote: "10.0.0.2:5555", xff: []string{"not-an-ip, 10.0.0.7", "10.0.0.3"},
			trusted: lb, want: "10.0.0.2", wantTrusted: true, wantErr: true},
		{name: "malformed last line: refused", remote: "10.0.0.2:5555", xff: []string{"198.51.100.7", "unknown"},
			trusted: lb, want: "10.0.0.2", wantTrusted: true, wantErr: true},
		{name: "empty line: refused", remote: "10.0.0.2:5555", xff: []string{"198.51.100.7", ""},
			trusted: lb, want: "10.0.0.2", wantTrusted: true, wantErr: true},
		{name: "malformed hop from an untrusted peer is never read", remote: "203.0.113.9:5555", xff: []string{"not-an-ip"},
			trusted: lb, want: "203.0.113.9"},
		{name: "malformed hop left of the client is never read", remote: "10.0.0.2:5555",
			xff: []string{"not-an-ip, 198.51.100.7"}, trusted: lb, want: "198.51.100.7", wantTrusted: true},
		// Azure Application Gateway appends the client as "address:port":
		// read as the peer, every client behind it would have the
		// balancer's own (trusted, internal) address.
		{name: "hop with port is the client", remote: "10.0.0.2:5555", xff: []string{"198.51.100.7:443"},
			trusted: lb, want: "198.51.100.7", wantTrusted: true},
		{name: "IPv6 hop with port is the client", remote: "10.0.0.2:5555", xff: []string{"1.2.3.4, [2001:db8::9]:443"},
			trusted: lb, want: "2001:db8::9", wantTrusted: true},
		{name: "trusted hop with port is skipped", remote: "10.0.0.2:5555", xff: []string{"198.51.100.7:1, 10.0.0.9:2"},
			trusted: lb, want: "198.51.100.7", wantTrusted: true},
		{name: "IPv6 hop with port and zone is malformed", remote: "10.0.0.2:5555", xff: []string{"[fe80::9%eth0]:443"},
			trusted: lb, want: "10.0.0.2", wantTrusted: true, wantErr: true},
		{name: "unbracketed IPv6 is an address, not address and port", remote: "10.0.0.2:5555", xff: []string{"2001:db8::9:443"},
			trusted: lb, want: "2001:db8::9:443", wantTrusted: true},
		{name: "empty hop is malformed", remote: "10.0.0.2:5555", xff: []string{"198.51.100.7,"},
			trusted: lb, want: "10.0.0.2", wantTrusted: true, wantErr: true},
		{name: "IPv6 hop with zone is malformed", remote: "10.0.0.2:5555", xff: []string{"2001:db8::9%eth0"},
			trusted: lb, want: "10.0.0.2", wantTrusted: true, wantErr: true},
		{name: "spaces and tabs around elements", remote: "10.0.0.2:5555", xff: []string{" 198.51.100.7 ,\t10.0.0.9\t"},
			trusted: lb, want: "198.51.100.7", wantTrusted: true},
		{name: "IPv6 peer", remote: "[2001:db8::1]:443", want: "2001:db8::1"},
		{name: "IPv6 peer with zone loses the zone", remote: "[fe80::1%eth0]:443", want: "fe80::1"},
		{name: "IPv6 trusted peer and IPv6 client", remote: "[2001:db8::1]:443", xff: []string{"2001:db8:ffff::9"},
			trusted: []string{"2001:db8::/64"}, want: "2001:db8:ffff::9", wantTrusted: true},
		{name: "IPv4-mapped peer is trusted as IPv4", remote: "[::ffff:10.0.0.2]:5555", xff: []string{"198.51.100.7"},
			trusted: lb, want: "198.51.100.7", wantTrusted: true},
		{name: "IPv4-mapped hop is unmapped", remote: "10.0.0.2:5555", xff: []string{"::ffff:198.51.100.7"},
			trusted: lb, want: "198.51.100.7", wantTrusted: true},
		{name: "IPv4-mapped trusted hop is skipped", remote: "10.0.0.2:5555", xff: []string{"198.51.100.7, ::ffff:10.0.0.9"},
			trusted: lb, want: "198.51.100.7", wantTrusted: true},
		{name: "remote without port", remote: "203.0.113.9", want: "203.0.113.9"},
		{name: "unparsable remote", remote: "pipe", xff: []string{"198.51.100.7"}, trusted: []string{"0.0.0.0/1"}},
		{name: "empty remote", remote: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// FuzzClientAddr: for any peer and X-Forwarded-For, the address is the
// peer unless the peer is trusted; a header address is never trusted
// itself unless every hop was; it never carries a zone or a 4-in-6 form.
func FuzzClientAddr(f *testing.F) {
	f.Add("10.0.0.2:5555", "1.2.3.4, 198.51.100.7")
	f.Add("[::ffff:10.0.0.2]:1", "::ffff:198.51.100.7")
	f.Add("10.0.0.2:1", "fe80::1%eth0")
	f.Add("203.0.113.9:1", "10.0.0.1")
	f.Add("pipe", "")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("2001:db8::/64")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		got, trustedPeer, err := ClientAddr(r, trusted)
		peer := peerAddr(remote)
		if trustedPeer != (peer.IsValid() && contains(trusted, peer)) {
			t.Fatalf("ClientAddr(%q, %q) trusted = %v for peer %v", remote, xff, trustedPeer, peer)
		}
		if !trustedPeer && got != peer {
			t.Fatalf("ClientAddr(%q, %q) = %v from an untrusted peer %v", remote, xff, got, peer)
		}
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("ClientAddr(%q, %q) = %v: zoned or 4-in-6", remote, xff, got)
		}
		if err != nil && (!trustedPeer || got != peer || !errors.Is(err, ErrForwardedFor)) {
			t.Fatalf("ClientAddr(%q, %q) = %v, %v, %v: an error, but not the peer's", remote, xff, got, trustedPeer, err)
		}
		if got.IsValid() && got != peer && contains(trusted, got) {
			t.Fatalf("ClientAddr(%q, %q) = %v: a trusted proxy from the header", remote, xff, got)
		}
	})
}
