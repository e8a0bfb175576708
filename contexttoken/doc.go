// Package contexttoken verifies the signed context token that the access
// gateway sends upstream with every request it allows.
//
// The token is a compact JWS (ES256 by default; EdDSA and RS256 can be
// selected) carried in the X-Gateway-Context header (configurable). Its header
// names the signing key (kid, an RFC 7638 thumbprint) and the type
// "gateway-context+jwt". Its claims (see [Claims]) say who called (sub, email,
// groups), from which device, why (a verified justification or a break-glass
// grant), through which route and from which source address, for which
// audience (aud), and for how long (iat, nbf, exp; at most five minutes).
//
// A tool behind the gateway builds one [Verifier] at start-up, pointed at the
// gateway's key set (https://<gateway host>/.well-known/gateway/jwks.json), and
// wraps its handler with [Middleware]:
//
//	v, err := contexttoken.NewVerifier(ctx, contexttoken.Config{
//		JWKSURL:   "https://tools.example.com/.well-known/gateway/jwks.json",
//		Issuer:    "https://tools.example.com",
//		Audiences: []string{"https://wiki.internal.example.com"},
//	})
//	if err != nil { ... }
//	http.Handle("/", contexttoken.Middleware(v, "")(app))
//
// and reads the verified claims in the handler with [FromContext].
//
// What Verify checks: the signature with a key from the key set (unknown key
// IDs trigger a rate-limited refetch), the algorithm against an allow-list
// (never "none", never an HMAC algorithm), the token type, the issuer, that
// aud names one of the accepted audiences, and exp, nbf and iat against the
// clock with a leeway (30 s by default).
//
// What Verify does NOT check: replay. A token is a bearer credential until it
// expires; a service that must accept each token once has to remember the jti
// values it has seen until their exp. Nor does it check that the request the
// token came with matches the token's route or source_ip: the claims describe
// the request the gateway allowed, and a tool may compare them if it wishes.
// Authorization beyond "the gateway allowed this caller" (for example group
// membership) is the tool's own decision.
package contexttoken
