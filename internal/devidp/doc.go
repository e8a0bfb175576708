// Package devidp is the development OpenID Connect provider that
// `gateway dev` runs beside the gateway, so the quickstart signs people in
// without a real identity provider.
//
// It is built on the OpenID Provider library github.com/zitadel/oidc/v3/pkg/op:
// discovery, the authorization endpoint, the token endpoint (authorization
// code with PKCE, refresh token), the JWKS, userinfo, introspection,
// revocation and end-session are the library's. This package supplies only
// what the library leaves to its user: an in-memory storage (auth requests,
// codes, tokens, the signing key), the registered clients, and a sign-in page
// on which the person picks one of a few demo users with one click.
//
// Usage:
//
//	p, err := devidp.New(devidp.Config{
//		Issuer:   "http://127.0.0.1:8081",
//		Clients:  []devidp.Client{{ID: "gateway", Secret: "dev-secret", RedirectURIs: []string{"http://127.0.0.1:8080/.gateway/callback"}}},
//		Insecure: true,
//		Logger:   logger,
//	})
//	if err != nil { ... }
//	defer p.Close()
//	srv := &http.Server{Addr: "127.0.0.1:8081", Handler: p}
//
// The issuer may carry a path ("http://127.0.0.1:8080/.dev-idp"): Provider
// then expects requests with that path still on them (mount it at the prefix
// without stripping it) and answers 404 to anything outside it.
//
// What the provider guarantees:
//   - New refuses to start unless Config.Insecure is true, and refuses an
//     issuer whose host is not a loopback name or address unless
//     Config.AllowNonLoopback is set: anyone who reaches the sign-in page can
//     sign in as any demo user.
//   - Every authorization request must ask for the "openid" scope and carry a
//     PKCE code_challenge with method S256; others are refused with an OAuth
//     error redirected to the (registered) redirect_uri.
//   - ID tokens (RS256, key generated at New, published at the JWKS) carry
//     sub, email, email_verified, name, groups and the request's nonce,
//     whatever profile/email scopes were asked for. Userinfo answers the same
//     claims.
//   - Refresh tokens are always issued to the authorization code flow
//     ("offline_access" is added to every auth request) and rotate on use:
//     a refresh token works once.
//   - Authorization codes are single use: the first exchange attempt consumes
//     the code, whether it succeeds or not.
//   - The sign-in form is bound to its auth request: a POST with an unknown,
//     expired or already completed auth request ID, or an unknown user ID, is
//     refused with 400 and changes nothing.
//   - /end_session (RP-initiated logout) ends the user's tokens for the client
//     named by id_token_hint and redirects to a post_logout_redirect_uri only
//     if the client registered it exactly (Client.PostLogoutRedirectURIs);
//     otherwise it ends on the provider's own "signed out" page. The provider
//     keeps no browser session, so every sign-in shows the user picker again.
//
// What it does NOT do: passwords, consent, persistence (a restart forgets
// every session and token), key rotation, dynamic client registration,
// client credentials, token exchange, device flow, JWT client
// authentication, request objects. It is not for production.
package devidp
