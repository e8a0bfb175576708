package proxy

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

type stripTest struct {
	name string
	// in is a header as a server may hold it: keys exactly as given.
	in    http.Header
	strip *HeaderList
	want  http.Header
}

func (tc stripTest) run(t *testing.T) {
	t.Helper()
	h := tc.in.Clone()
	StripInbound(h, tc.strip)
	if !reflect.DeepEqual(h, tc.want) {
		t.Fatalf("StripInbound(%v) =\n  %v\nwant\n  %v", tc.in, h, tc.want)
	}
}

func merge(hs ...http.Header) http.Header {
	out := http.Header{}
	for _, h := range hs {
		for k, v := range h {
			out[k] = v
		}
	}
	return out
}

// unrelated are headers no list strips.
var unrelated = http.Header{
	"Accept":        {"text/html"},
	"User-Agent":    {"curl/8"},
	"X-Gateway":     {"not in the namespace: no trailing dash"},
	"X-Gatewayish":  {"not in the namespace"},
	"X-Request-Id":  {"r1"},
	"Authorization": {"Basic dTpw"},
}

func TestStripInbound(t *testing.T) {
	namespace := http.Header{
		"X-Gateway-User":    {"admin"},
		"x-gateway-user":    {"admin"},
		"X_Gateway_User":    {"admin"},
		"X-GATEWAY_user":    {"admin"},
		"x_gateway-context": {"forged.jws.token"},
		"X_gateway_context": {"forged"},
		"X.Gateway.User":    {"admin"},
		"X-Gateway-":        {"empty suffix"},
	}
	forwarding := http.Header{
		"X-Forwarded-For":   {"203.0.113.9"},
		"X-Forwarded-Host":  {"evil.example"},
		"X-Forwarded-Proto": {"https"},
		"Forwarded":         {"for=203.0.113.9"},
		"X-Real-Ip":         {"203.0.113.9"},
		"x-forwarded-for":   {"lowercase key"},
		"X_Forwarded_For":   {"10.0.0.1"},
		"X-Forwarded_Host":  {"admin.corp.example"},
		"X_Real_IP":         {"10.0.0.1"},
		"X-Client-IP":       {"10.0.0.1"},
	}
	// Path overrides: Symfony and IIS serve X-Original-URL, Spring prepends
	// X-Forwarded-Prefix: never the path the rules judged.
	pathOverride := http.Header{
		"X-Original-Url":        {"/admin"},
		"X_Original_URL":        {"/admin"},
		"X-Rewrite-Url":         {"/admin"},
		"X-Original-Uri":        {"/admin"},
		"X-Forwarded-Uri":       {"/public"},
		"X-Forwarded-Prefix":    {"/admin"},
		"X-Forwarded-Path":      {"/admin"},
		"X-Envoy-Original-Path": {"/admin"},
		"X-Script-Name":         {"/admin"},
		// gunicorn takes a SCRIPT_NAME header for the WSGI SCRIPT_NAME and
		// serves the rest of the path: /public/admin is /admin to the app.
		"SCRIPT_NAME": {"/public"},
		"Script_name": {"/public"},
		"PATH_INFO":   {"/admin"},
	}
	methodOverride := http.Header{
		"X-Http-Method-Override": {"DELETE"},
		"X_HTTP_METHOD_OVERRIDE": {"DELETE"},
		"X-Http-Method":          {"DELETE"},
		"X-Method-Override":      {"DELETE"},
		"X_Forwarded_Method":     {"DELETE"},
	}
	// Identity headers of other proxies, in the spellings upstream
	// frameworks fold together (CGI/WSGI/PHP/Rack: '_' and '-', any case).
	identity := http.Header{
		"X-Forwarded-User":                   {"admin"},
		"x-forwarded-email":                  {"admin@corp.example"},
		"X_Forwarded_Groups":                 {"admins"},
		"X-FORWARDED-PREFERRED-USERNAME":     {"admin"},
		"X-Forwarded-Access-Token":           {"t"},
		"X-Auth-Request-User":                {"admin"},
		"X_Auth_Request_Email":               {"admin@corp.example"},
		"X-Auth-Request-Groups":              {"admins"},
		"Remote-User":                        {"admin"},
		"remote_user":                        {"admin"},
		"X-Remote-User":                      {"admin"},
		"X-Remote-Group":                     {"system:masters"},
		"X-Remote-Extra-Scopes":              {"all"},
		"X-Remote-Email":                     {"admin@corp.example"},
		"X-Webauth-User":                     {"admin"},
		"X-WEBAUTH-ROLE":                     {"Admin"},
		"X-Authentik-Username":               {"admin"},
		"X-Pomerium-Jwt-Assertion":           {"forged"},
		"Cf-Access-Authenticated-User-Email": {"admin@corp.example"},
		"X-Goog-Authenticated-User-Email":    {"accounts.google.com:admin@corp.example"},
		"X-Amzn-Oidc-Identity":               {"admin"},
		"X-Ms-Client-Principal-Name":         {"admin"},
		"X-Forwarded-Client-Cert":            {"Hash=forged"},
		"X-Ssl-Client-Verify":                {"SUCCESS"},
		"True-Client-IP":                     {"10.0.0.1"},
		"CF-Connecting-IP":                   {"10.0.0.1"},
		"Cf_Connecting_Ip":                   {"10.0.0.1"},
		"X-Forwarded-Ssl":                    {"on"},
		"X-Forwarded-Scheme":                 {"https"},
		"Front-End-Https":                    {"on"},
		"X-Host":                             {"admin.corp.example"},
		"X-Envoy-Internal":                   {"true"},
		// Next.js (before 15.2.3) skips its middleware — where apps check
		// authorization — for a request that carries this (CVE-2025-29927).
		"X-Middleware-Subrequest": {"middleware:middleware:middleware:middleware:middleware"},
		"X_Middleware_Subrequest": {"src/middleware"},
		"X-Middleware-Rewrite":    {"/admin"},
		"X-Invoke-Path":           {"/admin"},
	}
	custom := MustHeaderList("X-Tool-User", "X-Legacy-*")
	tests := []stripTest{
		{name: "namespace in every case and separator", in: merge(namespace, unrelated), want: unrelated},
		{name: "forwarding headers in every spelling", in: merge(forwarding, unrelated), want: unrelated},
		{name: "path overrides in every spelling", in: merge(pathOverride, unrelated), want: unrelated},
		{name: "method override headers", in: merge(methodOverride, unrelated), want: unrelated},
		{name: "HTTP2-Settings", in: merge(http.Header{"Http2-Settings": {"AAMAAABkAAQAoAAAAAIAAAAA"}, "Http2_settings": {"x"}}, unrelated), want: unrelated},
		{name: "identity headers of other proxies by default", in: merge(identity, unrelated), want: unrelated},
		{name: "a custom list replaces the identity list", strip: custom,
			in:   merge(identity, unrelated, http.Header{"X-Tool-User": {"a"}, "x_tool_user": {"a"}, "X-Legacy-Id": {"1"}}),
			want: merge(identity, unrelated)},
		{name: "a custom list keeps the namespace", strip: custom, in: merge(namespace, pathOverride, unrelated), want: unrelated},
		{name: "nothing to strip", in: unrelated, want: unrelated},
		{name: "empty", in: http.Header{}, want: http.Header{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestHeaderList(t *testing.T) {
	l := MustHeaderList("X-Remote-User", "X-Webauth-*")
	for name, want := range map[string]bool{
		"X-Remote-User": true, "x_remote_user": true, "X.REMOTE.USER": true, "X-Remote-Users": false,
		"X-Webauth-": true, "X-WEBAUTH-USER": true, "x_webauth_x": true, "X-Webauth": false, "X-Remote": false,
	} {
		if got := l.Contains(name); got != want {
			t.Errorf("Contains(%q) = %v, want %v", name, got, want)
		}
	}
	for _, bad := range []string{"", "*", "X Remote", "X-Remote:User", "X-Ü", "a\x00"} {
		if _, err := NewHeaderList(bad); err == nil || !strings.HasPrefix(err.Error(), "proxy: expected a header name") {
			t.Errorf("NewHeaderList(%q) error = %v", bad, err)
		}
	}
	var nilList *HeaderList
	if nilList.Contains("X-Remote-User") {
		t.Error("a nil list contains a name")
	}
}

// FuzzFoldName checks the header folder: every spelling an upstream reads as
// one header folds to one name, and folding never allocates for names up to
// the buffer size.
func FuzzFoldName(f *testing.F) {
	for _, s := range []string{"X-Forwarded-User", "x_forwarded_user", "X.Gateway.Context", "", "Ü", "X-WEBAUTH-*"} {
		f.Add(s)
	}
	l := DefaultStripList()
	f.Fuzz(func(t *testing.T, name string) {
		var buf [128]byte
		got := foldInto(buf[:0], name)
		if len(got) != len(name) {
			t.Fatalf("foldInto(%q) = %q: length changed", name, got)
		}
		want := strings.NewReplacer("_", "-", ".", "-").Replace(strings.Map(func(r rune) rune {
			if 'A' <= r && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return r
		}, name))
		if string(got) != want && strings.ToValidUTF8(name, "") == name {
			t.Fatalf("foldInto(%q) = %q, want %q", name, got, want)
		}
		// Every case and separator variant of a listed name is listed.
		if l.Contains(name) != l.Contains(strings.ToUpper(strings.ReplaceAll(name, "-", "_"))) && isASCII(name) {
			t.Fatalf("Contains(%q) differs from its upper-case underscore spelling", name)
		}
		h := http.Header{name: {"v"}, "Accept": {"*/*"}}
		StripInbound(h, nil)
		if _, kept := h[name]; kept && (l.Contains(name) || strings.HasPrefix(string(got), Namespace)) {
			t.Fatalf("StripInbound kept %q", name)
		}
		if h.Get("Accept") != "*/*" && name != "Accept" {
			t.Fatalf("StripInbound removed Accept beside %q", name)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// BenchmarkStripInbound strips a browser's usual request headers plus a few
// spoofed ones: it must not allocate.
func BenchmarkStripInbound(b *testing.B) {
	base := http.Header{
		"Accept": {"text/html"}, "Accept-Encoding": {"gzip, br"}, "Accept-Language": {"en"},
		"Cache-Control": {"no-cache"}, "Connection": {"keep-alive"}, "Cookie": {"a=1"},
		"Referer": {"https://support.corp.example/"}, "Sec-Ch-Ua": {"x"}, "Sec-Fetch-Dest": {"document"},
		"Sec-Fetch-Mode": {"navigate"}, "Sec-Fetch-Site": {"same-origin"}, "Upgrade-Insecure-Requests": {"1"},
		"User-Agent": {"Mozilla/5.0"}, "X-Forwarded-For": {"10.0.0.1"}, "X-Gateway-User": {"a"},
		"X_Forwarded_User": {"admin"}, "X-Webauth-User": {"admin"},
	}
	h := make(http.Header, len(base))
	b.ReportAllocs()
	for b.Loop() {
		for k, v := range base {
			h[k] = v
		}
		StripInbound(h, nil)
	}
}

func TestSameHeader(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"X-Client-Cert", "x_client_cert", true},
		{"X-Client-Cert", "X.Client.Cert", true},
		{"X-Client-Cert", "X-Client-Certs", false},
		{"X-Client-Cert", "X-Client-Cerx", false},
	} {
		if got := SameHeader(c.a, c.b); got != c.want {
			t.Errorf("SameHeader(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
