package justifytest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/accessgateway/gateway/internal/justify"
)

// Jira is a fake Jira speaking the Jira Cloud platform REST API v3 ("Get
// issue" GET /rest/api/3/issue/{issueIdOrKey}, "Get issue watchers"
// GET /rest/api/3/issue/{issueIdOrKey}/watchers;
// developer.atlassian.com/cloud/jira/platform/rest/v3/) and the Jira Data
// Center REST API v2 (the same paths under /rest/api/2;
// docs.atlassian.com/software/jira/docs/api/REST/9.12.0/). Cloud requests
// must carry Basic email:API-token, Data Center ones Bearer PAT. Only the
// fields asked for with ?fields= are returned, as Jira does.
type Jira struct {
	*server
	// Email and APIToken are the Cloud credentials the fake accepts; PAT is
	// the Data Center token.
	Email, APIToken, PAT string

	mu     sync.Mutex
	issues map[string]JiraIssue
}

// JiraIssue is one issue of the fake.
type JiraIssue struct {
	Key string
	// Status is the status name ("In Progress"); Category its status
	// category key: new, indeterminate or done.
	Status, Category string
	// Resolution is the resolution name; "" is null (unresolved).
	Resolution string
	// Assignee and Reporter are email addresses ("": null). HideEmails
	// leaves emailAddress out of every user, as Jira Cloud does for
	// profiles with a private email.
	Assignee, Reporter string
	HideEmails         bool
	Watchers           []string
	Labels             []string
	// Fields are custom fields as JSON values: "customfield_10050":
	// "acme", map[string]any{"value": "acme"}, []any{...}.
	Fields map[string]any
	// MovedTo answers for Key with the issue under another key.
	MovedTo string
}

// NewJira starts a fake Jira; it stops when the test ends.
func NewJira(t testing.TB) *Jira {
	j := &Jira{Email: "gateway@corp.example", APIToken: "jira-api-token", PAT: "jira-pat", issues: map[string]JiraIssue{}}
	j.server = newServer(t, http.HandlerFunc(j.serve), nil)
	return j
}

// SetIssue adds or replaces an issue.
func (j *Jira) SetIssue(is JiraIssue) {
	j.mu.Lock()
	j.issues[is.Key] = is
	j.mu.Unlock()
}

// SystemConfig returns a system of type jira pointing at the fake, with
// the api given (justify.JiraCloudV3 or justify.JiraDataCenterV2).
func (j *Jira) SystemConfig(api string) justify.SystemConfig {
	sc := justify.SystemConfig{Type: justify.TypeJira, BaseURL: j.URL(),
		TLS: justify.TLSConfig{CAFile: j.CAFile()}, Jira: &justify.JiraConfig{API: api}}
	if api == justify.JiraDataCenterV2 {
		sc.Auth.Token = justify.Secret(j.PAT)
	} else {
		sc.Auth = justify.AuthConfig{Username: j.Email, Password: justify.Secret(j.APIToken)}
	}
	return sc
}

func (j *Jira) serve(w http.ResponseWriter, r *http.Request) {
	var v string
	var rest string
	switch {
	case strings.HasPrefix(r.URL.Path, "/rest/api/3/issue/"):
		v, rest = "3", strings.TrimPrefix(r.URL.Path, "/rest/api/3/issue/")
	case strings.HasPrefix(r.URL.Path, "/rest/api/2/issue/"):
		v, rest = "2", strings.TrimPrefix(r.URL.Path, "/rest/api/2/issue/")
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"errorMessages": []string{"not found"}})
		return
	}
	want := "Bearer " + j.PAT
	if v == "3" {
		want = "Basic " + base64.StdEncoding.EncodeToString([]byte(j.Email+":"+j.APIToken))
	}
	if r.Header.Get("Authorization") != want {
		// Jira answers 401 with a plain message for bad credentials.
		writeJSON(w, http.StatusUnauthorized, map[string]any{"errorMessages": []string{"You are not authenticated. Authentication required to perform this operation."}, "errors": map[string]any{}})
		return
	}
	key, sub, _ := strings.Cut(rest, "/")
	j.mu.Lock()
	is, ok := j.issues[strings.ToUpper(key)]
	j.mu.Unlock()
	if ok && is.MovedTo != "" {
		moved := is
		moved.Key = is.MovedTo
		is = moved
	}
	if !ok || r.Method != http.MethodGet {
		writeJSON(w, http.StatusNotFound, map[string]any{"errorMessages": []string{"Issue does not exist or you do not have permission to see it."}, "errors": map[string]any{}})
		return
	}
	base := j.URL() + "/rest/api/" + v
	switch sub {
	case "":
		writeJSON(w, http.StatusOK, j.issueJSON(is, v, base, r.URL.Query().Get("fields")))
	case "watchers":
		ws := []any{}
		for _, e := range is.Watchers {
			ws = append(ws, j.user(e, v, base, is.HideEmails))
		}
		writeJSON(w, http.StatusOK, map[string]any{"self": base + "/issue/" + is.Key + "/watchers",
			"isWatching": false, "watchCount": len(ws), "watchers": ws})
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"errorMessages": []string{"not found"}})
	}
}

func (j *Jira) user(email, v, base string, hide bool) any {
	if email == "" {
		return nil
	}
	local, _, _ := strings.Cut(email, "@")
	u := map[string]any{"displayName": local, "active": true, "timeZone": "Europe/Berlin"}
	if v == "3" {
		id := fmt.Sprintf("5b10ac8d82e05b22cc7d%04x", len(email))
		u["self"], u["accountId"], u["accountType"] = base+"/user?accountId="+id, id, "atlassian"
	} else {
		u["self"], u["name"], u["key"] = base+"/user?username="+local, local, "JIRAUSER"+fmt.Sprint(len(local))
	}
	if !hide {
		u["emailAddress"] = email
	}
	return u
}

var categoryIDs = map[string]int{"undefined": 1, "new": 2, "done": 3, "indeterminate": 4}

func (j *Jira) issueJSON(is JiraIssue, v, base, fieldsParam string) map[string]any {
	status := map[string]any{
		"self": base + "/status/3", "description": "", "name": is.Status, "id": "3",
		"statusCategory": map[string]any{"self": base + "/statuscategory/" + fmt.Sprint(categoryIDs[is.Category]),
			"id": categoryIDs[is.Category], "key": is.Category, "colorName": "blue-gray", "name": is.Category},
	}
	var resolution any
	if is.Resolution != "" {
		resolution = map[string]any{"self": base + "/resolution/10000", "id": "10000", "description": "", "name": is.Resolution}
	}
	labels := is.Labels
	if labels == nil {
		labels = []string{}
	}
	all := map[string]any{
		"status": status, "resolution": resolution, "labels": labels,
		"assignee": j.user(is.Assignee, v, base, is.HideEmails), "reporter": j.user(is.Reporter, v, base, is.HideEmails),
		"summary": "Customer cannot log in", "issuetype": map[string]any{"name": "Support"},
		"watches": map[string]any{"self": base + "/issue/" + is.Key + "/watchers", "watchCount": len(is.Watchers), "isWatching": false},
	}
	for k, val := range is.Fields {
		all[k] = val
	}
	fields := all
	if fieldsParam != "" && fieldsParam != "*all" {
		fields = map[string]any{}
		for _, f := range strings.Split(fieldsParam, ",") {
			if val, ok := all[f]; ok {
				fields[f] = val
			}
		}
	}
	return map[string]any{"expand": "renderedFields,names,schema,operations", "id": "10001",
		"self": base + "/issue/10001", "key": is.Key, "fields": fields}
}
