// Package justify verifies justifications: a ticket, bug or incident ID that
// a user gives for access, looked up live in the ticket system it belongs
// to (Jira, GitHub issues, PagerDuty, Opsgenie, ServiceNow, a company's own
// HTTP verifier, or tickets listed in the YAML). docs/justification.md
// describes the systems, their settings and what their answers mean.
//
// The package is the library half of the justification requirement. It
// reads what the user typed (Parse), asks the system (Lookup: the only I/O,
// with per-system timeouts, an answer cache, one request per ticket at a
// time, a circuit breaker and 429 Retry-After waits), and judges the answer
// purely (Check). It holds no
// grants, serves no pages and knows no sessions: the requirement kind that
// wires it into the gateway does.
//
//	v, err := justify.New(cfg, justify.Options{Logger: logger})
//	defer v.Close()
//	ref, err := v.Parse(form.Get("ticket"), route.Systems)  // "SUP-1", "jira:SUP-1", a pasted URL
//	if err != nil { /* justify.ReasonFor(err) == ReasonRequired; show err to the user */ }
//	t, err := v.Lookup(ctx, ref, justify.Query{User: email, Route: route.Name, Resource: customerID})
//	if err != nil { /* deny with justify.ReasonFor(err): ticket-not-found or justification-system-unavailable */ }
//	if reason := justify.Check(t, email, customerID); reason != "" { /* deny */ }
//
// A ticket justifies a user when it exists, is open, involves the user in
// one of the configured roles (assignee, reporter, watcher, request
// participant, incident responder...) and, when the route binds a resource,
// names that resource (a customer field, an option, labels with a prefix),
// compared byte for byte unless the route opts into ignoring case.
//
// What is NOT checked: the ticket's text (title, description, comments,
// priority) is never read; whether the work the user does matches the
// ticket; users whose email the system hides (Jira Cloud privacy settings)
// or whose GitHub login is neither in github.users nor vouched for by the
// claim github.login_claim names count as not involved; answers are
// cached per process (cache.ttl), so a ticket closed or reassigned is
// noticed up to one TTL later; a system's clock is not compared with ours.
// Check does not look at time: the caller ends grants at Ticket.ExpiresAt.
//
// The slices of a returned Ticket may be shared with the cache: do not
// modify them.
//
// Package justifytest has fakes of every system, speaking their documented
// JSON, for tests.
package justify
