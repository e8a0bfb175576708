package justifytest

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/accessgateway/gateway/internal/justify"
)

// ServiceNow is a fake ServiceNow Table API, "Retrieve records from a
// table" (GET /api/now/table/{tableName} with sysparm_query=number=X,
// sysparm_fields with dot-walked names, sysparm_display_value=false,
// sysparm_limit; docs.servicenow.com REST API reference, Table API). An
// unknown number answers 200 with an empty result, as ServiceNow does.
// Requests must carry Basic User:Password.
type ServiceNow struct {
	*server
	User, Password string

	mu      sync.Mutex
	records map[string]ServiceNowRecord // table + " " + number
}

// ServiceNowRecord is one record of the fake.
type ServiceNowRecord struct {
	Table  string // incident or sn_customerservice_case
	Number string
	// State is the state value ("2" In Progress, "6" Resolved, "7" Closed).
	State  string
	Active bool
	// Fields holds the other values by (dot-walked) name, as the Table API
	// returns them: "assigned_to.email": "ana@corp.example",
	// "account.number": "ACCT0001001".
	Fields map[string]string
}

// NewServiceNow starts a fake ServiceNow; it stops when the test ends.
func NewServiceNow(t testing.TB) *ServiceNow {
	s := &ServiceNow{User: "gateway.integration", Password: "sn-password", records: map[string]ServiceNowRecord{}}
	s.server = newServer(t, http.HandlerFunc(s.serve), nil)
	return s
}

// SetRecord adds or replaces a record.
func (s *ServiceNow) SetRecord(r ServiceNowRecord) {
	s.mu.Lock()
	s.records[r.Table+" "+r.Number] = r
	s.mu.Unlock()
}

// SystemConfig returns a system of type servicenow for table pointing at
// the fake.
func (s *ServiceNow) SystemConfig(table string) justify.SystemConfig {
	return justify.SystemConfig{Type: justify.TypeServiceNow, BaseURL: s.URL(),
		Auth: justify.AuthConfig{Username: s.User, Password: justify.Secret(s.Password)},
		TLS:  justify.TLSConfig{CAFile: s.CAFile()}, ServiceNow: &justify.ServiceNowConfig{Table: table}}
}

func (s *ServiceNow) serve(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != s.User || p != s.Password {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"message": "User Not Authenticated", "detail": "Required to provide Auth information"}, "status": "failure"})
		return
	}
	table, ok := strings.CutPrefix(r.URL.Path, "/api/now/table/")
	if !ok || strings.Contains(table, "/") || r.Method != http.MethodGet {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"message": "Invalid table", "detail": ""}, "status": "failure"})
		return
	}
	q := r.URL.Query()
	number, ok := strings.CutPrefix(q.Get("sysparm_query"), "number=")
	if !ok || strings.ContainsAny(number, "^=") || q.Get("sysparm_display_value") != "false" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"message": "unsupported query in the fake", "detail": q.Get("sysparm_query")}, "status": "failure"})
		return
	}
	s.mu.Lock()
	rec, found := s.records[table+" "+number]
	s.mu.Unlock()
	result := []any{}
	if found {
		all := map[string]string{"number": rec.Number, "state": rec.State, "active": "false",
			"sys_id": "9d385017c611228701d22104cc95c371", "short_description": "Unable to connect to email"}
		if rec.Active {
			all["active"] = "true"
		}
		for k, v := range rec.Fields {
			all[k] = v
		}
		out := map[string]string{}
		for _, f := range strings.Split(q.Get("sysparm_fields"), ",") {
			// A dot-walked field that is empty on the record comes back as "".
			out[f] = all[f]
		}
		result = append(result, out)
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": result})
}
