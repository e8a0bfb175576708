package devidp

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// maxLoginForm bounds the sign-in form body; the real form is under 200 bytes.
const maxLoginForm = 4 << 10

// loginPage serves GET /login?authRequestID=ID: one button per demo user,
// each a POST form bound to the auth request.
func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	req, err := p.store.pendingAuthRequest(id)
	if err != nil {
		p.renderError(w, http.StatusBadRequest, err)
		return
	}
	p.render(w, http.StatusOK, pageData{
		Title:         "Development sign-in",
		AuthRequestID: req.id,
		ClientID:      req.clientID,
		Action:        p.prefix + loginPath,
		Users:         p.users,
	})
}

// loginSubmit serves POST /login with authRequestID and user. On success it
// marks the auth request signed in and redirects (303) to the library's
// authorize callback, which redirects to the client with the code.
func (p *Provider) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		p.renderError(w, http.StatusBadRequest, errors.New("devidp: could not read the sign-in form"))
		return
	}
	id := r.PostForm.Get("authRequestID")
	userID := r.PostForm.Get("user")
	user, req, err := p.store.completeLogin(id, userID)
	if err != nil {
		p.logger.Info("devidp: sign-in refused", "error", err)
		p.renderError(w, http.StatusBadRequest, err)
		return
	}
	p.logger.Info("devidp: signed in", "user", user.ID, "email", user.Email, "client", req.clientID)
	callback := op.AuthCallbackURL(p.op)(op.ContextWithIssuer(r.Context(), p.issuer), req.id)
	http.Redirect(w, r, callback, http.StatusSeeOther)
}

func (p *Provider) loggedOut(w http.ResponseWriter, _ *http.Request) {
	p.render(w, http.StatusOK, pageData{Title: "Signed out", Message: "You are signed out of the development identity provider."})
}

func (p *Provider) renderError(w http.ResponseWriter, status int, err error) {
	msg := "This sign-in request is unknown or has expired. Go back to the application and sign in again."
	switch {
	case errors.Is(err, errAuthRequestDone):
		msg = "This sign-in request has already been completed. Go back to the application and sign in again."
	case errors.Is(err, errUnknownUser):
		msg = "That demo user does not exist. Go back to the application and sign in again."
	case errors.Is(err, errClosed):
		msg = "The development identity provider has shut down."
		status = http.StatusServiceUnavailable
	}
	p.render(w, status, pageData{Title: "Sign-in failed", Message: msg, IsError: true})
}

type pageData struct {
	Title         string
	Message       string
	IsError       bool
	AuthRequestID string
	ClientID      string
	Action        string
	Users         []User
}

func (p *Provider) render(w http.ResponseWriter, status int, data pageData) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, data); err != nil {
		p.logger.Error("devidp: render page", "error", err)
		http.Error(w, "devidp: internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} — not for production</title>
<style>
  :root { color-scheme: light; }
  body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #f3f4f6; color: #111827; }
  .banner { background: #b45309; color: #fff; text-align: center; padding: .6rem 1rem; font-weight: 600; letter-spacing: .01em; }
  main { max-width: 28rem; margin: 3rem auto; padding: 0 1rem; }
  .card { background: #fff; border-radius: .75rem; box-shadow: 0 1px 3px rgba(0,0,0,.12); padding: 1.75rem; }
  h1 { font-size: 1.35rem; margin: 0 0 .25rem; }
  .sub { color: #4b5563; margin: 0 0 1.25rem; font-size: .95rem; }
  form { margin: 0 0 .75rem; }
  button { width: 100%; text-align: left; border: 1px solid #d1d5db; border-radius: .5rem; background: #fff; padding: .8rem 1rem; cursor: pointer; font: inherit; color: inherit; }
  button:hover, button:focus { border-color: #2563eb; background: #eff6ff; outline: none; }
  .name { font-weight: 600; display: block; }
  .email { color: #374151; font-size: .9rem; display: block; }
  .groups { margin-top: .35rem; display: block; }
  .group { display: inline-block; background: #e5e7eb; border-radius: 999px; padding: 0 .55rem; font-size: .78rem; margin: 0 .25rem .2rem 0; }
  .error { color: #991b1b; }
  .note { color: #6b7280; font-size: .8rem; margin-top: 1rem; }
  code { font-size: .85em; }
</style>
</head>
<body>
<div class="banner" role="alert">Development sign-in — not for production</div>
<main>
<div class="card">
<h1>{{.Title}}</h1>
{{if .Users}}
<p class="sub">Signing in to <code>{{.ClientID}}</code>. Pick a demo user; no password is asked.</p>
{{range .Users}}
<form method="post" action="{{$.Action}}">
<input type="hidden" name="authRequestID" value="{{$.AuthRequestID}}">
<input type="hidden" name="user" value="{{.ID}}">
<button type="submit" id="user-{{.ID}}">
<span class="name">{{.Name}}</span>
<span class="email">{{.Email}}</span>
<span class="groups">{{range .Groups}}<span class="group">{{.}}</span>{{end}}</span>
</button>
</form>
{{end}}
<p class="note">This identity provider is built into <code>gateway dev</code>. Anyone who can reach it can sign in as any of these users.</p>
{{else}}
<p class="{{if .IsError}}error{{else}}sub{{end}}">{{.Message}}</p>
{{end}}
</div>
</main>
</body>
</html>
`))
