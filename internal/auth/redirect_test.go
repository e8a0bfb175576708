package auth

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// routedHosts are the hosts the test gateway serves.
var routedHosts = map[string]bool{"corp.example": true, "support.corp.example": true}

func routed(host string) bool { return routedHosts[host] }

type returnTest struct {
	name   string
	raw    string
	scheme string // default https
	// want is the accepted URL; "" means rejected.
	want string
}

func (tc returnTest) run(t *testing.T) {
	t.Helper()
	scheme := tc.scheme
	if scheme == "" {
		scheme = "https"
	}
	got, err := ValidateReturn(tc.raw, scheme, routed)
	if tc.want == "" {
		if err == nil {
			t.Fatalf("ValidateReturn(%q) = %q, want rejection", tc.raw, got)
		}
		if !errors.Is(err, ErrBadReturn) || got != "" {
			t.Fatalf("ValidateReturn(%q) = %q, %v; want \"\" and ErrBadReturn", tc.raw, got, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("ValidateReturn(%q): %v", tc.raw, err)
	}
	if got != tc.want {
		t.Fatalf("ValidateReturn(%q) = %q, want %q", tc.raw, got, tc.want)
	}
}

func TestValidateReturn(t *testing.T) {
	tests := []returnTest{
		// Accepted.
		{name: "routed host", raw: "https://support.corp.example/customers/42", want: "https://support.corp.example/customers/42"},
		{name: "query kept", raw: "https://support.corp.example/search?q=a%20b&x=1", want: "https://support.corp.example/search?q=a%20b&x=1"},
		{name: "fragment dropped", raw: "https://corp.example/a#section", want: "https://corp.example/a"},
		{name: "no path", raw: "https://corp.example", want: "https://corp.example"},
		{name: "uppercase host is routed", raw: "https://SUPPORT.corp.example/", want: "https://SUPPORT.corp.example/"},
		{name: "port", raw: "https://corp.example:8443/x", want: "https://corp.example:8443/x"},
		{name: "escaped path kept", raw: "https://corp.example/caf%C3%A9/a%2Fb", want: "https://corp.example/caf%C3%A9/a%2Fb"},
		{name: "http when the gateway is http", raw: "http://corp.example/", scheme: "http", want: "http://corp.example/"},
		{name: "non-ASCII path is re-escaped", raw: "https://corp.example/\u00a0caf\u00e9", want: "https://corp.example/%C2%A0caf%C3%A9"},
		{name: "uppercase scheme", raw: "HTTPS://corp.example/", want: "https://corp.example/"},

		// Relative and scheme-relative forms (CVE-2017-1000070, CVE-2020-5233).
		{name: "relative path", raw: "/customers/42"},
		{name: "scheme-relative", raw: "//evil.example/"},
		{name: "scheme-relative to routed host", raw: "//corp.example/"},
		{name: "slash backslash", raw: `/\evil.example`},
		{name: "slash tab slash", raw: "/\t/evil.example"},
		{name: "backslashes", raw: `\\evil.example`},
		{name: "triple slash", raw: "///evil.example"},
		{name: "https with backslash authority", raw: `https:\\evil.example`},
		{name: "https slash backslash", raw: `https:/\evil.example`},
		{name: "https missing slashes", raw: "https:evil.example"},
		{name: "https one slash", raw: "https:/corp.example/"},
		{name: "https triple slash", raw: "https:///evil.example/"},
		{name: "double slash path on routed host", raw: "https://corp.example//evil.example/"},

		// Other hosts (CVE-2021-21291 look-alikes).
		{name: "other host", raw: "https://evil.example/"},
		{name: "routed host as subdomain of evil", raw: "https://corp.example.evil.example/"},
		{name: "look-alike suffix", raw: "https://evilcorp.example/"},
		{name: "subdomain of a routed host is not routed", raw: "https://x.corp.example/"},
		{name: "trailing dot host", raw: "https://corp.example./"},
		{name: "userinfo", raw: "https://corp.example@evil.example/"},
		{name: "userinfo with password", raw: "https://corp.example:443@evil.example/"},
		{name: "userinfo on routed host", raw: "https://user@corp.example/"},
		{name: "empty userinfo", raw: "https://@corp.example/"},
		{name: "encoded at in host", raw: "https://corp.example%40evil.example/"},
		{name: "encoded dot host", raw: "https://evil%2eexample/"},
		{name: "fragment hides the host", raw: "https://evil.example#@corp.example/"},
		{name: "query hides the host", raw: "https://evil.example?@corp.example/"},
		{name: "IP literal", raw: "https://127.0.0.1/"},
		{name: "IPv6 literal", raw: "https://[::1]/"},
		{name: "unicode dot", raw: "https://corp\u3002example/"},

		// Schemes.
		{name: "javascript", raw: "javascript:alert(1)"},
		{name: "javascript with slashes", raw: "javascript://corp.example/%0aalert(1)"},
		{name: "data", raw: "data:text/html,<script>alert(1)</script>"},
		{name: "scheme mismatch http", raw: "http://corp.example/"},
		{name: "scheme mismatch https", raw: "https://corp.example/", scheme: "http"},
		{name: "ftp", raw: "ftp://corp.example/"},
		{name: "opaque https", raw: "https:corp.example"},

		// Whitespace and control characters.
		{name: "leading space", raw: " https://corp.example/"},
		{name: "trailing space", raw: "https://corp.example/ "},
		{name: "CR LF", raw: "https://corp.example/\r\nSet-Cookie: x=1"},
		{name: "LF in host", raw: "https://corp.example\n.evil.example/"},
		{name: "tab in scheme", raw: "ht\ttps://evil.example/"},
		{name: "NUL", raw: "https://corp.example/\x00"},
		{name: "DEL", raw: "https://corp.example/\x7f"},
		{name: "non-breaking space in host", raw: "https://corp.example\u00a0.evil.example/"},
		{name: "empty", raw: ""},
		{name: "too long", raw: "https://corp.example/" + strings.Repeat("a", 4096)},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// FuzzValidateReturn: whatever is accepted is an absolute URL with the given
// scheme, a routed host, no user info, and a path that browsers cannot read
// as another authority.
func FuzzValidateReturn(f *testing.F) {
	for _, s := range []string{
		"https://corp.example/", "//evil.example", `/\evil`, "/\t/evil", "https://corp.example@evil.example",
		"https://evilcorp.example", "javascript:alert(1)", "https://corp.example//x", "https://corp.example:8443/a?b#c",
		"https://corp.example%2eevil", "https://[::1]:443/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := ValidateReturn(raw, "https", routed)
		if err != nil {
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("ValidateReturn(%q) = %q, which does not parse: %v", raw, got, err)
		}
		if u.Scheme != "https" || u.User != nil || u.Opaque != "" || !routed(strings.ToLower(u.Hostname())) {
			t.Fatalf("ValidateReturn(%q) = %q: scheme %q, user %v, host %q", raw, got, u.Scheme, u.User, u.Hostname())
		}
		if !strings.HasPrefix(got, "https://") {
			t.Fatalf("ValidateReturn(%q) = %q: not https://", raw, got)
		}
		rest := got[len("https://"):]
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			if h := rest[:i]; !routed(strings.ToLower(strings.Split(h, ":")[0])) {
				t.Fatalf("ValidateReturn(%q) = %q: authority %q is not a routed host", raw, got, h)
			}
			if strings.HasPrefix(rest[i:], "//") {
				t.Fatalf("ValidateReturn(%q) = %q: path starts with //", raw, got)
			}
		} else if !routed(strings.ToLower(strings.Split(rest, ":")[0])) {
			t.Fatalf("ValidateReturn(%q) = %q: authority %q is not a routed host", raw, got, rest)
		}
		for _, c := range got {
			if c <= 0x20 || c == 0x7f || c == '\\' {
				t.Fatalf("ValidateReturn(%q) = %q: contains %q", raw, got, c)
			}
		}
		again, err := ValidateReturn(got, "https", routed)
		if err != nil || again != got {
			t.Fatalf("ValidateReturn(%q) = %q, %v; want it to accept its own output %q", got, again, err, got)
		}
	})
}
