package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/route"
)

// host is what the server offers the requirement kinds' endpoints and
// pages (requirement.Host).
type host struct{ s *Server }

// Session implements requirement.Host. A session whose refresh is due is
// refreshed first, as on a proxied request: the kinds' forms (a ticket, a
// break-glass request, a device's verification) act for the user, and a
// user the provider no longer vouches for must not act between two proxied
// requests. A refusal by the provider ends the session (nil: not signed
// in); a provider that cannot be reached past the grace is an error.
func (h host) Session(r *http.Request) (*auth.Session, string, error) {
	q := reqFrom(r.Context())
	if q.session == nil {
		if err := h.s.loadSession(r, q); err != nil {
			return nil, "", err
		}
		if q.session != nil {
			if _, err := q.rt.auth.MaybeRefresh(r.Context(), q.sessionID, q.session); err != nil {
				if errors.Is(err, auth.ErrNoSession) {
					q.session, q.sessionID = nil, ""
					return nil, "", nil
				}
				return nil, "", err
			}
		}
	}
	return q.session, q.sessionID, nil
}

// Render implements requirement.Host.
func (h host) Render(w http.ResponseWriter, r *http.Request, p requirement.Page) {
	h.s.render(w, r, p)
}

// Request implements requirement.Host.
func (h host) Request(r *http.Request) *requirement.Request {
	q := reqFrom(r.Context())
	return &requirement.Request{HTTP: r, ID: q.id, Path: q.path, ClientIP: q.client.ClientIP,
		ClientCert: h.s.clientCert(r, q), Now: h.s.now(), SessionID: q.sessionID, Session: q.session}
}

// RouteFor implements requirement.Host: the route that serves rawURL, an
// absolute URL on a routed host or a path on the request's host.
func (h host) RouteFor(r *http.Request, rawURL, kind string) (requirement.RouteMatch, bool) {
	q := reqFrom(r.Context())
	u, err := url.Parse(rawURL)
	if err != nil {
		return requirement.RouteMatch{}, false
	}
	hostName := q.host
	if u.Host != "" {
		hostName = hostOnly(u.Host)
	}
	p, err := route.Normalize(route.URLPath(u))
	if err != nil {
		return requirement.RouteMatch{}, false
	}
	e, vars, ok := q.rt.table.Lookup(hostName, p)
	if !ok {
		return requirement.RouteMatch{}, false
	}
	m := requirement.RouteMatch{Name: e.cfg.Name, Title: e.title, Host: hostName, Path: p, Vars: vars, Policy: e.policy}
	for _, req := range e.policy.Requirements() {
		if req.Kind() == kind {
			m.Requirement = req
		}
	}
	return m, true
}

// SafeReturn implements requirement.Host.
func (h host) SafeReturn(r *http.Request, raw string) (string, bool) {
	q := reqFrom(r.Context())
	if strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, "//") && !strings.HasPrefix(raw, "/\\") {
		raw = q.rt.publicURL.Scheme + "://" + r.Host + raw
	}
	v, err := auth.ValidateReturn(raw, q.rt.publicURL.Scheme, q.rt.routed)
	if err != nil {
		return "", false
	}
	return v, true
}

// render writes a kind's page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, p requirement.Page) {
	status := p.Status
	if status == 0 {
		status = http.StatusForbidden
	}
	name := p.Template
	if name == "" {
		name = "error.html"
	}
	s.pageNamed(w, r, status, name, pageData{Title: p.Title, Message: p.Message, Next: p.Next,
		Reason: string(p.Reason), Extra: p.Extra, Offers: p.Offers, FormTargets: p.FormTargets})
}

// kindAudit writes a requirement kind's audit record, with the fields of
// the request in ctx (if any).
func (s *Server) kindAudit(ctx context.Context, rec audit.Record) {
	if q := reqFrom(ctx); q != nil {
		fillRequest(q, &rec)
	}
	s.audit.Log(rec)
}

// kindCommit writes a requirement kind's audit record and returns once it is
// written: the kind acts on it (a grant) only then.
func (s *Server) kindCommit(ctx context.Context, rec audit.Record) error {
	if q := reqFrom(ctx); q != nil {
		fillRequest(q, &rec)
	}
	if err := s.audit.Commit(ctx, rec); err != nil {
		return err
	}
	if rec.Decision == "granted" {
		s.metrics.Grants.WithLabelValues(rec.Kind, rec.Route).Inc()
	}
	return nil
}

// fillRequest copies the request's identifying fields into rec.
func fillRequest(q *request, rec *audit.Record) {
	rec.RequestID, rec.Host, rec.Path, rec.SourceIP = q.id, q.host, q.path, q.client.ClientIP.String()
	if rec.User == "" {
		rec.User, rec.Subject = q.user()
	}
}

// kindPage returns the page a requirement kind shows for the decision's
// first reason, if the kind that registered it renders one, with the offers
// of the route's Offerers (break-glass).
func (s *Server) kindPage(r *http.Request, e *routeEntry, d policy.Decision) (requirement.Page, bool) {
	q := reqFrom(r.Context())
	reason := d.Reasons[0]
	kind := policy.KindOf(reason)
	if kind == "" {
		return requirement.Page{}, false
	}
	if q.kreq.HTTP == nil {
		q.kreq = requirement.Request{HTTP: r, ID: q.id, Route: e.cfg.Name, Title: e.title, Identity: q.ident,
			SessionID: q.sessionID, Session: q.session, Path: q.path, ClientIP: q.client.ClientIP, Now: s.now()}
	}
	reqs := e.policy.Requirements()
	var page requirement.Page
	found := false
	for i, svc := range e.services {
		if reqs[i].Kind() != kind {
			continue
		}
		if pg, ok := svc.(requirement.Pager); ok {
			var facts any
			if i < len(q.facts) {
				facts = q.facts[i]
			}
			page, found = pg.Page(r.Context(), reason, reqs[i], facts, &q.kreq, host{s})
		}
		break
	}
	if !found {
		return requirement.Page{}, false
	}
	for i, svc := range e.services {
		if of, ok := svc.(requirement.Offerer); ok {
			if o, ok := of.Offer(r.Context(), reqs[i], d.Reasons, &q.kreq); ok {
				page.Offers = append(page.Offers, o)
			}
		}
	}
	return page, true
}
