package audit

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faults wraps the real audit file to fail, hold or count on demand.
type faults struct {
	mu         sync.Mutex
	failWrites bool // writes fail (ENOSPC)
	partial    bool // … after writing half of the bytes
	failSync   bool
	holdSync   chan struct{} // syncs wait for it to close
	inSync     chan struct{} // gets a value when a sync starts waiting
	hold       chan struct{} // the next write waits for it to close
	entered    chan struct{} // closed when a held write has started
	writes     int
	syncs      int
	opens      int
}

type faultyFile struct {
	*os.File
	c *faults
}

func (f *faultyFile) Write(p []byte) (int, error) {
	c := f.c
	c.mu.Lock()
	c.writes++
	fail, partial, hold, entered := c.failWrites, c.partial, c.hold, c.entered
	c.hold, c.entered = nil, nil
	c.mu.Unlock()
	if hold != nil {
		close(entered)
		<-hold
	}
	if fail {
		if partial {
			n, _ := f.File.Write(p[:len(p)/2])
			return n, syscall.ENOSPC
		}
		return 0, syscall.ENOSPC
	}
	return f.File.Write(p)
}

func (f *faultyFile) Sync() error {
	f.c.mu.Lock()
	f.c.syncs++
	fail, hold, in := f.c.failSync, f.c.holdSync, f.c.inSync
	f.c.mu.Unlock()
	if hold != nil {
		select {
		case in <- struct{}{}:
		default:
		}
		<-hold
	}
	if fail {
		return syscall.EIO
	}
	return f.File.Sync()
}

func (c *faults) open(path string) (file, error) {
	c.mu.Lock()
	c.opens++
	c.mu.Unlock()
	f, err := openOSFile(path)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: f.(*os.File), c: c}, nil
}

func (c *faults) set(fn func(c *faults)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(c)
}

func (c *faults) count() (writes, syncs int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes, c.syncs
}

// holdNext makes the next write wait until the returned release is called
// (or the test ends); started is closed once that write has begun.
func (c *faults) holdNext(t *testing.T, also ...func(c *faults)) (started <-chan struct{}, release func()) {
	h, e := make(chan struct{}), make(chan struct{})
	c.set(func(c *faults) {
		c.hold, c.entered = h, e
		for _, fn := range also { // in the same step as the hold
			fn(c)
		}
	})
	var once sync.Once
	release = func() { once.Do(func() { close(h) }) }
	t.Cleanup(release) // before the log's Close, which waits for the write
	return e, release
}

// holdSyncs makes every sync wait until release; started gets a value when
// one starts waiting.
func (c *faults) holdSyncs(t *testing.T) (started <-chan struct{}, release func()) {
	h, in := make(chan struct{}), make(chan struct{}, 1)
	c.set(func(c *faults) { c.holdSync, c.inSync = h, in })
	var once sync.Once
	release = func() {
		c.set(func(c *faults) { c.holdSync = nil })
		once.Do(func() { close(h) })
	}
	t.Cleanup(release) // before the log's Close, which waits for the sync
	return in, release
}

// stillBlocked fails t if ch yields within d: what it guards has not
// returned yet.
func stillBlocked[T any](t *testing.T, ch <-chan T, d time.Duration, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s returned (%v) while it should still wait", what, v)
	case <-time.After(d):
	}
}

// open opens a log on a new file in a temporary directory with the faults
// wrapper; mutate adjusts the options.
func openTest(t *testing.T, mutate func(o *Options)) (*Log, string, *faults) {
	t.Helper()
	c := &faults{}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	o := Options{File: path, Fsync: "never", openFile: c.open, retryMin: time.Millisecond, retryMax: 5 * time.Millisecond}
	if mutate != nil {
		mutate(&o)
	}
	l, err := OpenOptions(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, path, c
}

// readRecords decodes every line of path.
func readRecords(t *testing.T, path string) []Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []Record
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s: not a JSON line: %q: %v", path, line, err)
		}
		out = append(out, r)
	}
	return out
}

func requestIDs(recs []Record) []string {
	var ids []string
	for _, r := range recs {
		if r.Kind != KindCheckpoint {
			ids = append(ids, r.RequestID)
		}
	}
	return ids
}

func checkpoints(recs []Record, event string) []Record {
	var out []Record
	for _, r := range recs {
		if r.Kind == KindCheckpoint && (event == "" || r.Event == event) {
			out = append(out, r)
		}
	}
	return out
}

// eventually polls cond until it holds or two seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func mustVerify(t *testing.T, keys *KeySet, paths ...string) Summary {
	t.Helper()
	s, err := VerifyFiles(paths, keys)
	if err != nil {
		t.Fatalf("verify %v: %v", paths, err)
	}
	return s
}

// mustVerifyPartial verifies path, a chain whose earlier records are gone
// (their file removed): strictly it must fail as "starts later"; with
// AllowPartial it must verify.
func mustVerifyPartial(t *testing.T, path string) Summary {
	t.Helper()
	var p *Problem
	if _, err := VerifyFiles([]string{path}, nil); !errors.As(err, &p) || p.What != "starts later" {
		t.Errorf("verify %s = %v, want the missing records reported (starts later)", path, err)
	}
	s, err := (&Verifier{AllowPartial: true}).Files(path)
	if err != nil {
		t.Fatalf("verify %s with AllowPartial: %v", path, err)
	}
	return s
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func isUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// longestRun returns the most records in a row without a checkpoint, and
// the seq of the last record of that run.
func longestRun(recs []Record) (n int, seq uint64) {
	run := 0
	for _, r := range recs {
		if r.Kind == KindCheckpoint {
			run = 0
			continue
		}
		if run++; run > n {
			n, seq = run, r.Seq
		}
	}
	return n, seq
}

// checkBound fails t unless no more than every records stand without a
// checkpoint after them in recs, and every checkpoint states that bound.
func checkBound(t *testing.T, recs []Record, every int) {
	t.Helper()
	if n, seq := longestRun(recs); n > every {
		t.Errorf("%d records in a row without a checkpoint (up to seq %d), want at most %d", n, seq, every)
	}
	for _, r := range checkpoints(recs, "") {
		if got := statedBound(r.Detail); got != every {
			t.Errorf("checkpoint %d (%s) states bound %d in detail %q, want %d", r.Seq, r.Event, got, r.Detail, every)
		}
	}
}
