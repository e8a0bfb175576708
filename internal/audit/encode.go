package audit

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// The encoding below is the same JSON encoding/json would write for Record
// (same names, same omitempty/omitzero rules; TestAppendRecordMatchesEncodingJSON
// and FuzzAppendRecord check that both decode to the same value), written by
// hand because it runs once per request, without allocating.
//
// It is also canonical: decoding a line and encoding the result gives the
// same bytes back (FuzzAppendRecord checks this too), which lets the
// verifier insist that every line is exactly what the log would have written.

// appendRecord appends r as one JSON object and a newline, with the chain
// fields as they are in r.
func appendRecord(b []byte, r *Record) []byte {
	b = appendHead(b, r.Seq)
	b = appendString(b, r.Prev)
	b = appendFields(b, r)
	b = append(b, `,"hash":`...)
	b = appendString(b, r.Hash)
	return appendEnd(b, r.Sig)
}

// appendHead appends `{"seq":N,"prev":` (the value follows).
func appendHead(b []byte, seq uint64) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, `,"prev":`...)
}

// appendEnd appends the signature (if any), the closing brace and newline.
func appendEnd(b []byte, sig string) []byte {
	if sig != "" {
		b = append(b, `,"sig":`...)
		b = appendString(b, sig)
	}
	return append(b, '}', '\n')
}

// appendFields appends every member between "prev" and "hash".
func appendFields(b []byte, r *Record) []byte {
	b = append(b, `,"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = field(b, "kind", r.Kind, false)
	b = field(b, "request_id", r.RequestID, true)
	b = field(b, "trace_id", r.TraceID, true)
	b = field(b, "user", r.User, true)
	b = field(b, "sub", r.Subject, true)
	b = field(b, "route", r.Route, true)
	b = field(b, "host", r.Host, true)
	b = field(b, "method", r.Method, true)
	b = stringList(b, "method_overrides", r.MethodOverrides)
	b = field(b, "path", r.Path, true)
	b = field(b, "source_ip", r.SourceIP, true)
	b = field(b, "decision", r.Decision, true)
	b = stringList(b, "reasons", r.Reasons)
	b = stringList(b, "grants", r.Grants)
	if r.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(r.Status), 10)
	}
	if r.Bytes != 0 {
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, r.Bytes, 10)
	}
	if d := r.DurationMS; d != 0 && !math.IsNaN(d) && !math.IsInf(d, 0) {
		b = append(b, `,"duration_ms":`...)
		b = appendFloat(b, d)
	}
	b = field(b, "device_id", r.DeviceID, true)
	if j := r.Justification; j != nil {
		b = append(b, `,"justification":{`...)
		n := len(b)
		b = field(b, "system", j.System, true)
		b = field(b, "id", j.ID, true)
		b = field(b, "url", j.URL, true)
		b = field(b, "resource", j.Resource, true)
		b = timeField(b, "verified_at", j.VerifiedAt)
		b = field(b, "outcome", j.Outcome, true)
		b = closeObject(b, n)
	}
	if g := r.BreakGlass; g != nil {
		b = append(b, `,"break_glass":{`...)
		n := len(b)
		b = field(b, "id", g.ID, true)
		b = field(b, "reason", g.Reason, true)
		b = timeField(b, "granted_at", g.GrantedAt)
		b = timeField(b, "expires_at", g.ExpiresAt)
		b = closeObject(b, n)
	}
	b = field(b, "schedule", r.Schedule, true)
	b = field(b, "event", r.Event, true)
	b = field(b, "detail", r.Detail, true)
	b = field(b, "transport", r.Transport, true)
	return b
}

// closeObject closes a nested object whose members were appended after
// offset n, each with a leading comma: the first comma goes.
func closeObject(b []byte, n int) []byte {
	if len(b) > n {
		copy(b[n:], b[n+1:])
		b = b[:len(b)-1]
	}
	return append(b, '}')
}

func field(b []byte, name, v string, omitEmpty bool) []byte {
	if omitEmpty && v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

func stringList(b []byte, name string, vs []string) []byte {
	if len(vs) == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':', '[')
	for i, s := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

func timeField(b []byte, name string, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':', '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendFloat appends f the way encoding/json does (ES6 number formatting:
// exponent only below 1e-6 and from 1e21).
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, '<', '>', '&' left as they are (the writer disables
// HTML escaping), U+2028/U+2029 escaped as encoding/json does, and invalid
// UTF-8 replaced by U+FFFD — written as its UTF-8 bytes, not as `\ufffd`, so
// that decoding and encoding again gives the same bytes.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, "\uFFFD"...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
