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
