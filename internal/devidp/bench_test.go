package devidp

import "testing"

// BenchmarkSignIn measures one whole sign-in over loopback HTTP: authorize,
// sign-in page, form post, callback, code exchange (PKCE, client secret) and
// ID token verification by go-oidc.
func BenchmarkSignIn(b *testing.B) {
	e := newEnv(b, "")
	user := DemoUsers()[1].ID
	b.ReportAllocs()
	for b.Loop() {
		e.signIn(b, confidentialID, user)
	}
}

// BenchmarkRefresh measures one refresh token grant (rotation and a new
// signed ID token) over loopback HTTP.
func BenchmarkRefresh(b *testing.B) {
	e := newEnv(b, "")
	res := e.signIn(b, confidentialID, DemoUsers()[0].ID)
	refresh := res.token.RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		tok, err := res.config.TokenSource(e.ctx, expired(refresh)).Token()
		if err != nil {
			b.Fatal(err)
		}
		refresh = tok.RefreshToken
	}
}
