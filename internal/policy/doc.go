// Package policy holds the gateway's authorization decision: a pure function
// Decide(*Input, now) → Decision with typed reasons (reasons.go).
//
// Evidence (identity, device, and later justification, schedule and
// break-glass) is gathered by the caller before Decide runs; Decide does no
// I/O and reads no clock but its argument. Deny rules always win over allow
// rules. Email addresses are parsed strictly (ParseEmail), so
// "a@evil.example@corp.example" matches no domain.
//
// Decide does NOT check that the route matched the request's host and path:
// the caller passes the route it found, or nil.
package policy
