// Package audit is the gateway's audit log: one JSON line per decision,
// response and event, hash-chained and periodically signed, so that an
// allowed request is never forwarded unrecorded and a changed, deleted,
// inserted or reordered record is found by `gateway audit verify`.
//
// Write before forward: the request path calls Commit for the decision
// record of an allowed request and forwards only when it returns nil (any
// error: deny with 503). Records that need not hold a request (the response
// record, session and device events) go through Log, which never blocks.
//
//	al, err := audit.OpenOptions(audit.Options{File: "/var/log/gateway/audit.jsonl", Signer: key, KeyID: kid})
//	...
//	if err := al.Commit(r.Context(), rec); err != nil {
//		// the audit log cannot be written: 503, do not forward
//	}
//	... proxy ...
//	al.Log(audit.Record{Kind: audit.KindResponse, RequestID: id, Status: 200, Bytes: n, DurationMS: ms})
//
// One writer goroutine owns the file. Commit queues its record and waits on
// the completion it shares with every record queued during the write in
// flight (group commit: one write call for all of them). When the file
// cannot be written, Commit fails at once, Log buffers (bounded; overflow
// goes to the operational log, counted), and the writer reopens the file
// with backoff until a write succeeds, cutting off any partial write first;
// then a "recovered" checkpoint records what the outage cost. Healthy and
// Stats feed /readyz and metrics.
//
// The chain: each record carries Seq, the Hash of the record before it
// (Prev) and its own Hash, the SHA-256 of its line up to the `,"hash":`
// member. Checkpoints (after at most N records, even within one write, or
// after T seconds; at start, rotation, reopen, recovery and close) are
// signed with the gateway's key as a JWS with a detached payload, and each
// states N in its detail ("checkpoint_every N"). Verifier (and VerifyFiles)
// checks files in the order given (ChainOrder sorts them by their first
// record's seq, as `gateway audit verify` does) and, with the keys, that no more than the stated N
// records follow a checkpoint; KeySet loads the public keys from a JWKS
// (file or URL) or PEM. The chain must start at seq 1, or hold or continue
// an Anchor known from an earlier verification (Verifier.After): files
// whose oldest ones were deleted fail unless Verifier.AllowPartial accepts
// them. The exact format is in docs/audit.md.
//
// Not checked: records cut from the end of the newest file, back to any
// record (an earlier run's close checkpoint included; the next start then
// continues and signs from the cut) — only a copy kept elsewhere, such as
// the Redis stream sink, shows that; with the public keys, a consistent
// rewrite of the last N records or fewer, those after the last checkpoint;
// without them, a file rewritten consistently from any record on.
package audit
