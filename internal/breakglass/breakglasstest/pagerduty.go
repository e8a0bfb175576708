package breakglasstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// PagerDuty is a fake PagerDuty REST API v2
// (https://developer.pagerduty.com/api-reference/): GET /users (List users,
// query is a case-insensitive substring of the name or email), GET /oncalls
// (List all of the on-calls: user_ids[], escalation_policy_ids[],
// schedule_ids[], since, until, limit, offset) and GET /incidents/{id} (Get
// an incident), with the documented JSON shapes: list wrappers with limit,
// offset, more and total; reference objects {id, type, summary, self,
// html_url}; errors as {"error": {"message", "code"}}.
//
// Every request must carry Authorization: Token token=<Token> (else 401)
// and Accept: application/vnd.pagerduty+json;version=2 (else 406).
type PagerDuty struct {
	*httptest.Server
	// Token is the API key requests must present.
	Token string

	mu        sync.Mutex
	users     []pdUser
	oncalls   []OnCall
	incidents map[string]pdIncident
	faults
}

type pdUser struct{ id, name, email string }

type pdIncident struct {
	id, status, title, ep string
	number                int
}

// OnCall is one on-call entry of the fake PagerDuty.
type OnCall struct {
	UserID             string
	EscalationPolicyID string
	// ScheduleID is empty when the escalation rule targets the user directly.
	ScheduleID      string
	EscalationLevel int
	// Start and End bound the entry; a zero value is open (JSON null).
	Start, End time.Time
}

// NewPagerDuty starts a fake PagerDuty that accepts token; it is closed when
// the test ends.
func NewPagerDuty(t testing.TB, token string) *PagerDuty {
	t.Helper()
	p := &PagerDuty{Token: token, incidents: map[string]pdIncident{}}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

// AddUser adds a user.
func (p *PagerDuty) AddUser(id, name, email string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users = append(p.users, pdUser{id: id, name: name, email: email})
}

// SetUserEmail changes the address of the user with this ID (an address
// reassigned from one PagerDuty user to another).
func (p *PagerDuty) SetUserEmail(id, email string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.users {
		if p.users[i].id == id {
			p.users[i].email = email
			return
		}
	}
	panic("breakglasstest: no user " + id)
}

// SetOnCall adds an on-call entry.
func (p *PagerDuty) SetOnCall(oc OnCall) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if oc.EscalationLevel == 0 {
		oc.EscalationLevel = 1
	}
	p.oncalls = append(p.oncalls, oc)
}

// ClearOnCalls removes every on-call entry.
func (p *PagerDuty) ClearOnCalls() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.oncalls = nil
}

// SetIncident adds or replaces an incident. status is triggered,
// acknowledged or resolved (anything else is served as is); ep is its
// escalation policy ID.
func (p *PagerDuty) SetIncident(id string, number int, status, title, ep string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.incidents[id] = pdIncident{id: id, number: number, status: status, title: title, ep: ep}
}

func (p *PagerDuty) serve(w http.ResponseWriter, r *http.Request) {
	if p.fault(w, r) {
		return
	}
	if r.Method != http.MethodGet {
		pdError(w, http.StatusMethodNotAllowed, 2000, "Method Not Allowed")
		return
	}
	if r.Header.Get("Authorization") != "Token token="+p.Token {
		pdError(w, http.StatusUnauthorized, 2006, "Unauthorized")
		return
	}
	if r.Header.Get("Accept") != "application/vnd.pagerduty+json;version=2" {
		pdError(w, http.StatusNotAcceptable, 2000, "Not Acceptable")
		return
	}
	switch {
	case r.URL.Path == "/users":
		p.listUsers(w, r)
	case r.URL.Path == "/oncalls":
		p.listOnCalls(w, r)
	case strings.HasPrefix(r.URL.Path, "/incidents/") && strings.Count(r.URL.Path, "/") == 2:
		p.getIncident(w, strings.TrimPrefix(r.URL.Path, "/incidents/"))
	default:
		pdError(w, http.StatusNotFound, 2100, "Not Found")
	}
}

func pdError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "code": code}})
}

func ref(kind, id string) map[string]any {
	if id == "" {
		return nil
	}
	return map[string]any{
		"id": id, "type": kind + "_reference", "summary": kind + " " + id,
		"self":     "https://api.pagerduty.com/" + kind + "s/" + id,
		"html_url": "https://acme.pagerduty.com/" + kind + "s/" + id,
	}
}

// paging reads limit and offset (defaults 25 and 0).
func paging(r *http.Request) (limit, offset int, ok bool) {
	limit, offset = 25, 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, false
		}
		limit = min(n, 100)
	}
	if v := r.URL.Query().Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, false
		}
		offset = n
	}
	return limit, offset, true
}

func page[T any](all []T, limit, offset int) ([]T, bool) {
	if offset >= len(all) {
		return []T{}, false
	}
	end := min(offset+limit, len(all))
	return all[offset:end], end < len(all)
}

func (p *PagerDuty) listUsers(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := paging(r)
	if !ok {
		pdError(w, http.StatusBadRequest, 2001, "Invalid Input Provided")
		return
	}
	q := strings.ToLower(r.URL.Query().Get("query"))
	p.mu.Lock()
	var match []map[string]any
	for _, u := range p.users {
		if q == "" || strings.Contains(strings.ToLower(u.email), q) || strings.Contains(strings.ToLower(u.name), q) {
			match = append(match, map[string]any{
				"id": u.id, "type": "user", "name": u.name, "email": u.email, "summary": u.name,
				"self": "https://api.pagerduty.com/users/" + u.id, "html_url": "https://acme.pagerduty.com/users/" + u.id,
				"time_zone": "Europe/Berlin", "role": "user",
			})
		}
	}
	p.mu.Unlock()
	items, more := page(match, limit, offset)
	writeJSON(w, http.StatusOK, map[string]any{"users": items, "limit": limit, "offset": offset, "more": more, "total": nil})
}

func (p *PagerDuty) listOnCalls(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := paging(r)
	if !ok {
		pdError(w, http.StatusBadRequest, 2001, "Invalid Input Provided")
		return
	}
	q := r.URL.Query()
	now := time.Now()
	since, until := now, now
	if (q.Get("since") == "") != (q.Get("until") == "") {
		pdError(w, http.StatusBadRequest, 2001, "Invalid Input Provided: since and until go together")
		return
	}
	if q.Get("since") != "" {
		var err1, err2 error
		since, err1 = time.Parse(time.RFC3339, q.Get("since"))
		until, err2 = time.Parse(time.RFC3339, q.Get("until"))
		if err1 != nil || err2 != nil || until.Before(since) {
			pdError(w, http.StatusBadRequest, 2001, "Invalid Input Provided: since/until")
			return
		}
	}
	users, eps, scheds := q["user_ids[]"], q["escalation_policy_ids[]"], q["schedule_ids[]"]
	p.mu.Lock()
	var match []map[string]any
	for _, oc := range p.oncalls {
		if len(users) > 0 && !slices.Contains(users, oc.UserID) ||
			len(eps) > 0 && !slices.Contains(eps, oc.EscalationPolicyID) ||
			len(scheds) > 0 && !slices.Contains(scheds, oc.ScheduleID) {
			continue
		}
		// Overlap with [since, until].
		if !oc.End.IsZero() && !oc.End.After(since) || !oc.Start.IsZero() && oc.Start.After(until) {
			continue
		}
		var start, end any
		if !oc.Start.IsZero() {
			start = oc.Start.UTC().Format(time.RFC3339)
		}
		if !oc.End.IsZero() {
			end = oc.End.UTC().Format(time.RFC3339)
		}
		match = append(match, map[string]any{
			"escalation_policy": ref("escalation_policy", oc.EscalationPolicyID),
			"escalation_level":  oc.EscalationLevel,
			"schedule":          ref("schedule", oc.ScheduleID),
			"user":              ref("user", oc.UserID),
			"start":             start,
			"end":               end,
		})
	}
	p.mu.Unlock()
	items, more := page(match, limit, offset)
	writeJSON(w, http.StatusOK, map[string]any{"oncalls": items, "limit": limit, "offset": offset, "more": more, "total": nil})
}

func (p *PagerDuty) getIncident(w http.ResponseWriter, id string) {
	p.mu.Lock()
	inc, ok := p.incidents[id]
	if !ok {
		// The API also accepts the incident number.
		for _, i := range p.incidents {
			if strconv.Itoa(i.number) == id {
				inc, ok = i, true
			}
		}
	}
	p.mu.Unlock()
	if !ok {
		pdError(w, http.StatusNotFound, 2100, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"incident": map[string]any{
		"id": inc.id, "type": "incident", "summary": fmt.Sprintf("[#%d] %s", inc.number, inc.title),
		"self": "https://api.pagerduty.com/incidents/" + inc.id, "html_url": "https://acme.pagerduty.com/incidents/" + inc.id,
		"incident_number": inc.number, "title": inc.title, "status": inc.status, "urgency": "high",
		"created_at": "2026-11-05T10:00:00Z", "escalation_policy": ref("escalation_policy", inc.ep),
		"service": ref("service", "PSVC001"),
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
