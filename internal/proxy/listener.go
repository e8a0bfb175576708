package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// GuardListener wraps a plain-HTTP (not TLS) listener so that a request with
// both Content-Length and Transfer-Encoding is answered 400 and its
// connection closed before Go's server parses it. Go's server would serve
// it, with Transfer-Encoding winning, and keep the connection open: if a load
// balancer in front read the same bytes by Content-Length, whatever lies
// between the two ends of the body is a request the balancer never saw
// (request smuggling, RFC 9112 §11.2). Go removes Content-Length before any
// handler runs, so only the raw bytes show it.
//
// Each connection's bytes are scanned as HTTP/1.x: a request's header block
// is passed on to the server only once it is complete, bodies by
// Content-Length are passed through as they come. Scanning stops (the rest
// of the connection passes through untouched) after a request with
// Transfer-Encoding (Guard closes the connection after it), an upgrade, a
// malformed header block that Go's server refuses itself, or a header block
// longer than 256 KiB. On a request with both headers, the connection
// delivers the requests before it, then end-of-file; when the server closes
// it, the 400 is written.
//
// A TLS listener cannot be wrapped this way (the bytes are encrypted, and
// Go's server must see the *tls.Conn): there Guard's close-after-chunked
// rule is the defense.
func GuardListener(l net.Listener) net.Listener { return &guardListener{Listener: l} }

type guardListener struct{ net.Listener }

func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c}, nil
}

const maxScannedHeader = 256 << 10

// smuggleResponse is written to a connection that sent a request with both
// Content-Length and Transfer-Encoding.
const smuggleResponse = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 81\r\n\r\n" +
	"proxy: a request with both Content-Length and Transfer-Encoding is not accepted\n"

type guardConn struct {
	net.Conn
	// Go's server reads a connection from one goroutine at a time (the
	// serving one or its background read); the read state is theirs.
	sc       headerScanner
	err      error // sticky read error (not a timeout)
	poisoned atomic.Bool
	once     sync.Once
}

func (c *guardConn) Read(p []byte) (int, error) {
	for {
		if c.sc.ready > 0 {
			n := copy(p, c.sc.buf[:c.sc.ready])
			c.sc.consume(n)
			return n, nil
		}
		if c.poisoned.Load() {
			if len(p) == 1 {
				// Go's server reads one byte in the background while a
				// handler runs, to notice a client that went away; end of
				// file there would cancel the request before the poisoned
				// one. Wait instead for the peer or the deadline the server
				// sets to end that read, dropping whatever else arrives.
				if _, err := c.Conn.Read(p); err != nil {
					return 0, err
				}
				continue
			}
			return 0, io.EOF
		}
		if c.err != nil {
			if len(c.sc.buf) > 0 {
				// An incomplete header block at end of input: let the
				// server see it and refuse it.
				c.sc.ready = len(c.sc.buf)
				continue
			}
			return 0, c.err
		}
		n, err := c.Conn.Read(c.sc.space())
		if n > 0 && c.sc.feed(n) {
			c.poisoned.Store(true)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if c.sc.ready > 0 {
					continue
				}
				return 0, err
			}
			c.err = err
		}
	}
}

// Close writes the 400 to a poisoned connection, then closes it the way
// Go's server closes after an error: its write side first, then the rest
// after the client has had time to read the answer (closing with unread
// input would reset the connection and could discard the 400).
func (c *guardConn) Close() error {
	c.once.Do(func() {
		if !c.poisoned.Load() {
			return
		}
		_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Conn.Write([]byte(smuggleResponse))
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			_ = c.Conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, 1<<20))
		}
	})
	return c.Conn.Close()
}

type scanState int

const (
	scanHeader scanState = iota
	scanBody
	scanDone
	scanPoisoned
)

// headerScanner follows HTTP/1.x request framing over a connection's bytes.
// buf holds the bytes not yet returned to the server: buf[:ready] may be
// returned; buf[ready:] is a header block in progress (held back).
type headerScanner struct {
	buf    []byte
	base   []byte // buf's backing array, reused once buf is drained
	ready  int
	state  scanState
	body   int64 // bytes of body left, in scanBody
	line   int   // start of the current line in buf, in scanHeader
	scan   int   // bytes of buf scanned
	inReq  bool  // the request line of the block was seen
	cl, te bool
	clVal  string
	upg    bool
	bad    bool // Go's server will refuse the block; stop scanning after it
}

// space returns room after buf for the next read.
func (s *headerScanner) space() []byte {
	if len(s.buf) == 0 && s.base != nil {
		s.buf = s.base[:0]
	}
	if cap(s.buf)-len(s.buf) < 2048 {
		nb := make([]byte, len(s.buf), 2*len(s.buf)+4096)
		copy(nb, s.buf)
		s.buf, s.base = nb, nb
	}
	return s.buf[len(s.buf):cap(s.buf)]
}

// feed scans the n bytes just read into space(); it reports whether the
// connection is poisoned (a request with both Content-Length and
// Transfer-Encoding).
func (s *headerScanner) feed(n int) bool {
	s.buf = s.buf[:len(s.buf)+n]
	for s.scan < len(s.buf) {
		switch s.state {
		case scanPoisoned:
			return true
		case scanDone:
			s.scan = len(s.buf)
			s.ready = len(s.buf)
		case scanBody:
			k := int64(len(s.buf) - s.scan)
			if k > s.body {
				k = s.body
			}
			s.scan += int(k)
			s.ready = s.scan
			s.body -= k
			if s.body == 0 {
				s.startBlock()
			}
		case scanHeader:
			nl := bytes.IndexByte(s.buf[s.scan:], '\n')
			if nl < 0 {
				s.scan = len(s.buf)
				if len(s.buf)-s.ready > maxScannedHeader {
					s.state = scanDone
					s.ready = len(s.buf)
				}
				continue
			}
			end := s.scan + nl
			line := s.buf[s.line:end]
			line = bytes.TrimSuffix(line, []byte{'\r'})
			s.scan = end + 1
			s.line = s.scan
			if s.headerLine(line) {
				s.endBlock()
			}
		}
	}
	return s.state == scanPoisoned
}

func (s *headerScanner) startBlock() {
	s.state = scanHeader
	s.line = s.scan
	s.inReq, s.cl, s.te, s.upg, s.bad = false, false, false, false, false
	s.clVal = ""
}

// headerLine takes one line of a header block; it reports the block's end.
func (s *headerScanner) headerLine(line []byte) bool {
	if !s.inReq {
		if len(line) == 0 {
			return false // empty lines before the request line are skipped
		}
		s.inReq = true
		if i := bytes.LastIndexByte(line, ' '); i < 0 || !bytes.HasPrefix(line[i+1:], []byte("HTTP/1.")) {
			s.bad = true
		}
		return false
	}
	if len(line) == 0 {
		return true
	}
	if line[0] == ' ' || line[0] == '\t' {
		return false // continuation of the previous field's value
	}
	name, value, ok := bytes.Cut(line, []byte{':'})
	if !ok {
		s.bad = true
		return false
	}
	v := string(bytes.Trim(value, " \t"))
	switch {
	case bytes.EqualFold(name, []byte("content-length")):
		if s.cl && v != s.clVal {
			s.bad = true
		}
		s.cl, s.clVal = true, v
	case bytes.EqualFold(name, []byte("transfer-encoding")):
		s.te = true
	case bytes.EqualFold(name, []byte("upgrade")):
		s.upg = true
	}
	return false
}

// endBlock decides what follows a complete header block.
func (s *headerScanner) endBlock() {
	if s.cl && s.te {
		s.state = scanPoisoned
		return
	}
	s.ready = s.scan
	switch {
	case s.bad || s.te || s.upg:
		s.state = scanDone
	case s.cl:
		n, err := strconv.ParseInt(s.clVal, 10, 64)
		switch {
		case err != nil || n < 0:
			s.state = scanDone
		case n == 0:
			s.startBlock()
		default:
			s.state, s.body = scanBody, n
		}
	default:
		s.startBlock()
	}
}

// consume drops the first n ready bytes.
func (s *headerScanner) consume(n int) {
	s.buf = s.buf[n:]
	s.ready -= n
	s.scan -= n
	s.line -= n
}
