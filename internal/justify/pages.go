package justify

import (
	"context"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
)

// formPath is the justification form's endpoint (a reserved path).
const formPath = "/.gateway/justify"

// maxForm bounds the form's body.
const maxForm = 8 << 10

// Page implements requirement.Pager: the form that asks for a ticket, with
// what was wrong with the last one. API clients get the same as JSON, with
// the header to use.
func (k *kindService) Page(_ context.Context, reason policy.Reason, req policy.Requirement, facts any, r *requirement.Request, _ requirement.Host) (requirement.Page, bool) {
	if k.v == nil {
		return requirement.Page{}, false
	}
	f, _ := facts.(*Facts)
	q, _ := req.(*Requirement)
	p := k.form(reason, f, r.Title, q, r.Vars)
	if r.SessionID == "" {
		p.Next = "Name an open ticket that involves you in the " + k.cfg.Header + " header, e.g. " + k.cfg.Header + ": " + k.example(q) + "."
		return p, true
	}
	ret := r.Path
	if raw := r.HTTP.URL.RawQuery; raw != "" {
		ret += "?" + raw
	}
	p.Extra["Return"] = ret
	p.Extra["CSRF"] = r.Session.CSRF
	return p, true
}

// form is the justification page for reason.
func (k *kindService) form(reason policy.Reason, f *Facts, title string, q *Requirement, vars map[string]string) requirement.Page {
	p := requirement.Page{Template: "justify.html", Reason: reason, Title: "Why do you need " + title + "?",
		Extra: map[string]any{"Action": formPath, "Tool": title}}
	resource := ""
	if q != nil {
		resource = q.Resource(vars)
		p.Extra["Systems"] = strings.Join(q.Systems, ", ")
		p.Extra["Example"] = k.example(q)
		if q.ResourceName != "" {
			p.Extra["ResourceName"], p.Extra["Resource"] = q.ResourceName, resource
		}
	}
	about := ""
	if q != nil && q.ResourceName != "" {
		about = " about " + q.ResourceName + " " + resource
	}
	ticket := ""
	if f != nil {
		ticket = f.Ticket
		p.Extra["Ticket"] = f.Ticket
	}
	if ticket == "" {
		ticket = "The ticket"
	}
	switch reason {
	case ReasonRequired:
		p.Message = title + " needs a reason: link an open ticket, bug or page that involves you" + about + "."
		if f != nil && f.Detail != "" {
			p.Message = "That is not a ticket this tool accepts: " + f.Detail + "."
		}
		p.Next = "Enter its ID (or paste its link) below."
	case ReasonNotFound:
		p.Message = ticket + " was not found in its system (or the gateway may not see it)."
		p.Next = "Check the ID, or paste the ticket's link."
	case ReasonClosed:
		p.Message = ticket + " is closed, so it no longer justifies access to " + title + "."
		p.Next = "Reopen it, or link the open ticket you are working on."
	case ReasonNotAssigned:
		p.Message = ticket + " does not involve you (as assignee, reporter, watcher or responder)."
		p.Next = "Link a ticket you are working on, or have yourself added to it."
	case ReasonResourceMismatch:
		p.Message = ticket + " is not" + about + "."
		p.Next = "Link the ticket for this " + orDefault(qName(q), "resource") + ", or open the record the ticket is about."
	case ReasonRateLimited:
		p.Status = http.StatusTooManyRequests
		p.Message = "You named more tickets in the last minutes than the gateway checks for one person, so it did not ask the ticket system about " + strings.ToLower(ticket[:1]) + ticket[1:] + "."
		p.Next = "Wait a minute, then enter the ticket you are working on."
	case ReasonUnavailable:
		p.Status = http.StatusServiceUnavailable
		p.Message = "The gateway cannot reach the ticket system to check " + strings.ToLower(ticket[:1]) + ticket[1:] + ", so it cannot let you in."
		if f != nil && f.Detail != "" {
			p.Message += " (" + f.Detail + ")"
		}
		p.Next = "Nothing is wrong with your ticket. Try again in a minute; if it persists, tell the gateway's operators."
	}
	return p
}

func qName(q *Requirement) string {
	if q == nil {
		return ""
	}
	return q.ResourceName
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// example is an example of what to type.
func (k *kindService) example(q *Requirement) string {
	if q == nil || len(q.Systems) == 0 {
		return "system:ID"
	}
	return q.Systems[0] + ":ID"
}

// Mount implements requirement.Mounter: GET /.gateway/justify?return=URL
// shows the form for the route at URL; POST verifies a ticket and, when it
// justifies the user, records the grant and returns to URL.
func (k *kindService) Mount(m *mux.Router, h requirement.Host) {
	m.HandleFunc("/justify", func(w http.ResponseWriter, r *http.Request) { k.show(w, r, h) }).Methods(http.MethodGet)
	m.Handle("/justify", http.NewCrossOriginProtection().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.submit(w, r, h)
	}))).Methods(http.MethodPost)
}

// target is the route a form acts for.
type target struct {
	ret   string
	match requirement.RouteMatch
	q     *Requirement
}

// resolve validates the return address and finds its route's requirement.
func (k *kindService) resolve(r *http.Request, h requirement.Host, raw string) (target, *requirement.Page) {
	ret, ok := h.SafeReturn(r, raw)
	if !ok {
		return target{}, &requirement.Page{Status: http.StatusBadRequest, Title: "Bad request", Message: "The form does not name a tool of this gateway to return to.", Next: "Open the tool again."}
	}
	m, ok := h.RouteFor(r, ret, k.kindName())
	q, isJ := m.Requirement.(*Requirement)
	if !ok || !isJ {
		return target{}, &requirement.Page{Status: http.StatusBadRequest, Title: "No justification needed", Message: "That address needs no ticket.", Next: "Open the tool again."}
	}
	return target{ret: ret, match: m, q: q}, nil
}

func (k *kindService) kindName() string { return Kind{}.Name() }

func (k *kindService) show(w http.ResponseWriter, r *http.Request, h requirement.Host) {
	if k.v == nil {
		h.Render(w, r, requirement.Page{Status: http.StatusNotFound, Title: "Justification is off", Message: "This gateway asks for no tickets."})
		return
	}
	sess, _, err := h.Session(r)
	switch {
	case err != nil:
		h.Render(w, r, requirement.SessionUnavailable(err))
		return
	case sess == nil:
		h.Render(w, r, signInFirst)
		return
	}
	t, bad := k.resolve(r, h, r.URL.Query().Get("return"))
	if bad != nil {
		h.Render(w, r, *bad)
		return
	}
	rq := h.Request(r)
	if !t.match.AdmittedBy(&policy.Identity{Subject: sess.Subject, Email: sess.Email, Groups: sess.Groups, Claims: sess.Claims}, rq.ClientIP, rq.Now) {
		h.Render(w, r, notAdmitted(t.match.Title))
		return
	}
	p := k.form(ReasonRequired, nil, t.match.Title, t.q, t.match.Vars)
	p.Status = http.StatusOK
	p.Extra["Return"], p.Extra["CSRF"] = t.ret, sess.CSRF
	h.Render(w, r, p)
}

// submit verifies the ticket of the form. It is protected twice against
// CSRF: CrossOriginProtection (Sec-Fetch-Site / Origin) and the session's
// token, compared in constant time.
func (k *kindService) submit(w http.ResponseWriter, r *http.Request, h requirement.Host) {
	if k.v == nil {
		h.Render(w, r, requirement.Page{Status: http.StatusNotFound, Title: "Justification is off", Message: "This gateway asks for no tickets."})
		return
	}
	sess, sid, err := h.Session(r)
	switch {
	case err != nil:
		h.Render(w, r, requirement.SessionUnavailable(err))
		return
	case sess == nil:
		h.Render(w, r, signInFirst)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.Render(w, r, requirement.Page{Status: http.StatusBadRequest, Title: "Bad request", Message: "The form could not be read.", Next: "Open the tool again."})
		return
	}
	if !sess.CheckCSRF(r.PostForm.Get("csrf")) {
		h.Render(w, r, requirement.Page{Status: http.StatusForbidden, Title: "Form refused", Message: "The form was not sent by this gateway's page.", Next: "Open the tool again and use its form."})
		return
	}
	t, bad := k.resolve(r, h, r.PostForm.Get("return"))
	if bad != nil {
		h.Render(w, r, *bad)
		return
	}
	gr := h.Request(r)
	gr.Route, gr.Title, gr.Vars, gr.Session, gr.SessionID = t.match.Name, t.match.Title, t.match.Vars, sess, sid
	gr.Identity = &policy.Identity{Subject: sess.Subject, Email: sess.Email, Groups: sess.Groups, Claims: sess.Claims}
	res := t.q.Resource(t.match.Vars)
	if !t.match.AdmittedBy(gr.Identity, gr.ClientIP, gr.Now) {
		// No ticket is looked up (with the gateway's account) and no grant
		// recorded for someone the route's rules refuse anyway.
		k.auditEvent(r.Context(), "justification.verify", "refused", &Grant{User: sess.Email, Route: t.q.Route, Resource: res}, Ticket{}, policy.ReasonNoAllowRule, nil)
		h.Render(w, r, notAdmitted(t.match.Title))
		return
	}
	input := r.PostForm.Get("ticket")
	var f *Facts
	ref, err := k.v.Parse(input, t.q.Systems)
	if err != nil {
		f = &Facts{Problem: ReasonRequired, Detail: err.Error()}
		k.auditEvent(r.Context(), "justification.verify", "rejected", &Grant{User: sess.Email, Route: t.q.Route, Resource: res}, Ticket{}, ReasonRequired, nil)
	} else {
		f, err = k.grant(r.Context(), t.q, gr, ref, res, grantKey(sessionHolder(sid), t.q.Route, res))
		if err != nil {
			h.Render(w, r, requirement.Page{Status: http.StatusServiceUnavailable, Title: "Temporarily unavailable",
				Message: "The gateway could not record your justification (its session store or audit log did not answer).",
				Next:    "Try again in a minute.", Reason: policy.ReasonEvidenceError})
			return
		}
	}
	if f.Problem == "" {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, t.ret, http.StatusSeeOther)
		return
	}
	p := k.form(f.Problem, f, t.match.Title, t.q, t.match.Vars)
	if p.Status == 0 {
		p.Status = http.StatusForbidden
	}
	p.Extra["Return"], p.Extra["CSRF"], p.Extra["Ticket"] = t.ret, sess.CSRF, input
	h.Render(w, r, p)
}

// notAdmitted is the page for a user the route's rules refuse: a ticket
// would not open the tool for them.
func notAdmitted(title string) requirement.Page {
	return requirement.Page{Status: http.StatusForbidden, Title: "Not allowed",
		Message: "The rules of " + title + " do not admit you, so a ticket would not open it; the gateway looked up none.",
		Next:    "Ask the tool's owner for access.", Reason: policy.ReasonNoAllowRule}
}

var (
	signInFirst = requirement.Page{Status: http.StatusUnauthorized, Title: "Sign in first",
		Message: "Open the tool's address to sign in; it will ask for the ticket.", Reason: policy.ReasonSignInRequired}
)
