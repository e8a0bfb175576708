package contexttoken_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/token"
)

// rotation holds three generations of keys and the signers of a rotation:
// before (A active, B next) and after (B active, A retired until t0+10m).
type rotation struct {
	clk           *clock
	a, b          string
	before, after *token.Signer
}

func newRotation(t *testing.T) *rotation {
	r := &rotation{clk: newClock(t0), a: keyFile(t, contexttoken.ES256), b: keyFile(t, contexttoken.ES256)}
	r.before = newSigner(t, r.clk.Now, contexttoken.ES256,
		token.KeyConfig{File: r.a, State: token.StateActive},
		token.KeyConfig{File: r.b, State: token.StateNext})
	r.after = newSigner(t, r.clk.Now, contexttoken.ES256,
		token.KeyConfig{File: r.b, State: token.StateActive},
		token.KeyConfig{File: r.a, State: token.StateRetired, Until: t0.Add(10 * time.Minute)})
	return r
}

func remoteVerifier(t *testing.T, js *jwksServer, now func() time.Time) *contexttoken.Verifier {
	t.Helper()
	v, err := contexttoken.NewVerifier(context.Background(), contexttoken.Config{
		JWKSURL: js.url(), Issuer: issuer, Audiences: []string{aud}, Now: now,
		HTTPClient: js.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("expected no error, got %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("expected %v, got %v", want, err)
	}
}

func TestRemoteRefetchOnUnknownKid(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	a := newSigner(t, clk.Now, contexttoken.ES256, token.KeyConfig{File: keyFile(t, contexttoken.ES256), State: token.StateActive})
	b := newSigner(t, clk.Now, contexttoken.ES256, token.KeyConfig{File: keyFile(t, contexttoken.ES256), State: token.StateActive})
	js := newJWKSServer(t, a)
	v := remoteVerifier(t, js, clk.Now)
	if got := js.fetches.Load(); got != 1 {
		t.Fatalf("NewVerifier: expected 1 fetch, got %d", got)
	}
	_, err := v.Verify(ctx, mint(t, a, claims()))
	wantErr(t, err, nil)
	if got := js.fetches.Load(); got != 1 {
		t.Fatalf("known kid: expected no new fetch, got %d fetches", got)
	}

	// The gateway restarts with a new key (the quickstart's dev signer does
	// this): the unknown kid triggers one refetch, which finds it, once
	// MinRefetchInterval has passed since the first fetch.
	js.signer.Store(b)
	tb := mint(t, b, claims())
	clk.Set(t0.Add(contexttoken.DefaultMinRefetchInterval - time.Second))
	_, err = v.Verify(ctx, tb)
	wantErr(t, err, contexttoken.ErrUnknownKey)
	if got := js.fetches.Load(); got != 1 {
		t.Fatalf("unknown kid within the interval: expected no refetch, got %d fetches", got)
	}
	t1 := t0.Add(contexttoken.DefaultMinRefetchInterval)
	clk.Set(t1)
	_, err = v.Verify(ctx, tb)
	wantErr(t, err, nil)
	if got := js.fetches.Load(); got != 2 {
		t.Fatalf("unknown kid: expected a refetch (2 fetches), got %d", got)
	}

	// A kid nobody publishes: one refetch is allowed only after
	// MinRefetchInterval has passed since the last fetch.
	stranger := newSigner(t, clk.Now, contexttoken.ES256, token.KeyConfig{File: keyFile(t, contexttoken.ES256), State: token.StateActive})
	bogus := mint(t, stranger, claims())
	for i := range 5 {
		clk.Set(t1.Add(time.Duration(i) * time.Second))
		_, err = v.Verify(ctx, bogus)
		wantErr(t, err, contexttoken.ErrUnknownKey)
	}
	if got := js.fetches.Load() + js.notMod.Load(); got != 2 {
		t.Fatalf("rate limit: expected no fetch within %s of the last, got %d requests", contexttoken.DefaultMinRefetchInterval, got)
	}
	clk.Set(t1.Add(contexttoken.DefaultMinRefetchInterval))
	_, err = v.Verify(ctx, bogus)
	wantErr(t, err, contexttoken.ErrUnknownKey)
	if got := js.notMod.Load(); got != 1 {
		t.Fatalf("after the interval: expected one conditional refetch answered 304, got %d", got)
	}
	if got := js.fetches.Load(); got != 2 {
		t.Fatalf("after the interval: expected no full fetch (the set did not change), got %d", got)
	}
}

func TestRemoteRotation(t *testing.T) {
	ctx := context.Background()
	r := newRotation(t)
	js := newJWKSServer(t, r.before)
	v := remoteVerifier(t, js, r.clk.Now)

	oldTok := mint(t, r.before, claims()) // signed by A at t0

	// Promote: B signs, A is retired with overlap.
	js.signer.Store(r.after)
	r.clk.Set(t0.Add(time.Minute))
	newTok := mint(t, r.after, claims())
	// B was published as "next", so the verifier knows it without a fetch.
	_, err := v.Verify(ctx, newTok)
	wantErr(t, err, nil)
	if got := js.fetches.Load(); got != 1 {
		t.Fatalf("next key: expected it known from the first fetch, got %d fetches", got)
	}
	// A's token still verifies during the overlap, also after a refresh.
	_, err = v.Verify(ctx, oldTok)
	wantErr(t, err, nil)
	r.clk.Set(t0.Add(contexttoken.DefaultRefreshInterval + time.Second))
	_, err = v.Verify(ctx, oldTok)
	wantErr(t, err, nil)
	if got := js.fetches.Load(); got != 2 {
		t.Fatalf("refresh: expected the stale set to be refetched (2 fetches), got %d", got)
	}

	// After A's until, A leaves the set. A token signed with A later (a
	// stale replica, or a leaked retired key) is refused once the verifier
	// refreshes, even though its exp has not passed.
	late := newSigner(t, func() time.Time { return t0.Add(9 * time.Minute) }, contexttoken.ES256,
		token.KeyConfig{File: r.a, State: token.StateActive})
	lateTok := mint(t, late, claims()) // exp t0+14m
	r.clk.Set(t0.Add(11 * time.Minute))
	_, err = v.Verify(ctx, lateTok)
	wantErr(t, err, contexttoken.ErrUnknownKey)
	_, err = v.Verify(ctx, mint(t, r.after, claims()))
	wantErr(t, err, nil)
}

func TestRemoteKeySetUnavailable(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	s := newSigner(t, clk.Now, contexttoken.ES256, token.KeyConfig{File: keyFile(t, contexttoken.ES256), State: token.StateActive})
	js := newJWKSServer(t, s)

	js.fail.Store(true)
	_, err := contexttoken.NewVerifier(ctx, contexttoken.Config{JWKSURL: js.url(), Issuer: issuer, Audiences: []string{aud}, HTTPClient: js.Client()})
	wantErr(t, err, contexttoken.ErrKeySet)

	js.fail.Store(false)
	// A set with no key for the allowed algorithms is a configuration error.
	_, err = contexttoken.NewVerifier(ctx, contexttoken.Config{JWKSURL: js.url(), Issuer: issuer, Audiences: []string{aud},
		HTTPClient: js.Client(), Algorithms: []string{contexttoken.EdDSA}})
	if !errors.Is(err, contexttoken.ErrKeySet) || !contains(err.Error(), "expected a key for [EdDSA]") {
		t.Fatalf("expected ErrKeySet for a set without EdDSA keys, got %v", err)
	}

	v := remoteVerifier(t, js, clk.Now)
	tok := mint(t, s, claims())
	// The set goes stale while the gateway's key set is down: fail closed.
	js.fail.Store(true)
	clk.Set(t0.Add(contexttoken.DefaultRefreshInterval))
	_, err = v.Verify(ctx, tok)
	wantErr(t, err, contexttoken.ErrKeySet)
	// And without another request to the server within the interval.
	_, err = v.Verify(ctx, tok)
	wantErr(t, err, contexttoken.ErrKeySet)
	js.fail.Store(false)
	clk.Set(t0.Add(contexttoken.DefaultRefreshInterval + contexttoken.DefaultMinRefetchInterval))
	_, err = v.Verify(ctx, mint(t, s, claims()))
	wantErr(t, err, nil)
}

func TestNewVerifierConfig(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  contexttoken.Config
		want string
	}{
		{"no url", contexttoken.Config{Issuer: issuer, Audiences: []string{aud}}, "expected a JWKSURL"},
		{"plain http off loopback", contexttoken.Config{JWKSURL: "http://gw.example.com/jwks", Issuer: issuer, Audiences: []string{aud}}, "expected JWKSURL to be an https URL"},
		{"no issuer", contexttoken.Config{JWKSURL: "https://gw.example.com/jwks", Audiences: []string{aud}}, "expected an Issuer"},
		{"no audience", contexttoken.Config{JWKSURL: "https://gw.example.com/jwks", Issuer: issuer}, "expected at least one Audience"},
		{"HS256", contexttoken.Config{JWKSURL: "https://gw.example.com/jwks", Issuer: issuer, Audiences: []string{aud}, Algorithms: []string{"HS256"}}, `Algorithms[0]: expected ES256, EdDSA or RS256, got "HS256"`},
		{"none", contexttoken.Config{JWKSURL: "https://gw.example.com/jwks", Issuer: issuer, Audiences: []string{aud}, Algorithms: []string{"none"}}, `got "none"`},
		{"negative leeway", contexttoken.Config{JWKSURL: "https://gw.example.com/jwks", Issuer: issuer, Audiences: []string{aud}, Leeway: -time.Second}, "Leeway: expected between 0 and 5m"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := contexttoken.NewVerifier(ctx, tc.cfg)
			if err == nil || !contains(err.Error(), tc.want) {
				t.Fatalf("expected an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func contains(s, sub string) bool { return len(sub) > 0 && len(s) >= len(sub) && indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestRemoteConcurrent verifies from many goroutines while the gateway
// rotates keys and the clock moves, under -race: every valid token verifies,
// and the key set is fetched a bounded number of times.
func TestRemoteConcurrent(t *testing.T) {
	ctx := context.Background()
	r := newRotation(t)
	js := newJWKSServer(t, r.before)
	v := remoteVerifier(t, js, r.clk.Now)
	oldTok := mint(t, r.before, claims())
	stranger := newSigner(t, r.clk.Now, contexttoken.ES256, token.KeyConfig{File: keyFile(t, contexttoken.ES256), State: token.StateActive})
	bogus := mint(t, stranger, claims())
	js.signer.Store(r.after)
	newTok := mint(t, r.after, claims())

	const workers, rounds = 8, 50
	errs := make(chan error, workers*rounds*3)
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range rounds {
				if w == 0 {
					r.clk.Set(t0.Add(time.Duration(i) * 3 * time.Second)) // up to 2.5 min
				}
				if _, err := v.Verify(ctx, oldTok); err != nil {
					errs <- err
				}
				if _, err := v.Verify(ctx, newTok); err != nil {
					errs <- err
				}
				if _, err := v.Verify(ctx, bogus); !errors.Is(err, contexttoken.ErrUnknownKey) {
					errs <- err
				}
			}
		}()
	}
	for range workers {
		<-done
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// 150 s of clock at most one fetch per 10 s: at most 16 requests.
	if n := js.fetches.Load() + js.notMod.Load(); n > 16 {
		t.Fatalf("expected at most 16 key set requests, got %d", n)
	}
}

// TestInsecureHTTP fetches the key set over plain http from a non-loopback
// name (the admin listener in a cluster), which needs InsecureHTTP. The
// client's dialer sends every connection to the local test server.
func TestInsecureHTTP(t *testing.T) {
	clk := newClock(t0)
	s := newSigner(t, clk.Now, contexttoken.ES256, token.KeyConfig{File: keyFile(t, contexttoken.ES256), State: token.StateActive})
	js := newJWKSServer(t, s)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, js.Listener.Addr().String())
	}}}
	cfg := contexttoken.Config{JWKSURL: "http://gateway-admin.gateway.svc:9090" + token.JWKSPath, Issuer: issuer,
		Audiences: []string{aud}, HTTPClient: client, Now: clk.Now}
	if _, err := contexttoken.NewVerifier(context.Background(), cfg); err == nil || !contains(err.Error(), "set InsecureHTTP to allow http") {
		t.Fatalf("expected http to be refused without InsecureHTTP, got %v", err)
	}
	cfg.InsecureHTTP = true
	v, err := contexttoken.NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), mint(t, s, claims()))
	wantErr(t, err, nil)
}
