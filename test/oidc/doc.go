// Package oidc is the gateway's OpenID Connect conformance matrix: the
// gateway, built from a YAML file as `gateway serve` builds it (not dev
// mode), against real OpenID providers running in-process — the embedded
// development provider, mockoidc, zitadel/oidc's example OpenID provider
// (claims from UserInfo only, OpenID Connect Core §5.4), a provider with
// Keycloak-shaped nested roles, a provider over TLS with a private CA, a
// provider that is down when the gateway starts, and RP-initiated logout.
//
// Every row signs a user in through the provider's own sign-in step,
// reaches an upstream that verifies the context token with the public
// contexttoken package, checks the token's claims, and signs out. The
// results and the settings they prove are in docs/oidc-providers.md.
package oidc
