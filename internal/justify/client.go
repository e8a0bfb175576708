package justify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// client makes the requests of one system: credentials, bounded bodies and
// the mapping of statuses to ErrNotFound and *UnavailableError.
type client struct {
	system string
	base   *url.URL
	auth   AuthConfig
	max    int64
	http   *http.Client
	// now is used for Retry-After dates; set by tests through Options.Now.
	now func() time.Time
}

// response is a read, bounded response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// authScheme says how a token is sent: "Bearer", "Token token=" (PagerDuty).
type authScheme string

const (
	bearer      authScheme = "Bearer "
	pagerDutyTk authScheme = "Token token="
)

// do sends a request to base + path (path already escaped) with query and
// body, and reads at most max bytes of the answer.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body []byte, scheme authScheme, hdr map[string]string) (*response, error) {
	u := *c.base
	u.RawPath = ""
	u.Path = ""
	p := strings.TrimSuffix(c.base.EscapedPath(), "/") + path
	ref, err := url.Parse(p)
	if err != nil {
		return nil, c.unavailable("bad request URL", err)
	}
	u.Path, u.RawPath = ref.Path, ref.RawPath
	if query != nil {
		u.RawQuery = query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, c.unavailable("bad request", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "access-gateway-justify")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	switch {
	case c.auth.Username != "":
		tok := base64.StdEncoding.EncodeToString([]byte(c.auth.Username + ":" + string(c.auth.Password)))
		req.Header.Set("Authorization", "Basic "+tok)
	case c.auth.Token != "":
		req.Header.Set("Authorization", string(scheme)+string(c.auth.Token))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			// Whatever the transport reports, the lookup ran out of time
			// (or its caller went away).
			return nil, c.unavailable("timeout", ctx.Err())
		}
		// url.Error carries the URL, which holds no credentials (they go in
		// headers).
		return nil, c.unavailable("request failed", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.max+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, c.unavailable("timeout", ctx.Err())
		}
		return nil, c.unavailable("reading the answer failed", err)
	}
	if int64(len(b)) > c.max {
		return nil, c.unavailable(fmt.Sprintf("answer larger than %d bytes", c.max), nil)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func (c *client) unavailable(cause string, err error) *UnavailableError {
	return &UnavailableError{System: c.system, Cause: cause, Err: err}
}

// statusError maps a non-2xx status to ErrNotFound or *UnavailableError.
// 404 and 410 are "not found"; 429 (and 503 with Retry-After) set RetryAt.
func (c *client) statusError(r *response, now time.Time) error {
	switch {
	case r.status == http.StatusNotFound || r.status == http.StatusGone:
		return ErrNotFound
	case r.status == http.StatusTooManyRequests:
		return &UnavailableError{System: c.system, Cause: "rate limited (429)",
			RetryAt: now.Add(retryAfter(r.header.Get("Retry-After"), now))}
	case r.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") != "":
		return &UnavailableError{System: c.system, Cause: "unavailable (503)",
			RetryAt: now.Add(retryAfter(r.header.Get("Retry-After"), now))}
	case r.status == http.StatusUnauthorized || r.status == http.StatusForbidden:
		return c.unavailable(fmt.Sprintf("credentials refused (%d)", r.status), nil)
	case r.status >= 300 && r.status < 400:
		return c.unavailable(fmt.Sprintf("unexpected redirect (%d)", r.status), nil)
	default:
		return c.unavailable(fmt.Sprintf("unexpected status %d", r.status), nil)
	}
}

// retryAfter reads a Retry-After value (delay-seconds or an HTTP-date,
// RFC 9110 §10.2.3), defaulting to DefaultRetryAfter and capped at
// MaxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	d := DefaultRetryAfter
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		d = time.Second
	}
	return min(d, MaxRetryAfter)
}

// decodeJSON decodes exactly one JSON value from b into out. With strict,
// unknown object fields are refused. Trailing data is refused.
func decodeJSON(b []byte, out any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("expected JSON, got %s", jsonErr(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("expected one JSON value, got trailing data")
	}
	return nil
}

// jsonErr shortens a decode error so that no body content leaks into logs.
func jsonErr(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("a syntax error at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s for field %q", te.Value, te.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "a truncated body"
	default:
		msg := err.Error()
		if len(msg) > 120 {
			msg = msg[:120]
		}
		return msg
	}
}

// getJSON GETs path and decodes a 200 answer into out (not strictly:
// third-party APIs add fields). Other statuses go through statusError.
func (c *client) getJSON(ctx context.Context, path string, query url.Values, scheme authScheme, hdr map[string]string, now time.Time, out any) error {
	r, err := c.do(ctx, http.MethodGet, path, query, nil, scheme, hdr)
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return c.statusError(r, now)
	}
	if err := decodeJSON(r.body, out, false); err != nil {
		return c.unavailable("unreadable answer", err)
	}
	return nil
}
