// Package justifytest runs fakes of the ticket systems package justify
// talks to, each an httptest TLS server that speaks the system's documented
// JSON (the API version and reference page are cited on each type): Jira
// Cloud v3 and Data Center v2, GitHub issues, PagerDuty incidents,
// ServiceNow's Table API, and the gateway's generic HTTP verifier contract.
// Each fake checks the credentials the real system would, writes its
// certificate to a CA file for tls.ca_file, counts requests and can be made
// to misbehave (error statuses, Retry-After, garbage, oversized bodies,
// hanging).
//
//	func TestSupportTicket(t *testing.T) {
//		jira := justifytest.NewJira(t)
//		jira.SetIssue(justifytest.JiraIssue{Key: "SUP-1", Status: "In Progress", Category: "indeterminate",
//			Assignee: "ana@corp.example", Fields: map[string]any{"customfield_10050": map[string]any{"value": "acme"}}})
//		sc := jira.SystemConfig(justify.JiraCloudV3)
//		sc.Jira.CustomerField = "customfield_10050"
//		v, err := justify.New(justify.Config{Systems: map[string]justify.SystemConfig{"jira": sc}}, justify.Options{})
//		...
//		jira.SetFault(&justifytest.Fault{Status: 429, Header: map[string]string{"Retry-After": "30"}})
//	}
//
// Nothing here is secure; it is for tests only.
package justifytest
