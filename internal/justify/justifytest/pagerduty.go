package justifytest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/accessgateway/gateway/internal/justify"
)

// PagerDuty is a fake PagerDuty REST API v2: "Get an incident"
// (GET /incidents/{id}, by ID or incident number, honouring
// include[]=assignees and include[]=acknowledgers) and "Get a user"
// (GET /users/{id}) (developer.pagerduty.com/api-reference/). Requests
// must carry "Authorization: Token token=<Token>" and
// "Accept: application/vnd.pagerduty+json;version=2".
type PagerDuty struct {
	*server
	Token string
	// NoInclude ignores include[], answering user references only (the
	// client must then read each user).
	NoInclude bool

	mu        sync.Mutex
	incidents map[string]PagerDutyIncident
	users     map[string]string // ID -> email
}

// PagerDutyIncident is one incident of the fake.
type PagerDutyIncident struct {
	ID     string
	Number int
	// Status is triggered, acknowledged or resolved.
	Status string
	// Assignees and Acknowledgers are user IDs (see AddUser).
	Assignees, Acknowledgers []string
}

// NewPagerDuty starts a fake PagerDuty; it stops when the test ends.
func NewPagerDuty(t testing.TB) *PagerDuty {
	p := &PagerDuty{Token: "pd-api-key", incidents: map[string]PagerDutyIncident{}, users: map[string]string{}}
	p.server = newServer(t, http.HandlerFunc(p.serve), nil)
	return p
}

// AddUser adds a user with an ID (such as PXPGF42) and an email.
func (p *PagerDuty) AddUser(id, email string) {
	p.mu.Lock()
	p.users[id] = email
	p.mu.Unlock()
}

// SetIncident adds or replaces an incident.
func (p *PagerDuty) SetIncident(in PagerDutyIncident) {
	p.mu.Lock()
	p.incidents[in.ID] = in
	p.mu.Unlock()
}

// SystemConfig returns a system of type pagerduty pointing at the fake
// (web_url is the fake's URL too).
func (p *PagerDuty) SystemConfig() justify.SystemConfig {
	return justify.SystemConfig{Type: justify.TypePagerDuty, BaseURL: p.URL(), WebURL: p.URL(),
		Auth: justify.AuthConfig{Token: justify.Secret(p.Token)}, TLS: justify.TLSConfig{CAFile: p.CAFile()}}
}

func (p *PagerDuty) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Token token="+p.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"message": "Unauthorized", "code": 2006}})
		return
	}
	if r.Header.Get("Accept") != "application/vnd.pagerduty+json;version=2" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"message": "Invalid Input Provided", "code": 2001}})
		return
	}
	notFound := map[string]any{"error": map[string]any{"message": "Not Found", "code": 2100}}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 2 || r.Method != http.MethodGet {
		writeJSON(w, http.StatusNotFound, notFound)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch parts[0] {
	case "users":
		email, ok := p.users[parts[1]]
		if !ok {
			writeJSON(w, http.StatusNotFound, notFound)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"user": p.fullUser(parts[1], email)})
	case "incidents":
		in, ok := p.incidents[parts[1]]
		if !ok {
			for _, x := range p.incidents {
				if strconv.Itoa(x.Number) == parts[1] {
					in, ok = x, true
				}
			}
		}
		if !ok {
			writeJSON(w, http.StatusNotFound, notFound)
			return
		}
		include := r.URL.Query()["include[]"]
		ref := func(id string, expand bool) map[string]any {
			if email, ok := p.users[id]; ok && expand && !p.NoInclude {
				return p.fullUser(id, email)
			}
			return map[string]any{"id": id, "type": "user_reference", "summary": "User " + id,
				"self": p.URL() + "/users/" + id, "html_url": p.URL() + "/users/" + id}
		}
		assignments := []any{}
		acks := []any{}
		if in.Status != "resolved" {
			for _, id := range in.Assignees {
				assignments = append(assignments, map[string]any{"at": "2026-11-10T00:31:52Z", "assignee": ref(id, slices.Contains(include, "assignees"))})
			}
		}
		if in.Status == "acknowledged" {
			for _, id := range in.Acknowledgers {
				acks = append(acks, map[string]any{"at": "2026-11-10T00:35:00Z", "acknowledger": ref(id, slices.Contains(include, "acknowledgers"))})
			}
		}
		var resolvedAt any
		if in.Status == "resolved" {
			resolvedAt = "2026-11-10T01:00:00Z"
		}
		writeJSON(w, http.StatusOK, map[string]any{"incident": map[string]any{
			"id": in.ID, "type": "incident", "summary": "[#" + strconv.Itoa(in.Number) + "] The server is on fire.",
			"self": p.URL() + "/incidents/" + in.ID, "html_url": p.URL() + "/incidents/" + in.ID,
			"incident_number": in.Number, "title": "The server is on fire.", "created_at": "2026-11-10T00:30:42Z",
			"updated_at": "2026-11-10T00:40:23Z", "status": in.Status, "incident_key": "baf7cf21b1da41b4b0221008339ff357",
			"service":     map[string]any{"id": "PIJ90N7", "type": "service_reference", "summary": "My Mail Service"},
			"assignments": assignments, "acknowledgements": acks, "assigned_via": "escalation_policy",
			"last_status_change_at": "2026-11-10T00:38:23Z", "resolved_at": resolvedAt, "urgency": "high",
		}})
	default:
		writeJSON(w, http.StatusNotFound, notFound)
	}
}

func (p *PagerDuty) fullUser(id, email string) map[string]any {
	return map[string]any{"id": id, "type": "user", "summary": "User " + id, "name": "User " + id,
		"email": email, "time_zone": "America/Lima", "role": "responder",
		"self": p.URL() + "/users/" + id, "html_url": p.URL() + "/users/" + id}
}
