package justify

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/accessgateway/gateway/internal/policy"
)

// Ref names one ticket: a configured system and the ticket's normalized ID.
type Ref struct {
	System string
	ID     string
}

// String returns "system:ID", the form Parse accepts back.
func (r Ref) String() string { return r.System + ":" + r.ID }

// Input limits.
const (
	// MaxInputLength bounds what Parse reads (a pasted URL included).
	MaxInputLength = 2048
	// MaxIDLength bounds a normalized ID.
	MaxIDLength = 128
)

// Parse reads what a user typed into a Ref: an ID ("SUP-123"), an ID with a
// system prefix ("jira:SUP-123"), or a pasted URL of a ticket. Only the
// systems named in allowed (the route's list, in its order) are considered:
//
//   - "name:ID" must name one of them;
//   - a URL must be on the web host (scheme, host and port) of one of them
//     and point at a ticket, in the shape that system uses;
//   - a bare ID must be valid for exactly one of them; when several accept
//     it the user is asked to prefix it.
//
// IDs are normalized the same way for every spelling: surrounding spaces
// trimmed, case folded as the system does (Jira keys upper case, GitHub
// owner/repo lower case...), length bounded, and any character outside
// printable ASCII refused — which refuses look-alike digits and letters
// (Arabic-Indic or fullwidth digits, Cyrillic letters, zero-width spaces)
// instead of guessing what they stand for. The ID must then match the
// system's syntax and its id_pattern. Parse does no I/O. Every error is a
// *ParseError whose message can be shown to the user.
func (v *Verifier) Parse(input string, allowed []string) (Ref, error) {
	if len(input) > MaxInputLength {
		return Ref{}, parseErr(ErrTooLong, "at most %d characters, got %d", MaxInputLength, len(input))
	}
	s := strings.TrimSpace(input)
	if s == "" {
		return Ref{}, &ParseError{Kind: ErrEmpty}
	}
	for _, name := range allowed {
		if v.systems[name] == nil {
			return Ref{}, parseErr(ErrUnknownSystem, "the route names %q, which is not configured", name)
		}
	}
	if looksLikeURL(s) {
		return v.parseURL(s, allowed)
	}
	if name, id, ok := strings.Cut(s, ":"); ok && systemName.MatchString(strings.ToLower(name)) {
		name = strings.ToLower(name)
		if v.systems[name] == nil {
			return Ref{}, parseErr(ErrUnknownSystem, "%q", name)
		}
		if !contains(allowed, name) {
			return Ref{}, parseErr(ErrSystemNotAllowed, "%q (accepted here: %s)", name, strings.Join(allowed, ", "))
		}
		n, err := v.systems[name].normalize(id)
		if err != nil {
			return Ref{}, err
		}
		return Ref{System: name, ID: n}, nil
	}
	if _, err := normalizeCommon(s); err != nil {
		return Ref{}, err
	}
	var matches []Ref
	var firstErr error
	for _, name := range allowed {
		n, err := v.systems[name].normalize(s)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		matches = append(matches, Ref{System: name, ID: n})
	}
	switch len(matches) {
	case 0:
		if len(allowed) == 1 && firstErr != nil {
			return Ref{}, firstErr
		}
		return Ref{}, parseErr(ErrBadID, "%q is not a ticket ID of %s", s, strings.Join(allowed, ", "))
	case 1:
		return matches[0], nil
	default:
		names := make([]string, len(matches))
		for i, m := range matches {
			names[i] = m.System
		}
		return Ref{}, parseErr(ErrAmbiguous, "%q could be a ticket of %s; type it as %s:%s",
			s, strings.Join(names, ", "), names[0], matches[0].ID)
	}
}

func looksLikeURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://") || strings.Contains(l, "://")
}

func (v *Verifier) parseURL(s string, allowed []string) (Ref, error) {
	if _, err := normalizeCommon(s); err != nil {
		return Ref{}, err
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return Ref{}, parseErr(ErrBadURL, "not a URL")
	}
	if u.User != nil {
		return Ref{}, parseErr(ErrBadURL, "a URL with user information is not accepted")
	}
	var hostMatched bool
	for _, name := range allowed {
		sys := v.systems[name]
		if sys.web == nil || !strings.EqualFold(u.Scheme, sys.web.Scheme) || !strings.EqualFold(u.Host, sys.web.Host) {
			continue
		}
		hostMatched = true
		path := u.EscapedPath()
		base := strings.TrimSuffix(sys.web.EscapedPath(), "/")
		if !strings.HasPrefix(path, base+"/") {
			continue
		}
		id, ok := sys.be.fromURL(strings.TrimPrefix(path, base), u.Query())
		if !ok {
			continue
		}
		n, err := sys.normalize(id)
		if err != nil {
			return Ref{}, err
		}
		return Ref{System: name, ID: n}, nil
	}
	if !hostMatched {
		return Ref{}, parseErr(ErrWrongHost, "%s (accepted here: %s)", u.Host, strings.Join(v.webHosts(allowed), ", "))
	}
	return Ref{}, parseErr(ErrBadURL, "paste the URL of the ticket itself, or type its ID")
}

func (v *Verifier) webHosts(allowed []string) []string {
	var hs []string
	for _, name := range allowed {
		if w := v.systems[name].web; w != nil && !contains(hs, w.Host) {
			hs = append(hs, w.Host)
		}
	}
	if len(hs) == 0 {
		hs = []string{"none: type the ID"}
	}
	return hs
}

// normalize turns a typed ID into the system's canonical spelling, or
// explains why it is not one.
func (s *system) normalize(raw string) (string, error) {
	id, err := normalizeCommon(raw)
	if err != nil {
		return "", err
	}
	n, ok := s.be.normalize(id)
	if !ok {
		return "", parseErr(ErrBadID, "%q is not a %s ticket ID (%s)", id, s.name, s.be.syntax())
	}
	if len(n) > MaxIDLength {
		return "", parseErr(ErrTooLong, "at most %d characters, got %d", MaxIDLength, len(n))
	}
	if s.idRE != nil && !s.idRE.MatchString(n) {
		return "", parseErr(ErrBadID, "%q is not accepted by %s", n, s.name)
	}
	return n, nil
}

// normalizeCommon trims and refuses everything but printable ASCII.
func normalizeCommon(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", &ParseError{Kind: ErrEmpty}
	}
	if len(s) > MaxInputLength {
		return "", parseErr(ErrTooLong, "at most %d characters, got %d", MaxInputLength, len(s))
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return "", parseErr(ErrLookalike, "invalid UTF-8 at byte %d", i)
		case unicode.IsDigit(r):
			return "", parseErr(ErrLookalike, "%U is a digit of another script; type the digits 0-9", r)
		case unicode.IsLetter(r):
			return "", parseErr(ErrLookalike, "%U is not a plain Latin letter (A-Z)", r)
		case unicode.IsSpace(r) || r < 0x20 || r == 0x7f:
			return "", parseErr(ErrLookalike, "control or space character %U inside the ID", r)
		default:
			return "", parseErr(ErrLookalike, "character %U is not accepted", r)
		}
	}
	return s, nil
}

// normalizeEmail lowercases an address after parsing it strictly.
func normalizeEmail(s string) (string, error) {
	e, err := policy.ParseEmail(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("expected an email address, got %q", s)
	}
	return e.String(), nil
}

var (
	ghLogin  = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	staticID = regexp.MustCompile(`^[A-Z0-9][A-Z0-9._-]{0,127}$`)
)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
