package justify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/accessgateway/gateway/internal/policy"
)

// httpVerifier asks a company's own service. The contract (documented in
// docs/justification.md):
//
//	POST base_url
//	Authorization: Bearer <auth.token>        (and/or an mTLS client certificate)
//	Content-Type: application/json
//	{"system": "tickets", "id": "T-1", "user": "ana@corp.example", "route": "support", "resource": "42"}
//
//	200 OK
//	{"valid": true, "expires_at": "2026-12-01T18:00:00Z", "resources": ["42"], "url": "https://..."}
//	{"valid": false, "reason": "ticket-closed"}
//
// The answer is decoded strictly: unknown or duplicate fields, a "valid"
// that is not a JSON boolean, a missing "valid", a reason outside
// ticket-not-found, ticket-closed, ticket-not-assigned and
// ticket-resource-mismatch (required when valid is false), or a malformed
// expires_at make the system unavailable. Any status but 200 does too
// (429 and Retry-After are honoured).
type httpVerifier struct {
	name string
	cfg  HTTPConfig
}

func newHTTPVerifier(name string, sc SystemConfig) *httpVerifier {
	return &httpVerifier{name: name, cfg: *sc.HTTP}
}

var httpID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/#-]{0,127}$`)

func (h *httpVerifier) normalize(id string) (string, bool) {
	switch h.cfg.Case {
	case "upper":
		id = strings.ToUpper(id)
	case "lower":
		id = strings.ToLower(id)
	}
	return id, httpID.MatchString(id)
}

func (h *httpVerifier) syntax() string {
	return "letters, digits and . _ / # - (at most 128)"
}

func (h *httpVerifier) perQuery() bool { return true }

func (h *httpVerifier) fromURL(string, url.Values) (string, bool) { return "", false }

type httpRequest struct {
	System   string `json:"system"`
	ID       string `json:"id"`
	User     string `json:"user"`
	Route    string `json:"route"`
	Resource string `json:"resource"`
}

func (h *httpVerifier) fetch(ctx context.Context, c *client, id string, q Query) (Ticket, error) {
	body, err := json.Marshal(httpRequest{System: h.name, ID: id, User: lowerASCII(q.User), Route: q.Route, Resource: q.Resource})
	if err != nil {
		return Ticket{}, c.unavailable("encoding the request", err)
	}
	r, err := c.do(ctx, http.MethodPost, "", nil, body, bearer, nil)
	if err != nil {
		return Ticket{}, err
	}
	now := c.now()
	if r.status != http.StatusOK {
		if r.status == http.StatusNotFound || r.status == http.StatusGone {
			// Not an answer about the ticket: the endpoint is wrong.
			return Ticket{}, c.unavailable(fmt.Sprintf("unexpected status %d", r.status), nil)
		}
		return Ticket{}, c.statusError(r, now)
	}
	t, err := decodeHTTPVerdict(r.body)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Ticket{}, err
		}
		return Ticket{}, c.unavailable("unreadable verdict", err)
	}
	if t.Verdict == "" {
		// valid: the verifier judged this user and resource.
		t.Open = true
		t.Involved = []string{lowerASCII(q.User)}
		if q.Resource != "" && !contains(t.Resources, q.Resource) {
			t.Resources = append(t.Resources, q.Resource)
		}
	}
	return t, nil
}

var httpReasons = map[string]policy.Reason{
	string(ReasonClosed): ReasonClosed, string(ReasonNotAssigned): ReasonNotAssigned,
	string(ReasonResourceMismatch): ReasonResourceMismatch,
}

// decodeHTTPVerdict decodes a verifier's answer strictly.
func decodeHTTPVerdict(b []byte) (Ticket, error) {
	if err := checkKeys(b, httpAnswerKeys); err != nil {
		return Ticket{}, err
	}
	var v struct {
		Valid     *bool    `json:"valid"`
		Reason    string   `json:"reason"`
		ExpiresAt *string  `json:"expires_at"`
		Resources []string `json:"resources"`
		URL       string   `json:"url"`
	}
	if err := decodeJSON(b, &v, true); err != nil {
		return Ticket{}, err
	}
	if v.Valid == nil {
		return Ticket{}, errors.New("expected valid (a boolean), got none")
	}
	var t Ticket
	if *v.Valid {
		if v.Reason != "" {
			return Ticket{}, fmt.Errorf("expected no reason with valid true, got %q", truncate(v.Reason))
		}
		t.Status = "valid"
	} else {
		if v.Reason == string(ReasonNotFound) {
			return Ticket{}, ErrNotFound
		}
		r, ok := httpReasons[v.Reason]
		if !ok {
			return Ticket{}, fmt.Errorf("expected reason ticket-not-found, ticket-closed, ticket-not-assigned or ticket-resource-mismatch with valid false, got %q", truncate(v.Reason))
		}
		t.Verdict, t.Status = r, v.Reason
	}
	if v.ExpiresAt != nil {
		at, err := time.Parse(time.RFC3339, *v.ExpiresAt)
		if err != nil {
			return Ticket{}, fmt.Errorf("expected expires_at as RFC 3339, got %q", truncate(*v.ExpiresAt))
		}
		t.ExpiresAt = at
	}
	for _, r := range v.Resources {
		if strings.TrimSpace(r) == "" {
			return Ticket{}, errors.New("expected non-empty resources")
		}
		t.Resources = appendUnique(t.Resources, r)
	}
	if v.URL != "" {
		u, err := url.Parse(v.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return Ticket{}, fmt.Errorf("expected an https url, got %q", truncate(v.URL))
		}
		t.URL = v.URL
	}
	return t, nil
}

var httpAnswerKeys = map[string]bool{"valid": true, "reason": true, "expires_at": true, "resources": true, "url": true}

// checkKeys refuses a top-level object with a key that is not exactly one
// of known, or given twice. (encoding/json matches keys ignoring case, so
// "Valid" would count as "valid", and keeps the last of duplicates, so a
// second "valid" could override the first.)
func checkKeys(b []byte, known map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("expected JSON, got %s", jsonErr(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("expected a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("expected JSON, got %s", jsonErr(err))
		}
		k, _ := tok.(string)
		if !known[k] {
			return fmt.Errorf("expected only the documented fields, got %q", truncate(k))
		}
		if seen[k] {
			return fmt.Errorf("expected each field once, got %q twice", truncate(k))
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("expected JSON, got %s", jsonErr(err))
		}
	}
	return nil
}
