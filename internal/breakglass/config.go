package breakglass

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/schedule"
)

// Config is the top-level break_glass: section of the gateway's YAML.
//
//	break_glass:
//	  default_policy: oncall            # routes that name no policy
//	  policies:
//	    oncall:
//	      groups: [sre]                 # who may break glass
//	      lifts: [time_window, justification]
//	      max_duration: 1h              # longest grant
//	      provider: pd                  # who is on call, is the incident active
//	      daily_limit: 3                # grants per user per day
//	      notify: [slack, siem]         # targets; default: all
//	      recheck_interval: 2m          # is the incident still active?
//	  providers:
//	    pd:
//	      type: pagerduty
//	      token: ${PAGERDUTY_TOKEN}
//	      escalation_policy_ids: [PABC123]
//	  notifications:
//	    slack: {type: slack, url: "${SLACK_WEBHOOK_URL}"}
//	    siem:  {type: webhook, url: https://siem.corp.example/hooks/bg, hmac_secret: "${BG_HMAC}"}
//	  reviewers: [security]
//
// Zero values mean "the default" (WithDefaults); Problems reports every bad
// value with its field path relative to the section.
type Config struct {
	// Policies by name. A route refers to one by name.
	Policies map[string]Policy `yaml:"policies"`
	// DefaultPolicy is the policy of routes that name none. Empty: the only
	// policy when there is exactly one, otherwise none.
	DefaultPolicy string `yaml:"default_policy"`
	// Providers by name: pagerduty, opsgenie or static.
	Providers map[string]ProviderConfig `yaml:"providers"`
	// Notifications are the targets every grant is announced to, by name.
	Notifications map[string]NotifyTarget `yaml:"notifications"`
	// NotifyRetry bounds the retries of a failing notification.
	NotifyRetry RetryConfig `yaml:"notify_retry"`
	// Reviewers are the groups that may list, review and revoke grants.
	Reviewers []string `yaml:"reviewers"`
	// LimitTimeZone is the IANA zone whose calendar day the daily limit
	// counts in (default UTC).
	LimitTimeZone string `yaml:"limit_time_zone"`
	// Retention is how long a grant stays listed for review (default 90 days).
	Retention time.Duration `yaml:"retention"`
}

// Policy says who may break glass and what a grant gives.
type Policy struct {
	// Groups: the user must be in at least one.
	Groups []string `yaml:"groups"`
	// Lifts names the requirement kinds a grant lifts: time_window,
	// justification, and device only together with LiftsDevice. Sign-in and
	// the route's allow/deny rules are never lifted.
	Lifts []string `yaml:"lifts"`
	// LiftsDevice must be true for "device" to appear in Lifts: lifting the
	// device check is a deliberate, separate choice.
	LiftsDevice bool `yaml:"lifts_device"`
	// MaxDuration is the longest grant (default 1h, at most 24h).
	MaxDuration time.Duration `yaml:"max_duration"`
	// Provider names the entry of providers that answers "on call?" and
	// "incident active?". Required.
	Provider string `yaml:"provider"`
	// DailyLimit is the number of grants per user per day under this policy
	// (default 3, at most 100).
	DailyLimit int `yaml:"daily_limit"`
	// Notify names the notification targets; empty means all of them.
	Notify []string `yaml:"notify"`
	// RecheckInterval is how often a grant's incident is re-checked while
	// the grant is used (default 2m, from 10s to 1h).
	RecheckInterval time.Duration `yaml:"recheck_interval"`
}

// Provider types.
const (
	TypePagerDuty = "pagerduty"
	TypeOpsgenie  = "opsgenie"
	TypeStatic    = "static"
)

// ProviderConfig is one paging/on-call provider. Fields are per type; a
// field set for another type is a problem.
type ProviderConfig struct {
	Type string `yaml:"type"`
	// BaseURL of the API (pagerduty: https://api.pagerduty.com, or
	// https://api.eu.pagerduty.com; opsgenie: https://api.opsgenie.com, or
	// https://api.eu.opsgenie.com). https only, except on loopback hosts.
	BaseURL string `yaml:"base_url"`
	// Timeout of one API call (default 5s, at most 60s).
	Timeout time.Duration `yaml:"timeout"`

	// Token is the PagerDuty REST API key (read-only suffices).
	Token Secret `yaml:"token"`
	// EscalationPolicyIDs, when set, limit both "on call" and the incidents
	// accepted to these PagerDuty escalation policies.
	EscalationPolicyIDs []string `yaml:"escalation_policy_ids"`
	// ScheduleIDs, when set, limit "on call" to these PagerDuty schedules.
	ScheduleIDs []string `yaml:"schedule_ids"`
	// MaxEscalationLevel, when > 0, counts only on-calls at this level or
	// lower (1 = the first responder).
	MaxEscalationLevel int `yaml:"max_escalation_level"`

	// APIKey is the Opsgenie API integration key.
	APIKey Secret `yaml:"api_key"`
	// Schedules are the Opsgenie schedules whose on-call recipients count.
	// Required for opsgenie.
	Schedules []string `yaml:"schedules"`
	// ScheduleIdentifierType: id (default) or name.
	ScheduleIdentifierType string `yaml:"schedule_identifier_type"`
	// Incidents says what an incident ID names in Opsgenie: alerts (default,
	// Alert API v2) or incidents (Incident API v1).
	Incidents string `yaml:"incidents"`
	// IncidentIdentifierType: id (default), tiny, or (alerts only) alias.
	IncidentIdentifierType string `yaml:"incident_identifier_type"`

	// Rota is a static rota written inline (type static).
	Rota *Rota `yaml:"rota"`
	// RotaFile is a YAML file holding a Rota (type static); relative paths
	// are resolved against the config file's directory (ResolvePaths).
	RotaFile string `yaml:"rota_file"`
}

// Notification target types.
const (
	TargetSlack   = "slack"
	TargetWebhook = "webhook"
)

// NotifyTarget is one place grants are announced to.
type NotifyTarget struct {
	// Type is slack (a Slack-compatible incoming webhook: {"text", "blocks"})
	// or webhook (the event as JSON).
	Type string `yaml:"type"`
	// URL is where to POST. It is a Secret: incoming-webhook URLs carry
	// their key. https only, except on loopback hosts.
	URL Secret `yaml:"url"`
	// SecretHeader and Secret (webhook only): a header sent with every
	// delivery, e.g. Authorization: Bearer ….
	SecretHeader string `yaml:"secret_header"`
	Secret       Secret `yaml:"secret"`
	// HMACSecret (webhook only) signs each delivery: X-Gateway-Signature:
	// sha256=hex(HMAC-SHA256(secret, timestamp + "." + body)), with the
	// Unix timestamp in X-Gateway-Timestamp.
	HMACSecret Secret `yaml:"hmac_secret"`
	// Timeout of one delivery attempt (default 10s, at most 60s).
	Timeout time.Duration `yaml:"timeout"`
}

// RetryConfig bounds notification retries: attempt n waits
// Initial·2^(n-1), at most Max (a Retry-After within Max is honoured).
type RetryConfig struct {
	Attempts int           `yaml:"attempts"` // default 6, at most 20
	Initial  time.Duration `yaml:"initial"`  // default 1s
	Max      time.Duration `yaml:"max"`      // default 1m, at most 1h
}

// Lifted requirement kinds.
const (
	LiftTimeWindow    = "time_window"
	LiftJustification = "justification"
	LiftDevice        = "device"
)

// Defaults.
const (
	DefaultMaxDuration     = time.Hour
	DefaultDailyLimit      = 3
	DefaultRecheckInterval = 2 * time.Minute
	DefaultRetention       = 90 * 24 * time.Hour
	DefaultProviderTimeout = 5 * time.Second
	DefaultNotifyTimeout   = 10 * time.Second
	DefaultNotifyAttempts  = 6
	DefaultNotifyInitial   = time.Second
	DefaultNotifyMax       = time.Minute
	DefaultPagerDutyURL    = "https://api.pagerduty.com"
	DefaultOpsgenieURL     = "https://api.opsgenie.com"
)

// Bounds.
const (
	maxMaxDuration     = 24 * time.Hour
	maxDailyLimit      = 100
	minRecheckInterval = 10 * time.Second
	maxRecheckInterval = time.Hour
	maxTimeout         = time.Minute
	maxRetention       = 400 * 24 * time.Hour
	minRetention       = 24 * time.Hour
	maxAttempts        = 20
	maxRetryMax        = time.Hour
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// providerIDRE bounds the IDs of schedules and escalation policies.
var providerIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,127}$`)

// WithDefaults returns a copy of c with every unset value at its default.
// The maps are copied; c is not modified.
func (c Config) WithDefaults() Config {
	if c.LimitTimeZone == "" {
		c.LimitTimeZone = "UTC"
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.NotifyRetry.Attempts == 0 {
		c.NotifyRetry.Attempts = DefaultNotifyAttempts
	}
	if c.NotifyRetry.Initial == 0 {
		c.NotifyRetry.Initial = DefaultNotifyInitial
	}
	if c.NotifyRetry.Max == 0 {
		c.NotifyRetry.Max = DefaultNotifyMax
	}
	if c.DefaultPolicy == "" && len(c.Policies) == 1 {
		for name := range c.Policies {
			c.DefaultPolicy = name
		}
	}
	c.Reviewers = slices.Clone(c.Reviewers)
	pols := make(map[string]Policy, len(c.Policies))
	for name, p := range c.Policies {
		if p.MaxDuration == 0 {
			p.MaxDuration = DefaultMaxDuration
		}
		if p.DailyLimit == 0 {
			p.DailyLimit = DefaultDailyLimit
		}
		if p.RecheckInterval == 0 {
			p.RecheckInterval = DefaultRecheckInterval
		}
		p.Groups = slices.Clone(p.Groups)
		p.Lifts = slices.Clone(p.Lifts)
		p.Notify = slices.Clone(p.Notify)
		pols[name] = p
	}
	c.Policies = pols
	provs := make(map[string]ProviderConfig, len(c.Providers))
	for name, p := range c.Providers {
		if p.Timeout == 0 {
			p.Timeout = DefaultProviderTimeout
		}
		switch p.Type {
		case TypePagerDuty:
			if p.BaseURL == "" {
				p.BaseURL = DefaultPagerDutyURL
			}
		case TypeOpsgenie:
			if p.BaseURL == "" {
				p.BaseURL = DefaultOpsgenieURL
			}
			if p.ScheduleIdentifierType == "" {
				p.ScheduleIdentifierType = "id"
			}
			if p.Incidents == "" {
				p.Incidents = "alerts"
			}
			if p.IncidentIdentifierType == "" {
				p.IncidentIdentifierType = "id"
			}
		}
		p.EscalationPolicyIDs = slices.Clone(p.EscalationPolicyIDs)
		p.ScheduleIDs = slices.Clone(p.ScheduleIDs)
		p.Schedules = slices.Clone(p.Schedules)
		provs[name] = p
	}
	c.Providers = provs
	targets := make(map[string]NotifyTarget, len(c.Notifications))
	for name, t := range c.Notifications {
		if t.Timeout == 0 {
			t.Timeout = DefaultNotifyTimeout
		}
		targets[name] = t
	}
	c.Notifications = targets
	return c
}

// ResolvePaths makes the relative file paths of the section (static
// providers' rota_file) absolute against dir, the config file's directory.
// An empty dir leaves them relative to the working directory.
func (c *Config) ResolvePaths(dir string) {
	if dir == "" {
		return
	}
	for name, p := range c.Providers {
		if p.RotaFile != "" && !filepath.IsAbs(p.RotaFile) {
			p.RotaFile = filepath.Join(dir, p.RotaFile)
			c.Providers[name] = p
		}
	}
}

// RotaFiles returns the rota files of the static providers, for a caller
// that reloads the configuration when they change.
func (c *Config) RotaFiles() []string {
	var out []string
	for _, name := range sortedKeys(c.Providers) {
		if f := c.Providers[name].RotaFile; f != "" && c.Providers[name].Type == TypeStatic {
			out = append(out, f)
		}
	}
	return out
}

// Problems returns every problem of the section, each with its field path
// relative to the section, e.g.
// `policies.oncall.max_duration: expected at most 24h, got 48h`. Zero values
// are valid (they mean the default). It has no side effects; it reads the
// rota files to check them. Secrets never appear in the messages.
func (c *Config) Problems() []string {
	var out []string
	add := func(path, format string, a ...any) {
		out = append(out, path+": "+fmt.Sprintf(format, a...))
	}
	for _, name := range sortedKeys(c.Policies) {
		if !nameRE.MatchString(name) {
			add("policies."+name, "expected a name of lowercase letters, digits, '-' and '_', got %q", name)
		}
		out = append(out, c.policyProblems("policies."+name, c.Policies[name])...)
	}
	switch {
	case c.DefaultPolicy != "":
		if _, ok := c.Policies[c.DefaultPolicy]; !ok {
			add("default_policy", "expected one of the policies %q, got %q", sortedKeys(c.Policies), c.DefaultPolicy)
		}
	}
	for _, name := range sortedKeys(c.Providers) {
		if !nameRE.MatchString(name) {
			add("providers."+name, "expected a name of lowercase letters, digits, '-' and '_', got %q", name)
		}
		out = append(out, providerProblems("providers."+name, c.Providers[name])...)
	}
	for _, name := range sortedKeys(c.Notifications) {
		if !nameRE.MatchString(name) {
			add("notifications."+name, "expected a name of lowercase letters, digits, '-' and '_', got %q", name)
		}
		out = append(out, targetProblems("notifications."+name, c.Notifications[name])...)
	}
	r := c.NotifyRetry
	if r.Attempts < 0 || r.Attempts > maxAttempts {
		add("notify_retry.attempts", "expected 1 to %d, got %d", maxAttempts, r.Attempts)
	}
	if r.Initial < 0 {
		add("notify_retry.initial", "expected a positive duration, got %s", r.Initial)
	}
	if r.Max < 0 || r.Max > maxRetryMax {
		add("notify_retry.max", "expected a positive duration of at most %s, got %s", maxRetryMax, r.Max)
	}
	if r.Initial > 0 && r.Max > 0 && r.Initial > r.Max {
		add("notify_retry.initial", "expected at most notify_retry.max (%s), got %s", r.Max, r.Initial)
	}
	for i, g := range c.Reviewers {
		if strings.TrimSpace(g) == "" {
			add(fmt.Sprintf("reviewers[%d]", i), "empty group name")
		}
	}
	if len(c.Policies) > 0 && len(c.Reviewers) == 0 {
		add("reviewers", "expected at least one group that reviews grants")
	}
	if c.LimitTimeZone != "" {
		// Not the machine's own zone ("Local", "localtime"): replicas would
		// count different days.
		if _, msg := loadZone(c.LimitTimeZone); msg != "" {
			add("limit_time_zone", "%s", msg)
		}
	}
	if c.Retention != 0 && (c.Retention < minRetention || c.Retention > maxRetention) {
		add("retention", "expected %s to %s, got %s", minRetention, maxRetention, c.Retention)
	}
	return out
}

func (c *Config) policyProblems(path string, p Policy) []string {
	var out []string
	add := func(field, format string, a ...any) {
		out = append(out, path+"."+field+": "+fmt.Sprintf(format, a...))
	}
	if len(p.Groups) == 0 {
		add("groups", "expected at least one group that may break glass")
	}
	for i, g := range p.Groups {
		if strings.TrimSpace(g) == "" {
			add(fmt.Sprintf("groups[%d]", i), "empty group name")
		}
	}
	if len(p.Lifts) == 0 {
		add("lifts", "expected at least one of %s, %s, %s", LiftTimeWindow, LiftJustification, LiftDevice)
	}
	seen := map[string]bool{}
	for i, l := range p.Lifts {
		f := fmt.Sprintf("lifts[%d]", i)
		switch l {
		case LiftTimeWindow, LiftJustification:
		case LiftDevice:
			if !p.LiftsDevice {
				add(f, "device is lifted only with lifts_device: true as well")
			}
		default:
			add(f, "expected %s, %s or %s (sign-in and rules are never lifted), got %q",
				LiftTimeWindow, LiftJustification, LiftDevice, l)
		}
		if seen[l] {
			add(f, "%q listed twice", l)
		}
		seen[l] = true
	}
	if p.LiftsDevice && !seen[LiftDevice] {
		add("lifts_device", "set, but lifts does not list device")
	}
	if p.MaxDuration < 0 || p.MaxDuration > maxMaxDuration {
		add("max_duration", "expected a positive duration of at most %s, got %s", maxMaxDuration, p.MaxDuration)
	} else if p.MaxDuration != 0 && p.MaxDuration < time.Minute {
		add("max_duration", "expected at least 1m, got %s", p.MaxDuration)
	}
	if p.DailyLimit < 0 || p.DailyLimit > maxDailyLimit {
		add("daily_limit", "expected 1 to %d, got %d", maxDailyLimit, p.DailyLimit)
	}
	if p.RecheckInterval != 0 && (p.RecheckInterval < minRecheckInterval || p.RecheckInterval > maxRecheckInterval) {
		add("recheck_interval", "expected %s to %s, got %s", minRecheckInterval, maxRecheckInterval, p.RecheckInterval)
	}
	switch {
	case p.Provider == "":
		add("provider", "expected the name of a provider")
	default:
		if _, ok := c.Providers[p.Provider]; !ok {
			add("provider", "expected one of the providers %q, got %q", sortedKeys(c.Providers), p.Provider)
		}
	}
	for i, n := range p.Notify {
		if _, ok := c.Notifications[n]; !ok {
			add(fmt.Sprintf("notify[%d]", i), "expected one of the notifications %q, got %q", sortedKeys(c.Notifications), n)
		}
	}
	return out
}

func providerProblems(path string, p ProviderConfig) []string {
	var out []string
	add := func(field, format string, a ...any) {
		out = append(out, path+"."+field+": "+fmt.Sprintf(format, a...))
	}
	// only reports fields that belong to another type.
	only := func(field string, set bool, types ...string) {
		if set && !slices.Contains(types, p.Type) {
			add(field, "only for type %s", strings.Join(types, " or "))
		}
	}
	only("base_url", p.BaseURL != "", TypePagerDuty, TypeOpsgenie)
	only("token", p.Token != "", TypePagerDuty)
	only("escalation_policy_ids", len(p.EscalationPolicyIDs) > 0, TypePagerDuty)
	only("schedule_ids", len(p.ScheduleIDs) > 0, TypePagerDuty)
	only("max_escalation_level", p.MaxEscalationLevel != 0, TypePagerDuty)
	only("api_key", p.APIKey != "", TypeOpsgenie)
	only("schedules", len(p.Schedules) > 0, TypeOpsgenie)
	only("schedule_identifier_type", p.ScheduleIdentifierType != "", TypeOpsgenie)
	only("incidents", p.Incidents != "", TypeOpsgenie)
	only("incident_identifier_type", p.IncidentIdentifierType != "", TypeOpsgenie)
	only("rota", p.Rota != nil, TypeStatic)
	only("rota_file", p.RotaFile != "", TypeStatic)
	if p.Timeout < 0 || p.Timeout > maxTimeout {
		add("timeout", "expected a positive duration of at most %s, got %s", maxTimeout, p.Timeout)
	}
	if p.BaseURL != "" {
		if err := checkURL(p.BaseURL); err != nil {
			add("base_url", "%v, got %q", err, p.BaseURL)
		}
	}
	ids := func(field string, vals []string) {
		for i, v := range vals {
			if !providerIDRE.MatchString(v) {
				add(fmt.Sprintf("%s[%d]", field, i), "expected an identifier of letters, digits, ' ', '.', '_', ':' and '-', got %q", v)
			}
		}
	}
	switch p.Type {
	case TypePagerDuty:
		if p.Token == "" {
			add("token", "expected the PagerDuty REST API key")
		}
		ids("escalation_policy_ids", p.EscalationPolicyIDs)
		ids("schedule_ids", p.ScheduleIDs)
		if p.MaxEscalationLevel < 0 || p.MaxEscalationLevel > 20 {
			add("max_escalation_level", "expected 1 to 20, got %d", p.MaxEscalationLevel)
		}
	case TypeOpsgenie:
		if p.APIKey == "" {
			add("api_key", "expected the Opsgenie API key")
		}
		if len(p.Schedules) == 0 {
			add("schedules", "expected at least one Opsgenie schedule")
		}
		ids("schedules", p.Schedules)
		if t := p.ScheduleIdentifierType; t != "" && t != "id" && t != "name" {
			add("schedule_identifier_type", "expected id or name, got %q", t)
		}
		if t := p.Incidents; t != "" && t != "alerts" && t != "incidents" {
			add("incidents", "expected alerts or incidents, got %q", t)
		}
		switch t := p.IncidentIdentifierType; {
		case t == "" || t == "id" || t == "tiny":
		case t == "alias" && p.Incidents != "incidents":
		default:
			add("incident_identifier_type", "expected id, tiny or (for alerts) alias, got %q", t)
		}
	case TypeStatic:
		switch {
		case p.Rota != nil && p.RotaFile != "":
			add("rota_file", "set both rota and rota_file; expected one")
		case p.Rota != nil:
			for _, prob := range p.Rota.Problems() {
				out = append(out, path+".rota."+prob)
			}
		case p.RotaFile != "":
			if _, err := LoadRota(p.RotaFile); err != nil {
				add("rota_file", "%v", err)
			}
		default:
			add("rota", "expected a rota (inline) or rota_file")
		}
	case "":
		add("type", "expected %s, %s or %s", TypePagerDuty, TypeOpsgenie, TypeStatic)
	default:
		add("type", "expected %s, %s or %s, got %q", TypePagerDuty, TypeOpsgenie, TypeStatic, p.Type)
	}
	return out
}

func targetProblems(path string, t NotifyTarget) []string {
	var out []string
	add := func(field, format string, a ...any) {
		out = append(out, path+"."+field+": "+fmt.Sprintf(format, a...))
	}
	switch t.Type {
	case TargetSlack:
		if t.SecretHeader != "" || t.Secret != "" || t.HMACSecret != "" {
			add("type", "secret_header, secret and hmac_secret are only for type webhook")
		}
	case TargetWebhook:
		if (t.SecretHeader == "") != (t.Secret == "") {
			add("secret_header", "set both secret_header and secret, or neither")
		}
		if t.SecretHeader != "" {
			if !validHeaderName(t.SecretHeader) {
				add("secret_header", "expected an HTTP header name, got %q", t.SecretHeader)
			} else if reservedHeader(t.SecretHeader) {
				add("secret_header", "%q is set by the gateway itself", t.SecretHeader)
			}
		}
	case "":
		add("type", "expected %s or %s", TargetSlack, TargetWebhook)
	default:
		add("type", "expected %s or %s, got %q", TargetSlack, TargetWebhook, t.Type)
	}
	if t.URL == "" {
		add("url", "expected the URL to POST to")
	} else if err := checkURL(t.URL.Reveal()); err != nil {
		// The URL is a secret: name the problem, never the value.
		add("url", "%v", err)
	}
	if t.Timeout < 0 || t.Timeout > maxTimeout {
		add("timeout", "expected a positive duration of at most %s, got %s", maxTimeout, t.Timeout)
	}
	return out
}

// checkURL accepts an absolute https URL, or http on a loopback host (the
// quickstart, tests). It never echoes the URL.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("expected an absolute https URL")
	}
	if u.User != nil {
		return fmt.Errorf("expected a URL without user info")
	}
	if u.Fragment != "" {
		return fmt.Errorf("expected a URL without a fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("expected https (plain http only on loopback hosts)")
	default:
		return fmt.Errorf("expected an https URL")
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validHeaderName(h string) bool {
	if h == "" || len(h) > 100 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// reservedHeader: headers the notifier sets itself.
func reservedHeader(h string) bool {
	switch http.CanonicalHeaderKey(h) {
	case "Content-Type", "Content-Length", "Host", "User-Agent", headerSignature, headerTimestamp, headerDelivery:
		return true
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := slices.Collect(maps.Keys(m))
	sort.Strings(keys)
	return keys
}

// normalizeEmail parses an address strictly (policy.ParseEmail) and returns
// its canonical form.
func normalizeEmail(s string) (string, error) {
	e, err := policy.ParseEmail(s)
	if err != nil {
		return "", err
	}
	return e.String(), nil
}

// isAddress reports whether an address a provider answered (a user's email,
// an on-call recipient) is the canonical address email. The provider's
// value is parsed as strictly as the signed-in user's and then compared
// exactly: Unicode case folding (strings.EqualFold) would take
// "\u212Aen@corp.example" (a Kelvin sign) for "ken@corp.example".
func isAddress(got, email string) bool {
	e, err := normalizeEmail(strings.TrimSpace(got))
	return err == nil && e == email
}

// loadZone loads an IANA zone as the schedules do (schedule.LoadZone: not
// the machine's own zone under any name, nor a copy only the system's zone
// directory holds), or says why not.
func loadZone(name string) (*time.Location, string) {
	loc, err := schedule.LoadZone(name)
	if err == nil {
		return loc, ""
	}
	msg := fmt.Sprintf("expected an IANA time zone such as Europe/Berlin, got %q", name)
	var ze *schedule.ZoneError
	if errors.As(err, &ze) && ze.Note != "" && name != "" {
		msg += " (" + ze.Note + ")"
	}
	return nil, msg
}
