// Package proxy forwards allowed requests upstream: header hygiene
// (hygiene.go), the gateway's cookies (cookie.go), upgrade allow-lists
// (upgrade.go), the client address behind trusted proxies (clientip.go), the
// client-certificate header (clientcert.go), the guards against requests no
// route may forward and against request smuggling (guard.go, listener.go),
// and the httputil.ReverseProxy with its Rewrite and tuned transports
// (proxy.go).
//
// Contract: the upstream never sees a client-sent header in the gateway's
// namespace (X-Gateway-*), a forwarding, path-override or method-override
// header, or an identity header of another proxy (DefaultStripHeaders or the
// configured list) — in any letter case and with '_' or '.' for '-' — nor
// the gateway's own cookies in any spelling, nor the Authorization header
// when it carried a bearer token the gateway consumed, nor an upgrade its
// route does not allow (never h2c). The browser never receives an
// upstream's Set-Cookie for a gateway cookie: not in the header, not in an
// informational response (103), not in the trailer.
package proxy
