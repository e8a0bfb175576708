package audit

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// Record kinds.
const (
	KindDecision      = "decision"      // a request was allowed or denied
	KindResponse      = "response"      // the upstream's answer to an allowed request
	KindSession       = "session"       // sign-in, sign-out
	KindDevice        = "device"        // enrollment, attestation, binding
	KindJustification = "justification" // a ticket was verified, rejected or re-checked
	KindBreakGlass    = "break-glass"   // an on-call grant was made, used or reviewed
	KindCheckpoint    = "checkpoint"    // written by the log itself; signed when a key is set
)

// Checkpoint events (Record.Event of a checkpoint).
const (
	CheckpointStart     = "start"     // the log opened; Detail says where the chain continues from
	CheckpointInterval  = "interval"  // every Options.CheckpointEvery records or CheckpointInterval
	CheckpointRotate    = "rotate"    // the last record of a file that is being rotated away
	CheckpointReopen    = "reopen"    // the last record before Reopen (logrotate)
	CheckpointRecovered = "recovered" // the sink works again; Detail counts what the outage cost
	CheckpointClose     = "close"     // the last record before Close
)

// Record is one audit entry: one JSON line in the file.
//
// Seq, Prev, Hash and Sig belong to the chain: the log sets them when it
// writes the record and ignores whatever the caller put there. Records never
// carry tokens, cookies or secrets: Record has no field for them, and Detail
// must not be given one.
type Record struct {
	Seq  uint64    `json:"seq"`  // position in the chain, from 1, never reused
	Prev string    `json:"prev"` // Hash of the record before (64 zeros for the first)
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // one of the Kind constants

	RequestID string `json:"request_id,omitempty"`
	TraceID   string `json:"trace_id,omitempty"`
	User      string `json:"user,omitempty"`
	Subject   string `json:"sub,omitempty"`
	Route     string `json:"route,omitempty"`
	Host      string `json:"host,omitempty"`
	Method    string `json:"method,omitempty"`
	// MethodOverrides are the methods the tool may execute the POST as
	// (a _method in its query or body) that the decision judged too; "*"
	// for a body that may name any method.
	MethodOverrides []string `json:"method_overrides,omitempty"`
	Path            string   `json:"path,omitempty"`
	SourceIP        string   `json:"source_ip,omitempty"`

	Decision string   `json:"decision,omitempty"` // allow | deny (also outcomes of events)
	Reasons  []string `json:"reasons,omitempty"`
	// Grants are the grants an allow relied on ("device", "justification",
	// "schedule", "break-glass").
	Grants []string `json:"grants,omitempty"`

	// Status, Bytes and DurationMS describe the response (KindResponse), or
	// the status a denial was answered with.
	Status     int     `json:"status,omitempty"`
	Bytes      int64   `json:"bytes,omitempty"`
	DurationMS float64 `json:"duration_ms,omitempty"` // NaN and ±Inf are written as 0 (omitted)

	DeviceID      string               `json:"device_id,omitempty"`
	Justification *JustificationRecord `json:"justification,omitempty"`
	BreakGlass    *BreakGlassRecord    `json:"break_glass,omitempty"`
	Schedule      string               `json:"schedule,omitempty"` // the window that allowed the request

	Event  string `json:"event,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Transport is how a forward-auth decision was asked for (nginx,
	// forward-auth, ext-authz-http, ext-authz-grpc); absent when the
	// gateway proxied the request itself.
	Transport string `json:"transport,omitempty"`

	// Hash is the lowercase hex SHA-256 of the record's line up to (not
	// including) the `,"hash":` member; see docs/audit.md.
	Hash string `json:"hash"`
	// Sig is a checkpoint's signature: a JWS with a detached payload
	// (RFC 7515 appendix F), see docs/audit.md. Empty on other records.
	Sig string `json:"sig,omitempty"`
}

// JustificationRecord is the ticket a decision relied on, or an event about it.
type JustificationRecord struct {
	System     string    `json:"system,omitempty"` // the configured system's name (jira, github…)
	ID         string    `json:"id,omitempty"`     // the ticket, issue, incident or alert ID
	URL        string    `json:"url,omitempty"`
	Resource   string    `json:"resource,omitempty"` // the resource the ticket was bound to
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	Outcome    string    `json:"outcome,omitempty"` // verified | rejected | unavailable | closed …
}

// BreakGlassRecord is the on-call grant a decision relied on, or an event
// about it.
type BreakGlassRecord struct {
	ID        string    `json:"id,omitempty"` // the page or incident ID
	Reason    string    `json:"reason,omitempty"`
	GrantedAt time.Time `json:"granted_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// maxRecord bounds the encoded size of a record (its line is at most
// maxLine). A larger one — a huge path, say — is written clamped.
const maxRecord = 256 << 10

// clampRecord returns a copy of r with every string cut to 1 KiB and every
// list to 16 entries, and a Detail that says so. Escaped, what is left stays
// well under maxRecord.
func clampRecord(r *Record, size int) Record {
	const maxString, maxList = 1 << 10, 16
	cut := func(s string) string {
		if len(s) <= maxString {
			return s
		}
		i := maxString
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		return s[:i] + "…"
	}
	list := func(vs []string) []string {
		if len(vs) > maxList {
			vs = vs[:maxList]
		}
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = cut(v)
		}
		return out
	}
	c := *r
	for _, p := range []*string{&c.Kind, &c.RequestID, &c.TraceID, &c.User, &c.Subject, &c.Route, &c.Host, &c.Method,
		&c.Path, &c.SourceIP, &c.Decision, &c.DeviceID, &c.Schedule, &c.Event, &c.Transport} {
		*p = cut(*p)
	}
	if r.Reasons != nil {
		c.Reasons = list(r.Reasons)
	}
	if r.Grants != nil {
		c.Grants = list(r.Grants)
	}
	if r.MethodOverrides != nil {
		c.MethodOverrides = list(r.MethodOverrides)
	}
	if j := r.Justification; j != nil {
		cj := *j
		for _, p := range []*string{&cj.System, &cj.ID, &cj.URL, &cj.Resource, &cj.Outcome} {
			*p = cut(*p)
		}
		c.Justification = &cj
	}
	if g := r.BreakGlass; g != nil {
		cg := *g
		cg.ID, cg.Reason = cut(cg.ID), cut(cg.Reason)
		c.BreakGlass = &cg
	}
	c.Detail = fmt.Sprintf("record of %d bytes clamped (strings to %d bytes, lists to %d entries); detail: %s",
		size, maxString, maxList, cut(r.Detail))
	return c
}
