package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"sync"
	"time"
)

// Forward is what the gateway decided about one request, for the Rewrite.
// It travels in the request context (WithForward).
type Forward struct {
	// Allowed must be set by the decision that allowed the request; the
	// Upstream refuses a request without it (fail closed).
	Allowed bool
	// Path is the normalized, escaped path (route.Normalize).
	Path string
	// ClientIP is the client's address; TrustedPeer says whether the
	// connection came from a trusted proxy whose X-Forwarded-* are kept.
	ClientIP    netip.Addr
	TrustedPeer bool
	// Set are headers the gateway adds (the context token, request ID).
	Set http.Header
	// StripCookies name the gateway's cookie families (the session cookie's
	// name: the cookie itself and every "name_…" cookie, such as the sign-in
	// binding cookies), in every spelling (see StripCookies). They are
	// removed from the request's Cookie header and from every Set-Cookie of
	// the upstream's response.
	// StripCookies and StripHeaders may be shared between requests: the
	// proxy only reads them.
	StripCookies []string
	// StripHeaders are the headers deleted in every spelling beyond those
	// StripInbound always deletes: the identity headers of other proxies
	// (DefaultStripHeaders, or the configured strip_headers) and the
	// gateway's own configured header names (context token, client
	// certificate). nil means DefaultStripList.
	StripHeaders *HeaderList
	// StripAuthorization deletes Authorization (a bearer token the gateway consumed).
	StripAuthorization bool

	// interim is the writer the Upstream answers this request through,
	// kept here so that it costs no allocation of its own: a Forward serves
	// one request.
	interim interimFilter
}

type forwardKey struct{}

// WithForward returns ctx carrying f.
func WithForward(ctx context.Context, f *Forward) context.Context {
	return context.WithValue(ctx, forwardKey{}, f)
}

// TransportOptions tune the pooled upstream connections.
type TransportOptions struct {
	// CAFile, when set, is the only trust anchor for an https upstream.
	CAFile              string
	MaxIdleConnsPerHost int
	// ResponseHeaderTimeout bounds the wait for the upstream's response
	// headers after the request was sent (0: no bound). The error it
	// causes is a net.Error whose Timeout() is true.
	ResponseHeaderTimeout time.Duration
}

// NewTransport returns a transport with pooled keep-alive connections sized
// for concurrency and timeouts on dialing, handshakes and, when set, the
// response headers (never on the response body: streams and WebSockets are
// long-lived).
func NewTransport(o TransportOptions) (*http.Transport, error) {
	if o.MaxIdleConnsPerHost == 0 {
		o.MaxIdleConnsPerHost = 256
	}
	t := &http.Transport{
		Proxy: nil, // never an environment proxy between the gateway and its tools
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * o.MaxIdleConnsPerHost,
		MaxIdleConnsPerHost:   o.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	if o.CAFile != "" {
		b, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("proxy: upstream CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("proxy: upstream CA: no PEM certificate in %q", o.CAFile)
		}
		t.TLSClientConfig.RootCAs = pool
	}
	return t, nil
}

// Upstream proxies to one target URL.
type Upstream struct {
	target       *url.URL
	preserveHost bool
	// upgrades are the protocols requests may upgrade to (CheckUpgrade).
	upgrades []string
	rp       *httputil.ReverseProxy
}

// NewUpstream builds the reverse proxy for target. errorHandler renders the
// page for an unreachable upstream (502).
func NewUpstream(target string, preserveHost bool, transport http.RoundTripper, errorHandler func(http.ResponseWriter, *http.Request, error)) (*Upstream, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("proxy: expected an absolute http(s) upstream URL, got %q", target)
	}
	up := &Upstream{target: u, preserveHost: preserveHost, upgrades: DefaultUpgrades}
	up.rp = &httputil.ReverseProxy{
		Rewrite:        up.rewrite,
		ModifyResponse: up.modifyResponse,
		Transport:      transport,
		ErrorHandler:   errorHandler,
		ErrorLog:       nil,
		BufferPool:     copyBuffers,
	}
	return up, nil
}

// copyBufferSize is the size of the buffers response bodies are copied
// through: ReverseProxy's own default.
const copyBufferSize = 32 << 10

// bufferPool lends ReverseProxy the buffers it copies response bodies
// through. Without it, ReverseProxy allocates a fresh 32 KiB buffer per
// response: two thirds of the bytes the gateway allocated per request under
// load, and so most of its garbage-collection work (docs/performance.md).
type bufferPool struct{ p sync.Pool }

// copyBuffers is shared by every Upstream: the buffers are all one size.
var copyBuffers = &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}}

// Get implements httputil.BufferPool.
func (b *bufferPool) Get() []byte { return *(b.p.Get().(*[]byte)) }

// Put implements httputil.BufferPool. Buffers of another size (none are
// expected: ReverseProxy returns what Get gave it) are left to the GC.
func (b *bufferPool) Put(buf []byte) {
	if cap(buf) != copyBufferSize {
		return
	}
	buf = buf[:copyBufferSize]
	b.p.Put(&buf)
}

// AllowUpgrades sets the protocols requests through u may upgrade to (the
// route's upgrades setting; DefaultUpgrades until called; an empty list
// allows none). Call it before u serves; ValidateUpgrades checks the list.
func (u *Upstream) AllowUpgrades(protocols []string) {
	u.upgrades = append([]string(nil), protocols...)
}

// CheckUpgrade reports, as ServeHTTP judges it, whether the upgrade r asks
// for (if any: an Upgrade header, or an HTTP/2 extended CONNECT) is refused
// on u (an error wrapping ErrUpgrade; CheckRequestUpgrade).
func (u *Upstream) CheckUpgrade(r *http.Request) error { return CheckRequestUpgrade(r, u.upgrades) }

// ServeHTTP forwards r. The request context must carry a Forward; without
// one the request is refused (fail closed). A request asking for an upgrade
// the route does not allow (an HTTP/2 extended CONNECT is one), or a plain
// CONNECT, gets 400 and never reaches the upstream.
func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := r.Context().Value(forwardKey{}).(*Forward)
	if !ok || !f.Allowed {
		http.Error(w, "proxy: request reached the upstream without a decision", http.StatusInternalServerError)
		return
	}
	if err := CheckRequestUpgrade(r, u.upgrades); err != nil {
		refuse(w, err.Error())
		return
	}
	f.interim = interimFilter{ResponseWriter: w, strip: f.StripCookies}
	u.rp.ServeHTTP(&f.interim, r)
}

// interimFilter is the writer ReverseProxy answers through. ReverseProxy
// relays the upstream's informational responses (1xx but 101) from its
// Got1xxResponse hook, for both transports: it copies their header into the
// response's header map, writes the status, then clears the map.
// modifyResponse never sees them, so they are filtered here:
//
//   - 100 Continue is not relayed. Go's server sends its own when the
//     handler first reads the body of an "Expect: 100-continue" request (the
//     transport does, once the upstream's 100 came); relayed, it would be a
//     second one, or one the client never asked for.
//   - Any other (103 Early Hints, 102) loses every Set-Cookie for a gateway
//     cookie, as the final response does (StripSetCookies): a client may
//     store a cookie from an informational response as from any other.
//
// Flush, Hijack and deadlines reach the server's writer through Unwrap
// (ReverseProxy uses http.ResponseController).
type interimFilter struct {
	http.ResponseWriter
	strip []string
}

func (w *interimFilter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		if code == http.StatusContinue {
			return // ReverseProxy clears the header map after this call
		}
		StripSetCookies(w.Header(), w.strip...)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *interimFilter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// errUnaskedUpgrade fails a 101 answer to a request that asked for no
// upgrade: the connection would become a tunnel nobody judged.
var errUnaskedUpgrade = errors.New("proxy: the upstream switched protocols without an upgrade request")

// modifyResponse removes the upstream's Set-Cookie for the gateway's cookies
// from the header and, once the body is read, from the trailer
// (trailerFilter), and refuses a 101 the request did not ask for
// (ReverseProxy compares the two Upgrade values, but lets an empty pair
// through). Informational responses are filtered by interimFilter.
func (u *Upstream) modifyResponse(res *http.Response) error {
	if res.StatusCode == http.StatusSwitchingProtocols && !hasUpgrade(res.Request.Header) {
		return errUnaskedUpgrade
	}
	f, _ := res.Request.Context().Value(forwardKey{}).(*Forward)
	if f == nil || len(f.StripCookies) == 0 {
		return nil
	}
	StripSetCookies(res.Header, f.StripCookies...)
	if mayHaveTrailer(res) {
		res.Body = &trailerFilter{ReadCloser: res.Body, res: res, strip: f.StripCookies}
	}
	return nil
}

// mayHaveTrailer reports whether a trailer may follow res's body: a chunked
// HTTP/1.1 body, any HTTP/2 body, or a body whose length is not known. A
// 101's body is the upgraded connection (ReverseProxy needs it as an
// io.ReadWriteCloser, so it is never wrapped); an HTTP/1.x body framed by
// Content-Length has no trailer, and is left unwrapped (most responses).
func mayHaveTrailer(res *http.Response) bool {
	if res.StatusCode == http.StatusSwitchingProtocols || res.Body == nil || res.Body == http.NoBody {
		return false
	}
	return res.Trailer != nil || len(res.TransferEncoding) > 0 || res.ContentLength < 0 || res.ProtoMajor >= 2
}

// trailerFilter removes the Set-Cookie lines for the gateway's cookies from
// res.Trailer when the body ends. Both transports fill res.Trailer (and may
// replace the map) when they reach the end of the body, before they return
// io.EOF; ReverseProxy copies the trailer to the client after Close. A
// trailer is sent to the client like a header (Go's client, for one, keeps
// it in Response.Trailer), so it is held to the same rule.
type trailerFilter struct {
	io.ReadCloser
	res   *http.Response
	strip []string
}

func (b *trailerFilter) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		StripSetCookies(b.res.Trailer, b.strip...)
	}
	return n, err
}

func (b *trailerFilter) Close() error {
	err := b.ReadCloser.Close()
	StripSetCookies(b.res.Trailer, b.strip...)
	return err
}

func (u *Upstream) rewrite(pr *httputil.ProxyRequest) {
	f := pr.In.Context().Value(forwardKey{}).(*Forward)
	out := pr.Out
	if decoded, err := url.PathUnescape(f.Path); err == nil {
		out.URL.Path, out.URL.RawPath = decoded, f.Path
	}
	pr.SetURL(u.target)
	if u.preserveHost {
		out.Host = pr.In.Host
	}
	StripInbound(out.Header, f.StripHeaders)
	if f.TrustedPeer {
		// Keep the trusted chain, then append our peer.
		if v := pr.In.Header.Values("X-Forwarded-For"); len(v) > 0 {
			out.Header["X-Forwarded-For"] = v
		}
	}
	pr.SetXForwarded()
	if f.TrustedPeer {
		if p := pr.In.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
			out.Header.Set("X-Forwarded-Proto", p)
		}
		// Only when it names the host the gateway routed (Host), with the
		// port the client used: a balancer that passes a client's
		// X-Forwarded-Host on untouched would otherwise let it name
		// another host to the upstream than the one the rules judged.
		if h := pr.In.Header.Get("X-Forwarded-Host"); h != "" && ValidHost(h) && ValidHost(pr.In.Host) && sameHostName(h, pr.In.Host) {
			out.Header.Set("X-Forwarded-Host", h)
		}
		// The client address the gateway judged, never a client's word.
		if f.ClientIP.IsValid() {
			out.Header.Set("X-Real-Ip", f.ClientIP.String())
		}
	}
	StripCookies(out.Header, f.StripCookies...)
	if f.StripAuthorization {
		out.Header.Del("Authorization")
	}
	for k, v := range f.Set {
		out.Header[k] = v
	}
}
