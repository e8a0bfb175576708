package justify

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Config is the justification: section of the gateway's YAML. Every system
// is configured by name; routes name the systems they accept.
//
//	justification:
//	  systems:
//	    jira:
//	      type: jira
//	      base_url: https://corp.atlassian.net
//	      auth: {username: gateway@corp.example, password: "${JIRA_API_TOKEN}"}
//	      jira: {api: cloud-v3, involved: [assignee, watchers], customer_field: customfield_10050}
//	    pd:
//	      type: pagerduty
//	      auth: {token: "${PAGERDUTY_TOKEN}"}
//
// Values are decoded strictly (unknown keys are errors) by the config
// package, which substitutes ${ENV} before this package sees them.
type Config struct {
	// Systems by name (lowercase letters, digits, '-' and '_'). The name is
	// the prefix users may type ("jira:SUP-1") and appears in the token and
	// the audit record.
	Systems map[string]SystemConfig `yaml:"systems"`
	// MaxBodyBytes bounds every response body read from a system
	// (default 1 MiB). A larger body makes the system unavailable.
	MaxBodyBytes int64 `yaml:"max_body_bytes,omitempty"`
	// Header is the request header in which API clients (bearer tokens)
	// name their ticket ("jira:SUP-1"); default X-Gateway-Justification.
	// Browsers use the gateway's form instead. Whatever its name, the
	// gateway strips it before forwarding (requirement.HeaderConsumer).
	Header string `yaml:"header,omitempty"`
}

var headerName = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// reservedHeader: headers of HTTP itself, of the gateway's sign-in and of
// proxies, which the justification header (stripped before forwarding,
// like every header the gateway consumes) must not be.
func reservedHeader(h string) bool {
	switch h = strings.ToLower(h); h {
	case "authorization", "proxy-authorization", "cookie", "host", "content-type", "content-length", "content-encoding",
		"transfer-encoding", "connection", "upgrade", "te", "trailer", "accept", "user-agent", "origin", "referer",
		"forwarded", "x-real-ip", "traceparent", "tracestate":
		return true
	}
	return strings.HasPrefix(h, "x-forwarded-") || strings.HasPrefix(h, "sec-")
}

// DefaultHeader is the request header API clients name their ticket in.
const DefaultHeader = "X-Gateway-Justification"

// SystemConfig configures one ticket system.
type SystemConfig struct {
	// Type is one of jira, github, pagerduty, opsgenie, servicenow, http,
	// static.
	Type string `yaml:"type"`
	// BaseURL is the API's base URL (https). Defaults: github
	// https://api.github.com, pagerduty https://api.pagerduty.com, opsgenie
	// https://api.opsgenie.com (EU accounts: https://api.eu.opsgenie.com).
	// Not used by static.
	BaseURL string `yaml:"base_url,omitempty"`
	// WebURL is where people browse tickets, used to accept pasted URLs and
	// to build the ticket's link. Defaults to BaseURL (github:
	// https://github.com; pagerduty and opsgenie: none, set it to
	// https://SUBDOMAIN.pagerduty.com or https://SUBDOMAIN.app.opsgenie.com
	// to accept pasted URLs).
	WebURL string `yaml:"web_url,omitempty"`
	// Auth holds the credentials. How they are sent depends on the type.
	Auth AuthConfig `yaml:"auth,omitempty"`
	// TLS sets the CA that verifies the system and the client certificate
	// presented to it (mTLS, for the http verifier).
	TLS TLSConfig `yaml:"tls,omitempty"`
	// Timeout bounds one lookup, every request of it included (default 5s).
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// IDPattern is a regular expression the normalized ID must match as a
	// whole (it is anchored), in addition to the type's own syntax; e.g.
	// "(SUP|OPS)-[0-9]+" to accept only two Jira projects.
	IDPattern string `yaml:"id_pattern,omitempty"`
	// Cache is the answer cache.
	Cache CacheConfig `yaml:"cache,omitempty"`
	// Breaker is the circuit breaker.
	Breaker BreakerConfig `yaml:"breaker,omitempty"`
	// OnUnavailable is deny (default) or allow-cached: while the system is
	// unavailable, a found ticket answered within cache.max_stale still
	// stands.
	OnUnavailable string `yaml:"on_unavailable,omitempty"`

	// Type-specific settings; only the one of the system's type may be set.
	Jira       *JiraConfig       `yaml:"jira,omitempty"`
	GitHub     *GitHubConfig     `yaml:"github,omitempty"`
	PagerDuty  *PagerDutyConfig  `yaml:"pagerduty,omitempty"`
	ServiceNow *ServiceNowConfig `yaml:"servicenow,omitempty"`
	Opsgenie   *OpsgenieConfig   `yaml:"opsgenie,omitempty"`
	HTTP       *HTTPConfig       `yaml:"http,omitempty"`
	Static     *StaticConfig     `yaml:"static,omitempty"`
}

// LogValue leaves the credentials out.
func (s SystemConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("type", s.Type), slog.String("base_url", s.BaseURL),
		slog.Any("auth", s.Auth))
}

// AuthConfig holds a system's credentials.
//
//   - jira: username (the account's email) + password (an API token) for
//     Cloud; token (a personal access token, sent as Bearer) for Data Center.
//   - github: token (Bearer).
//   - pagerduty: token (a REST API key, sent as "Token token=...").
//   - opsgenie: token (an API integration key, sent as "GenieKey ...").
//   - servicenow: username + password (Basic), or token (an OAuth access
//     token, Bearer).
//   - http: token (Bearer), and/or a client certificate in tls.
type AuthConfig struct {
	Username string `yaml:"username,omitempty"`
	Password Secret `yaml:"password,omitempty"`
	Token    Secret `yaml:"token,omitempty"`
}

// LogValue leaves the secrets out.
func (a AuthConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("username", a.Username),
		slog.Bool("password_set", a.Password != ""), slog.Bool("token_set", a.Token != ""))
}

// Secret is a credential. It prints and logs as "REDACTED"; use string(s)
// to read it.
type Secret string

// String redacts.
func (s Secret) String() string { return "REDACTED" }

// GoString redacts.
func (s Secret) GoString() string { return `"REDACTED"` }

// LogValue redacts.
func (s Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalJSON redacts: a config or value encoded as JSON (a debug dump, an
// error body) never carries the credential.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"REDACTED"`), nil }

// MarshalText redacts (encoding/xml, YAML and other text encoders).
func (s Secret) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }

// TLSConfig names PEM files. Relative paths are resolved against the config
// file's directory (ResolvePaths).
type TLSConfig struct {
	// CAFile holds the roots that verify the system's certificate (default:
	// the host's roots).
	CAFile string `yaml:"ca_file,omitempty"`
	// CertFile and KeyFile are the client certificate and key (mTLS).
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
}

// CacheConfig is a system's answer cache. Answers are cached per ticket (per
// ticket, user, route and resource for the http verifier), in this process.
type CacheConfig struct {
	// TTL is how long a found ticket's answer is reused (default 1m).
	TTL time.Duration `yaml:"ttl,omitempty"`
	// NegativeTTL is how long "not found" is reused (default 10s; at most TTL).
	NegativeTTL time.Duration `yaml:"negative_ttl,omitempty"`
	// MaxStale is, with on_unavailable: allow-cached, how long after it was
	// verified a found ticket's answer may stand in while the system is
	// unavailable (default 15m).
	MaxStale time.Duration `yaml:"max_stale,omitempty"`
	// Size bounds the number of answers kept (default 10000).
	Size int `yaml:"size,omitempty"`
}

// BreakerConfig is a system's circuit breaker: after Failures consecutive
// failed lookups the system is not asked for OpenFor; then one probe goes
// through, and its outcome closes or reopens the circuit.
type BreakerConfig struct {
	Failures int           `yaml:"failures,omitempty"` // default 5
	OpenFor  time.Duration `yaml:"open_for,omitempty"` // default 30s
}

// JiraConfig is the jira-specific part.
type JiraConfig struct {
	// API is cloud-v3 (Jira Cloud REST v3, default) or datacenter-v2 (Jira
	// Data Center / Server REST v2).
	API string `yaml:"api,omitempty"`
	// Involved lists who counts as involved: assignee, reporter, watchers,
	// participants (default [assignee]).
	Involved []string `yaml:"involved,omitempty"`
	// ParticipantsField is the custom field holding more people (e.g. Jira
	// Service Management's "Request participants", customfield_10026).
	// Required when involved lists participants.
	ParticipantsField string `yaml:"participants_field,omitempty"`
	// CustomerField is the custom field naming the customer(s): a text
	// field, a select (option object), a multi-select or labels-like array,
	// or an organizations field.
	CustomerField string `yaml:"customer_field,omitempty"`
	// CustomerLabelPrefix names customers with labels: with "customer-", the
	// label "customer-acme" names the customer "acme".
	CustomerLabelPrefix string `yaml:"customer_label_prefix,omitempty"`
}

// GitHubConfig is the github-specific part.
type GitHubConfig struct {
	// Repos lists the accepted repositories as owner/name. Required.
	Repos []string `yaml:"repos"`
	// Users maps GitHub logins to company email addresses; an assignee
	// without an entry involves nobody, unless LoginClaim vouches for the
	// caller's login. A login listed here involves only its own email,
	// whatever any claim says.
	Users map[string]string `yaml:"users,omitempty"`
	// LoginClaim names the ID token claim that carries the person's GitHub
	// login, for people not listed in Users (e.g. "github_login"). Name
	// only a claim your IdP sets from the person's verified GitHub account
	// and that people cannot edit: whoever the claim names is taken to be
	// that GitHub user. Empty (the default): only Users involves anyone.
	// Claims that OIDC defines as chosen by people or not unique
	// (preferred_username, nickname, name…) are refused.
	LoginClaim string `yaml:"login_claim,omitempty"`
	// Involved lists who counts as involved: assignees, author (default
	// [assignees]).
	Involved []string `yaml:"involved,omitempty"`
	// CustomerLabelPrefix names customers with labels ("customer-acme").
	CustomerLabelPrefix string `yaml:"customer_label_prefix,omitempty"`
}

// PagerDutyConfig is the pagerduty-specific part.
type PagerDutyConfig struct {
	// Involved lists who counts as involved: assignees, acknowledgers
	// (default [assignees]).
	Involved []string `yaml:"involved,omitempty"`
}

// OpsgenieConfig is the opsgenie-specific part.
type OpsgenieConfig struct {
	// Involved lists who counts as involved: owner, responders (users named
	// as responders; teams, schedules and escalations are not expanded)
	// (default [owner, responders]). The acknowledger is not accepted:
	// Opsgenie reports it as the display name the acknowledging request
	// gave, which any API caller chooses; a person who acknowledges in
	// Opsgenie becomes the owner.
	Involved []string `yaml:"involved,omitempty"`
	// CustomerTagPrefix names customers with tags: with "customer:", the
	// tag "customer:acme" names "acme".
	CustomerTagPrefix string `yaml:"customer_tag_prefix,omitempty"`
	// CustomerDetail names the customer with an extra property (details)
	// of the alert, e.g. "customer".
	CustomerDetail string `yaml:"customer_detail,omitempty"`
}

// ServiceNowConfig is the servicenow-specific part.
type ServiceNowConfig struct {
	// Table is incident (default) or sn_customerservice_case.
	Table string `yaml:"table,omitempty"`
	// Involved lists reference fields to sys_user whose email counts as
	// involved (default [assigned_to]); e.g. [assigned_to, opened_by].
	Involved []string `yaml:"involved,omitempty"`
	// CustomerField is a (dot-walked) field naming the customer, e.g.
	// account.number (default for sn_customerservice_case) or company.name.
	// Empty for incident: incidents name no customer unless set.
	CustomerField string `yaml:"customer_field,omitempty"`
	// ClosedStates are the state values that count as closed even while the
	// record is active (default: incident 6,7,8; case 3,4,6,7). A record
	// whose active flag is false is always closed.
	ClosedStates []string `yaml:"closed_states,omitempty"`
}

// HTTPConfig is the http-verifier-specific part.
type HTTPConfig struct {
	// Case is how IDs are normalized: preserve (default), upper or lower.
	Case string `yaml:"case,omitempty"`
}

// StaticConfig lists tickets in the YAML, for the quickstart and tests.
type StaticConfig struct {
	Tickets []StaticTicket `yaml:"tickets"`
}

// StaticTicket is one ticket of a static system.
type StaticTicket struct {
	ID string `yaml:"id"`
	// State is open or closed.
	State     string   `yaml:"state"`
	Assignees []string `yaml:"assignees"`
	Customers []string `yaml:"customers,omitempty"`
}

// Type names.
const (
	TypeJira       = "jira"
	TypeGitHub     = "github"
	TypePagerDuty  = "pagerduty"
	TypeOpsgenie   = "opsgenie"
	TypeServiceNow = "servicenow"
	TypeHTTP       = "http"
	TypeStatic     = "static"
)

var types = []string{TypeJira, TypeGitHub, TypePagerDuty, TypeOpsgenie, TypeServiceNow, TypeHTTP, TypeStatic}

// Defaults.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultTTL          = time.Minute
	DefaultNegativeTTL  = 10 * time.Second
	DefaultMaxStale     = 15 * time.Minute
	DefaultCacheSize    = 10000
	DefaultFailures     = 5
	DefaultOpenFor      = 30 * time.Second
	DefaultMaxBodyBytes = 1 << 20
	// MaxRetryAfter caps the wait a 429 answer can impose.
	MaxRetryAfter = 10 * time.Minute
	// DefaultRetryAfter is the wait after a 429 without a usable Retry-After.
	DefaultRetryAfter = 30 * time.Second
)

// On-unavailable policies.
const (
	OnUnavailableDeny        = "deny"
	OnUnavailableAllowCached = "allow-cached"
)

var defaultBaseURL = map[string]string{
	TypeGitHub:    "https://api.github.com",
	TypePagerDuty: "https://api.pagerduty.com",
	TypeOpsgenie:  "https://api.opsgenie.com",
}

var defaultWebURL = map[string]string{
	TypeGitHub: "https://github.com",
}

// WithDefaults returns a copy of c with every unset value at its default.
// The maps and slices of the copy that defaults change are new.
func (c Config) WithDefaults() Config {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Header == "" {
		c.Header = DefaultHeader
	}
	systems := make(map[string]SystemConfig, len(c.Systems))
	for name, s := range c.Systems {
		systems[name] = s.withDefaults()
	}
	c.Systems = systems
	return c
}

func (s SystemConfig) withDefaults() SystemConfig {
	if s.BaseURL == "" {
		s.BaseURL = defaultBaseURL[s.Type]
	}
	if s.WebURL == "" {
		s.WebURL = defaultWebURL[s.Type]
		if s.WebURL == "" && s.Type != TypePagerDuty && s.Type != TypeOpsgenie {
			s.WebURL = s.BaseURL
		}
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Cache.TTL == 0 {
		s.Cache.TTL = DefaultTTL
	}
	if s.Cache.NegativeTTL == 0 {
		s.Cache.NegativeTTL = min(DefaultNegativeTTL, s.Cache.TTL)
	}
	if s.Cache.MaxStale == 0 {
		s.Cache.MaxStale = DefaultMaxStale
	}
	if s.Cache.Size == 0 {
		s.Cache.Size = DefaultCacheSize
	}
	if s.Breaker.Failures == 0 {
		s.Breaker.Failures = DefaultFailures
	}
	if s.Breaker.OpenFor == 0 {
		s.Breaker.OpenFor = DefaultOpenFor
	}
	if s.OnUnavailable == "" {
		s.OnUnavailable = OnUnavailableDeny
	}
	switch s.Type {
	case TypeJira:
		j := JiraConfig{}
		if s.Jira != nil {
			j = *s.Jira
		}
		if j.API == "" {
			j.API = JiraCloudV3
		}
		if len(j.Involved) == 0 {
			j.Involved = []string{"assignee"}
		}
		s.Jira = &j
	case TypeGitHub:
		g := GitHubConfig{}
		if s.GitHub != nil {
			g = *s.GitHub
		}
		if len(g.Involved) == 0 {
			g.Involved = []string{"assignees"}
		}
		s.GitHub = &g
	case TypePagerDuty:
		p := PagerDutyConfig{}
		if s.PagerDuty != nil {
			p = *s.PagerDuty
		}
		if len(p.Involved) == 0 {
			p.Involved = []string{"assignees"}
		}
		s.PagerDuty = &p
	case TypeOpsgenie:
		o := OpsgenieConfig{}
		if s.Opsgenie != nil {
			o = *s.Opsgenie
		}
		if len(o.Involved) == 0 {
			o.Involved = []string{"owner", "responders"}
		}
		s.Opsgenie = &o
	case TypeServiceNow:
		n := ServiceNowConfig{}
		if s.ServiceNow != nil {
			n = *s.ServiceNow
		}
		if n.Table == "" {
			n.Table = SNIncident
		}
		if len(n.Involved) == 0 {
			n.Involved = []string{"assigned_to"}
		}
		if n.CustomerField == "" && n.Table == SNCase {
			n.CustomerField = "account.number"
		}
		if len(n.ClosedStates) == 0 {
			n.ClosedStates = slices.Clone(snClosedStates[n.Table])
		}
		s.ServiceNow = &n
	case TypeHTTP:
		h := HTTPConfig{}
		if s.HTTP != nil {
			h = *s.HTTP
		}
		if h.Case == "" {
			h.Case = "preserve"
		}
		s.HTTP = &h
	}
	return s
}

// Jira API flavours and ServiceNow tables.
const (
	JiraCloudV3      = "cloud-v3"
	JiraDataCenterV2 = "datacenter-v2"
	SNIncident       = "incident"
	SNCase           = "sn_customerservice_case"
)

var snClosedStates = map[string][]string{
	SNIncident: {"6", "7", "8"},      // Resolved, Closed, Canceled
	SNCase:     {"3", "4", "6", "7"}, // Closed, Closed Incomplete(legacy), Resolved, Cancelled
}

var systemName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// FieldProblem is one problem with its field path relative to the section,
// written with a leading dot (".systems.jira.base_url"; "" for the section
// itself), the convention of the gateway's requirement kinds.
type FieldProblem struct {
	Path, Msg string
}

// FieldProblems returns every problem of c, sorted by path then message.
// Defaults need not be applied. It has no side effects; it stats the files
// it names.
func (c *Config) FieldProblems() []FieldProblem {
	var probs []FieldProblem
	add := func(path, format string, a ...any) {
		if path != "" {
			path = "." + path
		}
		probs = append(probs, FieldProblem{Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	if c.MaxBodyBytes < 0 || c.MaxBodyBytes > 64<<20 {
		add("max_body_bytes", "expected 1..67108864 bytes, got %d", c.MaxBodyBytes)
	}
	if c.Header != "" && !headerName.MatchString(c.Header) {
		add("header", "expected a header name such as X-Gateway-Justification, got %q", c.Header)
	} else if reservedHeader(c.Header) {
		add("header", "expected a header of its own such as X-Ticket, got the reserved %q: the gateway strips the justification header before forwarding", c.Header)
	}
	for name, s := range c.Systems {
		p := "systems." + name
		if !systemName.MatchString(name) {
			add(p, "expected a name of lowercase letters, digits, '-' and '_' starting with a letter (at most 32), got %q", name)
		}
		s.problems(p, add)
	}
	sort.Slice(probs, func(i, j int) bool {
		if probs[i].Path != probs[j].Path {
			return probs[i].Path < probs[j].Path
		}
		return probs[i].Msg < probs[j].Msg
	})
	return probs
}

// Problems returns every problem of c as "path: message" with the path
// relative to the section ("systems.jira.base_url: expected an https URL
// ..."), in the order of FieldProblems.
func (c *Config) Problems() []string {
	fp := c.FieldProblems()
	out := make([]string, len(fp))
	for i, p := range fp {
		out[i] = strings.TrimPrefix(p.Path, ".") + ": " + p.Msg
	}
	return out
}

func (s SystemConfig) problems(p string, add func(path, format string, a ...any)) {
	if !slices.Contains(types, s.Type) {
		add(p+".type", "expected one of %s, got %q", strings.Join(types, ", "), s.Type)
		return
	}
	d := s.withDefaults()
	if s.Type != TypeStatic {
		checkHTTPS(p+".base_url", d.BaseURL, add)
	} else if s.BaseURL != "" {
		add(p+".base_url", "a static system has no base_url")
	}
	if s.WebURL != "" {
		checkHTTPS(p+".web_url", s.WebURL, add)
	}
	checkDur := func(f string, v, max time.Duration) {
		if v < 0 || v > max {
			add(p+"."+f, "expected a duration between 0 and %s, got %s", max, v)
		}
	}
	checkDur("timeout", s.Timeout, time.Minute)
	checkDur("cache.ttl", s.Cache.TTL, 24*time.Hour)
	checkDur("cache.negative_ttl", s.Cache.NegativeTTL, time.Hour)
	checkDur("cache.max_stale", s.Cache.MaxStale, 24*time.Hour)
	checkDur("breaker.open_for", s.Breaker.OpenFor, time.Hour)
	if d.Cache.NegativeTTL > d.Cache.TTL {
		add(p+".cache.negative_ttl", "expected at most cache.ttl (%s), got %s", d.Cache.TTL, d.Cache.NegativeTTL)
	}
	if s.Cache.Size < 0 || s.Cache.Size > 1_000_000 {
		add(p+".cache.size", "expected 0..1000000 entries, got %d", s.Cache.Size)
	}
	if s.Breaker.Failures < 0 || s.Breaker.Failures > 1000 {
		add(p+".breaker.failures", "expected 0..1000, got %d", s.Breaker.Failures)
	}
	if s.OnUnavailable != "" && s.OnUnavailable != OnUnavailableDeny && s.OnUnavailable != OnUnavailableAllowCached {
		add(p+".on_unavailable", "expected deny or allow-cached, got %q", s.OnUnavailable)
	}
	if s.IDPattern != "" {
		if _, err := regexp.Compile(s.IDPattern); err != nil {
			add(p+".id_pattern", "expected a regular expression, got %q: %v", s.IDPattern, err)
		}
	}
	checkFile := func(f, path string) {
		if path == "" {
			return
		}
		if st, err := os.Stat(path); err != nil {
			add(p+".tls."+f, "expected a readable file, got %v", err)
		} else if st.IsDir() {
			add(p+".tls."+f, "expected a file, got directory %q", path)
		}
	}
	checkFile("ca_file", s.TLS.CAFile)
	checkFile("cert_file", s.TLS.CertFile)
	checkFile("key_file", s.TLS.KeyFile)
	if (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
		add(p+".tls", "set both cert_file and key_file, or neither")
	}
	if s.Type == TypeStatic && (s.TLS != TLSConfig{}) {
		add(p+".tls", "a static system makes no connections")
	}

	sections := map[string]bool{TypeJira: s.Jira != nil, TypeGitHub: s.GitHub != nil,
		TypePagerDuty: s.PagerDuty != nil, TypeOpsgenie: s.Opsgenie != nil, TypeServiceNow: s.ServiceNow != nil,
		TypeHTTP: s.HTTP != nil, TypeStatic: s.Static != nil}
	for _, t := range types {
		if sections[t] && t != s.Type {
			add(p+"."+t, "set for a system of type %s", s.Type)
		}
	}
	a := s.Auth
	basic := a.Username != "" || a.Password != ""
	if basic && (a.Username == "" || a.Password == "") {
		add(p+".auth", "set both username and password, or neither")
	}
	if basic && a.Token != "" {
		add(p+".auth", "set username/password or token, not both")
	}
	switch s.Type {
	case TypeJira:
		if !basic && a.Token == "" {
			add(p+".auth", "expected username (email) and password (API token) for Jira Cloud, or token (personal access token) for Data Center")
		}
		d.Jira.problems(p+".jira", add)
	case TypeGitHub:
		if basic {
			add(p+".auth", "github takes a token, not username/password")
		}
		d.GitHub.problems(p+".github", add)
	case TypePagerDuty:
		if a.Token == "" || basic {
			add(p+".auth.token", "expected a PagerDuty REST API key")
		}
		for i, v := range d.PagerDuty.Involved {
			if v != "assignees" && v != "acknowledgers" {
				add(fmt.Sprintf("%s.pagerduty.involved[%d]", p, i), "expected assignees or acknowledgers, got %q", v)
			}
		}
	case TypeOpsgenie:
		if a.Token == "" || basic {
			add(p+".auth.token", "expected an Opsgenie API key")
		}
		o := d.Opsgenie
		for i, v := range o.Involved {
			switch v {
			case "owner", "responders":
			case "acknowledger":
				// report.acknowledgedBy is the "user" text of the acknowledge
				// request, a display name any API caller sets as it likes.
				add(fmt.Sprintf("%s.opsgenie.involved[%d]", p, i), "expected owner or responders, got %q: the acknowledger Opsgenie reports is a display name the acknowledging request chooses, not a verified user (a person who acknowledges becomes the owner: use owner)", v)
			default:
				add(fmt.Sprintf("%s.opsgenie.involved[%d]", p, i), "expected owner or responders, got %q", v)
			}
		}
		if o.CustomerTagPrefix != "" && o.CustomerDetail != "" {
			add(p+".opsgenie", "set customer_tag_prefix or customer_detail, not both")
		}
	case TypeServiceNow:
		if !basic && a.Token == "" {
			add(p+".auth", "expected username and password, or token (an OAuth access token)")
		}
		d.ServiceNow.problems(p+".servicenow", add)
	case TypeHTTP:
		if a.Token == "" && s.TLS.CertFile == "" {
			add(p+".auth", "expected a token or a client certificate (tls.cert_file): the verifier must know it is the gateway asking")
		}
		if basic {
			add(p+".auth", "http takes a token, not username/password")
		}
		if c := d.HTTP.Case; c != "preserve" && c != "upper" && c != "lower" {
			add(p+".http.case", "expected preserve, upper or lower, got %q", c)
		}
	case TypeStatic:
		if basic || a.Token != "" {
			add(p+".auth", "a static system has no credentials")
		}
		if s.Static == nil || len(s.Static.Tickets) == 0 {
			add(p+".static.tickets", "expected at least one ticket")
		} else {
			s.Static.problems(p+".static", add)
		}
	}
}

func checkHTTPS(path, raw string, add func(path, format string, a ...any)) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		add(path, "expected an https URL without user, query or fragment, got %q", raw)
	}
}

var (
	customField = regexp.MustCompile(`^customfield_[0-9]{1,10}$`)
	snField     = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
	ghRepo      = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$`)
	claimName   = regexp.MustCompile(`^[\x21-\x7e]{1,256}$`)
)

// profileClaims are the OIDC standard claims that people (or an IdP's
// admins) choose and that need not be unique nor stay the same (OpenID
// Connect Core 1.0 §5.1, §5.7): none may stand for a GitHub account.
var profileClaims = []string{"preferred_username", "nickname", "name", "given_name", "family_name",
	"middle_name", "email", "profile", "website"}

func (j *JiraConfig) problems(p string, add func(path, format string, a ...any)) {
	if j.API != JiraCloudV3 && j.API != JiraDataCenterV2 {
		add(p+".api", "expected cloud-v3 or datacenter-v2, got %q", j.API)
	}
	for i, v := range j.Involved {
		if !slices.Contains([]string{"assignee", "reporter", "watchers", "participants"}, v) {
			add(fmt.Sprintf("%s.involved[%d]", p, i), "expected assignee, reporter, watchers or participants, got %q", v)
		}
	}
	if slices.Contains(j.Involved, "participants") && j.ParticipantsField == "" {
		add(p+".participants_field", "expected a custom field ID (customfield_NNNNN) when involved lists participants")
	}
	if j.ParticipantsField != "" && !customField.MatchString(j.ParticipantsField) {
		add(p+".participants_field", "expected customfield_NNNNN, got %q", j.ParticipantsField)
	}
	if j.CustomerField != "" && !customField.MatchString(j.CustomerField) {
		add(p+".customer_field", "expected customfield_NNNNN, got %q", j.CustomerField)
	}
	if j.CustomerField != "" && j.CustomerLabelPrefix != "" {
		add(p, "set customer_field or customer_label_prefix, not both")
	}
}

func (g *GitHubConfig) problems(p string, add func(path, format string, a ...any)) {
	if len(g.Repos) == 0 {
		add(p+".repos", "expected at least one owner/name")
	}
	for i, r := range g.Repos {
		if !ghRepo.MatchString(r) {
			add(fmt.Sprintf("%s.repos[%d]", p, i), "expected owner/name, got %q", r)
		}
	}
	for i, v := range g.Involved {
		if v != "assignees" && v != "author" {
			add(fmt.Sprintf("%s.involved[%d]", p, i), "expected assignees or author, got %q", v)
		}
	}
	if g.LoginClaim != "" {
		switch {
		case !claimName.MatchString(g.LoginClaim):
			add(p+".login_claim", "expected a claim name (printable ASCII, no spaces, at most 256), got %q", g.LoginClaim)
		case slices.Contains(profileClaims, g.LoginClaim):
			add(p+".login_claim", "expected a claim the IdP sets from the person's verified GitHub account (such as github_login), got %q: OIDC defines it as neither unique nor stable, so it cannot stand for a GitHub account", g.LoginClaim)
		}
	}
	logins := make([]string, 0, len(g.Users))
	for l := range g.Users {
		logins = append(logins, l)
	}
	sort.Strings(logins)
	for _, l := range logins {
		if !ghLogin.MatchString(l) {
			add(p+".users", "expected a GitHub login, got %q", l)
		}
		if _, err := normalizeEmail(g.Users[l]); err != nil {
			add(p+".users."+l, "%v", err)
		}
	}
}

func (n *ServiceNowConfig) problems(p string, add func(path, format string, a ...any)) {
	if n.Table != SNIncident && n.Table != SNCase {
		add(p+".table", "expected incident or sn_customerservice_case, got %q", n.Table)
	}
	for i, f := range n.Involved {
		if !snField.MatchString(f) || strings.Contains(f, ".") {
			add(fmt.Sprintf("%s.involved[%d]", p, i), "expected a reference field to sys_user (e.g. assigned_to), got %q", f)
		}
	}
	if n.CustomerField != "" && !snField.MatchString(n.CustomerField) {
		add(p+".customer_field", "expected a field name, dot-walked if needed (e.g. account.number), got %q", n.CustomerField)
	}
	for i, s := range n.ClosedStates {
		if s == "" || strings.ContainsAny(s, ",^=") {
			add(fmt.Sprintf("%s.closed_states[%d]", p, i), "expected a state value, got %q", s)
		}
	}
}

func (st *StaticConfig) problems(p string, add func(path, format string, a ...any)) {
	seen := map[string]int{}
	for i, t := range st.Tickets {
		tp := fmt.Sprintf("%s.tickets[%d]", p, i)
		id, err := normalizeCommon(t.ID)
		if err == nil {
			id = strings.ToUpper(id)
			if !staticID.MatchString(id) {
				err = fmt.Errorf("expected letters, digits, '-', '_' or '.', got %q", t.ID)
			}
		}
		if err != nil {
			add(tp+".id", "%v", err)
		} else if j, dup := seen[id]; dup {
			add(tp+".id", "duplicate of tickets[%d] (%q)", j, id)
		} else {
			seen[id] = i
		}
		if t.State != "open" && t.State != "closed" {
			add(tp+".state", "expected open or closed, got %q", t.State)
		}
		for j, a := range t.Assignees {
			if _, err := normalizeEmail(a); err != nil {
				add(fmt.Sprintf("%s.assignees[%d]", tp, j), "%v", err)
			}
		}
		for j, c := range t.Customers {
			if strings.TrimSpace(c) == "" {
				add(fmt.Sprintf("%s.customers[%d]", tp, j), "empty customer")
			}
		}
	}
}

// ResolvePaths makes the relative file paths of c absolute against dir
// (the config file's directory).
func (c *Config) ResolvePaths(dir string) {
	if dir == "" {
		return
	}
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for name, s := range c.Systems {
		abs(&s.TLS.CAFile)
		abs(&s.TLS.CertFile)
		abs(&s.TLS.KeyFile)
		c.Systems[name] = s
	}
}
