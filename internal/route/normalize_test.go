package route

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

type normalizeTest struct {
	name string
	in   string
	want string
	// wantErr means Normalize must fail with ErrBadPath.
	wantErr bool
}

func (tc normalizeTest) run(t *testing.T) {
	t.Helper()
	got, err := Normalize(tc.in)
	if tc.wantErr {
		if err == nil {
			t.Fatalf("Normalize(%q) = %q, want an error", tc.in, got)
		}
		if !errors.Is(err, ErrBadPath) {
			t.Fatalf("Normalize(%q) error %v does not wrap ErrBadPath", tc.in, err)
		}
		if !strings.HasPrefix(err.Error(), "route: ") {
			t.Errorf("Normalize(%q) error %q is not package-prefixed", tc.in, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Normalize(%q) error: %v", tc.in, err)
	}
	if got != tc.want {
		t.Fatalf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
	}
	again, err := Normalize(got)
	if err != nil || again != got {
		t.Fatalf("Normalize(Normalize(%q)) = %q, %v; want %q (idempotent)", tc.in, again, err, got)
	}
}

func TestNormalize(t *testing.T) {
	tests := []normalizeTest{
		// Already clean.
		{name: "root", in: "/", want: "/"},
		{name: "clean", in: "/a/b", want: "/a/b"},
		{name: "clean trailing slash", in: "/a/b/", want: "/a/b/"},
		{name: "dot inside segment", in: "/a/.b/c..d/..e", want: "/a/.b/c..d/..e"},
		{name: "sub-delims kept raw", in: "/a!$&'()*+,;=:@b", want: "/a!$&'()*+,;=:@b"},

		// Dot segments.
		{name: "dot", in: "/a/./b", want: "/a/b"},
		{name: "dotdot", in: "/a/../b", want: "/b"},
		{name: "dotdot above root", in: "/../../etc/passwd", want: "/etc/passwd"},
		{name: "only dotdot", in: "/..", want: "/"},
		{name: "only dot", in: "/.", want: "/"},
		{name: "trailing dot keeps slash", in: "/a/b/.", want: "/a/b/"},
		{name: "trailing dotdot keeps slash", in: "/a/b/..", want: "/a/"},
		{name: "encoded dotdot", in: "/admin/%2e%2e/public", want: "/public"},
		{name: "encoded dotdot uppercase", in: "/public/%2E%2E/admin", want: "/admin"},
		{name: "mixed encoded dotdot", in: "/public/.%2e/admin", want: "/admin"},
		{name: "encoded dot", in: "/a/%2e/b", want: "/a/b"},
		{name: "dotdot at end via escapes", in: "/a/b/%2e%2e", want: "/a/"},

		// Empty segments.
		{name: "duplicate slashes", in: "//a///b", want: "/a/b"},
		{name: "only slashes", in: "////", want: "/"},
		{name: "double slash trailing", in: "/a//", want: "/a/"},

		// Escapes.
		{name: "lowercase hex uppercased", in: "/caf%c3%a9", want: "/caf%C3%A9"},
		{name: "unreserved decoded", in: "/%61dm%69n/%7e%2D%5f%2e", want: "/admin/~-_."},
		{name: "reserved escape kept", in: "/a%3Fb%23c%25d", want: "/a%3Fb%23c%25d"},
		{name: "encoded semicolon kept", in: "/a%3bb", want: "/a%3Bb"},
		// Escapes of characters allowed raw in a segment are decoded: Go's
		// ServeMux and Django compare paths decoded, Express as sent, so only
		// the decoded form reads the same to both.
		{name: "sub-delim escapes decoded", in: "/a%21%24%26%27%28%29%2a%2B%2C%3D%3a%40b", want: "/a!$&'()*+,=:@b"},
		{name: "encoded colon in a static-looking segment", in: "/admin%3Aexport", want: "/admin:export"},
		{name: "percent-encoded percent not double-decoded", in: "/%252e%252e/x", want: "/%252e%252e/x"},
		{name: "non-ASCII escaped", in: "/café", want: "/caf%C3%A9"},
		{name: "space escaped", in: "/a b", want: "/a%20b"},
		{name: "quote and angle escaped", in: "/a\"<b>", want: "/a%22%3Cb%3E"},
		{name: "encoded space kept", in: "/a%20b", want: "/a%20b"},

		// Path parameters: kept, but a dot segment with parameters is
		// rejected (Tomcat and Jetty read "..;x" as "..").
		{name: "path parameter kept", in: "/admin;jsessionid=1/x", want: "/admin;jsessionid=1/x"},
		{name: "dots before a parameter in a name", in: "/a/...;x/b", want: "/a/...;x/b"},
		{name: "dotdot with parameter", in: "/public/..;/admin", wantErr: true},
		{name: "dotdot with named parameter", in: "/public/..;x=1/admin", wantErr: true},
		{name: "dot with parameter", in: "/public/.;/admin", wantErr: true},
		{name: "encoded dotdot with parameter", in: "/public/%2e%2e;/admin", wantErr: true},
		{name: "dotdot with parameter at the end", in: "/public/..;", wantErr: true},
		{name: "encoded semicolon is not a parameter", in: "/public/..%3b/admin", want: "/public/..%3B/admin"},
		{name: "empty parameters kept", in: "/a;/b", want: "/a;/b"},

		// Segments of parameters only: Tomcat drops them with the empty
		// segment they leave, so "/;x/customers/43" is its "/customers/43";
		// Servlet 6.0 §3.5.2 lists them as suspicious sequences to refuse.
		{name: "parameter-only first segment", in: "/;x/customers/43", wantErr: true},
		{name: "empty parameter-only first segment", in: "/;/customers/43", wantErr: true},
		{name: "parameter-only middle segment", in: "/customers/;x/43", wantErr: true},
		{name: "parameter-only last segment", in: "/customers/43/;x", wantErr: true},
		{name: "parameter-only segment after merged slashes", in: "//;jsessionid=1//admin", wantErr: true},
		{name: "parameter-only segment after an escape", in: "/%7e/;x", wantErr: true},
		{name: "parameter-only segment after dotdot", in: "/a/../;x/b", wantErr: true},
		{name: "only a semicolon", in: "/;", wantErr: true},
		{name: "encoded semicolon segment is a name", in: "/%3Bx/a", want: "/%3Bx/a"},

		// Rejected.
		{name: "empty", in: "", wantErr: true},
		{name: "relative", in: "a/b", wantErr: true},
		{name: "encoded slash", in: "/a%2Fb", wantErr: true},
		{name: "encoded slash lowercase", in: "/a%2fb", wantErr: true},
		{name: "encoded dotdot slash", in: "/a/..%2f..%2fadmin", wantErr: true},
		{name: "encoded backslash", in: "/a%5Cb", wantErr: true},
		{name: "encoded backslash lowercase", in: "/a%5cb", wantErr: true},
		{name: "raw backslash", in: "/a\\b", wantErr: true},
		{name: "raw backslash dotdot", in: "/..\\admin", wantErr: true},
		{name: "raw fragment", in: "/admin#/public", wantErr: true},
		{name: "encoded hash kept", in: "/a%23b", want: "/a%23b"},
		{name: "NUL", in: "/a\x00b", wantErr: true},
		{name: "encoded NUL", in: "/a%00b", wantErr: true},
		{name: "tab", in: "/a\tb", wantErr: true},
		{name: "newline", in: "/a\nb", wantErr: true},
		{name: "encoded CR", in: "/a%0db", wantErr: true},
		{name: "DEL", in: "/a\x7fb", wantErr: true},
		{name: "encoded DEL", in: "/a%7Fb", wantErr: true},
		{name: "malformed escape at end", in: "/a%", wantErr: true},
		{name: "malformed escape one digit", in: "/a%4", wantErr: true},
		{name: "malformed escape non-hex", in: "/a%zzb", wantErr: true},
		{name: "malformed escape half hex", in: "/a%4gb", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// FuzzNormalize checks the properties the rest of the gateway relies on for
// any input Normalize accepts.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b/", "//a//b", "/a/./../b", "/%2e%2e/x", "/%2F", "/caf%c3%a9", "/a%zz",
		"/a\\b", "/.%2e/", "/%252e", "/a/b/..", "/é", "/%7e", "/a;b=c", "/p/..;/a", "/.;",
		"/;x/a", "//;/a", "/a%3bb", "/%3A%40%2B", "/a%2F|", "/a/%C4%B1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Normalize(in)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("Normalize(%q) error %v does not wrap ErrBadPath", in, err)
			}
			return
		}
		if !strings.HasPrefix(out, "/") {
			t.Fatalf("Normalize(%q) = %q: does not start with '/'", in, out)
		}
		for _, bad := range []string{"//", "/./", "/../", "\\"} {
			if strings.Contains(out, bad) {
				t.Fatalf("Normalize(%q) = %q: contains %q", in, out, bad)
			}
		}
		if strings.HasSuffix(out, "/.") || strings.HasSuffix(out, "/..") {
			t.Fatalf("Normalize(%q) = %q: ends in a dot segment", in, out)
		}
		for _, seg := range strings.Split(out, "/") {
			if name, _, params := strings.Cut(seg, ";"); name == "." || name == ".." || params && name == "" {
				t.Fatalf("Normalize(%q) = %q: dot or parameter-only segment %q", in, out, seg)
			}
		}
		for i := 0; i+2 < len(out); i++ {
			if out[i] != '%' {
				continue
			}
			if d := unhex(out[i+1])<<4 | unhex(out[i+2]); isPathChar(d) && d != ';' {
				t.Fatalf("Normalize(%q) = %q: escape of path character %q kept", in, out, d)
			}
			if strings.ToUpper(out[i:i+3]) != out[i:i+3] {
				t.Fatalf("Normalize(%q) = %q: lower-case hex", in, out)
			}
		}
		if u := strings.ToUpper(out); strings.Contains(u, "%2F") || strings.Contains(u, "%5C") || strings.Contains(u, "%2E") {
			t.Fatalf("Normalize(%q) = %q: contains an encoded slash, backslash or dot", in, out)
		}
		for i := 0; i < len(out); i++ {
			if c := out[i]; c < 0x21 || c >= 0x7f {
				t.Fatalf("Normalize(%q) = %q: raw byte %#x", in, out, c)
			}
		}
		again, err := Normalize(out)
		if err != nil || again != out {
			t.Fatalf("Normalize(Normalize(%q)) = %q, %v; want %q", in, again, err, out)
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	for _, bc := range []struct{ name, path string }{
		{"clean", "/customers/42/orders/2026-11-30/items"},
		{"dirty", "//customers/./42/%6frders/../orders/caf%c3%a9/%2e%2e/items/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Normalize(bc.path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestRawPath(t *testing.T) {
	tests := []struct {
		name, target string
		url          string // r.URL when RequestURI is empty
		want         string
	}{
		{name: "origin form", target: "/a/b?q=1", want: "/a/b"},
		{name: "escapes kept as sent", target: "/a%2Fb%7c?x", want: "/a%2Fb%7c"},
		// url.URL.EscapedPath re-escapes the decoded path when the raw path
		// holds a byte that should have been escaped: "/a/b%7C", where the
		// encoded slash has become a real one.
		{name: "encoded slash next to a raw pipe", target: "/admin%2F|x", want: "/admin%2F|x"},
		{name: "absolute form", target: "http://h.example/a;x/b?q", want: "/a;x/b"},
		{name: "absolute form without path", target: "https://h.example", want: "/"},
		{name: "absolute form with query only", target: "https://h.example?q=/x", want: "/"},
		{name: "asterisk form", target: "*", want: "*"},
		{name: "authority form", target: "h.example:443", want: "h.example:443"},
		{name: "no request URI: raw path", url: "http://h/a%2Fb", want: "/a%2Fb"},
		{name: "no request URI: path", url: "http://h/a/b", want: "/a/b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RequestURI: tc.target}
			if tc.url != "" {
				u, err := url.Parse(tc.url)
				if err != nil {
					t.Fatal(err)
				}
				r.URL = u
			}
			if got := RawPath(r); got != tc.want {
				t.Fatalf("RawPath(%q) = %q, want %q", tc.target, got, tc.want)
			}
		})
	}
}

// TestNormalizeRequestNeverDecodedPath: a request whose raw path holds an
// encoded slash is refused whatever else the path holds.
func TestNormalizeRequestNeverDecodedPath(t *testing.T) {
	tab := NewTable[int]()
	if err := tab.Add("h", "/", false, 1); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/admin%2F|", "/admin%2f%7C", "/a|%2Fb", "/a%2F\"x", "/a%2F^", "/a%2F{x}", "/x/..%2F|admin", "/a%5C|"} {
		r := &http.Request{RequestURI: target, URL: &url.URL{Path: "/decoded"}}
		if p, err := tab.NormalizeRequest("h", r); !errors.Is(err, ErrBadPath) {
			t.Errorf("NormalizeRequest(%q) = %q, %v; want ErrBadPath", target, p, err)
		}
	}
}
