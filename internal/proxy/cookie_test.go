package proxy

import (
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const gw = "_gateway_session"

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
		{name: "sign-in binding cookies by prefix", names: []string{gw},
			in:   []string{"_gateway_session_login_0a1b2c3d4e5f=bind; a=1; _gateway_session_login_ffffffffffff=b2"},
			want: []string{"a=1"}},
		{name: "values that look like the name are kept", names: []string{gw},
			in: []string{"ref=_gateway_session; _gateway_session=s"}, want: []string{"ref=_gateway_session"}},
		{name: "look-alike names that no reader folds together are kept", names: []string{gw},
			in:   []string{"_gateway_session2=x; gateway_session=z; _gateway_sessions=y; __Host-_gateway_session=h; _gateway_session=s"},
			want: []string{"_gateway_session2=x; gateway_session=z; _gateway_sessions=y; __Host-_gateway_session=h"}},
		{name: "cookie without value", names: []string{gw},
			in: []string{"_gateway_session; flag"}, want: []string{"flag"}},
		{name: "untouched when absent, odd spacing kept", names: []string{gw},
			in: []string{"a=1;b=2 ;  c=3"}, want: []string{"a=1;b=2 ;  c=3"}},
		{name: "no Cookie header", names: []string{gw}, in: nil, want: nil},
		{name: "no names", in: []string{"_gateway_session=s"}, want: []string{"_gateway_session=s"}},

		// Spellings that a browser or a server reads as the gateway's cookie.
		{name: "space before '=' (Go's net/http trims it)", names: []string{gw},
			in: []string{"a=1; _gateway_session =SID"}, want: []string{"a=1"}},
		{name: "tab around the name", names: []string{gw},
			in: []string{"a=1;\t_gateway_session\t=SID"}, want: []string{"a=1"}},
		{name: "spaces around the value", names: []string{gw},
			in: []string{"_gateway_session=  SID  ; a=1"}, want: []string{"a=1"}},
		{name: "quoted value", names: []string{gw},
			in: []string{`_gateway_session="SID"; a=1`}, want: []string{"a=1"}},
		{name: "letter case (ASP.NET reads cookie names without case)", names: []string{gw},
			in: []string{"_GATEWAY_SESSION=y; _Gateway_Session_Login_ab=z; a=1"}, want: []string{"a=1"}},
		{name: "PHP reads '.', ' ' and '+' as '_'", names: []string{gw},
			in: []string{"_gateway.session=x; _gateway session=y; _gateway+session=z; a=1"}, want: []string{"a=1"}},
		{name: "PHP decodes escapes in names", names: []string{gw},
			in: []string{"%5Fgateway%5Fsession=x; _gateway%2esession=y; a=1"}, want: []string{"a=1"}},
		{name: "PHP array syntax", names: []string{gw},
			in: []string{"_gateway_session[]=x; _gateway_session[a]=y; a[]=1"}, want: []string{"a[]=1"}},
		{name: "PHP reads an unclosed '[' as '_'", names: []string{gw},
			in: []string{"_gateway[session=x; _gateway%5Bsession_login_ab=y; _gateway[session]=z; a[b=1"}, want: []string{"_gateway[session]=z; a[b=1"}},
		{name: "a ',' separated pair (RFC 2965 readers)", names: []string{gw},
			in: []string{"theme=dark, _gateway_session=SID; a=1"}, want: []string{"a=1"}},
		{name: "several families", names: []string{gw, "_gateway_csrf"},
			in: []string{"_gateway_csrf=c; a=1; _gateway_session=s"}, want: []string{"a=1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestSessionCookie(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		want    string
		wantErr bool
	}{
		{name: "plain", lines: []string{"a=1; _gateway_session=SID; b=2"}, want: "SID"},
		{name: "space before '='", lines: []string{"_gateway_session =SID"}, want: "SID"},
		{name: "spaces and tabs around", lines: []string{"a=1;\t _gateway_session \t= SID\t"}, want: "SID"},
		{name: "quoted", lines: []string{`_gateway_session="SID"`}, want: "SID"},
		{name: "second line", lines: []string{"a=1", "_gateway_session=SID"}, want: "SID"},
		{name: "same value twice", lines: []string{"_gateway_session=SID; _gateway_session=SID"}, want: "SID"},
		{name: "invalid value skipped", lines: []string{`_gateway_session=a b; _gateway_session="x`}, want: ""},
		{name: "invalid value beside a valid one", lines: []string{`_gateway_session=a,b; _gateway_session=SID`}, want: "SID"},
		{name: "empty value", lines: []string{"_gateway_session="}, want: ""},
		{name: "name without value", lines: []string{"_gateway_session"}, want: ""},
		{name: "other case is another cookie", lines: []string{"_GATEWAY_SESSION=SID"}, want: ""},
		{name: "binding cookie is not the session", lines: []string{"_gateway_session_login_ab=SID"}, want: ""},
		{name: "absent", lines: []string{"a=1"}, want: ""},
		{name: "no header"},
		// Cookie tossing: a sibling host set a second session cookie.
		{name: "two different values", lines: []string{"_gateway_session=ATTACKER; _gateway_session=VICTIM"}, wantErr: true},
		{name: "two different values on two lines", lines: []string{"_gateway_session=A", "_gateway_session =B"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.lines != nil {
				h["Cookie"] = tc.lines
			}
			got, err := SessionCookie(h, gw)
			if tc.wantErr {
				if !errors.Is(err, ErrCookieConflict) || got != "" {
					t.Fatalf("SessionCookie(%q) = %q, %v; want ErrCookieConflict", tc.lines, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("SessionCookie(%q) = %q, %v; want %q", tc.lines, got, err, tc.want)
			}
		})
	}
}

func TestStripSetCookies(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{name: "the session cookie", in: []string{"_gateway_session=EVIL; Path=/; HttpOnly", "theme=dark"}, want: []string{"theme=dark"}},
		{name: "a binding cookie", in: []string{"_gateway_session_login_0011=x; Path=/"}, want: nil},
		{name: "spaces and tabs around the name", in: []string{" \t_gateway_session\t =EVIL; Domain=corp.example"}, want: nil},
		{name: "letter case", in: []string{"_Gateway_Session=EVIL"}, want: nil},
		{name: "nameless cookie carrying the name in its value", in: []string{"=_gateway_session=EVIL; Path=/"}, want: nil},
		{name: "nameless cookie with spaces", in: []string{"  = _gateway_session=EVIL"}, want: nil},
		{name: "no '=' at all", in: []string{"_gateway_session; Path=/"}, want: nil},
		{name: "escaped name", in: []string{"%5Fgateway_session=EVIL"}, want: nil},
		{name: "attribute values do not count", in: []string{"theme=dark; Path=/_gateway_session"}, want: []string{"theme=dark; Path=/_gateway_session"}},
		{name: "look-alike kept", in: []string{"_gateway_session2=x", "gateway_session=y"}, want: []string{"_gateway_session2=x", "gateway_session=y"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Set-Cookie": append([]string(nil), tc.in...), "Content-Type": {"text/html"}}
			StripSetCookies(h, gw)
			if got := h["Set-Cookie"]; !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("StripSetCookies(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if _, ok := h["Set-Cookie"]; ok && len(h["Set-Cookie"]) == 0 {
				t.Fatal("empty Set-Cookie left in the header")
			}
		})
	}
	h := http.Header{"Set-Cookie2": {`_gateway_session="x"; Version=1`, `a=1, _gateway_session=y; Version=1`}}
	StripSetCookies(h, gw)
	if len(h["Set-Cookie2"]) != 0 {
		t.Fatalf("Set-Cookie2 kept: %q", h["Set-Cookie2"])
	}
}

// FuzzCookies checks the Cookie parser and strippers on arbitrary headers:
// after StripCookies, neither SessionCookie nor Go's own parser finds a
// gateway cookie, every pair that is not a gateway cookie is kept, and a
// session value SessionCookie reads is one Go's parser could read too.
func FuzzCookies(f *testing.F) {
	for _, s := range []string{
		"_gateway_session=SID", "a=1; _gateway_session =SID", `_gateway_session="SID"`, "_GATEWAY_SESSION=x",
		"_gateway.session=x", "x, _gateway_session=y", "=_gateway_session=z", "_gateway_session_login_ab=c", ";;;",
		"_gateway_session[a]=1", "%5Fgateway_session=1", "_gateway_session=a; _gateway_session=b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		h := http.Header{"Cookie": {line}}
		v, err := SessionCookie(h, gw)
		if err == nil && v != "" && !validCookieValue(v) {
			t.Fatalf("SessionCookie(%q) = %q: not a cookie value", line, v)
		}
		StripCookies(h, gw)
		if v, err := SessionCookie(h, gw); v != "" || err != nil {
			t.Fatalf("after StripCookies(%q): SessionCookie = %q, %v", line, v, err)
		}
		r := &http.Request{Header: h}
		for _, c := range r.Cookies() {
			if isGatewayCookie(c.Name, []string{gw}) {
				t.Fatalf("after StripCookies(%q): Go's parser reads %q", line, c.Name)
			}
		}
		var kept []string
		for _, l := range h["Cookie"] {
			for _, p := range strings.Split(l, ";") {
				kept = append(kept, trimOWS(p))
			}
		}
		for _, p := range strings.Split(line, ";") {
			if p = trimOWS(p); p != "" && !pairIsGateway(p, []string{gw}) && !slices.Contains(kept, p) {
				t.Fatalf("StripCookies(%q) lost %q: %q", line, p, h["Cookie"])
			}
		}
		sh := http.Header{"Set-Cookie": {line}}
		StripSetCookies(sh, gw)
		if len(sh["Set-Cookie"]) == 1 {
			resp := &http.Response{Header: sh}
			for _, c := range resp.Cookies() {
				if isGatewayCookie(c.Name, []string{gw}) {
					t.Fatalf("StripSetCookies(%q) kept cookie %q", line, c.Name)
				}
			}
		}
	})
}

func BenchmarkStripCookies(b *testing.B) {
	for _, bc := range []struct{ name, line string }{
		{"none-to-strip", "theme=dark; lang=en; _ga=GA1.2.3; csrftoken=abcdef0123456789"},
		{"session", "theme=dark; _gateway_session=0123456789abcdef0123456789abcdef; lang=en"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h := http.Header{"Cookie": {bc.line}}
				StripCookies(h, gw)
			}
		})
	}
}
