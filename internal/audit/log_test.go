package audit

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) { b.mu.Lock(); defer b.mu.Unlock(); return b.b.Write(p) }
func (b *buffer) String() string              { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

func TestEveryRecordIsOneJSONLine(t *testing.T) {
	var out buffer
	l := New(&out, nil, nil)
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			l.Log(Record{Kind: "decision", RequestID: "r", Decision: "allow", Reasons: []string{"allow-rule-matched"}, Status: i})
		}(i)
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	v := &Verifier{}
	if err := v.Read("buffer", strings.NewReader(out.String())); err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not one JSON record per line: %q: %v", line, err)
		}
		if r.Kind == KindCheckpoint {
			continue
		}
		if r.Time.IsZero() || r.Decision != "allow" {
			t.Errorf("record %+v", r)
		}
		seen[r.Status] = true
	}
	if len(seen) != 200 {
		t.Errorf("%d distinct records, want 200 (none lost or doubled)", len(seen))
	}
}

// A record logged after Close (a request that outlived shutdown) does not
// panic and reaches the operational log; it is counted as dropped.
func TestLogAfterClose(t *testing.T) {
	var out, ops buffer
	l := New(&out, nil, slog.New(slog.NewJSONHandler(&ops, nil)))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Log(Record{Kind: "decision", RequestID: "late", Time: time.Unix(1, 0)})
	if !strings.Contains(ops.String(), "late") || strings.Contains(out.String(), "late") {
		t.Fatalf("late record: audit %q, ops %q", out.String(), ops.String())
	}
	if got := l.Stats().Dropped; got != 1 {
		t.Errorf("Stats().Dropped = %d, want 1", got)
	}
	if err := l.Commit(context.Background(), Record{Kind: KindDecision}); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

// Commit returns only once the record is in the file: every write is made
// slow, and the file is read right after Commit returns.
func TestCommitReturnsAfterTheBytesAreInTheFile(t *testing.T) {
	l, path, c := openTest(t, nil)
	for i := 0; i < 20; i++ {
		started, release := c.holdNext(t)
		id := fmt.Sprintf("req-%d", i)
		done := make(chan error, 1)
		go func() {
			done <- l.Commit(context.Background(), Record{Kind: KindDecision, RequestID: id, Decision: "allow"})
		}()
		<-started
		stillBlocked(t, done, 5*time.Millisecond, "Commit with its write held")
		release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(`"request_id":"`+id+`"`)) {
			t.Fatalf("Commit of %s returned, but the file does not hold it:\n%s", id, b)
		}
	}
}

// Commits queued while a write is in flight go out together in the next
// write, and each caller learns of it.
func TestConcurrentCommitsShareOneWrite(t *testing.T) {
	l, path, c := openTest(t, nil)
	before, _ := c.count()
	started, release := c.holdNext(t)
	const n = 100
	errs := make(chan error, n)
	commit := func(i int) {
		errs <- l.Commit(context.Background(), Record{Kind: KindDecision, RequestID: fmt.Sprint(i)})
	}
	go commit(0)
	<-started // the first write is in flight
	for i := 1; i < n; i++ {
		go commit(i)
	}
	eventually(t, "99 commits queued", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.queue) == n-1
	})
	release()
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	writes, _ := c.count()
	if got := writes - before; got != 2 {
		t.Errorf("%d commits took %d writes, want 2 (one in flight, one for the 99 queued meanwhile)", n, got)
	}
	if got := len(requestIDs(readRecords(t, path))); got != n {
		t.Errorf("file holds %d records, want %d", got, n)
	}
}

// The sink fails (ENOSPC after a partial write, then the path cannot even be
// opened); Commit fails promptly, Log buffers; once the path is writable
// again the log recovers by itself, nothing acknowledged is lost, and the
// file verifies.
func TestSinkFailsAndRecoversByItself(t *testing.T) {
	var ops buffer
	l, path, c := openTest(t, func(o *Options) { o.Logger = slog.New(slog.NewJSONHandler(&ops, nil)) })
	ctx := context.Background()
	if err := l.Commit(ctx, Record{Kind: KindDecision, RequestID: "before"}); err != nil {
		t.Fatal(err)
	}
	c.set(func(c *faults) { c.failWrites, c.partial = true, true })
	err := l.Commit(ctx, Record{Kind: KindDecision, RequestID: "failed"})
	if !isUnavailable(err) || !contains(err.Error(), "no space left") {
		t.Fatalf("Commit on a failing sink = %v, want ErrUnavailable with the cause", err)
	}
	if l.Healthy() == nil {
		t.Fatal("Healthy() = nil while the sink fails")
	}
	// While down, the path itself is not writable: a directory stands there.
	moved := path + ".moved"
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	c.set(func(c *faults) { c.failWrites = false })
	writes, _ := c.count()
	start := time.Now()
	err = l.Commit(ctx, Record{Kind: KindDecision, RequestID: "refused"})
	if !isUnavailable(err) {
		t.Fatalf("Commit while down = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Commit while down took %s, want an immediate refusal", d)
	}
	l.Log(Record{Kind: KindResponse, RequestID: "buffered", Status: 200})
	if w, _ := c.count(); w != writes {
		t.Errorf("refused Commit wrote (%d writes, want %d)", w, writes)
	}
	if l.Healthy() == nil {
		t.Fatal("recovered while the path is a directory")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	eventually(t, "recovery", func() bool { return l.Healthy() == nil })
	if err := l.Commit(ctx, Record{Kind: KindDecision, RequestID: "after"}); err != nil {
		t.Fatalf("Commit after recovery: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	s := mustVerify(t, nil, moved, path)
	if !s.Closed {
		t.Errorf("summary %+v: not closed", s)
	}
	var ids []string
	ids = append(ids, requestIDs(readRecords(t, moved))...)
	ids = append(ids, requestIDs(readRecords(t, path))...)
	if got, want := strings.Join(ids, ","), "before,buffered,after"; got != want {
		t.Errorf("records written %s, want %s (acknowledged and buffered ones, not the refused)", got, want)
	}
	rec := checkpoints(readRecords(t, path), CheckpointRecovered)
	if len(rec) != 1 || !contains(rec[0].Detail, "2 commits refused, 0 records dropped") {
		t.Errorf("recovered checkpoint %+v, want one that counts 2 refused commits", rec)
	}
	st := l.Stats()
	if st.Failed != 2 || st.Dropped != 0 {
		t.Errorf("Stats %+v, want Failed 2, Dropped 0", st)
	}
	if !contains(ops.String(), "cannot be written") || !contains(ops.String(), "works again") {
		t.Errorf("operational log does not tell the outage: %s", ops.String())
	}
}

// A partial write on the same file is cut off before the retry, so the file
// stays one valid chain.
func TestPartialWriteIsRemovedOnRecovery(t *testing.T) {
	l, path, c := openTest(t, nil)
	ctx := context.Background()
	c.set(func(c *faults) { c.failWrites, c.partial = true, true })
	l.Log(Record{Kind: KindResponse, RequestID: "r1", Status: 200, Detail: strings.Repeat("x", 500)})
	eventually(t, "the failure", func() bool { return l.Healthy() != nil })
	c.set(func(c *faults) { c.failWrites = false })
	eventually(t, "recovery", func() bool { return l.Healthy() == nil })
	if err := l.Commit(ctx, Record{Kind: KindDecision, RequestID: "r2"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	mustVerify(t, nil, path)
	if got := strings.Join(requestIDs(readRecords(t, path)), ","); got != "r1,r2" {
		t.Errorf("records %s, want r1,r2", got)
	}
}

// A Commit that arrives while the writer tries the sink again waits for the
// attempt instead of being refused, so the recovered checkpoint counts
// every refused commit of the outage (and no more).
func TestRecoveredCheckpointCountsEveryRefusedCommit(t *testing.T) {
	l, path, c := openTest(t, func(o *Options) {
		o.CommitTimeout = 5 * time.Second
		o.retryMin, o.retryMax = 20*time.Millisecond, 20*time.Millisecond
	})
	ctx := context.Background()
	c.set(func(c *faults) { c.failWrites = true })
	for i := range 3 {
		if err := l.Commit(ctx, Record{Kind: KindDecision, RequestID: fmt.Sprint("refused", i)}); !isUnavailable(err) {
			t.Fatalf("Commit %d with the sink failing = %v, want ErrUnavailable", i, err)
		}
	}
	// The next attempt's write (the recovered checkpoint) hangs until
	// released; a Commit made meanwhile must wait for it, not fail.
	entered, release := c.holdNext(t, func(c *faults) { c.failWrites = false })
	<-entered
	errc := make(chan error, 1)
	go func() { errc <- l.Commit(ctx, Record{Kind: KindDecision, RequestID: "during"}) }()
	stillBlocked(t, errc, 50*time.Millisecond, "Commit during the recovery attempt")
	release()
	if err := <-errc; err != nil {
		t.Fatalf("Commit during a successful recovery = %v", err)
	}
	l.Close()
	recs := readRecords(t, path)
	if rc := checkpoints(recs, CheckpointRecovered); len(rc) != 1 || !contains(rc[0].Detail, " 3 commits refused") {
		t.Errorf("recovered checkpoints %+v, want one counting 3 refused commits", rc)
	}
	if got := strings.Join(requestIDs(recs), ","); got != "during" {
		t.Errorf("records %s, want during", got)
	}
}

// While the sink fails, Log keeps at most Buffer records; the rest go to the
// operational log and are counted, and the recovered checkpoint says so.
func TestLogBufferIsBoundedAndDropsAreCounted(t *testing.T) {
	var ops buffer
	l, path, c := openTest(t, func(o *Options) {
		o.Buffer = 3
		o.Logger = slog.New(slog.NewJSONHandler(&ops, nil))
	})
	c.set(func(c *faults) { c.failWrites = true })
	l.Log(Record{Kind: KindResponse, RequestID: "r0"})
	eventually(t, "the failure", func() bool { return l.Healthy() != nil })
	for i := 1; i < 5; i++ {
		l.Log(Record{Kind: KindResponse, RequestID: fmt.Sprint("r", i)})
	}
	if st := l.Stats(); st.Dropped != 2 || st.Buffered != 3 {
		t.Fatalf("Stats %+v, want Dropped 2, Buffered 3", st)
	}
	for _, id := range []string{"r3", "r4"} {
		if !contains(ops.String(), `"request_id":"`+id+`"`) {
			t.Errorf("dropped record %s is not in the operational log", id)
		}
	}
	c.set(func(c *faults) { c.failWrites = false })
	eventually(t, "recovery", func() bool { return l.Healthy() == nil })
	l.Close()
	recs := readRecords(t, path)
	if got := strings.Join(requestIDs(recs), ","); got != "r0,r1,r2" {
		t.Errorf("records %s, want r0,r1,r2", got)
	}
	if rc := checkpoints(recs, CheckpointRecovered); len(rc) != 1 || !contains(rc[0].Detail, "2 records dropped") {
		t.Errorf("recovered checkpoints %+v, want one counting 2 dropped", rc)
	}
}

// An fsync that fails after a successful write fails the Commit (with fsync
// "always") without writing the record twice on recovery.
func TestFsyncAlways(t *testing.T) {
	l, path, c := openTest(t, func(o *Options) { o.Fsync = "always" })
	ctx := context.Background()
	_, syncs0 := c.count()
	if err := l.Commit(ctx, Record{Kind: KindDecision, RequestID: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, syncs := c.count(); syncs != syncs0+1 {
		t.Fatalf("fsync always: %d syncs for one Commit, want 1", syncs-syncs0)
	}
	c.set(func(c *faults) { c.failSync = true })
	if err := l.Commit(ctx, Record{Kind: KindDecision, RequestID: "b"}); !isUnavailable(err) || !contains(err.Error(), "fsync") {
		t.Fatalf("Commit with a failing fsync = %v, want ErrUnavailable (fsync)", err)
	}
	c.set(func(c *faults) { c.failSync = false })
	eventually(t, "recovery", func() bool { return l.Healthy() == nil })
	l.Close()
	mustVerify(t, nil, path)
	if got := strings.Join(requestIDs(readRecords(t, path)), ","); got != "a,b" {
		t.Errorf("records %s, want a,b (b was written, only its fsync failed)", got)
	}
}

func TestFsyncInterval(t *testing.T) {
	l, _, c := openTest(t, func(o *Options) { o.Fsync = "10ms" })
	if err := l.Commit(context.Background(), Record{Kind: KindDecision}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an fsync within the interval", func() bool { _, s := c.count(); return s > 0 })
}

// An interval fsync runs beside the writer: a slow disk flush does not hold
// the Commits (the allowed requests) that arrive meanwhile; Close waits for
// it.
func TestFsyncIntervalDoesNotHoldCommits(t *testing.T) {
	l, path, c := openTest(t, func(o *Options) { o.Fsync = "1ms"; o.CommitTimeout = 5 * time.Second })
	in, release := c.holdSyncs(t)
	ctx := context.Background()
	if err := l.Commit(ctx, Record{Kind: KindDecision, RequestID: "a"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in:
	case <-time.After(5 * time.Second):
		t.Fatal("no interval fsync started")
	}
	// Counted from the one that hangs: an interval fsync may have run (and
	// ended) between the open and holdSyncs.
	_, syncs0 := c.count()
	// The fsync hangs; Commits still complete.
	for i := range 3 {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := l.Commit(cctx, Record{Kind: KindDecision, RequestID: fmt.Sprint("b", i)})
		cancel()
		if err != nil {
			t.Fatalf("Commit while an interval fsync hangs = %v, want nil", err)
		}
	}
	if _, syncs := c.count(); syncs != syncs0 {
		t.Fatalf("%d more syncs started while one hung, want none (never two at once)", syncs-syncs0)
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	stillBlocked(t, closed, 50*time.Millisecond, "Close with the fsync hung")
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	mustVerify(t, nil, path)
	if got := strings.Join(requestIDs(readRecords(t, path)), ","); got != "a,b0,b1,b2" {
		t.Errorf("records %s, want a,b0,b1,b2", got)
	}
}

// A failing interval fsync takes the sink down, as a failing write does:
// Commits are refused until it works again.
func TestFsyncIntervalFailureRefusesCommits(t *testing.T) {
	l, _, c := openTest(t, func(o *Options) { o.Fsync = "1ms" })
	c.set(func(c *faults) { c.failSync = true })
	ctx := context.Background()
	if err := l.Commit(ctx, Record{Kind: KindDecision}); err != nil {
		t.Fatal(err) // written; its fsync comes after
	}
	eventually(t, "the sink down after a failed fsync", func() bool {
		err := l.Healthy()
		return err != nil && contains(err.Error(), "fsync")
	})
	if err := l.Commit(ctx, Record{Kind: KindDecision}); !isUnavailable(err) {
		t.Fatalf("Commit after a failed interval fsync = %v, want ErrUnavailable", err)
	}
	c.set(func(c *faults) { c.failSync = false })
	eventually(t, "recovery", func() bool { return l.Healthy() == nil })
	if err := l.Commit(ctx, Record{Kind: KindDecision}); err != nil {
		t.Fatal(err)
	}
}

func TestCommitTimesOutOnAHungWrite(t *testing.T) {
	l, _, c := openTest(t, func(o *Options) { o.CommitTimeout = 20 * time.Millisecond })
	started, release := c.holdNext(t)
	defer release()
	errc := make(chan error, 1)
	go func() { errc <- l.Commit(context.Background(), Record{Kind: KindDecision}) }()
	<-started
	if err := <-errc; !isUnavailable(err) || !contains(err.Error(), "longer than 20ms") {
		t.Fatalf("Commit on a hung write = %v, want a timeout", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	release()
	if err := l.Commit(ctx, Record{Kind: KindDecision}); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit with a canceled context = %v", err)
	}
}

func TestCommitRefusesCheckpointRecords(t *testing.T) {
	l, path, _ := openTest(t, nil)
	if err := l.Commit(context.Background(), Record{Kind: KindCheckpoint, Event: CheckpointClose}); err == nil {
		t.Fatal("Commit accepted a caller's checkpoint")
	}
	l.Log(Record{Kind: KindCheckpoint, Event: CheckpointClose})
	l.Close()
	if n := len(checkpoints(readRecords(t, path), CheckpointClose)); n != 1 {
		t.Errorf("%d close checkpoints, want 1 (the log's own)", n)
	}
}

// The chain continues across a restart: the new process reads the file's
// tail.
func TestChainContinuesAcrossRestart(t *testing.T) {
	l, path, _ := openTest(t, nil)
	for i := 0; i < 3; i++ {
		if err := l.Commit(context.Background(), Record{Kind: KindDecision, RequestID: fmt.Sprint("a", i)}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	l2, err := OpenOptions(Options{File: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.Commit(context.Background(), Record{Kind: KindDecision, RequestID: "b0"}); err != nil {
		t.Fatal(err)
	}
	l2.Close()
	s := mustVerify(t, nil, path)
	if s.FirstSeq != 1 || s.LastSeq != 8 || s.Records != 8 {
		t.Errorf("summary %+v, want seq 1-8 (start, 3, close, start, 1, close)", s)
	}
	starts := checkpoints(readRecords(t, path), CheckpointStart)
	if len(starts) != 2 || !contains(starts[1].Detail, "continues "+path+" after seq 5") {
		t.Errorf("start checkpoints %+v", starts)
	}
}

// A crash mid-write leaves an incomplete last line: the next start removes
// it, says so, and the chain goes on.
func TestIncompleteLastLineIsRemovedOnStart(t *testing.T) {
	l, path, _ := openTest(t, nil)
	l.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":3,"prev":"ab`)
	f.Close()
	l2, err := OpenOptions(Options{File: path})
	if err != nil {
		t.Fatal(err)
	}
	l2.Close()
	mustVerify(t, nil, path)
	starts := checkpoints(readRecords(t, path), CheckpointStart)
	if !contains(starts[len(starts)-1].Detail, "removed an incomplete last line of 19 bytes") {
		t.Errorf("start checkpoint %+v does not tell the removal", starts[len(starts)-1])
	}
}

// A last record that does not verify stops the start: the gateway does not
// build on a chain it cannot trust.
func TestTamperedLastRecordRefusesToStart(t *testing.T) {
	l, path, _ := openTest(t, nil)
	l.Close()
	b, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(b, []byte(`"event":"close"`), []byte(`"event":"clos3"`), 1), 0o600)
	if _, err := OpenOptions(Options{File: path}); err == nil || !contains(err.Error(), "last record is not valid") {
		t.Fatalf("OpenOptions on a tampered tail = %v, want a refusal", err)
	}
}

// Size-based rotation: each file ends with a rotate checkpoint and the next
// continues the chain; a restart while the active file is missing (crash
// right after a rename) continues from the newest rotated file.
func TestRotationContinuesTheChain(t *testing.T) {
	l, path, _ := openTest(t, func(o *Options) { o.RotateSize = 2048 })
	for i := 0; i < 40; i++ {
		if err := l.Commit(context.Background(), Record{Kind: KindDecision, RequestID: fmt.Sprint(i), Path: "/some/path"}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	rot := rotatedFiles(path)
	if len(rot) < 3 || l.Stats().Rotations != uint64(len(rot)) {
		t.Fatalf("rotated files %v, Rotations %d: want several", rot, l.Stats().Rotations)
	}
	for _, f := range rot {
		recs := readRecords(t, f)
		if last := recs[len(recs)-1]; last.Kind != KindCheckpoint || last.Event != CheckpointRotate {
			t.Errorf("%s ends with %+v, want a rotate checkpoint", f, last)
		}
	}
	s := mustVerify(t, nil, append(rot, path)...)
	if s.Files != len(rot)+1 || !s.Closed {
		t.Errorf("summary %+v", s)
	}
	// Crash after a rename: the active file is gone.
	os.Rename(path, rotatedName(path, readRecords(t, path)[0].Seq, time.Now()))
	l2, err := OpenOptions(Options{File: path})
	if err != nil {
		t.Fatal(err)
	}
	l2.Close()
	rot = rotatedFiles(path)
	s2 := mustVerify(t, nil, append(rot, path)...)
	if s2.LastSeq != s.LastSeq+2 {
		t.Errorf("after restart last seq %d, want %d", s2.LastSeq, s.LastSeq+2)
	}
}

// logrotate renames the file and asks for a reopen: the chain continues in
// the new file.
func TestReopenAfterLogrotate(t *testing.T) {
	l, path, _ := openTest(t, nil)
	ctx := context.Background()
	l.Commit(ctx, Record{Kind: KindDecision, RequestID: "a"})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Commit(ctx, Record{Kind: KindDecision, RequestID: "b"}) // still the old file
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Commit(ctx, Record{Kind: KindDecision, RequestID: "c"})
	l.Close()
	mustVerify(t, nil, path+".1", path)
	if got := strings.Join(requestIDs(readRecords(t, path)), ","); got != "c" {
		t.Errorf("new file holds %s, want c", got)
	}
	if n := len(checkpoints(readRecords(t, path+".1"), CheckpointReopen)); n != 1 {
		t.Errorf("old file has %d reopen checkpoints, want 1", n)
	}
}

// Checkpoints come every CheckpointEvery records and are signed; Verify
// checks each with the public key.
func TestCheckpointsAreSigned(t *testing.T) {
	key := newKey(t)
	l, path, _ := openTest(t, func(o *Options) { o.Signer, o.CheckpointEvery = key, 10 })
	for i := 0; i < 35; i++ {
		l.Commit(context.Background(), Record{Kind: KindDecision, RequestID: fmt.Sprint(i)})
	}
	l.Close()
	ks, err := NewKeySet(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	s := mustVerify(t, ks, path)
	cps := checkpoints(readRecords(t, path), "")
	if len(cps) < 5 || s.Verified != len(cps) || s.AfterLastVerified != 0 {
		t.Errorf("%d checkpoints, summary %+v: want every checkpoint verified", len(cps), s)
	}
	other, _ := NewKeySet(newKey(t).Public())
	if _, err := VerifyFiles([]string{path}, other); err == nil || !contains(err.Error(), "bad checkpoint signature") {
		t.Errorf("verify with another key = %v, want a signature problem", err)
	}
}

// Records committed at once (group commit) are written with one write call
// and still get a checkpoint after every CheckpointEvery of them, placed
// between the records: the bound verify holds the file to is never broken
// by a large batch. The Recent ring and the counters see the checkpoints
// written between the records too.
func TestLargeBatchKeepsTheCheckpointBound(t *testing.T) {
	key := newKey(t)
	l, path, c := openTest(t, func(o *Options) { o.Signer, o.CheckpointEvery = key, 10 })
	before, _ := c.count()
	started, release := c.holdNext(t)
	const n = 95
	errs := make(chan error, n+1)
	commit := func(i int) {
		errs <- l.Commit(context.Background(), Record{Kind: KindDecision, RequestID: fmt.Sprint(i)})
	}
	go commit(0)
	<-started // the first write is in flight; the next n queue behind it
	for i := 1; i <= n; i++ {
		go commit(i)
	}
	eventually(t, "95 commits queued", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.queue) == n
	})
	release()
	for range n + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if writes, _ := c.count(); writes-before != 2 {
		t.Fatalf("%d writes, want 2 (one in flight, one for the %d queued meanwhile): the batch was not one write", writes-before, n)
	}
	var recent bytes.Buffer
	l.Recent(func(line []byte) { recent.Write(line) })
	st := l.Stats()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	recs := readRecords(t, path)
	checkBound(t, recs, 10)
	if got := len(requestIDs(recs)); got != n+1 {
		t.Errorf("file holds %d records, want %d", got, n+1)
	}
	b, _ := os.ReadFile(path)
	if !bytes.HasPrefix(b, recent.Bytes()) || recent.Len() == 0 || bytes.Count(recent.Bytes(), []byte("\n")) != len(recs)-1 {
		t.Errorf("Recent holds %d lines that are not the file's first %d", bytes.Count(recent.Bytes(), []byte("\n")), len(recs)-1)
	}
	if cps := len(checkpoints(recs, "")) - 1; st.Checkpoints != uint64(cps) || st.Written != uint64(len(recs)-1) {
		t.Errorf("Stats before Close %+v, want %d checkpoints and %d records written", st, cps, len(recs)-1)
	}
	ks, _ := NewKeySet(key.Public())
	mustVerify(t, ks, path)
}

// The records buffered through an outage are written in one write when the
// sink works again, with a checkpoint after every CheckpointEvery of them.
// The failed attempts before it (half of their bytes written, then cut
// off) leave the chain, the count since the last checkpoint and the
// counters as they were, so the file shows exactly the checkpoints the
// successful write made.
func TestRecoveryKeepsTheCheckpointBound(t *testing.T) {
	key := newKey(t)
	l, path, c := openTest(t, func(o *Options) { o.Signer, o.CheckpointEvery = key, 10 })
	c.set(func(c *faults) { c.failWrites, c.partial = true, true })
	l.Log(Record{Kind: KindResponse, RequestID: "r0"})
	eventually(t, "the failure", func() bool { return l.Healthy() != nil })
	for i := 1; i < 35; i++ {
		l.Log(Record{Kind: KindResponse, RequestID: fmt.Sprint("r", i)})
	}
	eventually(t, "a failed retry", func() bool { w, _ := c.count(); return w >= 3 })
	c.set(func(c *faults) { c.failWrites = false })
	eventually(t, "recovery", func() bool { return l.Healthy() == nil })
	st := l.Stats()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	recs := readRecords(t, path)
	checkBound(t, recs, 10)
	var events []string
	for _, r := range checkpoints(recs, "") {
		events = append(events, r.Event)
	}
	if got, want := strings.Join(events, ","), "start,interval,interval,interval,recovered,close"; got != want {
		t.Errorf("checkpoints %s, want %s (one after every 10 of the 35 buffered records)", got, want)
	}
	if got := len(requestIDs(recs)); got != 35 {
		t.Errorf("file holds %d records, want 35", got)
	}
	if st.Checkpoints != 5 || st.Written != 40 {
		t.Errorf("Stats after recovery %+v, want 5 checkpoints and 40 records written (failed attempts not counted)", st)
	}
	ks, _ := NewKeySet(key.Public())
	mustVerify(t, ks, path)
}

// A log that stops without Close (a crash) leaves fewer than
// CheckpointEvery records after its last checkpoint: the file verifies with
// the keys as it is, and after the restart that continues it.
func TestCrashLeavesATailWithinTheBound(t *testing.T) {
	key := newKey(t)
	ks, _ := NewKeySet(key.Public())
	l, path, _ := openTest(t, func(o *Options) { o.Signer, o.CheckpointEvery = key, 5 })
	for i := range 9 {
		if err := l.Commit(context.Background(), Record{Kind: KindDecision, RequestID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// The crash: what is in the file now is all there is (fsync "never":
	// the bytes are written, only not flushed).
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	crashed := path + ".crashed"
	if err := os.WriteFile(crashed, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s := mustVerify(t, ks, crashed)
	if s.Closed || s.AfterLastVerified != 4 {
		t.Errorf("summary of the crashed file %+v, want 4 records after the last checkpoint, not closed", s)
	}
	l2, err := OpenOptions(Options{File: crashed, Fsync: "never", Signer: key, CheckpointEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.Commit(context.Background(), Record{Kind: KindDecision, RequestID: "after"}); err != nil {
		t.Fatal(err)
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	if s := mustVerify(t, ks, crashed); !s.Closed || s.AfterLastVerified != 0 {
		t.Errorf("summary after the restart %+v, want closed", s)
	}
	checkBound(t, readRecords(t, crashed), 5)
}

func TestCheckpointInterval(t *testing.T) {
	l, path, _ := openTest(t, func(o *Options) { o.CheckpointInterval = 5 * time.Millisecond })
	l.Commit(context.Background(), Record{Kind: KindDecision})
	eventually(t, "an interval checkpoint", func() bool {
		return len(checkpoints(readRecords(t, path), CheckpointInterval)) > 0
	})
}

func TestStatsCountWrites(t *testing.T) {
	l, _, _ := openTest(t, nil)
	for i := 0; i < 5; i++ {
		l.Commit(context.Background(), Record{Kind: KindDecision})
	}
	st := l.Stats()
	if st.Written != 6 || st.Seq != 6 || st.Checkpoints != 1 || !st.Healthy || st.Writes != 6 {
		t.Errorf("Stats %+v, want 6 written (start + 5) in 6 writes", st)
	}
}

// A record too large for a line (a huge path) is written clamped, so the
// file stays readable by the verifier and the next start.
func TestHugeRecordIsClamped(t *testing.T) {
	// Encoding 6 MiB under -race on a loaded machine can take seconds: the
	// commit timeout is not what this test is about.
	l, path, _ := openTest(t, func(o *Options) { o.CommitTimeout = time.Minute })
	huge := strings.Repeat("\x01", 1<<20) // escapes to 6 MiB
	if err := l.Commit(context.Background(), Record{Kind: KindDecision, RequestID: "big", Path: "/" + huge,
		Reasons: make([]string, 1000), Detail: huge}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	mustVerify(t, nil, path)
	var r Record
	for _, x := range readRecords(t, path) {
		if x.RequestID == "big" {
			r = x
		}
	}
	if len(r.Path) > 1100 || len(r.Reasons) != 16 || !strings.HasPrefix(r.Detail, "record of ") {
		t.Errorf("clamped record: path %d bytes, %d reasons, detail %.40q", len(r.Path), len(r.Reasons), r.Detail)
	}
	l2, err := OpenOptions(Options{File: path})
	if err != nil {
		t.Fatalf("restart after a huge record: %v", err)
	}
	l2.Close()
}

// After a key rotation the next checkpoints are signed with the new key;
// verify needs both public keys.
func TestSetSignerRotatesTheCheckpointKey(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	l, path, _ := openTest(t, func(o *Options) { o.Signer, o.CheckpointEvery = k1, 2 })
	ctx := context.Background()
	l.Commit(ctx, Record{Kind: KindDecision})
	l.Commit(ctx, Record{Kind: KindDecision})
	if err := l.SetSigner(k2, ""); err != nil {
		t.Fatal(err)
	}
	l.Commit(ctx, Record{Kind: KindDecision})
	l.Commit(ctx, Record{Kind: KindDecision})
	l.Close()
	both, _ := NewKeySet(k1.Public(), k2.Public())
	if s := mustVerify(t, both, path); len(s.KeyIDs) != 2 {
		t.Errorf("signed by %v, want both keys", s.KeyIDs)
	}
	old, _ := NewKeySet(k1.Public())
	if _, err := VerifyFiles([]string{path}, old); err == nil {
		t.Error("verified with the old key only")
	}
	if err := l.SetSigner(nil, ""); err != nil {
		t.Fatal(err)
	}
}

// An audit file removed while the log has it open takes every record
// written to it afterwards along (the open descriptor keeps an unnamed
// inode that vanishes when the process ends, and a restart continues the
// chain from the rotated files as if nothing were missing). The log
// notices before it writes: no Commit is acknowledged for a record written
// there; it starts the file again at its path, continuing the chain, so the
// records that were removed show as a gap, and a recovered checkpoint says
// why.
func TestRemovedFileIsNotWrittenTo(t *testing.T) {
	l, path, _ := openTest(t, nil)
	ctx := context.Background()
	if err := l.Commit(ctx, Record{Kind: KindDecision, RequestID: "before"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * removedCheck) // the last write's check is older than removedCheck
	err := l.Commit(ctx, Record{Kind: KindDecision, RequestID: "into-the-removed-file"})
	if !isUnavailable(err) || !contains(err.Error(), "removed") {
		t.Fatalf("Commit after the file was removed = %v, want ErrUnavailable saying the file was removed", err)
	}
	l.Log(Record{Kind: KindResponse, RequestID: "buffered", Status: 200})
	eventually(t, "recovery", func() bool { return l.Healthy() == nil })
	if err := l.Commit(ctx, Record{Kind: KindDecision, RequestID: "after"}); err != nil {
		t.Fatalf("Commit after recovery: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s := mustVerifyPartial(t, path)
	if s.FirstSeq != 3 {
		t.Errorf("the new file starts at seq %d, want 3 (right after the 2 records removed with the old one)", s.FirstSeq)
	}
	if got, want := strings.Join(requestIDs(readRecords(t, path)), ","), "buffered,after"; got != want {
		t.Errorf("records in the new file %s, want %s", got, want)
	}
	rec := checkpoints(readRecords(t, path), CheckpointRecovered)
	if len(rec) != 1 || !contains(rec[0].Detail, "removed") {
		t.Errorf("recovered checkpoints %+v, want one that says the file was removed", rec)
	}
}

// Removed and not written to again before Close: the close checkpoint and
// what was queued go to a new file at the path, not into the removed one.
func TestRemovedFileAtClose(t *testing.T) {
	l, path, _ := openTest(t, nil)
	if err := l.Commit(context.Background(), Record{Kind: KindDecision, RequestID: "before"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close after the file was removed: %v", err)
	}
	s := mustVerifyPartial(t, path)
	if s.FirstSeq != 3 || !s.Closed {
		t.Errorf("summary %+v, want a file that starts at seq 3 and ends with the close checkpoint", s)
	}
	if cp := checkpoints(readRecords(t, path), CheckpointClose); len(cp) != 1 || !contains(cp[0].Detail, "removed") {
		t.Errorf("close checkpoints %+v, want one that says the file was removed", cp)
	}
}

// The lines the log keeps for Recent are bounded in bytes, not only in
// number: requests with long paths — a client needs no session to send
// them, and its denials are logged — would otherwise keep 4096 lines of up
// to the size of a request header each in memory for good.
func TestRecentIsBoundedInBytes(t *testing.T) {
	l := New(io.Discard, nil, nil)
	path := "/" + strings.Repeat("a", 16<<10)
	const n = recentLines
	for i := range n {
		l.Log(Record{Kind: KindDecision, Decision: "deny", Path: path, RequestID: fmt.Sprint(i)})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	held := 0
	for _, line := range l.recent.lines {
		held += cap(line)
	}
	if limit := recentBytes*5/4 + recentLines*recentSlot; held > limit {
		t.Errorf("the lines kept for Recent hold %d bytes, want at most %d", held, limit)
	}
	var last []byte
	kept := 0
	l.Recent(func(line []byte) { last = append(last[:0], line...); kept++ })
	var r Record
	if err := json.Unmarshal(last, &r); err != nil || r.Kind != KindCheckpoint || r.Event != CheckpointClose {
		t.Errorf("the newest line kept is %.80q (%v), want the close checkpoint", last, err)
	}
	if kept == 0 || kept >= n {
		t.Errorf("Recent kept %d lines, want some, fewer than %d", kept, n)
	}
}

// While the sink fails, the records Log keeps are bounded in bytes too, not
// only in number: 20000 denials of requests with long paths (anyone can
// send them) would otherwise hold more than a gigabyte until the file works
// again. Beyond the bound they are dropped and counted like the others.
func TestLogBufferIsBoundedInBytes(t *testing.T) {
	// The bound is 64 MiB; 4 MiB here, so that the recovery does not write
	// 64 MiB (tens of seconds under the race detector).
	const bound = 4 << 20
	l, path, c := openTest(t, func(o *Options) { o.Logger, o.bufferBytes = slog.New(slog.DiscardHandler), bound })
	c.set(func(c *faults) { c.failWrites = true })
	l.Log(Record{Kind: KindResponse, RequestID: "first"})
	eventually(t, "the failure", func() bool { return l.Healthy() != nil })
	long := "/" + strings.Repeat("a", 64<<10)
	const n = 80 // 5 MiB of paths: fewer records than Buffer, more bytes than the bound
	for i := range n {
		l.Log(Record{Kind: KindDecision, Decision: "deny", Path: long, RequestID: fmt.Sprint(i)})
	}
	st := l.Stats()
	if st.Dropped == 0 || st.Buffered*(64<<10) > bound {
		t.Errorf("Stats %+v: want at most 4 MiB of records buffered, the rest dropped", st)
	}
	c.set(func(c *faults) { c.failWrites = false })
	eventually(t, "recovery", func() bool { return l.Healthy() == nil })
	l.Close()
	recs := readRecords(t, path)
	if got, want := len(requestIDs(recs)), 1+n-int(st.Dropped); got != want {
		t.Errorf("%d records written, want %d (the buffered ones)", got, want)
	}
}

// gatedSigner signs with key; once armed, its next Sign waits for release.
type gatedSigner struct {
	key     *ecdsa.PrivateKey
	mu      sync.Mutex
	entered chan struct{}
	release chan struct{}
}

func (s *gatedSigner) Public() crypto.PublicKey { return s.key.Public() }

func (s *gatedSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.mu.Lock()
	entered, release := s.entered, s.release
	s.entered, s.release = nil, nil
	s.mu.Unlock()
	if entered != nil {
		close(entered)
		<-release
	}
	return s.key.Sign(r, digest, opts)
}

func (s *gatedSigner) arm() (entered, release chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entered, s.release = make(chan struct{}), make(chan struct{})
	return s.entered, s.release
}

// The recovered checkpoint counts every record dropped during the outage,
// also those dropped while the attempt that succeeds was encoding the
// buffered records (signing the checkpoints among them takes a while).
func TestRecoveredCheckpointCountsEveryDrop(t *testing.T) {
	signer := &gatedSigner{key: newKey(t)}
	l, path, c := openTest(t, func(o *Options) {
		o.Signer, o.CheckpointEvery, o.Buffer = signer, 5, 20
		o.Logger = slog.New(slog.DiscardHandler)
	})
	c.set(func(c *faults) { c.failWrites = true })
	for i := range 12 {
		l.Log(Record{Kind: KindResponse, RequestID: fmt.Sprint("buffered", i)})
	}
	eventually(t, "the failure", func() bool { return l.Healthy() != nil })
	// The next attempt stops at the checkpoint after the 5th buffered
	// record; it will succeed.
	entered, release := signer.arm()
	<-entered
	c.set(func(c *faults) { c.failWrites = false })
	for i := range 30 {
		l.Log(Record{Kind: KindResponse, RequestID: fmt.Sprint("late", i)})
	}
	dropped := l.Stats().Dropped
	if dropped == 0 {
		t.Fatal("no record dropped with the buffer full")
	}
	close(release)
	eventually(t, "recovery", func() bool { return l.Healthy() == nil })
	l.Close()
	rc := checkpoints(readRecords(t, path), CheckpointRecovered)
	if len(rc) != 1 || !contains(rc[0].Detail, fmt.Sprintf(" %d records dropped", dropped)) {
		t.Errorf("recovered checkpoints %+v, want one counting the %d records dropped", rc, dropped)
	}
}

// A write or an fsync that does not return (a hung disk, a stalled NFS
// mount) means the file cannot be written: every allowed request waits
// commit_timeout and is refused, so Healthy — /readyz — must say so once
// one has been in flight for longer than that, for the load balancer to
// send traffic elsewhere; and recover when it returns.
func TestHungWriteOrSyncIsUnhealthy(t *testing.T) {
	t.Run("write", func(t *testing.T) {
		l, _, c := openTest(t, func(o *Options) { o.CommitTimeout = 20 * time.Millisecond })
		started, release := c.holdNext(t)
		go l.Commit(context.Background(), Record{Kind: KindDecision})
		<-started
		eventually(t, "unhealthy", func() bool { err := l.Healthy(); return isUnavailable(err) && contains(err.Error(), "not returned") })
		if l.Stats().Healthy {
			t.Error("Stats().Healthy with a hung write")
		}
		release()
		eventually(t, "healthy again", func() bool { return l.Healthy() == nil })
	})
	t.Run("interval fsync", func(t *testing.T) {
		l, _, c := openTest(t, func(o *Options) { o.CommitTimeout, o.Fsync = 20*time.Millisecond, "5ms" })
		started, release := c.holdSyncs(t)
		if err := l.Commit(context.Background(), Record{Kind: KindDecision}); err != nil {
			t.Fatal(err)
		}
		<-started
		eventually(t, "unhealthy", func() bool { err := l.Healthy(); return isUnavailable(err) && contains(err.Error(), "not returned") })
		release()
		eventually(t, "healthy again", func() bool { return l.Healthy() == nil })
	})
}

// A restart continues from the rotated file that ends the chain, not from
// the one whose name sorts last. Earlier versions named rotated files by
// the time of the rotation only (FILE.20261201T100000.000Z), so after the
// clock stepped back a later rotation got an earlier name. Here such files
// are left by an earlier version that rotated at 10:00, then (the clock
// stepped back an hour) at 09:00, and stopped right after that rename; the
// restart must continue after the 09:00 file's last record, or the chain
// forks. The next rotation's name sorts after the old names.
func TestRestartAfterClockStepContinuesTheChain(t *testing.T) {
	l, path, _ := openTest(t, func(o *Options) { o.RotateSize = 2048 })
	for i := 0; l.Stats().Rotations < 2; i++ {
		if i > 100 {
			t.Fatalf("no rotation after %d records", i)
		}
		if err := l.Commit(context.Background(), Record{Kind: KindDecision, RequestID: fmt.Sprint(i), Path: "/some/path"}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	// The names an earlier version gave: the clock stepped back between
	// the rotations, and the stop came right after the last rename.
	legacy := func(hour int) string {
		return path + "." + time.Date(2026, 12, 1, hour, 0, 0, 0, time.UTC).Format("20060102T150405.000Z")
	}
	rot := rotatedFiles(path)
	if len(rot) != 2 {
		t.Fatalf("rotated files %v, want 2", rot)
	}
	for i, to := range []string{legacy(10), legacy(9), legacy(9) + ".1"} {
		from := path
		if i < len(rot) {
			from = rot[i]
		}
		if err := os.Rename(from, to); err != nil {
			t.Fatal(err)
		}
	}
	byChain := []string{legacy(10), legacy(9), legacy(9) + ".1"}
	if byName := rotatedFiles(path); slices.Equal(byName, byChain) {
		t.Fatalf("rotated files %v: want names out of chain order after the clock step", byName)
	}
	end := readRecords(t, byChain[2])
	last := end[len(end)-1]

	l2, err := OpenOptions(Options{File: path, RotateSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	start := readRecords(t, path)[0]
	if start.Seq != last.Seq+1 || start.Prev != last.Hash {
		t.Errorf("the restart continues after seq %d (%q), want after seq %d, the chain's last record", start.Seq-1, start.Detail, last.Seq)
	}
	for i := 0; l2.Stats().Rotations < 1; i++ {
		if i > 100 {
			t.Fatalf("no rotation after %d records", i)
		}
		if err := l2.Commit(context.Background(), Record{Kind: KindDecision, RequestID: fmt.Sprint(i), Path: "/some/path"}); err != nil {
			t.Fatal(err)
		}
	}
	l2.Close()
	glob, _ := filepath.Glob(path + ".*")
	if len(glob) != 4 || glob[3] == legacy(10) || !slices.Contains(glob[:3], legacy(10)) {
		t.Errorf("rotated files sorted by name %v: want the new name after the old ones", glob)
	}
	mustVerify(t, nil, append(append(byChain, glob[3]), path)...)
}

// Rotated files are named so that a shell glob (sorted by name) lists them
// in chain order, however many rotations share a clock reading and after
// the clock stepped back: the glob is what operators pass to `gateway
// audit verify`. Here the clock stands still for a dozen rotations (names
// that collide), then steps back an hour for two more.
func TestRotatedNamesSortInChainOrder(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l, path, _ := openTest(t, func(o *Options) { o.RotateSize = 1024; o.Now = clock })
	commitUntil := func(rotations uint64) {
		for i := 0; l.Stats().Rotations < rotations; i++ {
			if i > 1000 {
				t.Fatalf("no rotation after %d records", i)
			}
			if err := l.Commit(context.Background(), Record{Kind: KindDecision, RequestID: fmt.Sprint(i), Path: "/some/path"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	commitUntil(12)
	mu.Lock()
	now = now.Add(-time.Hour)
	mu.Unlock()
	commitUntil(14)
	l.Close()

	byName, err := filepath.Glob(path + ".*") // sorted by name, as a shell glob is
	if err != nil {
		t.Fatal(err)
	}
	if len(byName) != 14 {
		t.Fatalf("rotated files %v: want 14", byName)
	}
	byChain := slices.Clone(byName)
	slices.SortStableFunc(byChain, func(a, b string) int { return cmp.Compare(readRecords(t, a)[0].Seq, readRecords(t, b)[0].Seq) })
	if !slices.Equal(byName, byChain) {
		t.Errorf("rotated files sorted by name:\n%s\nwant them in chain order (by first seq):\n%s",
			strings.Join(byName, "\n"), strings.Join(byChain, "\n"))
	}
	mustVerify(t, nil, append(byName, path)...)
}
