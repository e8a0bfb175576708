package demo

import (
	"embed"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
)

//go:embed page.html.tmpl
var files embed.FS

var page = template.Must(template.New("page.html.tmpl").Funcs(template.FuncMap{
	"time": func(d contexttoken.NumericDate) string {
		if d == 0 {
			return ""
		}
		return d.Time().Format(time.RFC3339)
	},
}).ParseFS(files, "page.html.tmpl"))

// Report is what the demo shows: the JSON body, and the page's data.
type Report struct {
	// Verified is true when the request carried a valid context token.
	Verified bool `json:"verified"`
	// Claims are the verified claims (nil when not verified).
	Claims *contexttoken.Claims `json:"claims,omitempty"`
	// Error says why verification failed (nil when verified).
	Error *contexttoken.ErrorBody `json:"error,omitempty"`
	// Request is the request as the demo received it.
	Request Request `json:"request"`
}

// Request describes the received request.
type Request struct {
	Method     string   `json:"method"`
	Path       string   `json:"path"`
	Query      string   `json:"query,omitempty"`
	Host       string   `json:"host"`
	RemoteAddr string   `json:"remote_addr"`
	Headers    []Header `json:"headers"`
}

// Header is one received header, its value possibly shortened or hidden.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// Note says how the value was changed for display, if it was.
	Note string `json:"note,omitempty"`
}

// New returns the demo tool's handler. v verifies the token found in header
// (contexttoken.DefaultHeader when empty); logger gets one line per request
// (never the token).
func New(v *contexttoken.Verifier, header string, logger *slog.Logger) http.Handler {
	if header == "" {
		header = contexttoken.DefaultHeader
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{header: http.CanonicalHeaderKey(header), log: logger}
	return contexttoken.MiddlewareWith(v, header, h.fail)(http.HandlerFunc(h.ok))
}

type handler struct {
	header string
	log    *slog.Logger
}

func (h *handler) ok(w http.ResponseWriter, r *http.Request) {
	c, _ := contexttoken.FromContext(r.Context())
	h.log.InfoContext(r.Context(), "demo: verified request", "method", r.Method, "path", r.URL.Path,
		"sub", c.Subject, "route", c.Route, "jti", c.ID)
	h.render(w, r, http.StatusOK, Report{Verified: true, Claims: c, Request: h.describe(r)})
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.log.InfoContext(r.Context(), "demo: rejected request", "method", r.Method, "path", r.URL.Path,
		"reason", contexttoken.Reason(err), "error", err.Error())
	h.render(w, r, contexttoken.StatusCode(err), Report{
		Error:   &contexttoken.ErrorBody{Error: contexttoken.Reason(err), Message: err.Error()},
		Request: h.describe(r),
	})
}

func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, rep Report) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Add("Vary", "Accept")
	if wantsJSON(r) {
		hd.Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
		return
	}
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	if err := page.Execute(w, rep); err != nil {
		h.log.ErrorContext(r.Context(), "demo: rendering page", "error", err)
	}
}

// wantsJSON reports whether the client asked for JSON rather than HTML.
func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "application/json":
			return true
		case "text/html":
			return false
		}
	}
	return false
}

// hidden are headers whose values the demo never shows.
var hidden = []string{"Authorization", "Cookie", "Proxy-Authorization"}

func (h *handler) describe(r *http.Request) Request {
	req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host, RemoteAddr: r.RemoteAddr}
	names := make([]string, 0, len(r.Header))
	for n := range r.Header {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		for _, v := range r.Header[n] {
			hd := Header{Name: n, Value: v}
			switch {
			case n == h.header:
				hd.Value, hd.Note = Shorten(v), "context token, "+strconv.Itoa(len(v))+" bytes, shortened"
			case slices.Contains(hidden, n):
				hd.Value, hd.Note = "", strconv.Itoa(len(v))+" bytes, hidden"
			}
			req.Headers = append(req.Headers, hd)
		}
	}
	return req
}

// Shorten returns the first 12 and the last 6 characters of a token.
func Shorten(tok string) string {
	if len(tok) <= 24 {
		return tok
	}
	return tok[:12] + "…" + tok[len(tok)-6:]
}
