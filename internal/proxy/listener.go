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
// is passed on to the server only once it is complete; bodies, by
// Content-Length or chunked, are passed through as they come, their framing
// followed byte for byte as Go's server reads it (net/http/internal's chunk
// lines: hex size, extensions, CRLF only; then the trailer up to its empty
// line), so that the next request's header block is found where the server
// will read it. A chunked request does not end the scan: Guard closes the
// connection after one, but the scan does not depend on that. Scanning
// stops (the rest of the connection passes through untouched) only after an
// upgrade, a header block or chunked framing that Go's server refuses
// itself (it then closes the connection), a Transfer-Encoding Go's server
// does not read as chunked (it refuses the request, or ignores the header
// in HTTP/1.0, after which Guard closes the connection), or a header block
// or trailer longer than 256 KiB. On a request with both headers, the
// connection delivers the requests before it, then end-of-file; when the
// server closes it, the 400 is written.
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
	scanChunked // a chunked body: chunk lines, data, the trailer (chunkState)
	scanDone
	scanPoisoned
)

// chunkState is where a chunked body is, byte by byte.
type chunkState int

const (
	chunkSize    chunkState = iota // the hex digits of a chunk line
	chunkOWS                       // spaces or tabs after the digits
	chunkExt                       // an extension, after ';'
	chunkLF                        // the chunk line's CR was read
	chunkData                      // chunk data (s.left bytes left)
	chunkDataCR                    // the CR after the data
	chunkDataLF                    // the LF after the data
	trailerStart                   // the start of a trailer line
	trailerCR                      // a trailer line that so far is a CR
	trailerLine                    // a non-empty trailer line
)

// maxChunkLine is the longest chunk line Go's server reads: its reader's
// 4 KiB buffer must hold the line with its CRLF.
const maxChunkLine = 4096 - 2

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
	http11 bool  // the request line ends in HTTP/1.1
	cl     bool
	clVal  string
	te     int // Transfer-Encoding lines
	teVal  string
	upg    bool
	bad    bool // Go's server will refuse the block; stop scanning after it
	// In scanChunked: where in the body, the digits of the chunk line so
	// far, its length, and the trailer's length so far.
	chunk   chunkState
	left    uint64 // chunk data left (the chunk line's size, up to 16 hex digits)
	digits  int
	lineLen int
	trailer int
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
		case scanChunked:
			s.chunked()
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
	s.inReq, s.http11, s.cl, s.upg, s.bad = false, false, false, false, false
	s.te = 0
	s.clVal, s.teVal = "", ""
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
		} else {
			s.http11 = string(line[i+1:]) == "HTTP/1.1"
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
		s.te++
		s.teVal = v
	case bytes.EqualFold(name, []byte("upgrade")):
		s.upg = true
	}
	return false
}

// endBlock decides what follows a complete header block.
func (s *headerScanner) endBlock() {
	if s.cl && s.te > 0 {
		s.state = scanPoisoned
		return
	}
	s.ready = s.scan
	switch {
	case s.bad || s.upg:
		s.state = scanDone
	case s.te > 0:
		// Go's server reads a body as chunked when the request is HTTP/1.1
		// (or later) and has exactly one Transfer-Encoding, "chunked" in
		// any ASCII case; it refuses any other (501) and ignores the
		// header in HTTP/1.0. Only the first case is followed.
		if s.te == 1 && s.http11 && asciiEqualFold(s.teVal, "chunked") {
			s.state, s.chunk, s.left, s.digits, s.lineLen, s.trailer = scanChunked, chunkSize, 0, 0, 0, 0
		} else {
			s.state = scanDone
		}
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

// chunked follows a chunked body over buf[scan:], as Go's server reads it
// (net/http/internal.chunkedReader, then the trailer as a MIME header),
// passing every byte through. At the body's end it starts the next header
// block; where Go's server would fail the body, scanning stops (scanDone).
func (s *headerScanner) chunked() {
	for s.scan < len(s.buf) && s.state == scanChunked {
		if s.chunk == chunkData {
			k := min(uint64(len(s.buf)-s.scan), s.left)
			s.scan += int(k)
			s.left -= k
			if s.left == 0 {
				s.chunk = chunkDataCR
			}
			continue
		}
		c := s.buf[s.scan]
		s.scan++
		if s.chunk <= chunkLF {
			s.lineLen++
			if s.lineLen > maxChunkLine+2 {
				s.state = scanDone
				break
			}
		}
		switch s.chunk {
		case chunkSize:
			switch {
			case hexDigit(c) >= 0:
				// Go allows 16 digits (leading zeros count).
				if s.digits++; s.digits > 16 {
					s.state = scanDone
					break
				}
				s.left = s.left<<4 | uint64(hexDigit(c))
			case c == ';':
				s.chunk = chunkExt
			case c == ' ' || c == '\t':
				s.chunk = chunkOWS
			case c == '\r':
				s.chunk = chunkLF
			default:
				s.state = scanDone
			}
		case chunkOWS:
			// Trailing spaces are trimmed from the line; a ';' after them
			// leaves a space in the size, which Go refuses.
			switch c {
			case ' ', '\t':
			case '\r':
				s.chunk = chunkLF
			default:
				s.state = scanDone
			}
		case chunkExt:
			switch c {
			case '\r':
				s.chunk = chunkLF
			case '\n':
				s.state = scanDone // a bare LF ends no chunk line
			}
		case chunkLF:
			if c != '\n' || s.digits == 0 || s.lineLen > maxChunkLine+2 {
				s.state = scanDone // a CR inside the line, or no size
				break
			}
			s.digits, s.lineLen = 0, 0
			if s.left == 0 {
				s.chunk = trailerStart
			} else {
				s.chunk = chunkData
			}
		case chunkDataCR:
			if c != '\r' {
				s.state = scanDone
				break
			}
			s.chunk = chunkDataLF
		case chunkDataLF:
			if c != '\n' {
				s.state = scanDone
				break
			}
			s.chunk = chunkSize
		case trailerStart, trailerCR, trailerLine:
			// Lines up to the first empty one ("\r\n" or "\n"), as
			// textproto reads them.
			if s.trailer++; s.trailer > maxScannedHeader {
				s.state = scanDone
				break
			}
			switch {
			case c == '\n' && s.chunk != trailerLine:
				s.ready = s.scan
				s.startBlock()
				return
			case c == '\n':
				s.chunk = trailerStart
			case c == '\r' && s.chunk == trailerStart:
				s.chunk = trailerCR
			default:
				s.chunk = trailerLine
			}
		}
	}
	if s.state == scanDone {
		s.scan = len(s.buf)
	}
	s.ready = s.scan
}

// hexDigit is the value of the hex digit c, or -1.
func hexDigit(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// asciiEqualFold compares s and t without regard to ASCII letter case (as
// Go's server compares "chunked"; bytes.EqualFold also folds the Kelvin
// sign, which Go's server does not).
func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// consume drops the first n ready bytes.
func (s *headerScanner) consume(n int) {
	s.buf = s.buf[n:]
	s.ready -= n
	s.scan -= n
	s.line -= n
}
