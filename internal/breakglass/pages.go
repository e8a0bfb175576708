package breakglass

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
)

// Reserved paths of break-glass.
const (
	pagePath   = "/.gateway/break-glass"
	reviewPath = "/.gateway/break-glass/review"
	endPath    = "/.gateway/break-glass/end"
	maxForm    = 8 << 10
)

// Offer implements requirement.Offerer: on the deny page of a route whose
// unmet requirements this policy lifts, a user of the policy's groups is
// offered break-glass.
func (k *kindService) Offer(_ context.Context, req policy.Requirement, unmet []policy.Reason, r *requirement.Request) (requirement.Offer, bool) {
	q, ok := req.(*Requirement)
	if !ok || k.svc == nil || r.SessionID == "" || len(unmet) == 0 {
		return requirement.Offer{}, false
	}
	for _, reason := range unmet {
		if !q.Lifts(policy.KindOf(reason)) {
			return requirement.Offer{}, false
		}
	}
	if !k.svc.MayBreakGlass(k.user(r), q.Policy) {
		return requirement.Offer{}, false
	}
	return k.offer(r, "On call for an active incident? Break glass: time-limited access, announced to the team and reviewed afterwards."), true
}

// offer links to the break-glass page of the request's route, with text.
func (k *kindService) offer(r *requirement.Request, text string) requirement.Offer {
	ret := r.Path
	if raw := r.HTTP.URL.RawQuery; raw != "" {
		ret += "?" + raw
	}
	link := pagePath
	if !k.onGatewayHost(r.HTTP) {
		// The form lives on the gateway's own host (see Mount): link there,
		// with the way back to this tool.
		ret = k.pub.Scheme + "://" + r.HTTP.Host + ret
		link = k.pub.Scheme + "://" + k.pub.Host + pagePath
	}
	return requirement.Offer{Text: text, Label: "Break glass", URL: link + "?return=" + url.QueryEscape(ret)}
}

// Page implements requirement.Pager: the page of a request denied because
// the user's grant for the route no longer lets them in (policy.Result.Held
// puts its reason first) — what became of the grant, and what to do. The
// other reasons are the break-glass form's (or, break-glass-required, never
// first: the lifted requirement's page offers break-glass).
func (k *kindService) Page(_ context.Context, reason policy.Reason, req policy.Requirement, facts any, r *requirement.Request, _ requirement.Host) (requirement.Page, bool) {
	q, _ := req.(*Requirement)
	f, _ := facts.(*Facts)
	if k.svc == nil || q == nil || f == nil || f.Problem != reason {
		return requirement.Page{}, false
	}
	tool := r.Title
	grant := "Your break-glass grant for " + tool
	if g := f.Grant; g != nil {
		grant += " (incident " + g.Incident.ID + ", until " + g.ExpiresAt.UTC().Format("15:04 MST") + ")"
	}
	p := requirement.Page{Reason: reason, Title: "Break-glass access to " + tool + " refused", Status: http.StatusForbidden}
	again := func(text string) {
		if k.svc.MayBreakGlass(k.user(r), q.Policy) {
			p.Offers = append(p.Offers, k.offer(r, text))
		}
	}
	switch reason {
	case ReasonProviderUnavailable:
		p.Status = http.StatusServiceUnavailable
		p.Title = "Break-glass grant cannot be checked right now"
		p.Message = grant + " is kept, but the gateway cannot reach the paging system to check that its incident is still active, so it lets nothing through meanwhile."
		p.Next = "Try again in a minute. If it persists, tell the gateway's operators and quote the request ID."
	case ReasonProviderMisconfigured:
		p.Status = http.StatusInternalServerError
		p.Title = "Break-glass grant cannot be checked"
		p.Message = grant + " is kept, but the gateway's connection to the paging system is misconfigured (" + misconfiguredWhat(f.Err) + "), so it cannot check that the incident is still active and lets nothing through."
		if errors.Is(f.Err, ErrScheduleDisabled) {
			p.Message = grant + " is kept, but an on-call schedule the gateway checks is disabled in the paging system, so the grant cannot be checked and lets nothing through."
		}
		p.Next = "Trying again will not help: tell the gateway's operators and quote the request ID; the gateway's log says what to fix. The grant works again once it is fixed, until it expires."
	case ReasonIncidentInactive:
		p.Title = "Break-glass grant ended"
		p.Message = grant + " has ended: the paging system says its incident is no longer active."
		p.Next = "Break-glass is for active incidents. If you are on call for another one that is, ask for a new grant."
		again("On call for another active incident? Ask for a new grant: it is announced and reviewed like the last one.")
	case ReasonGrantEnded:
		p.Title = "Break-glass grant ended"
		switch e := f.Ended; {
		case e != nil && e.Cause == CauseRevoked:
			p.Message = grant + " was revoked"
			if e.By != "" {
				p.Message += " by " + e.By
			}
			p.Message += " at " + e.At.UTC().Format("15:04 MST") + "."
			p.Next = "Talk to the reviewer who revoked it before you ask again: a new grant is announced and reviewed like this one."
		case e != nil && e.Cause == CausePolicyRemoved:
			p.Message = grant + " has ended: its break-glass policy was removed from the gateway's configuration."
			p.Next = "Ask the tool's owners or the gateway's operators how to get access now."
		default:
			p.Message = grant + " ended before its expiry."
			p.Next = "Ask a break-glass reviewer why before you ask again."
		}
		again("Still on call for an active incident? Ask for a new grant.")
	case ReasonNotAllowed:
		p.Message = grant + " no longer lets you in: you are in none of the groups allowed to break glass for it (" + strings.Join(k.policyGroups(q.Policy), ", ") + ") any more."
		p.Next = "Your groups come from your identity provider. If you should still be in one of them, ask your identity team; otherwise ask the on-call engineer."
	default:
		return requirement.Page{}, false
	}
	return p, true
}

// policyGroups are the groups of the named policy ("" for the default).
func (k *kindService) policyGroups(name string) []string {
	p, _ := k.svc.Policy(name)
	return p.Groups
}

// onGatewayHost says whether r is on the public URL's host (host names
// compared as the server routes them: case-insensitive, without the port).
func (k *kindService) onGatewayHost(r *http.Request) bool {
	return k.pub == nil || requirement.HostName(r.Host) == requirement.HostName(k.pub.Host)
}

// elsewhere answers the break-glass pages on a host other than the
// gateway's own: a GET or HEAD is sent to the same page there (a relative
// return address made absolute on this host, so the user comes back to the
// tool); anything else is refused and never acted on. A page on a tool's
// host shares the tool's origin: a script of the tool (or an XSS in it)
// could read the session's CSRF token from the form and post it.
func (k *kindService) elsewhere(w http.ResponseWriter, r *http.Request, h requirement.Host) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		q := r.URL.Query()
		if ret, ok := h.SafeReturn(r, q.Get("return")); ok {
			// A relative return made absolute on this host (one that does
			// not validate goes on as it is, and is refused there).
			q.Set("return", ret)
		}
		u := url.URL{Scheme: k.pub.Scheme, Host: k.pub.Host, Path: r.URL.Path, RawQuery: q.Encode()}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return
	}
	own := k.pub.Scheme + "://" + k.pub.Host
	_, _, _ = h.Session(r) // names the user in the record, when signed in
	k.audit(r.Context(), "break-glass.wrong-host", "refused", "", "", nil, "",
		r.Method+" "+r.URL.Path+" on "+requirement.HostName(r.Host)+": break-glass forms are served on "+own+" only; nothing was done")
	h.Render(w, r, requirement.Page{Status: http.StatusForbidden, Title: "Form refused",
		Message: "Break-glass forms are served on the gateway's own address, " + own + ", not on a tool's; this one was not acted on.",
		Next:    "Open " + own + r.URL.Path + " and use its form."})
}

// Mount implements requirement.Mounter. The pages and their forms are
// served on the public URL's host only (elsewhere).
func (k *kindService) Mount(m *mux.Router, h requirement.Host) {
	csrf := http.NewCrossOriginProtection()
	// On any host but the gateway's own, whatever the method: first.
	elsewhere := func(r *http.Request, _ *mux.RouteMatch) bool { return !k.onGatewayHost(r) }
	for _, p := range []string{"/break-glass", "/break-glass/review", "/break-glass/end"} {
		m.Path(p).MatcherFunc(elsewhere).HandlerFunc(func(w http.ResponseWriter, r *http.Request) { k.elsewhere(w, r, h) })
	}
	m.HandleFunc("/break-glass", func(w http.ResponseWriter, r *http.Request) { k.show(w, r, h, nil, "") }).Methods(http.MethodGet)
	m.Handle("/break-glass", csrf.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { k.submit(w, r, h) }))).Methods(http.MethodPost)
	m.HandleFunc("/break-glass/review", func(w http.ResponseWriter, r *http.Request) { k.review(w, r, h, "") }).Methods(http.MethodGet)
	m.Handle("/break-glass/review", csrf.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { k.reviewAction(w, r, h) }))).Methods(http.MethodPost)
	m.Handle("/break-glass/end", csrf.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { k.endAction(w, r, h) }))).Methods(http.MethodPost)
}

var (
	off       = requirement.Page{Status: http.StatusNotFound, Title: "Break-glass is off", Message: "This gateway has no break-glass policy."}
	storeDown = requirement.Page{Status: http.StatusServiceUnavailable, Title: "Temporarily unavailable",
		Message: "The gateway's session store is not answering; nothing was changed.", Next: "Try again in a minute.",
		Reason: policy.ReasonEvidenceError}
	signInFirst = requirement.Page{Status: http.StatusUnauthorized, Title: "Sign in first",
		Message: "Open the tool's address to sign in, then come back.", Reason: policy.ReasonSignInRequired}
)

// session returns the signed-in user or renders why not.
func (k *kindService) session(w http.ResponseWriter, r *http.Request, h requirement.Host) (*auth.Session, string, bool) {
	if k.svc == nil {
		h.Render(w, r, off)
		return nil, "", false
	}
	sess, sid, err := h.Session(r)
	switch {
	case err != nil:
		h.Render(w, r, requirement.SessionUnavailable(err))
		return nil, "", false
	case sess == nil:
		h.Render(w, r, signInFirst)
		return nil, "", false
	}
	return sess, sid, true
}

// target resolves the route a form acts for.
func (k *kindService) target(r *http.Request, h requirement.Host, raw string) (string, requirement.RouteMatch, *Requirement, bool) {
	ret, ok := h.SafeReturn(r, raw)
	if !ok {
		return "", requirement.RouteMatch{}, nil, false
	}
	m, ok := h.RouteFor(r, ret, Kind{}.Name())
	q, isBG := m.Requirement.(*Requirement)
	if !ok || !isBG {
		return "", requirement.RouteMatch{}, nil, false
	}
	return ret, m, q, true
}

// show is the break-glass form for the route at ?return=.
func (k *kindService) show(w http.ResponseWriter, r *http.Request, h requirement.Host, refusal *Refusal, raw string) {
	sess, sid, ok := k.session(w, r, h)
	if !ok {
		return
	}
	if raw == "" {
		raw = r.URL.Query().Get("return")
	}
	ret, m, q, ok := k.target(r, h, raw)
	if !ok {
		h.Render(w, r, requirement.Page{Status: http.StatusBadRequest, Title: "No break-glass here",
			Message: "That address names no tool of this gateway that allows break-glass.", Next: "Open the tool again and use the link on its page."})
		return
	}
	u := User{Email: sess.Email, Groups: sess.Groups, Session: sid}
	pol, _ := k.svc.Policy(q.Policy)
	p := requirement.Page{Status: http.StatusOK, Template: "breakglass.html", Title: "Break glass: " + m.Title,
		Extra: map[string]any{"Action": pagePath, "Return": ret, "CSRF": sess.CSRF, "Tool": m.Title,
			"Provider": pol.Provider, "Lifts": strings.Join(pol.Lifts, ", ")}}
	if u, err := url.Parse(ret); err == nil && !strings.EqualFold(u.Host, r.Host) {
		// The grant's 303 goes back to the tool's host: browsers hold a
		// redirect after a form submission to the page's form-action.
		p.FormTargets = []string{u.Scheme + "://" + u.Host}
	}
	if !k.svc.MayBreakGlass(u, q.Policy) {
		p.Status, p.Reason = http.StatusForbidden, ReasonNotAllowed
		p.Message = "Break-glass for " + m.Title + " is for members of " + strings.Join(pol.Groups, ", ") + "."
		p.Extra["Action"] = ""
		h.Render(w, r, p)
		return
	}
	p.Message = "Access to " + m.Title + " outside its rules (" + strings.Join(pol.Lifts, ", ") + "), for an incident you are on call for. The grant is checked with " + pol.Provider + ", announced, time-limited and reviewed."
	if g, err := k.svc.Active(r.Context(), u, q.Route); err == nil && g != nil {
		if ok, until := Check(g, q.Route, k.env.Now()); ok {
			p.Extra["Active"] = fmt.Sprintf("You hold a grant for incident %s until %s (%s left).", g.Incident.ID,
				until.UTC().Format("15:04 MST"), until.Sub(k.env.Now()).Round(time.Minute))
			// Its holder may end it early (endAction): it is then
			// reviewable at once, and a new one may be asked for.
			p.Extra["EndAction"], p.Extra["EndID"] = endPath, g.ID
		}
	}
	if used, limit, err := k.svc.Used(r.Context(), q.Policy, sess.Email); err == nil {
		p.Extra["Left"] = fmt.Sprintf("%d of %d grants left today.", max(0, limit-used), limit)
	}
	var durations []string
	for _, d := range []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour} {
		if d <= pol.MaxDuration {
			durations = append(durations, d.String())
		}
	}
	if len(durations) == 0 || durations[len(durations)-1] != pol.MaxDuration.String() {
		durations = append(durations, pol.MaxDuration.String())
	}
	p.Extra["Durations"] = durations
	if refusal != nil {
		p.Status, p.Reason = http.StatusForbidden, refusal.Reason
		switch refusal.Reason {
		case ReasonProviderUnavailable, ReasonUnavailable:
			p.Status = http.StatusServiceUnavailable
		case ReasonProviderMisconfigured:
			// Not 503: trying again does not help.
			p.Status = http.StatusInternalServerError
		case ReasonAlreadyGranted:
			p.Status = http.StatusConflict
		}
		p.Next = refusalText(refusal)
		p.Extra["Incident"], p.Extra["Reason"] = r.PostForm.Get("incident"), r.PostForm.Get("reason")
	}
	h.Render(w, r, p)
}

// refusalText says in plain words why a request was refused.
func refusalText(f *Refusal) string {
	switch f.Reason {
	case ReasonNotOnCall:
		return "You are not on call right now, according to the paging system. Ask the on-call engineer, or your lead."
	case ReasonIncidentNotFound:
		return "The paging system has no such incident. Check its ID (copy it from the page you received)."
	case ReasonIncidentInactive:
		return "That incident is resolved. Break-glass is for active incidents only."
	case ReasonLimitReached:
		return "You have used every break-glass grant of today. Ask a colleague on call, or your lead."
	case ReasonAlreadyGranted:
		if g := f.Held; g != nil {
			return "You already have break-glass access to this tool, for incident " + g.Incident.ID + ", until " +
				g.ExpiresAt.UTC().Format("15:04 MST") + ": use it. No second grant is made while it lasts (it would use up another of today's grants). " +
				"For more time or another incident, end it with the button below, then ask again; or ask again once it has expired."
		}
		return "You already have break-glass access to this tool. No second grant is made while it lasts."
	case ReasonProviderUnavailable:
		return "The gateway cannot reach the paging system to check, so it grants nothing. Try again in a minute."
	case ReasonProviderMisconfigured:
		if errors.Is(f.Err, ErrScheduleDisabled) {
			return "An on-call schedule the gateway checks is disabled in the paging system: it puts nobody on call, so the gateway grants nothing. Trying again will not help: tell the gateway's operators (the schedule must be enabled again, or removed from the configuration) and quote the request ID."
		}
		return "The gateway's connection to the paging system is misconfigured (" + misconfiguredWhat(f.Err) + "), so it cannot check that you are on call and grants nothing. Trying again will not help: tell the gateway's operators and quote the request ID; the gateway's log says what to fix."
	case ReasonNotAllowed:
		return "Break-glass for this tool is not for your groups."
	}
	return "The request was not accepted: " + f.Detail + "."
}

// misconfiguredWhat says in a few words what a *MisconfiguredError is
// about, for the page (the details are in the log and the audit record).
func misconfiguredWhat(err error) string {
	var me *MisconfiguredError
	if !errors.As(err, &me) {
		return "its answer says so"
	}
	switch me.Status {
	case http.StatusUnauthorized:
		return "the paging system refused the gateway's API key"
	case http.StatusForbidden:
		return "the gateway's API key may not read what it must"
	case http.StatusNotFound:
		return "something the gateway is configured to ask for does not exist there"
	}
	return "the paging system refused what the gateway is configured to ask"
}

// submit asks for a grant. The grant is audited before it exists: if the
// audit record cannot be written, there is no grant.
func (k *kindService) submit(w http.ResponseWriter, r *http.Request, h requirement.Host) {
	sess, sid, ok := k.session(w, r, h)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.Render(w, r, requirement.Page{Status: http.StatusBadRequest, Title: "Bad request", Message: "The form could not be read."})
		return
	}
	if !sess.CheckCSRF(r.PostForm.Get("csrf")) {
		k.audit(r.Context(), "break-glass.request", "refused", sess.Email, "", nil, ReasonInvalidRequest,
			"the form did not carry the session's CSRF token (not sent by the gateway's page); nothing was done")
		h.Render(w, r, requirement.Page{Status: http.StatusForbidden, Title: "Form refused", Message: "The form was not sent by this gateway's page.", Next: "Open the break-glass page again."})
		return
	}
	raw := r.PostForm.Get("return")
	ret, m, q, ok := k.target(r, h, raw)
	if !ok {
		h.Render(w, r, requirement.Page{Status: http.StatusBadRequest, Title: "No break-glass here", Message: "That address names no tool of this gateway that allows break-glass."})
		return
	}
	// Break-glass lifts a route's requirements, never its rules: for
	// someone the rules refuse, no provider is asked, no grant made, nobody
	// paged.
	if rq := h.Request(r); !m.AdmittedBy(&policy.Identity{Subject: sess.Subject, Email: sess.Email, Groups: sess.Groups, Claims: sess.Claims}, rq.ClientIP, rq.Now) {
		k.audit(r.Context(), "break-glass.request", "refused", sess.Email, q.Route, nil, policy.ReasonNoAllowRule,
			"the route's rules do not admit "+sess.Email+"; break-glass lifts requirements, not rules; nothing was asked")
		h.Render(w, r, requirement.Page{Status: http.StatusForbidden, Title: "Not allowed",
			Message: "The rules of " + m.Title + " do not admit you; break-glass lifts its requirements, never its rules, so no grant was asked for.",
			Next:    "Ask the tool's owner for access.", Reason: policy.ReasonNoAllowRule})
		return
	}
	// A duration left out asks for the policy's longest grant; one written
	// is checked as written: "0s" is under a minute, not left out. Refused
	// like every other request the service refuses: audited, form shown.
	var dur time.Duration
	if d := r.PostForm.Get("duration"); d != "" {
		var err error
		if dur, err = time.ParseDuration(d); err != nil || dur <= 0 {
			ref := refuse(ReasonInvalidRequest, fmt.Sprintf("duration: expected a duration from 1m, such as 30m, got %q", truncate(d, 40)))
			k.audit(r.Context(), "break-glass.request", "refused", sess.Email, q.Route, nil, ref.Reason, ref.Detail)
			k.show(w, r, h, ref, raw)
			return
		}
	}
	u := User{Email: sess.Email, Groups: sess.Groups, Session: sid}
	g, err := k.svc.Request(r.Context(), u, GrantRequest{Policy: q.Policy, Route: q.Route,
		IncidentID: r.PostForm.Get("incident"), Reason: r.PostForm.Get("reason"), Duration: dur})
	var ref *Refusal
	switch {
	case errors.As(err, &ref):
		k.audit(r.Context(), "break-glass.request", "refused", sess.Email, q.Route, nil, ref.Reason, ref.Detail)
		k.show(w, r, h, ref, raw)
		return
	case err != nil:
		k.env.Logger.Error("break-glass request: the shared store did not answer", "err", err, "route", q.Route)
		k.audit(r.Context(), "break-glass.request", "refused", sess.Email, q.Route, nil, ReasonUnavailable,
			"the shared store did not answer; no grant was made")
		k.show(w, r, h, &Refusal{Reason: ReasonUnavailable, Detail: "the shared store did not answer", Err: err}, raw)
		return
	}
	detail := "grant " + g.ID + ", policy " + g.Policy + ", lifts " + strings.Join(g.Lifts, ",")
	if g.Supersedes != "" {
		detail += ", supersedes grant " + g.Supersedes + " (it no longer stands in for the route)"
	}
	rec := audit.Record{Time: k.env.Now(), Kind: "break-glass", Event: "break-glass.granted", Decision: "granted",
		User: g.User, Route: g.Route, BreakGlass: grantRecord(&g), Detail: detail}
	if err := k.env.Commit(r.Context(), rec); err != nil {
		h.Render(w, r, requirement.Page{Status: http.StatusServiceUnavailable, Title: "No grant",
			Message: "The gateway could not write the grant to its audit log, so it made no grant.",
			Next:    "Try again in a minute; if it persists, tell the gateway's operators.", Reason: policy.ReasonEvidenceError})
		return
	}
	if err := k.svc.Activate(r.Context(), g); err != nil {
		if errors.As(err, &ref) {
			// Another request of this session was granted meanwhile.
			k.audit(r.Context(), "break-glass.activate", "refused", g.User, g.Route, &g, ref.Reason,
				"grant "+g.ID+" not activated: "+ref.Detail+"; its daily grant was given back")
			k.show(w, r, h, ref, raw)
			return
		}
		k.audit(r.Context(), "break-glass.activate", "failed", g.User, g.Route, &g, "", err.Error())
		h.Render(w, r, storeDown)
		return
	}
	if g.Supersedes != "" {
		old := Grant{ID: g.Supersedes, User: g.User, Route: g.Route}
		if e, err := k.svc.Get(r.Context(), g.Supersedes); err == nil {
			old = e.Grant
		}
		k.audit(r.Context(), "break-glass.ended", CauseSuperseded, old.User, old.Route, &old, "",
			"grant "+old.ID+" ended: superseded by grant "+g.ID+" of the same session and route")
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, ret, http.StatusSeeOther)
}

func (k *kindService) audit(ctx context.Context, event, outcome, user, route string, g *Grant, reason policy.Reason, detail string) {
	rec := audit.Record{Time: k.env.Now(), Kind: "break-glass", Event: event, Decision: outcome, User: user, Route: route, Detail: detail}
	if g != nil {
		rec.BreakGlass = grantRecord(g)
	}
	if reason != "" {
		rec.Reasons = []string{string(reason)}
	}
	if k.env.Audit != nil {
		k.env.Audit(ctx, rec)
	}
}

// ReviewStillActive is the code of the review page (and of its JSON error)
// when a reviewer marks reviewed a grant that may still be used. It decides
// nothing about access, so it is not one of Reasons.
const ReviewStillActive policy.Reason = "break-glass-review-grant-active"

// reviewRow is one grant on the review page.
type reviewRow struct {
	ID, User, Route, Incident, Reason, Granted, Expires, State string
	// ReviewableFrom is when the grant may be marked reviewed, "" when it
	// may be now.
	ReviewableFrom string
	Uses           []string
}

// review lists the grants not yet reviewed, with what each was used for
// (from the audit log), for the reviewers.
func (k *kindService) review(w http.ResponseWriter, r *http.Request, h requirement.Host, note string) {
	k.reviewWith(w, r, h, http.StatusOK, "", note)
}

// reviewWith is the review list with a status, a code and a note: a
// refused action answers with its status (and, for API clients, its code)
// and shows the list again with why.
func (k *kindService) reviewWith(w http.ResponseWriter, r *http.Request, h requirement.Host, status int, code policy.Reason, note string) {
	sess, _, ok := k.session(w, r, h)
	if !ok {
		return
	}
	if !k.svc.MayReview(User{Email: sess.Email, Groups: sess.Groups}) {
		k.audit(r.Context(), "break-glass.review", "refused", sess.Email, "", nil, "", "not in the reviewers groups: the review list was not shown")
		h.Render(w, r, requirement.Page{Status: http.StatusForbidden, Title: "Reviewers only",
			Message: "The break-glass review list is for the configured reviewers."})
		return
	}
	entries, err := k.svc.Unreviewed(r.Context())
	if err != nil {
		h.Render(w, r, storeDown)
		return
	}
	uses := k.usage(r.Context(), entries)
	now := k.env.Now()
	var rows []reviewRow
	for _, e := range entries {
		row := reviewRow{ID: e.ID, User: e.User, Route: e.Route, Incident: e.Incident.ID, Reason: e.Reason,
			Granted: e.GrantedAt.UTC().Format(time.RFC3339), Expires: e.ExpiresAt.UTC().Format(time.RFC3339),
			State: e.State(now), Uses: uses[e.ID]}
		if from := e.ReviewableFrom(); now.Before(from) {
			row.ReviewableFrom = from.UTC().Format(time.RFC3339)
		}
		rows = append(rows, row)
	}
	p := requirement.Page{Status: status, Reason: code, Template: "breakglass_review.html", Title: "Break-glass grants to review",
		Message: fmt.Sprintf("%d grants not yet reviewed.", len(rows)), Next: note,
		Extra: map[string]any{"Rows": rows, "CSRF": sess.CSRF, "Action": reviewPath}}
	h.Render(w, r, p)
}

// usage summarizes, per grant, the requests it allowed: method, path and
// status counts from the response records of the audit log (each carries
// the grant that allowed it).
func (k *kindService) usage(ctx context.Context, entries []Entry) map[string][]string {
	out := map[string][]string{}
	if k.env.ReadAudit == nil || len(entries) == 0 {
		return out
	}
	type key struct{ user, incident string }
	byKey := map[key][]Entry{}
	for _, e := range entries {
		kk := key{e.User, e.Incident.ID}
		byKey[kk] = append(byKey[kk], e)
	}
	counts := map[string]map[string]int{}
	err := k.env.ReadAudit(ctx, []string{`"break_glass":`}, func(rec *audit.Record) {
		if rec.Kind != "response" || rec.BreakGlass == nil {
			return
		}
		for _, e := range byKey[key{rec.User, rec.BreakGlass.ID}] {
			if rec.BreakGlass.GrantedAt.Equal(e.GrantedAt) {
				if counts[e.ID] == nil {
					counts[e.ID] = map[string]int{}
				}
				counts[e.ID][fmt.Sprintf("%s %s → %d", rec.Method, rec.Path, rec.Status)]++
			}
		}
	})
	if err != nil {
		k.env.Logger.Warn("break-glass review: cannot read the audit log", "err", err)
	}
	for id, c := range counts {
		for line, n := range c {
			out[id] = append(out[id], fmt.Sprintf("%d× %s", n, line))
		}
		sort.Strings(out[id])
	}
	return out
}

// reviewAction marks a grant reviewed, or revokes it.
func (k *kindService) reviewAction(w http.ResponseWriter, r *http.Request, h requirement.Host) {
	sess, _, ok := k.session(w, r, h)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil || !sess.CheckCSRF(r.PostForm.Get("csrf")) {
		k.audit(r.Context(), "break-glass.review", "refused", sess.Email, "", nil, "",
			"the review form did not carry the session's CSRF token (not sent by the gateway's page); nothing was done")
		h.Render(w, r, requirement.Page{Status: http.StatusForbidden, Title: "Form refused", Message: "The form was not sent by this gateway's page."})
		return
	}
	id := r.PostForm.Get("id")
	if !k.svc.MayReview(User{Email: sess.Email, Groups: sess.Groups}) {
		k.audit(r.Context(), "break-glass.review", "refused", sess.Email, "", nil, "",
			fmt.Sprintf("not in the reviewers groups: action %q on grant %q refused; nothing was done", truncate(r.PostForm.Get("action"), 40), truncate(id, 40)))
		h.Render(w, r, requirement.Page{Status: http.StatusForbidden, Title: "Reviewers only", Message: "The break-glass review list is for the configured reviewers."})
		return
	}
	e, err := k.svc.Get(r.Context(), id)
	if errors.Is(err, ErrGrantNotFound) {
		k.review(w, r, h, "No such grant: "+id+".")
		return
	}
	if err != nil {
		k.env.Logger.Error("break-glass review: cannot read the grant", "err", err, "grant", id)
		h.Render(w, r, storeDown)
		return
	}
	switch r.PostForm.Get("action") {
	case "reviewed":
		err = k.svc.MarkReviewed(r.Context(), id, sess.Email)
		if err == nil {
			k.audit(r.Context(), "break-glass.reviewed", "reviewed", sess.Email, e.Route, &e.Grant, "", "grant "+id+" of "+e.User)
		}
	case "revoke":
		err = k.svc.Revoke(r.Context(), id, sess.Email)
		if err == nil {
			k.audit(r.Context(), "break-glass.revoked", "revoked", sess.Email, e.Route, &e.Grant, "", "grant "+id+" of "+e.User)
		}
	default:
		k.review(w, r, h, "Not done: expected the action reviewed or revoke.")
		return
	}
	var active *StillActiveError
	refused := func(status int, code policy.Reason, why, note string) {
		k.audit(r.Context(), "break-glass.review", "refused", sess.Email, e.Route, &e.Grant, "",
			"grant "+id+" of "+e.User+": "+why+"; nothing was done")
		k.reviewWith(w, r, h, status, code, note)
	}
	switch {
	case errors.As(err, &active):
		until := active.Until.UTC().Format("15:04 MST, 2 Jan 2006")
		refused(http.StatusConflict, ReviewStillActive,
			"not marked reviewed: it is still active (reviewable once revoked, or from "+active.Until.UTC().Format(time.RFC3339)+")",
			"Not done: grant "+id+" of "+e.User+" is still active, so what it is used for next would go unreviewed. Revoke it first, then mark it reviewed; or mark it reviewed once it has expired, from "+until+".")
		return
	case errors.Is(err, ErrSelfReview):
		refused(http.StatusForbidden, "", "not marked reviewed: the reviewer holds the grant",
			"Not done: a grant is reviewed by someone else than its holder.")
		return
	case errors.Is(err, ErrAlreadyReviewed):
		refused(http.StatusConflict, "", "not marked reviewed: it was reviewed already",
			"Not done: the grant was reviewed already.")
		return
	case errors.Is(err, ErrGrantNotFound):
		k.review(w, r, h, "No such grant: "+id+".")
		return
	case err != nil:
		// The store's error (its address, its words) is for the log; the
		// reviewer learns that nothing was done, and what to do.
		k.env.Logger.Error("break-glass review: the action failed", "err", err, "grant", id, "action", r.PostForm.Get("action"))
		k.review(w, r, h, "Not done: the gateway could not record it (its store did not answer). Try again in a minute.")
		return
	}
	http.Redirect(w, r, reviewPath, http.StatusSeeOther)
}

// endAction ends the session's own grant before its expiry, at its
// holder's request: the form on the break-glass page that shows the grant.
// Only the session the grant is bound to may end it (Service.EndByHolder);
// every refusal is audited (break-glass.end, refused), the end itself as
// break-glass.ended with cause ended-by-holder.
func (k *kindService) endAction(w http.ResponseWriter, r *http.Request, h requirement.Host) {
	sess, sid, ok := k.session(w, r, h)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.Render(w, r, requirement.Page{Status: http.StatusBadRequest, Title: "Bad request", Message: "The form could not be read; nothing was ended.",
			Next: "Open the break-glass page again."})
		return
	}
	id := r.PostForm.Get("id")
	if !sess.CheckCSRF(r.PostForm.Get("csrf")) {
		k.audit(r.Context(), "break-glass.end", "refused", sess.Email, "", nil, "",
			fmt.Sprintf("the form did not carry the session's CSRF token (not sent by the gateway's page): grant %q not ended; nothing was done", truncate(id, 40)))
		h.Render(w, r, requirement.Page{Status: http.StatusForbidden, Title: "Form refused", Message: "The form was not sent by this gateway's page; nothing was ended.",
			Next: "Open the break-glass page again and use its button."})
		return
	}
	// Where to go next: the break-glass page of the grant's route, when the
	// form named a valid return address.
	var back []requirement.Offer
	if ret, ok := h.SafeReturn(r, r.PostForm.Get("return")); ok {
		back = []requirement.Offer{{Text: "Need access again outside the rules? Ask for a new grant (it counts against today's grants).",
			Label: "Break-glass page", URL: pagePath + "?return=" + url.QueryEscape(ret)}}
	}
	u := User{Email: sess.Email, Groups: sess.Groups, Session: sid}
	g, err := k.svc.EndByHolder(r.Context(), u, id)
	var ended *EndedError
	switch {
	case errors.Is(err, ErrGrantNotFound), errors.Is(err, ErrNotHolder):
		// One answer for both: a grant's ID says nothing to a session
		// that does not hold it.
		why := "no such grant"
		if errors.Is(err, ErrNotHolder) {
			why = "the grant is not held by this session"
		}
		k.audit(r.Context(), "break-glass.end", "refused", sess.Email, "", nil, "",
			fmt.Sprintf("grant %q not ended: %s; nothing was done", truncate(id, 40), why))
		h.Render(w, r, requirement.Page{Status: http.StatusForbidden, Title: "Not your grant",
			Message: "This session holds no break-glass grant " + truncate(id, 40) + "; nothing was ended.",
			Next:    "A grant is ended by the session it was granted to, or revoked by a break-glass reviewer.", Offers: back})
		return
	case errors.As(err, &ended):
		k.audit(r.Context(), "break-glass.end", "refused", sess.Email, g.Route, &g, "",
			fmt.Sprintf("grant %s not ended: it ended already (%s at %s)", g.ID, ended.Cause, ended.At.UTC().Format(time.RFC3339)))
		how := map[string]string{StateExpired: "it expired", CauseRevoked: "a reviewer revoked it", CauseEndedByHolder: "you ended it",
			CauseIncidentResolved: "its incident is no longer active", CausePolicyRemoved: "its policy was removed from the configuration",
			CauseSuperseded: "a newer grant replaced it", CauseNotActivated: "it was never activated"}[ended.Cause]
		if how == "" {
			how = ended.Cause
		}
		h.Render(w, r, requirement.Page{Status: http.StatusConflict, Title: "Grant already ended",
			Message: "Your break-glass grant for incident " + g.Incident.ID + " ended already, at " + ended.At.UTC().Format("15:04 MST") + ": " + how + ". Nothing was changed.",
			Next:    "It no longer lets you in, and there is nothing to end.", Offers: back})
		return
	case err != nil:
		k.env.Logger.Error("break-glass end: the shared store did not answer", "err", err, "grant", truncate(id, 40))
		k.audit(r.Context(), "break-glass.end", "refused", sess.Email, "", nil, ReasonUnavailable,
			fmt.Sprintf("grant %q: the shared store did not answer; the grant may not have ended", truncate(id, 40)))
		h.Render(w, r, requirement.Page{Status: http.StatusServiceUnavailable, Title: "Temporarily unavailable",
			Message: "The gateway's shared store did not answer, so your grant may not have ended.",
			Next:    "Try again in a minute; if it persists, ask a break-glass reviewer to revoke it and quote the request ID.",
			Reason:  ReasonUnavailable})
		return
	}
	k.audit(r.Context(), "break-glass.ended", CauseEndedByHolder, g.User, g.Route, &g, "",
		"grant "+g.ID+" ended by its holder before its expiry ("+g.ExpiresAt.UTC().Format(time.RFC3339)+"); reviewable now")
	h.Render(w, r, requirement.Page{Status: http.StatusOK, Title: "Break-glass grant ended",
		Message: "Your break-glass grant for incident " + g.Incident.ID + " has ended: it no longer lets you in, on any replica.",
		Next:    "The end is in the audit log and announced like every other; the grant can be reviewed now.", Offers: back})
}
