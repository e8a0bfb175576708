package justifytest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/justify"
)

// HTTPVerifier is a fake of a company's own verifier, speaking the
// gateway's generic contract (docs/justification.md, "http"): POST
// {system, id, user, route, resource} -> {valid, reason, expires_at,
// resources, url}. It authenticates with a bearer Token, or, when started
// with NewHTTPVerifierMTLS, requires a client certificate from a given CA
// (and then a token only when Token is set).
type HTTPVerifier struct {
	*server
	Token string

	mu      sync.Mutex
	tickets map[string]HTTPTicket
}

// HTTPTicket is a ticket the fake judges.
type HTTPTicket struct {
	Open      bool
	Assignees []string
	Customers []string
	ExpiresAt time.Time // zero: no expires_at
	URL       string
}

// HTTPRequest is the body the gateway sends.
type HTTPRequest struct {
	System   string `json:"system"`
	ID       string `json:"id"`
	User     string `json:"user"`
	Route    string `json:"route"`
	Resource string `json:"resource"`
}

// NewHTTPVerifier starts a fake verifier authenticating with a bearer token.
func NewHTTPVerifier(t testing.TB) *HTTPVerifier {
	h := &HTTPVerifier{Token: "verifier-secret", tickets: map[string]HTTPTicket{}}
	h.server = newServer(t, http.HandlerFunc(h.serve), nil)
	return h
}

// NewHTTPVerifierMTLS starts a fake verifier that requires a client
// certificate issued by cc's CA, and no token.
func NewHTTPVerifierMTLS(t testing.TB, cc ClientCert) *HTTPVerifier {
	h := &HTTPVerifier{tickets: map[string]HTTPTicket{}}
	h.server = newServer(t, http.HandlerFunc(h.serve), cc.Pool)
	return h
}

// SetTicket adds or replaces a ticket.
func (h *HTTPVerifier) SetTicket(id string, t HTTPTicket) {
	h.mu.Lock()
	h.tickets[id] = t
	h.mu.Unlock()
}

// SystemConfig returns a system of type http pointing at the fake's
// /verify endpoint with its token.
func (h *HTTPVerifier) SystemConfig() justify.SystemConfig {
	return justify.SystemConfig{Type: justify.TypeHTTP, BaseURL: h.URL() + "/verify",
		Auth: justify.AuthConfig{Token: justify.Secret(h.Token)}, TLS: justify.TLSConfig{CAFile: h.CAFile()}}
}

func (h *HTTPVerifier) serve(w http.ResponseWriter, r *http.Request) {
	if h.Token != "" && r.Header.Get("Authorization") != "Bearer "+h.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "unauthorized"})
		return
	}
	if r.URL.Path != "/verify" || r.Method != http.MethodPost {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "not found"})
		return
	}
	_, body := h.LastRequest()
	var req HTTPRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || r.Header.Get("Content-Type") != "application/json" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "bad request"})
		return
	}
	h.mu.Lock()
	t, ok := h.tickets[req.ID]
	h.mu.Unlock()
	out := map[string]any{"valid": false}
	switch {
	case !ok:
		out["reason"] = "ticket-not-found"
	case !t.Open:
		out["reason"] = "ticket-closed"
	case !slices.ContainsFunc(t.Assignees, func(a string) bool { return strings.EqualFold(a, req.User) }):
		out["reason"] = "ticket-not-assigned"
	case req.Resource != "" && !slices.Contains(t.Customers, req.Resource):
		out["reason"] = "ticket-resource-mismatch"
	default:
		out = map[string]any{"valid": true, "resources": append([]string{}, t.Customers...)}
		if !t.ExpiresAt.IsZero() {
			out["expires_at"] = t.ExpiresAt.UTC().Format(time.RFC3339)
		}
		if t.URL != "" {
			out["url"] = t.URL
		}
	}
	writeJSON(w, http.StatusOK, out)
}
