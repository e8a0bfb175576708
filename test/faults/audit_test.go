package faults

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// setFileSizeLimit sets the soft RLIMIT_FSIZE of process pid (prlimit(2)):
// its writes past limit bytes fail with EFBIG, as on a full disk — which
// permissions cannot do to a process that runs as root. The hard limit
// stays unlimited, so the limit can be lifted again.
func setFileSizeLimit(t *testing.T, pid int, limit uint64) {
	t.Helper()
	lim := syscall.Rlimit{Cur: limit, Max: ^uint64(0)}
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(syscall.RLIMIT_FSIZE),
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0); errno != 0 {
		t.Fatalf("prlimit(%d, RLIMIT_FSIZE, %d): %v", pid, limit, errno)
	}
}

// The audit file stops taking writes (the process's file size limit is set
// 40 bytes past its end: the next write is cut halfway, then fails with
// EFBIG, like a full disk). Allowed requests are refused with 503 that says
// the audit record could not be written, none reaches the tool, /readyz
// fails. The limit is lifted: the gateway recovers by itself, the refused
// requests' 503 records and a recovered checkpoint are written, and
// `gateway audit verify` passes on the file, the half-written bytes cut.
func TestAuditSinkFailsAndRecovers(t *testing.T) {
	t.Parallel()
	p := newIdP(t)
	up := newTool(t)
	g := newGateway(t, p.gatewayFor(up.URL))
	c := signIn(t, g, p, "/")
	fi, err := os.Stat(filepath.Join(g.dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	hits := up.hits.Load()
	setFileSizeLimit(t, g.cmd.Process.Pid, uint64(fi.Size())+40)

	const refused = 5
	for i := range refused {
		path := fmt.Sprintf("/refused/%d", i)
		code, body := get(t, c, g.url+path)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "could not write the audit record") {
			t.Errorf("GET %s with the audit file failing: expected 503 saying the audit record could not be written, got %d: %.300s", path, code, body)
		}
	}
	if code, body := get(t, c, g.url+"/refused/json", "Accept", "application/json"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"error":"evidence-unavailable"`) {
		t.Errorf("JSON client with the audit file failing: expected 503 with a JSON error, got %d: %.300s", code, body)
	}
	if up.hits.Load() != hits {
		t.Fatal("a request reached the tool while its decision record could not be written")
	}
	if code, body := g.ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, "audit") {
		t.Errorf("/readyz with the audit file failing: expected 503 naming the audit log, got %d %q", code, body)
	}

	setFileSizeLimit(t, g.cmd.Process.Pid, ^uint64(0))
	eventually(t, 10*time.Second, "allowed requests to go through again", func() bool {
		code, _ := get(t, c, g.url+"/after")
		return code == http.StatusOK
	})
	if code, body := g.ready(); code != http.StatusOK {
		t.Errorf("/readyz after recovery: expected 200, got %d %q", code, body)
	}
	if err := g.stop(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: expected a clean exit, got %v", err)
	}
	if out, err := g.verifyAudit(); err != nil || !strings.HasPrefix(out, "ok:") {
		t.Errorf("gateway audit verify: expected ok, got %v: %s", err, out)
	}
	// The refused requests (and those of the wait for recovery, /after)
	// have their 503 records, none an allow; the recovered checkpoint
	// counts them all.
	var refusedRecords, onRefusedPaths, allowedRefused int
	var recovered []string
	for _, r := range g.audit() {
		switch {
		case strings.HasPrefix(r.Path, "/refused/") && r.Kind == "decision" && r.Decision == "allow":
			allowedRefused++
		case r.Kind == "response" && r.Status == http.StatusServiceUnavailable && strings.Contains(r.Detail, "not forwarded"):
			refusedRecords++
			if strings.HasPrefix(r.Path, "/refused/") {
				onRefusedPaths++
			}
		case r.Kind == "checkpoint" && r.Event == "recovered":
			recovered = append(recovered, r.Detail)
		}
	}
	if allowedRefused != 0 || onRefusedPaths != refused+1 {
		t.Errorf("audit: %d allow records and %d 503 records for the refused requests; want 0 and %d", allowedRefused, onRefusedPaths, refused+1)
	}
	if len(recovered) != 1 || !strings.Contains(recovered[0], fmt.Sprintf(" %d commits refused", refusedRecords)) {
		t.Errorf("audit: expected one recovered checkpoint counting the %d refused commits, got %q", refusedRecords, recovered)
	}
}
