package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/proxy"
	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/store"
)

// pageData is what every page template receives.
type pageData struct {
	Title, Message, Next string
	Reason               string
	RequestID            string
	User, CSRF           string
	// Extra carries page-specific values (device code, poll URL, ...).
	Extra map[string]any
	// Offers are ways out a deny page shows (break-glass).
	Offers []requirement.Offer
	// FormTargets are origins, besides the gateway's own, that the page's
	// forms may post to (CSP form-action): the provider's sign-out.
	FormTargets []string
}

// pageCSP is the pages' Content-Security-Policy. It ends with form-action,
// to which pageCSPWith appends a page's FormTargets.
const (
	pageCSP     = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
	cspHostPort = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]"
)

// pageCSPWith is pageCSP whose form-action also allows origins. An origin
// that is not a plain scheme://host[:port] is left out (it could only come
// from a provider's odd discovery document, and would otherwise add to the
// policy).
func pageCSPWith(origins []string) string {
	csp := pageCSP
	for _, o := range origins {
		scheme, host, ok := strings.Cut(o, "://")
		if ok && (scheme == "https" || scheme == "http") && host != "" && strings.Trim(host, cspHostPort) == "" {
			csp += " " + o
		}
	}
	return csp
}

// page renders an HTML page, or a JSON error for clients that asked for JSON.
func (s *Server) page(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	s.pageNamed(w, r, status, "error.html", d)
}

func (s *Server) pageNamed(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	q := reqFrom(r.Context())
	if q != nil {
		d.RequestID = q.id
		if q.session != nil && d.User == "" {
			d.User, d.CSRF = q.session.Email, q.session.CSRF
		}
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if wantsJSON(r) {
		code := d.Reason
		if code == "" {
			code = strings.ToLower(strings.ReplaceAll(d.Title, " ", "-"))
		}
		writeJSONError(w, r, status, code, strings.TrimSpace(d.Message+" "+d.Next))
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSPWith(d.FormTargets))
	w.WriteHeader(status)
	rt := s.rt.Load()
	if q != nil {
		rt = q.rt // the runtime the request started with, even across a reload
	}
	if err := rt.pages.Render(w, name, d); err != nil {
		s.logger.Error("page render failed", "page", name, "err", err)
	}
}

// wantsJSON: API clients (Accept: application/json without text/html).
func wantsJSON(r *http.Request) bool {
	a := r.Header.Values("Accept")
	if len(a) == 0 {
		return false
	}
	// The media ranges with their q-values: JSON (application/json, any
	// +json such as application/problem+json) against HTML (text/html,
	// application/xhtml+xml); wildcards prefer neither. A tie is HTML, as
	// browsers list both.
	var js, html float64
	for _, line := range a {
		for part := range strings.SplitSeq(line, ",") {
			mt, params, _ := strings.Cut(part, ";")
			mt = strings.ToLower(strings.TrimSpace(mt))
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f >= 0 && f <= 1 {
						q = f
					} else {
						q = 0
					}
				}
			}
			switch {
			case mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
				js = max(js, q)
			case mt == "text/html" || mt == "application/xhtml+xml":
				html = max(html, q)
			}
		}
	}
	return js > 0 && js > html
}

// writeJSONError answers a JSON error: the reason's code, what to do, and
// the request ID (as the page shows it) that the audit record and the logs
// carry, for the client to quote.
func writeJSONError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	out := map[string]string{"error": code, "message": msg}
	if q := reqFrom(r.Context()); q != nil && q.id != "" {
		out["request_id"] = q.id
	}
	writeJSON(w, status, out)
}

// deny answers a denied request with the page its first reason chooses.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, e *routeEntry, in *policy.Input, d policy.Decision) {
	CloseAfterDenial(w, r)
	reason := d.Reasons[0]
	q := reqFrom(r.Context())
	switch reason {
	case policy.ReasonSignInRequired:
		if wantsJSON(r) || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			s.record(r, e, d, http.StatusUnauthorized)
			w.Header().Set("WWW-Authenticate", `Bearer realm="gateway"`)
			writeJSONError(w, r, http.StatusUnauthorized, string(reason), "sign in first: open this address in a browser, or send an ID token as a bearer token where the route allows it")
			return
		}
		status := s.startLogin(w, r, q)
		s.record(r, e, d, status)
		return
	case policy.ReasonEvidenceError:
		if errors.Is(in.EvidenceErr, proxy.ErrCookieConflict) {
			// Not a system that did not answer: trying again sends the
			// same two cookies.
			p := requirement.CookieConflict()
			s.record(r, e, d, p.Status)
			s.logger.Warn("two different session cookies: denying", "request_id", q.id)
			s.page(w, r, p.Status, pageData{Title: p.Title, Message: p.Message, Next: p.Next, Reason: string(reason)})
			return
		}
		s.record(r, e, d, http.StatusServiceUnavailable)
		msg := "The gateway could not check your access because a system it depends on did not answer."
		if errors.Is(in.EvidenceErr, auth.ErrIdPUnavailable) {
			msg = "The gateway could not confirm your sign-in with the identity provider."
		} else if store.IsUnavailable(in.EvidenceErr) {
			msg = "The gateway's session store is not answering, so it cannot check your sign-in."
		}
		s.logger.Error("evidence unavailable: denying", "err", in.EvidenceErr, "request_id", q.id)
		s.page(w, r, http.StatusServiceUnavailable, pageData{Title: "Temporarily unavailable", Message: msg, Next: "Nothing is wrong with your access. Try again in a minute; if it persists, tell the gateway's operators and quote the request ID.", Reason: string(reason)})
		return
	}
	pd := pageData{Reason: string(reason)}
	ask := "the tool's owners"
	if e.cfg.Owner != "" {
		ask = e.cfg.Owner
	}
	switch reason {
	case policy.ReasonDenyRule:
		pd.Title = "Access denied"
		pd.Message = "A deny rule of " + e.title + " excludes you"
		if i := ruleIndex(d.Rule); i >= 0 && i < len(e.cfg.Rules.Deny) {
			pd.Message += " (" + d.Rule + ": " + e.cfg.Rules.Deny[i].String() + ")"
		}
		pd.Message += "."
		pd.Next = "If you think this is wrong, contact " + ask + " and quote the request ID."
	case policy.ReasonNoAllowRule:
		pd.Title = "Access denied"
		pd.Message = "None of the access rules of " + e.title + " includes you (or this kind of request)."
		pd.Next = "If you need access, ask " + ask + " to add you; quote the request ID."
	case policy.ReasonInvalidIdentity:
		pd.Title = "Access denied"
		pd.Message = "Your sign-in does not carry a valid email address."
		pd.Next = "Ask your identity team to check your account."
	default:
		pd.Title = "Access denied"
		pd.Message = "This request is not allowed (" + string(reason) + ")."
	}
	if p, ok := s.kindPage(r, e, d); ok {
		status := p.Status
		if status == 0 {
			status = http.StatusForbidden
		}
		s.record(r, e, d, status)
		s.render(w, r, p)
		return
	}
	s.record(r, e, d, http.StatusForbidden)
	s.page(w, r, http.StatusForbidden, pd)
}

// ruleIndex reads i from "deny[i]"; -1 if absent.
func ruleIndex(rule string) int {
	open, close := strings.IndexByte(rule, '['), strings.IndexByte(rule, ']')
	if open < 0 || close < open {
		return -1
	}
	i, err := strconv.Atoi(rule[open+1 : close])
	if err != nil {
		return -1
	}
	return i
}

// startLogin redirects the browser to the IdP and returns the status sent.
func (s *Server) startLogin(w http.ResponseWriter, r *http.Request, q *request) int {
	if q.mode == modeNginx {
		return nginxSignIn(w) // nginx sends the browser to /.gateway/sign-in
	}
	rt := q.rt
	target := rt.publicURL.Scheme + "://" + r.Host + q.path
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	ret, err := auth.ValidateReturn(target, rt.publicURL.Scheme, rt.routed)
	if err != nil {
		ret = rt.cfg.PublicURL
	}
	login, err := rt.auth.StartLoginFrom(r.Context(), q.client.ClientIP, ret, rt.cfg.Session.CookieName)
	if errors.Is(err, auth.ErrTooManySignIns) {
		w.Header().Set("Retry-After", "60")
		s.page(w, r, http.StatusTooManyRequests, pageData{Title: "Too many sign-ins", Message: "Too many sign-ins are in progress from your network.", Next: "Finish the sign-ins you started, or wait a few minutes and try again.", Reason: string(policy.ReasonSignInRequired)})
		return http.StatusTooManyRequests
	}
	if errors.Is(err, auth.ErrProviderUnavailable) {
		s.logger.Warn("sign-in unavailable: the identity provider is not reachable yet", "err", err, "request_id", q.id)
		w.Header().Set("Retry-After", "30")
		s.page(w, r, http.StatusServiceUnavailable, pageData{Title: "Sign-in temporarily unavailable", Message: "The gateway cannot reach the identity provider, so it cannot sign you in right now.", Next: "Nothing is wrong with your access. Try again in a minute; if it persists, tell the gateway's operators and quote the request ID.", Reason: string(policy.ReasonEvidenceError)})
		return http.StatusServiceUnavailable
	}
	if err != nil {
		s.metrics.StoreErrors.WithLabelValues("login").Inc()
		s.page(w, r, http.StatusServiceUnavailable, pageData{Title: "Temporarily unavailable", Message: "The gateway could not start your sign-in: its session store is not answering.", Next: "Try again in a minute.", Reason: string(policy.ReasonEvidenceError)})
		return http.StatusServiceUnavailable
	}
	http.SetCookie(w, s.cookie(rt, login.CookieName, login.CookieValue, time.Now().Add(10*time.Minute)))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, login.RedirectURL, http.StatusFound)
	return http.StatusFound
}

// cookie builds a gateway cookie: HttpOnly, SameSite=Lax, Secure when the
// public URL is https, on the configured cookie domain.
func (s *Server) cookie(rt *runtime, name, value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name: name, Value: value, Path: "/", Domain: rt.cfg.Session.CookieDomain,
		HttpOnly: true, Secure: rt.publicURL.Scheme == "https", SameSite: http.SameSiteLaxMode,
		Expires: expires,
	}
	if value == "" {
		c.MaxAge = -1
		c.Expires = time.Time{}
	}
	return c
}

// callback completes the OIDC sign-in.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	q := reqFrom(r.Context())
	rt := q.rt
	id, sess, ret, err := rt.auth.Callback(r.Context(), r, rt.cfg.Session.CookieName)
	if state := r.URL.Query().Get("state"); state != "" {
		http.SetCookie(w, s.cookie(rt, auth.BindCookieName(rt.cfg.Session.CookieName, state), "", time.Time{}))
	}
	if err != nil {
		var ce *auth.CallbackError
		s.logger.Warn("sign-in failed", "err", err, "request_id", q.id)
		s.audit.Log(s.event(q, "sign-in-failed", err.Error()))
		if errors.As(err, &ce) {
			next := "Open the tool's address again to start a new sign-in."
			if ce.Next != "" {
				next = ce.Next
			}
			s.page(w, r, http.StatusBadRequest, pageData{Title: "Sign-in failed", Message: ce.Msg + ".", Next: next})
			return
		}
		if errors.Is(err, auth.ErrProviderUnreachable) {
			w.Header().Set("Retry-After", "30")
			s.page(w, r, http.StatusServiceUnavailable, pageData{Title: "Sign-in temporarily unavailable", Message: "The identity provider did not answer when the gateway completed your sign-in, so you are not signed in.", Next: "Nothing is wrong with your access. Open the tool's address again in a minute; if it persists, tell the gateway's operators and quote the request ID.", Reason: string(policy.ReasonEvidenceError)})
			return
		}
		s.metrics.StoreErrors.WithLabelValues("callback").Inc()
		s.page(w, r, http.StatusServiceUnavailable, pageData{Title: "Temporarily unavailable", Message: "The gateway could not complete your sign-in: a system it depends on did not answer.", Next: "Try again in a minute."})
		return
	}
	q.session = sess
	s.audit.Log(s.event(q, "signed-in", ""))
	http.SetCookie(w, s.cookie(rt, rt.cfg.Session.CookieName, id, sess.ExpiresAt))
	// The return URL was validated at StartLogin and stored server-side;
	// check it again against the routes in force now.
	if v, err := auth.ValidateReturn(ret, rt.publicURL.Scheme, rt.routed); err == nil {
		ret = v
	} else {
		ret = "/"
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, ret, http.StatusFound)
}

func (s *Server) event(q *request, ev, detail string) audit.Record {
	rec := audit.Record{Time: s.now(), Kind: "session", RequestID: q.id, Host: q.host, Path: q.path,
		SourceIP: q.client.ClientIP.String(), Event: ev, Detail: detail}
	rec.User, rec.Subject = q.user()
	return rec
}

// signOutPage shows a confirmation form (sign-out is a POST).
func (s *Server) signOutPage(w http.ResponseWriter, r *http.Request) {
	q := reqFrom(r.Context())
	if err := s.loadSession(r, q); err != nil {
		s.storeUnavailable(w, r, err)
		return
	}
	if q.session == nil {
		if wantsJSON(r) {
			writeSignedOut(w, nil)
			return
		}
		s.pageNamed(w, r, http.StatusOK, "signed_out.html", pageData{Title: "Signed out"})
		return
	}
	if wantsJSON(r) {
		// What a script needs to sign out: POST here with this csrf field.
		// The same token the page's form holds; no other origin can read
		// either (no CORS).
		writeJSON(w, http.StatusOK, signedOut{CSRF: q.session.CSRF})
		return
	}
	s.page(w, r, http.StatusOK, pageData{Title: "Sign out?", Message: "Use the button below to end your gateway session on every replica."})
}

// loadSession fills q's session from the cookie. No cookie or no live
// session is not an error; a store that does not answer is, and callers
// must not treat it as "signed out" (a sign-out that did not happen must not
// say it did).
func (s *Server) loadSession(r *http.Request, q *request) error {
	c, err := proxy.SessionCookie(r.Header, q.rt.cfg.Session.CookieName)
	if err != nil || c == "" {
		return err
	}
	sess, err := q.rt.sessions.Load(r.Context(), c)
	if errors.Is(err, auth.ErrNoSession) {
		return nil
	}
	if err != nil {
		s.metrics.StoreErrors.WithLabelValues("load").Inc()
		return err
	}
	q.sessionID, q.session = c, sess
	return nil
}

// storeUnavailable answers a gateway page whose session could not be read.
// Two different session cookies are not the store's fault: that page says
// to clear the site's cookies (requirement.SessionUnavailable).
func (s *Server) storeUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, proxy.ErrCookieConflict) {
		s.logger.Warn("two different session cookies: refused", "request_id", reqFrom(r.Context()).id)
	} else {
		s.logger.Error("session store unavailable", "err", err, "request_id", reqFrom(r.Context()).id)
	}
	p := requirement.SessionUnavailable(err)
	s.page(w, r, p.Status, pageData{Title: p.Title, Message: p.Message, Next: p.Next, Reason: string(p.Reason)})
}

// signOut ends the session everywhere. It is protected twice against CSRF:
// http.CrossOriginProtection (Sec-Fetch-Site / Origin) and the session's
// own token in the form, compared in constant time.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	q := reqFrom(r.Context())
	rt := q.rt
	if err := s.loadSession(r, q); err != nil {
		s.storeUnavailable(w, r, err)
		return
	}
	if q.session == nil {
		http.SetCookie(w, s.cookie(rt, rt.cfg.Session.CookieName, "", time.Time{}))
		if wantsJSON(r) {
			writeSignedOut(w, nil)
			return
		}
		s.pageNamed(w, r, http.StatusOK, "signed_out.html", pageData{Title: "Signed out"})
		return
	}
	LimitBody(w, r, 4<<10, 10*time.Second)
	if !q.session.CheckCSRF(r.PostFormValue("csrf")) {
		s.page(w, r, http.StatusForbidden, pageData{Title: "Sign-out refused", Message: "The sign-out form was not sent by this gateway's page.", Next: "Open the sign-out page again and use its button."})
		return
	}
	// SignOut revokes the session's ID token (the provider sign-out's hint,
	// about to be handed to the browser) before it ends the session.
	provider, err := rt.auth.SignOut(r.Context(), q.sessionID, q.session)
	if err != nil {
		s.metrics.StoreErrors.WithLabelValues("delete").Inc()
		s.page(w, r, http.StatusServiceUnavailable, pageData{Title: "Sign-out failed", Message: "The session store did not answer, so your session may still be active.", Next: "Try again in a minute."})
		return
	}
	s.audit.Log(s.event(q, "signed-out", ""))
	http.SetCookie(w, s.cookie(rt, rt.cfg.Session.CookieName, "", time.Time{}))
	q.session = nil
	if wantsJSON(r) {
		// A script's sign-out (fetch with Accept: application/json) gets
		// the provider's form as data, to post it the way the page does.
		writeSignedOut(w, provider)
		return
	}
	if provider != nil {
		// RP-initiated logout: the provider ends its own session too. The
		// browser posts the form (by itself, or with the button), so that
		// id_token_hint travels in a body, not in a URL.
		s.pageNamed(w, r, http.StatusOK, "provider_sign_out.html", pageData{Title: "Signing out at your identity provider",
			Message:     "Your gateway session has ended on every replica. Your identity provider's session ends next.",
			Extra:       map[string]any{"Action": provider.Action, "Fields": provider.Fields},
			FormTargets: provider.Origins})
		return
	}
	s.pageNamed(w, r, http.StatusOK, "signed_out.html", pageData{Title: "Signed out"})
}

// signedOut is a JSON sign-out's answer: the gateway session has ended;
// ProviderSignOut, when the provider's session ends next, is the form to
// post to its end_session_endpoint (RP-Initiated Logout 1.0), fields in
// order — the same form provider_sign_out.html posts.
// Before a sign-out (GET with a session), SignedOut is false and CSRF is
// the field to post.
type signedOut struct {
	SignedOut       bool          `json:"signed_out"`
	CSRF            string        `json:"csrf,omitempty"`
	ProviderSignOut *providerForm `json:"provider_sign_out,omitempty"`
}

type providerForm struct {
	Action string           `json:"action"`
	Method string           `json:"method"`
	Fields []auth.FormField `json:"fields"`
}

func writeSignedOut(w http.ResponseWriter, p *auth.ProviderSignOut) {
	out := signedOut{SignedOut: true}
	if p != nil {
		out.ProviderSignOut = &providerForm{Action: p.Action, Method: http.MethodPost, Fields: p.Fields}
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
