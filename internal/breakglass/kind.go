package breakglass

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/store"
)

// Kind is break-glass as a requirement kind: routes[].require.break_glass
// and the top-level break_glass: section. Its requirement is a
// policy.Lifter: a grant stands in for the requirements its policy lifts
// (the time window, the justification; the device only when the policy
// says so; never sign-in or the rules).
type Kind struct{}

// Spec is a route's require.break_glass section.
//
//	require:
//	  break_glass: {policy: oncall}   # or {} for the default policy
type Spec struct {
	// Policy names the break-glass policy; empty means the default one.
	Policy string `yaml:"policy"`
}

// Requirement is a compiled require.break_glass.
type Requirement struct {
	Route  string
	Policy string
	lifts  []string
	// maxDuration is the policy's max_duration now: a grant made under a
	// longer one ends at its granted_at plus this (0: no cap).
	maxDuration time.Duration
}

// Kind implements policy.Requirement.
func (*Requirement) Kind() string { return "break_glass" }

// Lifts implements policy.Lifter.
func (q *Requirement) Lifts(kind string) bool { return slices.Contains(q.lifts, kind) }

// Facts are the user's grant for this route, or why it no longer holds.
// With a Problem, Grant (when known) is the grant that no longer holds, for
// the page; it lifts nothing.
type Facts struct {
	Grant   *Grant
	Problem policy.Reason
	// Ended is how the grant ended, for ReasonIncidentInactive and
	// ReasonGrantEnded (nil when unknown).
	Ended *End
	// Err is the provider's error, for ReasonProviderUnavailable and
	// ReasonProviderMisconfigured.
	Err error
}

// Check implements policy.Requirement: a grant of this route's policy, for
// this route, not expired (Check, pure), that lifts what the policy lifts —
// the grant itself, as it was made and announced: a grant made before a
// reload widened the policy's lifts does not stand in for the new ones.
func (q *Requirement) Check(facts any, _ *policy.Input, now time.Time) policy.Result {
	f, _ := facts.(*Facts)
	switch {
	case f == nil:
		return policy.Result{Reason: ReasonRequired}
	case f.Problem != "":
		// The user holds, or held, a grant: the page says what became of
		// it (policy.Result.Held).
		return policy.Result{Reason: f.Problem, Held: true}
	case f.Grant == nil || f.Grant.Policy != q.Policy:
		return policy.Result{Reason: ReasonRequired}
	}
	for _, kind := range q.lifts {
		if !f.Grant.LiftsKind(kind) {
			return policy.Result{Reason: ReasonRequired}
		}
	}
	ok, until := Check(f.Grant, q.Route, now)
	if q.maxDuration > 0 {
		// A reload that shortened max_duration shortens the grants made
		// before it too.
		if c := f.Grant.GrantedAt.Add(q.maxDuration); c.Before(until) {
			until = c
			ok = ok && now.Before(until)
		}
	}
	if !ok {
		return policy.Result{Reason: ReasonRequired}
	}
	return policy.Result{NotAfter: until, Grant: "break-glass"}
}

// Name implements requirement.Kind.
func (Kind) Name() string { return "break_glass" }

// Reasons implements requirement.Kind.
func (Kind) Reasons() []policy.Reason { return Reasons }

// NewSpec implements requirement.Kind.
func (Kind) NewSpec() any { return &Spec{} }

// Compile implements requirement.Kind.
func (Kind) Compile(spec, section any, r requirement.Route) (policy.Requirement, []requirement.Problem) {
	s := spec.(*Spec)
	c, _ := section.(*Config)
	if c == nil || len(c.Policies) == 0 {
		return nil, []requirement.Problem{requirement.Problemf("", "requires the break_glass section with at least one policy")}
	}
	d := c.WithDefaults()
	name := s.Policy
	if name == "" {
		name = d.DefaultPolicy
	}
	p, ok := d.Policies[name]
	if !ok || name == "" {
		if s.Policy == "" {
			return nil, []requirement.Problem{requirement.Problemf(".policy", "expected a policy name: the break_glass section has no default_policy (policies: %s)", strings.Join(sortedKeys(d.Policies), ", "))}
		}
		return nil, []requirement.Problem{requirement.Problemf(".policy", "unknown break-glass policy %q (policies: %s)", s.Policy, strings.Join(sortedKeys(d.Policies), ", "))}
	}
	return &Requirement{Route: r.Name, Policy: name, lifts: slices.Clone(p.Lifts), maxDuration: p.MaxDuration}, nil
}

// Section implements requirement.Sectioned.
func (Kind) Section() (string, any) { return "break_glass", &Config{} }

// SectionProblems implements requirement.Sectioned.
func (Kind) SectionProblems(section any) []requirement.Problem {
	var out []requirement.Problem
	for _, p := range section.(*Config).Problems() {
		path, msg, _ := strings.Cut(p, ": ")
		out = append(out, requirement.Problem{Path: "." + path, Msg: msg})
	}
	return out
}

// ProductionProblems implements requirement.ProductionChecker: outside
// `gateway dev` a grant must be announced somewhere — break-glass is loud
// by design, and without a target no one would hear of a grant but a
// reviewer who happens to look.
func (Kind) ProductionProblems(section any) []requirement.Problem {
	if len(section.(*Config).Notifications) == 0 {
		return []requirement.Problem{{Path: ".notifications", Msg: "required outside gateway dev: at least one target every grant is announced to (slack, webhook, …)"}}
	}
	return nil
}

// ResolvePaths implements requirement.Sectioned.
func (Kind) ResolvePaths(section any, dir string) { section.(*Config).ResolvePaths(dir) }

// WatchFiles implements requirement.FileWatcher: static rota files.
func (Kind) WatchFiles(section any) []string { return section.(*Config).RotaFiles() }

// Assumption is a policy test's break-glass grant: tests[].break_glass.
//
//	break_glass: {incident: INC-1, expires_at: 2026-12-05T04:00:00Z}
type Assumption struct {
	Incident string `yaml:"incident"`
	Reason   string `yaml:"reason"`
	// ExpiresAt is RFC 3339; empty: an hour after the test's instant.
	ExpiresAt string `yaml:"expires_at"`
	// Route, when set, is the route the grant was made for (default: the
	// test's route), to test that a grant for one route holds for no other.
	Route string `yaml:"route"`
}

// NewAssumption implements requirement.Assumer.
func (Kind) NewAssumption() any { return &Assumption{} }

// AssumptionProblems implements requirement.Assumer.
func (Kind) AssumptionProblems(assumption any) []requirement.Problem {
	a := assumption.(*Assumption)
	var probs []requirement.Problem
	if a.Incident == "" {
		probs = append(probs, requirement.Problemf(".incident", "expected the incident the grant was made for"))
	}
	if a.ExpiresAt != "" {
		if _, err := time.Parse(time.RFC3339, a.ExpiresAt); err != nil {
			probs = append(probs, requirement.Problemf(".expires_at", "expected RFC 3339, got %q", a.ExpiresAt))
		}
	}
	return probs
}

// Assume implements requirement.Assumer.
func (Kind) Assume(assumption any, req policy.Requirement, in *policy.Input, now time.Time) any {
	a, _ := assumption.(*Assumption)
	q, _ := req.(*Requirement)
	if a == nil || q == nil {
		return nil
	}
	g := &Grant{ID: "assumed", Policy: q.Policy, Route: q.Route, Lifts: q.lifts,
		Incident: Incident{ID: a.Incident, Active: true}, Reason: a.Reason, GrantedAt: now, ExpiresAt: now.Add(time.Hour)}
	if in.Identity != nil {
		g.User = in.Identity.Email
	}
	if a.Route != "" {
		g.Route = a.Route
	}
	if a.ExpiresAt != "" {
		g.ExpiresAt, _ = time.Parse(time.RFC3339, a.ExpiresAt)
	}
	return &Facts{Grant: g}
}

// ExplainFlags implements requirement.Assumer: --break-glass INCIDENT.
func (Kind) ExplainFlags(fs *flag.FlagSet) func() (any, error) {
	inc := fs.String("break-glass", "", "assume a break-glass grant for this incident")
	until := fs.String("break-glass-until", "", "the assumed grant's expiry, RFC 3339 (default: an hour after --time)")
	return func() (any, error) {
		if *inc == "" {
			if *until != "" {
				return nil, errors.New("explain: --break-glass-until needs --break-glass")
			}
			return nil, nil
		}
		a := &Assumption{Incident: *inc, ExpiresAt: *until}
		if p := (Kind{}).AssumptionProblems(a); len(p) > 0 {
			return nil, fmt.Errorf("explain: --break-glass%s: %s", p[0].Path, p[0].Msg)
		}
		return a, nil
	}
}

// NewService implements requirement.Kind.
func (Kind) NewService(section any, env requirement.Env) (requirement.Service, error) {
	k := &kindService{env: env}
	if env.PublicURL != "" {
		pub, err := url.Parse(env.PublicURL)
		if err != nil || pub.Host == "" {
			return nil, fmt.Errorf("breakglass: public URL %q: expected scheme://host", env.PublicURL)
		}
		k.pub = pub
	}
	c, _ := section.(*Config)
	if c == nil {
		return k, nil
	}
	svc, err := New(*c, Options{Store: env.Store, Now: env.Now, Logger: env.Logger.With("subsystem", "break-glass"),
		OnNotifyFailure: k.notifyFailed})
	if err != nil {
		return nil, err
	}
	// Ending a grant (revocation, a resolved incident) deletes its active
	// key with the store's compare-and-delete: a Redis ACL user that may
	// not run it would find out at the worst moment, when a reviewer
	// revokes. Checked here, so that the start (or the reload) fails.
	ctx, cancel := context.WithTimeout(context.Background(), storeCheckTimeout)
	defer cancel()
	if err := store.CheckCompareAndDelete(ctx, env.Store); err != nil {
		_ = svc.Close()
		return nil, fmt.Errorf("breakglass: the shared store must let the gateway end grants (revocation deletes a grant with a compare-and-delete script): %w", err)
	}
	k.svc = svc
	return k, nil
}

// storeCheckTimeout bounds NewService's check of the store.
const storeCheckTimeout = 10 * time.Second

// kindService is break-glass's runtime for one configuration.
type kindService struct {
	svc *Service // nil: no break_glass section
	env requirement.Env
	// pub is the gateway's public URL, whose host alone serves the
	// break-glass forms (nil: every host, for callers without one).
	pub *url.URL
}

// Close implements requirement.Service: queued notifications go out first.
func (k *kindService) Close() error {
	if k.svc != nil {
		return k.svc.Close()
	}
	return nil
}

// Gather implements requirement.Service. The server gathers a lifter only
// when another requirement is unmet: one store read for the grant, the
// holder's groups (still in one of the policy's?), and, at the policy's
// recheck interval, the paging provider (is the incident still active?).
func (k *kindService) Gather(ctx context.Context, req policy.Requirement, r *requirement.Request) (any, error) {
	if k.svc == nil {
		return nil, errors.New("breakglass: a route requires break-glass but no break_glass section is configured")
	}
	if r.SessionID == "" {
		return nil, nil // grants are bound to browser sessions
	}
	q := req.(*Requirement)
	u := k.user(r)
	g, err := k.svc.Active(ctx, u, q.Route)
	if err != nil {
		return nil, err
	}
	if g == nil {
		// No grant; one that ended early (revoked, its policy removed)
		// is remembered until it would have expired, for the page.
		if e, eg := k.svc.EndedFor(ctx, u, q.Route); e != nil {
			return &Facts{Grant: eg, Problem: ReasonGrantEnded, Ended: e}, nil
		}
		return nil, nil
	}
	if !k.svc.MayBreakGlass(u, q.Policy) {
		// The holder left every group of the policy since the grant was
		// made (the session's groups follow the identity provider).
		return &Facts{Grant: g, Problem: ReasonNotAllowed}, nil
	}
	still, err := k.svc.Recheck(ctx, *g)
	switch {
	case err != nil:
		problem := ReasonProviderUnavailable
		var ref *Refusal
		if errors.As(err, &ref) {
			problem = ref.Reason
		}
		return &Facts{Grant: g, Problem: problem, Err: err}, nil
	case !still:
		cause := k.svc.endCause(*g)
		k.event(ctx, "break-glass.ended", cause, g)
		problem := ReasonIncidentInactive
		if cause != CauseIncidentResolved {
			problem = ReasonGrantEnded
		}
		return &Facts{Grant: g, Problem: problem, Ended: &End{At: k.env.Now(), Cause: cause}}, nil
	}
	return &Facts{Grant: g}, nil
}

func (k *kindService) user(r *requirement.Request) User {
	u := User{Session: r.SessionID}
	if r.Identity != nil {
		u.Email, u.Groups = r.Identity.Email, r.Identity.Groups
	} else if r.Session != nil {
		u.Email, u.Groups = r.Session.Email, r.Session.Groups
	}
	return u
}

// Claim implements requirement.Claimer: the break_glass claim, on requests
// a grant allowed.
func (k *kindService) Claim(facts any, c *contexttoken.Claims) {
	f, ok := facts.(*Facts)
	if !ok || f.Grant == nil || f.Problem != "" {
		return
	}
	g := f.Grant
	c.BreakGlass = &contexttoken.BreakGlass{ID: g.Incident.ID, Grant: g.ID, Reason: g.Reason,
		GrantedAt: contexttoken.NewNumericDate(g.GrantedAt), ExpiresAt: contexttoken.NewNumericDate(g.ExpiresAt)}
}

// Audit implements requirement.Auditor: every record a grant allowed says
// so.
func (k *kindService) Audit(facts any, rec *audit.Record) {
	f, ok := facts.(*Facts)
	if !ok || f.Grant == nil || f.Problem != "" {
		return
	}
	rec.BreakGlass = grantRecord(f.Grant)
}

func grantRecord(g *Grant) *audit.BreakGlassRecord {
	return &audit.BreakGlassRecord{ID: g.Incident.ID, Reason: g.Reason, GrantedAt: g.GrantedAt, ExpiresAt: g.ExpiresAt}
}

// event audits a grant's life (made, refused, ended, reviewed, revoked).
func (k *kindService) event(ctx context.Context, event, outcome string, g *Grant) {
	rec := audit.Record{Time: k.env.Now(), Kind: "break-glass", Event: event, Decision: outcome}
	if g != nil {
		rec.User, rec.Route, rec.BreakGlass = g.User, g.Route, grantRecord(g)
		rec.Detail = "grant " + g.ID + ", policy " + g.Policy
	}
	if k.env.Audit != nil {
		k.env.Audit(ctx, rec)
	}
}

// notifyFailed audits a notification that did not go out.
func (k *kindService) notifyFailed(f NotifyFailure) {
	msg := "no response"
	if f.Err != nil {
		msg = f.Err.Error()
	}
	rec := audit.Record{Time: k.env.Now(), Kind: "break-glass", Event: "break-glass.notify", Decision: "failed",
		Detail: fmt.Sprintf("%s to target %s (grant %s), attempt %d, status %d, final %v: %s", f.Event, f.Target, f.GrantID, f.Attempt, f.Status, f.Final, msg)}
	if k.env.Audit != nil {
		k.env.Audit(context.Background(), rec)
	}
}
