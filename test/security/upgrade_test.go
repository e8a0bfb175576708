package security

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// h2cTool is an upstream that accepts h2c upgrades (golang.org/x/net's
// h2c handler, as a Go tool might run) and WebSocket-style upgrades on /ws.
func h2cTool() http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			rw.Flush()
			return
		}
		fmt.Fprintf(w, "%s %s", r.Proto, r.URL.Path)
	})
	return h2c.NewHandler(inner, &http2.Server{})
}

// TestUpgradeTunnels: an upgraded connection is a tunnel the gateway judges
// only once, when it opens. h2c above all must never pass (an upstream that
// accepts it serves any request on the tunnel); other protocols only where
// the route allows them (WebSocket by default).
func TestUpgradeTunnels(t *testing.T) {
	f := newFixture(t, h2cTool(), "")
	const settings = "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"
	for _, tc := range []struct {
		name    string
		target  string
		headers []string
	}{
		{"h2c as curl sends it", "/", []string{"Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", settings}},
		{"upper case", "/", []string{"Connection: UPGRADE, HTTP2-SETTINGS", "Upgrade: H2C", settings}},
		{"lower-case names", "/", []string{"connection: upgrade", "upgrade: h2c", "http2-settings: AAMAAABkAARAAAAAAAIAAAAA"}},
		{"HTTP2-Settings not named in Connection (survives hop-by-hop removal)", "/", []string{"Connection: Upgrade", "Upgrade: h2c", settings}},
		{"without HTTP2-Settings", "/", []string{"Connection: Upgrade", "Upgrade: h2c"}},
		{"without Connection", "/", []string{"Upgrade: h2c", settings}},
		{"after websocket in one line", "/ws", []string{"Connection: Upgrade", "Upgrade: websocket, h2c"}},
		{"on a second Upgrade line", "/ws", []string{"Connection: Upgrade", "Upgrade: websocket", "Upgrade: h2c"}},
		{"with spaces and tabs", "/", []string{"Connection: keep-alive,  Upgrade ", "Upgrade: \t h2c \t"}},
		{"with a version", "/", []string{"Connection: Upgrade", "Upgrade: h2c/1"}},
		{"HTTP/2.0", "/", []string{"Connection: Upgrade", "Upgrade: HTTP/2.0"}},
		{"HTTP2-Settings alone", "/", []string{settings}},
		{"an unlisted protocol", "/", []string{"Connection: Upgrade", "Upgrade: spdy/3.1"}},
		{"WebSocket where the route allows none", "/no-upgrades/ws", []string{"Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}},
	} {
		t.Run(tc.name, func(t *testing.T) { f.blocked(t, f.get(tc.target, f.sam, tc.headers...), http.StatusBadRequest) })
	}
	t.Run("h2c upgrade of a POST with a body", func(t *testing.T) {
		f.blocked(t, "POST / HTTP/1.1\r\nHost: "+f.g.Host+"\r\nCookie: "+f.sam+"\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"+
			settings+"\r\nContent-Length: 3\r\n\r\nabc", http.StatusBadRequest)
	})
	t.Run("HTTP/2 prior knowledge on the cleartext listener", func(t *testing.T) {
		before := f.up.Hits()
		resp := rawPreface(t, f.g.Addr)
		if strings.HasPrefix(resp, "HTTP/1.1 2") || f.up.Hits() != before {
			t.Fatalf("HTTP/2 preface answered %q, upstream requests %d", resp, f.up.Hits()-before)
		}
	})
	// The control: WebSocket is allowed by default and reaches the tool.
	t.Run("WebSocket on a route that allows it", func(t *testing.T) {
		before := f.up.Hits()
		resp := f.g.Raw(t, f.get("/ws", f.sam, "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="))
		if resp.Status != http.StatusSwitchingProtocols || f.up.Hits() != before+1 {
			t.Fatalf("status %d, upstream requests %d; want 101 and one", resp.Status, f.up.Hits()-before)
		}
	})
}

// rawPreface sends the HTTP/2 connection preface and returns the first line
// of whatever comes back ("" when the connection just closes).
func rawPreface(t *testing.T, addr string) string {
	t.Helper()
	c, err := netDial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return line
}
