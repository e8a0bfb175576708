// Package breakglass is the on-call break-glass library: who may break glass
// under which policy, whether they are on call now and their incident is
// active (PagerDuty REST API v2, Opsgenie API v2, or a static rota in YAML),
// the daily limit shared by all replicas, the grants themselves (stored with
// their expiry in the shared store, bound to one session and one route),
// re-checks of the incident, the review list, and the notifications
// (Slack-compatible incoming webhooks and a generic JSON webhook, retried
// with bounded exponential backoff).
//
// It has no HTTP handlers: the gateway's break-glass and review pages, the
// context-token claim and the audit records are built on it.
//
// The flow:
//
//	svc, err := breakglass.New(cfg.BreakGlass, breakglass.Options{Store: st, OnNotifyFailure: auditFailure})
//	// the break-glass page, on POST:
//	g, err := svc.Request(ctx, user, breakglass.GrantRequest{Route: "billing", IncidentID: "PT4KHLK", Reason: "..."})
//	// err is a *Refusal (breakglass.ReasonOf(err) names the reason) or a store failure: deny.
//	// write the audit record of g; only if that worked:
//	err = svc.Activate(ctx, g) // stored, listed for review, notifications queued
//	// every request on a route whose policy lifts an unmet requirement:
//	g, err := svc.Active(ctx, user, route)   // one store Get
//	still, err := svc.Recheck(ctx, *g)        // the incident, at most once per interval
//	ok, until := breakglass.Check(g, route, now) // pure
//	// reviewers:
//	list, err := svc.Unreviewed(ctx)
//	err = svc.Revoke(ctx, id, reviewer)
//	err = svc.MarkReviewed(ctx, id, reviewer) // ErrStillActive until the grant has ended
//
// What is checked: group membership, that the user is on call at the
// instant of the request, that the incident exists and is active (and, for
// PagerDuty with escalation_policy_ids, belongs to one of them), the daily
// limit, the request's fields; during the grant, its route, its expiry, the
// holder's membership in the policy's groups (the gateway's kind, on every
// use), the incident (every recheck_interval) and revocation.
//
// What is NOT checked: that the user is assigned to or responding to the
// incident (being on call and the incident being active suffice); that the
// user stays on call during the grant; that the incident concerns the route
// the grant is for. Sign-in and the route's allow/deny rules are never
// lifted: a grant only stands in for the requirement kinds its policy lists.
package breakglass

import _ "time/tzdata" // time zones resolve the same in a scratch container
