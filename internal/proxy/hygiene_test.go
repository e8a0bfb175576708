package proxy

import (
	"net/http"
	"reflect"
	"testing"
)

type stripTest struct {
	name string
	// in is a header as a server may hold it: keys exactly as given.
	in             http.Header
	keepForwarding bool
	extra          []string
	want           http.Header
}

func (tc stripTest) run(t *testing.T) {
	t.Helper()
	h := tc.in.Clone()
	StripInbound(h, tc.keepForwarding, tc.extra...)
	if !reflect.DeepEqual(h, tc.want) {
		t.Fatalf("StripInbound(%v, keep=%v, %q) =\n  %v\nwant\n  %v", tc.in, tc.keepForwarding, tc.extra, h, tc.want)
	}
}

func TestStripInbound(t *testing.T) {
	namespace := http.Header{
		"X-Gateway-User":    {"admin"},
		"x-gateway-user":    {"admin"},
		"X_Gateway_User":    {"admin"},
		"X-GATEWAY_user":    {"admin"},
		"x_gateway-context": {"forged.jws.token"},
		"X_gateway_context": {"forged"},
		"X-Gateway-":        {"empty suffix"},
	}
	unrelated := http.Header{
		"Accept":        {"text/html"},
		"User-Agent":    {"curl/8"},
		"X-Gateway":     {"not in the namespace: no trailing dash"},
		"X-Gatewayish":  {"not in the namespace"},
		"X-Request-Id":  {"r1"},
		"Authorization": {"Basic dTpw"},
	}
	merge := func(hs ...http.Header) http.Header {
		out := http.Header{}
		for _, h := range hs {
			for k, v := range h {
				out[k] = v
			}
		}
		return out
	}
	forwarding := http.Header{
		"X-Forwarded-For":   {"203.0.113.9"},
		"X-Forwarded-Host":  {"evil.example"},
		"X-Forwarded-Proto": {"https"},
		"X-Forwarded-Uri":   {"/public"},
		"Forwarded":         {"for=203.0.113.9"},
		"X-Real-Ip":         {"203.0.113.9"},
		"X-Original-Url":    {"/public"},
		"x-forwarded-for":   {"lowercase key, as a trusted proxy may send it"},
	}
	underscoreForwarding := http.Header{
		"X_Forwarded_For":  {"10.0.0.1"},
		"X_forwarded_for":  {"10.0.0.1"},
		"X-Forwarded_Host": {"admin.corp.example"},
		"X_Real_IP":        {"10.0.0.1"},
		"X_Forwarded_Uri":  {"/public"},
	}
	methodOverride := http.Header{
		"X-Http-Method-Override": {"DELETE"},
		"X_HTTP_METHOD_OVERRIDE": {"DELETE"},
		"X-Http-Method":          {"DELETE"},
		"X-Method-Override":      {"DELETE"},
	}
	tests := []stripTest{
		{name: "namespace in every case and separator, untrusted", in: merge(namespace, unrelated), want: unrelated},
		{name: "namespace in every case and separator, trusted", in: merge(namespace, unrelated), keepForwarding: true, want: unrelated},
		{name: "forwarding headers from an untrusted peer", in: merge(forwarding, unrelated), want: unrelated},
		{name: "forwarding headers from a trusted peer", in: merge(forwarding, unrelated), keepForwarding: true,
			want: merge(forwarding, unrelated)},
		{name: "underscore forwarding variants from an untrusted peer", in: merge(underscoreForwarding, unrelated), want: unrelated},
		{name: "underscore forwarding variants from a trusted peer", in: merge(underscoreForwarding, unrelated), keepForwarding: true,
			want: unrelated},
		{name: "extra names in every variant", extra: []string{"X-Auth-Token", "Authorization"},
			in: http.Header{"X-Auth-Token": {"t"}, "x_auth_token": {"t"}, "X-AUTH_TOKEN": {"t"}, "Authorization": {"Bearer t"},
				"Accept": {"*/*"}},
			want: http.Header{"Accept": {"*/*"}}},
		// Method overrides: rules match the request method, so a POST that
		// frameworks (Symfony, Laravel, Rack) execute as DELETE must not pass.
		{name: "method override headers, untrusted", in: merge(methodOverride, unrelated), want: unrelated},
		{name: "method override headers, trusted", in: merge(methodOverride, unrelated), keepForwarding: true, want: unrelated},
		{name: "nothing to strip", in: unrelated, want: unrelated},
		{name: "empty", in: http.Header{}, want: http.Header{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

type cookieTest struct {
	name  string
	in    []string // Cookie header lines
	names []string
	want  []string // nil: no Cookie header
}

func (tc cookieTest) run(t *testing.T) {
	t.Helper()
	h := http.Header{"Accept": {"*/*"}}
	if tc.in != nil {
		h["Cookie"] = append([]string(nil), tc.in...)
	}
	StripCookies(h, tc.names...)
	if got := h["Cookie"]; !reflect.DeepEqual(got, tc.want) {
		t.Fatalf("StripCookies(%q, %q) Cookie = %q, want %q", tc.in, tc.names, got, tc.want)
	}
	if got := h.Get("Accept"); got != "*/*" {
		t.Fatalf("StripCookies changed Accept to %q", got)
	}
}

func TestStripCookies(t *testing.T) {
	const gw = "_gateway_session"
	tests := []cookieTest{
		{name: "gateway cookie among others", names: []string{gw},
			in: []string{"theme=dark; _gateway_session=s3cret; lang=en"}, want: []string{"theme=dark; lang=en"}},
		{name: "gateway cookie first", names: []string{gw},
			in: []string{"_gateway_session=s3cret; theme=dark"}, want: []string{"theme=dark"}},
		{name: "only the gateway cookie", names: []string{gw},
			in: []string{"_gateway_session=s3cret"}, want: nil},
		{name: "gateway cookie twice", names: []string{gw},
			in: []string{"_gateway_session=a; x=1; _gateway_session=b"}, want: []string{"x=1"}},
		{name: "several Cookie lines", names: []string{gw},
			in: []string{"a=1; _gateway_session=s", "b=2", "_gateway_session=t"}, want: []string{"a=1; b=2"}},
		{name: "several names", names: []string{gw, "_gateway_csrf"},
			in: []string{"_gateway_csrf=c; a=1; _gateway_session=s"}, want: []string{"a=1"}},
		{name: "look-alike names are kept", names: []string{gw},
			in:   []string{"_gateway_session2=x; _GATEWAY_SESSION=y; gateway_session=z; _gateway_session=s"},
			want: []string{"_gateway_session2=x; _GATEWAY_SESSION=y; gateway_session=z"}},
		{name: "values that look like the name are kept", names: []string{gw},
			in: []string{"ref=_gateway_session; _gateway_session=s"}, want: []string{"ref=_gateway_session"}},
		{name: "cookie without value", names: []string{gw},
			in: []string{"_gateway_session; flag"}, want: []string{"flag"}},
		{name: "untouched when absent, odd spacing kept", names: []string{gw},
			in: []string{"a=1;b=2 ;  c=3"}, want: []string{"a=1;b=2 ;  c=3"}},
		{name: "no Cookie header", names: []string{gw}, in: nil, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}
