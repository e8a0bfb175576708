package explain

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/policy"
)

// TestExamples loads every example configuration shipped in deploy/examples
// (with the environment variables it references set) and runs its policy
// tests: a broken example is a broken quickstart.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../deploy/examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no example configurations found in deploy/examples")
	}
	ref := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{}
			for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
				env[m[1]] = "example-" + strings.ToLower(m[1])
			}
			cfg, err := config.LoadFile(f, config.Options{Lookup: func(k string) (string, bool) {
				v, ok := env[k]
				return v, ok
			}})
			if err != nil {
				t.Fatalf("load %s:\n%v", f, err)
			}
			results, err := RunTests(cfg)
			if err != nil {
				t.Fatalf("RunTests: %v", err)
			}
			if len(results) != len(cfg.Tests) {
				t.Fatalf("RunTests returned %d results for %d tests", len(results), len(cfg.Tests))
			}
			for _, r := range results {
				if !r.Pass {
					t.Errorf("policy test %q failed: %s", r.Name, r.Why)
				}
			}
		})
	}
}

const testConfig = `public_url: https://gw.corp.example
oidc: {issuer: https://login.corp.example, client_id: gw}
session: {cookie_domain: corp.example}
token: {keys: [{file: k.pem, state: active}]}
devices: {pcr_policy: {pcrs: [7]}}
routes:
  - name: console
    host: support.corp.example
    upstream: http://console:8080
    rules:
      allow: [{groups: [support]}]
      deny: [{domains: [contractors.example]}]
  - name: records
    host: support.corp.example
    path: /customers/{customer_id:[0-9]+}
    upstream: http://records:8080
    rules:
      allow: [{groups: [support], methods: [GET]}]
  - name: status
    host: status.corp.example
    upstream: http://status:8080
    public: true
  - name: admin
    host: admin.corp.example
    upstream: http://admin:8080
    rules:
      allow: [{groups: [platform], source_cidrs: [10.0.0.0/8]}]
    require:
      device: {trust: tpm-attested, max_age: 4h}
`

func loadTestConfig(t *testing.T, tests string) *config.Config {
	t.Helper()
	cfg, err := config.Load([]byte(testConfig+tests), config.Options{Dev: true})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

type askTest struct {
	name string
	q    Query
	want Answer
	// wantErr is the exact error; "" means success.
	wantErr string
}

func (tc askTest) run(t *testing.T, p *Policies) {
	t.Helper()
	q := tc.q
	if q.Time.IsZero() {
		q.Time = t0
	}
	got, err := p.Ask(q)
	if tc.wantErr != "" {
		if err == nil || err.Error() != tc.wantErr {
			t.Fatalf("Ask(%+v) error = %v, want %q", tc.q, err, tc.wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("Ask(%+v): %v", tc.q, err)
	}
	if !reflect.DeepEqual(got, tc.want) {
		t.Fatalf("Ask(%+v) =\n  %+v\nwant\n  %+v", tc.q, got, tc.want)
	}
}

func allowed() policy.Decision {
	return policy.Decision{Allow: true, Reasons: []policy.Reason{policy.ReasonAllowRule}}
}

func denied(r policy.Reason) policy.Decision { return policy.Decision{Reasons: []policy.Reason{r}} }

func TestAsk(t *testing.T) {
	p, err := New(loadTestConfig(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	fresh := map[string]any{"device": &device.Assumption{ID: "d1", AttestedAt: t0.Add(-time.Hour).Format(time.RFC3339)}}
	tests := []askTest{
		{name: "URL picks the route", q: Query{Email: "sam@corp.example", Groups: []string{"support"},
			URL: "https://support.corp.example/customers/42"},
			want: Answer{Route: "records", Path: "/customers/42", Decision: allowed()}},
		{name: "URL path is normalized before lookup", q: Query{Email: "sam@corp.example", Groups: []string{"support"},
			URL: "https://SUPPORT.corp.example/x/..//customers/%34%32?q=1#f", Method: "post"},
			want: Answer{Route: "records", Path: "/customers/42", Decision: denied(policy.ReasonNoAllowRule)}},
		{name: "regex variable falls back to the parent route", q: Query{Email: "sam@corp.example", Groups: []string{"support"},
			URL: "https://support.corp.example/customers/acme"},
			want: Answer{Route: "console", Path: "/customers/acme", Decision: allowed()}},
		{name: "deny rule", q: Query{Email: "c@contractors.example", Groups: []string{"support"}, URL: "https://support.corp.example/"},
			want: Answer{Route: "console", Path: "/", Decision: policy.Decision{Reasons: []policy.Reason{policy.ReasonDenyRule}, Rule: "deny[0]"}}},
		{name: "two @ is invalid", q: Query{Email: "a@evil.example@corp.example", Groups: []string{"support"},
			URL: "https://support.corp.example/"},
			want: Answer{Route: "console", Path: "/", Decision: denied(policy.ReasonInvalidIdentity)}},
		{name: "not signed in", q: Query{URL: "https://support.corp.example/"},
			want: Answer{Route: "console", Path: "/", Decision: denied(policy.ReasonSignInRequired)}},
		{name: "public route", q: Query{URL: "https://status.corp.example/"},
			want: Answer{Route: "status", Path: "/", Decision: policy.Decision{Allow: true, Reasons: []policy.Reason{policy.ReasonPublicRoute}}}},
		{name: "unknown host", q: Query{Email: "a@corp.example", URL: "https://evil.example/"},
			want: Answer{Path: "/", Decision: denied(policy.ReasonRouteNotFound)}},
		{name: "route and path", q: Query{Email: "sam@corp.example", Groups: []string{"support"}, Route: "records", Path: "/customers/7"},
			want: Answer{Route: "records", Path: "/customers/7", Decision: allowed()}},
		{name: "device required and fresh", q: Query{Email: "pat@corp.example", Groups: []string{"platform"},
			URL: "https://admin.corp.example/", SourceIP: "10.1.2.3", Assume: fresh},
			want: Answer{Route: "admin", Path: "/", Decision: policy.Decision{Allow: true,
				Reasons: []policy.Reason{policy.ReasonAllowRule}, NotAfter: t0.Add(3 * time.Hour)}}},
		{name: "device required and missing", q: Query{Email: "pat@corp.example", Groups: []string{"platform"},
			URL: "https://admin.corp.example/", SourceIP: "10.1.2.3"},
			want: Answer{Route: "admin", Path: "/", Decision: denied(device.ReasonNotVerified)}},
		{name: "source outside CIDR", q: Query{Email: "pat@corp.example", Groups: []string{"platform"},
			URL: "https://admin.corp.example/", SourceIP: "203.0.113.9", Assume: fresh},
			want: Answer{Route: "admin", Path: "/", Decision: denied(policy.ReasonNoAllowRule)}},

		{name: "relative URL", q: Query{URL: "/customers/42"}, wantErr: `explain: expected an absolute URL, got "/customers/42"`},
		{name: "encoded slash", q: Query{URL: "https://support.corp.example/a%2Fb"},
			wantErr: `route: bad path: encoded slash or backslash in "/a%2Fb"`},
		{name: "unknown route", q: Query{Route: "nope"}, wantErr: `explain: unknown route "nope"`},
		{name: "path served by another route", q: Query{Route: "records", Path: "/other"},
			wantErr: `explain: path "/other" is not served by route "records"`},
		{name: "bad source IP", q: Query{URL: "https://support.corp.example/", SourceIP: "10.0.0"},
			wantErr: `explain: source IP: ParseAddr("10.0.0"): IPv4 address too short`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, p) })
	}
}

func TestRunTests(t *testing.T) {
	cfg := loadTestConfig(t, `tests:
  - name: pass allow
    user: {email: sam@corp.example, groups: [support]}
    url: https://support.corp.example/customers/42
    expect: allow
  - name: pass deny with reason
    user: {email: c@contractors.example, groups: [support]}
    route: console
    expect: deny
    reasons: [deny-rule-matched]
  - name: fail wrong verdict
    user: {email: sam@corp.example, groups: [support]}
    url: https://support.corp.example/customers/42
    method: delete
    expect: allow
  - name: fail wrong reason
    url: https://support.corp.example/
    expect: deny
    reasons: [no-allow-rule-matched]
  - name: fail path not served
    user: {email: sam@corp.example}
    route: records
    path: /elsewhere
    expect: deny
  - name: device stale at the test time
    user: {email: pat@corp.example, groups: [platform]}
    url: https://admin.corp.example/
    source_ip: 10.1.2.3
    time: 2026-11-30T09:00:00Z
    device: {id: d1, attested_at: 2026-11-30T05:00:00Z}
    expect: deny
    reasons: [device-attestation-stale]
  - name: device attested at the test time by default
    user: {email: pat@corp.example, groups: [platform]}
    url: https://admin.corp.example/
    source_ip: 10.1.2.3
    time: 2026-11-30T09:00:00Z
    device: {id: d1}
    expect: allow
  - name: device problem
    user: {email: pat@corp.example, groups: [platform]}
    url: https://admin.corp.example/
    source_ip: 10.1.2.3
    device: {id: d1, problem: device-revoked}
    expect: deny
    reasons: [device-revoked]
`)
	results, err := RunTests(cfg)
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		Name string
		Pass bool
		Why  string
	}
	var got []outcome
	for _, r := range results {
		got = append(got, outcome{r.Name, r.Pass, r.Why})
	}
	want := []outcome{
		{"pass allow", true, ""},
		{"pass deny with reason", true, ""},
		{"fail wrong verdict", false, "expected allow, got deny [no-allow-rule-matched]"},
		{"fail wrong reason", false, `expected reason "no-allow-rule-matched", got [sign-in-required]`},
		{"fail path not served", false, `explain: path "/elsewhere" is not served by route "records"`},
		{"device stale at the test time", true, ""},
		{"device attested at the test time by default", true, ""},
		{"device problem", true, ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RunTests() =\n  %+v\nwant\n  %+v", got, want)
	}
}
