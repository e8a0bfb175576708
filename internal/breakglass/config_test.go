package breakglass

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

func TestProblems(t *testing.T) {
	type testCase struct {
		name string
		mod  func(c *Config)
		want []string
	}
	pol := func(c *Config, f func(p *Policy)) {
		p := c.Policies["oncall"]
		f(&p)
		c.Policies["oncall"] = p
	}
	prov := func(c *Config, name string, p ProviderConfig) {
		c.Providers[name] = p
	}
	cases := []testCase{
		{name: "valid", mod: func(c *Config) {}},
		{name: "empty section", mod: func(c *Config) { *c = Config{} }},
		{name: "no groups", mod: func(c *Config) { pol(c, func(p *Policy) { p.Groups = nil }) },
			want: []string{"policies.oncall.groups: expected at least one group that may break glass"}},
		{name: "blank group", mod: func(c *Config) { pol(c, func(p *Policy) { p.Groups = []string{"sre", " "} }) },
			want: []string{"policies.oncall.groups[1]: empty group name"}},
		{name: "lifts sign-in", mod: func(c *Config) { pol(c, func(p *Policy) { p.Lifts = []string{"sign_in"} }) },
			want: []string{`policies.oncall.lifts[0]: expected time_window, justification or device (sign-in and rules are never lifted), got "sign_in"`}},
		{name: "lifts nothing", mod: func(c *Config) { pol(c, func(p *Policy) { p.Lifts = nil }) },
			want: []string{"policies.oncall.lifts: expected at least one of time_window, justification, device"}},
		{name: "device without lifts_device", mod: func(c *Config) { pol(c, func(p *Policy) { p.Lifts = []string{"device"} }) },
			want: []string{"policies.oncall.lifts[0]: device is lifted only with lifts_device: true as well"}},
		{name: "device with lifts_device", mod: func(c *Config) {
			pol(c, func(p *Policy) { p.Lifts = []string{"device"}; p.LiftsDevice = true })
		}},
		{name: "lifts_device without device", mod: func(c *Config) { pol(c, func(p *Policy) { p.LiftsDevice = true }) },
			want: []string{"policies.oncall.lifts_device: set, but lifts does not list device"}},
		{name: "lift listed twice", mod: func(c *Config) { pol(c, func(p *Policy) { p.Lifts = []string{"time_window", "time_window"} }) },
			want: []string{`policies.oncall.lifts[1]: "time_window" listed twice`}},
		{name: "max_duration too long", mod: func(c *Config) { pol(c, func(p *Policy) { p.MaxDuration = 48 * time.Hour }) },
			want: []string{"policies.oncall.max_duration: expected a positive duration of at most 24h0m0s, got 48h0m0s"}},
		{name: "max_duration too short", mod: func(c *Config) { pol(c, func(p *Policy) { p.MaxDuration = time.Second }) },
			want: []string{"policies.oncall.max_duration: expected at least 1m, got 1s"}},
		{name: "negative daily_limit", mod: func(c *Config) { pol(c, func(p *Policy) { p.DailyLimit = -1 }) },
			want: []string{"policies.oncall.daily_limit: expected 1 to 100, got -1"}},
		{name: "recheck too often", mod: func(c *Config) { pol(c, func(p *Policy) { p.RecheckInterval = time.Second }) },
			want: []string{"policies.oncall.recheck_interval: expected 10s to 1h0m0s, got 1s"}},
		{name: "unknown provider", mod: func(c *Config) { pol(c, func(p *Policy) { p.Provider = "pd" }) },
			want: []string{`policies.oncall.provider: expected one of the providers ["rota"], got "pd"`}},
		{name: "no provider", mod: func(c *Config) { pol(c, func(p *Policy) { p.Provider = "" }) },
			want: []string{"policies.oncall.provider: expected the name of a provider"}},
		{name: "unknown notification", mod: func(c *Config) { pol(c, func(p *Policy) { p.Notify = []string{"slak"} }) },
			want: []string{`policies.oncall.notify[0]: expected one of the notifications [], got "slak"`}},
		{name: "bad policy name", mod: func(c *Config) { c.Policies["On Call"] = c.Policies["oncall"] },
			want: []string{`policies.On Call: expected a name of lowercase letters, digits, '-' and '_', got "On Call"`}},
		{name: "unknown default policy", mod: func(c *Config) { c.DefaultPolicy = "nope" },
			want: []string{`default_policy: expected one of the policies ["oncall"], got "nope"`}},
		{name: "no reviewers", mod: func(c *Config) { c.Reviewers = nil },
			want: []string{"reviewers: expected at least one group that reviews grants"}},
		{name: "bad limit zone", mod: func(c *Config) { c.LimitTimeZone = "Mars/Olympus" },
			want: []string{`limit_time_zone: expected an IANA time zone such as Europe/Berlin, got "Mars/Olympus"`}},
		// "Local" is each machine's own zone: replicas in different zones
		// would count different days, and a user would get a second day's
		// grants around midnight.
		{name: "machine's zone as the limit zone", mod: func(c *Config) { c.LimitTimeZone = "Local" },
			want: []string{`limit_time_zone: expected an IANA time zone such as Europe/Berlin, got "Local" (it depends on the machine)`}},
		// "localtime" names the machine's zone too, through the system's
		// zone directory (/usr/share/zoneinfo/localtime -> /etc/localtime).
		{name: "machine's zone file as the limit zone", mod: func(c *Config) { c.LimitTimeZone = "localtime" },
			want: []string{`limit_time_zone: expected an IANA time zone such as Europe/Berlin, got "localtime" (it depends on the machine)`}},
		{name: "retention too short", mod: func(c *Config) { c.Retention = time.Hour },
			want: []string{"retention: expected 24h0m0s to 9600h0m0s, got 1h0m0s"}},
		{name: "retry attempts", mod: func(c *Config) { c.NotifyRetry = RetryConfig{Attempts: 50, Initial: time.Minute, Max: time.Second} },
			want: []string{"notify_retry.attempts: expected 1 to 20, got 50", "notify_retry.initial: expected at most notify_retry.max (1s), got 1m0s"}},
		{name: "provider without type", mod: func(c *Config) { prov(c, "x", ProviderConfig{}) },
			want: []string{"providers.x.type: expected pagerduty, opsgenie or static"}},
		{name: "provider of unknown type", mod: func(c *Config) { prov(c, "x", ProviderConfig{Type: "victorops"}) },
			want: []string{`providers.x.type: expected pagerduty, opsgenie or static, got "victorops"`}},
		{name: "pagerduty without token", mod: func(c *Config) { prov(c, "pd", ProviderConfig{Type: TypePagerDuty}) },
			want: []string{"providers.pd.token: expected the PagerDuty REST API key"}},
		{name: "pagerduty over plain http", mod: func(c *Config) {
			prov(c, "pd", ProviderConfig{Type: TypePagerDuty, Token: "t", BaseURL: "http://api.pagerduty.com"})
		}, want: []string{`providers.pd.base_url: expected https (plain http only on loopback hosts), got "http://api.pagerduty.com"`}},
		{name: "pagerduty on loopback http", mod: func(c *Config) {
			prov(c, "pd", ProviderConfig{Type: TypePagerDuty, Token: "t", BaseURL: "http://127.0.0.1:8080"})
		}},
		{name: "pagerduty with opsgenie fields", mod: func(c *Config) {
			prov(c, "pd", ProviderConfig{Type: TypePagerDuty, Token: "t", Schedules: []string{"s"}, APIKey: "k"})
		}, want: []string{"providers.pd.api_key: only for type opsgenie", "providers.pd.schedules: only for type opsgenie"}},
		{name: "pagerduty bad ids", mod: func(c *Config) {
			prov(c, "pd", ProviderConfig{Type: TypePagerDuty, Token: "t", EscalationPolicyIDs: []string{"a/b"}, MaxEscalationLevel: 99})
		}, want: []string{`providers.pd.escalation_policy_ids[0]: expected an identifier of letters, digits, ' ', '.', '_', ':' and '-', got "a/b"`,
			"providers.pd.max_escalation_level: expected 1 to 20, got 99"}},
		{name: "opsgenie without schedules", mod: func(c *Config) {
			prov(c, "og", ProviderConfig{Type: TypeOpsgenie, APIKey: "k"})
		}, want: []string{"providers.og.schedules: expected at least one Opsgenie schedule"}},
		{name: "opsgenie bad types", mod: func(c *Config) {
			prov(c, "og", ProviderConfig{Type: TypeOpsgenie, APIKey: "k", Schedules: []string{"s"}, ScheduleIdentifierType: "uuid",
				Incidents: "pages", IncidentIdentifierType: "alias"})
		}, want: []string{`providers.og.schedule_identifier_type: expected id or name, got "uuid"`,
			`providers.og.incidents: expected alerts or incidents, got "pages"`}},
		{name: "opsgenie incidents by alias", mod: func(c *Config) {
			prov(c, "og", ProviderConfig{Type: TypeOpsgenie, APIKey: "k", Schedules: []string{"s"}, Incidents: "incidents", IncidentIdentifierType: "alias"})
		}, want: []string{`providers.og.incident_identifier_type: expected id, tiny or (for alerts) alias, got "alias"`}},
		{name: "static without rota", mod: func(c *Config) { prov(c, "s", ProviderConfig{Type: TypeStatic}) },
			want: []string{"providers.s.rota: expected a rota (inline) or rota_file"}},
		{name: "static with both", mod: func(c *Config) {
			prov(c, "s", ProviderConfig{Type: TypeStatic, Rota: testRota(), RotaFile: "/x.yaml"})
		}, want: []string{"providers.s.rota_file: set both rota and rota_file; expected one"}},
		{name: "static with a missing file", mod: func(c *Config) {
			prov(c, "s", ProviderConfig{Type: TypeStatic, RotaFile: "/nonexistent/rota.yaml"})
		}, want: []string{"providers.s.rota_file: breakglass: read rota: open /nonexistent/rota.yaml: no such file or directory"}},
		{name: "notification without type or URL", mod: func(c *Config) { c.Notifications = map[string]NotifyTarget{"n": {}} },
			want: []string{"notifications.n.type: expected slack or webhook", "notifications.n.url: expected the URL to POST to"}},
		{name: "slack with webhook fields", mod: func(c *Config) {
			c.Notifications = map[string]NotifyTarget{"n": {Type: TargetSlack, URL: "https://hooks.slack.com/services/T/B/SECRET", HMACSecret: "x"}}
		}, want: []string{"notifications.n.type: secret_header, secret and hmac_secret are only for type webhook"}},
		{name: "webhook over plain http", mod: func(c *Config) {
			c.Notifications = map[string]NotifyTarget{"n": {Type: TargetWebhook, URL: "http://siem.corp.example/SECRET"}}
		}, want: []string{"notifications.n.url: expected https (plain http only on loopback hosts)"}},
		{name: "webhook URL with user info", mod: func(c *Config) {
			c.Notifications = map[string]NotifyTarget{"n": {Type: TargetWebhook, URL: "https://user:SECRET@siem.corp.example/"}}
		}, want: []string{"notifications.n.url: expected a URL without user info"}},
		{name: "webhook header without secret", mod: func(c *Config) {
			c.Notifications = map[string]NotifyTarget{"n": {Type: TargetWebhook, URL: "https://siem.corp.example/", SecretHeader: "X-Token"}}
		}, want: []string{"notifications.n.secret_header: set both secret_header and secret, or neither"}},
		{name: "webhook bad header", mod: func(c *Config) {
			c.Notifications = map[string]NotifyTarget{"n": {Type: TargetWebhook, URL: "https://siem.corp.example/", SecretHeader: "X Token", Secret: "s"}}
		}, want: []string{`notifications.n.secret_header: expected an HTTP header name, got "X Token"`}},
		{name: "webhook reserved header", mod: func(c *Config) {
			c.Notifications = map[string]NotifyTarget{"n": {Type: TargetWebhook, URL: "https://siem.corp.example/", SecretHeader: "x-gateway-signature", Secret: "s"}}
		}, want: []string{`notifications.n.secret_header: "x-gateway-signature" is set by the gateway itself`}},
	}
	// The bad-rota case lists the rota's own problems.
	cases = append(cases, testCase{name: "static with a bad inline rota", mod: func(c *Config) {
		r := testRota()
		r.Weekly[0].To = "25:00"
		prov(c, "s", ProviderConfig{Type: TypeStatic, Rota: r, Timeout: -time.Second})
	}, want: []string{
		"providers.s.timeout: expected a positive duration of at most 1m0s, got -1s",
		`providers.s.rota.weekly[0].to: expected a time of day HH:MM, got "25:00"`,
	}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.mod(&c)
			got := c.Problems()
			if !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("Problems() =\n%q\nwant\n%q", got, tc.want)
			}
			for _, p := range got {
				if strings.Contains(p, "SECRET") {
					t.Fatalf("a problem shows a secret: %q", p)
				}
			}
			// New refuses exactly the configurations with problems.
			svc, err := New(c, Options{Store: newMemStore(t)})
			if (err != nil) != (len(tc.want) > 0) {
				t.Fatalf("New: expected an error iff there are problems, got %v", err)
			}
			if svc != nil {
				svc.Close()
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	c := testConfig()
	c.Providers["og"] = ProviderConfig{Type: TypeOpsgenie, APIKey: "k", Schedules: []string{"s"}}
	d := c.WithDefaults()
	p := d.Policies["oncall"]
	if p.MaxDuration != DefaultMaxDuration || p.DailyLimit != DefaultDailyLimit || p.RecheckInterval != DefaultRecheckInterval {
		t.Fatalf("policy defaults: %+v", p)
	}
	if d.DefaultPolicy != "oncall" || d.LimitTimeZone != "UTC" || d.Retention != DefaultRetention {
		t.Fatalf("section defaults: %+v", d)
	}
	og := d.Providers["og"]
	if og.BaseURL != DefaultOpsgenieURL || og.ScheduleIdentifierType != "id" || og.Incidents != "alerts" || og.Timeout != DefaultProviderTimeout {
		t.Fatalf("opsgenie defaults: %+v", og)
	}
	if c.Policies["oncall"].MaxDuration != 0 || c.DefaultPolicy != "" || c.Providers["og"].BaseURL != "" {
		t.Fatal("WithDefaults modified its receiver")
	}
	// Two policies and no default_policy: no default.
	c.Policies["other"] = c.Policies["oncall"]
	if d := c.WithDefaults(); d.DefaultPolicy != "" {
		t.Fatalf("expected no default among two policies, got %q", d.DefaultPolicy)
	}
}

func TestResolvePaths(t *testing.T) {
	c := Config{Providers: map[string]ProviderConfig{
		"rel": {Type: TypeStatic, RotaFile: "rota.yaml"},
		"abs": {Type: TypeStatic, RotaFile: "/etc/gateway/rota.yaml"},
		"pd":  {Type: TypePagerDuty, Token: "t"},
	}}
	c.ResolvePaths("/etc/gateway/conf.d")
	if got := c.Providers["rel"].RotaFile; got != "/etc/gateway/conf.d/rota.yaml" {
		t.Fatalf("relative rota_file resolved to %q", got)
	}
	if got := c.Providers["abs"].RotaFile; got != "/etc/gateway/rota.yaml" {
		t.Fatalf("absolute rota_file changed to %q", got)
	}
	c.ResolvePaths("")
	if got := c.Providers["rel"].RotaFile; got != "/etc/gateway/conf.d/rota.yaml" {
		t.Fatalf("empty dir changed the path to %q", got)
	}
	if got, want := c.RotaFiles(), []string{"/etc/gateway/rota.yaml", "/etc/gateway/conf.d/rota.yaml"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("RotaFiles() = %q, want %q", got, want)
	}
}

// The section decodes strictly from YAML as the gateway's config loader
// does, and a rota file is read by New.
func TestConfigFromYAML(t *testing.T) {
	dir := t.TempDir()
	rota := `
time_zone: Europe/Berlin
weekly:
  - users: [alice@corp.example]
    days: [mon, tue, wed, thu, fri, sat, sun]
    from: "00:00"
    to: "24:00"
incidents:
  - {id: INC-1, status: active}
`
	if err := os.WriteFile(filepath.Join(dir, "rota.yaml"), []byte(rota), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `
default_policy: oncall
policies:
  oncall:
    groups: [sre]
    lifts: [time_window]
    max_duration: 30m
    provider: rota
    daily_limit: 2
    notify: [slack]
    recheck_interval: 1m
providers:
  rota:
    type: static
    rota_file: rota.yaml
  pd:
    type: pagerduty
    token: pd-secret
    escalation_policy_ids: [PEP1]
notifications:
  slack:
    type: slack
    url: https://hooks.slack.com/services/T0/B0/SECRETPART
notify_retry: {attempts: 4, initial: 2s, max: 30s}
reviewers: [security]
limit_time_zone: Europe/Berlin
retention: 720h
`
	var c Config
	if err := yaml.UnmarshalWithOptions([]byte(src), &c, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if c.Providers["pd"].Token.Reveal() != "pd-secret" || c.NotifyRetry.Initial != 2*time.Second {
		t.Fatalf("decoded %+v", c)
	}
	c.ResolvePaths(dir)
	if p := c.Problems(); len(p) > 0 {
		t.Fatalf("Problems: %q", p)
	}
	f := newFixture(t, c, Options{})
	if p, ok := f.svc.Policy(""); !ok || p.MaxDuration != 30*time.Minute || p.DailyLimit != 2 {
		t.Fatalf("Policy(\"\") = %+v, %v", p, ok)
	}
	r := request("billing", "INC-1")
	if _, err := f.svc.Request(t.Context(), alice, r); err != nil {
		t.Fatalf("Request with the rota file: %v", err)
	}

	// Secrets stay out of logs and JSON.
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "pd", c.Providers["pd"], "slack", c.Notifications["slack"])
	js, _ := json.Marshal(c)
	for _, out := range []string{buf.String(), string(js), fmt.Sprintf("%v %+v %#v", c, c, c)} {
		if strings.Contains(out, "pd-secret") || strings.Contains(out, "SECRETPART") {
			t.Fatalf("a secret leaked: %s", out)
		}
	}

	var bad Config
	err := yaml.UnmarshalWithOptions([]byte("policies:\n  oncall:\n    grups: [sre]\n"), &bad, yaml.Strict())
	if err == nil || !strings.Contains(err.Error(), "grups") {
		t.Fatalf("expected an unknown-key error, got %v", err)
	}
}

// Break-glass is loud: outside `gateway dev` a section that announces grants
// to no one is refused (the quickstart may leave them out).
func TestProductionNeedsANotificationTarget(t *testing.T) {
	none := &Config{}
	if p := (Kind{}).ProductionProblems(none); len(p) != 1 || p[0].Path != ".notifications" || !strings.Contains(p[0].Msg, "required outside gateway dev") {
		t.Fatalf("no target: %+v", p)
	}
	one := &Config{Notifications: map[string]NotifyTarget{"ops": {Type: TargetWebhook, URL: "https://hooks.corp.example/x"}}}
	if p := (Kind{}).ProductionProblems(one); len(p) != 0 {
		t.Fatalf("one target: %+v", p)
	}
}
