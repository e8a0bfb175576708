package justifytest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/accessgateway/gateway/internal/justify"
	"github.com/accessgateway/gateway/internal/justify/justifytest"
)

// A support ticket in a fake Jira Cloud, bound to a customer through a
// select custom field.
func Example() {
	t := &testing.T{} // in a test, use the test's own t
	jira := justifytest.NewJira(t)
	jira.SetIssue(justifytest.JiraIssue{Key: "SUP-1", Status: "In Progress", Category: "indeterminate",
		Assignee: "ana@corp.example", Fields: map[string]any{"customfield_10050": map[string]any{"value": "acme"}}})

	sc := jira.SystemConfig(justify.JiraCloudV3)
	sc.Jira.CustomerField = "customfield_10050"
	v, err := justify.New(justify.Config{Systems: map[string]justify.SystemConfig{"jira": sc}}, justify.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	ref, _ := v.Parse(jira.URL()+"/browse/sup-1", []string{"jira"})
	tk, err := v.Lookup(context.Background(), ref, justify.Query{User: "ana@corp.example"})
	fmt.Println(ref, tk.Open, tk.Status, err)
	fmt.Printf("acme: %q, globex: %q\n", justify.Check(tk, "ana@corp.example", "acme"), justify.Check(tk, "ana@corp.example", "globex"))
	// Output:
	// jira:SUP-1 true In Progress <nil>
	// acme: "", globex: "ticket-resource-mismatch"
}
