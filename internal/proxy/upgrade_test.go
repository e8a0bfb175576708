package proxy

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestCheckUpgrade(t *testing.T) {
	ws := []string{"websocket"}
	tests := []struct {
		name    string
		h       http.Header
		allowed []string
		ok      bool
	}{
		{name: "no upgrade", h: http.Header{"Connection": {"keep-alive"}}, allowed: ws, ok: true},
		{name: "websocket", h: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, allowed: ws, ok: true},
		{name: "websocket in another case", h: http.Header{"Connection": {"upgrade"}, "Upgrade": {"WebSocket"}}, allowed: ws, ok: true},
		{name: "websocket with a version", h: http.Header{"Upgrade": {"websocket/13"}}, allowed: ws, ok: true},
		{name: "empty elements", h: http.Header{"Upgrade": {" , websocket ,"}}, allowed: ws, ok: true},
		{name: "h2c", h: http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c"}, "Http2-Settings": {"AAMAAABk"}}, allowed: ws},
		{name: "h2c without Connection", h: http.Header{"Upgrade": {"h2c"}}, allowed: ws},
		{name: "H2C upper case", h: http.Header{"Connection": {"UPGRADE"}, "Upgrade": {"H2C"}}, allowed: ws},
		{name: "h2c after websocket in one line", h: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket, h2c"}}, allowed: ws},
		{name: "h2c on a second line", h: http.Header{"Connection": {"keep-alive", "Upgrade"}, "Upgrade": {"websocket", "h2c"}}, allowed: ws},
		{name: "h2c with tabs", h: http.Header{"Upgrade": {"\th2c\t"}}, allowed: ws},
		{name: "h2c even if listed", h: http.Header{"Upgrade": {"h2c"}}, allowed: []string{"websocket", "h2c"}},
		{name: "HTTP/2.0", h: http.Header{"Upgrade": {"HTTP/2.0"}}, allowed: []string{"HTTP"}},
		{name: "HTTP2-Settings alone", h: http.Header{"Http2-Settings": {"AAMAAABk"}}, allowed: ws},
		{name: "unknown protocol", h: http.Header{"Upgrade": {"spdy/3.1"}}, allowed: ws},
		{name: "configured protocol", h: http.Header{"Upgrade": {"SPDY/3.1"}}, allowed: []string{"websocket", "spdy"}, ok: true},
		{name: "nothing allowed", h: http.Header{"Upgrade": {"websocket"}}, allowed: []string{}},
		{name: "malformed element", h: http.Header{"Upgrade": {"web socket"}}, allowed: ws},
		{name: "two slashes", h: http.Header{"Upgrade": {"websocket/13/x"}}, allowed: ws},
		{name: "TLS upgrade", h: http.Header{"Upgrade": {"TLS/1.0"}}, allowed: ws},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckUpgrade(tc.h, tc.allowed)
			if tc.ok != (err == nil) {
				t.Fatalf("CheckUpgrade(%v, %q) = %v, want ok %v", tc.h, tc.allowed, err, tc.ok)
			}
			if err != nil && (!errors.Is(err, ErrUpgrade) || !strings.HasPrefix(err.Error(), "proxy: upgrade refused: ")) {
				t.Fatalf("CheckUpgrade error %q does not wrap ErrUpgrade", err)
			}
		})
	}
}

func TestValidateUpgrades(t *testing.T) {
	if errs := ValidateUpgrades([]string{"websocket", "spdy"}); errs != nil {
		t.Fatalf("ValidateUpgrades(websocket, spdy) = %v", errs)
	}
	errs := ValidateUpgrades([]string{"h2c", "H2C", "http", "web socket", "spdy/3.1", ""})
	if len(errs) != 6 {
		t.Fatalf("ValidateUpgrades = %v, want 6 problems", errs)
	}
	if got := errs[0].Error(); got != `[0]: "h2c" would tunnel HTTP requests the gateway never judges; it cannot be allowed` {
		t.Errorf("ValidateUpgrades(h2c) = %q", got)
	}
}

// TestCheckRequestUpgrade: an HTTP/2 extended CONNECT (RFC 8441) is judged
// by its :protocol like the Upgrade it stands for; a plain CONNECT, and
// :protocol on another method, are refused.
func TestCheckRequestUpgrade(t *testing.T) {
	ws := []string{"websocket"}
	for _, tc := range []struct {
		name     string
		method   string
		protocol []string // the :protocol values (nil: none)
		upgrade  string
		allowed  []string
		ok       bool
	}{
		{name: "plain GET", method: "GET", allowed: ws, ok: true},
		{name: "GET with an allowed Upgrade", method: "GET", upgrade: "websocket", allowed: ws, ok: true},
		{name: "GET with a refused Upgrade", method: "GET", upgrade: "websocket", allowed: nil},
		{name: "extended CONNECT, allowed", method: "CONNECT", protocol: []string{"websocket"}, allowed: ws, ok: true},
		{name: "extended CONNECT, another case", method: "CONNECT", protocol: []string{"WebSocket"}, allowed: ws, ok: true},
		{name: "extended CONNECT where none is allowed", method: "CONNECT", protocol: []string{"websocket"}, allowed: []string{}},
		{name: "extended CONNECT to an unlisted protocol", method: "CONNECT", protocol: []string{"connect-udp"}, allowed: ws},
		{name: "extended CONNECT to h2c", method: "CONNECT", protocol: []string{"h2c"}, allowed: []string{"h2c"}},
		{name: "extended CONNECT, not a token", method: "CONNECT", protocol: []string{"web socket"}, allowed: ws},
		{name: "extended CONNECT, two protocols", method: "CONNECT", protocol: []string{"websocket", "websocket"}, allowed: ws},
		{name: "extended CONNECT with a refused Upgrade too", method: "CONNECT", protocol: []string{"websocket"}, upgrade: "h2c", allowed: ws},
		{name: "plain CONNECT", method: "CONNECT", allowed: ws},
		{name: "CONNECT with an empty :protocol", method: "CONNECT", protocol: []string{""}, allowed: ws},
		{name: ":protocol on GET", method: "GET", protocol: []string{"websocket"}, allowed: ws},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{Method: tc.method, Header: http.Header{}}
			if tc.protocol != nil {
				r.Header[":protocol"] = tc.protocol
			}
			if tc.upgrade != "" {
				r.Header.Set("Upgrade", tc.upgrade)
			}
			err := CheckRequestUpgrade(r, tc.allowed)
			if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrUpgrade) {
				t.Fatalf("CheckRequestUpgrade(%s, :protocol %q, Upgrade %q, allowed %q) = %v; want ok %t", tc.method, tc.protocol, tc.upgrade, tc.allowed, err, tc.ok)
			}
		})
	}
}
