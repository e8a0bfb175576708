package security

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
)

// cookieTool answers /set with Set-Cookie headers that would plant a
// session in the browser, in the spellings a browser accepts, and echoes
// the Cookie header it received elsewhere.
func cookieTool() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set" {
			for _, c := range []string{
				"_gateway_session=PLANTED; Path=/; HttpOnly",
				" _gateway_session\t=PLANTED2; Path=/customers",
				"=_gateway_session=PLANTED3; Path=/",
				"_gateway_session; Path=/",
				"_GATEWAY_SESSION=PLANTED4",
				"_gateway_session_login_0a1b2c3d4e5f=PLANTED5; Path=/.gateway/callback",
				"theme=dark; Path=/",
			} {
				w.Header().Add("Set-Cookie", c)
			}
			w.Header().Add("Set-Cookie2", `_gateway_session="PLANTED6"; Version=1`)
		}
		if r.URL.Path == "/set-elsewhere" {
			// In an informational response and in the trailer, which the
			// final header's filter never sees.
			w.Header().Set("Link", "</app.css>; rel=preload")
			w.Header()["Set-Cookie"] = []string{"_gateway_session=PLANTED7; Path=/", "theme=dark"}
			w.WriteHeader(http.StatusEarlyHints)
			clear(w.Header())
			w.Header().Set("Trailer", "Set-Cookie")
			io.WriteString(w, "body")
			w.(http.Flusher).Flush()
			w.Header()["Set-Cookie"] = []string{"_gateway_session=PLANTED8; Path=/", "lang=en"}
			w.Header()[http.TrailerPrefix+"Set-Cookie2"] = []string{`_gateway_session="PLANTED9"`}
			return
		}
		io.WriteString(w, "cookie: "+strings.Join(r.Header["Cookie"], " | "))
	})
}

// TestCookies: the upstream never sees a gateway cookie, whatever its
// spelling, and can never set one in the browser.
func TestCookies(t *testing.T) {
	f := newFixture(t, cookieTool(), "")
	sid := strings.TrimPrefix(f.sam, "_gateway_session=")

	t.Run("no Set-Cookie for a gateway cookie reaches the browser", func(t *testing.T) {
		resp := f.g.Raw(t, f.get("/set", f.sam))
		if resp.Status != http.StatusOK {
			t.Fatalf("status %d", resp.Status)
		}
		if got := resp.Header["Set-Cookie"]; len(got) != 1 || got[0] != "theme=dark; Path=/" {
			t.Errorf("Set-Cookie = %q, want only theme", got)
		}
		if got := resp.Header["Set-Cookie2"]; got != nil {
			t.Errorf("Set-Cookie2 = %q", got)
		}
		// The browser's own session survives the visit.
		c := f.samWeb
		if _, err := c.Get(f.g.URL + "/set"); err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(f.g.URL + "/customers/1")
		for _, ck := range c.Jar.Cookies(u) {
			if strings.Contains(ck.Value, "PLANTED") {
				t.Errorf("the browser stored %s=%s", ck.Name, ck.Value)
			}
		}
	})

	t.Run("nor in an informational response or a trailer", func(t *testing.T) {
		var interim []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			interim = append(interim, fmt.Sprintf("%d Link=%q Set-Cookie=%q", code, h["Link"], h["Set-Cookie"]))
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, f.g.URL+"/set-elsewhere", nil)
		resp, err := f.samWeb.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := `103 Link=["</app.css>; rel=preload"] Set-Cookie=["theme=dark"]`; len(interim) != 1 || interim[0] != want {
			t.Errorf("informational responses: expected only %s, got %q", want, interim)
		}
		if string(b) != "body" || fmt.Sprint(resp.Trailer) != "map[Set-Cookie:[lang=en]]" {
			t.Errorf("expected the body and a trailer of only lang=en, got %q and %v", b, resp.Trailer)
		}
	})

	// Each spelling carries sam's real session ID: the gateway may read it
	// (it is sam's), but the upstream must never see the ID.
	for _, tc := range []struct{ name, cookie string }{
		{"exact", "a=1; _gateway_session=" + sid},
		{"space before '='", "a=1; _gateway_session =" + sid},
		{"tab around the name", "a=1;\t_gateway_session\t=" + sid},
		{"quoted", `a=1; _gateway_session="` + sid + `"`},
		{"upper case", "a=1; _gateway_session=" + sid + "; _GATEWAY_SESSION=" + sid},
		{"PHP spellings", "a=1; _gateway_session=" + sid + "; _gateway.session=" + sid + "; _gateway+session=" + sid + "; _gateway_session[x]=" + sid},
		{"escaped name", "a=1; _gateway_session=" + sid + "; %5Fgateway_session=" + sid},
		{"binding cookie", "a=1; _gateway_session=" + sid + "; _gateway_session_login_00ff00ff00ff=" + sid},
		{"inside a ',' list", "x=1, _gateway_session=" + sid + "; a=1; _gateway_session=" + sid},
		{"on a second Cookie line", "a=1\r\nCookie: _gateway_session=" + sid},
	} {
		t.Run("request cookie: "+tc.name, func(t *testing.T) {
			seen := f.reached(t, f.get("/cookies", tc.cookie), "/cookies")
			if got := strings.Join(seen.Header["Cookie"], "; "); strings.Contains(got, sid) || !strings.Contains(got, "a=1") {
				t.Errorf("the upstream's Cookie header is %q: it holds the session ID, or lost a=1", got)
			}
		})
	}

	// Cookie tossing: a sibling host planted a second session cookie (here
	// the engineer's, a session the attacker could own). Neither is trusted.
	t.Run("two different session cookies", func(t *testing.T) {
		f.blocked(t, f.get("/", f.eng+"; "+f.sam), http.StatusBadRequest)
		f.blocked(t, f.get("/", f.sam+"\r\nCookie: "+f.eng), http.StatusBadRequest)
	})
	// What the user is told, wherever the pair arrives: a routed path (page
	// or JSON), the sign-out page and form, a requirement kind's page. Not
	// that a store is down and a retry will do: it will not, until the
	// site's cookies are cleared.
	for _, raw := range []string{
		f.get("/", f.eng+"; "+f.sam),
		f.get("/", f.eng+"; "+f.sam, "Accept: application/json"),
		f.get("/.gateway/sign-out", f.eng+"; "+f.sam),
		"POST /.gateway/sign-out HTTP/1.1\r\nHost: " + f.g.Host + "\r\nCookie: " + f.eng + "; " + f.sam +
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\nConnection: close\r\n\r\ncsrf=x",
		f.get("/.gateway/device", f.eng+"; "+f.sam),
	} {
		t.Run("two different session cookies: "+firstLine(raw), func(t *testing.T) {
			resp := f.g.Raw(t, raw)
			body := html.UnescapeString(resp.Body)
			if resp.Status != http.StatusBadRequest || !strings.Contains(body, "two different gateway session cookies") ||
				!strings.Contains(body, "Clear this site's cookies") || strings.Contains(body, "not answering") ||
				strings.Contains(body, "Try again in a minute") {
				t.Errorf("status %d, body: %.600s", resp.Status, resp.Body)
			}
		})
	}
}
