package forward

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	"github.com/goccy/go-yaml"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
)

// The snippets of docs/forward-auth.md are what the tests run: nginx's and
// Caddy's are started as they are (with the test's addresses), Traefik's
// settings drive the Traefik contract test, and Envoy's filter
// configurations are decoded and validated with the official protos.

// snippet returns the fenced block that follows "<!-- tested: name -->" or
// "<!-- checked: name -->" in docs/forward-auth.md.
func snippet(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "forward-auth.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "<!-- tested: "+name+" -->")
	if i < 0 {
		i = strings.Index(doc, "<!-- checked: "+name+" -->")
	}
	if i < 0 {
		t.Fatalf("docs/forward-auth.md has no snippet %q", name)
	}
	rest := doc[i:]
	open := strings.Index(rest, "```")
	body := rest[open+3:]
	body = body[strings.Index(body, "\n")+1:]
	return body[:strings.Index(body, "```")]
}

// replace applies old→new pairs to s, each of which must occur.
func replace(t *testing.T, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("the documented snippet no longer contains %q", pairs[i])
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

// dropLines removes the lines that start (after indentation) with any of prefixes.
func dropLines(s string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		drop := false
		for _, p := range prefixes {
			drop = drop || strings.HasPrefix(strings.TrimSpace(l), p)
		}
		if !drop {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// nginxConfig is the documented server on the test's loopback ports
// (plain http, no certificate), inside a main context that lets nginx run
// in a temporary directory.
func nginxConfig(t *testing.T, dir string, port int, gateway, tool string, root bool) string {
	s := snippet(t, "nginx")
	s = replace(t, s, "gateway.internal:8080", gateway, "reports.internal:8080", tool,
		"listen 443 ssl;", fmt.Sprintf("listen 127.0.0.1:%d;", port),
		"server_name reports.corp.example;", "server_name 127.0.0.1;")
	s = dropLines(s, "ssl_certificate")
	user := ""
	if root {
		user = "user root;"
	}
	return fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
%s
pid %[2]s/nginx.pid;
error_log %[2]s/error.log notice;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
%s
}
`, user, dir, s)
}

// caddyConfig is the documented site on the test's loopback port.
func caddyConfig(t *testing.T, dir string, port int, gateway, tool string) string {
	s := snippet(t, "caddy")
	s = replace(t, s, "gateway.internal:8080", gateway, "reports.internal:8080", tool,
		"reports.corp.example {", fmt.Sprintf("http://127.0.0.1:%d {", port))
	return fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tstorage file_system %s/data\n}\n\n%s", dir, s)
}

// traefikForwardAuth reads the documented middleware: the path of its
// address and its authResponseHeaders.
func traefikForwardAuth(t *testing.T) (path string, authResponseHeaders []string) {
	var c struct {
		HTTP struct {
			Middlewares map[string]struct {
				ForwardAuth struct {
					Address             string   `yaml:"address"`
					AuthResponseHeaders []string `yaml:"authResponseHeaders"`
				} `yaml:"forwardAuth"`
			} `yaml:"middlewares"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal([]byte(snippet(t, "traefik")), &c); err != nil {
		t.Fatalf("the Traefik snippet: %v", err)
	}
	fa := c.HTTP.Middlewares["access-gateway"].ForwardAuth
	return strings.TrimPrefix(fa.Address, "http://gateway.internal:8080"), fa.AuthResponseHeaders
}

// traefikRequestHeaders reads the customRequestHeaders of the documented
// headers middlewares on the tool's router (an empty value removes the
// header), in the router's order.
func traefikRequestHeaders(t *testing.T) [][2]string {
	var c struct {
		HTTP struct {
			Middlewares map[string]struct {
				Headers struct {
					CustomRequestHeaders map[string]string `yaml:"customRequestHeaders"`
				} `yaml:"headers"`
			} `yaml:"middlewares"`
			Routers map[string]struct {
				Middlewares []string `yaml:"middlewares"`
			} `yaml:"routers"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal([]byte(snippet(t, "traefik")), &c); err != nil {
		t.Fatalf("the Traefik snippet: %v", err)
	}
	var out [][2]string
	for _, m := range c.HTTP.Routers["reports"].Middlewares {
		for k, v := range c.HTTP.Middlewares[m].Headers.CustomRequestHeaders {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

// envoyFilter decodes a documented ext_authz typed_config with the
// official v3 protos and checks it with their validation rules.
func envoyFilter(t *testing.T, name string) *extauthzv3.ExtAuthz {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(snippet(t, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var a anypb.Any
	if err := protojson.Unmarshal(j, &a); err != nil {
		t.Fatalf("%s: not an Envoy v3 configuration: %v", name, err)
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	f, ok := m.(*extauthzv3.ExtAuthz)
	if !ok {
		t.Fatalf("%s: a %T, not the ext_authz filter", name, m)
	}
	if err := f.ValidateAll(); err != nil {
		t.Fatalf("%s: invalid: %v", name, err)
	}
	if f.GetFailureModeAllow() {
		t.Fatalf("%s: failure_mode_allow lets requests through when the gateway is down", name)
	}
	return f
}

func TestEnvoySnippetsDecode(t *testing.T) {
	h := envoyFilter(t, "envoy-http")
	if got := h.GetHttpService().GetPathPrefix(); got != "/.gateway/auth/envoy" {
		t.Fatalf("path_prefix %q", got)
	}
	var up []string
	for _, p := range h.GetHttpService().GetAuthorizationResponse().GetAllowedUpstreamHeaders().GetPatterns() {
		up = append(up, p.GetExact())
	}
	if !reflect.DeepEqual(up, []string{"x-gateway-context", "x-gateway-request-id", "cookie"}) {
		t.Fatalf("allowed_upstream_headers %v", up)
	}
	// The check request carries the credentials the gateway reads, and
	// the protocol a request upgrades to (routes[].upgrades).
	var in []string
	for _, p := range h.GetAllowedHeaders().GetPatterns() {
		in = append(in, p.GetExact())
	}
	for _, want := range []string{"cookie", "authorization", "upgrade"} {
		if !slices.Contains(in, want) {
			t.Fatalf("allowed_headers %v lacks %s", in, want)
		}
	}
	g := envoyFilter(t, "envoy-grpc")
	if g.GetGrpcService().GetEnvoyGrpc().GetClusterName() == "" {
		t.Fatal("no gRPC cluster")
	}
}
