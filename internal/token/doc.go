// Package token mints the gateway's signed context token and publishes the
// public keys that verify it.
//
// A [Signer] is built from a [Config] (the `token:` section of the gateway's
// YAML) and the gateway's issuer URL. It loads every key file in its
// constructor and fails on any bad key; after that it is immutable and safe
// for concurrent use. Hot reload builds a new Signer and swaps it in; a
// failed build keeps the old one.
//
// Keys have a state:
//
//   - active: signs every token. Exactly one key is active.
//   - next: published in the JWKS, not yet signing, so that verifiers learn
//     it before it is promoted.
//   - retired: published until its `until` time so that tokens it signed
//     before the rotation still verify, then dropped. A retired key never
//     signs.
//
// The key ID (kid) of every key is its RFC 7638 JWK thumbprint (SHA-256,
// base64url), so the same key file always has the same kid.
//
// [Signer.Mint] fills iss, iat, nbf, exp and jti; the caller fills everything
// else (subject, audience, groups already filtered, device, justification,
// break-glass, route, source IP) and passes notAfter, the earliest end of the
// session or any grant the request relied on: exp never exceeds it, nor the
// configured lifetime (at most 5 minutes).
//
// [Cache] reuses a minted token for identical claims for a short time; see
// its doc for what that means for jti and replay.
//
// What this package does NOT do: decide whether a request is allowed, strip
// inbound headers, or verify tokens (that is package contexttoken, which
// tools behind the gateway import).
package token
