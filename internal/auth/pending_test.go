package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
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
			return p.acquire(t0, netip.MustParseAddr("192.0.2.8"), "other")
		}, false},
		{"IPv4-mapped IPv6 counts as the IPv4 address", func(p *pendingSignIns) error {
			_ = startN(p, t0, v4, 3)
			return p.acquire(t0, netip.MustParseAddr("::ffff:192.0.2.7"), "mapped")
		}, true},
		{"rotating addresses inside one IPv6 /64", func(p *pendingSignIns) error {
			var err error
			for i := range 4 {
				err = p.acquire(t0, netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1)), "s"+strconv.Itoa(i))
			}
			return err
		}, true},
		{"zone does not make another client", func(p *pendingSignIns) error {
			_ = startN(p, t0, netip.MustParseAddr("fe80::1%eth0"), 3)
			return p.acquire(t0, netip.MustParseAddr("fe80::2%eth1"), "zoned")
		}, true},
		{"another /64 has its own count", func(p *pendingSignIns) error {
			_ = startN(p, t0, netip.MustParseAddr("2001:db8:1:2::1"), 3)
			return p.acquire(t0, netip.MustParseAddr("2001:db8:1:3::1"), "next")
		}, false},
		{"unknown address: only the replica cap", func(p *pendingSignIns) error {
			return startN(p, t0, netip.Addr{}, 5)
		}, false},
		{"replica cap over many clients", func(p *pendingSignIns) error {
			var err error
			for i := range 6 {
				err = p.acquire(t0, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), "r"+strconv.Itoa(i))
			}
			return err
		}, true},
		{"released slots count no more", func(p *pendingSignIns) error {
			_ = startN(p, t0, v4, 3)
			p.release("s1")
			p.release("s1")    // twice is harmless
			p.release("never") // unknown is harmless
			return p.acquire(t0, v4, "again")
		}, false},
		{"a slot counts until its TTL, exactly", func(p *pendingSignIns) error {
			_ = startN(p, t0, v4, 3)
			return p.acquire(t0.Add(10*time.Minute-time.Nanosecond), v4, "early")
		}, true},
		{"expired slots count no more", func(p *pendingSignIns) error {
			_ = startN(p, t0, v4, 3)
			return p.acquire(t0.Add(10*time.Minute), v4, "late")
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPendingSignIns(SignInLimits{PerClient: 3, PerReplica: 5}, 10*time.Minute)
			err := tt.run(p)
			if tt.want != errors.Is(err, ErrTooManySignIns) || (!tt.want && err != nil) {
				t.Fatalf("refused = %v, want %v", err, tt.want)
			}
			// Bookkeeping stays consistent: the per-client counts add up to
			// at most the slots held.
			sum := 0
			for _, n := range p.byClient {
				sum += n
			}
			if sum > p.order.Len() || len(p.byState) != p.order.Len() {
				t.Fatalf("inconsistent: %d by client, %d by state, %d slots", sum, len(p.byState), p.order.Len())
			}
		})
	}
}

func startN(p *pendingSignIns, now time.Time, a netip.Addr, n int) error {
	var err error
	for i := range n {
		if err = p.acquire(now, a, "s"+strconv.Itoa(i)); err != nil {
			return err
		}
	}
	return nil
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

// flood starts n sign-ins, from one address or (rotate) from a new IPv6 /64
// each time, and reports how many were accepted.
func flood(t *testing.T, a *Authenticator, n int, rotate bool) int {
	t.Helper()
	ok := 0
	for i := range n {
		client := netip.MustParseAddr("203.0.113.9")
		if rotate {
			client = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 15: 1})
		}
		_, err := a.StartLoginFrom(context.Background(), client, "https://tool.example/", "_gw")
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrTooManySignIns):
			t.Fatalf("start %d: %v", i, err)
		}
	}
	return ok
}

// 20,000 sign-in starts from one address, then from 20,000 IPv6 networks,
// leave at most the caps in the memory store (and a few hundred KB of heap).
func TestSignInFloodMemoryStore(t *testing.T) {
	st := store.NewMemory()
	defer st.Close()
	a := newTestAuthenticator(t, st, SignInLimits{PerReplica: 1000})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if ok := flood(t, a, 20000, false); ok != DefaultSignInsPerClient {
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

	if ok := flood(t, a, 20000, true); ok != 1000-DefaultSignInsPerClient {
		t.Fatalf("rotating networks: %d accepted, want %d (the replica cap)", ok, 1000-DefaultSignInsPerClient)
	}
	if n := st.Len(); n != 1000 {
		t.Fatalf("memory store holds %d entries, want the replica cap 1000", n)
	}
	// Ten minutes later the sign-ins that never came back have expired.
	a.Now = func() time.Time { return time.Now().Add(loginTTL) }
	if ok := flood(t, a, 1, false); ok != 1 {
		t.Fatal("a start after the TTL was refused")
	}
}

// The same against a real redis-server: the flood creates at most the caps'
// worth of keys (it created 20,000 before).
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
	flood(t, a, 20000, false)
	if n := dbsize(); n != DefaultSignInsPerClient {
		t.Fatalf("redis holds %d keys after 20,000 starts from one address, want %d", n, DefaultSignInsPerClient)
	}
	flood(t, a, 20000, true)
	if n := dbsize(); n != 500 {
		t.Fatalf("redis holds %d keys after 20,000 starts from rotating networks, want 500", n)
	}
	t.Logf("redis keys: %d after 40,000 starts", dbsize())
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
// caller that does not pass the address cannot lock everyone out at 30.
func TestStartLoginWithoutAddress(t *testing.T) {
	st := store.NewMemory()
	defer st.Close()
	a := newTestAuthenticator(t, st, SignInLimits{PerClient: 2, PerReplica: 5})
	for i := range 5 {
		if _, err := a.StartLogin(context.Background(), "https://tool.example/", "_gw"); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
	}
	if _, err := a.StartLogin(context.Background(), "https://tool.example/", "_gw"); !errors.Is(err, ErrTooManySignIns) {
		t.Fatalf("start over the replica cap: %v", err)
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
