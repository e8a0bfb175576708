package justify_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/accessgateway/gateway/internal/justify"
)

func TestProblems(t *testing.T) {
	dir := t.TempDir()
	pemFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(pemFile, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	jiraOK := justify.SystemConfig{Type: "jira", BaseURL: "https://corp.atlassian.net",
		Auth: justify.AuthConfig{Username: "gw@corp.example", Password: "t"}}
	with := func(s justify.SystemConfig, f func(*justify.SystemConfig)) justify.SystemConfig {
		f(&s)
		return s
	}
	for _, c := range []struct {
		name    string
		cfg     justify.Config
		want    []string
		wantAny bool // the listed strings are substrings of some problem
	}{
		{name: "valid", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"jira": jiraOK}}},
		{name: "empty is valid", cfg: justify.Config{}},
		{name: "bad name", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"Jira!": jiraOK}},
			want: []string{`systems.Jira!: expected a name of lowercase letters, digits, '-' and '_' starting with a letter (at most 32), got "Jira!"`}},
		{name: "unknown type", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"x": {Type: "bugzilla"}}},
			want: []string{`systems.x.type: expected one of jira, github, pagerduty, opsgenie, servicenow, http, static, got "bugzilla"`}},
		{name: "ftp base URL", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"jira": with(jiraOK, func(s *justify.SystemConfig) {
			s.BaseURL = "ftp://x"
		})}}, want: []string{`systems.jira.base_url: expected an https URL without user, query or fragment, got "ftp://x"`}},
		{name: "missing base URL", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"jira": with(jiraOK, func(s *justify.SystemConfig) {
			s.BaseURL = ""
		})}}, want: []string{`systems.jira.base_url: expected an https URL without user, query or fragment, got ""`}},
		{name: "http base URL", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"jira": with(jiraOK, func(s *justify.SystemConfig) {
			s.BaseURL = "http://jira.corp.example"
		})}}, want: []string{`systems.jira.base_url: expected an https URL without user, query or fragment, got "http://jira.corp.example"`}},
		{name: "negative and huge durations", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"jira": with(jiraOK, func(s *justify.SystemConfig) {
			s.Timeout, s.Cache.TTL, s.Breaker.OpenFor = -time.Second, 48*time.Hour, 2*time.Hour
		})}}, want: []string{
			"systems.jira.breaker.open_for: expected a duration between 0 and 1h0m0s, got 2h0m0s",
			"systems.jira.cache.ttl: expected a duration between 0 and 24h0m0s, got 48h0m0s",
			"systems.jira.timeout: expected a duration between 0 and 1m0s, got -1s",
		}},
		{name: "negative TTL longer than TTL", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"jira": with(jiraOK, func(s *justify.SystemConfig) {
			s.Cache.TTL, s.Cache.NegativeTTL = time.Second, time.Minute
		})}}, want: []string{"systems.jira.cache.negative_ttl: expected at most cache.ttl (1s), got 1m0s"}},
		{name: "on_unavailable", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"jira": with(jiraOK, func(s *justify.SystemConfig) {
			s.OnUnavailable = "allow"
		})}}, want: []string{`systems.jira.on_unavailable: expected deny or allow-cached, got "allow"`}},
		{name: "bad id_pattern", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"jira": with(jiraOK, func(s *justify.SystemConfig) {
			s.IDPattern = "SUP-("
		})}}, want: []string{`systems.jira.id_pattern: expected a regular expression, got "SUP-("`}, wantAny: true},
		{name: "missing files", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"jira": with(jiraOK, func(s *justify.SystemConfig) {
			s.TLS = justify.TLSConfig{CAFile: filepath.Join(dir, "nope.pem"), CertFile: dir}
		})}}, want: []string{"systems.jira.tls.ca_file: expected a readable file", "systems.jira.tls.cert_file: expected a file, got directory",
			"systems.jira.tls: set both cert_file and key_file, or neither"}, wantAny: true},
		{name: "section of another type", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"jira": with(jiraOK, func(s *justify.SystemConfig) {
			s.GitHub = &justify.GitHubConfig{Repos: []string{"a/b"}}
		})}}, want: []string{"systems.jira.github: set for a system of type jira"}},
		{name: "jira without credentials", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"jira": with(jiraOK, func(s *justify.SystemConfig) {
			s.Auth = justify.AuthConfig{}
		})}}, want: []string{"systems.jira.auth: expected username (email) and password (API token) for Jira Cloud, or token (personal access token) for Data Center"}},
		{name: "half basic auth and a token", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"jira": with(jiraOK, func(s *justify.SystemConfig) {
			s.Auth = justify.AuthConfig{Username: "x", Token: "t"}
		})}}, want: []string{"systems.jira.auth: set both username and password, or neither", "systems.jira.auth: set username/password or token, not both"}},
		{name: "jira settings", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"jira": with(jiraOK, func(s *justify.SystemConfig) {
			s.Jira = &justify.JiraConfig{API: "cloud", Involved: []string{"assignee", "boss", "participants"}, CustomerField: "Customer", CustomerLabelPrefix: "c-"}
		})}}, want: []string{
			`systems.jira.jira.api: expected cloud-v3 or datacenter-v2, got "cloud"`,
			`systems.jira.jira.customer_field: expected customfield_NNNNN, got "Customer"`,
			`systems.jira.jira.involved[1]: expected assignee, reporter, watchers or participants, got "boss"`,
			"systems.jira.jira.participants_field: expected a custom field ID (customfield_NNNNN) when involved lists participants",
			"systems.jira.jira: set customer_field or customer_label_prefix, not both",
		}},
		{name: "github settings", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"gh": {Type: "github",
			Auth: justify.AuthConfig{Token: "t"}, GitHub: &justify.GitHubConfig{Repos: []string{"noslash"}, Users: map[string]string{"ana": "a@evil.example@corp.example", "-bad": "b@corp.example"}, Involved: []string{"owner"}}}}},
			want: []string{
				`systems.gh.github.involved[0]: expected assignees or author, got "owner"`,
				`systems.gh.github.repos[0]: expected owner/name, got "noslash"`,
				`systems.gh.github.users.ana: expected an email address, got "a@evil.example@corp.example"`,
				`systems.gh.github.users: expected a GitHub login, got "-bad"`,
			}},
		{name: "github without repos", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"gh": {Type: "github", Auth: justify.AuthConfig{Token: "t"}}}},
			want: []string{"systems.gh.github.repos: expected at least one owner/name"}},
		{name: "pagerduty without a token", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"pd": {Type: "pagerduty",
			PagerDuty: &justify.PagerDutyConfig{Involved: []string{"everyone"}}}}},
			want: []string{`systems.pd.auth.token: expected a PagerDuty REST API key`, `systems.pd.pagerduty.involved[0]: expected assignees or acknowledgers, got "everyone"`}},
		{name: "opsgenie settings", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"og": {Type: "opsgenie",
			Auth: justify.AuthConfig{Username: "u", Password: "p"}, Opsgenie: &justify.OpsgenieConfig{Involved: []string{"team"}, CustomerTagPrefix: "c:", CustomerDetail: "c"}}}},
			want: []string{
				"systems.og.auth.token: expected an Opsgenie API key",
				`systems.og.opsgenie.involved[0]: expected owner or responders, got "team"`,
				"systems.og.opsgenie: set customer_tag_prefix or customer_detail, not both",
			}},
		// report.acknowledgedBy is the "user" text of the acknowledge
		// request: any API caller could name anyone there.
		{name: "opsgenie acknowledger is not an identity", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"og": {Type: "opsgenie",
			Auth: justify.AuthConfig{Token: "k"}, Opsgenie: &justify.OpsgenieConfig{Involved: []string{"owner", "acknowledger"}}}}},
			want: []string{
				`systems.og.opsgenie.involved[1]: expected owner or responders, got "acknowledger": the acknowledger Opsgenie reports is a display name the acknowledging request chooses, not a verified user (a person who acknowledges becomes the owner: use owner)`,
			}},
		// preferred_username is chosen by people and neither unique nor
		// stable: it cannot stand for a GitHub account.
		{name: "github login claim people choose", cfg: justify.Config{Systems: map[string]justify.SystemConfig{
			"gh":  {Type: "github", Auth: justify.AuthConfig{Token: "t"}, GitHub: &justify.GitHubConfig{Repos: []string{"corp/support"}, LoginClaim: "preferred_username"}},
			"gh2": {Type: "github", Auth: justify.AuthConfig{Token: "t"}, GitHub: &justify.GitHubConfig{Repos: []string{"corp/support"}, LoginClaim: "github login"}},
			"gh3": {Type: "github", Auth: justify.AuthConfig{Token: "t"}, GitHub: &justify.GitHubConfig{Repos: []string{"corp/support"}, LoginClaim: "https://corp.example/github_login"}},
		}},
			want: []string{
				`systems.gh.github.login_claim: expected a claim the IdP sets from the person's verified GitHub account (such as github_login), got "preferred_username": OIDC defines it as neither unique nor stable, so it cannot stand for a GitHub account`,
				`systems.gh2.github.login_claim: expected a claim name (printable ASCII, no spaces, at most 256), got "github login"`,
			}},
		{name: "servicenow settings", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"sn": {Type: "servicenow", BaseURL: "https://x.service-now.com",
			Auth: justify.AuthConfig{Token: "t"}, ServiceNow: &justify.ServiceNowConfig{Table: "problem", Involved: []string{"assigned_to.email"}, CustomerField: "account^ORnumber", ClosedStates: []string{"6,7"}}}}},
			want: []string{
				`systems.sn.servicenow.closed_states[0]: expected a state value, got "6,7"`,
				`systems.sn.servicenow.customer_field: expected a field name, dot-walked if needed (e.g. account.number), got "account^ORnumber"`,
				`systems.sn.servicenow.involved[0]: expected a reference field to sys_user (e.g. assigned_to), got "assigned_to.email"`,
				`systems.sn.servicenow.table: expected incident or sn_customerservice_case, got "problem"`,
			}},
		{name: "http verifier without authentication", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"hv": {Type: "http", BaseURL: "https://v.corp.example",
			HTTP: &justify.HTTPConfig{Case: "title"}}}},
			want: []string{
				"systems.hv.auth: expected a token or a client certificate (tls.cert_file): the verifier must know it is the gateway asking",
				`systems.hv.http.case: expected preserve, upper or lower, got "title"`,
			}},
		{name: "static tickets", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"st": {Type: "static", BaseURL: "https://x",
			Static: &justify.StaticConfig{Tickets: []justify.StaticTicket{
				{ID: "SUP-1", State: "open", Assignees: []string{"ana@corp.example"}},
				{ID: "sup-1", State: "opened", Assignees: []string{"not an email"}, Customers: []string{" "}},
				{ID: "SUP-\uff11", State: "closed"},
			}}}}},
			want: []string{
				"systems.st.base_url: a static system has no base_url",
				`systems.st.static.tickets[1].assignees[0]: expected an email address, got "not an email"`,
				"systems.st.static.tickets[1].customers[0]: empty customer",
				`systems.st.static.tickets[1].id: duplicate of tickets[0] ("SUP-1")`,
				`systems.st.static.tickets[1].state: expected open or closed, got "opened"`,
				"systems.st.static.tickets[2].id: justify: ticket ID contains a character that is not plain ASCII: U+FF11 is a digit of another script; type the digits 0-9",
			}},
		{name: "static without tickets", cfg: justify.Config{Systems: map[string]justify.SystemConfig{"st": {Type: "static"}}},
			want: []string{"systems.st.static.tickets: expected at least one ticket"}},
		{name: "max body", cfg: justify.Config{MaxBodyBytes: -1}, want: []string{"max_body_bytes: expected 1..67108864 bytes, got -1"}},
		{name: "a reserved header", cfg: justify.Config{Header: "authorization"},
			want: []string{`header: expected a header of its own such as X-Ticket, got the reserved "authorization": the gateway strips the justification header before forwarding`}},
		{name: "a proxy's header", cfg: justify.Config{Header: "X-Forwarded-User"},
			want: []string{`header: expected a header of its own such as X-Ticket, got the reserved "X-Forwarded-User": the gateway strips the justification header before forwarding`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.cfg.Problems()
			if c.wantAny {
				for _, w := range c.want {
					found := false
					for _, g := range got {
						found = found || strings.Contains(g, w)
					}
					if !found {
						t.Errorf("expected a problem containing %q, got %q", w, got)
					}
				}
				return
			}
			g, w := slices.Clone(got), slices.Clone(c.want)
			slices.Sort(g)
			slices.Sort(w)
			if !slices.Equal(g, w) {
				t.Fatalf("expected\n  %q\ngot\n  %q", c.want, got)
			}
			fp := c.cfg.FieldProblems()
			for i, p := range fp {
				if !strings.HasPrefix(p.Path, ".") || got[i] != p.Path[1:]+": "+p.Msg {
					t.Fatalf("FieldProblems[%d] = %+v: expected a dotted path rendering as %q", i, p, got[i])
				}
				if i > 0 && fp[i-1].Path > p.Path {
					t.Fatalf("expected problems sorted by path, got %q before %q", fp[i-1].Path, p.Path)
				}
			}
			_, err := justify.New(c.cfg, justify.Options{})
			if (err == nil) != (len(c.want) == 0) {
				t.Fatalf("New: expected an error iff problems, got %v", err)
			}
		})
	}
	t.Run("New refuses a CA file without certificates", func(t *testing.T) {
		s := jiraOK
		s.TLS.CAFile = pemFile
		_, err := justify.New(justify.Config{Systems: map[string]justify.SystemConfig{"jira": s}}, justify.Options{})
		if err == nil || !strings.Contains(err.Error(), "systems.jira.tls: ca_file: expected PEM certificates") {
			t.Fatalf("expected a ca_file error, got %v", err)
		}
	})
}

// The YAML shape, decoded strictly as the config package does.
func TestConfigYAML(t *testing.T) {
	src := `
max_body_bytes: 65536
systems:
  jira:
    type: jira
    base_url: https://corp.atlassian.net
    auth: {username: gw@corp.example, password: secret-token}
    timeout: 3s
    id_pattern: "SUP-[0-9]+"
    cache: {ttl: 2m, negative_ttl: 5s, max_stale: 30m, size: 100}
    breaker: {failures: 3, open_for: 1m}
    on_unavailable: allow-cached
    jira:
      api: cloud-v3
      involved: [assignee, watchers, participants]
      participants_field: customfield_10026
      customer_field: customfield_10050
  demo:
    type: static
    static:
      tickets:
        - {id: DEMO-1, state: open, assignees: [ana@corp.example], customers: ["42"]}
`
	var c justify.Config
	if err := yaml.NewDecoder(strings.NewReader(src), yaml.Strict()).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if p := c.Problems(); len(p) != 0 {
		t.Fatalf("expected no problems, got %q", p)
	}
	j := c.Systems["jira"]
	if j.Timeout != 3*time.Second || j.Cache.TTL != 2*time.Minute || j.Breaker.Failures != 3 ||
		j.Jira.ParticipantsField != "customfield_10026" || j.Auth.Password != "secret-token" || c.MaxBodyBytes != 65536 {
		t.Fatalf("unexpected decode: %+v", j)
	}
	if err := yaml.NewDecoder(strings.NewReader("systems: {x: {type: static, colour: red}}"), yaml.Strict()).Decode(&c); err == nil {
		t.Fatal("expected an unknown key to be refused")
	}
}

func TestWithDefaults(t *testing.T) {
	c := justify.Config{Systems: map[string]justify.SystemConfig{
		"gh": {Type: "github"}, "pd": {Type: "pagerduty"}, "sn": {Type: "servicenow", ServiceNow: &justify.ServiceNowConfig{Table: justify.SNCase}},
		"j": {Type: "jira", BaseURL: "https://j.example", Cache: justify.CacheConfig{TTL: 5 * time.Second}},
	}}
	d := c.WithDefaults()
	gh, pd, sn, j := d.Systems["gh"], d.Systems["pd"], d.Systems["sn"], d.Systems["j"]
	for _, c := range []struct{ name, got, want string }{
		{"github base", gh.BaseURL, "https://api.github.com"},
		{"github web", gh.WebURL, "https://github.com"},
		{"pagerduty base", pd.BaseURL, "https://api.pagerduty.com"},
		{"pagerduty web", pd.WebURL, ""},
		{"jira web", j.WebURL, "https://j.example"},
		{"jira api", j.Jira.API, justify.JiraCloudV3},
		{"jira involved", fmt.Sprint(j.Jira.Involved), "[assignee]"},
		{"negative ttl at most ttl", j.Cache.NegativeTTL.String(), "5s"},
		{"timeout", j.Timeout.String(), "5s"},
		{"on_unavailable", j.OnUnavailable, "deny"},
		{"case customer", sn.ServiceNow.CustomerField, "account.number"},
		{"case closed states", fmt.Sprint(sn.ServiceNow.ClosedStates), "[3 4 6 7]"},
		{"max body", fmt.Sprint(d.MaxBodyBytes), "1048576"},
	} {
		if c.got != c.want {
			t.Errorf("%s: expected %q, got %q", c.name, c.want, c.got)
		}
	}
	if c.Systems["j"].Jira != nil || c.MaxBodyBytes != 0 {
		t.Error("expected WithDefaults to leave the original alone")
	}
}

func TestResolvePaths(t *testing.T) {
	c := justify.Config{Systems: map[string]justify.SystemConfig{"hv": {Type: "http",
		TLS: justify.TLSConfig{CAFile: "ca.pem", CertFile: "/abs/client.pem", KeyFile: "keys/client.key"}}}}
	c.ResolvePaths("/etc/gateway")
	got := c.Systems["hv"].TLS
	want := justify.TLSConfig{CAFile: "/etc/gateway/ca.pem", CertFile: "/abs/client.pem", KeyFile: "/etc/gateway/keys/client.key"}
	if got != want {
		t.Fatalf("expected %+v, got %+v", want, got)
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	sc := justify.SystemConfig{Type: "jira", Auth: justify.AuthConfig{Username: "gw", Password: "hunter2", Token: "tok-123"}}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("system", "config", sc, "auth", sc.Auth, "token", sc.Auth.Token)
	js, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	txt, err := sc.Auth.Token.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s", sc, sc.Auth, sc.Auth, sc.Auth.Password) + string(js) + string(txt)
	for _, secret := range []string{"hunter2", "tok-123"} {
		if strings.Contains(out, secret) {
			t.Fatalf("secret %q leaked: %s", secret, out)
		}
	}
	if !strings.Contains(out, "REDACTED") || !strings.Contains(buf.String(), `"password_set":true`) {
		t.Fatalf("expected redaction markers, got %s", out)
	}
}
