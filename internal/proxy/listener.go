package proxy

import (
	"bytes"
	"errors"
	"io"
	"math"
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
// Each connection's bytes are scanned as Go's server (net/http, Go 1.27)
// reads them, request after request: a request's header block is passed on
// to the server only once it is complete; bodies, by Content-Length or
// chunked, are passed through as they come, their framing followed byte for
// byte (net/http/internal's chunk lines: hex size, extensions, CRLF only;
// then the trailer up to its empty line), so that the next request's header
// block is found where the server will read it. What the scanner follows is
// what the server reads:
//
//   - the request line is the first line, empty or not, except that after a
//     POST the server first drops up to 4 CR or LF bytes (and so does the
//     scanner);
//   - any HTTP/1.x version: HTTP/1.1 to HTTP/1.9 are framed like HTTP/1.1
//     (a chunked body allowed), HTTP/1.0 ignores Transfer-Encoding; so is
//     "PRI * HTTP/2.0", which the server serves as a request when it has
//     header fields;
//   - an Upgrade request the handler does not take over leaves an ordinary
//     keep-alive connection, and scanning goes on.
//
// Besides a request with both headers, the connection is refused (the
// request never reaches the server) when a Content-Length or
// Transfer-Encoding field is continued on the next line (obs-fold: the server
// joins the lines, a front end may not), or when a header block runs past
// 256 KiB (431).
//
// Scanning ends in two ways only. Where the server refuses what it was given
// (a malformed request line or header block, a Content-Length it cannot
// parse, a Transfer-Encoding other than "chunked", chunked framing it
// fails), the scanner passes on the bytes up to that point and then ends
// the connection's input: the server answers its own error and closes, and
// even if it did not, it would find no request after. And when the server
// hands the connection to a handler (Hijack: an accepted upgrade, a
// tunnel), whatever follows belongs to the handler and passes untouched.
// The listener learns of a hijack from the server itself: net/http calls
// SetDeadline with the zero time on the connection it hands over, and never
// otherwise. A connection served by anything other than net/http's Server
// must not get that call unless it was taken over.
//
// A chunked request does not end the scan: Guard closes the connection after
// one, but the scan does not depend on that. On a refused request, the
// connection delivers the requests before it, then end-of-file; when the
// server closes it, the answer is written.
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

// The answers written to a refused connection (scanRefused), before it
// closes.
var (
	smuggleResponse  = refusal("400 Bad Request", "proxy: a request with both Content-Length and Transfer-Encoding is not accepted")
	foldResponse     = refusal("400 Bad Request", "proxy: a Content-Length or Transfer-Encoding field continued on another line (obs-fold) is not accepted")
	tooLargeResponse = refusal("431 Request Header Fields Too Large", "proxy: a request header block over 256 KiB is not accepted")
)

func refusal(status, msg string) string {
	msg += "\n"
	return "HTTP/1.1 " + status + "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(msg)) + "\r\n\r\n" + msg
}

type guardConn struct {
	net.Conn
	// Go's server reads a connection from one goroutine at a time (the
	// serving one or its background read); the read state is theirs.
	sc       headerScanner
	err      error       // sticky read error (not a timeout)
	refused  atomic.Bool // sc.state is scanRefused (sc.answer is set)
	hijacked atomic.Bool // the server handed the connection to a handler
	once     sync.Once
}

func (c *guardConn) Read(p []byte) (int, error) {
	for {
		if c.hijacked.Load() {
			c.sc.pass()
		}
		if c.sc.ready > 0 {
			n := copy(p, c.sc.buf[:c.sc.ready])
			c.sc.consume(n)
			return n, nil
		}
		switch c.sc.state {
		case scanPassed:
			c.sc.buf, c.sc.base = nil, nil
			if c.err != nil {
				return 0, c.err
			}
			return c.Conn.Read(p)
		case scanStopped, scanRefused:
			if len(p) == 1 {
				// Go's server reads one byte in the background while a
				// handler runs, to notice a client that went away; end of
				// file there would cancel the request before the refused
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
			c.refused.Store(true)
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

// SetDeadline tells the connection that Go's server hijacked it: the
// server's conn.hijackLocked clears both deadlines with SetDeadline (zero
// time) on the connection it hands over, and calls SetDeadline nowhere else
// (it sets read and write deadlines separately). Taken over by a handler
// (an accepted upgrade, a tunnel), the rest of the connection is no longer
// HTTP the server reads: it passes unscanned. An Upgrade the handler does
// not take over (the upstream answered without 101) is a keep-alive request
// like any other, and scanning goes on.
func (c *guardConn) SetDeadline(t time.Time) error {
	if t.IsZero() {
		c.hijacked.Store(true)
	}
	return c.Conn.SetDeadline(t)
}

// Close writes the answer to a refused connection, then closes it the way
// Go's server closes after an error: its write side first, then the rest
// after the client has had time to read the answer (closing with unread
// input would reset the connection and could discard it).
func (c *guardConn) Close() error {
	c.once.Do(func() {
		if !c.refused.Load() {
			return
		}
		_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(c.Conn, c.sc.answer)
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			_ = c.Conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, 1<<20))
		}
	})
	return c.Conn.Close()
}

type scanState int

const (
	scanHeader  scanState = iota // a header block, held back until complete
	scanBody                     // a body by Content-Length (body bytes left)
	scanChunked                  // a chunked body: chunk lines, data, the trailer (chunk)
	scanPassed                   // hijacked: everything passes unscanned
	scanStopped                  // the server refuses what it was given: nothing more is delivered
	scanRefused                  // the held-back block is refused (answer): nothing more is delivered
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

// maxTrailer is the longest trailer Go's server reads: unless the trailer is
// a bare CRLF, it must see "\r\n\r\n" within its reader's 4 KiB buffer
// (net/http's seeUpcomingDoubleCRLF), and the trailer ends at or before it.
const maxTrailer = 4096

// fieldKind is what a header line was, for the continuation lines after it.
type fieldKind uint8

const (
	fieldNone  fieldKind = iota // no header line yet
	fieldOther                  // a field that does not frame the body
	fieldCL                     // Content-Length
	fieldTE                     // Transfer-Encoding
)

// headerScanner follows HTTP/1.x request framing over a connection's bytes.
// buf holds the bytes not yet returned to the server: buf[:ready] may be
// returned; in scanHeader, buf[ready:] is a header block in progress (held
// back). It allocates nothing but its buffer.
type headerScanner struct {
	buf    []byte
	base   []byte // buf's backing array, reused once buf is drained
	ready  int
	scan   int // bytes of buf scanned
	state  scanState
	answer string // in scanRefused, what is written before the close
	framed int    // requests whose framing ended (the tests hold it against Go's server)

	// In scanHeader: the header block so far.
	line      int       // start of the current line in buf
	skip      int       // CR or LF bytes the server may still drop before the request line
	post      bool      // the request is a POST (the server drops CR/LF after it)
	inReq     bool      // the request line was read
	http11    bool      // framed as HTTP/1.1: Transfer-Encoding counts
	bad       bool      // the server refuses the block
	fold      bool      // a Content-Length or Transfer-Encoding field is continued
	field     fieldKind // the field of the last header line
	cl        int       // Content-Length fields
	clLen     int64     // their value
	te        int       // Transfer-Encoding fields
	teChunked bool      // the last one says "chunked"

	body int64 // in scanBody: bytes of body left

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
// connection is refused.
func (s *headerScanner) feed(n int) bool {
	s.buf = s.buf[:len(s.buf)+n]
	for s.scan < len(s.buf) {
		switch s.state {
		case scanRefused:
			return true
		case scanStopped:
			return false
		case scanPassed:
			s.scan = len(s.buf)
			s.ready = len(s.buf)
		case scanChunked:
			s.chunked()
		case scanBody:
			k := min(int64(len(s.buf)-s.scan), s.body)
			s.scan += int(k)
			s.ready = s.scan
			s.body -= k
			if s.body == 0 {
				s.startBlock()
			}
		case scanHeader:
			s.header()
		}
	}
	return s.state == scanRefused
}

// pass lets the rest of the connection through unscanned (a hijack).
// A stopped or refused connection stays so.
func (s *headerScanner) pass() {
	if s.state == scanHeader || s.state == scanBody || s.state == scanChunked {
		s.state = scanPassed
		s.scan, s.ready = len(s.buf), len(s.buf)
	}
}

func (s *headerScanner) refuse(answer string) { s.state, s.answer = scanRefused, answer }

// startBlock ends a request: the next header block starts at s.scan.
func (s *headerScanner) startBlock() {
	s.framed++
	post := s.post
	*s = headerScanner{buf: s.buf, base: s.base, ready: s.ready, scan: s.scan, framed: s.framed, line: s.scan}
	if post {
		// net/http's conn.readRequest, "RFC 7230 section 3 tolerance for
		// old buggy clients": after a POST, the first 4 bytes are peeked
		// and as many of them as are CR or LF from the start dropped.
		s.skip = 4
	}
}

// header scans the header block in buf[scan:] up to its next line end.
func (s *headerScanner) header() {
	if s.skip > 0 {
		if c := s.buf[s.scan]; c == '\r' || c == '\n' {
			s.scan++
			s.line = s.scan
			s.skip--
			return
		}
		s.skip = 0
	}
	nl := bytes.IndexByte(s.buf[s.scan:], '\n')
	if nl < 0 {
		s.scan = len(s.buf)
		if s.scan-s.ready > maxScannedHeader {
			s.refuse(tooLargeResponse)
		}
		return
	}
	end := s.scan + nl
	if end+1-s.ready > maxScannedHeader {
		// The block (held back from s.ready) is too long to hold.
		s.refuse(tooLargeResponse)
		return
	}
	// A line as textproto reads it: up to LF, without one CR before it.
	line := s.buf[s.line:end]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	s.scan = end + 1
	s.line = s.scan
	if s.headerLine(line) {
		s.endBlock()
	}
}

// headerLine takes one line of a header block; it reports the block's end.
// It marks the block bad only where net/http refuses it.
func (s *headerScanner) headerLine(line []byte) bool {
	if !s.inReq {
		// The request line, even empty (the server skips no empty lines
		// other than those after a POST).
		s.inReq = true
		s.requestLine(line)
		return false
	}
	if len(line) == 0 {
		return true
	}
	if line[0] == ' ' || line[0] == '\t' {
		// A continuation (obs-fold): textproto joins it to the field
		// before, with a space; before any field it refuses the block.
		switch s.field {
		case fieldNone:
			s.bad = true
		case fieldCL, fieldTE:
			s.fold = true
		}
		return false
	}
	name, value, ok := bytes.Cut(line, []byte{':'})
	if !ok {
		s.bad = true
		s.field = fieldOther
		return false
	}
	value = trimOWSBytes(value)
	switch {
	case asciiEqualFold(name, "content-length"):
		// net/http: every Content-Length the same (TrimString), and that
		// a decimal below 2^63 (ParseUint(v, 10, 63)).
		s.field = fieldCL
		n, ok := parseContentLength(value)
		if !ok || s.cl > 0 && n != s.clLen {
			s.bad = true
		}
		s.cl++
		s.clLen = n
	case asciiEqualFold(name, "transfer-encoding"):
		s.field = fieldTE
		s.te++
		s.teChunked = asciiEqualFold(value, "chunked")
	default:
		s.field = fieldOther
	}
	return false
}

// requestLine reads the method and the version as net/http's readRequest
// and conn.readRequest do: "METHOD SP URI SP VERSION", split at the first
// two spaces; HTTP/X.Y with single digits; HTTP/1.x served, and
// "PRI * HTTP/2.0" (the server answers any other version 505 and closes).
func (s *headerScanner) requestLine(line []byte) {
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	uri, proto, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || len(proto) != len("HTTP/1.1") || string(proto[:5]) != "HTTP/" || proto[6] != '.' ||
		!isDigit(proto[5]) || !isDigit(proto[7]) {
		s.bad = true
		return
	}
	major, minor := proto[5]-'0', proto[7]-'0'
	switch {
	case major == 1:
		s.http11 = minor >= 1
	case major == 2 && minor == 0 && string(method) == "PRI" && string(uri) == "*":
		s.http11 = true
	default:
		s.bad = true
	}
	s.post = string(method) == "POST"
}

// endBlock decides what follows a complete header block.
func (s *headerScanner) endBlock() {
	switch {
	case s.cl > 0 && s.te > 0:
		s.refuse(smuggleResponse)
		return
	case s.fold:
		s.refuse(foldResponse)
		return
	}
	s.ready = s.scan
	switch {
	case s.bad:
		s.state = scanStopped
	case s.te > 0 && s.http11:
		// Go's server reads the body as chunked when the request has
		// exactly one Transfer-Encoding, "chunked" in any ASCII case; it
		// refuses any other (501). In HTTP/1.0 it ignores the header.
		if s.te > 1 || !s.teChunked {
			s.state = scanStopped
			return
		}
		s.state, s.chunk, s.left, s.digits, s.lineLen, s.trailer = scanChunked, chunkSize, 0, 0, 0, 0
	case s.clLen > 0:
		s.state, s.body = scanBody, s.clLen
	default:
		s.startBlock()
	}
}

// chunked follows a chunked body over buf[scan:], as Go's server reads it
// (net/http/internal.chunkedReader, then the trailer as a MIME header),
// passing every byte through. At the body's end it starts the next header
// block; where Go's server fails the body, it stops (scanStopped) after the
// byte that fails it.
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
				s.state = scanStopped
				break
			}
		}
		switch s.chunk {
		case chunkSize:
			switch {
			case hexDigit(c) >= 0:
				// Go allows 16 digits (leading zeros count).
				if s.digits++; s.digits > 16 {
					s.state = scanStopped
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
				s.state = scanStopped
			}
		case chunkOWS:
			// Trailing spaces are trimmed from the line; a ';' after them
			// leaves a space in the size, which Go refuses.
			switch c {
			case ' ', '\t':
			case '\r':
				s.chunk = chunkLF
			default:
				s.state = scanStopped
			}
		case chunkExt:
			switch c {
			case '\r':
				s.chunk = chunkLF
			case '\n':
				s.state = scanStopped // a bare LF ends no chunk line
			}
		case chunkLF:
			if c != '\n' || s.digits == 0 || s.lineLen > maxChunkLine+2 {
				s.state = scanStopped // a CR inside the line, or no size
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
				s.state = scanStopped
				break
			}
			s.chunk = chunkDataLF
		case chunkDataLF:
			if c != '\n' {
				s.state = scanStopped
				break
			}
			s.chunk = chunkSize
		case trailerStart, trailerCR, trailerLine:
			// Lines up to the first empty one ("\r\n" or "\n"), as
			// textproto reads them, within the server's 4 KiB.
			if s.trailer++; s.trailer > maxTrailer {
				s.state = scanStopped
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
	s.ready = s.scan
}

// parseContentLength reads a Content-Length value as net/http does
// (strconv.ParseUint(v, 10, 63)): decimal digits only, leading zeros
// allowed, below 2^63.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) || n > (math.MaxInt64-int64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

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

// trimOWSBytes removes spaces and tabs around b (textproto's trim).
func trimOWSBytes(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// asciiEqualFold compares s with the lower-case t without regard to ASCII
// letter case (as Go's server compares header names and "chunked";
// bytes.EqualFold also folds the Kelvin sign and the long s, which Go's
// server does not).
func asciiEqualFold(s []byte, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != t[i] {
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
