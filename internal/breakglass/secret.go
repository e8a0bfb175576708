package breakglass

import "log/slog"

// Secret is a configuration value that must never reach a log, a problem
// message or a notification: an API token, a shared secret, or a webhook URL
// (a Slack incoming-webhook URL carries its key in the path).
//
// Printing a Secret with fmt, slog or encoding/json shows "[redacted]";
// Reveal returns the value for the one place that sends it.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String redacts the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts the value for %#v.
func (s Secret) GoString() string { return `breakglass.Secret("` + s.String() + `")` }

// LogValue redacts the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText redacts the value (encoding/xml, YAML encoders, text marshalling).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
