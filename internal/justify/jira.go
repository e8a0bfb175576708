package justify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// jira looks issues up with the Jira REST API:
//
//   - Jira Cloud platform REST API v3, "Get issue":
//     GET /rest/api/3/issue/{issueIdOrKey}?fields=... and "Get issue
//     watchers": GET /rest/api/3/issue/{issueIdOrKey}/watchers
//     (developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/,
//     .../api-group-issue-watchers/). Basic auth with the account's email
//     and an API token.
//   - Jira Data Center / Server REST API v2, the same paths under
//     /rest/api/2 (docs.atlassian.com/software/jira/docs/api/REST/9.12.0/),
//     with a personal access token as Bearer.
//
// Closed: the status category's key is "done" (whatever the resolution
// says), or a resolution is set. Involved: the emailAddress of the
// configured roles; Jira Cloud leaves emailAddress out for users whose
// profile hides it, and those users count as not involved.
type jira struct {
	api         string // "3" or "2"
	cfg         JiraConfig
	web         string
	fieldsParam string
}

func newJira(sc SystemConfig) *jira {
	j := &jira{api: "3", cfg: *sc.Jira, web: strings.TrimSuffix(sc.WebURL, "/")}
	if j.cfg.API == JiraDataCenterV2 {
		j.api = "2"
	}
	fields := []string{"status", "resolution"}
	for _, r := range j.cfg.Involved {
		switch r {
		case "assignee", "reporter":
			fields = append(fields, r)
		case "participants":
			fields = append(fields, j.cfg.ParticipantsField)
		}
	}
	if j.cfg.CustomerField != "" {
		fields = append(fields, j.cfg.CustomerField)
	}
	if j.cfg.CustomerLabelPrefix != "" {
		fields = append(fields, "labels")
	}
	j.fieldsParam = strings.Join(fields, ",")
	return j
}

// jiraKey is an issue key: project key (a letter, then letters, digits or
// '_'), '-', the issue number without leading zeros.
var jiraKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,254}-[1-9][0-9]{0,17}$`)

func (j *jira) normalize(id string) (string, bool) {
	id = strings.ToUpper(id)
	return id, jiraKey.MatchString(id)
}

func (j *jira) syntax() string { return "a Jira issue key such as SUP-123" }

func (j *jira) browse(id string) string { return j.web + "/browse/" + id }

func (j *jira) perQuery() bool { return false }

// fromURL accepts /browse/KEY, /projects/P/issues/KEY and Jira Service
// Management portal links /servicedesk/customer/portal/N/KEY.
func (j *jira) fromURL(path string, _ url.Values) (string, bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == "browse":
		return parts[1], true
	case len(parts) == 4 && parts[0] == "projects" && parts[2] == "issues":
		return parts[3], true
	case len(parts) == 5 && parts[0] == "servicedesk" && parts[1] == "customer" && parts[2] == "portal":
		return parts[4], true
	}
	return "", false
}

func (j *jira) fetch(ctx context.Context, c *client, id string, _ Query) (Ticket, error) {
	q := url.Values{"fields": {j.fieldsParam}}
	var raw json.RawMessage
	if err := c.getJSON(ctx, "/rest/api/"+j.api+"/issue/"+url.PathEscape(id), q, bearer, nil, c.now(), &raw); err != nil {
		return Ticket{}, err
	}
	t, err := decodeJiraIssue(raw, &j.cfg)
	if err != nil {
		return Ticket{}, c.unavailable("unreadable issue", err)
	}
	if t.ID != id {
		// The key was moved to another project (Jira answers for old keys).
		// The new key may not be one this system accepts: ask for it.
		return Ticket{}, fmt.Errorf("%w: %s moved to %s", ErrNotFound, id, t.ID)
	}
	if contains(j.cfg.Involved, "watchers") {
		var w json.RawMessage
		if err := c.getJSON(ctx, "/rest/api/"+j.api+"/issue/"+url.PathEscape(id)+"/watchers", nil, bearer, nil, c.now(), &w); err != nil {
			if errors.Is(err, ErrNotFound) {
				// The issue exists: its watchers must too. Fail closed.
				return Ticket{}, c.unavailable("watchers not found", nil)
			}
			return Ticket{}, err
		}
		emails, err := decodeJiraWatchers(w)
		if err != nil {
			return Ticket{}, c.unavailable("unreadable watchers", err)
		}
		t.Involved = appendUnique(t.Involved, emails...)
	}
	t.URL = j.browse(id)
	return t, nil
}

type jiraUser struct {
	EmailAddress string `json:"emailAddress"`
}

type jiraIssue struct {
	Key    string                     `json:"key"`
	Fields map[string]json.RawMessage `json:"fields"`
}

type jiraStatus struct {
	Name           string `json:"name"`
	StatusCategory *struct {
		Key string `json:"key"`
	} `json:"statusCategory"`
}

// decodeJiraIssue reads a "Get issue" answer (v2 and v3 have the same shape
// for the fields used).
func decodeJiraIssue(b []byte, cfg *JiraConfig) (Ticket, error) {
	var is jiraIssue
	if err := decodeJSON(b, &is, false); err != nil {
		return Ticket{}, err
	}
	key := strings.ToUpper(is.Key)
	if !jiraKey.MatchString(key) {
		return Ticket{}, fmt.Errorf("expected an issue key, got %q", truncate(is.Key))
	}
	if is.Fields == nil {
		return Ticket{}, errors.New("expected fields, got none")
	}
	var st jiraStatus
	if err := decodeField(is.Fields, "status", &st); err != nil {
		return Ticket{}, err
	}
	if st.StatusCategory == nil || st.StatusCategory.Key == "" {
		return Ticket{}, errors.New("expected fields.status.statusCategory.key, got none")
	}
	t := Ticket{ID: key, Status: st.Name}
	resolved := false
	if r, ok := is.Fields["resolution"]; ok && string(r) != "null" {
		var res struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(r, &res); err != nil {
			return Ticket{}, fmt.Errorf("expected fields.resolution as an object, got %s", jsonErr(err))
		}
		resolved = true
	}
	t.Open = st.StatusCategory.Key != "done" && !resolved
	for _, role := range cfg.Involved {
		switch role {
		case "assignee", "reporter":
			var u *jiraUser
			if err := decodeField(is.Fields, role, &u); err != nil {
				return Ticket{}, err
			}
			if u != nil {
				t.Involved = appendUnique(t.Involved, emailOrEmpty(u.EmailAddress))
			}
		case "participants":
			var us []jiraUser
			if err := decodeField(is.Fields, cfg.ParticipantsField, &us); err != nil {
				return Ticket{}, err
			}
			for _, u := range us {
				t.Involved = appendUnique(t.Involved, emailOrEmpty(u.EmailAddress))
			}
		}
	}
	if cfg.CustomerField != "" {
		if raw, ok := is.Fields[cfg.CustomerField]; ok {
			vals, err := fieldValues(raw)
			if err != nil {
				return Ticket{}, fmt.Errorf("fields.%s: %w", cfg.CustomerField, err)
			}
			t.Resources = vals
		}
	}
	if cfg.CustomerLabelPrefix != "" {
		var labels []string
		if err := decodeField(is.Fields, "labels", &labels); err != nil {
			return Ticket{}, err
		}
		t.Resources = labelResources(labels, cfg.CustomerLabelPrefix)
	}
	return t, nil
}

// decodeJiraWatchers reads a "Get issue watchers" answer.
func decodeJiraWatchers(b []byte) ([]string, error) {
	var w struct {
		Watchers *[]jiraUser `json:"watchers"`
	}
	if err := decodeJSON(b, &w, false); err != nil {
		return nil, err
	}
	if w.Watchers == nil {
		return nil, errors.New("expected watchers, got none")
	}
	var out []string
	for _, u := range *w.Watchers {
		out = appendUnique(out, emailOrEmpty(u.EmailAddress))
	}
	return out, nil
}

// decodeField decodes fields[name] into out; a missing field or null leaves
// out as it is.
func decodeField(fields map[string]json.RawMessage, name string, out any) error {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("fields.%s: expected the documented shape, got %s", name, jsonErr(err))
	}
	return nil
}

// fieldValues reads a custom field that names customers: a string, a
// number, an option or organization object ({"value": ...} or
// {"name": ...}, a cascading select's parent value), or an array of those.
func fieldValues(raw json.RawMessage) ([]string, error) {
	var v any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("expected JSON, got %s", jsonErr(err))
	}
	var out []string
	var one func(v any, top bool) error
	one = func(v any, top bool) error {
		switch x := v.(type) {
		case nil:
			return nil
		case string:
			out = appendUnique(out, strings.TrimSpace(x))
		case json.Number:
			out = appendUnique(out, numberText(x))
		case map[string]any:
			for _, k := range []string{"value", "name"} {
				if s, ok := x[k].(string); ok {
					out = appendUnique(out, strings.TrimSpace(s))
					return nil
				}
			}
			return errors.New("expected an option with a value or a name, got an object without either")
		case []any:
			if !top {
				return errors.New("expected a flat list, got nested lists")
			}
			for _, e := range x {
				if err := one(e, false); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("expected text, a number, an option or a list, got %T", v)
		}
		return nil
	}
	return out, one(v, true)
}

// numberText is a JSON number as a customer ID: an integral value in its
// integer form (Jira sends number fields as doubles, 42.0, for customer
// 42), anything else as written. Exponents beyond ±40 stay as written (no
// 10^400-digit strings).
func numberText(n json.Number) string {
	s := n.String()
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		if e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+")); err != nil || e > 40 || e < -40 {
			return s
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || !r.IsInt() {
		return s
	}
	return r.Num().String()
}

func labelResources(labels []string, prefix string) []string {
	var out []string
	for _, l := range labels {
		if rest, ok := strings.CutPrefix(l, prefix); ok && rest != "" {
			out = appendUnique(out, rest)
		}
	}
	return out
}

// emailOrEmpty normalizes an address; an invalid one is dropped ("").
func emailOrEmpty(s string) string {
	if s == "" {
		return ""
	}
	e, err := normalizeEmail(s)
	if err != nil {
		return ""
	}
	return e
}

// appendUnique appends the non-empty values not yet in list.
func appendUnique(list []string, vals ...string) []string {
	for _, v := range vals {
		if v != "" && !contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
