package redistest_test

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store/redistest"
)

// do sends one inline command and returns the first line of the reply.
func do(t *testing.T, addr, cmd string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\r\n", cmd); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func mustDo(t *testing.T, addr, cmd, want string) {
	t.Helper()
	got, err := do(t, addr, cmd)
	if err != nil || got != want {
		t.Fatalf("%s on %s = %q, %v; want %q", cmd, addr, got, err, want)
	}
}

func TestStartStopRestart(t *testing.T) {
	srv := redistest.Start(t)
	addr := srv.Addr()
	if !strings.HasPrefix(addr, "127.0.0.1:") || srv.Port() == 0 {
		t.Fatalf("Addr = %q, Port = %d; want 127.0.0.1:N", addr, srv.Port())
	}
	mustDo(t, addr, "SET k v", "+OK")
	mustDo(t, addr, "GET k", "$1")
	mustDo(t, addr, "CONFIG GET appendonly", "*2")

	srv.Stop()
	if got, err := do(t, addr, "PING"); err == nil {
		t.Fatalf("PING after Stop = %q; want a connection error", got)
	}
	srv.Stop() // a second Stop does nothing

	srv.Restart()
	if srv.Addr() != addr {
		t.Fatalf("Addr after Restart = %q; want %q", srv.Addr(), addr)
	}
	mustDo(t, addr, "PING", "+PONG")
	mustDo(t, addr, "GET k", "$-1") // no persistence: the data died with the process
}

func TestServersAreIndependent(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers on one address %s", a.Addr())
	}
	mustDo(t, a.Addr(), "SET k a", "+OK")
	mustDo(t, b.Addr(), "GET k", "$-1")
}

func TestStartPassesArgs(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "pw-for-test")
	got, err := do(t, srv.Addr(), "PING")
	if err != nil || !strings.HasPrefix(got, "-NOAUTH") {
		t.Fatalf("PING without AUTH = %q, %v; want -NOAUTH", got, err)
	}
}

// recorder is a testing.TB whose Skip and Fatal are recorded; like the real
// ones, they end the calling goroutine.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Skip(args ...any)  { r.skipped = fmt.Sprint(args...); runtime.Goexit() }
func (r *recorder) Fatal(args ...any) { r.failed = fmt.Sprint(args...); runtime.Goexit() }

func TestStartWithoutRedisServer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ci       string
		wantSkip bool
	}{
		{name: "locally the test is skipped", ci: "", wantSkip: true},
		{name: "in CI the test fails", ci: "true", wantSkip: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", t.TempDir())
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				redistest.Start(r)
				t.Error("Start returned without redis-server on PATH")
			}()
			<-done
			got := r.failed
			if tc.wantSkip {
				got = r.skipped
			}
			if got != redistest.NotInstalled {
				t.Fatalf("skipped %q, failed %q; want %s with %q", r.skipped, r.failed,
					map[bool]string{true: "skip", false: "fail"}[tc.wantSkip], redistest.NotInstalled)
			}
		})
	}
}
