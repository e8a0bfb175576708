package auth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// ErrProviderUnavailable means the provider has not been discovered yet (it
// was unreachable when the gateway started and discovery is being retried):
// sign-ins and bearer tokens cannot be checked. Sessions already in the store
// keep working. Errors wrapping it carry the last discovery error.
var ErrProviderUnavailable = errors.New("auth: identity provider not reachable yet")

// discovered is what discovery yields; it never changes once stored.
type discovered struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
	// endSession is the provider's end_session_endpoint ("" if it has none).
	endSession *url.URL
	userInfo   bool
	// keys is the verifier's key set.
	keys *providerKeys
}

// Default discovery retry delays: the first retry after DefaultBackoff,
// doubling up to DefaultMaxBackoff.
const (
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = time.Minute
)

// discover fetches the provider's metadata once.
func (a *Authenticator) discover(ctx context.Context) (*discovered, error) {
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, a.client), 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, a.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("auth: oidc discovery of %q: %w", a.cfg.Issuer, err)
	}
	var extra struct {
		Issuer     string   `json:"issuer"`
		JWKSURI    string   `json:"jwks_uri"`
		Algs       []string `json:"id_token_signing_alg_values_supported"`
		EndSession string   `json:"end_session_endpoint"`
	}
	_ = p.Claims(&extra)
	// The signing algorithms the provider lists, of those go-oidc verifies
	// (RS256 when it lists none of them, go-oidc's default).
	var algs []string
	for _, alg := range extra.Algs {
		if signingAlgs[alg] {
			algs = append(algs, alg)
		}
	}
	if len(algs) == 0 {
		algs = []string{oidc.RS256}
	}
	keys := &providerKeys{url: extra.JWKSURI, client: a.client, now: time.Now}
	for _, alg := range algs {
		keys.algs = append(keys.algs, jose.SignatureAlgorithm(alg))
	}
	d := &discovered{
		provider: p,
		verifier: oidc.NewVerifier(extra.Issuer, keys, &oidc.Config{ClientID: a.cfg.ClientID, SupportedSigningAlgs: algs}),
		oauth: oauth2.Config{
			ClientID:     a.cfg.ClientID,
			ClientSecret: a.cfg.ClientSecret,
			Endpoint:     p.Endpoint(),
			RedirectURL:  a.cfg.RedirectURL,
			Scopes:       a.cfg.Scopes,
		},
		userInfo: p.UserInfoEndpoint() != "",
		keys:     keys,
	}
	if extra.EndSession != "" {
		u, err := url.Parse(extra.EndSession)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			a.cfg.Logger.Warn("auth: the provider's end_session_endpoint is not an absolute URL; sign-out will not end the provider's session",
				"end_session_endpoint", extra.EndSession)
		} else {
			d.endSession = u
		}
	}
	return d, nil
}

// retryDiscovery retries discovery with exponential backoff until it
// succeeds or the Authenticator is closed.
func (a *Authenticator) retryDiscovery(ctx context.Context) {
	defer close(a.done)
	delay := a.cfg.DiscoveryBackoff
	for attempt := 1; ; attempt++ {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		d, err := a.discover(ctx)
		if err == nil {
			a.state.Store(d)
			a.cfg.Logger.Info("auth: identity provider discovered; sign-in is available", "issuer", a.cfg.Issuer, "attempts", attempt+1)
			return
		}
		if ctx.Err() != nil {
			return
		}
		a.setLastErr(err)
		a.cfg.Logger.Warn("auth: identity provider still unreachable; sign-in stays unavailable, existing sessions keep working",
			"issuer", a.cfg.Issuer, "err", err, "retry_in", min(2*delay, a.cfg.DiscoveryMaxBackoff).String())
		delay = min(2*delay, a.cfg.DiscoveryMaxBackoff)
	}
}

func (a *Authenticator) setLastErr(err error) {
	a.errMu.Lock()
	a.lastErr = err
	a.errMu.Unlock()
}

// Ready reports nil once the provider is discovered, else an error wrapping
// ErrProviderUnavailable with the last discovery error.
func (a *Authenticator) Ready() error {
	_, err := a.ready()
	return err
}

func (a *Authenticator) ready() (*discovered, error) {
	if d := a.state.Load(); d != nil {
		return d, nil
	}
	a.errMu.Lock()
	last := a.lastErr
	a.errMu.Unlock()
	return nil, fmt.Errorf("%w: %v", ErrProviderUnavailable, last)
}

// Close stops the discovery retries, if any. The Authenticator must not be
// used afterwards.
func (a *Authenticator) Close() error {
	a.stop()
	<-a.done
	return nil
}
