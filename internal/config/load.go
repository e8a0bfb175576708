package config

import (
	"encoding"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/accessgateway/gateway/internal/policy"
	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/requirement/kinds"
	"github.com/accessgateway/gateway/internal/yamlcheck"
)

// Problems is every problem found in a configuration, each with its field
// path. It is returned as the error of Load and Validate.
type Problems []string

func (p Problems) Error() string {
	if len(p) == 1 {
		return "config: " + p[0]
	}
	return fmt.Sprintf("config: %d problems:\n  %s", len(p), strings.Join(p, "\n  "))
}

// maxConfigSize bounds the file Load reads.
const maxConfigSize = 8 << 20

// LoadFile reads, decodes and validates the file at path.
func LoadFile(path string, o Options) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read: %w", err)
	}
	o.Dir = filepath.Dir(path)
	return Load(b, o)
}

// Options change how Load reads a file.
type Options struct {
	// Lookup resolves ${NAME}; nil means os.LookupEnv.
	Lookup func(string) (string, bool)
	// Dev allows the insecure settings of `gateway dev` (plain-http URLs).
	// Only the dev subcommand and tests set it.
	Dev bool
	// Dir is the directory relative paths in the file are resolved against
	// (LoadFile sets it to the file's directory; empty: the working directory).
	Dir string
	// DevProvider, with Dev, is the embedded development provider: a file
	// without oidc.issuer signs in there (`gateway dev --config FILE`). Its
	// issuer, client_id and client_secret replace the file's.
	DevProvider *OIDCConfig
}

// Load decodes YAML strictly, substitutes ${ENV} in string values, fills
// defaults and validates. On any problem it returns Problems.
func Load(data []byte, o Options) (cfg *Config, err error) {
	// Problems quote what was written, and a URL may carry a password or a
	// token (often from ${ENV}): `gateway check` prints them, a rejected
	// reload logs them.
	defer func() {
		if p, ok := err.(Problems); ok {
			err = redactProblems(p)
		}
	}()
	// goccy/go-yaml v1.19.2 panics on some malformed input (a tag where a
	// list is expected: goccy/go-yaml#735). A bad file must be a problem,
	// never a crash of `check` or of a running gateway on reload.
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, Problems{fmt.Sprintf("yaml: the file could not be parsed (%v)", r)}
		}
	}()
	lookup := o.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if len(data) > maxConfigSize {
		return nil, Problems{fmt.Sprintf("file too large: %d bytes, limit %d", len(data), maxConfigSize)}
	}
	var probs Problems
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, Problems{"yaml: " + yamlError(err)}
	}
	if len(file.Docs) == 0 || file.Docs[0].Body == nil {
		return nil, Problems{"file is empty"}
	}
	if len(file.Docs) > 1 {
		return nil, Problems{fmt.Sprintf("expected one YAML document, got %d", len(file.Docs))}
	}
	// Every walk below visits an anchored value once per alias: a small
	// file of aliases to a large list (or to aliases) would cost hours.
	if err := yamlcheck.Check(file); err != nil {
		return nil, Problems{"yaml: " + err.Error()}
	}
	top, ok := file.Docs[0].Body.(*ast.MappingNode)
	if !ok {
		return nil, Problems{fmt.Sprintf("expected a mapping at the top level, got %s", describeNode(file.Docs[0].Body))}
	}
	// The requirement kinds' parts are taken out of the tree and decoded
	// by their kinds; the rest decodes into Config.
	sections := splitKeys(top, sectionKeys())
	var testNodes []map[string]ast.Node
	if tests, ok := valueOf(top, "tests").(*ast.SequenceNode); ok {
		for _, item := range tests.Values {
			var assume map[string]ast.Node
			if m, ok := item.(*ast.MappingNode); ok {
				assume = splitKeys(m, assumptionKeys())
			}
			testNodes = append(testNodes, assume)
		}
	}
	// First pass: generic decode to find every unknown key with its path.
	var raw any
	if err := yaml.NodeToValue(top, &raw); err != nil {
		return nil, Problems{"yaml: " + yamlError(err)}
	}
	unknownKeys(raw, reflect.TypeOf(Config{}), "", &probs)
	// Values of the wrong type, each named by its path and with what was
	// expected in the operator's words (not Go's), all at once.
	before := len(probs)
	tc := newTypeCheck(top, "", &probs)
	tc.check(raw, reflect.TypeOf(Config{}), "")
	if len(probs) > before {
		return nil, probs
	}
	var c Config
	var opts []yaml.DecodeOption
	if len(probs) == 0 {
		opts = append(opts, yaml.Strict())
	}
	// With unknown keys already listed, decode the rest anyway so that their
	// problems are reported in the same run.
	if err := yaml.NodeToValue(top, &c, opts...); err != nil {
		return nil, append(probs, "yaml: "+yamlError(err))
	}
	var envProbs Problems
	c.decodeKinds(sections, testNodes, lookup, &probs, &envProbs)
	expandEnv(reflect.ValueOf(&c).Elem(), "", lookup, &envProbs)
	if len(envProbs) > 0 {
		return nil, append(probs, envProbs...)
	}
	c.Dev = o.Dev
	c.dir = o.Dir
	c.emptied = tc.emptied
	if o.Dev && o.DevProvider != nil && c.OIDC.Issuer == "" {
		c.OIDC.Issuer, c.OIDC.ClientID, c.OIDC.ClientSecret = o.DevProvider.Issuer, o.DevProvider.ClientID, o.DevProvider.ClientSecret
		if c.OIDC.PostLogoutRedirectURL == "" && c.PublicURL != "" {
			c.OIDC.PostLogoutRedirectURL = strings.TrimSuffix(c.PublicURL, "/") + "/.gateway/sign-out"
		}
	}
	c.resolvePaths()
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		var vp Problems
		errors.As(err, &vp)
		return nil, append(probs, vp...)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return &c, nil
}

// describeNode names a YAML node's kind for messages.
func describeNode(n ast.Node) string {
	switch n.Type() {
	case ast.SequenceType:
		return "a list"
	case ast.StringType, ast.LiteralType:
		return "a string"
	case ast.IntegerType, ast.FloatType:
		return "a number"
	case ast.BoolType:
		return "a boolean"
	case ast.NullType:
		return "nothing"
	}
	return n.Type().String()
}

// unknownKeys walks a generic YAML value beside the Go type it decodes into
// and records every key the type does not have.
func unknownKeys(v any, t reflect.Type, path string, probs *Problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nodeType {
		return // a requirement kind's part: its kind decodes it
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return // type mismatch: the strict decode reports it
		}
		fields := yamlFields(t)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f, ok := fields[k]
			if !ok {
				*probs = append(*probs, fmt.Sprintf("%s: unknown key", join(path, k)))
				continue
			}
			unknownKeys(m[k], f.Type, join(path, k), probs)
		}
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			return
		}
		for i, e := range s {
			unknownKeys(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), probs)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, e := range m {
			unknownKeys(e, t.Elem(), join(path, k), probs)
		}
	}
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
)

// typeCheck finds the values of the wrong type in a generic YAML value,
// walking it beside the Go type it decodes into, and records each as
// "path: expected X, got Y". A null is accepted where a field is (it leaves
// the zero value, i.e. the default), not as an element of a list or map.
type typeCheck struct {
	probs *Problems
	// scalars are the numbers and booleans of the file as written, by
	// path, and keys the mapping keys written so, by the mapping's path:
	// the decoder has already read 0042 as 34, which a message must not show.
	scalars map[string]scalar
	keys    map[string][]scalar
	// emptied holds the rule fields, deny lists and require sections that
	// are present but hold nothing (null, [] or {}), by path, with what was
	// found; validation refuses them (see emptiedRule).
	emptied map[string]string
}

// scalar is a number or boolean as written in the file.
type scalar struct{ kind, text string }

// newTypeCheck prepares a check of the tree n, whose path is base.
func newTypeCheck(n ast.Node, base string, probs *Problems) *typeCheck {
	tc := &typeCheck{probs: probs, scalars: map[string]scalar{}, keys: map[string][]scalar{}, emptied: map[string]string{}}
	tc.record(n, base)
	return tc
}

// record walks the YAML tree and notes every number and boolean, and every
// mapping key that is one, with how it was written. Aliases and merge keys
// are not followed: a value found only through them is described as
// decoded.
func (tc *typeCheck) record(n ast.Node, path string) {
	switch t := n.(type) {
	case *ast.TagNode:
		tc.record(t.Value, path)
	case *ast.AnchorNode:
		tc.record(t.Value, path)
	case *ast.MappingNode:
		for _, mv := range t.Values {
			if sc, ok := scalarOf(mv.Key); ok {
				tc.keys[path] = append(tc.keys[path], sc)
			}
			if _, merge := mv.Key.(*ast.MergeKeyNode); !merge {
				tc.record(mv.Value, join(path, keyOf(mv)))
			}
		}
	case *ast.MappingValueNode:
		tc.record(&ast.MappingNode{Values: []*ast.MappingValueNode{t}}, path)
	case *ast.SequenceNode:
		for i, e := range t.Values {
			tc.record(e, fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		if sc, ok := scalarOf(n); ok {
			tc.scalars[path] = sc
		}
	}
}

// scalarOf says whether n is a number or boolean (YAML reads an unquoted
// 0042, 0o42 and 1_000 as numbers, true and false as booleans), and how it
// was written.
func scalarOf(n ast.Node) (scalar, bool) {
	for {
		switch t := n.(type) {
		case *ast.TagNode:
			n = t.Value
			continue
		case *ast.AnchorNode:
			n = t.Value
			continue
		case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
			return scalar{"the number", t.GetToken().Value}, true
		case *ast.BoolNode:
			return scalar{"the boolean", t.GetToken().Value}, true
		}
		return scalar{}, false
	}
}

var (
	conditionType = reflect.TypeFor[policy.Condition]()
	rulesType     = reflect.TypeFor[policy.Rules]()
	routeType     = reflect.TypeFor[Route]()
	textUnmarshal = reflect.TypeFor[encoding.TextUnmarshaler]()
	yamlUnmarshal = []reflect.Type{
		reflect.TypeFor[yaml.BytesUnmarshaler](), reflect.TypeFor[yaml.InterfaceUnmarshaler](),
		reflect.TypeFor[yaml.NodeUnmarshaler](), reflect.TypeFor[yaml.BytesUnmarshalerContext](),
		reflect.TypeFor[yaml.InterfaceUnmarshalerContext](), reflect.TypeFor[yaml.NodeUnmarshalerContext](),
	}
)

// unmarshals reports whether t reads YAML its own way (then it judges its
// values itself: schedule days are a string or a list, sizes read "100MiB").
func unmarshals(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	if p.Implements(textUnmarshal) {
		return true
	}
	for _, u := range yamlUnmarshal {
		if p.Implements(u) {
			return true
		}
	}
	return false
}

func (tc *typeCheck) check(v any, t reflect.Type, path string) {
	if v == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	bad := func(want string) {
		note := ""
		if s, ok := v.(string); ok && strings.Contains(s, "${") {
			note = " (${ENV} is substituted only in string values)"
		}
		*tc.probs = append(*tc.probs, fmt.Sprintf("%s: expected %s, got %s%s", path, want, describe(v), note))
	}
	switch {
	case t == durationType:
		s, ok := v.(string)
		if !ok {
			bad("a duration such as 12h")
		} else if _, err := time.ParseDuration(s); err != nil {
			bad("a duration such as 12h, 90m or 30s")
		}
		return
	case t == timeType:
		switch v.(type) {
		case string, time.Time:
		default:
			bad("an RFC 3339 time such as 2026-12-01T00:00:00Z")
		}
		return
	case unmarshals(t):
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			bad("true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		switch v.(type) {
		case int64, uint64, int, uint:
		default:
			bad("a whole number")
		}
	case reflect.Float32, reflect.Float64:
		switch v.(type) {
		case int64, uint64, int, uint, float64:
		default:
			bad("a number")
		}
	case reflect.String:
		switch v.(type) {
		case []any, map[string]any:
			bad("a string")
			return
		case string:
			// "!!str 0042" decodes to "34" all the same: only quotes keep
			// what was written.
			if _, numeric := tc.scalars[path]; !numeric {
				return
			}
		}
		// The decoder would turn an unquoted 0042 into "34", 0x2A into "42"
		// and 1_000 into "1000": a rule would then name another customer
		// than the one written. Only a quoted value is taken.
		sc, ok := tc.scalars[path]
		if !ok {
			sc = scalar{"the value", describe(v)}
		}
		if secretPath(path) {
			*tc.probs = append(*tc.probs, fmt.Sprintf("%s: expected a string, got %s (write it in quotes)", path, strings.Replace(sc.kind, "the ", "a ", 1)))
			return
		}
		*tc.probs = append(*tc.probs, fmt.Sprintf("%s: expected a string, got %s %s (write %q in quotes)", path, sc.kind, sc.text, sc.text))
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			bad("a list")
			return
		}
		for i, e := range s {
			p := fmt.Sprintf("%s[%d]", path, i)
			if e == nil && t.Elem().Kind() == reflect.String && !unmarshals(t.Elem()) {
				*tc.probs = append(*tc.probs, p+": expected a string, got nothing (null): write the value, or remove the entry")
				continue
			}
			tc.check(e, t.Elem(), p)
		}
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			bad("a mapping")
			return
		}
		fields := yamlFields(t)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if f, ok := fields[k]; ok {
				tc.emptiedRule(t, m[k], k, path)
				tc.check(m[k], f.Type, join(path, k))
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			bad("a mapping")
			return
		}
		for _, sc := range tc.keys[path] {
			*tc.probs = append(*tc.probs, fmt.Sprintf("%s: expected names as keys, got %s %s (write %q in quotes)", path, sc.kind, sc.text, sc.text))
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			p := join(path, k)
			if m[k] == nil && t.Elem().Kind() == reflect.String && !unmarshals(t.Elem()) {
				*tc.probs = append(*tc.probs, p+": expected a string, got nothing (null)")
				continue
			}
			tc.check(m[k], t.Elem(), p)
		}
	}
}

// emptiedRule notes key of a struct of type t when it is present but holds
// nothing and that would silently weaken a route: a rule field (groups: []
// beside domains: would let the entry match on the domain alone), a deny
// list whose entries were all commented out, a require: section emptied to
// null. YAML reads "groups:" and "groups: []" alike, so only the file can
// tell that the key was written.
func (tc *typeCheck) emptiedRule(t reflect.Type, v any, key, path string) {
	switch {
	case t == conditionType && key != "everyone":
	case t == rulesType && key == "deny":
	case t == routeType && key == "require":
	default:
		return
	}
	switch x := v.(type) {
	case nil:
		tc.emptied[join(path, key)] = "nothing (null)"
	case []any:
		if len(x) == 0 {
			tc.emptied[join(path, key)] = "an empty list"
		}
	case map[string]any:
		if len(x) == 0 {
			tc.emptied[join(path, key)] = "an empty mapping"
		}
	}
}

// describe shows a YAML value as an operator wrote it.
func describe(v any) string {
	switch t := v.(type) {
	case string:
		return strconv.Quote(t)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case time.Time:
		return t.Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}

// fieldsOf caches yamlFields by type: the walks ask once per value, a file
// of 10,000 routes asked 10,000 times per route type.
var fieldsOf sync.Map // reflect.Type → map[string]reflect.StructField, read-only

// yamlFields maps yaml key names to struct fields, following the yaml tags.
// The map is shared: callers must not change it.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	if m, ok := fieldsOf.Load(t); ok {
		return m.(map[string]reflect.StructField)
	}
	m, _ := fieldsOf.LoadOrStore(t, structFields(t))
	return m.(map[string]reflect.StructField)
}

func structFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(tag, ",inline") {
			for k, v := range structFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var envRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} in every string field (after parsing, so a value
// can never inject YAML). "$$" stands for a literal "$". A reference to an
// unset variable is a problem, not an empty string.
func expandEnv(v reflect.Value, path string, lookup func(string) (string, bool), probs *Problems) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			expandEnv(v.Elem(), path, lookup, probs)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			expandEnv(v.Field(i), join(path, name), lookup, probs)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			expandEnv(v.Index(i), fmt.Sprintf("%s[%d]", path, i), lookup, probs)
		}
	case reflect.Map:
		if v.Type().Elem().Kind() == reflect.Interface {
			return
		}
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			expandEnv(e, join(path, fmt.Sprint(k.Interface())), lookup, probs)
			v.SetMapIndex(k, e)
		}
	case reflect.String:
		s := v.String()
		if !strings.Contains(s, "$") {
			return
		}
		var missing []string
		out := envRef.ReplaceAllStringFunc(s, func(m string) string {
			if m == "$$" {
				return "$"
			}
			name := m[2 : len(m)-1]
			val, ok := lookup(name)
			if !ok {
				missing = append(missing, name)
			}
			return val
		})
		for _, name := range missing {
			*probs = append(*probs, fmt.Sprintf("%s: environment variable %s is not set", path, name))
		}
		if v.CanSet() {
			v.SetString(out)
		}
	}
}

// IsProblems reports whether err lists configuration problems.
func IsProblems(err error) bool {
	var p Problems
	return errors.As(err, &p)
}

// resolvePaths makes every file path of the config absolute against its
// directory, so a relative path means one thing everywhere: relative to the
// config file. It is the only place paths are resolved. (Paths inside a
// separate inventory file are relative to that file; package device
// resolves those.)
func (c *Config) resolvePaths() {
	if c.dir == "" {
		return
	}
	abs := func(p *string) {
		if *p != "" && *p != "-" && !filepath.IsAbs(*p) {
			*p = filepath.Join(c.dir, *p)
		}
	}
	if c.Listen.TLS != nil {
		abs(&c.Listen.TLS.CertFile)
		abs(&c.Listen.TLS.KeyFile)
	}
	abs(&c.Templates.Dir)
	abs(&c.OIDC.CAFile)
	for i := range c.Session.EncryptionKeys {
		abs(&c.Session.EncryptionKeys[i].File)
	}
	abs(&c.Audit.File)
	if c.Session.Redis != nil {
		abs(&c.Session.Redis.TLS.CAFile)
	}
	for i := range c.Routes {
		abs(&c.Routes[i].UpstreamCAFile)
	}
	if c.Token != nil {
		for i := range c.Token.Keys {
			abs(&c.Token.Keys[i].File)
		}
	}
	for _, k := range kinds.All {
		if sk, ok := k.(requirement.Sectioned); ok && c.sections[k.Name()] != nil {
			sk.ResolvePaths(c.sections[k.Name()], c.dir)
		}
	}
}
