package server

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/proxy"
)

// An exchange is an allowed request whose answer is still open: most end in
// milliseconds, a stream, a WebSocket or a long download may last hours.
// It ends when the access does, two ways:
//
//   - at the decision's NotAfter (the end of the session and of every
//     window and grant the decision relied on), or the earlier one a
//     re-check found: the cause is an *accessEnded (errAccessEnded);
//   - earlier, when the access is decided again (every
//     routes[].recheck_interval while the exchange is open) and the answer
//     is a denial — a sign-out, a revoked device, grant or bearer token, a
//     ticket closed, a rule tightened by a reload — or the decision cannot
//     be taken (fail closed): the cause is an *accessWithdrawn.
//
// One runtime timer per exchange does both: it fires at the next re-check
// or at NotAfter, whichever is first; an exchange shorter than the interval
// (nearly every request) costs the timer and nothing else. While a re-check
// runs, the timer is armed for NotAfter: a re-check that waits (for the
// store, a ticket system) never holds the exchange past it.
type exchange struct {
	s      *Server
	r      *http.Request // the request as allowed; only read here
	q      *request      // its state; only read here
	entry  *routeEntry   // the route the exchange was allowed on and forwarded by
	start  time.Time
	every  time.Duration
	cancel context.CancelCauseFunc
	ctx    context.Context

	mu       sync.Mutex
	t        *time.Timer
	notAfter time.Time
	final    bool      // t is armed for notAfter, not for a re-check
	due      time.Time // when t is due (a firing before it is stale: t was reset)
	done     bool      // the exchange ended, or was ended
	checking sync.WaitGroup
}

// recheckTimeout bounds one re-check (the store and the kinds' own
// timeouts are shorter).
const recheckTimeout = 10 * time.Second

// watch arms the exchange of an allowed request r decided as d; the request
// goes upstream with the context returned. stop must be called when the
// exchange ends.
func (s *Server) watch(r *http.Request, q *request, e *routeEntry, d policy.Decision) (*exchange, context.Context) {
	ctx, cancel := context.WithCancelCause(r.Context())
	every := config.DefaultRecheckInterval
	if e.cfg.RecheckInterval != nil && *e.cfg.RecheckInterval > 0 {
		every = *e.cfg.RecheckInterval
	}
	x := &q.ex // in the request's own allocation
	x.s, x.r, x.q, x.entry, x.start, x.every, x.cancel, x.ctx, x.notAfter = s, r, q, e, s.now(), every, cancel, ctx, d.NotAfter
	x.mu.Lock()
	x.arm(x.left(x.start))
	x.mu.Unlock()
	return x, ctx
}

// left is the time from now until NotAfter; without one (a public route:
// no identity, nothing that ends), as long as a timer can wait. x.mu is
// held.
func (x *exchange) left(now time.Time) time.Duration {
	if x.notAfter.IsZero() {
		return math.MaxInt64
	}
	return x.notAfter.Sub(now)
}

// arm sets the timer for the next re-check, or for NotAfter when it comes
// first (left is the time until NotAfter). x.mu is held.
func (x *exchange) arm(left time.Duration) {
	x.final = left <= x.every
	next := min(left, x.every)
	x.due = time.Now().Add(next)
	if x.t == nil {
		x.t = time.AfterFunc(next, x.fire)
		return
	}
	x.t.Reset(next)
}

// stop ends the watch when the exchange ended: no re-check starts after it,
// and one in progress is cancelled and waited for (it reads the request).
func (x *exchange) stop() {
	x.mu.Lock()
	x.done = true
	x.t.Stop()
	x.mu.Unlock()
	x.cancel(nil)
	x.checking.Wait()
}

func (x *exchange) fire() {
	x.mu.Lock()
	if x.done || time.Now().Before(x.due) {
		// Ended, or a firing of the timer that was reset meanwhile.
		x.mu.Unlock()
		return
	}
	if x.final {
		x.done = true
		end := &accessEnded{at: x.notAfter}
		x.mu.Unlock()
		x.s.metrics.ExchangesEnded.WithLabelValues(x.entry.cfg.Name, "not_after").Inc()
		x.cancel(end)
		return
	}
	// Until the re-check answers, the timer waits for NotAfter alone: it
	// ends the exchange then (and cancels the re-check) however long the
	// re-check waits.
	left := x.left(x.s.now())
	x.final, x.due = true, time.Now().Add(left)
	x.t.Reset(left)
	x.checking.Add(1)
	x.mu.Unlock()
	defer x.checking.Done()
	d, e, rec := x.recheck()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done {
		return // ended meanwhile: the re-check decided nothing that matters
	}
	x.s.audit.Log(rec)
	first := ""
	if len(d.Reasons) > 0 {
		first = string(d.Reasons[0])
	}
	x.s.countDecision(e, rec.Decision, first)
	if !d.Allow {
		x.done = true
		x.s.metrics.ExchangesEnded.WithLabelValues(x.entry.cfg.Name, "withdrawn").Inc()
		x.cancel(&accessWithdrawn{at: rec.Time, reasons: rec.Reasons})
		return
	}
	// The exchange never outlives the first decision's NotAfter (the
	// context token it carried ends then), nor a later, earlier one.
	if !d.NotAfter.IsZero() && (x.notAfter.IsZero() || d.NotAfter.Before(x.notAfter)) {
		x.notAfter = d.NotAfter
	}
	x.arm(x.left(x.s.now()))
}

// recheck decides the exchange's request again, as a new request from the
// same client would be decided now: on the configuration in force (the
// route looked up again), with the session, bearer token and evidence read
// again. It returns the decision, the route it was taken on (nil: none)
// and its audit record.
func (x *exchange) recheck() (policy.Decision, *routeEntry, audit.Record) {
	s, o := x.s, x.q
	rt := s.rt.Load()
	q := &request{rt: rt, id: o.id, path: o.path, host: o.host, traceID: o.traceID}
	// The client's address as a new request's: on the trusted_proxies in
	// force, so that a proxy no longer trusted cannot keep the exchange
	// inside a route's source_cidrs with its X-Forwarded-For, nor pass a
	// client certificate in listen.client_cert_header (x.r is only read).
	var clientErr error
	q.client.ClientIP, q.client.TrustedPeer, clientErr = proxy.ClientAddr(x.r, rt.cfg.TrustedNets())
	ctx, cancel := context.WithTimeout(x.ctx, recheckTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, reqKey{}, q)
	r := x.r.WithContext(proxy.WithForward(ctx, &q.client))
	var d policy.Decision
	entry, vars, found := rt.table.Lookup(q.host, q.path)
	if found && !sameExchangeRoute(x.entry, entry) {
		// The exchange goes on to the upstream of the route it was allowed
		// on; a reload that removed that route, or gave it another
		// upstream, leaves the path to rules that do not judge that
		// upstream (a "/" route beside it): the exchange has no route now.
		found = false
	}
	switch {
	case clientErr != nil:
		// The chain no longer yields a client on the trusted_proxies in
		// force (a hop now trusted, left of it a malformed one): a new
		// request would be refused.
		d = policy.Decision{Reasons: []policy.Reason{policy.ReasonMalformedForwardedFor}}
		if !found {
			entry = nil
		}
	case found:
		q.entry, q.vars, q.found, q.resolved = entry, vars, true, true
		d, _ = s.decideRoute(r, q, entry, vars)
		if d.Allow && entry.upstream.CheckUpgrade(x.r) != nil {
			// An upgrade the route no longer allows (a reload took the
			// protocol off its upgrades): a new one would be refused.
			d = policy.Decision{Reasons: []policy.Reason{policy.ReasonBadRequest}}
		}
	default:
		entry = nil
		d = policy.Decision{Reasons: []policy.Reason{policy.ReasonRouteNotFound}}
	}
	rec := s.decisionRecord(r, entry, d, 0)
	if rec.User == "" && rec.Subject == "" {
		// Signed out since (or the token no longer verifies): the record
		// still names whose exchange it was.
		rec.User, rec.Subject = o.user()
	}
	rec.Detail = recheckDetail + x.start.UTC().Format(time.RFC3339Nano)
	return d, entry, rec
}

// sameExchangeRoute reports whether next, the route that serves an open
// exchange's path in the configuration in force, is still the route the
// exchange was allowed on and forwarded by: the same name and upstream.
func sameExchangeRoute(was, next *routeEntry) bool {
	return was != nil && next != nil && was.cfg.Name == next.cfg.Name &&
		was.cfg.Upstream == next.cfg.Upstream && was.cfg.PreserveHost == next.cfg.PreserveHost
}

// recheckDetail begins the detail of a re-check's decision record; the
// instant the exchange was allowed follows.
const recheckDetail = "re-check of an open exchange allowed at "

// accessWithdrawn is the cause of an exchange ended by a re-check's denial.
type accessWithdrawn struct {
	at      time.Time
	reasons []string
}

func (w *accessWithdrawn) Error() string {
	return "server: a re-check of the open exchange denied it: " + strings.Join(w.reasons, ", ")
}

// responseWithdrawn begins the detail of the response record of an exchange
// a re-check ended; the instant and the reasons follow.
const responseWithdrawn = "response cut off: a re-check withdrew the access at "

// accessEnded is the cause of an exchange ended at its NotAfter: the first
// decision's, or the earlier one a re-check found.
type accessEnded struct{ at time.Time }

func (e *accessEnded) Error() string { return errAccessEnded.Error() }

// Is makes an *accessEnded errAccessEnded to errors.Is.
func (e *accessEnded) Is(target error) bool { return target == errAccessEnded }

// endedBy returns the detail of the response record of an exchange the
// gateway ended (cause is its context's cause), and whether it did.
func endedBy(cause error) (string, bool) {
	var w *accessWithdrawn
	var e *accessEnded
	switch {
	case errors.As(cause, &e):
		return responseAccessEnded + e.at.UTC().Format(time.RFC3339Nano), true
	case errors.As(cause, &w):
		return responseWithdrawn + w.at.UTC().Format(time.RFC3339Nano) + " (" + strings.Join(w.reasons, ", ") + ")", true
	}
	return "", false
}
