package justify_test

import (
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/justify"
	"github.com/accessgateway/gateway/internal/justify/justifytest"
	"github.com/accessgateway/gateway/internal/policy"
)

const (
	ana = "ana@corp.example"
	bob = "bob@corp.example"
)

type jiraCase struct {
	name     string
	issue    justifytest.JiraIssue
	cfg      func(*justify.JiraConfig)
	input    string
	user     string
	resource string
	want     policy.Reason
}

func (c jiraCase) run(t *testing.T, api string) {
	jira := justifytest.NewJira(t)
	jira.SetIssue(c.issue)
	sc := jira.SystemConfig(api)
	if c.cfg != nil {
		c.cfg(sc.Jira)
	}
	v := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sc})
	input := c.input
	if input == "" {
		input = c.issue.Key
	}
	user := c.user
	if user == "" {
		user = ana
	}
	tk, err := lookup(t, v, input, justify.Query{User: user, Resource: c.resource})
	if got := verdict(tk, err, user, c.resource); got != c.want {
		t.Fatalf("expected %q, got %q (ticket %+v, err %v)", c.want, got, tk, err)
	}
	if err == nil && tk.URL != jira.URL()+"/browse/"+c.issue.Key {
		t.Errorf("expected browse URL, got %q", tk.URL)
	}
}

func inProgress(key string) justifytest.JiraIssue {
	return justifytest.JiraIssue{Key: key, Status: "In Progress", Category: "indeterminate", Assignee: ana, Reporter: bob}
}

func with(is justifytest.JiraIssue, f func(*justifytest.JiraIssue)) justifytest.JiraIssue {
	f(&is)
	return is
}

func customerField(f *justify.JiraConfig) { f.CustomerField = "customfield_10050" }

func TestJira(t *testing.T) {
	cases := []jiraCase{
		{name: "open and assigned", issue: inProgress("SUP-1")},
		{name: "lower-case input", issue: inProgress("SUP-1"), input: " sup-1 "},
		{name: "not found", issue: inProgress("SUP-1"), input: "SUP-2", want: justify.ReasonNotFound},
		{name: "done but unresolved is closed", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Status, i.Category = "Done", "done"
		}), want: justify.ReasonClosed},
		{name: "resolved while not done is closed", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Resolution = "Won't Do"
		}), want: justify.ReasonClosed},
		{name: "to do is open", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Status, i.Category = "To Do", "new"
		})},
		{name: "not assigned", issue: inProgress("SUP-1"), user: bob, want: justify.ReasonNotAssigned},
		{name: "unassigned", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) { i.Assignee = "" }),
			want: justify.ReasonNotAssigned},
		{name: "reporter when configured", issue: inProgress("SUP-1"), user: bob,
			cfg: func(j *justify.JiraConfig) { j.Involved = []string{"assignee", "reporter"} }},
		{name: "watcher when configured", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Watchers = []string{"cy@corp.example"}
		}), user: "cy@corp.example", cfg: func(j *justify.JiraConfig) { j.Involved = []string{"assignee", "watchers"} }},
		{name: "watcher not configured", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Watchers = []string{"cy@corp.example"}
		}), user: "cy@corp.example", want: justify.ReasonNotAssigned},
		{name: "request participant", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Fields = map[string]any{"customfield_10026": []any{map[string]any{"accountId": "x", "emailAddress": "Dee@Corp.example"}}}
		}), user: "dee@corp.example", cfg: func(j *justify.JiraConfig) {
			j.Involved, j.ParticipantsField = []string{"participants"}, "customfield_10026"
		}},
		{name: "hidden email counts as not involved", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.HideEmails = true
		}), want: justify.ReasonNotAssigned},
		{name: "customer text field match", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Fields = map[string]any{"customfield_10050": " acme "}
		}), cfg: customerField, resource: "acme"},
		{name: "customer text field of another case", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Fields = map[string]any{"customfield_10050": "acme"}
		}), cfg: customerField, resource: "ACME", want: justify.ReasonResourceMismatch},
		{name: "customer text field mismatch", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Fields = map[string]any{"customfield_10050": "acme"}
		}), cfg: customerField, resource: "globex", want: justify.ReasonResourceMismatch},
		{name: "customer number field", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Fields = map[string]any{"customfield_10050": 42}
		}), cfg: customerField, resource: "42"},
		{name: "customer select option match", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Fields = map[string]any{"customfield_10050": map[string]any{"self": "x", "value": "42", "id": "10001"}}
		}), cfg: customerField, resource: "42"},
		{name: "customer select option mismatch", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Fields = map[string]any{"customfield_10050": map[string]any{"value": "42", "id": "10001"}}
		}), cfg: customerField, resource: "43", want: justify.ReasonResourceMismatch},
		{name: "customer multi-select match", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Fields = map[string]any{"customfield_10050": []any{map[string]any{"value": "41"}, map[string]any{"value": "42"}}}
		}), cfg: customerField, resource: "42"},
		{name: "customer array of text mismatch", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Fields = map[string]any{"customfield_10050": []any{"41", "44"}}
		}), cfg: customerField, resource: "42", want: justify.ReasonResourceMismatch},
		{name: "customer organizations field", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Fields = map[string]any{"customfield_10050": []any{map[string]any{"id": "1", "name": "Acme"}}}
		}), cfg: customerField, resource: "Acme"},
		{name: "customer field empty", issue: inProgress("SUP-1"), cfg: customerField, resource: "42",
			want: justify.ReasonResourceMismatch},
		{name: "customer field of an unexpected shape", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Fields = map[string]any{"customfield_10050": true}
		}), cfg: customerField, resource: "42", want: justify.ReasonUnavailable},
		{name: "customer label match", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Labels = []string{"vip", "customer-42"}
		}), cfg: func(j *justify.JiraConfig) { j.CustomerLabelPrefix = "customer-" }, resource: "42"},
		{name: "customer label mismatch", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.Labels = []string{"customer-421", "42"}
		}), cfg: func(j *justify.JiraConfig) { j.CustomerLabelPrefix = "customer-" }, resource: "42",
			want: justify.ReasonResourceMismatch},
		{name: "no resource bound ignores customers", issue: inProgress("SUP-1"), cfg: customerField},
		{name: "moved issue is not found under its old key", issue: with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) {
			i.MovedTo = "SEC-9"
		}), want: justify.ReasonNotFound},
	}
	for _, api := range []string{justify.JiraCloudV3, justify.JiraDataCenterV2} {
		for _, c := range cases {
			t.Run(api+"/"+c.name, func(t *testing.T) { c.run(t, api) })
		}
	}
}

func TestJiraBadCredentials(t *testing.T) {
	jira := justifytest.NewJira(t)
	jira.SetIssue(inProgress("SUP-1"))
	sc := jira.SystemConfig(justify.JiraCloudV3)
	sc.Auth.Password = "wrong"
	v := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sc})
	_, err := lookup(t, v, "SUP-1", justify.Query{User: ana})
	if u := wantUnavailable(t, err); u.Cause != "credentials refused (401)" {
		t.Fatalf("expected credentials refused (401), got %q", u.Cause)
	}
}

// A ticket reassigned after a first lookup: the cached answer holds for the
// TTL, the next lookup after it sees the change.
func TestJiraReassignedAfterFirstLookup(t *testing.T) {
	clk := newClock()
	jira := justifytest.NewJira(t)
	jira.SetIssue(inProgress("SUP-1"))
	sc := jira.SystemConfig(justify.JiraCloudV3)
	sc.Cache.TTL = time.Minute
	v := newVerifier(t, clk, map[string]justify.SystemConfig{"s": sc})
	q := justify.Query{User: ana}

	tk, err := lookup(t, v, "SUP-1", q)
	if got := verdict(tk, err, ana, ""); got != "" || tk.Cached {
		t.Fatalf("first lookup: expected allowed and not cached, got %q cached=%v", got, tk.Cached)
	}
	jira.SetIssue(with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) { i.Assignee = bob }))
	clk.Advance(59 * time.Second)
	tk, err = lookup(t, v, "SUP-1", q)
	if got := verdict(tk, err, ana, ""); got != "" || !tk.Cached || jira.Requests() != 1 {
		t.Fatalf("within TTL: expected the cached answer without a request, got %q cached=%v requests=%d", got, tk.Cached, jira.Requests())
	}
	clk.Advance(time.Second)
	tk, err = lookup(t, v, "SUP-1", q)
	if got := verdict(tk, err, ana, ""); got != justify.ReasonNotAssigned || jira.Requests() != 2 {
		t.Fatalf("after TTL: expected %s from a new request, got %q requests=%d", justify.ReasonNotAssigned, got, jira.Requests())
	}
	if !tk.VerifiedAt.Equal(clk.Now()) {
		t.Fatalf("expected VerifiedAt %v, got %v", clk.Now(), tk.VerifiedAt)
	}
	// Closed later: same.
	jira.SetIssue(with(inProgress("SUP-1"), func(i *justifytest.JiraIssue) { i.Status, i.Category = "Done", "done" }))
	clk.Advance(time.Minute)
	tk, err = lookup(t, v, "SUP-1", q)
	if got := verdict(tk, err, bob, ""); got != justify.ReasonClosed {
		t.Fatalf("after closing: expected %s, got %q", justify.ReasonClosed, got)
	}
}

func TestJiraRequestsOnlyNeededFields(t *testing.T) {
	jira := justifytest.NewJira(t)
	jira.SetIssue(inProgress("SUP-1"))
	sc := jira.SystemConfig(justify.JiraCloudV3)
	sc.Jira.CustomerField = "customfield_10050"
	v := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sc})
	if _, err := lookup(t, v, "SUP-1", justify.Query{User: ana}); err != nil {
		t.Fatal(err)
	}
	r, _ := jira.LastRequest()
	if got, want := r.URL.Query().Get("fields"), "status,resolution,assignee,customfield_10050"; got != want {
		t.Fatalf("expected fields=%s, got %s", want, got)
	}
	if r.URL.Path != "/rest/api/3/issue/SUP-1" {
		t.Fatalf("expected /rest/api/3/issue/SUP-1, got %s", r.URL.Path)
	}
}
