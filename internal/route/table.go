package route

import (
	"fmt"
	"net/url"
	"strings"
)

// Table maps host and path to a value (the gateway's compiled route).
// A Table is immutable once built; build a new one to change routes.
type Table[T any] struct {
	hosts map[string]*node[T]
}

type node[T any] struct {
	static map[string]*node[T]
	params []*paramEdge[T]
	prefix *leaf[T]
	exact  *leaf[T]
}

type paramEdge[T any] struct {
	seg   Segment
	child *node[T]
}

type leaf[T any] struct {
	value T
	vars  []string // variable names in path order
}

// NewTable returns an empty table.
func NewTable[T any]() *Table[T] { return &Table[T]{hosts: map[string]*node[T]{}} }

// Add inserts a route. host must be lowercase without port. With exact, the
// pattern matches only itself; otherwise it matches itself and every path
// below it on segment boundaries.
func (t *Table[T]) Add(host, path string, exact bool, v T) error {
	pat, err := ParsePattern(path)
	if err != nil {
		return err
	}
	n := t.hosts[host]
	if n == nil {
		n = &node[T]{}
		t.hosts[host] = n
	}
	var vars []string
	for _, s := range pat {
		if s.Var == "" {
			if n.static == nil {
				n.static = map[string]*node[T]{}
			}
			c := n.static[s.Static]
			if c == nil {
				c = &node[T]{}
				n.static[s.Static] = c
			}
			n = c
			continue
		}
		vars = append(vars, s.Var)
		var found *node[T]
		for _, e := range n.params {
			if sameRe(e.seg, s) {
				found = e.child
				break
			}
		}
		if found == nil {
			found = &node[T]{}
			e := &paramEdge[T]{seg: s, child: found}
			// Constrained variables are tried before unconstrained ones.
			if s.Re != nil {
				n.params = append([]*paramEdge[T]{e}, n.params...)
			} else {
				n.params = append(n.params, e)
			}
		}
		n = found
	}
	l := &leaf[T]{value: v, vars: vars}
	if exact {
		if n.exact != nil {
			return fmt.Errorf("route: duplicate exact route %s%s", host, path)
		}
		n.exact = l
	} else {
		if n.prefix != nil {
			return fmt.Errorf("route: duplicate route %s%s", host, path)
		}
		n.prefix = l
	}
	return nil
}

func sameRe(a, b Segment) bool {
	if (a.Re == nil) != (b.Re == nil) {
		return false
	}
	return a.Re == nil || a.Re.String() == b.Re.String()
}

// HasHost reports whether host has any route.
func (t *Table[T]) HasHost(host string) bool { return t.hosts[host] != nil }

// Lookup finds the most specific route for host and a normalized path: the
// one matching the most segments; at equal depth a static segment beats a
// variable. A segment with path parameters ("admin;x") also matches the
// static segment or variable expression of its name ("admin"). vars holds
// the path variables (nil when there are none).
func (t *Table[T]) Lookup(host, path string) (v T, vars map[string]string, ok bool) {
	n := t.hosts[host]
	if n == nil {
		return v, nil, false
	}
	var vals [8]string
	m := match[T]{path: path, vals: vals[:0]}
	m.walk(n, 1, 0)
	if m.best == nil {
		return v, nil, false
	}
	if len(m.best.vars) > 0 {
		vars = make(map[string]string, len(m.best.vars))
		for i, name := range m.best.vars {
			val := m.bestVals[i]
			if u, err := url.PathUnescape(val); err == nil {
				val = u
			}
			vars[name] = val
		}
	}
	return m.best.value, vars, true
}

type match[T any] struct {
	path      string
	vals      []string
	best      *leaf[T]
	bestDepth int
	bestVals  []string
}

func (m *match[T]) consider(l *leaf[T], depth int) {
	if l == nil || (m.best != nil && depth <= m.bestDepth) {
		return
	}
	m.best, m.bestDepth = l, depth
	m.bestVals = append(m.bestVals[:0], m.vals...)
}

// walk matches the path from byte offset i (just after a '/') at depth.
func (m *match[T]) walk(n *node[T], i, depth int) {
	if i >= len(m.path) {
		// Path consumed ("/" or "/a/b" or "/a/b/").
		m.consider(n.exact, depth)
		m.consider(n.prefix, depth)
		return
	}
	end := strings.IndexByte(m.path[i:], '/')
	var seg string
	next := len(m.path)
	if end < 0 {
		seg = m.path[i:]
	} else {
		seg = m.path[i : i+end]
		next = i + end + 1
	}
	if seg == "" && next >= len(m.path) {
		// Trailing slash: "/a/" is "/a" for matching.
		m.consider(n.exact, depth)
		m.consider(n.prefix, depth)
		return
	}
	// name is the segment without path parameters: Tomcat and Jetty serve
	// "/admin;x" as "/admin", so it must not fall back to a less specific
	// route. Variables still receive the whole segment.
	name := seg
	if k := strings.IndexByte(seg, ';'); k >= 0 {
		name = seg[:k]
	}
	if c := n.static[seg]; c != nil {
		m.walk(c, next, depth+1)
	} else if c := n.static[name]; c != nil && name != seg {
		m.walk(c, next, depth+1)
	}
	for _, e := range n.params {
		if seg == "" || e.seg.Re != nil && !e.seg.Re.MatchString(seg) && (name == seg || !e.seg.Re.MatchString(name)) {
			continue
		}
		m.vals = append(m.vals, seg)
		m.walk(e.child, next, depth+1)
		m.vals = m.vals[:len(m.vals)-1]
	}
	m.consider(n.prefix, depth)
}
