package policy

import (
	"net/netip"
	"time"
)

// Identity is who is calling, as established by the session or a bearer
// token. Email is the raw claim; Decide parses it strictly.
type Identity struct {
	Subject string
	Email   string
	Groups  []string
	// Claims holds string and string-list claims for claim rules.
	Claims map[string][]string
	// NotAfter is when the session (or bearer token) ends.
	NotAfter time.Time
}

// AnyMethod in Request.MethodOverrides says the tool may execute the
// request as any method: deny entries on methods match, allow entries on
// methods do not.
const AnyMethod = "*"

// Request is what Decide knows of the HTTP request: the normalized path only.
type Request struct {
	Method string
	// MethodOverrides are the methods a tool may execute a POST as instead
	// (a _method in the query or the body, which Rails, Symfony and Laravel
	// honour): a deny entry on methods matches if Method or any of them is
	// listed, an allow entry only if Method and all of them are. AnyMethod
	// among them stands for every method (a body the gateway could not
	// read to the end).
	MethodOverrides []string
	Path            string
	SourceIP        netip.Addr
	// Vars are the route's path variables ({customer_id}).
	Vars map[string]string
}

// Input is everything Decide looks at. All I/O happened before.
type Input struct {
	// Route is nil when no route matched.
	Route    *Route
	Identity *Identity // nil: not signed in
	Request  Request
	// Facts are what each of the route's requirements' kinds gathered,
	// aligned with Route.Requirements(); a missing or nil entry means the
	// kind found nothing (no device, no grant).
	Facts []any
	// EvidenceErr is set when gathering evidence failed; Decide denies.
	EvidenceErr error
}

// Decision is the outcome. Deny is a value, not an error.
type Decision struct {
	Allow bool
	// Reasons may be shared between decisions: read it, never write to its
	// elements (append copies: a shared list has no spare capacity).
	Reasons []Reason
	// NotAfter bounds anything minted for this request (the context token):
	// the earliest end of the session and of every grant relied on.
	NotAfter time.Time
	// Grants names the grants the decision relied on ("justification",
	// "break-glass"), in requirement order. Like Reasons, it may be shared:
	// read it, never write to its elements.
	Grants []string
	// Lifted lists the unmet requirements' reasons that a lifter (break-glass)
	// stood in for; empty unless a lifter allowed the request.
	Lifted []Reason
	// Rule names the rule that denied ("deny[0]") when a deny rule matched.
	Rule string
}

// Decide is the gateway's authorization decision. It is pure: no I/O, no
// clock but now. It reads in and keeps no reference to it; in is a pointer
// so that a caller's Input (the server keeps one per pooled request) is not
// copied to the heap on every decision.
func Decide(in *Input, now time.Time) Decision {
	return DecideFacts(in, now, DecideRules(in, now))
}

// DecideFacts completes rules, the decision DecideRules took on in, with
// the route's requirements judged on in.Facts (and in.EvidenceErr, which
// gathering them may have set): Decide for a caller that decided the rules
// before it gathered the facts, without judging the rules twice.
func DecideFacts(in *Input, now time.Time, rules Decision) Decision {
	if !rules.Allow || in.Route.Public {
		return rules
	}
	if in.EvidenceErr != nil {
		return deny(ReasonEvidenceError)
	}
	if len(in.Route.requires) == 0 {
		return rules
	}
	return decideRequirements(in.Route, in, now, rules)
}

// DecideRules takes the decision of Decide without the route's
// requirements: who is calling and the route's allow and deny entries
// (and in.EvidenceErr). An allow here says only that the rules admit the
// request; a denial is Decide's too, whatever the requirements' facts
// would be — so a caller may decide the rules before it gathers facts,
// and gather none for a request the rules deny (no ticket looked up, no
// store read, for someone the route refuses anyway).
func DecideRules(in *Input, now time.Time) Decision {
	r := in.Route
	if r == nil {
		return deny(ReasonRouteNotFound)
	}
	if r.Public {
		return Decision{Allow: true, Reasons: reasonsPublicRoute}
	}
	if in.EvidenceErr != nil {
		return deny(ReasonEvidenceError)
	}
	id := in.Identity
	if id == nil || (!id.NotAfter.IsZero() && !now.Before(id.NotAfter)) {
		return deny(ReasonSignInRequired)
	}
	email, err := parseEmailCached(id.Email)
	if err != nil {
		return deny(ReasonInvalidIdentity)
	}
	for i := range r.deny {
		if r.deny[i].match(id, email, &in.Request) {
			return Decision{Reasons: reasonsDenyRule, Rule: r.denyNames[i]}
		}
	}
	allowed := false
	for i := range r.allow {
		if r.allow[i].match(id, email, &in.Request) {
			allowed = true
			break
		}
	}
	if !allowed {
		return deny(ReasonNoAllowRule)
	}
	return Decision{Allow: true, Reasons: reasonsAllowRule, NotAfter: id.NotAfter}
}

// decideRequirements checks the route's requirements in order. When some
// are unmet, a lifter that is met and lifts every unmet kind allows instead;
// otherwise the decision denies with every unmet requirement's reason, in
// order (the first one chooses the page) — after the reason of the first
// lifter that lifts them all but whose grant no longer holds (Result.Held):
// its page says what became of the grant.
func decideRequirements(r *Route, in *Input, now time.Time, d Decision) Decision {
	var missing []Reason
	var missingKinds []string
	for i, q := range r.requires {
		if _, ok := q.(Lifter); ok {
			continue
		}
		res := q.Check(in.fact(i), in, now)
		if !res.Met() {
			missing = append(missing, res.Reason)
			missingKinds = append(missingKinds, q.Kind())
			continue
		}
		d.NotAfter = earliest(d.NotAfter, res.NotAfter)
		d.Grants = r.addGrant(d.Grants, i, res.Grant)
	}
	if len(missing) == 0 {
		return d
	}
	var held Reason
	for _, i := range r.lifters {
		l := r.requires[i].(Lifter)
		if !liftsAll(l, missingKinds) {
			continue
		}
		res := l.Check(in.fact(i), in, now)
		if !res.Met() {
			if res.Held && held == "" {
				held = res.Reason
			}
			continue
		}
		// Requirements that held still bound the grant (a device's max_age);
		// the lifted ones do not.
		d.NotAfter = earliest(d.NotAfter, res.NotAfter)
		d.Grants = r.addGrant(d.Grants, i, res.Grant)
		d.Lifted = missing
		return d
	}
	if held != "" {
		return Decision{Reasons: append([]Reason{held}, missing...)}
	}
	return Decision{Reasons: missing}
}

// addGrant adds grant g of requirement i (none when empty) to grants.
func (r *Route) addGrant(grants []string, i int, g string) []string {
	switch {
	case g == "":
		return grants
	case len(grants) == 0:
		return r.oneGrant(i, g)
	}
	return append(grants, g)
}

func liftsAll(l Lifter, kinds []string) bool {
	for _, k := range kinds {
		if !l.Lifts(k) {
			return false
		}
	}
	return true
}

// fact returns the facts gathered for requirement i, or nil.
func (in *Input) fact(i int) any {
	if i < len(in.Facts) {
		return in.Facts[i]
	}
	return nil
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case b.Before(a):
		return b
	}
	return a
}

func deny(r Reason) Decision { return Decision{Reasons: one(r)} }

// The one-reason lists of the common decisions, shared (no allocation per
// decision). The full slice expressions leave them no spare capacity, so an
// append to a decision's Reasons copies instead of writing into them.
var (
	reasonsAllowRule       = []Reason{ReasonAllowRule}[:1:1]
	reasonsPublicRoute     = []Reason{ReasonPublicRoute}[:1:1]
	reasonsRouteNotFound   = []Reason{ReasonRouteNotFound}[:1:1]
	reasonsEvidenceError   = []Reason{ReasonEvidenceError}[:1:1]
	reasonsSignInRequired  = []Reason{ReasonSignInRequired}[:1:1]
	reasonsInvalidIdentity = []Reason{ReasonInvalidIdentity}[:1:1]
	reasonsDenyRule        = []Reason{ReasonDenyRule}[:1:1]
	reasonsNoAllowRule     = []Reason{ReasonNoAllowRule}[:1:1]
)

// one returns the list holding only r: a shared one for Decide's own
// reasons, a new one otherwise.
func one(r Reason) []Reason {
	switch r {
	case ReasonRouteNotFound:
		return reasonsRouteNotFound
	case ReasonEvidenceError:
		return reasonsEvidenceError
	case ReasonSignInRequired:
		return reasonsSignInRequired
	case ReasonInvalidIdentity:
		return reasonsInvalidIdentity
	case ReasonNoAllowRule:
		return reasonsNoAllowRule
	}
	return []Reason{r}
}
