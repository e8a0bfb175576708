package config

import (
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
)

// yamlError formats a YAML error with the lines around it, the values of
// secret-named keys (client_secret, password, token, key, Authorization,
// ...) on those lines replaced by [redacted]: `gateway check` prints the
// excerpt and a rejected reload logs it, and an inline secret near a typo
// must not reach either.
func yamlError(err error) string {
	return redactExcerpt(yaml.FormatError(err, false, true))
}

var (
	// excerptLine is a source line of FormatError: ">  5 | text" or "   4 | text".
	excerptLine = regexp.MustCompile(`^[> ] *\d+ \| `)
	// secretKey is a key whose value is a secret, followed by ':' and the
	// start of a scalar value (a flow mapping or list is not a value here:
	// "token: {keys: …}" is the section).
	secretKey = regexp.MustCompile(`(?i)(?:^|[\s{,"'])(?:[\w.-]*(?:secret|password|passwd|token|credential|authorization|api[_-]?key|private[_-]?key)[\w.-]*|key|[\w.-]*_key)["']?[ \t]*:[ \t]+([^\s{}\[\],#])`)
)

// secretPath reports whether the last key of a field path names a secret
// (oidc.client_secret, session.redis.password, ...): its value is never
// shown in a problem.
func secretPath(path string) bool {
	last := path[strings.LastIndexByte(path, '.')+1:]
	if i := strings.IndexByte(last, '['); i >= 0 {
		last = last[:i]
	}
	return secretKey.MatchString(" " + last + ": x")
}

// redactExcerpt replaces the values of secret-named keys on the source
// lines of a formatted YAML error, and moves the caret under the line to
// keep pointing at the same text.
func redactExcerpt(msg string) string {
	const mask = "[redacted]"
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		if !excerptLine.MatchString(l) {
			continue
		}
		caret := -1
		if i+1 < len(lines) {
			if c := strings.TrimRight(lines[i+1], " "); strings.TrimSpace(c) == "^" {
				caret = len(c) - 1
			}
		}
		var b strings.Builder
		last, shift := 0, 0
		for _, m := range secretKey.FindAllStringSubmatchIndex(l, -1) {
			start := m[2]
			if start < last {
				continue
			}
			end := valueEnd(l, start)
			b.WriteString(l[last:start])
			b.WriteString(mask)
			if caret >= end {
				shift += len(mask) - (end - start)
			}
			last = end
		}
		if last == 0 {
			continue
		}
		b.WriteString(l[last:])
		lines[i] = b.String()
		if shift != 0 {
			lines[i+1] = strings.Repeat(" ", caret+shift) + "^"
		}
	}
	return strings.Join(lines, "\n")
}

// valueEnd returns where the scalar starting at l[start:] ends: at its
// closing quote; inside a flow collection ("{" or "[" open before it on the
// line) at the next ',', '}' or ']'; otherwise at a comment or the end of
// the line.
func valueEnd(l string, start int) int {
	switch q := l[start]; q {
	case '"', '\'':
		for i := start + 1; i < len(l); i++ {
			if q == '"' && l[i] == '\\' {
				i++
				continue
			}
			if l[i] == q {
				return i + 1
			}
		}
		return len(l)
	}
	flow := strings.Count(l[:start], "{")+strings.Count(l[:start], "[") > strings.Count(l[:start], "}")+strings.Count(l[:start], "]")
	end := len(l)
	for i := start; i < len(l); i++ {
		if flow && (l[i] == ',' || l[i] == '}' || l[i] == ']') || l[i] == '#' && (l[i-1] == ' ' || l[i-1] == '\t') {
			end = i
			break
		}
	}
	return start + len(strings.TrimRight(l[start:end], " \t"))
}

var (
	// urlUserInfo is the user info of a URL in a message: everything up to
	// the last '@' before the quoted value ends ("https://user:pass@host";
	// a password in a URL that does not parse may hold '@', '/' or an
	// escaped '"'). It may take more than the user info, never less.
	urlUserInfo = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://)(?:[^\s"\\]|\\.)*@`)
	// urlQuery is the query of a URL in a message ("?token=…").
	urlQuery = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://(?:[^?#\s"\\]|\\.)*)\?(?:[^#\s"\\]|\\.)*`)
)

// redactURLs replaces the user info and the query of every URL in s with
// [redacted]: problems and warnings quote URLs as written (an upstream, a
// ticket system's base_url, a Redis address, an OTLP endpoint), and an
// operator who wrote https://svc:${PASSWORD}@tool or ?api_key=${KEY} must
// not find the secret in `gateway check` output or the reload log.
func redactURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	s = urlUserInfo.ReplaceAllString(s, "${1}[redacted]@")
	return urlQuery.ReplaceAllString(s, "${1}?[redacted]")
}

// redactProblems applies redactURLs to every problem.
func redactProblems(p Problems) Problems {
	for i := range p {
		p[i] = redactURLs(p[i])
	}
	return p
}
