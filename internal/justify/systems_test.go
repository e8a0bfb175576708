package justify_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/justify"
	"github.com/accessgateway/gateway/internal/justify/justifytest"
	"github.com/accessgateway/gateway/internal/policy"
)

// systemCase is one lookup against a fake, judged for user and resource.
type systemCase struct {
	name     string
	input    string
	user     string
	login    string
	resource string
	want     policy.Reason
}

func (c systemCase) run(t *testing.T, v *justify.Verifier) justify.Ticket {
	t.Helper()
	user := c.user
	if user == "" {
		user = ana
	}
	tk, err := lookup(t, v, c.input, justify.Query{User: user, Login: c.login, Route: "support", Resource: c.resource})
	if got := verdict(tk, err, user, c.resource); got != c.want {
		t.Fatalf("expected %q, got %q (ticket %+v, err %v)", c.want, got, tk, err)
	}
	return tk
}

func TestGitHub(t *testing.T) {
	gh := justifytest.NewGitHub(t)
	gh.SetIssue(justifytest.GitHubIssue{Repo: "corp/support", Number: 7, State: "open", Assignees: []string{"ana-gh", "Unmapped"},
		Author: "bob-gh", Labels: []string{"bug", "customer-42"}})
	gh.SetIssue(justifytest.GitHubIssue{Repo: "corp/support", Number: 8, State: "closed", Assignees: []string{"ana-gh"}})
	gh.SetIssue(justifytest.GitHubIssue{Repo: "corp/support", Number: 9, State: "open", Assignees: []string{"ana-gh"}, PullRequest: true})
	gh.SetIssue(justifytest.GitHubIssue{Repo: "corp/other", Number: 7, State: "open", Assignees: []string{"ana-gh"}})

	sc := gh.SystemConfig("corp/support", "corp/other")
	sc.GitHub.Users = map[string]string{"ana-gh": ana, "bob-gh": bob}
	sc.GitHub.CustomerLabelPrefix = "customer-"
	v := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sc})
	scAuthor := sc
	scAuthor.GitHub = &justify.GitHubConfig{Repos: sc.GitHub.Repos, Users: sc.GitHub.Users, Involved: []string{"assignees", "author"}}
	vAuthor := newVerifier(t, nil, map[string]justify.SystemConfig{"s": scAuthor})

	for _, c := range []systemCase{
		{name: "open, assignee mapped", input: "corp/support#7"},
		{name: "repo case folded", input: "Corp/Support#7"},
		{name: "pasted URL", input: gh.URL() + "/corp/support/issues/7"},
		{name: "closed", input: "corp/support#8", want: justify.ReasonClosed},
		{name: "pull request", input: "corp/support#9"},
		{name: "pull request URL", input: gh.URL() + "/corp/support/pull/9"},
		{name: "not found", input: "corp/support#10", want: justify.ReasonNotFound},
		{name: "other repo", input: "corp/other#7"},
		{name: "author not involved by default", input: "corp/support#7", user: bob, want: justify.ReasonNotAssigned},
		{name: "unmapped assignee involves nobody", input: "corp/support#7", user: "unmapped@corp.example", want: justify.ReasonNotAssigned},
		{name: "login from the session", input: "corp/support#7", user: "unmapped@corp.example", login: "unmapped"},
		{name: "login that is not an assignee", input: "corp/support#7", user: bob, login: "bob-gh", want: justify.ReasonNotAssigned},
		// github.users says ana-gh is ana: a session claiming ana-gh is
		// not involved through it, whoever it is.
		{name: "mapped login claimed by another person", input: "corp/support#7", user: "mallory@corp.example", login: "ana-gh", want: justify.ReasonNotAssigned},
		{name: "mapped login claimed in another case", input: "corp/support#7", user: "mallory@corp.example", login: "ANA-GH", want: justify.ReasonNotAssigned},
		{name: "mapped login claimed by its person", input: "corp/support#7", login: "ana-gh"},
		{name: "customer label match", input: "corp/support#7", resource: "42"},
		{name: "customer label mismatch", input: "corp/support#7", resource: "43", want: justify.ReasonResourceMismatch},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, v) })
	}
	t.Run("author when configured", func(t *testing.T) {
		systemCase{input: "corp/support#7", user: bob}.run(t, vAuthor)
	})
	t.Run("login does not leak into the cache", func(t *testing.T) {
		systemCase{input: "corp/support#7", user: "unmapped@corp.example", login: "unmapped"}.run(t, v)
		systemCase{input: "corp/support#7", user: "unmapped@corp.example", want: justify.ReasonNotAssigned}.run(t, v)
	})
	t.Run("request", func(t *testing.T) {
		tk := systemCase{input: "corp/support#7"}.run(t, v)
		r, _ := gh.LastRequest()
		if r.URL.Path != "/repos/corp/support/issues/7" || r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" ||
			r.Header.Get("Accept") != "application/vnd.github+json" {
			t.Fatalf("unexpected request %s %v", r.URL.Path, r.Header)
		}
		if tk.URL != gh.URL()+"/corp/support/issues/7" || tk.ID != "corp/support#7" {
			t.Fatalf("expected URL and ID, got %q %q", tk.URL, tk.ID)
		}
	})
}

func TestGitHubSingleRepoNumbers(t *testing.T) {
	gh := justifytest.NewGitHub(t)
	gh.SetIssue(justifytest.GitHubIssue{Repo: "corp/support", Number: 7, State: "open", Assignees: []string{"ana-gh"}})
	sc := gh.SystemConfig("corp/support")
	sc.GitHub.Users = map[string]string{"ana-gh": ana}
	v := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sc})
	for _, in := range []string{"7", "#7", "s:7", "corp/support#7"} {
		ref, err := v.Parse(in, []string{"s"})
		if err != nil || ref.ID != "corp/support#7" {
			t.Errorf("Parse(%q): expected corp/support#7, got %v %v", in, ref, err)
		}
	}
	for _, in := range []string{"corp/other#7", "07", "0", "corp/support7", gh.URL() + "/corp/other/issues/7"} {
		if ref, err := v.Parse(in, []string{"s"}); err == nil {
			t.Errorf("Parse(%q): expected an error, got %v", in, ref)
		}
	}
}

func TestPagerDuty(t *testing.T) {
	for _, noInclude := range []bool{false, true} {
		name := "include"
		if noInclude {
			name = "user lookups"
		}
		t.Run(name, func(t *testing.T) {
			pd := justifytest.NewPagerDuty(t)
			pd.NoInclude = noInclude
			pd.AddUser("PXPGF42", ana)
			pd.AddUser("PAM4FGS", bob)
			pd.SetIncident(justifytest.PagerDutyIncident{ID: "PT4KHLK", Number: 1234, Status: "triggered", Assignees: []string{"PXPGF42"}})
			pd.SetIncident(justifytest.PagerDutyIncident{ID: "PQ0N3RS", Number: 1235, Status: "acknowledged",
				Assignees: []string{"PXPGF42"}, Acknowledgers: []string{"PAM4FGS"}})
			pd.SetIncident(justifytest.PagerDutyIncident{ID: "PRES0LV", Number: 1236, Status: "resolved", Assignees: []string{"PXPGF42"}})
			pd.SetIncident(justifytest.PagerDutyIncident{ID: "PGH0STU", Number: 1237, Status: "triggered", Assignees: []string{"PDELETD"}})
			sc := pd.SystemConfig()
			v := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sc})
			sc2 := pd.SystemConfig()
			sc2.PagerDuty = &justify.PagerDutyConfig{Involved: []string{"assignees", "acknowledgers"}}
			v2 := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sc2})
			for _, c := range []systemCase{
				{name: "triggered, assigned", input: "PT4KHLK"},
				{name: "by number", input: "1234"},
				{name: "by #number", input: "#1234"},
				{name: "lower-case ID", input: "pt4khlk"},
				{name: "pasted URL", input: pd.URL() + "/incidents/PT4KHLK"},
				{name: "acknowledged is active", input: "PQ0N3RS"},
				{name: "resolved is closed", input: "PRES0LV", want: justify.ReasonClosed},
				{name: "not assigned", input: "PT4KHLK", user: bob, want: justify.ReasonNotAssigned},
				{name: "acknowledger not counted by default", input: "PQ0N3RS", user: bob, want: justify.ReasonNotAssigned},
				{name: "deleted assignee involves nobody", input: "PGH0STU", want: justify.ReasonNotAssigned},
				{name: "not found", input: "PNOTHER", want: justify.ReasonNotFound},
				{name: "incidents name no resource", input: "PT4KHLK", resource: "42", want: justify.ReasonResourceMismatch},
			} {
				t.Run(c.name, func(t *testing.T) { c.run(t, v) })
			}
			t.Run("acknowledger when configured", func(t *testing.T) {
				systemCase{input: "PQ0N3RS", user: bob}.run(t, v2)
			})
		})
	}
}

func TestServiceNow(t *testing.T) {
	sn := justifytest.NewServiceNow(t)
	sn.SetRecord(justifytest.ServiceNowRecord{Table: "incident", Number: "INC0010001", State: "2", Active: true,
		Fields: map[string]string{"assigned_to.email": "Ana@corp.example", "opened_by.email": bob}})
	sn.SetRecord(justifytest.ServiceNowRecord{Table: "incident", Number: "INC0010006", State: "6", Active: true,
		Fields: map[string]string{"assigned_to.email": ana}})
	sn.SetRecord(justifytest.ServiceNowRecord{Table: "incident", Number: "INC0010007", State: "7", Active: false,
		Fields: map[string]string{"assigned_to.email": ana}})
	sn.SetRecord(justifytest.ServiceNowRecord{Table: "incident", Number: "INC0010009", State: "2", Active: false,
		Fields: map[string]string{"assigned_to.email": ana}})
	sn.SetRecord(justifytest.ServiceNowRecord{Table: "sn_customerservice_case", Number: "CS0001001", State: "10", Active: true,
		Fields: map[string]string{"assigned_to.email": ana, "account.number": "ACCT0001042"}})
	sn.SetRecord(justifytest.ServiceNowRecord{Table: "sn_customerservice_case", Number: "CS0001002", State: "3", Active: true,
		Fields: map[string]string{"assigned_to.email": ana, "account.number": "ACCT0001042"}})

	inc := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sn.SystemConfig("incident")})
	scOpener := sn.SystemConfig("incident")
	scOpener.ServiceNow.Involved = []string{"assigned_to", "opened_by"}
	incOpener := newVerifier(t, nil, map[string]justify.SystemConfig{"s": scOpener})
	cs := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sn.SystemConfig("sn_customerservice_case")})

	for _, c := range []struct {
		v *justify.Verifier
		systemCase
	}{
		{inc, systemCase{name: "incident in progress", input: "inc0010001"}},
		{inc, systemCase{name: "incident URL", input: sn.URL() + "/incident.do?sysparm_query=number%3DINC0010001"}},
		{inc, systemCase{name: "resolved while active is closed", input: "INC0010006", want: justify.ReasonClosed}},
		{inc, systemCase{name: "closed", input: "INC0010007", want: justify.ReasonClosed}},
		{inc, systemCase{name: "inactive is closed whatever the state", input: "INC0010009", want: justify.ReasonClosed}},
		{inc, systemCase{name: "not found (empty result)", input: "INC0099999", want: justify.ReasonNotFound}},
		{inc, systemCase{name: "opener not counted by default", input: "INC0010001", user: bob, want: justify.ReasonNotAssigned}},
		{incOpener, systemCase{name: "opener when configured", input: "INC0010001", user: bob}},
		{inc, systemCase{name: "incident names no customer", input: "INC0010001", resource: "ACCT0001042", want: justify.ReasonResourceMismatch}},
		{cs, systemCase{name: "case account match", input: "CS0001001", resource: "ACCT0001042"}},
		{cs, systemCase{name: "case account of another case", input: "CS0001001", resource: "acct0001042", want: justify.ReasonResourceMismatch}},
		{cs, systemCase{name: "case account mismatch", input: "CS0001001", resource: "ACCT0001043", want: justify.ReasonResourceMismatch}},
		{cs, systemCase{name: "case closed state", input: "CS0001002", want: justify.ReasonClosed}},
		{cs, systemCase{name: "incident number in the case table", input: "INC0010001", want: justify.ReasonNotFound}},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, c.v) })
	}
	t.Run("request", func(t *testing.T) {
		cs := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sn.SystemConfig("sn_customerservice_case")})
		systemCase{input: "CS0001001"}.run(t, cs)
		r, _ := sn.LastRequest()
		q := r.URL.Query()
		if r.URL.Path != "/api/now/table/sn_customerservice_case" || q.Get("sysparm_query") != "number=CS0001001" ||
			q.Get("sysparm_fields") != "number,state,active,assigned_to.email,account.number" {
			t.Fatalf("unexpected request %s?%s", r.URL.Path, r.URL.RawQuery)
		}
	})
	t.Run("two records", func(t *testing.T) {
		sn.SetFault(&justifytest.Fault{Body: `{"result":[{"number":"INC0010001","state":"2","active":"true"},{"number":"INC0010001","state":"2","active":"true"}]}`})
		defer sn.SetFault(nil)
		inc := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sn.SystemConfig("incident")})
		_, err := lookup(t, inc, "INC0010001", justify.Query{User: ana})
		wantUnavailable(t, err)
	})
}

func TestHTTPVerifier(t *testing.T) {
	clk := newClock()
	hv := justifytest.NewHTTPVerifier(t)
	hv.SetTicket("T-1", justifytest.HTTPTicket{Open: true, Assignees: []string{ana}, Customers: []string{"42"}, URL: "https://tickets.corp.example/T-1"})
	hv.SetTicket("T-2", justifytest.HTTPTicket{Open: false, Assignees: []string{ana}})
	hv.SetTicket("T-3", justifytest.HTTPTicket{Open: true, Assignees: []string{ana}, ExpiresAt: clk.Now().Add(20 * time.Second)})
	hv.SetTicket("T-4", justifytest.HTTPTicket{Open: true, Assignees: []string{ana}, ExpiresAt: clk.Now().Add(-time.Second)})
	v := newVerifier(t, clk, map[string]justify.SystemConfig{"s": hv.SystemConfig()})

	for _, c := range []systemCase{
		{name: "valid", input: "T-1"},
		{name: "valid for the resource", input: "T-1", resource: "42"},
		{name: "resource mismatch", input: "T-1", resource: "43", want: justify.ReasonResourceMismatch},
		{name: "closed", input: "T-2", want: justify.ReasonClosed},
		{name: "not assigned", input: "T-1", user: bob, want: justify.ReasonNotAssigned},
		{name: "not found", input: "T-9", want: justify.ReasonNotFound},
		{name: "expired on arrival", input: "T-4", want: justify.ReasonClosed},
		{name: "case preserved", input: "t-1", want: justify.ReasonNotFound},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, v) })
	}
	t.Run("request body and answer", func(t *testing.T) {
		v := newVerifier(t, clk, map[string]justify.SystemConfig{"s": hv.SystemConfig()})
		tk := systemCase{input: "T-1", user: "Ana@Corp.example", resource: "42"}.run(t, v)
		r, body := hv.LastRequest()
		var got justifytest.HTTPRequest
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		want := justifytest.HTTPRequest{System: "s", ID: "T-1", User: ana, Route: "support", Resource: "42"}
		if got != want || r.Method != "POST" || r.Header.Get("Authorization") != "Bearer "+hv.Token {
			t.Fatalf("expected %+v with the bearer token, got %+v %v", want, got, r.Header)
		}
		if tk.URL != "https://tickets.corp.example/T-1" || tk.Status != "valid" {
			t.Fatalf("expected url and status valid, got %q %q", tk.URL, tk.Status)
		}
	})
	t.Run("answers are per user", func(t *testing.T) {
		v := newVerifier(t, clk, map[string]justify.SystemConfig{"s": hv.SystemConfig()})
		systemCase{input: "T-1", user: ana}.run(t, v)
		n := hv.Requests()
		systemCase{input: "T-1", user: ana}.run(t, v)
		systemCase{input: "T-1", user: bob, want: justify.ReasonNotAssigned}.run(t, v)
		if hv.Requests() != n+1 {
			t.Fatalf("expected one request (ana cached, bob asked), got %d", hv.Requests()-n)
		}
	})
	t.Run("expires_at bounds the cache", func(t *testing.T) {
		tk := systemCase{input: "T-3"}.run(t, v)
		if !tk.ExpiresAt.Equal(clk.Now().Add(20 * time.Second)) {
			t.Fatalf("expected ExpiresAt +20s, got %v", tk.ExpiresAt)
		}
		n := hv.Requests()
		clk.Advance(19 * time.Second)
		systemCase{input: "T-3"}.run(t, v)
		if hv.Requests() != n {
			t.Fatal("expected the cached answer before expires_at")
		}
		clk.Advance(time.Second)
		systemCase{input: "T-3", want: justify.ReasonClosed}.run(t, v)
		if hv.Requests() != n+1 {
			t.Fatal("expected a new request at expires_at")
		}
	})
}

// The verifier's answer is decoded strictly.
func TestHTTPVerifierStrictJSON(t *testing.T) {
	for _, c := range []struct{ name, body string }{
		{"valid as a string", `{"valid":"true"}`},
		{"valid as a number", `{"valid":1}`},
		{"valid missing", `{"resources":["42"]}`},
		{"valid null", `{"valid":null}`},
		{"unknown field", `{"valid":true,"admin":true}`},
		{"duplicate valid", `{"valid":false,"reason":"ticket-closed","valid":true}`},
		{"reason missing when invalid", `{"valid":false}`},
		{"unknown reason", `{"valid":false,"reason":"nope"}`},
		{"reason with valid", `{"valid":true,"reason":"ticket-closed"}`},
		{"bad expires_at", `{"valid":true,"expires_at":"tomorrow"}`},
		{"expires_at as a number", `{"valid":true,"expires_at":1767200000}`},
		{"resources not strings", `{"valid":true,"resources":[42]}`},
		{"empty resource", `{"valid":true,"resources":[""]}`},
		{"url not https", `{"valid":true,"url":"javascript:alert(1)"}`},
		{"null", `null`},
		{"two values", `{"valid":true}{"valid":true}`},
		{"case of the key", `{"Valid":true}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			hv := justifytest.NewHTTPVerifier(t)
			hv.SetFault(&justifytest.Fault{Body: c.body})
			v := newVerifier(t, nil, map[string]justify.SystemConfig{"s": hv.SystemConfig()})
			_, err := lookup(t, v, "T-1", justify.Query{User: ana})
			wantUnavailable(t, err)
		})
	}
}

func TestHTTPVerifierAuth(t *testing.T) {
	t.Run("wrong token", func(t *testing.T) {
		hv := justifytest.NewHTTPVerifier(t)
		hv.SetTicket("T-1", justifytest.HTTPTicket{Open: true, Assignees: []string{ana}})
		sc := hv.SystemConfig()
		sc.Auth.Token = "guess"
		v := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sc})
		_, err := lookup(t, v, "T-1", justify.Query{User: ana})
		if u := wantUnavailable(t, err); u.Cause != "credentials refused (401)" {
			t.Fatalf("expected credentials refused (401), got %q", u.Cause)
		}
	})
	cc := justifytest.NewClientCert(t, "gateway")
	hv := justifytest.NewHTTPVerifierMTLS(t, cc)
	hv.SetTicket("T-1", justifytest.HTTPTicket{Open: true, Assignees: []string{ana}})
	t.Run("mTLS", func(t *testing.T) {
		sc := hv.SystemConfig()
		sc.Auth.Token = ""
		sc.TLS.CertFile, sc.TLS.KeyFile = cc.CertFile, cc.KeyFile
		v := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sc})
		tk, err := lookup(t, v, "T-1", justify.Query{User: ana})
		if got := verdict(tk, err, ana, ""); got != "" {
			t.Fatalf("expected allowed, got %q (%v)", got, err)
		}
	})
	t.Run("mTLS with a certificate of another CA", func(t *testing.T) {
		other := justifytest.NewClientCert(t, "gateway")
		sc := hv.SystemConfig()
		sc.TLS.CertFile, sc.TLS.KeyFile = other.CertFile, other.KeyFile
		v := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sc})
		_, err := lookup(t, v, "T-1", justify.Query{User: ana})
		wantUnavailable(t, err)
	})
	t.Run("mTLS without a certificate", func(t *testing.T) {
		sc := hv.SystemConfig()
		sc.Auth.Token = "not-a-certificate"
		v := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sc})
		_, err := lookup(t, v, "T-1", justify.Query{User: ana})
		wantUnavailable(t, err)
	})
	t.Run("server not trusted", func(t *testing.T) {
		sc := hv.SystemConfig()
		sc.TLS = justify.TLSConfig{CertFile: cc.CertFile, KeyFile: cc.KeyFile}
		v := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sc})
		_, err := lookup(t, v, "T-1", justify.Query{User: ana})
		wantUnavailable(t, err)
	})
}

func TestStatic(t *testing.T) {
	sc := justify.SystemConfig{Type: justify.TypeStatic, Static: &justify.StaticConfig{Tickets: []justify.StaticTicket{
		{ID: "SUP-1", State: "open", Assignees: []string{"Ana@corp.example"}, Customers: []string{"42"}},
		{ID: "sup-2", State: "closed", Assignees: []string{ana}},
	}}}
	clk := newClock()
	v := newVerifier(t, clk, map[string]justify.SystemConfig{"s": sc})
	for _, c := range []systemCase{
		{name: "open", input: "SUP-1"},
		{name: "lower case", input: "s:sup-1"},
		{name: "customer match", input: "SUP-1", resource: "42"},
		{name: "customer mismatch", input: "SUP-1", resource: "43", want: justify.ReasonResourceMismatch},
		{name: "closed", input: "SUP-2", want: justify.ReasonClosed},
		{name: "not assigned", input: "SUP-1", user: bob, want: justify.ReasonNotAssigned},
		{name: "not found", input: "SUP-3", want: justify.ReasonNotFound},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, v) })
	}
	tk, err := lookup(t, v, "SUP-1", justify.Query{User: ana})
	if err != nil || tk.System != "s" || tk.ID != "SUP-1" || !tk.VerifiedAt.Equal(clk.Now()) || tk.Cached {
		t.Fatalf("expected system, ID, VerifiedAt now and no cache, got %+v %v", tk, err)
	}
	if _, err := lookup(t, v, "SUP-3", justify.Query{User: ana}); !errors.Is(err, justify.ErrNotFound) {
		t.Fatalf("expected ErrNotFound, got %v", err)
	}
}

const (
	ogAlertID = "70413a06-38d6-4c85-92b8-5ebc900d42e2-1568974870401"
	ogUserAna = "bb4d9938-c3c2-455d-aaab-727aa701c0d8"
	ogUserBob = "e07c63f0-dd8c-4ad4-983e-4ee7dc600463"
)

func TestOpsgenie(t *testing.T) {
	og := justifytest.NewOpsgenie(t)
	og.AddUser(ogUserAna, ana)
	og.AddUser(ogUserBob, bob)
	og.SetAlert(justifytest.OpsgenieAlert{ID: ogAlertID, TinyID: "1791", Status: "open", Owner: "cy@corp.example",
		Responders: []string{ogUserAna, "9d6b4a2c-0000-4000-8000-000000000000"}, Teams: []string{"4513b7ea-3b91-438f-b7e4-e3e54af9147c"},
		Tags: []string{"Critical", "customer:42"}, Details: map[string]string{"customer": "acme"}})
	og.SetAlert(justifytest.OpsgenieAlert{ID: "1b7e3f1c-1111-4111-8111-111111111111", TinyID: "1792", Status: "open",
		Acknowledged: true, AcknowledgedBy: bob, Owner: ana})
	og.SetAlert(justifytest.OpsgenieAlert{ID: "3d9a5b3e-3333-4333-8333-333333333333", TinyID: "1794", Status: "open",
		Acknowledged: true, AcknowledgedBy: bob})
	og.SetAlert(justifytest.OpsgenieAlert{ID: "2c8f4a2d-2222-4222-8222-222222222222", TinyID: "1793", Status: "closed", Owner: ana})

	v := newVerifier(t, nil, map[string]justify.SystemConfig{"s": og.SystemConfig()})
	scTags := og.SystemConfig()
	scTags.Opsgenie = &justify.OpsgenieConfig{CustomerTagPrefix: "customer:"}
	vTags := newVerifier(t, nil, map[string]justify.SystemConfig{"s": scTags})
	scDetail := og.SystemConfig()
	scDetail.Opsgenie = &justify.OpsgenieConfig{Involved: []string{"owner"}, CustomerDetail: "customer"}
	vDetail := newVerifier(t, nil, map[string]justify.SystemConfig{"s": scDetail})

	for _, c := range []struct {
		v *justify.Verifier
		systemCase
	}{
		{v, systemCase{name: "responder by tiny ID", input: "1791"}},
		{v, systemCase{name: "responder by ID", input: strings.ToUpper(ogAlertID)}},
		{v, systemCase{name: "owner", input: "1791", user: "cy@corp.example"}},
		{v, systemCase{name: "pasted URL", input: og.URL() + "/alert/detail/" + ogAlertID + "/details"}},
		{v, systemCase{name: "acknowledged is open", input: "1792"}},
		{v, systemCase{name: "closed", input: "1793", want: justify.ReasonClosed}},
		{v, systemCase{name: "not involved", input: "1791", user: bob, want: justify.ReasonNotAssigned}},
		// acknowledgedBy is the display name an acknowledge request gives:
		// it never involves anyone, whatever it says.
		{v, systemCase{name: "acknowledged by is not involved", input: "1792", user: bob, want: justify.ReasonNotAssigned}},
		{vDetail, systemCase{name: "acknowledged by is not the owner", input: "1794", user: bob, want: justify.ReasonNotAssigned}},
		{v, systemCase{name: "not found", input: "1799", want: justify.ReasonNotFound}},
		{vTags, systemCase{name: "customer tag match", input: "1791", resource: "42"}},
		{vTags, systemCase{name: "customer tag mismatch", input: "1791", resource: "43", want: justify.ReasonResourceMismatch}},
		{vDetail, systemCase{name: "customer detail match", input: "1791", user: "cy@corp.example", resource: "acme"}},
		{vDetail, systemCase{name: "customer detail of another case", input: "1791", user: "cy@corp.example", resource: "ACME", want: justify.ReasonResourceMismatch}},
		{vDetail, systemCase{name: "customer detail mismatch", input: "1791", user: "cy@corp.example", resource: "42", want: justify.ReasonResourceMismatch}},
		{vDetail, systemCase{name: "responders not counted when not configured", input: "1791", want: justify.ReasonNotAssigned}},
		{v, systemCase{name: "no customer configured", input: "1791", resource: "42", want: justify.ReasonResourceMismatch}},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, c.v) })
	}
	t.Run("request", func(t *testing.T) {
		v := newVerifier(t, nil, map[string]justify.SystemConfig{"s": og.SystemConfig()})
		tk := systemCase{input: "1792"}.run(t, v)
		r, _ := og.LastRequest()
		if r.URL.Path != "/v2/alerts/1792" || r.URL.Query().Get("identifierType") != "tiny" || r.Header.Get("Authorization") != "GenieKey "+og.Key {
			t.Fatalf("unexpected request %s?%s", r.URL.Path, r.URL.RawQuery)
		}
		if tk.URL != og.URL()+"/alert/detail/1b7e3f1c-1111-4111-8111-111111111111/details" || tk.Status != "open (acknowledged)" {
			t.Fatalf("expected the alert's URL and status, got %q %q", tk.URL, tk.Status)
		}
	})
}

// A record whose state is missing, null or empty (a field the integration
// account may not read comes back so) cannot tell a resolved incident,
// which stays active until it closes, from one in progress: the answer is
// unreadable, not open.
func TestServiceNowWithoutStateIsUnreadable(t *testing.T) {
	sn := justifytest.NewServiceNow(t)
	for _, c := range []struct{ name, body string }{
		{"state missing", `{"result":[{"number":"INC0010006","active":"true","assigned_to.email":"ana@corp.example"}]}`},
		{"state null", `{"result":[{"number":"INC0010006","state":null,"active":"true","assigned_to.email":"ana@corp.example"}]}`},
		{"state empty", `{"result":[{"number":"INC0010006","state":"","active":"true","assigned_to.email":"ana@corp.example"}]}`},
		{"state blank", `{"result":[{"number":"INC0010006","state":" ","active":"true","assigned_to.email":"ana@corp.example"}]}`},
		{"active null", `{"result":[{"number":"INC0010006","state":"2","active":null,"assigned_to.email":"ana@corp.example"}]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			sn.SetFault(&justifytest.Fault{Body: c.body})
			defer sn.SetFault(nil)
			inc := newVerifier(t, nil, map[string]justify.SystemConfig{"s": sn.SystemConfig("incident")})
			tk, err := lookup(t, inc, "INC0010006", justify.Query{User: ana})
			if err == nil {
				t.Fatalf("expected an unreadable answer, got open=%v status %q (check: %q)", tk.Open, tk.Status, justify.Check(tk, ana, ""))
			}
			wantUnavailable(t, err)
		})
	}
}
