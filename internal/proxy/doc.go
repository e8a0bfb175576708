// Package proxy forwards allowed requests upstream: header hygiene (hygiene.go),
// the client address behind trusted proxies (clientip.go), and the
// httputil.ReverseProxy with its Rewrite and tuned transports (proxy.go).
//
// Contract: the upstream never sees a client-sent header in the gateway's
// namespace (X-Gateway-*, in any letter case and with '_' for '-'), nor a
// client-sent forwarding header from an untrusted peer, nor the gateway's
// own cookies, nor the Authorization header when it carried a bearer token
// the gateway consumed.
package proxy
