package audit

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendRecord appends r as one JSON object and a newline. It is the same
// JSON encoding/json would write for Record (same names, same omitempty
// rules; FuzzAppendRecord checks that both decode to the same value), written
// by hand because it runs once per request.
func appendRecord(b []byte, r *Record) []byte {
	b = append(b, `{"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = field(b, "kind", r.Kind, false)
	b = field(b, "request_id", r.RequestID, true)
	b = field(b, "user", r.User, true)
	b = field(b, "sub", r.Subject, true)
	b = field(b, "route", r.Route, true)
	b = field(b, "host", r.Host, true)
	b = field(b, "method", r.Method, true)
	b = field(b, "path", r.Path, true)
	b = field(b, "source_ip", r.SourceIP, true)
	b = field(b, "decision", r.Decision, true)
	if len(r.Reasons) > 0 {
		b = append(b, `,"reasons":[`...)
		for i, s := range r.Reasons {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		b = append(b, ']')
	}
	if r.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(r.Status), 10)
	}
	b = field(b, "device_id", r.DeviceID, true)
	b = field(b, "event", r.Event, true)
	b = field(b, "detail", r.Detail, true)
	return append(b, '}', '\n')
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

// appendString appends s as a JSON string the way encoding/json does:
// quotes, backslashes and control characters escaped, '<', '>', '&' left
// as they are (the writer disables HTML escaping), invalid UTF-8 replaced by
// U+FFFD, and U+2028/U+2029 escaped.
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
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
