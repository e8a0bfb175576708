package config

import (
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
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/requirement/kinds"
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
		return nil, Problems{"yaml: " + yaml.FormatError(err, false, true)}
	}
	if len(file.Docs) == 0 || file.Docs[0].Body == nil {
		return nil, Problems{"file is empty"}
	}
	if len(file.Docs) > 1 {
		return nil, Problems{fmt.Sprintf("expected one YAML document, got %d", len(file.Docs))}
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
		return nil, Problems{"yaml: " + yaml.FormatError(err, false, true)}
	}
	unknownKeys(raw, reflect.TypeOf(Config{}), "", &probs)
	// Values of the wrong type, each named by its path and with what was
	// expected in the operator's words (not Go's), all at once.
	before := len(probs)
	typeProblems(raw, reflect.TypeOf(Config{}), "", &probs)
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
		return nil, append(probs, "yaml: "+yaml.FormatError(err, false, true))
	}
	var envProbs Problems
	c.decodeKinds(sections, testNodes, lookup, &probs, &envProbs)
	expandEnv(reflect.ValueOf(&c).Elem(), "", lookup, &envProbs)
	if len(envProbs) > 0 {
		return nil, append(probs, envProbs...)
	}
	c.Dev = o.Dev
	c.dir = o.Dir
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

// typeProblems walks a generic YAML value beside the Go type it decodes into
// and records every value of the wrong type as "path: expected X, got Y".
// A null is always accepted (it leaves the zero value, i.e. the default).
func typeProblems(v any, t reflect.Type, path string, probs *Problems) {
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
		*probs = append(*probs, fmt.Sprintf("%s: expected %s, got %s%s", path, want, describe(v), note))
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
		}
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			bad("a list")
			return
		}
		for i, e := range s {
			typeProblems(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), probs)
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
				typeProblems(m[k], f.Type, join(path, k), probs)
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			bad("a mapping")
			return
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			typeProblems(m[k], t.Elem(), join(path, k), probs)
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

// yamlFields maps yaml key names to struct fields, following the yaml tags.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
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
			for k, v := range yamlFields(f.Type) {
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
