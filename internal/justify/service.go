package justify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
)

// NewService implements requirement.Kind: the verifier of the configured
// systems (handing caches and breakers over from the previous
// configuration's), grants in the session store, the form and its endpoint.
func (Kind) NewService(section any, env requirement.Env) (requirement.Service, error) {
	k := &kindService{env: env, since: env.Now()}
	c, _ := section.(*Config)
	if c == nil {
		return k, nil
	}
	k.cfg = c.WithDefaults()
	var prev *Verifier
	k.limit = newUserLimiter()
	if p, ok := env.Prev.(*kindService); ok {
		prev = p.v
		if p.limit != nil {
			k.limit = p.limit // a reload does not refill everyone's bucket
		}
	}
	v, err := New(*c, Options{Now: env.Now, Logger: env.Logger.With("subsystem", "justification"), Prev: prev})
	if err != nil {
		return nil, err
	}
	k.v = v
	return k, nil
}

// kindService is justification's runtime for one configuration.
type kindService struct {
	v   *Verifier // nil: no justification section
	cfg Config
	env requirement.Env
	// memo saves decoding grants read again unchanged.
	memo grantMemo
	// limit bounds the new tickets each user has looked up.
	limit *userLimiter
	// since is when this configuration was built: a grant last verified
	// at or before it is verified again on its next use (a reload may have
	// changed the systems, or closed a static ticket).
	since time.Time
}

// Close implements requirement.Service: the verifier's idle connections
// to the systems are closed (the next configuration's verifier has its own
// transports). Its caches and circuit breakers may live on in the next
// configuration's (Options.Prev); Close leaves them.
func (k *kindService) Close() error {
	if k.v == nil {
		return nil
	}
	return k.v.Close()
}

// Gather implements requirement.Service. The steady path is one store read:
// the grant of this session, route and resource. When the grant is due for
// re-verification (every Reverify, and once after a reload) the system is
// asked (through its cache); a ticket found closed, reassigned or no longer
// naming the resource ends the grant. API clients (bearer tokens) name
// their ticket in the configured header on every request.
func (k *kindService) Gather(ctx context.Context, req policy.Requirement, r *requirement.Request) (any, error) {
	if k.v == nil {
		return nil, errors.New("justify: a route requires a justification but no justification section is configured")
	}
	q := req.(*Requirement)
	res := q.Resource(r.Vars)
	if r.SessionID == "" {
		return k.gatherBearer(ctx, q, r, res)
	}
	key := sessionGrantKey(r.SessionID, q.Route, res)
	g, err := k.memo.loadGrant(ctx, k.getter(r), key)
	if err != nil || g == nil {
		return nil, err
	}
	if c := g.checked(); r.Now.Before(c.Add(q.Reverify)) && c.After(k.since) {
		return &Facts{Grant: g}, nil
	}
	return k.reverify(ctx, q, r, key, g)
}

// getter reads store keys through the request (values read ahead with the
// session, see Prefetch).
func (k *kindService) getter(r *requirement.Request) func(context.Context, string) ([]byte, error) {
	return func(ctx context.Context, key string) ([]byte, error) { return r.Get(ctx, k.env.Store, key) }
}

// Prefetch implements requirement.Prefetcher: the grant of this session,
// route and bound resource is read with the session.
func (k *kindService) Prefetch(req policy.Requirement, sessionID string, vars map[string]string, keys []string) []string {
	q, ok := req.(*Requirement)
	if k.v == nil || !ok || sessionID == "" {
		return keys
	}
	return append(keys, sessionGrantKey(sessionID, q.Route, q.Resource(vars)))
}

// gatherBearer verifies the ticket an API client names in the header; the
// grant it makes is kept like a browser's, keyed by the client's subject
// and the ticket.
func (k *kindService) gatherBearer(ctx context.Context, q *Requirement, r *requirement.Request, res string) (any, error) {
	raw := r.HTTP.Header.Get(k.cfg.Header)
	if raw == "" {
		return nil, nil
	}
	ref, err := k.v.Parse(raw, q.Systems)
	if err != nil {
		return &Facts{Problem: ReasonRequired, Detail: err.Error()}, nil
	}
	key := grantKey(bearerHolder(r.Identity.Subject, ref), q.Route, res)
	g, err := k.memo.loadGrant(ctx, k.env.Store.Get, key)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return k.grant(ctx, q, r, ref, res, key)
	}
	if c := g.checked(); r.Now.Before(c.Add(q.Reverify)) && c.After(k.since) {
		return &Facts{Grant: g}, nil
	}
	return k.reverify(ctx, q, r, key, g)
}

// reverify asks the system about a grant's ticket again. A closed,
// reassigned or unbound ticket ends the grant (deleted, audited), and so
// does a system the route no longer accepts (a reload took it off the
// route; it is not asked) or an ID its system no longer accepts (a reload
// narrowed id_pattern; not asked either); an unreachable system denies for now but keeps
// the grant, unless the system's on_unavailable lets a recent answer
// stand (audited as stale, and the grant keeps that answer's time).
func (k *kindService) reverify(ctx context.Context, q *Requirement, r *requirement.Request, key string, g *Grant) (any, error) {
	ref := g.Ref()
	var (
		t      Ticket
		err    error
		reason policy.Reason
		detail string
	)
	if slices.Contains(q.Systems, g.System) {
		t, err = k.v.Lookup(ctx, g.verifyRef(), Query{User: r.Identity.Email, Login: k.login(ref.System, r), Route: q.Route, Resource: g.Resource})
		reason = ReasonFor(err)
		if err == nil {
			reason = q.judge(t, r.Identity.Email, g.Resource)
		}
		var pe *ParseError
		if errors.As(err, &pe) {
			// The system no longer accepts the ID (id_pattern narrowed).
			detail = err.Error()
		}
	} else {
		reason = ReasonRequired
		detail = fmt.Sprintf("this tool no longer accepts %s tickets (it accepts %s)", g.System, strings.Join(q.Systems, ", "))
	}
	switch reason {
	case "":
	case ReasonUnavailable:
		k.auditEvent(ctx, "justification.reverify", "unavailable", g, t, reason, err)
		return &Facts{Problem: reason, Ticket: ref.String()}, nil
	default:
		if derr := k.env.Store.Delete(ctx, key); derr != nil {
			return nil, derr
		}
		k.auditEvent(ctx, "justification.ended", "ended", g, t, reason, err)
		return &Facts{Problem: reason, Ticket: ref.String(), Detail: detail}, nil
	}
	g.VerifiedAt, g.Status, g.CheckedAt = t.VerifiedAt, t.Status, r.Now
	if g.VerifiedAt.IsZero() {
		g.VerifiedAt = r.Now
	}
	if t.Stale {
		k.auditEvent(ctx, "justification.reverify", "stale", g, t, "", nil)
	}
	if !t.ExpiresAt.IsZero() && t.ExpiresAt.Before(g.ExpiresAt) {
		g.ExpiresAt = t.ExpiresAt
	}
	if err := saveGrant(ctx, k.env.Store, key, g, r.Now); err != nil {
		return nil, err
	}
	return &Facts{Grant: g}, nil
}

// grant verifies ref for the request's user and resource and, if it
// justifies them, records the grant (audited before it is stored: no
// record, no grant). It returns facts either way.
func (k *kindService) grant(ctx context.Context, q *Requirement, r *requirement.Request, ref Ref, res, key string) (*Facts, error) {
	user := r.Identity.Email
	if !k.limit.allow(user, r.Now) {
		k.auditEvent(ctx, "justification.verify", "rejected", &Grant{System: ref.System, ID: ref.ID, User: user, Route: q.Route, Resource: res},
			Ticket{}, ReasonRateLimited, nil)
		return &Facts{Problem: ReasonRateLimited, Ticket: ref.String()}, nil
	}
	t, err := k.v.Lookup(ctx, ref, Query{User: user, Login: k.login(ref.System, r), Route: q.Route, Resource: res})
	reason := ReasonFor(err)
	if err == nil {
		reason = q.judge(t, user, res)
	}
	g := &Grant{System: ref.System, ID: ref.ID, URL: t.URL, User: user, Route: q.Route, Resource: res,
		Status: t.Status, GrantedAt: r.Now, VerifiedAt: t.VerifiedAt, CheckedAt: r.Now, ExpiresAt: r.Now.Add(q.MaxAge)}
	if t.Pin != "" {
		// Pinned only where the system's id_pattern takes the lasting ID
		// too (else a re-verification by it would end the grant).
		if p, err := k.v.Parse(ref.System+":"+t.Pin, []string{ref.System}); err == nil {
			g.Pin = p.ID
		}
	}
	if g.VerifiedAt.IsZero() {
		g.VerifiedAt = r.Now
	}
	if g.URL == "" {
		g.URL = k.v.URL(ref)
	}
	if reason != "" {
		k.auditEvent(ctx, "justification.verify", "rejected", g, t, reason, err)
		f := &Facts{Problem: reason, Ticket: ref.String()}
		var ue *UnavailableError
		if errors.As(err, &ue) {
			f.Detail = ue.Cause
		}
		return f, nil
	}
	if !t.ExpiresAt.IsZero() && t.ExpiresAt.Before(g.ExpiresAt) {
		g.ExpiresAt = t.ExpiresAt
	}
	if err := k.env.Commit(ctx, k.record("justification.grant", "granted", g, t, "")); err != nil {
		return nil, err
	}
	if err := saveGrant(ctx, k.env.Store, key, g, r.Now); err != nil {
		return nil, err
	}
	return &Facts{Grant: g}, nil
}

// login is the caller's GitHub login for a lookup in system sys: the one
// value of the claim the system's github.login_claim names, when it names
// one and the value is a GitHub login. No other claim is read:
// preferred_username and its kin are chosen by people (or the IdP's
// admins), need not be unique and may change (OpenID Connect Core §5.7),
// so they cannot stand for a GitHub account.
func (k *kindService) login(sys string, r *requirement.Request) string {
	sc, ok := k.cfg.Systems[sys]
	if !ok || sc.GitHub == nil || sc.GitHub.LoginClaim == "" || r.Identity == nil {
		return ""
	}
	if v := r.Identity.Claims[sc.GitHub.LoginClaim]; len(v) == 1 && ghLogin.MatchString(v[0]) {
		return lowerASCII(v[0])
	}
	return ""
}

// Claim implements requirement.Claimer: the justification claim.
func (k *kindService) Claim(facts any, c *contexttoken.Claims) {
	f, ok := facts.(*Facts)
	if !ok || f.Grant == nil || f.Problem != "" {
		return
	}
	g := f.Grant
	c.Justification = &contexttoken.Justification{System: g.System, ID: g.ID, URL: g.URL,
		VerifiedAt: contexttoken.NewNumericDate(g.VerifiedAt), Resource: g.Resource}
}

// Audit implements requirement.Auditor: the ticket a decision relied on,
// or the one whose problem denied it.
func (k *kindService) Audit(facts any, rec *audit.Record) {
	f, ok := facts.(*Facts)
	if !ok {
		return
	}
	switch {
	case f.Grant != nil && f.Problem == "":
		g := f.Grant
		// The grant was verified; whether it applied to this request is the
		// check's to say: a decision it denied (another customer, another
		// user, an expired grant) names that reason, not "verified".
		outcome := "verified"
		for _, r := range rec.Reasons {
			if r := policy.Reason(r); r == ReasonResourceMismatch || r == ReasonNotAssigned || r == ReasonRequired {
				outcome = string(r)
				break
			}
		}
		rec.Justification = &audit.JustificationRecord{System: g.System, ID: g.ID, URL: g.URL,
			Resource: g.Resource, VerifiedAt: g.VerifiedAt, Outcome: outcome}
	case f.Ticket != "":
		sys, id, _ := cutRef(f.Ticket)
		rec.Justification = &audit.JustificationRecord{System: sys, ID: id, Outcome: string(f.Problem)}
	}
}

func cutRef(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return "", s, false
}

// record is an audit record of a justification event: the ticket, the
// outcome and the system's answer summarized (its state word, never its
// text or the people on it).
func (k *kindService) record(event, outcome string, g *Grant, t Ticket, reason policy.Reason) audit.Record {
	rec := audit.Record{Time: k.env.Now(), Kind: "justification", Event: event, Decision: outcome,
		User: g.User, Route: g.Route,
		Justification: &audit.JustificationRecord{System: g.System, ID: g.ID, URL: g.URL, Resource: g.Resource,
			VerifiedAt: g.VerifiedAt, Outcome: outcome}}
	if reason != "" {
		rec.Reasons = []string{string(reason)}
	}
	if t.Status != "" {
		rec.Detail = "status: " + t.Status
	}
	if t.Stale {
		stale := "the system was unavailable: its answer of " + t.VerifiedAt.UTC().Format(time.RFC3339) + " stood in (on_unavailable: allow-cached)"
		if rec.Detail != "" {
			stale = rec.Detail + "; " + stale
		}
		rec.Detail = stale
	}
	return rec
}

func (k *kindService) auditEvent(ctx context.Context, event, outcome string, g *Grant, t Ticket, reason policy.Reason, err error) {
	rec := k.record(event, outcome, g, t, reason)
	var ue *UnavailableError
	if errors.As(err, &ue) {
		rec.Detail = ue.Cause
	}
	if k.env.Audit != nil {
		k.env.Audit(ctx, rec)
	}
}
