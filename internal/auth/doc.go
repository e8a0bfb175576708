// Package auth signs users in with OpenID Connect (authorization code flow
// with PKCE, state and nonce; go-oidc verifies the ID token), keeps their
// sessions server-side in a store.Store (memory or Redis), refreshes them
// under a per-session lock, and verifies bearer ID tokens of non-browser
// clients.
//
// The session cookie carries only an opaque random ID; the store key is its
// SHA-256. Pending sign-ins (state → nonce, PKCE verifier, return URL,
// browser binding) are single-use store entries, so the return URL never
// travels through the IdP and cannot be forged into an open redirect.
//
// A session is written back only while it is in the store (Sessions.Save),
// so a sign-out is never undone by a refresh that was under way. SignOut
// revokes the ID token it hands the browser for the provider's sign-out,
// and VerifyBearer asks the shared store about revocations on every call.
//
// Not checked here: authorization (the policy package decides) and the
// sign-out form's CSRF token (the server checks it against Session.CSRF).
package auth
