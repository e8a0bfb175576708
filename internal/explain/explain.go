// Package explain answers what-if questions against a configuration without
// running the gateway: "would this user, with these groups, on this URL, be
// allowed?". `gateway explain` and the policy tests of `gateway check` use it.
// It runs the same route table and the same policy.Decide as the gateway.
package explain

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/requirement/kinds"
	"github.com/accessgateway/gateway/internal/route"
)

// Policies is the route table of a configuration, policies only.
type Policies struct {
	byName map[string]*entry
	table  *route.Table[*entry]
}

type entry struct {
	cfg    *config.Route
	policy *policy.Route
}

// New compiles the routes of cfg.
func New(cfg *config.Config) (*Policies, error) {
	p := &Policies{byName: map[string]*entry{}, table: route.NewTable[*entry]()}
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		pol, err := policy.Compile(rc.Name, rc.Public, rc.Rules, rc.Requirements())
		if err != nil {
			return nil, err
		}
		e := &entry{cfg: rc, policy: pol}
		p.byName[rc.Name] = e
		if err := p.table.AddRoute(rc.Host, rc.Path, rc.RouteOptions(), e); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Query is one what-if.
type Query struct {
	// Email empty means "not signed in".
	Email  string
	Groups []string
	Claims map[string][]string
	// Either Route (+ Path) or URL.
	Route, Path, URL string
	Method           string
	SourceIP         string
	Time             time.Time
	// Assume holds the facts to assume for requirement kinds, by kind name
	// (a device attested an hour ago, a ticket naming customer 42), in each
	// kind's assumption type (requirement.Assumer). A kind with no
	// assumption gathers nothing: its requirement is unmet.
	Assume map[string]any
}

// Answer is the decision and the route it was made for.
type Answer struct {
	Route    string
	Path     string
	Decision policy.Decision
}

// Ask evaluates q.
func (p *Policies) Ask(q Query) (Answer, error) {
	var e *entry
	var vars map[string]string
	path := q.Path
	if q.URL != "" {
		u, err := url.Parse(q.URL)
		if err != nil || u.Host == "" {
			return Answer{}, fmt.Errorf("explain: expected an absolute URL, got %q", q.URL)
		}
		path = route.URLPath(u)
		if path == "" {
			path = "/"
		}
		np, err := route.Normalize(path)
		if err != nil {
			return Answer{}, err
		}
		path = np
		e, vars, _ = p.table.Lookup(strings.ToLower(u.Hostname()), path)
	} else {
		if path == "" {
			path = "/"
		}
		np, err := route.Normalize(path)
		if err != nil {
			return Answer{}, err
		}
		path = np
		e = p.byName[q.Route]
		if e == nil {
			return Answer{}, fmt.Errorf("explain: unknown route %q", q.Route)
		}
		if found, v, ok := p.table.Lookup(e.cfg.Host, path); ok && found == e {
			vars = v
		} else {
			return Answer{}, fmt.Errorf("explain: path %q is not served by route %q", path, q.Route)
		}
	}
	in := policy.Input{Request: policy.Request{Method: strings.ToUpper(q.Method), Path: path, Vars: vars}}
	if in.Request.Method == "" {
		in.Request.Method = "GET"
	}
	if q.SourceIP != "" {
		a, err := netip.ParseAddr(q.SourceIP)
		if err != nil {
			return Answer{}, fmt.Errorf("explain: source IP: %w", err)
		}
		in.Request.SourceIP = a
	}
	if q.Email != "" {
		in.Identity = &policy.Identity{Subject: q.Email, Email: q.Email, Groups: q.Groups, Claims: q.Claims}
	}
	now := q.Time
	if now.IsZero() {
		now = time.Now()
	}
	a := Answer{Path: path}
	if e != nil {
		in.Route = e.policy
		a.Route = e.cfg.Name
		in.Facts = assume(e.policy, &in, q.Assume, now)
	}
	a.Decision = policy.Decide(&in, now)
	return a, nil
}

// assume gives each of the route's requirements the facts its kind makes of
// the query's assumptions.
func assume(r *policy.Route, in *policy.Input, assumptions map[string]any, now time.Time) []any {
	reqs := r.Requirements()
	if len(reqs) == 0 {
		return nil
	}
	facts := make([]any, len(reqs))
	for i, req := range reqs {
		k, ok := kinds.Get(req.Kind())
		if !ok {
			continue
		}
		if a, ok := k.(requirement.Assumer); ok {
			facts[i] = a.Assume(assumptions[req.Kind()], req, in, now)
		}
	}
	return facts
}

// TestResult is the outcome of one policy test.
type TestResult struct {
	Name   string
	Pass   bool
	Answer Answer
	Err    error
	Why    string
}

// RunTests runs the configuration's policy tests.
func RunTests(cfg *config.Config) ([]TestResult, error) {
	p, err := New(cfg)
	if err != nil {
		return nil, err
	}
	var out []TestResult
	for _, t := range cfg.Tests {
		q := Query{Email: t.User.Email, Groups: t.User.Groups, Claims: t.User.Claims, Route: t.Route,
			Path: t.Path, URL: t.URL, Method: t.Method, SourceIP: t.Source, Assume: t.Assumptions()}
		if t.Time != "" {
			q.Time, _ = time.Parse(time.RFC3339, t.Time)
		}
		a, err := p.Ask(q)
		r := TestResult{Name: t.Name, Answer: a, Err: err}
		switch {
		case err != nil:
			r.Why = err.Error()
		case (t.Expect == "allow") != a.Decision.Allow:
			r.Why = fmt.Sprintf("expected %s, got %s %v", t.Expect, verdict(a.Decision), a.Decision.Reasons)
		default:
			r.Pass = true
			for _, want := range t.Reason {
				if !slices.Contains(a.Decision.Reasons, policy.Reason(want)) {
					r.Pass = false
					r.Why = fmt.Sprintf("expected reason %q, got %v", want, a.Decision.Reasons)
				}
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func verdict(d policy.Decision) string {
	if d.Allow {
		return "allow"
	}
	return "deny"
}
