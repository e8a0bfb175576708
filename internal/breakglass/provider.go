package breakglass

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Provider answers the two questions break-glass asks a paging system. Its
// methods must be safe for concurrent use.
type Provider interface {
	// OnCall reports whether the user with this email address is on call
	// at the instant at. An address the provider does not know is not on
	// call (false, nil). An error means the provider could not answer.
	OnCall(ctx context.Context, email string, at time.Time) (bool, error)
	// Incident returns the incident with this ID. It returns an error
	// wrapping ErrNotFound when the provider says there is none, a
	// *MisconfiguredError when its answer says the configuration is wrong,
	// and an *UnavailableError when it could not answer.
	Incident(ctx context.Context, id string) (Incident, error)
}

// Incident is what break-glass needs to know about a page or incident.
type Incident struct {
	// ID is the identifier as asked (what the user typed, normalized by
	// nothing): rechecks ask the provider with it again.
	ID string `json:"id"`
	// ProviderID is the provider's own ID when it differs from ID (an
	// Opsgenie tiny ID or alias was asked).
	ProviderID string `json:"provider_id,omitempty"`
	Provider   string `json:"provider"`
	Title      string `json:"title,omitempty"`
	// URL is the incident's page at the provider, for people.
	URL string `json:"url,omitempty"`
	// Status is the provider's own word (triggered, acknowledged, resolved,
	// open, closed, active…), for the audit record.
	Status string `json:"status"`
	// Active is true while the incident is open: PagerDuty triggered or
	// acknowledged; Opsgenie open; static active.
	Active bool `json:"active"`
}

// ErrNotFound: the provider has no such incident.
var ErrNotFound = errors.New("breakglass: incident not found")

// notFoundError is the API client's 404: ErrNotFound for an incident's
// address; a caller that asked for something else (a list) says what it
// means instead, with path.
type notFoundError struct{ provider, path string }

func (e *notFoundError) Error() string {
	return ErrNotFound.Error() + ": " + e.provider + " answered 404 for " + e.path
}

func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

// UnavailableError means a provider could not answer: a network error, a
// timeout, a non-2xx status other than 401, 403 and 404, a rate limit
// (429), or a body that is not the documented JSON. It may pass; callers
// deny meanwhile.
type UnavailableError struct {
	Provider string
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// RetryAfter is set for 429: no request goes to the provider before it.
	RetryAfter time.Time
	Err        error
}

func (e *UnavailableError) Error() string {
	s := "breakglass: provider " + e.Provider + " unavailable"
	if e.Status != 0 {
		s += fmt.Sprintf(": HTTP %d", e.Status)
	}
	if !e.RetryAfter.IsZero() {
		s += " until " + e.RetryAfter.UTC().Format(time.RFC3339)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// MisconfiguredError means a provider answered, and the answer says the
// gateway's configuration of it is wrong: the API key was refused (401) or
// may not read what is asked (403), a configured schedule does not exist or
// is disabled, a configured escalation policy or schedule ID is refused.
// Trying again does not help; the operators must fix the configuration (or
// the provider's side of it). Callers deny.
type MisconfiguredError struct {
	Provider string
	// Status is the HTTP status of the answer.
	Status int
	Err    error
}

func (e *MisconfiguredError) Error() string {
	s := "breakglass: provider " + e.Provider + " misconfigured"
	if e.Status != 0 {
		s += fmt.Sprintf(": HTTP %d", e.Status)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *MisconfiguredError) Unwrap() error { return e.Err }

// incidentIDRE is what an incident ID may look like, whatever the provider:
// PagerDuty IDs (PT4KHLK) and numbers, Opsgenie UUIDs and tiny IDs, static
// IDs such as INC-42.
var incidentIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// Response limits.
const (
	maxBody = 1 << 20
	// defaultRateLimitWait is how long a provider is left alone after a
	// 429 that says nothing about when to come back.
	defaultRateLimitWait = 30 * time.Second
	maxRateLimitWait     = 10 * time.Minute
)

// apiClient is the HTTP side shared by the PagerDuty and Opsgenie clients:
// timeouts, bounded bodies, 404 → ErrNotFound, 401 and 403 →
// *MisconfiguredError, 429 → no requests until the provider's Retry-After,
// everything else unusable → *UnavailableError.
type apiClient struct {
	name    string
	base    *url.URL
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
	header  http.Header // set on every request (authorization, accept)

	mu           sync.Mutex
	blockedUntil time.Time
}

func newAPIClient(name, base string, client *http.Client, timeout time.Duration, now func() time.Time, header http.Header) (*apiClient, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil {
		return nil, fmt.Errorf("breakglass: provider %s: base_url: %w", name, err)
	}
	return &apiClient{name: name, base: u, client: client, timeout: timeout, now: now, header: header}, nil
}

func (c *apiClient) unavailable(status int, err error) *UnavailableError {
	return &UnavailableError{Provider: c.name, Status: status, Err: err}
}

func (c *apiClient) misconfigured(status int, err error) *MisconfiguredError {
	return &MisconfiguredError{Provider: c.name, Status: status, Err: err}
}

// get GETs base/segments…?query and decodes the JSON body into out. The
// segments are escaped (they are IDs checked by the caller, never "." or
// ".."). A 404 is reported as ErrNotFound.
func (c *apiClient) get(ctx context.Context, segments []string, query url.Values, out any) error {
	path := "/" + strings.Join(segments, "/")
	c.mu.Lock()
	until := c.blockedUntil
	c.mu.Unlock()
	if c.now().Before(until) {
		return &UnavailableError{Provider: c.name, Status: http.StatusTooManyRequests, RetryAfter: until,
			Err: errors.New("rate limited")}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.base.JoinPath(segments...)
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return c.unavailable(0, err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return c.unavailable(0, stripURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return c.unavailable(resp.StatusCode, fmt.Errorf("read body: %w", stripURL(err)))
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return &notFoundError{provider: c.name, path: path}
	case resp.StatusCode == http.StatusUnauthorized:
		return c.misconfigured(resp.StatusCode, errors.New("the API key was refused: expected a valid key in the provider's configuration"))
	case resp.StatusCode == http.StatusForbidden:
		return c.misconfigured(resp.StatusCode, fmt.Errorf("the API key may not read %s: expected a key with read access to it", path))
	case resp.StatusCode == http.StatusTooManyRequests:
		wait := rateLimitWait(resp.Header, c.now())
		c.mu.Lock()
		c.blockedUntil = c.now().Add(wait)
		until := c.blockedUntil
		c.mu.Unlock()
		return &UnavailableError{Provider: c.name, Status: resp.StatusCode, RetryAfter: until, Err: errors.New("rate limited")}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return c.unavailable(resp.StatusCode, errors.New(http.StatusText(resp.StatusCode)))
	}
	if len(body) > maxBody {
		return c.unavailable(resp.StatusCode, fmt.Errorf("expected a body of at most %d bytes", maxBody))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return c.unavailable(resp.StatusCode, fmt.Errorf("expected the documented JSON: %w", err))
	}
	return nil
}

// rateLimitWait reads how long to stay away after a 429: Retry-After
// (seconds or an HTTP date), PagerDuty's ratelimit-reset (seconds),
// Opsgenie's X-RateLimit-Period-In-Sec; otherwise defaultRateLimitWait. The
// wait is at least one second and at most maxRateLimitWait.
func rateLimitWait(h http.Header, now time.Time) time.Duration {
	wait := time.Duration(-1)
	if v := h.Get("Retry-After"); v != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			wait = time.Duration(n) * time.Second
		} else if t, err := http.ParseTime(v); err == nil {
			wait = t.Sub(now)
		}
	}
	for _, name := range []string{"Ratelimit-Reset", "X-Ratelimit-Period-In-Sec"} {
		if wait >= 0 {
			break
		}
		if n, err := strconv.Atoi(strings.TrimSpace(h.Get(name))); err == nil {
			wait = time.Duration(n) * time.Second
		}
	}
	if wait < 0 {
		wait = defaultRateLimitWait
	}
	return min(max(wait, time.Second), maxRateLimitWait)
}

// stripURL removes the URL from a *url.Error: request URLs may carry an
// address in their query, and a notification URL is a secret.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// checkLinkURL accepts an absolute http(s) URL that can be shown as a link:
// no spaces, control characters, or the characters Slack's link syntax
// uses (<, >, |).
func checkLinkURL(s string) error {
	if s == "" || len(s) > 2048 || strings.ContainsAny(s, "<>| \t\r\n\"") {
		return errors.New("expected an http(s) URL")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return errors.New("expected an http(s) URL")
		}
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return errors.New("expected an http(s) URL")
	}
	return nil
}
