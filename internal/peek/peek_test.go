package peek_test

import (
	"net"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/peek"
)

func pair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// until waits up to 2 s for Quiet(c) to be want (loopback delivers at once;
// the margin is for a loaded machine).
func until(t *testing.T, c net.Conn, want bool, why string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); peek.Quiet(c) != want; {
		if time.Now().After(deadline) {
			t.Fatalf("%s: Quiet = %v; want %v", why, !want, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestQuiet(t *testing.T) {
	c, s := pair(t)
	if !peek.Quiet(c) {
		t.Fatal("a fresh connection is not quiet")
	}
	if _, err := s.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	until(t, c, false, "a byte waits")
	// Peeking takes nothing: the byte is still there to read.
	buf := make([]byte, 4)
	if n, err := c.Read(buf); n != 1 || err != nil || buf[0] != 'x' {
		t.Fatalf("Read after Quiet = %d, %v", n, err)
	}
	until(t, c, true, "the byte was read")
	s.Close()
	until(t, c, false, "the peer closed")

	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if peek.Quiet(p1) {
		t.Fatal("a connection without a socket is quiet; want false (nothing can be known)")
	}
}
