package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/accessgateway/gateway/internal/store"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// NotInstalled is the message of the skip (or, with CI set, the failure) when
// redis-server is not on PATH.
const NotInstalled = "redis-server not installed: run make test (it installs it) or apt-get install redis-server"

// startTimeout bounds how long Start and Restart wait for the first PONG.
const startTimeout = 10 * time.Second

// Server is one redis-server process owned by a test.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	args []string
	port int
	// sentinel, when set, is the config file of a Sentinel (StartSentinel).
	sentinel string

	mu   sync.Mutex
	proc *process // nil while stopped
}

type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd.Wait returns
	out    *lockedBuffer
}

// Start runs redis-server on a free port of 127.0.0.1 and returns once it
// answers PING. The server is stopped when the test ends (t.Cleanup).
//
// args are appended to the command line, e.g. "--requirepass", "secret".
// If redis-server is not on PATH, Start skips the test, or fails it when the
// environment variable CI is set, with the message NotInstalled.
// Start must be called from the test's goroutine.
func Start(tb testing.TB, args ...string) *Server {
	tb.Helper()
	bin := lookPath(tb)
	return start(tb, &Server{tb: tb, bin: bin, dir: tb.TempDir(), args: args})
}

func lookPath(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal(NotInstalled)
		}
		tb.Skip(NotInstalled)
	}
	return bin
}

// start picks a free port for s and starts it.
func start(tb testing.TB, s *Server) *Server {
	tb.Helper()
	tb.Cleanup(s.Stop)

	// The port is free when probed but may be taken before redis-server binds
	// it; a few attempts with fresh ports make that race harmless.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		s.port = port
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	tb.Fatalf("redistest: %v", lastErr)
	return nil
}

// Addr is the server's host:port, "127.0.0.1:N". It does not change across
// Restart.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the server's TCP port.
func (s *Server) Port() int { return s.port }

// Stop kills the server (SIGKILL, like a crash) and waits for the process to
// exit. Its data is lost. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	if s.tb.Failed() {
		s.tb.Logf("redistest: redis-server on %s output:\n%s", s.Addr(), p.out.String())
	}
}

// Restart stops the server if it runs and starts a new, empty one on the
// same port, returning once it answers PING. It must be called from the
// test's goroutine (it calls t.Fatal on failure).
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	var err error
	// The old process's socket is closed by the kernel when it dies, but
	// give a port held by TIME_WAIT or a slow exit a few chances.
	for range 3 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.tb.Fatalf("redistest: restart on %s: %v", s.Addr(), err)
}

func (s *Server) start() error {
	var args []string
	if s.sentinel != "" {
		args = []string{s.sentinel, "--sentinel"}
	}
	args = append(args,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--dir", s.dir,
	)
	if s.sentinel == "" {
		// A master waits 5 s by default before a diskless full sync, in
		// case more replicas arrive; tests want their replicas now.
		args = append(args, "--repl-diskless-sync-delay", "0")
	}
	args = append(args, s.args...)
	cmd := exec.Command(s.bin, args...)
	out := &lockedBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{}), out: out}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("redis-server on port %d exited before answering PING (%v); output:\n%s",
				s.port, cmd.ProcessState, out.String())
		default:
		}
		if ping(s.Addr()) == nil {
			s.mu.Lock()
			s.proc = p
			s.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-p.exited
			return fmt.Errorf("redis-server on port %d did not answer PING within %v; output:\n%s",
				s.port, startTimeout, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ping sends an inline PING and expects +PONG, or -NOAUTH from a server
// started with --requirepass (which also proves it is serving).
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH") {
		return nil
	}
	return errors.New("unexpected reply to PING: " + strings.TrimSpace(line))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// StartScriptless starts a redis-server with two ACL users, both with the
// password "pw": "gw", which may run every command but EVAL and EVALSHA
// (the scripts of compare-and-delete and compare-and-swap), and "gwfull",
// which may run every command.
func StartScriptless(tb testing.TB) *Server {
	tb.Helper()
	return Start(tb,
		"--user", "gw", "on", ">pw", "~*", "+@all", "-eval", "-evalsha",
		"--user", "gwfull", "on", ">pw", "~*", "+@all")
}

// Store opens a store on s as user (password "pw"), closed when the test
// ends.
func (s *Server) Store(tb testing.TB, user string) *store.Redis {
	tb.Helper()
	st, err := store.NewRedis(context.Background(), store.RedisConfig{Addrs: []string{s.Addr()}, Username: user, Password: "pw"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}
