// Package peek tells, without reading or blocking, whether a connection has
// bytes waiting or was closed by its peer: one non-blocking MSG_PEEK recv on
// its socket. Callers use it to check that an idle connection is safe to
// reuse, or that a connection another goroutine reads has nothing pending.
package peek

import (
	"crypto/tls"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Quiet reports whether c's socket has nothing to read and is still open.
// It is false when bytes wait (even ones another goroutine is about to
// read), when the peer closed it, and when c has no socket to look at. It
// takes no lock a concurrent Read holds. For a *tls.Conn it looks at the
// socket under it, so TLS bytes waiting there count as bytes waiting.
func Quiet(c net.Conn) bool {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var buf [1]byte
	quiet := false
	cerr := rc.Control(func(fd uintptr) {
		// EAGAIN: nothing to read, still open. Data, or 0 bytes (closed by
		// the peer), or any error: not quiet.
		_, _, err := unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		quiet = err == unix.EAGAIN || err == unix.EWOULDBLOCK
	})
	return cerr == nil && quiet
}
