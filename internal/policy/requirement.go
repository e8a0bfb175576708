package policy

import "time"

// Requirement is one compiled requirement of a route: what one requirement
// kind (device, justification, time window, break-glass) demands beyond
// identity and rules. Each kind lives in its own package, compiles its part
// of routes[].require into a Requirement, and gathers the facts Check judges
// (see internal/requirement). Decide walks a route's requirements in order.
type Requirement interface {
	// Kind is the kind's name: its key under routes[].require ("device").
	Kind() string
	// Check judges the facts the kind gathered for this request (nil when
	// it gathered none) at now. It must be pure: no I/O, no clock but now,
	// and it must not modify in.
	Check(facts any, in *Input, now time.Time) Result
}

// Result is one requirement's verdict.
type Result struct {
	// Reason is empty when the requirement is met, else why it is not.
	Reason Reason
	// NotAfter is when the met requirement stops holding (the end of a time
	// window, a grant's expiry); zero means no bound of its own.
	NotAfter time.Time
	// Grant names the grant a met requirement relied on ("justification",
	// "break-glass"); it lands in Decision.Grants, the token and the audit.
	Grant string
	// Held, on an unmet lifter's result, says that the user holds (or held
	// until this request) a grant of the lifter that does not stand in now
	// (it ended, was revoked, or cannot be confirmed): Reason says why.
	// When such a lifter lifts every unmet requirement, Decide puts its
	// reason first, so that the denial's page says what became of the
	// grant rather than offering one. Ignored on other requirements.
	Held bool
}

// Met reports whether the requirement is satisfied.
func (r Result) Met() bool { return r.Reason == "" }

// Lifter is a requirement that, when met, stands in for the other
// requirements of the route it Lifts (break-glass lifts the time window and
// the justification). A lifter is consulted only when some other requirement
// is unmet, and allows only when it lifts every unmet one.
type Lifter interface {
	Requirement
	Lifts(kind string) bool
}
