package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/accessgateway/gateway/internal/peek"
)

// DirectTransport sends the common request — GET or HEAD, no body, no
// upgrade, to a plain http upstream — on a pooled keep-alive connection
// from the calling goroutine: it writes the request (Request.Write) and
// reads the response (http.ReadResponse), the encoder and parser
// http.Transport uses itself. Every other request goes to the wrapped
// http.Transport.
//
// Why: http.Transport serves each connection with two goroutines of its own
// (a write loop and a read loop) and hands every request and response across
// them through channels; on a small or shared machine each hand-off is a
// wake-up of another thread. Measured from outside (`gateway serve`, a real
// sign-in, audit to a file; docs/performance.md, "Before and after"), the
// full chain served 6,773 req/s at 145 µs of CPU per request where the same
// build on http.Transport served 6,123 at 163 µs, in the same rounds.
//
// Connections are reused only when safe: the response's body was read to
// its end, neither side asked to close, nothing beyond the response was
// received, and before reuse the idle connection is checked for data or a
// close from the upstream (a response nobody asked for is never given to
// the next request; as with http.Transport, one that arrives only after the
// next request was sent cannot be told from that request's answer). A
// request on a reused connection that the upstream had closed meanwhile is
// sent again once on a new connection (GET and HEAD only, nothing was
// received). As on http.Transport, header lines it judges invalid are never
// sent and a response head is bounded (maxResponseHeaderBytes).
type DirectTransport struct {
	std           *http.Transport
	headerTimeout time.Duration
	maxIdle       int
	dial          func(ctx context.Context, network, addr string) (net.Conn, error)

	// pools maps an upstream address to its idle connections; read on
	// every request without a lock. mu guards adding one (and starting
	// the janitor with the first).
	pools  sync.Map // string → chan *directConn
	closed atomic.Bool
	mu     sync.Mutex
	stop   chan struct{} // ends the janitor (nil: none runs)
}

// NewDirectTransport wraps std (from NewTransport with the same options).
func NewDirectTransport(std *http.Transport, o TransportOptions) *DirectTransport {
	if o.MaxIdleConnsPerHost == 0 {
		o.MaxIdleConnsPerHost = 256
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &DirectTransport{std: std, headerTimeout: o.ResponseHeaderTimeout, maxIdle: o.MaxIdleConnsPerHost,
		dial: d.DialContext}
}

// directIdleTimeout closes connections idle this long (http.Transport's
// IdleConnTimeout in NewTransport).
const directIdleTimeout = 90 * time.Second

// max1xx bounds the informational responses skipped before the final one.
const max1xx = 5

type directConn struct {
	pool     chan *directConn // its upstream's idle connections
	c        net.Conn
	lc       *limitedConn // what br reads from
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
}

// direct reports whether r can take the direct path. A request whose
// header names or values http.Transport would refuse goes to it, to be
// refused with its error: Request.Write checks the Host, not the other
// header lines.
func direct(r *http.Request) bool {
	return r.URL.Scheme == "http" && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		(r.Body == nil || r.Body == http.NoBody) && r.ContentLength == 0 && len(r.TransferEncoding) == 0 &&
		r.Header.Get("Upgrade") == "" && validHeader(r.Header)
}

// validHeader is http.Transport's check of the header it sends.
func validHeader(h http.Header) bool {
	for k, vv := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}

// maxResponseHeaderBytes bounds the response head an upstream may send
// (status line, header lines and informational responses), as
// http.Transport's default MaxResponseHeaderBytes does.
const maxResponseHeaderBytes = 10 << 20

// errResponseHeaderTooLong ends an exchange whose response head exceeds
// maxResponseHeaderBytes.
var errResponseHeaderTooLong = fmt.Errorf("response headers exceeded %d bytes", maxResponseHeaderBytes)

// limitedConn is what a directConn's bufio.Reader reads from: the
// connection, with a byte budget while a response head is read (left <
// 0: no budget, the body is being read).
type limitedConn struct {
	c    net.Conn
	left int64
}

func (l *limitedConn) Read(p []byte) (int, error) {
	if l.left < 0 {
		return l.c.Read(p)
	}
	if l.left == 0 {
		return 0, errResponseHeaderTooLong
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.c.Read(p)
	l.left -= int64(n)
	return n, err
}

// RoundTrip implements http.RoundTripper.
func (t *DirectTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !direct(r) {
		return t.std.RoundTrip(r)
	}
	addr := r.URL.Host
	if r.URL.Port() == "" {
		addr = net.JoinHostPort(r.URL.Hostname(), "80")
	}
	pc, reused, err := t.get(r.Context(), addr, false)
	if err != nil {
		return nil, err
	}
	resp, retry, err := t.exchange(r, addr, pc, reused)
	if !retry {
		return resp, err
	}
	// The upstream had closed the idle connection: once more, on a new one.
	if pc, _, err = t.get(r.Context(), addr, true); err != nil {
		return nil, err
	}
	resp, _, err = t.exchange(r, addr, pc, false)
	return resp, err
}

// exchange sends r on pc and reads the response head. retry says the
// request may be sent again on a new connection: pc was reused, and the
// upstream closed it before answering anything.
func (t *DirectTransport) exchange(r *http.Request, addr string, pc *directConn, reused bool) (resp *http.Response, retry bool, err error) {
	ctx := r.Context()
	stop := context.AfterFunc(ctx, func() { _ = pc.c.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, bool, error) {
		stop()
		pc.c.Close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, false, fmt.Errorf("proxy: upstream %s: %w", addr, cerr)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = timeoutError{fmt.Sprintf("timeout awaiting response headers (%s)", t.headerTimeout)}
		}
		return nil, false, fmt.Errorf("proxy: upstream %s: %w", addr, err)
	}
	// The upstream closed the reused connection before answering: the
	// caller sends the request again on a new one.
	again := func(err error) (*http.Response, bool, error) {
		stop()
		pc.c.Close()
		return nil, true, err
	}
	if err := r.Write(pc.bw); err != nil {
		return fail(err)
	}
	if err := pc.bw.Flush(); err != nil {
		if reused && ctx.Err() == nil {
			return again(err)
		}
		return fail(err)
	}
	if t.headerTimeout > 0 {
		_ = pc.c.SetReadDeadline(time.Now().Add(t.headerTimeout))
	}
	pc.lc.left = maxResponseHeaderBytes // until the final response head is read
	// The first byte of the answer, or the sign that the upstream closed
	// the connection without one.
	if _, err := pc.br.Peek(1); err != nil {
		if reused && ctx.Err() == nil && closedUnanswered(err) {
			return again(err)
		}
		return fail(err)
	}
	for n := 0; ; n++ {
		resp, err = http.ReadResponse(pc.br, r)
		if err != nil {
			return fail(err)
		}
		if resp.StatusCode >= 200 || n >= max1xx {
			break
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return fail(errors.New("unexpected 101 Switching Protocols to a request without Upgrade"))
		}
		resp.Body.Close() // 1xx: no body
		// httputil.ReverseProxy passes informational responses (103 Early
		// Hints) on to the client through this hook, as http.Transport
		// calls it; it is the only hook of a ClientTrace the direct path
		// calls.
		if tr := httptrace.ContextClientTrace(ctx); tr != nil && tr.Got1xxResponse != nil {
			if err := tr.Got1xxResponse(resp.StatusCode, textproto.MIMEHeader(resp.Header)); err != nil {
				return fail(err)
			}
		}
	}
	if resp.StatusCode < 200 {
		return fail(errors.New("too many 1xx informational responses"))
	}
	pc.lc.left = -1
	if t.headerTimeout > 0 {
		_ = pc.c.SetReadDeadline(time.Time{})
	}
	b := &directBody{t: t, pc: pc, rc: resp.Body, stop: stop, keep: !resp.Close && !r.Close}
	if resp.Body == http.NoBody {
		b.once.Do(func() { b.finish(true) })
		return resp, false, nil
	}
	resp.Body = b
	return resp, false, nil
}

// closedUnanswered reports whether err, from waiting for the first byte of
// the answer, means the upstream closed the connection.
func closedUnanswered(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

type timeoutError struct{ msg string }

func (e timeoutError) Error() string { return e.msg }
func (e timeoutError) Timeout() bool { return true }

// Temporary is part of net.Error.
func (e timeoutError) Temporary() bool { return true }

var aLongTimeAgo = time.Unix(1, 0)

// directBody returns its connection to the pool once read to its end (and
// closes it otherwise).
type directBody struct {
	t    *DirectTransport
	pc   *directConn
	rc   io.ReadCloser
	stop func() bool
	keep bool
	once sync.Once
}

func (b *directBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.once.Do(func() { b.finish(true) })
	case err != nil:
		b.once.Do(func() { b.finish(false) })
	}
	return n, err
}

// Close ends the exchange; before the body's end it closes the connection
// (it cannot carry another response), which also ends a Read in progress.
func (b *directBody) Close() error {
	b.once.Do(func() { b.finish(false) })
	return nil
}

// finish ends the exchange: the connection goes back to the pool when the
// body was read to its end (ok) and it is safe to reuse, else it is closed.
// It runs once.
func (b *directBody) finish(ok bool) {
	// stop is false when the request's context ended: the connection's
	// deadline is in the past then.
	notCanceled := b.stop()
	_ = b.rc.Close()
	if ok && notCanceled && b.keep && b.pc.br.Buffered() == 0 {
		b.t.put(b.pc)
		return
	}
	b.pc.c.Close()
}

// pool returns addr's idle connections (a lock-free read once it exists).
func (t *DirectTransport) pool(addr string) chan *directConn {
	if p, ok := t.pools.Load(addr); ok {
		return p.(chan *directConn)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.pools.Load(addr); ok {
		return p.(chan *directConn)
	}
	p := make(chan *directConn, t.maxIdle)
	t.pools.Store(addr, p)
	if t.stop == nil && !t.closed.Load() {
		t.stop = make(chan struct{})
		go t.janitor(t.stop)
	}
	return p
}

// directSweep is how often idle connections are checked: closed by the
// upstream (its keep-alive timeout is often shorter than ours), or idle
// longer than directIdleTimeout.
const directSweep = 15 * time.Second

// janitor closes the idle connections that cannot be reused, so that they
// do not wait in CLOSE_WAIT for a request that may never come.
func (t *DirectTransport) janitor(stop chan struct{}) {
	tick := time.NewTicker(directSweep)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		for _, p := range t.allPools() {
			for range len(p) {
				var pc *directConn
				select {
				case pc = <-p:
				default:
				}
				if pc == nil {
					break
				}
				if now.Sub(pc.lastUsed) >= directIdleTimeout || !peek.Quiet(pc.c) {
					pc.c.Close()
					continue
				}
				select {
				case p <- pc:
				default:
					pc.c.Close()
				}
			}
		}
	}
}

func (t *DirectTransport) allPools() []chan *directConn {
	var pools []chan *directConn
	t.pools.Range(func(_, p any) bool {
		pools = append(pools, p.(chan *directConn))
		return true
	})
	return pools
}

// get returns an idle connection to addr that the upstream has not closed
// and sent nothing on, or (always when fresh) a new one.
func (t *DirectTransport) get(ctx context.Context, addr string, fresh bool) (*directConn, bool, error) {
	p := t.pool(addr)
	now := time.Now()
	for !fresh {
		select {
		case pc := <-p:
			if now.Sub(pc.lastUsed) >= directIdleTimeout || !peek.Quiet(pc.c) {
				pc.c.Close()
				continue
			}
			return pc, true, nil
		default:
		}
		break
	}
	c, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, fmt.Errorf("proxy: dial upstream %s: %w", addr, err)
	}
	lc := &limitedConn{c: c, left: -1}
	return &directConn{pool: p, c: c, lc: lc, br: bufio.NewReaderSize(lc, 4096), bw: bufio.NewWriterSize(c, 4096)}, false, nil
}

// put keeps pc for the next request to its upstream (or closes it when the
// pool is full or the transport closed). A put racing Close either finds
// the transport closed or is drained: Close marks it closed before it
// drains, and put looks again after adding.
func (t *DirectTransport) put(pc *directConn) {
	if t.closed.Load() {
		pc.c.Close()
		return
	}
	pc.lastUsed = time.Now()
	_ = pc.c.SetDeadline(time.Time{})
	select {
	case pc.pool <- pc:
		if t.closed.Load() {
			drain(pc.pool)
		}
	default:
		pc.c.Close()
	}
}

// drain closes the idle connections in p.
func drain(p chan *directConn) {
	for {
		select {
		case pc := <-p:
			pc.c.Close()
		default:
			return
		}
	}
}

// CloseIdleConnections closes the idle connections of both paths.
func (t *DirectTransport) CloseIdleConnections() {
	t.std.CloseIdleConnections()
	for _, p := range t.allPools() {
		drain(p)
	}
}

// Close closes the idle connections and keeps no connection from now on
// (a reload's old transports).
func (t *DirectTransport) Close() {
	t.mu.Lock()
	t.closed.Store(true)
	if t.stop != nil {
		close(t.stop)
		t.stop = nil
	}
	t.mu.Unlock()
	t.CloseIdleConnections()
}
