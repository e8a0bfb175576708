package contexttoken

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Type is the value of the "typ" header of every context token.
const Type = "gateway-context+jwt"

// DefaultHeader is the HTTP header that carries the token unless the gateway
// is configured otherwise.
const DefaultHeader = "X-Gateway-Context"

// NumericDate is a JWT NumericDate: whole seconds since the Unix epoch, UTC.
// The zero value means "absent" and is omitted from JSON.
type NumericDate int64

// NewNumericDate returns t as a NumericDate, truncated to the second. The zero
// time gives the zero NumericDate.
func NewNumericDate(t time.Time) NumericDate {
	if t.IsZero() {
		return 0
	}
	return NumericDate(t.Unix())
}

// Time returns d as a UTC time; the zero NumericDate gives the zero time.
func (d NumericDate) Time() time.Time {
	if d == 0 {
		return time.Time{}
	}
	return time.Unix(int64(d), 0).UTC()
}

// UnmarshalJSON accepts a JSON number. A fractional part, which RFC 7519
// allows, is truncated. Anything else is an error: a string, even one that
// holds a number ("1700000000", which encoding/json would otherwise accept
// into a json.Number), null, and numbers outside the int64 range.
func (d *NumericDate) UnmarshalJSON(b []byte) error {
	bad := func() error {
		return fmt.Errorf("contexttoken: expected a NumericDate (number of seconds), got %s", truncate(string(b), 40))
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 || (t[0] != '-' && (t[0] < '0' || t[0] > '9')) {
		return bad()
	}
	var f json.Number
	if err := json.Unmarshal(t, &f); err != nil {
		return bad()
	}
	if i, err := f.Int64(); err == nil {
		*d = NumericDate(i)
		return nil
	}
	fl, err := f.Float64()
	if err != nil || fl >= 1<<63 || fl < -(1<<63) {
		return bad()
	}
	*d = NumericDate(int64(fl))
	return nil
}

// Audience is the "aud" claim: one or more audiences. It is written as a
// single string when it has one element (the gateway's usual case) and as an
// array otherwise; both forms are read.
type Audience []string

// MarshalJSON writes a one-element audience as a string.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON accepts a string, an array of strings, or null (no
// audience).
func (a *Audience) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		*a = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = Audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New("contexttoken: expected aud to be a string or an array of strings")
	}
	*a = l
	return nil
}

// Contains reports whether a names aud exactly.
func (a Audience) Contains(aud string) bool {
	for _, x := range a {
		if x == aud {
			return true
		}
	}
	return false
}

// Claims is the claim set of a context token. The JSON names are the
// contract; see docs/context-token.md for an example payload.
type Claims struct {
	// Issuer is the gateway's external URL, e.g. "https://tools.example.com".
	Issuer string `json:"iss"`
	// Audience is the route's audience; by default the upstream's origin.
	Audience Audience `json:"aud"`
	// IssuedAt, NotBefore and Expiry bound the token's use. Expiry is at most
	// five minutes after IssuedAt and never later than the session or any
	// grant (justification, break-glass) the request relied on.
	IssuedAt  NumericDate `json:"iat"`
	NotBefore NumericDate `json:"nbf"`
	Expiry    NumericDate `json:"exp"`
	// ID (jti) is random. When the gateway's token cache is on, one token,
	// and so one jti, may be sent with several requests of the same session
	// and route within a few seconds; see docs/context-token.md.
	ID string `json:"jti"`

	// Subject is the caller's stable identifier from the identity provider.
	Subject string `json:"sub"`
	// Email is the caller's verified email address.
	Email string `json:"email,omitempty"`
	// Groups are the caller's groups, possibly filtered by the route.
	Groups []string `json:"groups,omitempty"`

	// Route is the name of the gateway route that allowed the request.
	Route string `json:"route,omitempty"`
	// SourceIP is the client address the gateway saw (after its trusted
	// proxies), without a port.
	SourceIP string `json:"source_ip,omitempty"`

	// Device is present when the request came from a verified device.
	Device *Device `json:"device,omitempty"`
	// Justification is present when the route required one and it was verified.
	Justification *Justification `json:"justification,omitempty"`
	// BreakGlass is present when the request was allowed by an emergency grant.
	BreakGlass *BreakGlass `json:"break_glass,omitempty"`
}

// Device describes the device the request came from.
type Device struct {
	// ID is the gateway's identifier of the enrolled device.
	ID string `json:"id"`
	// Trust is how the device proved itself, e.g. "tpm-attested".
	Trust string `json:"trust"`
	// AttestedAt is when its posture was last verified.
	AttestedAt NumericDate `json:"attested_at,omitempty"`
}

// Justification describes the verified reason for the request.
type Justification struct {
	// System is the configured ticket system's name, e.g. "jira".
	System string `json:"system"`
	// ID is the ticket, issue, incident or alert ID.
	ID string `json:"id"`
	// URL is where people browse the ticket, when the system has one.
	URL string `json:"url,omitempty"`
	// VerifiedAt is when the gateway last verified it with the system.
	VerifiedAt NumericDate `json:"verified_at,omitempty"`
	// Resource is the resource the justification is bound to (for example a
	// customer ID taken from the path), when the route binds one.
	Resource string `json:"resource,omitempty"`
}

// BreakGlass describes an emergency grant.
type BreakGlass struct {
	// ID is the page or incident the grant was given for.
	ID string `json:"id"`
	// Grant is the gateway's ID of the grant (as in the audit log and the
	// review list).
	Grant string `json:"grant,omitempty"`
	// Reason is the reason the engineer gave.
	Reason string `json:"reason,omitempty"`
	// GrantedAt is when the grant was made.
	GrantedAt NumericDate `json:"granted_at,omitempty"`
	// ExpiresAt is when the grant ends.
	ExpiresAt NumericDate `json:"expires_at"`
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
