package justifytest

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/accessgateway/gateway/internal/justify"
)

// Opsgenie is a fake Opsgenie Alert API v2, "Get alert"
// (GET /v2/alerts/{identifier}?identifierType=id|tiny) and User API v2,
// "Get user" (GET /v2/users/{identifier})
// (docs.opsgenie.com/docs/alert-api, docs.opsgenie.com/docs/user-api).
// Requests must carry "Authorization: GenieKey <Key>".
type Opsgenie struct {
	*server
	Key string

	mu     sync.Mutex
	alerts map[string]OpsgenieAlert
	users  map[string]string // ID -> username (email)
}

// OpsgenieAlert is one alert of the fake.
type OpsgenieAlert struct {
	// ID is the full alert ID; TinyID the short number.
	ID, TinyID string
	// Status is open or closed.
	Status         string
	Acknowledged   bool
	AcknowledgedBy string
	Owner          string
	// Responders are user IDs (see AddUser); Teams are team IDs.
	Responders, Teams []string
	Tags              []string
	Details           map[string]string
}

// NewOpsgenie starts a fake Opsgenie; it stops when the test ends.
func NewOpsgenie(t testing.TB) *Opsgenie {
	o := &Opsgenie{Key: "og-api-key", alerts: map[string]OpsgenieAlert{}, users: map[string]string{}}
	o.server = newServer(t, http.HandlerFunc(o.serve), nil)
	return o
}

// AddUser adds a user with an ID (a UUID) and a username (an email).
func (o *Opsgenie) AddUser(id, username string) {
	o.mu.Lock()
	o.users[id] = username
	o.mu.Unlock()
}

// SetAlert adds or replaces an alert.
func (o *Opsgenie) SetAlert(a OpsgenieAlert) {
	o.mu.Lock()
	o.alerts[a.ID] = a
	o.mu.Unlock()
}

// SystemConfig returns a system of type opsgenie pointing at the fake
// (web_url is the fake's URL too).
func (o *Opsgenie) SystemConfig() justify.SystemConfig {
	return justify.SystemConfig{Type: justify.TypeOpsgenie, BaseURL: o.URL(), WebURL: o.URL(),
		Auth: justify.AuthConfig{Token: justify.Secret(o.Key)}, TLS: justify.TLSConfig{CAFile: o.CAFile()}}
}

func (o *Opsgenie) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "GenieKey "+o.Key {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Could not authenticate", "took": 0.0, "requestId": "a1"})
		return
	}
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(p) != 3 || p[0] != "v2" || r.Method != http.MethodGet {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not found", "took": 0.0, "requestId": "a2"})
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch p[1] {
	case "users":
		name, ok := o.users[p[2]]
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "No user exists with id [" + p[2] + "]", "took": 0.001, "requestId": "a3"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"id": p[2], "username": name, "fullName": "User",
			"role": map[string]any{"id": "User", "name": "User"}, "blocked": false, "verified": true}, "took": 0.001, "requestId": "a4"})
	case "alerts":
		var a OpsgenieAlert
		found := false
		switch r.URL.Query().Get("identifierType") {
		case "tiny":
			for _, x := range o.alerts {
				if x.TinyID == p[2] {
					a, found = x, true
				}
			}
		case "id", "":
			a, found = o.alerts[p[2]]
		default:
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Invalid identifierType", "took": 0.0, "requestId": "a5"})
			return
		}
		if !found {
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "Alert does not exist", "took": 0.002, "requestId": "a6"})
			return
		}
		responders := []any{}
		for _, id := range a.Teams {
			responders = append(responders, map[string]any{"id": id, "type": "team"})
		}
		for _, id := range a.Responders {
			responders = append(responders, map[string]any{"id": id, "type": "user"})
		}
		report := map[string]any{}
		if a.Acknowledged {
			report["ackTime"], report["acknowledgedBy"] = 15702, a.AcknowledgedBy
		}
		if a.Status == "closed" {
			report["closeTime"], report["closedBy"] = 60503, "neo@corp.example"
		}
		tags, details := a.Tags, a.Details
		if tags == nil {
			tags = []string{}
		}
		if details == nil {
			details = map[string]string{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
			"id": a.ID, "tinyId": a.TinyID, "alias": "event_573", "message": "Our servers are in danger",
			"status": a.Status, "acknowledged": a.Acknowledged, "isSeen": true, "tags": tags, "snoozed": false,
			"count": 79, "lastOccurredAt": "2026-11-20T14:03:14.34Z", "createdAt": "2026-11-20T10:03:14.34Z",
			"updatedAt": "2026-11-20T14:13:14.34Z", "source": "Isengard", "owner": a.Owner, "priority": "P3",
			"responders": responders, "integration": map[string]any{"id": "4513b7ea", "name": "Nebuchadnezzar", "type": "API"},
			"report": report, "actions": []string{"Restart", "Ping"}, "entity": "EC2", "description": "Example description",
			"details": details,
		}, "took": 0.006, "requestId": "a7"})
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not found", "took": 0.0, "requestId": "a8"})
	}
}
