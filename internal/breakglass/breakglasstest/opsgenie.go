package breakglasstest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Opsgenie is a fake Opsgenie REST API (https://docs.opsgenie.com/docs/api-overview):
//
//   - Who is On Call API v2: GET /v2/schedules/{identifier}/on-calls with
//     scheduleIdentifierType (id | name), flat and date (yyyy-MM-dd'T'HH:mm:ssZ);
//     flat=true lists onCallRecipients (usernames), otherwise
//     onCallParticipants ({id, name, type}).
//   - Alert API v2: GET /v2/alerts/{identifier}?identifierType=id|tiny|alias.
//   - Incident API v1: GET /v1/incidents/{identifier}?identifierType=id|tiny.
//
// Answers are wrapped as {"data": …, "took": …, "requestId": …}; errors as
// {"message": …, "took": …, "requestId": …}. Every request must carry
// Authorization: GenieKey <Key> (else 401).
type Opsgenie struct {
	*httptest.Server
	Key string

	mu        sync.Mutex
	schedules []*ogSchedule
	alerts    []Alert
	incidents []Alert
	faults
}

type ogSchedule struct {
	id, name string
	disabled bool
	shifts   []ogShift
}

type ogShift struct {
	user       string
	start, end time.Time
}

// Alert is an Opsgenie alert or incident of the fake.
type Alert struct {
	ID, TinyID, Alias, Message string
	// Status: open or closed (alerts); open, resolved or closed (incidents).
	Status string
}

// NewOpsgenie starts a fake Opsgenie that accepts key; it is closed when the
// test ends.
func NewOpsgenie(t testing.TB, key string) *Opsgenie {
	t.Helper()
	o := &Opsgenie{Key: key}
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.Close)
	return o
}

// AddSchedule adds an empty schedule.
func (o *Opsgenie) AddSchedule(id, name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.schedules = append(o.schedules, &ogSchedule{id: id, name: name})
}

// SetEnabled enables or disables the schedule (by ID or name). The fake
// still lists a disabled schedule's on-call recipients from its rotations
// (a client must not rely on Opsgenie leaving them out); _parent.enabled
// says that it is disabled.
func (o *Opsgenie) SetEnabled(schedule string, enabled bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.schedules {
		if s.id == schedule || s.name == schedule {
			s.disabled = !enabled
			return
		}
	}
	panic("breakglasstest: no schedule " + schedule)
}

// SetOnCall puts username on call in the schedule (by ID or name) from start
// to end; zero values are open.
func (o *Opsgenie) SetOnCall(schedule, username string, start, end time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.schedules {
		if s.id == schedule || s.name == schedule {
			s.shifts = append(s.shifts, ogShift{user: username, start: start, end: end})
			return
		}
	}
	panic("breakglasstest: no schedule " + schedule)
}

// ClearOnCalls empties every schedule.
func (o *Opsgenie) ClearOnCalls() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.schedules {
		s.shifts = nil
	}
}

// SetAlert adds or replaces (by ID) an alert.
func (o *Opsgenie) SetAlert(a Alert) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.alerts = slices.DeleteFunc(o.alerts, func(x Alert) bool { return x.ID == a.ID })
	o.alerts = append(o.alerts, a)
}

// SetIncident adds or replaces (by ID) an incident.
func (o *Opsgenie) SetIncident(a Alert) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.incidents = slices.DeleteFunc(o.incidents, func(x Alert) bool { return x.ID == a.ID })
	o.incidents = append(o.incidents, a)
}

func ogWrite(w http.ResponseWriter, status int, data any) {
	if status != http.StatusOK {
		writeJSON(w, status, map[string]any{"message": data, "took": 0.001, "requestId": "fake-request"})
		return
	}
	writeJSON(w, status, map[string]any{"data": data, "took": 0.002, "requestId": "fake-request"})
}

func (o *Opsgenie) serve(w http.ResponseWriter, r *http.Request) {
	if o.fault(w, r) {
		return
	}
	if r.Method != http.MethodGet {
		ogWrite(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	if r.Header.Get("Authorization") != "GenieKey "+o.Key {
		ogWrite(w, http.StatusUnauthorized, "Could not authenticate")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 4 && parts[0] == "v2" && parts[1] == "schedules" && parts[3] == "on-calls":
		o.onCalls(w, r, parts[2])
	case len(parts) == 3 && parts[0] == "v2" && parts[1] == "alerts":
		o.alert(w, r, o.alerts, parts[2], "Alert", true)
	case len(parts) == 3 && parts[0] == "v1" && parts[1] == "incidents":
		o.alert(w, r, o.incidents, parts[2], "Incident", false)
	default:
		ogWrite(w, http.StatusNotFound, "Not found")
	}
}

func (o *Opsgenie) onCalls(w http.ResponseWriter, r *http.Request, ident string) {
	q := r.URL.Query()
	typ := q.Get("scheduleIdentifierType")
	if typ == "" {
		typ = "id"
	}
	if typ != "id" && typ != "name" {
		ogWrite(w, 422, "scheduleIdentifierType must be id or name")
		return
	}
	at := time.Now()
	if d := q.Get("date"); d != "" {
		var err error
		if at, err = time.Parse(time.RFC3339, d); err != nil {
			ogWrite(w, 422, "date is invalid")
			return
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var s *ogSchedule
	for _, x := range o.schedules {
		if typ == "id" && x.id == ident || typ == "name" && x.name == ident {
			s = x
		}
	}
	if s == nil {
		ogWrite(w, http.StatusNotFound, "Schedule with identifier ["+ident+"] does not exist")
		return
	}
	var users []string
	for _, sh := range s.shifts {
		if (sh.start.IsZero() || !at.Before(sh.start)) && (sh.end.IsZero() || at.Before(sh.end)) && !slices.Contains(users, sh.user) {
			users = append(users, sh.user)
		}
	}
	data := map[string]any{"_parent": map[string]any{"id": s.id, "name": s.name, "enabled": !s.disabled}}
	if q.Get("flat") == "true" {
		data["onCallRecipients"] = append([]string{}, users...)
	} else {
		parts := []any{}
		for _, u := range users {
			parts = append(parts, map[string]any{"id": "uid-" + u, "name": u, "type": "user"})
		}
		data["onCallParticipants"] = parts
	}
	ogWrite(w, http.StatusOK, data)
}

func (o *Opsgenie) alert(w http.ResponseWriter, r *http.Request, list []Alert, ident, kind string, aliases bool) {
	typ := r.URL.Query().Get("identifierType")
	if typ == "" {
		typ = "id"
	}
	if typ != "id" && typ != "tiny" && !(aliases && typ == "alias") {
		ogWrite(w, 422, "identifierType is invalid")
		return
	}
	o.mu.Lock()
	var found *Alert
	for i, a := range list {
		if typ == "id" && a.ID == ident || typ == "tiny" && a.TinyID == ident || typ == "alias" && a.Alias == ident {
			found = &list[i]
		}
	}
	var a Alert
	if found != nil {
		a = *found
	}
	o.mu.Unlock()
	if found == nil {
		ogWrite(w, http.StatusNotFound, kind+" with id ["+ident+"] does not exist")
		return
	}
	data := map[string]any{
		"id": a.ID, "tinyId": a.TinyID, "message": a.Message, "status": a.Status,
		"createdAt": "2026-11-05T10:00:00.000Z", "tags": []string{}, "priority": "P1",
	}
	if aliases {
		data["alias"] = a.Alias
		data["acknowledged"] = false
	} else {
		data["links"] = map[string]any{
			"web": "https://acme.app.opsgenie.com/incident/detail/" + a.ID,
			"api": "https://api.opsgenie.com/v1/incidents/" + a.ID,
		}
	}
	ogWrite(w, http.StatusOK, data)
}
