package config

import (
	"fmt"
	"reflect"
	"sort"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/requirement/kinds"
)

// This file decodes and validates the requirement kinds' parts of the file:
// their top-level sections, each route's require: entries and each policy
// test's assumptions. The kinds own their types and checks; config owns the
// strict decoding (unknown keys with paths, ${ENV}) so every part of the
// file behaves the same.

var nodeType = reflect.TypeOf(Node{})

// sectionKeys maps top-level keys to the kinds that own them.
func sectionKeys() map[string]bool {
	m := map[string]bool{}
	for _, k := range kinds.All {
		if sk, ok := k.(requirement.Sectioned); ok {
			key, _ := sk.Section()
			m[key] = true
		}
	}
	return m
}

// assumptionKeys are the kinds' keys in a policy test.
func assumptionKeys() map[string]bool {
	m := map[string]bool{}
	for _, k := range kinds.All {
		if _, ok := k.(requirement.Assumer); ok {
			m[k.Name()] = true
		}
	}
	return m
}

// splitKeys removes the entries of m whose key is in keys and returns them.
func splitKeys(m *ast.MappingNode, keys map[string]bool) map[string]ast.Node {
	var out map[string]ast.Node
	kept := m.Values[:0:0]
	for _, mv := range m.Values {
		if k := keyOf(mv); keys[k] {
			if out == nil {
				out = map[string]ast.Node{}
			}
			out[k] = mv.Value
			continue
		}
		kept = append(kept, mv)
	}
	m.Values = kept
	return out
}

func keyOf(mv *ast.MappingValueNode) string {
	if mv == nil || mv.Key == nil {
		return ""
	}
	return mv.Key.GetToken().Value
}

// valueOf returns the value of key in m, or nil.
func valueOf(m *ast.MappingNode, key string) ast.Node {
	for _, mv := range m.Values {
		if keyOf(mv) == key {
			return mv.Value
		}
	}
	return nil
}

// decodeNode decodes node strictly into target (a pointer), reporting
// unknown keys and type errors under path, then substitutes ${ENV}.
// ${ENV} problems go to envProbs (they stop Load before validation, which
// would otherwise judge empty values).
func decodeNode(node ast.Node, target any, path string, lookup func(string) (string, bool), probs, envProbs *Problems) {
	if node == nil {
		return
	}
	if _, null := node.(*ast.NullNode); null {
		return
	}
	var raw any
	if err := yaml.NodeToValue(node, &raw); err != nil {
		*probs = append(*probs, path+": yaml: "+yamlError(err))
		return
	}
	before := len(*probs)
	unknownKeys(raw, reflect.TypeOf(target), path, probs)
	var opts []yaml.DecodeOption
	if len(*probs) == before {
		opts = append(opts, yaml.Strict())
	}
	// A number where a string is expected (a ticket's customer 0042, read
	// as 34) is refused here as in the rest of the file.
	typed := len(*probs)
	newTypeCheck(node, path, probs).check(raw, reflect.TypeOf(target), path)
	if len(*probs) > typed {
		return
	}
	if err := yaml.NodeToValue(node, target, opts...); err != nil {
		*probs = append(*probs, path+": yaml: "+yamlError(err))
		return
	}
	expandEnv(reflect.ValueOf(target).Elem(), path, lookup, envProbs)
}

// decodeKinds decodes the kinds' sections, the routes' require entries and
// the tests' assumptions.
func (c *Config) decodeKinds(sections map[string]ast.Node, tests []map[string]ast.Node, lookup func(string) (string, bool), probs, envProbs *Problems) {
	for _, k := range kinds.All {
		sk, ok := k.(requirement.Sectioned)
		if !ok {
			continue
		}
		key, v := sk.Section()
		node, ok := sections[key]
		if !ok {
			continue
		}
		if _, null := node.(*ast.NullNode); null {
			continue // "devices:" with nothing under it: as if absent
		}
		decodeNode(node, v, key, lookup, probs, envProbs)
		if c.sections == nil {
			c.sections = map[string]any{}
		}
		c.sections[k.Name()] = v
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		names := make([]string, 0, len(r.Require))
		for name := range r.Require {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			path := fmt.Sprintf("routes[%d].require.%s", i, name)
			k, ok := kinds.Get(name)
			if !ok {
				*probs = append(*probs, path+": unknown key")
				continue
			}
			spec := k.NewSpec()
			if n := r.Require[name]; n != nil {
				decodeNode(n.node, spec, path, lookup, probs, envProbs)
			}
			if r.specs == nil {
				r.specs = map[string]any{}
			}
			r.specs[name] = spec
		}
	}
	for i, nodes := range tests {
		if i >= len(c.Tests) {
			break
		}
		t := &c.Tests[i]
		for _, k := range kinds.All {
			a, ok := k.(requirement.Assumer)
			if !ok {
				continue
			}
			node, ok := nodes[k.Name()]
			if !ok {
				continue
			}
			v := a.NewAssumption()
			decodeNode(node, v, fmt.Sprintf("tests[%d].%s", i, k.Name()), lookup, probs, envProbs)
			if t.assume == nil {
				t.assume = map[string]any{}
			}
			t.assume[k.Name()] = v
		}
	}
}

// validateSections checks the kinds' top-level sections.
func (c *Config) validateSections(v *validator) {
	for _, k := range kinds.All {
		sk, ok := k.(requirement.Sectioned)
		if !ok || c.sections[k.Name()] == nil {
			continue
		}
		key, _ := sk.Section()
		for _, p := range sk.SectionProblems(c.sections[k.Name()]) {
			v.probs = append(v.probs, p.String(key))
		}
		if sw, ok := k.(requirement.SectionWarner); ok {
			for _, p := range sw.SectionWarnings(c.sections[k.Name()]) {
				c.warn("%s", p.String(key))
			}
		}
		if pc, ok := k.(requirement.ProductionChecker); ok && !c.Dev {
			for _, p := range pc.ProductionProblems(c.sections[k.Name()]) {
				v.probs = append(v.probs, p.String(key))
			}
		}
	}
}

// validateRequire compiles route i's requirements in the kinds' checking
// order; a public route may have none.
func (c *Config) validateRequire(v *validator, i int) {
	r := &c.Routes[i]
	r.requires = nil
	if len(r.specs) == 0 {
		return
	}
	p := fmt.Sprintf("routes[%d]", i)
	if r.Public {
		v.add(p+".require", "a public route checks nothing; remove require or public: true")
		return
	}
	info := requirement.Route{Name: r.Name, Vars: pathVars(r.Path)}
	for _, k := range kinds.All {
		spec, ok := r.specs[k.Name()]
		if !ok {
			continue
		}
		req, probs := k.Compile(spec, c.sections[k.Name()], info)
		for _, prob := range probs {
			v.probs = append(v.probs, prob.String(p+".require."+k.Name()))
		}
		if req != nil && len(probs) == 0 {
			r.requires = append(r.requires, req)
		}
	}
}

// validateAssumptions checks test i's assumed facts.
func (c *Config) validateAssumptions(v *validator, i int) {
	t := &c.Tests[i]
	for _, k := range kinds.All {
		a, ok := k.(requirement.Assumer)
		if !ok || t.assume[k.Name()] == nil {
			continue
		}
		for _, prob := range a.AssumptionProblems(t.assume[k.Name()]) {
			v.probs = append(v.probs, prob.String(fmt.Sprintf("tests[%d].%s", i, k.Name())))
		}
	}
}
