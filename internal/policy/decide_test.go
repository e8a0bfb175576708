package policy

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"
)

var (
	t0      = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	session = t0.Add(8 * time.Hour) // identity NotAfter used by most cases
)

// mustCompile compiles a route for a test; the rules are test data.
func mustCompile(t testing.TB, name string, public bool, rules Rules, req []Requirement) *Route {
	t.Helper()
	r, err := Compile(name, public, rules, req)
	if err != nil {
		t.Fatalf("Compile(%q): %v", name, err)
	}
	return r
}

func user(email string, groups ...string) *Identity {
	return &Identity{Subject: "sub-" + email, Email: email, Groups: groups, NotAfter: session}
}

func get(src string) Request {
	r := Request{Method: "GET", Path: "/"}
	if src != "" {
		r.SourceIP = netip.MustParseAddr(src)
	}
	return r
}

// denyVar is a route open to everyone but customer v; withVar a request
// for customer v.
func denyVar(v string) Rules {
	return Rules{Allow: []Condition{{Everyone: true}}, Deny: []Condition{{Vars: map[string][]string{"customer_id": {v}}}}}
}

func withVar(v string) Input {
	return Input{Identity: user("a@corp.example"), Request: Request{Method: "GET", Path: "/c/x", Vars: map[string]string{"customer_id": v}}}
}

func method(m string) Request { return Request{Method: m, Path: "/"} }

func allow(notAfter time.Time) Decision {
	return Decision{Allow: true, Reasons: []Reason{ReasonAllowRule}, NotAfter: notAfter}
}

func denied(r Reason) Decision { return Decision{Reasons: []Reason{r}} }

func deniedBy(rule string) Decision { return Decision{Reasons: []Reason{ReasonDenyRule}, Rule: rule} }

type decideTest struct {
	name  string
	rules Rules
	// public compiles the route as public; noRoute passes a nil route.
	public, noRoute bool
	req             []Requirement
	in              Input // Route is filled from rules
	now             time.Time
	want            Decision
}

func (tc decideTest) run(t *testing.T) {
	t.Helper()
	in := tc.in
	if !tc.noRoute {
		in.Route = mustCompile(t, "r", tc.public, tc.rules, tc.req)
	}
	now := tc.now
	if now.IsZero() {
		now = t0
	}
	got := Decide(&in, now)
	if !reflect.DeepEqual(got, tc.want) {
		t.Fatalf("Decide() = %+v, want %+v", got, tc.want)
	}
	for _, r := range got.Reasons {
		if !KnownReason(r) {
			t.Errorf("Decide() returned unknown reason %q", r)
		}
	}
}

func TestDecide(t *testing.T) {
	corp := Rules{Allow: []Condition{{Domains: []string{"corp.example"}}}}
	window := &fakeReq{kind: "fake-window", reason: "fake-window-closed"}
	ticket := &fakeReq{kind: "fake-ticket", reason: "fake-ticket-required", grant: "fake-ticket"}
	device := &fakeReq{kind: "fake-device", reason: "fake-device-missing"}
	glass := &fakeLifter{fakeReq{kind: "fake-glass", reason: "fake-glass-none", grant: "fake-glass"}, []string{"fake-window", "fake-ticket"}}
	tests := []decideTest{
		// Before any rule.
		{name: "no route", noRoute: true, in: Input{Identity: user("a@corp.example")},
			want: denied(ReasonRouteNotFound)},
		{name: "public route needs nobody", public: true, in: Input{},
			want: Decision{Allow: true, Reasons: []Reason{ReasonPublicRoute}}},
		{name: "public route ignores evidence errors", public: true, in: Input{EvidenceErr: errors.New("redis down")},
			want: Decision{Allow: true, Reasons: []Reason{ReasonPublicRoute}}},
		{name: "evidence error denies before identity", rules: corp,
			in:   Input{Identity: user("a@corp.example"), EvidenceErr: errors.New("redis down"), Request: get("")},
			want: denied(ReasonEvidenceError)},
		{name: "not signed in", rules: corp, in: Input{Request: get("")},
			want: denied(ReasonSignInRequired)},
		{name: "session ends at exactly now", rules: corp, now: session,
			in: Input{Identity: user("a@corp.example"), Request: get("")}, want: denied(ReasonSignInRequired)},
		{name: "session ends one nanosecond later", rules: corp, now: session.Add(-time.Nanosecond),
			in: Input{Identity: user("a@corp.example"), Request: get("")}, want: allow(session)},
		{name: "identity without NotAfter never expires here", rules: corp,
			in:   Input{Identity: &Identity{Email: "a@corp.example"}, Request: get("")},
			want: allow(time.Time{})},

		// Email parsing.
		{name: "two @ is invalid, not corp.example", rules: corp,
			in: Input{Identity: user("a@evil.example@corp.example"), Request: get("")}, want: denied(ReasonInvalidIdentity)},
		{name: "display name is invalid", rules: corp,
			in: Input{Identity: user("Alice <a@corp.example>"), Request: get("")}, want: denied(ReasonInvalidIdentity)},
		{name: "empty email is invalid", rules: corp,
			in: Input{Identity: user(""), Request: get("")}, want: denied(ReasonInvalidIdentity)},
		{name: "Kelvin sign does not fold to k", rules: Rules{Allow: []Condition{{Emails: []string{"ken@corp.example"}}}},
			in: Input{Identity: user("\u212Aen@corp.example"), Request: get("")}, want: denied(ReasonInvalidIdentity)},
		{name: "Kelvin sign in the domain does not fold to k", rules: Rules{Allow: []Condition{{Domains: []string{"korp.example"}}}},
			in: Input{Identity: user("ann@\u212Aorp.example"), Request: get("")}, want: denied(ReasonInvalidIdentity)},
		{name: "uppercase domain matches", rules: corp,
			in: Input{Identity: user("Sam@CORP.Example"), Request: get("")}, want: allow(session)},
		{name: "look-alike domain does not match", rules: corp,
			in: Input{Identity: user("a@evilcorp.example"), Request: get("")}, want: denied(ReasonNoAllowRule)},
		{name: "suffix domain does not match", rules: corp,
			in: Input{Identity: user("a@corp.example.evil.example"), Request: get("")}, want: denied(ReasonNoAllowRule)},
		{name: "subdomain is not the domain", rules: corp,
			in: Input{Identity: user("a@eu.corp.example"), Request: get("")}, want: denied(ReasonNoAllowRule)},
		{name: "email rule is case-insensitive", rules: Rules{Allow: []Condition{{Emails: []string{"Alice@Corp.Example"}}}},
			in: Input{Identity: user("alice@corp.example"), Request: get("")}, want: allow(session)},
		{name: "email rule is the whole address", rules: Rules{Allow: []Condition{{Emails: []string{"alice@corp.example"}}}},
			in: Input{Identity: user("malice@corp.example"), Request: get("")}, want: denied(ReasonNoAllowRule)},

		// Deny and allow.
		{name: "deny wins over allow",
			rules: Rules{Allow: []Condition{{Domains: []string{"contractors.example", "corp.example"}}},
				Deny: []Condition{{Domains: []string{"contractors.example"}}}},
			in: Input{Identity: user("c@contractors.example"), Request: get("")}, want: deniedBy("deny[0]")},
		{name: "deny that does not match",
			rules: Rules{Allow: []Condition{{Domains: []string{"corp.example"}}}, Deny: []Condition{{Groups: []string{"suspended"}}}},
			in:    Input{Identity: user("a@corp.example", "eng"), Request: get("")}, want: allow(session)},
		{name: "deny everyone", rules: Rules{Allow: []Condition{{Everyone: true}}, Deny: []Condition{{Everyone: true}}},
			in: Input{Identity: user("a@corp.example"), Request: get("")}, want: deniedBy("deny[0]")},
		{name: "a path variable in a deny rule", rules: Rules{Allow: []Condition{{Everyone: true}},
			Deny: []Condition{{Vars: map[string][]string{"customer_id": {"13"}}}}},
			in:   Input{Identity: user("a@corp.example"), Request: Request{Method: "GET", Path: "/c/13", Vars: map[string]string{"customer_id": "13"}}},
			want: deniedBy("deny[0]")},
		{name: "a path variable in a deny rule, in another case", rules: Rules{Allow: []Condition{{Everyone: true}},
			Deny: []Condition{{Vars: map[string][]string{"customer_id": {"vip"}}}}},
			in:   Input{Identity: user("a@corp.example"), Request: Request{Method: "GET", Path: "/c/VIP", Vars: map[string]string{"customer_id": "VIP"}}},
			want: deniedBy("deny[0]")},
		// Spellings an upstream or its database reads as the denied value.
		{name: "a deny on 42 denies 042", rules: denyVar("42"), in: withVar("042"), want: deniedBy("deny[0]")},
		{name: "a deny on 42 denies 0042", rules: denyVar("42"), in: withVar("0042"), want: deniedBy("deny[0]")},
		{name: "a deny on 42 denies +42", rules: denyVar("42"), in: withVar("+42"), want: deniedBy("deny[0]")},
		{name: "a deny on 42 denies 42 with a trailing space", rules: denyVar("42"), in: withVar("42 "), want: deniedBy("deny[0]")},
		{name: "a deny on 042 denies 42", rules: denyVar("042"), in: withVar("42"), want: deniedBy("deny[0]")},
		{name: "a deny on vip denies vip with spaces", rules: denyVar("vip"), in: withVar(" VIP\t"), want: deniedBy("deny[0]")},
		{name: "a deny on 0 denies 000", rules: denyVar("0"), in: withVar("000"), want: deniedBy("deny[0]")},
		{name: "a deny on 42 leaves 420", rules: denyVar("42"), in: withVar("420"), want: allow(session)},
		{name: "a deny on 42 leaves 0", rules: denyVar("42"), in: withVar("0"), want: allow(session)},
		{name: "a deny on 42 leaves +", rules: denyVar("42"), in: withVar("+"), want: allow(session)},
		{name: "a deny on 42 leaves a value without digits", rules: denyVar("42"), in: withVar("export"), want: allow(session)},
		// A value with a digit that is not a plain number: tools read it as
		// a number in too many ways (MySQL '42abc' = 42, int("4_2"),
		// Number("0x2a"), full-width digits): a deny on numbers matches it.
		{name: "a deny on 42 denies 42.0", rules: denyVar("42"), in: withVar("42.0"), want: deniedBy("deny[0]")},
		{name: "a deny on 42 denies 4.2e1", rules: denyVar("42"), in: withVar("4.2e1"), want: deniedBy("deny[0]")},
		{name: "a deny on 42 denies 42abc", rules: denyVar("42"), in: withVar("42abc"), want: deniedBy("deny[0]")},
		{name: "a deny on 42 denies 4_2", rules: denyVar("42"), in: withVar("4_2"), want: deniedBy("deny[0]")},
		{name: "a deny on 42 denies full-width digits", rules: denyVar("42"), in: withVar("\uff14\uff12"), want: deniedBy("deny[0]")},
		{name: "a deny on 42 denies 0x2a", rules: denyVar("42"), in: withVar("0x2a"), want: deniedBy("deny[0]")},
		{name: "a deny on 42 denies 42 and a NUL", rules: denyVar("42"), in: withVar("42\x00"), want: deniedBy("deny[0]")},
		{name: "a deny on 42 denies 4 2", rules: denyVar("42"), in: withVar("4 2"), want: deniedBy("deny[0]")},
		{name: "a deny on vip leaves v2", rules: denyVar("vip"), in: withVar("v2"), want: allow(session)},
		{name: "an allow on 42 is exact: 042 is not 42", rules: Rules{Allow: []Condition{{Vars: map[string][]string{"customer_id": {"42"}}}}},
			in: withVar("042"), want: denied(ReasonNoAllowRule)},
		{name: "a path variable in an allow rule is exact", rules: Rules{Allow: []Condition{{Vars: map[string][]string{"customer_id": {"vip"}}}}},
			in:   Input{Identity: user("a@corp.example"), Request: Request{Method: "GET", Path: "/c/VIP", Vars: map[string]string{"customer_id": "VIP"}}},
			want: denied(ReasonNoAllowRule)},
		{name: "a path variable in a deny rule, another value", rules: Rules{Allow: []Condition{{Everyone: true}},
			Deny: []Condition{{Vars: map[string][]string{"customer_id": {"13"}}}}},
			in:   Input{Identity: user("a@corp.example"), Request: Request{Method: "GET", Path: "/c/14", Vars: map[string]string{"customer_id": "14"}}},
			want: allow(session)},
		{name: "a path variable the request lacks never matches", rules: Rules{Allow: []Condition{{Vars: map[string][]string{"customer_id": {"13"}}}}},
			in:   Input{Identity: user("a@corp.example"), Request: get("")},
			want: denied(ReasonNoAllowRule)},
		{name: "the deny rule that matched is named", rules: Rules{Allow: []Condition{{Everyone: true}},
			Deny: []Condition{{Domains: []string{"other.example"}}, {Emails: []string{"a@corp.example"}}}},
			in: Input{Identity: user("a@corp.example"), Request: get("")}, want: deniedBy("deny[1]")},
		{name: "allow everyone", rules: Rules{Allow: []Condition{{Everyone: true}}},
			in: Input{Identity: user("a@anywhere.example"), Request: get("")}, want: allow(session)},
		{name: "deny is checked before requirements", rules: Rules{Allow: []Condition{{Everyone: true}}, Deny: []Condition{{Everyone: true}}},
			req: []Requirement{device}, in: Input{Identity: user("a@corp.example"), Request: get("")}, want: deniedBy("deny[0]")},
		{name: "no allow entry matches", rules: Rules{Allow: []Condition{{Groups: []string{"admins"}}}},
			in: Input{Identity: user("a@corp.example", "eng"), Request: get("")}, want: denied(ReasonNoAllowRule)},
		{name: "groups are case-sensitive", rules: Rules{Allow: []Condition{{Groups: []string{"Admins"}}}},
			in: Input{Identity: user("a@corp.example", "admins"), Request: get("")}, want: denied(ReasonNoAllowRule)},
		{name: "AND within an entry: both match",
			rules: Rules{Allow: []Condition{{Groups: []string{"support"}, Methods: []string{"GET"}}}},
			in:    Input{Identity: user("a@corp.example", "support"), Request: get("")}, want: allow(session)},
		{name: "AND within an entry: one fails",
			rules: Rules{Allow: []Condition{{Groups: []string{"support"}, Methods: []string{"GET"}}}},
			in:    Input{Identity: user("a@corp.example", "support"), Request: method("POST")}, want: denied(ReasonNoAllowRule)},
		{name: "OR across entries",
			rules: Rules{Allow: []Condition{{Groups: []string{"support"}, Methods: []string{"GET"}}, {Groups: []string{"leads"}}}},
			in:    Input{Identity: user("a@corp.example", "leads"), Request: method("POST")}, want: allow(session)},
		{name: "OR within a field",
			rules: Rules{Allow: []Condition{{Groups: []string{"a", "b", "c"}}}},
			in:    Input{Identity: user("a@corp.example", "x", "c"), Request: get("")}, want: allow(session)},

		// Claims.
		{name: "claim matches",
			rules: Rules{Allow: []Condition{{Claims: map[string][]string{"department": {"support", "sre"}}}}},
			in: Input{Identity: &Identity{Email: "a@corp.example", NotAfter: session,
				Claims: map[string][]string{"department": {"sre"}}}, Request: get("")},
			want: allow(session)},
		{name: "claim with other value",
			rules: Rules{Allow: []Condition{{Claims: map[string][]string{"department": {"support"}}}}},
			in: Input{Identity: &Identity{Email: "a@corp.example", NotAfter: session,
				Claims: map[string][]string{"department": {"sales"}}}, Request: get("")},
			want: denied(ReasonNoAllowRule)},
		{name: "claim missing",
			rules: Rules{Allow: []Condition{{Claims: map[string][]string{"department": {"support"}}}}},
			in:    Input{Identity: user("a@corp.example"), Request: get("")}, want: denied(ReasonNoAllowRule)},
		{name: "all claims of an entry must match",
			rules: Rules{Allow: []Condition{{Claims: map[string][]string{"department": {"support"}, "level": {"3"}}}}},
			in: Input{Identity: &Identity{Email: "a@corp.example", NotAfter: session,
				Claims: map[string][]string{"department": {"support"}, "level": {"2"}}}, Request: get("")},
			want: denied(ReasonNoAllowRule)},

		// Methods.
		{name: "method allowed", rules: Rules{Allow: []Condition{{Methods: []string{"GET", "HEAD"}}}},
			in: Input{Identity: user("a@corp.example"), Request: method("HEAD")}, want: allow(session)},
		{name: "method not allowed", rules: Rules{Allow: []Condition{{Methods: []string{"GET"}}}},
			in: Input{Identity: user("a@corp.example"), Request: method("DELETE")}, want: denied(ReasonNoAllowRule)},
		{name: "deny method in another letter case",
			rules: Rules{Allow: []Condition{{Everyone: true}}, Deny: []Condition{{Methods: []string{"DELETE"}}}},
			in:    Input{Identity: user("a@corp.example"), Request: method("delete")}, want: deniedBy("deny[0]")},
		// HEAD is GET without the body: upstreams serve it with their GET
		// handlers (status and headers of the resource), so a rule on GET
		// is a rule on HEAD too.
		{name: "deny GET covers HEAD",
			rules: Rules{Allow: []Condition{{Everyone: true}}, Deny: []Condition{{Methods: []string{"GET"}}}},
			in:    Input{Identity: user("a@corp.example"), Request: method("HEAD")}, want: deniedBy("deny[0]")},
		{name: "allow GET covers HEAD", rules: Rules{Allow: []Condition{{Methods: []string{"GET"}}}},
			in: Input{Identity: user("a@corp.example"), Request: method("head")}, want: allow(session)},
		{name: "a rule on HEAD is not one on GET", rules: Rules{Allow: []Condition{{Methods: []string{"HEAD"}}}},
			in: Input{Identity: user("a@corp.example"), Request: method("GET")}, want: denied(ReasonNoAllowRule)},
		// POST /x?_method=DELETE is a DELETE to Symfony and Laravel: a deny
		// on DELETE denies it, an allow of POST alone does not allow it.
		{name: "deny DELETE covers a POST overridden to DELETE",
			rules: Rules{Allow: []Condition{{Everyone: true}}, Deny: []Condition{{Methods: []string{"DELETE"}}}},
			in:    Input{Identity: user("a@corp.example"), Request: Request{Method: "POST", MethodOverrides: []string{"delete"}}}, want: deniedBy("deny[0]")},
		{name: "allow POST does not cover a POST overridden to DELETE", rules: Rules{Allow: []Condition{{Methods: []string{"POST"}}}},
			in: Input{Identity: user("a@corp.example"), Request: Request{Method: "POST", MethodOverrides: []string{"DELETE"}}}, want: denied(ReasonNoAllowRule)},
		{name: "allow POST and DELETE covers it", rules: Rules{Allow: []Condition{{Methods: []string{"POST", "DELETE"}}}},
			in: Input{Identity: user("a@corp.example"), Request: Request{Method: "POST", MethodOverrides: []string{"DELETE"}}}, want: allow(session)},
		// AnyMethod: a body the gateway could not read to the end may name
		// any method.
		{name: "deny on methods covers any method",
			rules: Rules{Allow: []Condition{{Everyone: true}}, Deny: []Condition{{Methods: []string{"PURGE"}}}},
			in:    Input{Identity: user("a@corp.example"), Request: Request{Method: "POST", MethodOverrides: []string{AnyMethod}}}, want: deniedBy("deny[0]")},
		{name: "allow on methods does not cover any method", rules: Rules{Allow: []Condition{{Methods: []string{"GET", "POST", "PUT", "PATCH", "DELETE"}}}},
			in: Input{Identity: user("a@corp.example"), Request: Request{Method: "POST", MethodOverrides: []string{"PUT", AnyMethod, "DELETE"}}}, want: denied(ReasonNoAllowRule)},
		{name: "allow without methods covers any method", rules: Rules{Allow: []Condition{{Everyone: true}}, Deny: []Condition{{Emails: []string{"b@corp.example"}}}},
			in: Input{Identity: user("a@corp.example"), Request: Request{Method: "POST", MethodOverrides: []string{AnyMethod}}}, want: allow(session)},

		// Source addresses.
		{name: "source in CIDR", rules: Rules{Allow: []Condition{{SourceCIDRs: []string{"10.0.0.0/8"}}}},
			in: Input{Identity: user("a@corp.example"), Request: get("10.1.2.3")}, want: allow(session)},
		{name: "source outside CIDR", rules: Rules{Allow: []Condition{{SourceCIDRs: []string{"10.0.0.0/8"}}}},
			in: Input{Identity: user("a@corp.example"), Request: get("203.0.113.9")}, want: denied(ReasonNoAllowRule)},
		{name: "IPv4-mapped IPv6 source in IPv4 CIDR", rules: Rules{Allow: []Condition{{SourceCIDRs: []string{"10.0.0.0/8"}}}},
			in: Input{Identity: user("a@corp.example"), Request: get("::ffff:10.1.2.3")}, want: allow(session)},
		{name: "IPv4-mapped IPv6 source denied by IPv4 CIDR",
			rules: Rules{Allow: []Condition{{Everyone: true}}, Deny: []Condition{{SourceCIDRs: []string{"203.0.113.0/24"}}}},
			in:    Input{Identity: user("a@corp.example"), Request: get("::ffff:203.0.113.9")}, want: deniedBy("deny[0]")},
		{name: "IPv6 source in IPv6 CIDR", rules: Rules{Allow: []Condition{{SourceCIDRs: []string{"2001:db8::/32"}}}},
			in: Input{Identity: user("a@corp.example"), Request: get("2001:db8::1")}, want: allow(session)},
		{name: "unknown source matches no CIDR", rules: Rules{Allow: []Condition{{SourceCIDRs: []string{"0.0.0.0/0", "::/0"}}}},
			in: Input{Identity: user("a@corp.example"), Request: get("")}, want: denied(ReasonNoAllowRule)},
		{name: "unknown source matches every deny CIDR",
			rules: Rules{Allow: []Condition{{Everyone: true}}, Deny: []Condition{{SourceCIDRs: []string{"203.0.113.0/24"}}}},
			in:    Input{Identity: user("a@corp.example"), Request: get("")}, want: deniedBy("deny[0]")},
		{name: "unmasked CIDR is masked", rules: Rules{Allow: []Condition{{SourceCIDRs: []string{"10.9.9.9/8"}}}},
			in: Input{Identity: user("a@corp.example"), Request: get("10.1.2.3")}, want: allow(session)},

		// Requirements (kinds are faked here; each kind tests its own Check).
		{name: "requirement unmet: its reason", rules: corp, req: []Requirement{window},
			in: Input{Identity: user("a@corp.example"), Request: get("")}, want: denied("fake-window-closed")},
		{name: "requirement met: bounds NotAfter", rules: corp, req: []Requirement{window},
			in:   Input{Identity: user("a@corp.example"), Request: get(""), Facts: []any{open(t0.Add(3 * time.Hour))}},
			want: allow(t0.Add(3 * time.Hour))},
		{name: "session ends first", rules: corp, req: []Requirement{window},
			in: Input{Identity: &Identity{Email: "a@corp.example", NotAfter: t0.Add(time.Hour)}, Request: get(""),
				Facts: []any{open(t0.Add(3 * time.Hour))}},
			want: allow(t0.Add(time.Hour))},
		{name: "requirement without bound keeps the session's", rules: corp, req: []Requirement{window},
			in: Input{Identity: user("a@corp.example"), Request: get(""), Facts: []any{open(time.Time{})}}, want: allow(session)},
		{name: "grants relied on are named", rules: corp, req: []Requirement{window, ticket},
			in: Input{Identity: user("a@corp.example"), Request: get(""),
				Facts: []any{open(t0.Add(3 * time.Hour)), open(t0.Add(2 * time.Hour))}},
			want: Decision{Allow: true, Reasons: []Reason{ReasonAllowRule}, NotAfter: t0.Add(2 * time.Hour), Grants: []string{"fake-ticket"}}},
		{name: "every unmet reason, in order", rules: corp, req: []Requirement{window, ticket},
			in:   Input{Identity: user("a@corp.example"), Request: get("")},
			want: Decision{Reasons: []Reason{"fake-window-closed", "fake-ticket-required"}}},
		{name: "facts ignored when not required", rules: corp,
			in: Input{Identity: user("a@corp.example"), Request: get(""), Facts: []any{"junk"}}, want: allow(session)},
		{name: "rules are checked before requirements", rules: Rules{Allow: []Condition{{Groups: []string{"admins"}}}},
			req: []Requirement{window},
			in:  Input{Identity: user("a@corp.example"), Request: get("")}, want: denied(ReasonNoAllowRule)},

		// Lifters (break-glass).
		{name: "lifter stands in for what it lifts", rules: corp, req: []Requirement{window, ticket, glass},
			in: Input{Identity: user("a@corp.example"), Request: get(""), Facts: []any{nil, nil, open(t0.Add(30 * time.Minute))}},
			want: Decision{Allow: true, Reasons: []Reason{ReasonAllowRule}, NotAfter: t0.Add(30 * time.Minute),
				Grants: []string{"fake-glass"}, Lifted: []Reason{"fake-window-closed", "fake-ticket-required"}}},
		{name: "lifter does not lift what it cannot", rules: corp, req: []Requirement{window, device, glass},
			in:   Input{Identity: user("a@corp.example"), Request: get(""), Facts: []any{nil, nil, open(t0.Add(30 * time.Minute))}},
			want: Decision{Reasons: []Reason{"fake-window-closed", "fake-device-missing"}}},
		{name: "lifter keeps the bounds of what held", rules: corp, req: []Requirement{device, window, glass},
			in: Input{Identity: user("a@corp.example"), Request: get(""),
				Facts: []any{open(t0.Add(10 * time.Minute)), nil, open(t0.Add(30 * time.Minute))}},
			want: Decision{Allow: true, Reasons: []Reason{ReasonAllowRule}, NotAfter: t0.Add(10 * time.Minute),
				Grants: []string{"fake-glass"}, Lifted: []Reason{"fake-window-closed"}}},
		{name: "lifter not used when nothing is unmet", rules: corp, req: []Requirement{window, glass},
			in:   Input{Identity: user("a@corp.example"), Request: get(""), Facts: []any{open(t0.Add(3 * time.Hour)), open(t0.Add(30 * time.Minute))}},
			want: allow(t0.Add(3 * time.Hour))},
		{name: "unmet lifter changes nothing", rules: corp, req: []Requirement{window, glass},
			in:   Input{Identity: user("a@corp.example"), Request: get("")},
			want: denied("fake-window-closed")},
		{name: "a held grant that no longer stands in says so first", rules: corp, req: []Requirement{window, ticket, glass},
			in:   Input{Identity: user("a@corp.example"), Request: get(""), Facts: []any{nil, nil, fakeHeld("fake-glass-ended")}},
			want: Decision{Reasons: []Reason{"fake-glass-ended", "fake-window-closed", "fake-ticket-required"}}},
		{name: "a held grant that could not lift it all says nothing", rules: corp, req: []Requirement{window, device, glass},
			in:   Input{Identity: user("a@corp.example"), Request: get(""), Facts: []any{nil, nil, fakeHeld("fake-glass-ended")}},
			want: Decision{Reasons: []Reason{"fake-window-closed", "fake-device-missing"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name    string
		public  bool
		rules   Rules
		wantErr string
	}{
		{name: "no allow entry", rules: Rules{},
			wantErr: `policy: route "r" has no allow entry`},
		{name: "empty condition", rules: Rules{Allow: []Condition{{}}},
			wantErr: `policy: route "r" allow[0]: condition: empty condition would match everyone; set a field, or everyone: true to say so`},
		{name: "bad deny email", rules: Rules{Allow: []Condition{{Everyone: true}}, Deny: []Condition{{Emails: []string{"a@b@c.example"}}}},
			wantErr: `policy: route "r" deny[0]: condition.emails[0]: policy: expected an email address with exactly one '@', got "a@b@c.example"`},
		{name: "IPv4-mapped CIDR", rules: Rules{Allow: []Condition{{Everyone: true}}, Deny: []Condition{{SourceCIDRs: []string{"::ffff:203.0.113.0/120"}}}},
			wantErr: `policy: route "r" deny[0]: condition.source_cidrs[0]: expected an IPv4 CIDR such as 203.0.113.0/24 for IPv4 addresses, got IPv4-mapped "::ffff:203.0.113.0/120"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile("r", tc.public, tc.rules, nil)
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("Compile() error = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestConditionProblems(t *testing.T) {
	tests := []struct {
		name string
		c    Condition
		want []string
	}{
		{name: "valid", c: Condition{Domains: []string{"corp.example"}, Methods: []string{"GET"}}},
		{name: "everyone", c: Condition{Everyone: true}},
		{name: "Kelvin sign in a domain", c: Condition{Domains: []string{"\u212Aorp.example"}},
			want: []string{".domains[0]: expected a DNS domain such as corp.example, got \"\u212Aorp.example\""}},
		{name: "empty", c: Condition{},
			want: []string{": empty condition would match everyone; set a field, or everyone: true to say so"}},
		{name: "every field wrong at once", c: Condition{
			Emails:      []string{"Alice <a@corp.example>"},
			Domains:     []string{"corp", "ok.example", "bad_domain.example"},
			Groups:      []string{" "},
			Claims:      map[string][]string{"dept": {}},
			Methods:     []string{"GET", "get!", ""},
			SourceCIDRs: []string{"10.0.0.0/33", "10.0.0.1"},
		}, want: []string{
			`.emails[0]: policy: expected a bare email address, got "Alice <a@corp.example>"`,
			`.domains[0]: expected a DNS domain such as corp.example, got "corp"`,
			`.domains[2]: expected a DNS domain such as corp.example, got "bad_domain.example"`,
			`.groups[0]: empty group name`,
			`.claims.dept: expected a claim name with at least one value`,
			`.methods[1]: expected an HTTP method such as GET, got "get!"`,
			`.methods[2]: expected an HTTP method such as GET, got ""`,
			`.source_cidrs[0]: expected a CIDR such as 10.0.0.0/8, got "10.0.0.0/33"`,
			`.source_cidrs[1]: expected a CIDR such as 10.0.0.0/8, got "10.0.0.1"`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Problems(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Problems() =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func BenchmarkDecide(b *testing.B) {
	r := mustCompile(b, "customer-records", false, Rules{
		Allow: []Condition{
			{Groups: []string{"support"}, Methods: []string{"GET", "HEAD"}},
			{Groups: []string{"support-leads"}, SourceCIDRs: []string{"10.0.0.0/8"}},
			{Emails: []string{"alice@corp.example"}},
		},
		Deny: []Condition{{Domains: []string{"contractors.example"}}},
	}, []Requirement{&fakeReq{kind: "fake-window", reason: "fake-window-closed"}, &fakeReq{kind: "fake-ticket", reason: "fake-ticket-required", grant: "fake-ticket"}})
	in := Input{
		Route: r,
		Identity: &Identity{Subject: "s1", Email: "lee@corp.example", Groups: []string{"eng", "support-leads"},
			NotAfter: session},
		Request: Request{Method: "POST", Path: "/customers/42", SourceIP: netip.MustParseAddr("10.1.2.3"),
			Vars: map[string]string{"customer_id": "42"}},
		Facts: []any{open(t0.Add(time.Hour)), open(t0.Add(2 * time.Hour))},
	}
	if d := Decide(&in, t0); !d.Allow {
		b.Fatalf("Decide() = %+v, want allow", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		Decide(&in, t0)
	}
}

// Decisions share their one-reason and one-grant lists (no allocation per
// decision): what a caller appends to one decision's lists must never show
// in another's.
func TestDecideSharedListsStayUnwritten(t *testing.T) {
	ticket := &fakeReq{kind: "fake-ticket", reason: "fake-ticket-required", grant: "fake-ticket"}
	r := mustCompile(t, "r", false, Rules{Allow: []Condition{{Everyone: true}}}, []Requirement{ticket})
	in := Input{Route: r, Identity: user("a@corp.example"), Request: get(""), Facts: []any{open(session)}}
	want := Decision{Allow: true, Reasons: []Reason{ReasonAllowRule}, NotAfter: session, Grants: []string{"fake-ticket"}}
	d1 := Decide(&in, t0)
	if !reflect.DeepEqual(d1, want) {
		t.Fatalf("Decide() = %+v, want %+v", d1, want)
	}
	d1.Reasons = append(d1.Reasons, ReasonDenyRule)
	d1.Grants = append(d1.Grants, "extra")
	if d2 := Decide(&in, t0); !reflect.DeepEqual(d2, want) {
		t.Fatalf("after appending to an earlier decision's lists: Decide() = %+v, want %+v", d2, want)
	}
	// A kind that names another grant gets its own list, and the decision
	// after it too.
	ticket.grant = "other-grant"
	if d := Decide(&in, t0); !slices.Equal(d.Grants, []string{"other-grant"}) {
		t.Fatalf("Grants = %q, want [other-grant]", d.Grants)
	}
	ticket.grant = "fake-ticket"
	if d := Decide(&in, t0); !reflect.DeepEqual(d, want) {
		t.Fatalf("Decide() = %+v, want %+v", d, want)
	}
	no := Input{Route: r, Identity: user("a@evil.example@corp.example"), Request: get("")}
	d3 := Decide(&no, t0)
	d3.Reasons = append(d3.Reasons, ReasonDenyRule)
	if d4 := Decide(&no, t0); !reflect.DeepEqual(d4, denied(ReasonInvalidIdentity)) {
		t.Fatalf("Decide() = %+v, want %+v", d4, denied(ReasonInvalidIdentity))
	}
}

// The decision path allocates nothing: an allow relying on a grant, an
// allow without requirements, and the common denials.
func TestDecideAllocatesNothing(t *testing.T) {
	ticket := &fakeReq{kind: "fake-ticket", reason: "fake-ticket-required", grant: "fake-ticket"}
	window := &fakeReq{kind: "fake-window", reason: "fake-window-closed"}
	withReqs := mustCompile(t, "r", false, Rules{Allow: []Condition{{Groups: []string{"support"}}}, Deny: []Condition{{Domains: []string{"contractors.example"}}}},
		[]Requirement{window, ticket})
	plain := mustCompile(t, "p", false, Rules{Allow: []Condition{{Groups: []string{"support"}}}}, nil)
	support := user("a@corp.example", "support")
	cases := []struct {
		name string
		in   Input
		want Reason
	}{
		{"allow with a grant", Input{Route: withReqs, Identity: support, Request: get("10.1.2.3"), Facts: []any{open(session), open(session)}}, ReasonAllowRule},
		{"allow without requirements", Input{Route: plain, Identity: support, Request: get("")}, ReasonAllowRule},
		{"not signed in", Input{Route: plain, Request: get("")}, ReasonSignInRequired},
		{"no allow rule", Input{Route: plain, Identity: user("a@corp.example", "eng"), Request: get("")}, ReasonNoAllowRule},
		{"deny rule", Input{Route: withReqs, Identity: user("c@contractors.example", "support"), Request: get("")}, ReasonDenyRule},
		{"no route", Input{Identity: support}, ReasonRouteNotFound},
		{"evidence error", Input{Route: plain, Identity: support, EvidenceErr: errors.New("down")}, ReasonEvidenceError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if d := Decide(&tc.in, t0); d.Reasons[0] != tc.want {
				t.Fatalf("Decide() = %+v, want reason %q", d, tc.want)
			}
			if n := testing.AllocsPerRun(100, func() { Decide(&tc.in, t0) }); n != 0 {
				t.Fatalf("Decide allocated %v times per decision, want 0", n)
			}
		})
	}
}

func init() {
	RegisterReasons("fake", "fake-window-closed", "fake-ticket-required", "fake-device-missing", "fake-glass-none", "fake-glass-ended")
}

// fakeReq is a requirement kind for these tests: met when its facts are a
// fakeOpen, which says until when.
type fakeReq struct {
	kind, grant string
	reason      Reason
}

type fakeOpen struct{ until time.Time }

func open(until time.Time) fakeOpen { return fakeOpen{until} }

func (q *fakeReq) Kind() string { return q.kind }

// fakeHeld: a grant was held and no longer stands in, for this reason.
type fakeHeld Reason

func (q *fakeReq) Check(facts any, _ *Input, now time.Time) Result {
	if h, ok := facts.(fakeHeld); ok {
		return Result{Reason: Reason(h), Held: true}
	}
	f, ok := facts.(fakeOpen)
	if !ok || (!f.until.IsZero() && !now.Before(f.until)) {
		return Result{Reason: q.reason}
	}
	return Result{NotAfter: f.until, Grant: q.grant}
}

type fakeLifter struct {
	fakeReq
	lifts []string
}

func (l *fakeLifter) Lifts(kind string) bool { return slices.Contains(l.lifts, kind) }

func TestJudgesMethods(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules Rules
		want  bool
	}{
		{"no methods", Rules{Allow: []Condition{{Everyone: true}}, Deny: []Condition{{Emails: []string{"b@corp.example"}}}}, false},
		{"allow lists methods", Rules{Allow: []Condition{{Everyone: true}, {Groups: []string{"ops"}, Methods: []string{"DELETE"}}}}, true},
		{"deny lists methods", Rules{Allow: []Condition{{Everyone: true}}, Deny: []Condition{{Methods: []string{"DELETE"}}}}, true},
	} {
		r, err := Compile("r", false, tc.rules, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.JudgesMethods(); got != tc.want {
			t.Errorf("%s: JudgesMethods() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// DecideRules is Decide without the requirements: its denials are Decide's
// whatever the facts; its allow says only that the rules admit.
func TestDecideRules(t *testing.T) {
	window := &fakeReq{kind: "fake-window", reason: "fake-window-closed"}
	r, err := Compile("r", false, Rules{Allow: []Condition{{Domains: []string{"corp.example"}}}, Deny: []Condition{{Emails: []string{"eve@corp.example"}}}}, []Requirement{window})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		email        string
		rules, whole Reason
	}{
		{"a@corp.example", ReasonAllowRule, "fake-window-closed"},
		{"eve@corp.example", ReasonDenyRule, ReasonDenyRule},
		{"a@other.example", ReasonNoAllowRule, ReasonNoAllowRule},
	} {
		in := Input{Route: r, Identity: user(tc.email), Request: get("")}
		if d := DecideRules(&in, t0); d.Reasons[0] != tc.rules {
			t.Errorf("%s: DecideRules = %+v, want %s", tc.email, d, tc.rules)
		}
		if d := Decide(&in, t0); d.Reasons[0] != tc.whole {
			t.Errorf("%s: Decide = %+v, want %s", tc.email, d, tc.whole)
		}
		// DecideFacts completes DecideRules' decision as Decide does; an
		// error gathering the facts denies what the rules allowed.
		if d := DecideFacts(&in, t0, DecideRules(&in, t0)); d.Reasons[0] != tc.whole {
			t.Errorf("%s: DecideFacts = %+v, want %s", tc.email, d, tc.whole)
		}
		in.EvidenceErr = errors.New("store down")
		want := ReasonEvidenceError
		if tc.rules != ReasonAllowRule {
			want = tc.rules
		}
		if d := DecideFacts(&in, t0, DecideRules(&Input{Route: r, Identity: user(tc.email), Request: get("")}, t0)); d.Reasons[0] != want {
			t.Errorf("%s: DecideFacts with an evidence error = %+v, want %s", tc.email, d, want)
		}
	}
}
