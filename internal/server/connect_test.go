package server

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// connectRoutes: one route with the default upgrades (websocket), one
// that allows none, both for signed-in corp.example users.
const connectRoutes = `  - name: ws
    host: ws.example
    upstream: %UP%
    rules: {allow: [{domains: [corp.example]}]}
  - name: nows
    host: nows.example
    upstream: %UP%
    upgrades: []
    rules: {allow: [{domains: [corp.example]}]}
`

// h2Gateway serves g's handler over TLS with HTTP/2, as `gateway serve`
// does (HTTPServer, the gateway's TLS configuration), and returns the
// listener's address and a client TLS configuration for it.
func h2Gateway(t *testing.T, g *fwdGateway) (string, *tls.Config) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = HTTPServer("", g.srv.Handler(), g.srv.Config().Listen, slog.New(slog.DiscardHandler))
	ts.EnableHTTP2 = true
	ts.TLS = g.srv.TLSConfig(&tls.Config{})
	ts.StartTLS()
	t.Cleanup(ts.Close)
	c := ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	c.NextProtos = []string{"h2"}
	return ts.Listener.Addr().String(), c
}

// h2Answer is what came back on one HTTP/2 stream.
type h2Answer struct {
	xconnect bool // the server's SETTINGS allowed extended CONNECT
	status   int  // 0: no response header
	body     string
	reset    http2.ErrCode // the stream was reset (status 0)
	resetted bool
}

// h2Request sends one request, as header fields (pseudo-headers first),
// on a new HTTP/2 connection to addr and reads the answer: Go's clients
// (net/http, and golang.org/x/net/http2, which now uses it) refuse to send
// :protocol themselves. The request stream stays open, as a tunnel's does.
func (a h2Answer) String() string {
	return fmt.Sprintf("status %d, reset %t (%v), body %.200q", a.status, a.resetted, a.reset, a.body)
}

func h2Request(t *testing.T, addr string, cfg *tls.Config, fields ...string) h2Answer {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var a h2Answer
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
	v, _ := sf.Value(http2.SettingEnableConnectProtocol)
	a.xconnect = v == 1
	if err := fr.WriteSettingsAck(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the answer: %v (so far %v)", err, a)
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID == 1 && a.status == 0 {
				a.status, _ = strconv.Atoi(f.PseudoValue("status"))
				if f.StreamEnded() {
					return a
				}
			}
		case *http2.DataFrame:
			if f.StreamID == 1 {
				a.body += string(f.Data())
				if f.StreamEnded() || len(a.body) > 4096 {
					return a
				}
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == 1 {
				a.reset, a.resetted = f.ErrCode, true
				return a
			}
		case *http2.GoAwayFrame:
			// A graceful one (the answer said "Connection: close")
			// still lets stream 1 finish.
			if f.ErrCode != http2.ErrCodeNo || f.LastStreamID < 1 {
				t.Fatalf("GOAWAY %v (so far %v)", f.ErrCode, a)
			}
		}
	}
}

// extendedConnect is the header of an RFC 8441 CONNECT for protocol to
// host and path, with cookie.
func extendedConnect(host, path, protocol string, cookie *http.Cookie) []string {
	return []string{":method", "CONNECT", ":protocol", protocol, ":scheme", "https", ":path", path, ":authority", host,
		"cookie", cookie.String(), "sec-websocket-version", "13"}
}

// TestExtendedConnect: an HTTP/2 extended CONNECT (RFC 8441) stands for
// the HTTP/1.1 Upgrade of its :protocol and is judged like it: refused
// with 400, before the upstream, where the route does not allow that
// upgrade; a plain CONNECT (a tunnel to a host) is refused on every
// route. Go's HTTP/2 server accepts extended CONNECT only when GODEBUG
// holds http2xconnect=1 when the process starts (an operator may set it),
// so the test runs itself again with it; without it, the gateway's
// listener refuses every extended CONNECT before the handler.
func TestExtendedConnect(t *testing.T) {
	if !strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
		t.Run("not accepted by default", func(t *testing.T) {
			g, hits := connectGateway(t)
			addr, cfg := h2Gateway(t, g)
			a := h2Request(t, addr, cfg, extendedConnect("ws.example", "/chat", "websocket", g.session("ann@corp.example"))...)
			if a.xconnect || !a.resetted || a.reset != http2.ErrCodeProtocol || hits.Load() != 0 {
				t.Fatalf("answer %v, upstream requests %d; want no SETTINGS_ENABLE_CONNECT_PROTOCOL, the stream reset (PROTOCOL_ERROR), none", a, hits.Load())
			}
		})
		t.Run("with GODEBUG=http2xconnect=1", func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestExtendedConnect$", "-test.v", "-test.timeout=120s")
			cmd.Env = append(os.Environ(), "GODEBUG=http2xconnect=1")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestExtendedConnect/") {
				t.Fatalf("%v\n%s", err, out)
			}
			t.Logf("%s", out)
		})
		return
	}
	g, hits := connectGateway(t)
	addr, cfg := h2Gateway(t, g)
	ann := g.session("ann@corp.example")
	for _, tc := range []struct {
		name, host, protocol string
		refused              bool
	}{
		{"websocket where the route allows none", "nows.example", "websocket", true},
		{"websocket, upper case, where the route allows none", "nows.example", "WebSocket", true},
		{"an unlisted protocol", "ws.example", "connect-udp", true},
		{"h2c", "ws.example", "h2c", true},
		{"not a token", "ws.example", "web socket", true},
		{"websocket where the route allows it", "ws.example", "websocket", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			a := h2Request(t, addr, cfg, extendedConnect(tc.host, "/chat", tc.protocol, ann)...)
			if !a.xconnect {
				t.Fatal("the server did not allow extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL)")
			}
			if tc.refused {
				if a.status != http.StatusBadRequest || hits.Load() != before || !strings.Contains(a.body, "upgrade") {
					t.Fatalf("answer %v, upstream requests %d; want 400 saying the upgrade is refused, and none", a, hits.Load()-before)
				}
				return
			}
			if a.status == 0 || a.status == http.StatusBadRequest {
				t.Fatalf("an upgrade the route allows was refused: %v", a)
			}
		})
	}
	t.Run("plain CONNECT", func(t *testing.T) {
		before := hits.Load()
		a := h2Request(t, addr, cfg, ":method", "CONNECT", ":authority", "ws.example:443", "cookie", ann.String())
		if a.status != http.StatusBadRequest || hits.Load() != before || !strings.Contains(a.body, "CONNECT") {
			t.Fatalf("answer %v, upstream requests %d; want 400 saying CONNECT is refused, and none", a, hits.Load()-before)
		}
	})
}

// connectGateway is a gateway with connectRoutes to an upstream that
// counts the requests it gets and accepts whatever comes.
func connectGateway(t *testing.T) (*fwdGateway, *atomic.Int32) {
	hits := new(atomic.Int32)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "tunnel")
	}))
	t.Cleanup(up.Close)
	return newFwdGateway(t, trustedIn, strings.ReplaceAll(connectRoutes, "%UP%", up.URL)), hits
}
