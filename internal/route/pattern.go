package route

import (
	"fmt"
	"regexp"
	"strings"
)

// Segment is one element of a parsed path pattern.
type Segment struct {
	Static string         // literal segment, when Var == ""
	Var    string         // variable name, for {name} or {name:re}
	Re     *regexp.Regexp // optional; anchored
}

// Pattern is a parsed route path.
type Pattern []Segment

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParsePattern parses a route path such as "/customers/{customer_id}" or
// "/v1/{id:[0-9]+}". Variables take a whole segment.
func ParsePattern(p string) (Pattern, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("route: expected a path starting with '/', got %q", p)
	}
	if strings.ContainsAny(p, "?#") {
		return nil, fmt.Errorf("route: expected a path without query or fragment, got %q", p)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !isPathChar(c) && c != '{' && c != '}' && c != '[' && c != ']' && c != '^' && c != '|' && c != '?' && c != '\\' {
			return nil, fmt.Errorf("route: character %q must not appear raw in a path, got %q", c, p)
		}
	}
	var out Pattern
	if p == "/" {
		return out, nil
	}
	seen := map[string]bool{}
	// One trailing slash is allowed ("/a/" is "/a"); every other empty
	// segment is an error, so "//.gateway" cannot hide a reserved prefix
	// from a check on the raw string.
	for _, s := range strings.Split(strings.TrimSuffix(p[1:], "/"), "/") {
		if s == "" {
			return nil, fmt.Errorf("route: empty segment in %q", p)
		}
		if s == "." || s == ".." {
			return nil, fmt.Errorf("route: dot segment in %q", p)
		}
		if !strings.ContainsAny(s, "{}") {
			// A static segment is compared with the normalized path, which
			// holds only path characters: anything else could never match
			// here while an upstream that decodes would match it.
			for i := 0; i < len(s); i++ {
				switch c := s[i]; {
				case c == ';':
					return nil, fmt.Errorf("route: path parameters (';') are not part of a route path, got %q", p)
				case !isPathChar(c):
					return nil, fmt.Errorf("route: character %q may appear only inside a {variable:expression}, got %q", c, p)
				}
			}
			out = append(out, Segment{Static: s})
			continue
		}
		if s[0] != '{' || s[len(s)-1] != '}' {
			return nil, fmt.Errorf("route: a variable must take a whole segment, got %q in %q", s, p)
		}
		name, re, hasRe := strings.Cut(s[1:len(s)-1], ":")
		if !varName.MatchString(name) {
			return nil, fmt.Errorf("route: bad variable name %q in %q", name, p)
		}
		if seen[name] {
			return nil, fmt.Errorf("route: variable %q appears twice in %q", name, p)
		}
		seen[name] = true
		seg := Segment{Var: name}
		if hasRe {
			if re == "" {
				return nil, fmt.Errorf("route: empty expression for variable %q in %q", name, p)
			}
			r, err := regexp.Compile("^(?:" + re + ")$")
			if err != nil {
				return nil, fmt.Errorf("route: variable %q: %v", name, err)
			}
			seg.Re = r
		}
		out = append(out, seg)
	}
	return out, nil
}

// Canonical returns a key that is equal for patterns that match the same
// paths (variable names and trailing slashes do not matter).
func Canonical(p string) string {
	pat, err := ParsePattern(p)
	if err != nil {
		return p
	}
	var b strings.Builder
	for _, s := range pat {
		b.WriteByte('/')
		switch {
		case s.Var == "":
			b.WriteString(s.Static)
		case s.Re != nil:
			b.WriteString("{:" + s.Re.String() + "}")
		default:
			b.WriteString("{}")
		}
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}
