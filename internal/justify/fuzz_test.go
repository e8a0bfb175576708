package justify

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for every parser of untrusted input: what users type (Parse,
// normalizeCommon) and what ticket systems answer (each decoder). Seed
// corpora live in testdata/fuzz/<target>/. Run one with e.g.
// `go test -fuzz FuzzParse ./internal/justify/`.

func fuzzVerifier(f *testing.F) *Verifier {
	v, err := New(Config{Systems: map[string]SystemConfig{
		"jira": {Type: "jira", BaseURL: "https://corp.atlassian.net", Auth: AuthConfig{Username: "gw@corp.example", Password: "t"}},
		"ops":  {Type: "jira", BaseURL: "https://jira.corp.example/jira", IDPattern: "OPS-[0-9]+", Auth: AuthConfig{Token: "t"}},
		"gh":   {Type: "github", Auth: AuthConfig{Token: "t"}, GitHub: &GitHubConfig{Repos: []string{"corp/support"}}},
		"pd":   {Type: "pagerduty", WebURL: "https://corp.pagerduty.com", Auth: AuthConfig{Token: "t"}},
		"sn":   {Type: "servicenow", BaseURL: "https://corp.service-now.com", Auth: AuthConfig{Token: "t"}},
		"st":   {Type: "static", Static: &StaticConfig{Tickets: []StaticTicket{{ID: "DEMO-1", State: "open"}}}},
		"hv":   {Type: "http", BaseURL: "https://verify.corp.example", Auth: AuthConfig{Token: "t"}},
	}}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	return v
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func FuzzParse(f *testing.F) {
	v := fuzzVerifier(f)
	for _, s := range []string{"SUP-1", "jira:SUP-1", "ops:ops-12", "https://corp.atlassian.net/browse/SUP-1",
		"https://github.com/corp/support/issues/3", "#3", "INC0010001", "PT4KHLK", "1234", "st:demo-1", "hv:a/b#c",
		"SUP-\u0661", "SUP-\uff11", "https://corp.atlassian.net@evil/browse/SUP-1", "\u200bSUP-1"} {
		f.Add(s, uint8(0xff))
	}
	names := []string{"jira", "ops", "gh", "pd", "sn", "st", "hv"}
	f.Fuzz(func(t *testing.T, input string, mask uint8) {
		var allowed []string
		for i, n := range names {
			if mask&(1<<i) != 0 {
				allowed = append(allowed, n)
			}
		}
		ref, err := v.Parse(input, allowed)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("expected a *ParseError, got %T %v", err, err)
			}
			return
		}
		if !contains(allowed, ref.System) || ref.ID == "" || len(ref.ID) > MaxIDLength || !printableASCII(ref.ID) ||
			strings.TrimSpace(ref.ID) != ref.ID {
			t.Fatalf("Parse(%q) = %+v: not a normalized ref of an allowed system", input, ref)
		}
		again, err := v.Parse(ref.String(), allowed)
		if err != nil || again != ref {
			t.Fatalf("Parse(%q) = %v, which parses back to %v, %v", input, ref, again, err)
		}
		if n, err := v.systems[ref.System].normalize(ref.ID); err != nil || n != ref.ID {
			t.Fatalf("normalize(%q) = %q, %v: not idempotent", ref.ID, n, err)
		}
	})
}

func FuzzNormalizeCommon(f *testing.F) {
	for _, s := range []string{"SUP-1", " sup-1 ", "SUP-\u0661\u0662", "\uff33UP-1", "a\x00b", "\xff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := normalizeCommon(s)
		if err != nil {
			return
		}
		if n == "" || !printableASCII(n) || strings.TrimSpace(n) != n || !strings.Contains(s, n) {
			t.Fatalf("normalizeCommon(%q) = %q", s, n)
		}
	})
}

// checkTicket holds for every decoded ticket: people are normalized
// emails, resources non-empty.
func checkTicket(t *testing.T, tk Ticket) {
	t.Helper()
	for _, p := range tk.Involved {
		if e, err := normalizeEmail(p); err != nil || e != p {
			t.Fatalf("involved %q is not a normalized email", p)
		}
	}
	for _, r := range tk.Resources {
		if r == "" {
			t.Fatal("empty resource")
		}
	}
}

func FuzzDecodeJiraIssue(f *testing.F) {
	f.Add([]byte(`{"key":"SUP-1","fields":{"status":{"name":"Done","statusCategory":{"key":"done"}},"resolution":null,"assignee":{"emailAddress":"Ana@corp.example"},"customfield_10050":[{"value":"42"}],"labels":["customer-42"]}}`))
	f.Add([]byte(`{"key":"SUP-1","fields":{"status":{"statusCategory":{}}}}`))
	cfgs := []*JiraConfig{
		{Involved: []string{"assignee", "reporter", "participants"}, ParticipantsField: "customfield_10026", CustomerField: "customfield_10050"},
		{Involved: []string{"assignee"}, CustomerLabelPrefix: "customer-"},
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, cfg := range cfgs {
			tk, err := decodeJiraIssue(b, cfg)
			if err != nil {
				continue
			}
			if !jiraKey.MatchString(tk.ID) {
				t.Fatalf("decoded key %q", tk.ID)
			}
			checkTicket(t, tk)
		}
	})
}

func FuzzDecodeJiraWatchers(f *testing.F) {
	f.Add([]byte(`{"self":"x","isWatching":false,"watchCount":1,"watchers":[{"accountId":"1","emailAddress":"a@corp.example"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		emails, err := decodeJiraWatchers(b)
		if err == nil {
			checkTicket(t, Ticket{Involved: emails})
		}
	})
}

func FuzzFieldValues(f *testing.F) {
	for _, s := range []string{`"acme"`, `42`, `{"value":"acme"}`, `[{"name":"Acme"},"x",1.5e3]`, `null`, `[[1]]`, `true`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, err := fieldValues(b)
		if err != nil {
			return
		}
		for _, v := range vals {
			if v == "" {
				t.Fatal("empty value")
			}
		}
	})
}

func FuzzDecodeGitHubIssue(f *testing.F) {
	f.Add([]byte(`{"number":7,"state":"open","assignees":[{"login":"Ana-GH"}],"user":{"login":"bob"},"labels":[{"name":"customer-42"},"customer-43"]}`))
	cfg := &GitHubConfig{Involved: []string{"assignees", "author"}, CustomerLabelPrefix: "customer-"}
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, _, err := decodeGitHubIssue(b, cfg)
		if err != nil {
			return
		}
		for _, l := range tk.Logins {
			if !ghLogin.MatchString(l) || strings.ToLower(l) != l {
				t.Fatalf("login %q", l)
			}
		}
		if tk.Open != (tk.Status == "open") {
			t.Fatalf("open %v with state %q", tk.Open, tk.Status)
		}
		checkTicket(t, tk)
	})
}

func FuzzDecodePagerDutyIncident(f *testing.F) {
	f.Add([]byte(`{"incident":{"id":"PT4KHLK","incident_number":1234,"status":"acknowledged","assignments":[{"assignee":{"id":"PXPGF42","type":"user","email":"a@corp.example"}}],"acknowledgements":[{"acknowledger":{"id":"PAM4FGS","type":"user_reference"}}]}}`))
	cfg := &PagerDutyConfig{Involved: []string{"assignees", "acknowledgers"}}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := decodePagerDutyIncident(b, cfg)
		if err != nil {
			return
		}
		if in.ticket.Open == (in.ticket.Status == "resolved") {
			t.Fatalf("open %v with status %q", in.ticket.Open, in.ticket.Status)
		}
		for _, id := range in.userIDs {
			if !pdID.MatchString(id) {
				t.Fatalf("user ID %q would go into a path", id)
			}
		}
		checkTicket(t, in.ticket)
		_, _ = decodePagerDutyUser(b)
	})
}

func FuzzDecodeServiceNow(f *testing.F) {
	f.Add([]byte(`{"result":[{"number":"INC0010001","state":"2","active":"true","assigned_to.email":"a@corp.example","account.number":"ACCT1"}]}`))
	f.Add([]byte(`{"result":[]}`))
	cfg := &ServiceNowConfig{Involved: []string{"assigned_to"}, CustomerField: "account.number", ClosedStates: []string{"6", "7"}}
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := decodeServiceNow(b, "INC0010001", cfg)
		if err != nil {
			return
		}
		var r struct {
			Result []map[string]any `json:"result"`
		}
		if json.Unmarshal(b, &r) != nil || len(r.Result) != 1 {
			t.Fatal("decoded something other than one record")
		}
		if tk.Open && (r.Result[0]["active"] != "true" || r.Result[0]["state"] == "6" || r.Result[0]["state"] == "7") {
			t.Fatalf("open with %v", r.Result[0])
		}
		checkTicket(t, tk)
	})
}

func FuzzDecodeHTTPVerdict(f *testing.F) {
	for _, s := range []string{`{"valid":true,"expires_at":"2026-12-01T18:00:00Z","resources":["42"],"url":"https://t.example/1"}`,
		`{"valid":false,"reason":"ticket-closed"}`, `{"valid":"true"}`, `{"valid":false,"valid":true}`, `{"Valid":true}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := decodeHTTPVerdict(b)
		if err != nil || tk.Verdict != "" {
			return
		}
		// Valid only when the body really says "valid": true.
		var m map[string]any
		if json.Unmarshal(b, &m) != nil || m["valid"] != true {
			t.Fatalf("valid verdict from %q", b)
		}
	})
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"30", "0", "-1", "Tue, 01 Dec 2026 17:02:00 GMT", "99999999999999999999", "soon"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d := retryAfter(s, now); d <= 0 || d > MaxRetryAfter {
			t.Fatalf("retryAfter(%q) = %v", s, d)
		}
	})
}

func FuzzDecodeOpsgenieAlert(f *testing.F) {
	f.Add([]byte(`{"data":{"id":"70413a06-38d6-4c85-92b8-5ebc900d42e2-1568974870401","tinyId":"1791","status":"open","acknowledged":true,"owner":"Ana@corp.example","tags":["customer:42"],"responders":[{"id":"bb4d9938-c3c2-455d-aaab-727aa701c0d8","type":"user"}],"report":{"acknowledgedBy":"bob@corp.example"},"details":{"customer":"acme"}},"took":0.006,"requestId":"x"}`))
	cfg := &OpsgenieConfig{Involved: []string{"owner", "responders"}, CustomerTagPrefix: "customer:"}
	f.Fuzz(func(t *testing.T, b []byte) {
		al, err := decodeOpsgenieAlert(b, cfg)
		if err != nil {
			return
		}
		if al.ticket.Open == (al.ticket.Status == "closed") {
			t.Fatalf("open %v with status %q", al.ticket.Open, al.ticket.Status)
		}
		for _, id := range al.userIDs {
			if !ogUserID.MatchString(id) {
				t.Fatalf("user ID %q would go into a path", id)
			}
		}
		checkTicket(t, al.ticket)
		_, _ = decodeOpsgenieUser(b)
	})
}

// Jira sends number fields as doubles (42.0): a ticket whose number field
// holds customer 42 names "42", the value a route's bind reads from a path,
// and not "42.0", which matched no customer. A value with a fraction stays
// as written.
func TestFieldValuesReadNumbersAsTheirValue(t *testing.T) {
	for raw, want := range map[string]string{
		`42.0`: "42", `42`: "42", `4.2e1`: "42", `4200E-2`: "42", `-0.0`: "0", `[1.0, 2.00]`: "1 2",
		`42.5`: "42.5", `1e400`: "1e400", `0.1`: "0.1", `12345678901234567890.0`: "12345678901234567890",
	} {
		got, err := fieldValues([]byte(raw))
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("fieldValues(%s) = %q, %v; want %q", raw, got, err, want)
		}
	}
}
