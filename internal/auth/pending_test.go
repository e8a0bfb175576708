package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/accessgateway/gateway/internal/store"
	"github.com/accessgateway/gateway/internal/store/redistest"
)

func TestPendingSignInsCaps(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	v4 := netip.MustParseAddr("192.0.2.7")
	tests := []struct {
		name string
		run  func(p *pendingSignIns) error // the last start, after setup
		want bool                          // want it refused
	}{
		{"under the client cap", func(p *pendingSignIns) error {
			return startN(p, t0, v4, 2)
		}, false},
		{"over the client cap", func(p *pendingSignIns) error {
			return startN(p, t0, v4, 4)
		}, true},
		{"another IPv4 address has its own count", func(p *pendingSignIns) error {
			_ = startN(p, t0, v4, 3)
			return acquire(p, t0, netip.MustParseAddr("192.0.2.8"), "other")
		}, false},
		{"IPv4-mapped IPv6 counts as the IPv4 address", func(p *pendingSignIns) error {
			_ = startN(p, t0, v4, 3)
			return acquire(p, t0, netip.MustParseAddr("::ffff:192.0.2.7"), "mapped")
		}, true},
		{"rotating addresses inside one IPv6 /64", func(p *pendingSignIns) error {
			return startEach(p, t0, "2001:db8:1:2::%x", 4)
		}, true},
		{"zone does not make another client", func(p *pendingSignIns) error {
			_ = startN(p, t0, netip.MustParseAddr("fe80::1%eth0"), 3)
			return acquire(p, t0, netip.MustParseAddr("fe80::2%eth1"), "zoned")
		}, true},
		{"another /64 has its own count", func(p *pendingSignIns) error {
			_ = startN(p, t0, netip.MustParseAddr("2001:db8:1:2::1"), 3)
			return acquire(p, t0, netip.MustParseAddr("2001:db8:1:3::1"), "next")
		}, false},
		{"the /64s of one /56 are capped together", func(p *pendingSignIns) error {
			return startEach(p, t0, "2001:db8:1:%x::1", 6) // :0 to :5, one /56
		}, true},
		{"the /56s of one /48 are capped together", func(p *pendingSignIns) error {
			return startEach(p, t0, "2001:db8:1:%x00::1", 8) // :000 to :700, eight /56s of one /48
		}, true},
		{"another /48 has its own count", func(p *pendingSignIns) error {
			_ = startEach(p, t0, "2001:db8:1:%x00::1", 7)
			return acquire(p, t0, netip.MustParseAddr("2001:db8:2::1"), "next")
		}, false},
		{"the addresses of one IPv4 /24 are capped together", func(p *pendingSignIns) error {
			return startEach(p, t0, "198.51.100.%d", 8)
		}, true},
		{"another /24 has its own count", func(p *pendingSignIns) error {
			_ = startEach(p, t0, "198.51.100.%d", 7)
			return acquire(p, t0, netip.MustParseAddr("198.51.101.1"), "next")
		}, false},
		{"unknown address: only the replica cap", func(p *pendingSignIns) error {
			return startN(p, t0, netip.Addr{}, 12)
		}, false},
		{"released slots count no more", func(p *pendingSignIns) error {
			_ = startN(p, t0, v4, 3)
			p.release("s1")
			p.release("s1")    // twice is harmless
			p.release("never") // unknown is harmless
			return acquire(p, t0, v4, "again")
		}, false},
		{"a slot counts until its TTL, exactly", func(p *pendingSignIns) error {
			_ = startN(p, t0, v4, 3)
			return acquire(p, t0.Add(10*time.Minute-time.Nanosecond), v4, "early")
		}, true},
		{"expired slots count no more", func(p *pendingSignIns) error {
			_ = startN(p, t0, v4, 3)
			return acquire(p, t0.Add(10*time.Minute), v4, "late")
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPendingSignIns(SignInLimits{PerClient: 3, PerSite: 5, PerNetwork: 7, PerReplica: 12}, 10*time.Minute)
			err := tt.run(p)
			if tt.want != errors.Is(err, ErrTooManySignIns) || (!tt.want && err != nil) {
				t.Fatalf("refused = %v, want %v", err, tt.want)
			}
			checkPending(t, p)
		})
	}
}

// At the replica's cap a sign-in is not refused: the oldest sign-in of the
// network (IPv4 /24, IPv6 /48, or unknown address) holding the most gives
// up its slot. Those who flood lose their own sign-ins; one who started
// few keeps them.
func TestPendingSignInsEvictFromTheNetworkHoldingMost(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	p := newPendingSignIns(SignInLimits{PerClient: 2, PerSite: 4, PerNetwork: 5, PerReplica: 8}, 10*time.Minute)
	steps := []struct {
		addr, state string
		evicted     string // "" none
	}{
		{"2001:db8:1:1::1", "a0", ""}, // network a: 2001:db8:1::/48
		{"2001:db8:1:1::2", "a1", ""},
		{"2001:db8:1:200::1", "a2", ""},
		{"2001:db8:1:300::1", "a3", ""},
		{"2001:db8:1:400::1", "a4", ""},
		{"198.51.100.1", "b0", ""}, // network b: 198.51.100.0/24
		{"198.51.100.2", "b1", ""},
		{"", "u0", ""},              // an unknown address; the replica is full
		{"192.0.2.1", "c0", "a0"},   // a holds 5, b 2, u 1
		{"192.0.2.2", "c1", "a1"},   // a 4, b 2, c 1
		{"192.0.2.3", "c2", "a2"},   // a 3, b 2, c 2
		{"203.0.113.1", "d0", "c0"}, // c 3 now holds the most
	}
	for i, st := range steps {
		var a netip.Addr
		if st.addr != "" {
			a = netip.MustParseAddr(st.addr)
		}
		got, err := p.acquire(t0.Add(time.Duration(i)*time.Second), a, st.state)
		if err != nil || got != st.evicted {
			t.Fatalf("start %s from %q: expected evicted %q, got %q, %v", st.state, st.addr, st.evicted, got, err)
		}
		checkPending(t, p)
	}
	var held []string
	for el := p.order.Front(); el != nil; el = el.Next() {
		held = append(held, el.Value.(*pendingSignIn).state)
	}
	if want := "[a3 a4 b0 b1 u0 c1 c2 d0]"; fmt.Sprint(held) != want {
		t.Fatalf("pending: expected %s, got %v", want, held)
	}
	// An evicted state released by a late callback changes nothing.
	p.release("a0")
	checkPending(t, p)
	if n := p.len(t0.Add(time.Minute)); n != 8 {
		t.Fatalf("pending = %d, want the replica cap 8", n)
	}
}

// The caps of the client's prefixes apply before the replica's: at both, a
// start is refused and takes nobody's slot.
// At the replica's cap, sign-ins spread over many IPv6 /48s of one provider
// allocation (a /32) are evicted before those of a company's one NAT
// address, though each /48 holds fewer than the NAT: eviction groups by /32.
func TestPendingSignInsEvictByProviderAllocation(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	p := newPendingSignIns(SignInLimits{PerClient: 5, PerReplica: 8}, 10*time.Minute)
	i := 0
	start := func(addr, state string) string {
		t.Helper()
		i++
		got, err := p.acquire(t0.Add(time.Duration(i)*time.Second), netip.MustParseAddr(addr), state)
		if err != nil {
			t.Fatalf("start %s from %s: %v", state, addr, err)
		}
		checkPending(t, p)
		return got
	}
	for n := range 3 {
		start("198.51.100.7", fmt.Sprint("corp", n)) // three people behind one NAT address
	}
	for n := range 5 {
		start(fmt.Sprintf("2001:db8:%x::1", n+1), fmt.Sprint("flood", n)) // five /48s of 2001:db8::/32
	}
	for n := range 2 { // the /32 holds 5, then 4: more than the NAT's 3
		if got, want := start(fmt.Sprintf("203.0.113.%d", n+1), fmt.Sprint("new", n)), fmt.Sprint("flood", n); got != want {
			t.Fatalf("the replica full: expected the oldest of the /32's sign-ins (%s) evicted, got %q", want, got)
		}
	}
	for n := range 3 {
		if _, ok := p.byState[fmt.Sprint("corp", n)]; !ok {
			t.Errorf("corp%d was evicted: the NAT's sign-ins must outlast a flood from one allocation", n)
		}
	}
}

func TestPendingSignInsCapsBeforeEviction(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	p := newPendingSignIns(SignInLimits{PerClient: 1, PerReplica: 2}, 10*time.Minute)
	x := netip.MustParseAddr("192.0.2.1")
	if err := acquire(p, t0, x, "x0"); err != nil {
		t.Fatal(err)
	}
	if err := acquire(p, t0, netip.MustParseAddr("2001:db8::1"), "y0"); err != nil {
		t.Fatal(err)
	}
	if evicted, err := p.acquire(t0, x, "x1"); !errors.Is(err, ErrTooManySignIns) || evicted != "" {
		t.Fatalf("a second start from a client at its cap: expected ErrTooManySignIns and no eviction, got %q, %v", evicted, err)
	}
	if _, ok := p.byState["y0"]; !ok || p.order.Len() != 2 {
		t.Fatalf("a refused start changed the pending sign-ins (%d)", p.order.Len())
	}
	checkPending(t, p)
}

// One attacker with an IPv6 /48 (a tunnel broker's free allocation) spread
// over all its /56s and /64s fills a tenth of the replica's slots, not all:
// a sign-in from elsewhere is still accepted. (Before the wider tiers,
// 334 /64s of one /48 took all 10,000.)
func TestOneIPv6NetworkCannotLockOutSignIns(t *testing.T) {
	p := newPendingSignIns(SignInLimits{}, loginTTL)
	now := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	accepted := 0
	for site := range 256 {
		for sub := range 4 {
			for i := range DefaultSignInsPerClient {
				a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x00, 0x07, byte(site), byte(sub), 15: byte(i + 1)})
				if _, err := p.acquire(now, a, NewID()); err == nil {
					accepted++
				}
			}
		}
	}
	if want := DefaultSignInsPerReplica / 10; accepted != want {
		t.Fatalf("one /48 got %d pending sign-ins, want the network cap %d", accepted, want)
	}
	if _, err := p.acquire(now.Add(time.Minute), netip.MustParseAddr("198.51.100.7"), NewID()); err != nil {
		t.Fatalf("a sign-in from another network after the /48's flood: %v", err)
	}
	checkPending(t, p)
}

// checkPending fails t if the bookkeeping is inconsistent: every count is
// the number of pending sign-ins in its prefix, every network's list holds
// its sign-ins, and the heap has the network holding the most on top.
func checkPending(t *testing.T, p *pendingSignIns) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	want := map[netip.Prefix]int{}
	perNet := map[netip.Prefix]int{}
	for el := p.order.Front(); el != nil; el = el.Next() {
		e := el.Value.(*pendingSignIn)
		for _, k := range e.tiers {
			if k.IsValid() {
				want[k]++
			}
		}
		perNet[e.holder]++
		if p.byState[e.state] != el || e.network.key != e.holder || e.holder != holderOf(e.tiers[tierClient].Addr()) || e.inNet.Value != el {
			t.Fatalf("%s: inconsistent indexes", e.state)
		}
	}
	if fmt.Sprint(want) != fmt.Sprint(p.count) || len(p.byState) != p.order.Len() {
		t.Fatalf("counts %v, want %v; %d by state, %d slots", p.count, want, len(p.byState), p.order.Len())
	}
	if len(p.networks) != len(perNet) || len(p.byMost) != len(perNet) {
		t.Fatalf("%d networks, %d in the heap, want %d", len(p.networks), len(p.byMost), len(perNet))
	}
	for i, n := range p.byMost {
		if n.index != i || n.pending.Len() != perNet[n.key] || n.pending.Len() > p.byMost[0].pending.Len() {
			t.Fatalf("heap entry %d (%s): index %d, %d pending (want %d), top holds %d", i, n.key, n.index, n.pending.Len(), perNet[n.key], p.byMost[0].pending.Len())
		}
	}
}

func acquire(p *pendingSignIns, now time.Time, a netip.Addr, state string) error {
	_, err := p.acquire(now, a, state)
	return err
}

func startN(p *pendingSignIns, now time.Time, a netip.Addr, n int) error {
	var err error
	for i := range n {
		if err = acquire(p, now, a, "s"+strconv.Itoa(i)); err != nil {
			return err
		}
	}
	return nil
}

// startEach starts one sign-in from each of the addresses format makes of
// 0 to n-1, and returns the last one's error.
func startEach(p *pendingSignIns, now time.Time, format string, n int) error {
	var err error
	for i := range n {
		err = acquire(p, now, netip.MustParseAddr(fmt.Sprintf(format, i)), "e"+strconv.Itoa(i))
	}
	return err
}

// newTestAuthenticator serves a fake OpenID provider (go-oidc's oidctest:
// discovery and JWKS as in OpenID Connect Discovery 1.0) and builds an
// Authenticator on st.
func newTestAuthenticator(t *testing.T, st store.Store, limits SignInLimits) *Authenticator {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	idp := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: priv.Public(), KeyID: "k1", Algorithm: oidc.RS256}}}
	srv := httptest.NewServer(idp)
	t.Cleanup(srv.Close)
	idp.SetIssuer(srv.URL)
	a, err := New(context.Background(), Config{Issuer: srv.URL, ClientID: "gw", RedirectURL: "https://gw.example/.gateway/callback",
		SignInLimits: limits}, NewSessions(st))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// flood starts n sign-ins from addr(0) to addr(n-1) and reports how many
// were accepted.
func flood(t *testing.T, a *Authenticator, n int, addr func(i int) netip.Addr) int {
	t.Helper()
	ok := 0
	for i := range n {
		_, err := a.StartLoginFrom(context.Background(), addr(i), "https://tool.example/", "_gw")
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrTooManySignIns):
			t.Fatalf("start %d: %v", i, err)
		}
	}
	return ok
}

// Flood sources: one address; one IPv6 /48 (a new /64 each time, 256 per
// /56); a new /48 each time.
var (
	oneAddress = func(int) netip.Addr { return netip.MustParseAddr("203.0.113.9") }
	oneNetwork = func(i int) netip.Addr {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, byte(i >> 8), byte(i), 15: 1})
	}
	newNetworks = func(i int) netip.Addr {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb9, byte(i >> 8), byte(i), 15: 1})
	}
)

// 20,000 sign-in starts from one address, then from one IPv6 /48, then from
// 20,000 IPv6 networks, leave at most the caps in the memory store (and a
// few hundred KB of heap); the last flood is accepted, each start ending the
// oldest of the network holding the most, and deleting its state.
func TestSignInFloodMemoryStore(t *testing.T) {
	st := store.NewMemory()
	defer st.Close()
	a := newTestAuthenticator(t, st, SignInLimits{PerReplica: 1000})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if ok := flood(t, a, 20000, oneAddress); ok != DefaultSignInsPerClient {
		t.Fatalf("one address: %d sign-ins accepted, want %d", ok, DefaultSignInsPerClient)
	}
	if n := st.Len(); n != DefaultSignInsPerClient {
		t.Fatalf("memory store holds %d entries after the flood, want %d", n, DefaultSignInsPerClient)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("20,000 starts from one address: %d accepted, %d store entries, heap %+d KB", DefaultSignInsPerClient, st.Len(), growth/1024)
	if growth > 1<<20 {
		t.Fatalf("heap grew by %d KB", growth/1024)
	}

	if ok := flood(t, a, 20000, oneNetwork); ok != 1000/10 {
		t.Fatalf("one /48: %d accepted, want %d (the network cap)", ok, 1000/10)
	}
	if ok := flood(t, a, 20000, newNetworks); ok != 20000 {
		t.Fatalf("rotating networks: %d accepted, want all 20000 (evicting)", ok)
	}
	if n := st.Len(); n != 1000 {
		t.Fatalf("memory store holds %d entries, want the replica cap 1000", n)
	}
	if n := a.pending.len(a.Now()); n != 1000 {
		t.Fatalf("pending = %d, want the replica cap 1000", n)
	}
	// Ten minutes later the sign-ins that never came back have expired.
	a.Now = func() time.Time { return time.Now().Add(loginTTL) }
	if ok := flood(t, a, 1, oneAddress); ok != 1 {
		t.Fatal("a start after the TTL was refused")
	}
}

// The same against a real redis-server: the floods create at most the
// caps' worth of keys (they created 20,000 before).
func TestSignInFloodRedis(t *testing.T) {
	srv := redistest.Start(t)
	st, err := store.NewRedis(context.Background(), store.RedisConfig{Addrs: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := newTestAuthenticator(t, st, SignInLimits{PerReplica: 500})
	dbsize := func() int {
		t.Helper()
		out, err := srv.Do("DBSIZE")
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(out)
		if err != nil {
			t.Fatalf("DBSIZE answered %q", out)
		}
		return n
	}
	flood(t, a, 20000, oneAddress)
	if n := dbsize(); n != DefaultSignInsPerClient {
		t.Fatalf("redis holds %d keys after 20,000 starts from one address, want %d", n, DefaultSignInsPerClient)
	}
	flood(t, a, 5000, oneNetwork)
	if n := dbsize(); n != DefaultSignInsPerClient+500/10 {
		t.Fatalf("redis holds %d keys after 5,000 starts from one /48, want %d", n, DefaultSignInsPerClient+500/10)
	}
	flood(t, a, 5000, newNetworks)
	if n := dbsize(); n != 500 {
		t.Fatalf("redis holds %d keys after 5,000 starts from rotating networks, want 500", n)
	}
	t.Logf("redis keys: %d after 30,000 starts", dbsize())
}

// A callback that reaches this replica frees its client's slot, whether or
// not the sign-in then succeeds.
func TestCallbackReleasesSignIn(t *testing.T) {
	st := store.NewMemory()
	defer st.Close()
	a := newTestAuthenticator(t, st, SignInLimits{PerClient: 2})
	client := netip.MustParseAddr("192.0.2.1")
	var logins []*Login
	for range 2 {
		l, err := a.StartLoginFrom(context.Background(), client, "https://tool.example/", "_gw")
		if err != nil {
			t.Fatal(err)
		}
		logins = append(logins, l)
	}
	if _, err := a.StartLoginFrom(context.Background(), client, "https://tool.example/", "_gw"); !errors.Is(err, ErrTooManySignIns) {
		t.Fatalf("third start: %v", err)
	}
	u, err := url.Parse(logins[0].RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	state := u.Query().Get("state")
	// A callback from another browser (no binding cookie): refused, but the
	// state is used up and so is its slot.
	r := httptest.NewRequest("GET", "/.gateway/callback?state="+url.QueryEscape(state)+"&code=x", nil)
	if _, _, _, err := a.Callback(context.Background(), r, "_gw"); err == nil {
		t.Fatal("callback without the binding cookie succeeded")
	}
	if _, err := a.StartLoginFrom(context.Background(), client, "https://tool.example/", "_gw"); err != nil {
		t.Fatalf("start after a callback freed a slot: %v", err)
	}
	if n := a.pending.len(a.Now()); n != 2 {
		t.Fatalf("pending = %d, want 2", n)
	}
}

// StartLogin without an address applies the replica cap only, so that a
// caller that does not pass the address cannot lock everyone out at 30; at
// the cap the oldest such sign-in makes room, and its state is deleted:
// its callback says to start again.
func TestStartLoginWithoutAddress(t *testing.T) {
	st := store.NewMemory()
	defer st.Close()
	a := newTestAuthenticator(t, st, SignInLimits{PerClient: 2, PerReplica: 5})
	var first *Login
	for i := range 6 {
		l, err := a.StartLogin(context.Background(), "https://tool.example/", "_gw")
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if i == 0 {
			first = l
		}
	}
	if n, p := st.Len(), a.pending.len(a.Now()); n != 5 || p != 5 {
		t.Fatalf("after 6 starts: %d stored states and %d pending, want the replica cap 5 of each", n, p)
	}
	u, err := url.Parse(first.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/.gateway/callback?state="+url.QueryEscape(u.Query().Get("state"))+"&code=x", nil)
	r.AddCookie(&http.Cookie{Name: first.CookieName, Value: first.CookieValue})
	var ce *CallbackError
	if _, _, _, err := a.Callback(context.Background(), r, "_gw"); !errors.As(err, &ce) || !strings.Contains(ce.Msg, "start again") {
		t.Fatalf("callback of the evicted sign-in: expected \"start again\", got %v", err)
	}
}

// A store that refuses the write gives the slot back.
func TestStartLoginStoreFailureReleases(t *testing.T) {
	st := store.NewMemory()
	a := newTestAuthenticator(t, st, SignInLimits{PerClient: 1})
	st.Close()
	client := netip.MustParseAddr("192.0.2.1")
	for range 3 {
		if _, err := a.StartLoginFrom(context.Background(), client, "https://tool.example/", "_gw"); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("expected the store's error, got %v", err)
		}
	}
	if n := a.pending.len(a.Now()); n != 0 {
		t.Fatalf("failed starts hold %d slots", n)
	}
}

// A full memory store fails new sign-ins closed (the store's error, which
// the server shows as "unavailable"), keeps the sessions it holds, and the
// refused starts hold no slot.
func TestSignInFailsClosedOnFullStore(t *testing.T) {
	st := store.NewMemory(store.WithLimits(5, 0))
	defer st.Close()
	a := newTestAuthenticator(t, st, SignInLimits{})
	sess := &Session{Subject: "alice", Email: "alice@example.com", ExpiresAt: time.Now().Add(time.Hour)}
	id, err := a.Sessions().Create(context.Background(), sess)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		_, err := a.StartLoginFrom(context.Background(), netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), "https://tool.example/", "_gw")
		if full := errors.Is(err, store.ErrFull); (i >= 4) != full || (i < 4 && err != nil) {
			t.Fatalf("start %d: %v", i, err)
		}
	}
	if n := a.pending.len(a.Now()); n != 4 {
		t.Fatalf("pending = %d, want the 4 stored", n)
	}
	if _, err := a.Sessions().Load(context.Background(), id); err != nil {
		t.Fatalf("the session did not survive: %v", err)
	}
}
