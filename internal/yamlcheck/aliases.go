// Package yamlcheck bounds what a YAML file may make its reader do beyond
// its own size: aliases (*name) and merge keys (<<: *name) repeat an
// anchored value wherever they stand, and each level of aliases to aliases
// multiplies ("billion laughs"). The decoder shares an anchored value
// between its aliases, but everything that walks the decoded value as a
// tree — the configuration's unknown-key and type checks, its validation,
// the route table — visits it once per alias: a 50 KB file of one 2,000-item
// list and 2,000 aliases to it costs seconds, a 1 MB one hours, and nesting
// grows it exponentially. Every YAML file the gateway reads (the
// configuration, the device inventory, a break-glass rota) is measured here
// first.
package yamlcheck

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// MaxAliasValues is the most values a file may add by aliases and merge
// keys: the count of values read with every alias replaced by what it
// names, minus the count of values written. Sharing a rule set or a route's
// settings across a few thousand entries stays far below it; repeating a
// large list thousands of times does not.
const MaxAliasValues = 1_000_000

// AliasError is a file whose aliases expand it beyond MaxAliasValues.
type AliasError struct {
	// Written is the number of values in the file; Read (capped just past
	// the limit) the number with the aliases expanded.
	Written, Read int
}

func (e *AliasError) Error() string {
	return fmt.Sprintf("aliases (*name, <<: *name) expand the file's %d values to more than %d: at most %d values may come from aliases; write the values out, or repeat less",
		e.Written, e.Written+MaxAliasValues, MaxAliasValues)
}

// Check returns an *AliasError when the aliases of f expand it by more than
// MaxAliasValues values, else nil.
func Check(f *ast.File) error {
	if f == nil {
		return nil
	}
	written, read := 0, 0
	for _, d := range f.Docs {
		c := counter{anchors: map[string]int{}}
		written += count(d, nil)
		read += c.count(d)
		if read-written > MaxAliasValues {
			return &AliasError{Written: written, Read: read}
		}
	}
	return nil
}

// CheckBytes parses data and applies Check. A file that does not parse is
// not judged here (nil): its reader reports the syntax error itself.
func CheckBytes(data []byte) error {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil
	}
	return Check(f)
}

// limit caps the counts: a few levels of nested aliases would overflow an
// int long before a walk of them ended.
const limit = 1 << 40

func add(a, b int) int {
	if s := a + b; s < limit {
		return s
	}
	return limit
}

// counter counts the values of a document with its aliases expanded. The
// size of each anchored value is computed once, where it is defined, so the
// count costs the size of the file, however deeply aliases nest.
type counter struct {
	anchors map[string]int
}

func (c *counter) count(n ast.Node) int {
	return count(n, c)
}

// count returns the number of values under n; with c, an alias counts as
// the value it names, otherwise as one.
func count(n ast.Node, c *counter) int {
	switch t := n.(type) {
	case nil:
		return 0
	case *ast.DocumentNode:
		return count(t.Body, c)
	case *ast.AnchorNode:
		name := ""
		if t.Name != nil {
			name = t.Name.GetToken().Value
		}
		if c != nil {
			c.anchors[name] = 1 // an alias inside its own anchor: the decoder reads it as null
		}
		s := count(t.Value, c)
		if c != nil {
			c.anchors[name] = s
		}
		return s
	case *ast.AliasNode:
		if c != nil && t.Value != nil {
			if s, ok := c.anchors[t.Value.GetToken().Value]; ok {
				return s
			}
		}
		return 1
	case *ast.TagNode:
		return add(1, count(t.Value, c))
	case *ast.MappingNode:
		s := 1
		for _, v := range t.Values {
			s = add(s, count(v, c))
		}
		return s
	case *ast.MappingValueNode:
		return add(count(t.Key, c), count(t.Value, c))
	case *ast.MappingKeyNode:
		return count(t.Value, c)
	case *ast.SequenceNode:
		s := 1
		for _, v := range t.Values {
			s = add(s, count(v, c))
		}
		return s
	}
	return 1
}
