package audit

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnavailable is wrapped by every error of Commit that means "the record
// was not written": the sink fails, or the write did not finish in time. The
// caller denies the request (503).
var ErrUnavailable = errors.New("audit: the audit log cannot be written")

// ErrClosed is returned by Commit after Close.
var ErrClosed = errors.New("audit: the audit log is closed")

// errCheckpointKind refuses records that pretend to be the log's own.
var errCheckpointKind = errors.New("audit: checkpoint records are written by the log itself")

// Log is the audit log: one writer goroutine appends hash-chained records to
// a file (or a writer) with group commit.
//
// Commit returns once its record is in the file (and on disk with fsync
// "always"); Log queues a record without waiting. While the sink fails,
// Commit fails at once, Log buffers up to Options.Buffer records, and the
// log reopens the file with backoff until a write succeeds; then it writes
// a "recovered" checkpoint that counts what the outage cost.
//
// A Log is safe for concurrent use. Close it to write the final checkpoint.
type Log struct {
	o          Options
	fsync      int
	fsyncEvery time.Duration
	logger     *slog.Logger
	now        func() time.Time
	signer     atomic.Pointer[checkpointSigner]
	stream     *stream

	mu      sync.Mutex
	queue   []entry
	waiters *batch
	queued  int // Log entries waiting (in queue and carried), bounded by Options.Buffer
	// queuedBytes is their size (recordSize), bounded by bufferBytes.
	queuedBytes int
	down        error // non-nil while the sink fails
	// recovering: the writer is trying the sink again; Commits queue for
	// the next write instead of failing at once, so that the recovered
	// checkpoint's count of refused commits is final when it is written.
	recovering bool
	closed     bool
	reopenReq  []chan error

	kick     chan struct{}
	quit     chan struct{}
	done     chan struct{}
	once     sync.Once
	closeErr error

	// recent keeps the last written lines for Recent.
	recent recentRing

	written, checkpoints, failed, dropped, writes, rotations atomic.Uint64
	lastSeq                                                  atomic.Uint64
	dropEpisode                                              atomic.Bool
	// writeSince and syncSince are when (mono) the write or fsync of the
	// writer, and the interval fsync beside it, in flight began; 0: none.
	// One in flight for longer than CommitTimeout makes Healthy fail.
	writeSince, syncSince atomic.Int64

	// Owned by the writer goroutine (and by the constructor before it).
	f        file
	path     string      // "" for a plain writer: no reopen, truncate or rotation
	info     fs.FileInfo // of the open file
	size     int64       // bytes known to be written to the open file
	seq      uint64
	prev     [64]byte // hex hash of the last record written
	buf      []byte
	spare    []entry
	carried  []entry // Log entries of failed writes, written first on recovery
	since    int     // records since the last checkpoint
	lastCP   time.Time
	lastSync time.Time
	dirty    bool
	// syncing: an interval fsync runs in its own goroutine (writes go on
	// meanwhile, so allowed requests do not wait for the disk's flush);
	// bgSync gets its result.
	syncing   bool
	bgSync    chan error
	downSince time.Time
	downCause error
	failed0   uint64 // failed and dropped when the sink went down
	dropped0  uint64
	rotateAt  time.Time // no rotation attempt before (after a failed rename)
	// linkChecked is when write last checked that the file was not
	// removed (see removedCheck); linked: the file had a link when it was
	// opened (where links are not counted, it is never taken as removed).
	linkChecked time.Time
	linked      bool
}

// removedCheck is how often, at most, a write checks that the open file
// still has a name: records written to a file removed less than this
// before may go with it, as those written just before the removal do.
const removedCheck = 10 * time.Millisecond

// entry is a queued record; commit entries have a waiter and are never
// carried over a failure (their Commit reported the failure).
type entry struct {
	r      Record
	commit bool
	size   int // recordSize of a Log entry (0 for a commit)
}

// bufferBytes bounds the memory the Log entries waiting hold (see
// recordSize), as Options.Buffer bounds their number: a record is as large
// as the request it describes (a path up to the header limit), and a
// buffer full of large ones would hold more than a gigabyte.
const bufferBytes = 64 << 20

// recordSize is about the memory r holds: its strings and a fixed part.
func recordSize(r *Record) int {
	n := 256 + len(r.Kind) + len(r.RequestID) + len(r.TraceID) + len(r.User) + len(r.Subject) + len(r.Route) +
		len(r.Host) + len(r.Method) + len(r.Path) + len(r.SourceIP) + len(r.Decision) + len(r.DeviceID) +
		len(r.Schedule) + len(r.Event) + len(r.Detail) + len(r.Transport)
	for _, v := range r.Reasons {
		n += 16 + len(v)
	}
	for _, v := range r.Grants {
		n += 16 + len(v)
	}
	for _, v := range r.MethodOverrides {
		n += 16 + len(v)
	}
	if j := r.Justification; j != nil {
		n += 128 + len(j.System) + len(j.ID) + len(j.URL) + len(j.Resource) + len(j.Outcome)
	}
	if g := r.BreakGlass; g != nil {
		n += 96 + len(g.ID) + len(g.Reason)
	}
	return n
}

// batch is the shared completion of the Commits written by one write.
type batch struct {
	done chan struct{}
	err  error
}

// Stats are the log's counters since it opened, for metrics.
type Stats struct {
	Written     uint64 // records written to the file, checkpoints included
	Checkpoints uint64 // checkpoints written
	Failed      uint64 // Commit calls that returned an error
	Dropped     uint64 // Log records not written (buffer full, or after Close); each went to the operational log
	Writes      uint64 // write calls to the file (group commit: Written/Writes records per call)
	Rotations   uint64
	Buffered    int    // Log records waiting in memory
	Seq         uint64 // the last record's sequence number
	Healthy     bool
	Stream      StreamStats // zero without a Redis stream
}

// Open returns a Log appending to path, or to stdout for "" or "-", with
// the default options.
func Open(path string, logger *slog.Logger) (*Log, error) {
	return OpenOptions(Options{File: path, Logger: logger})
}

// OpenOptions opens the log o describes. For a file, it continues the chain
// from the file's last record (or, when the file is missing or empty, from
// the file rotated away from it that ends the chain), removing an
// incomplete last line left by a crash, and writes a "start" checkpoint. It fails when the last
// record is not valid, or the file cannot be written: the gateway does not
// start without its audit log.
func OpenOptions(o Options) (*Log, error) {
	if p := o.Problems(); len(p) > 0 {
		return nil, fmt.Errorf("audit: %s", strings.Join(p, "; "))
	}
	o = o.withDefaults()
	l, err := newLog(o)
	if err != nil {
		return nil, err
	}
	detail := "new chain"
	if isStdout(o.File) {
		l.f = writerFile{w: os.Stdout}
		detail = "new chain (stdout)"
	} else {
		t, err := readTail(o.File)
		if err != nil {
			return nil, err
		}
		open := o.openFile
		if open == nil {
			open = openOSFile
		}
		f, err := open(o.File)
		if err != nil {
			return nil, fmt.Errorf("audit: open: %w", err)
		}
		if len(t.cut) > 0 {
			if err := f.Truncate(t.size); err != nil {
				f.Close()
				return nil, fmt.Errorf("audit: removing an incomplete last line: %w", err)
			}
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("audit: open: %w", err)
		}
		l.f, l.path, l.info, l.size = f, o.File, st, st.Size()
		l.linked = linked(st)
		if t.from != "" {
			l.seq = t.seq
			copy(l.prev[:], t.hash)
			detail = fmt.Sprintf("continues %s after seq %d", t.from, t.seq)
		}
		if len(t.cut) > 0 {
			detail += "; " + describeCut(t.cut)
		}
	}
	if err := l.write(nil, CheckpointStart, detail); err != nil {
		l.f.Close()
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	l.start()
	return l, nil
}

// New returns a Log writing to w, a new chain, without fsync; closer (may
// be nil) is closed by Close. A failing w is retried as a file is, without
// reopening.
func New(w io.Writer, closer io.Closer, logger *slog.Logger) *Log {
	o := Options{Logger: logger, Fsync: "never"}.withDefaults()
	l, _ := newLog(o) // no signer, no stream: cannot fail
	l.f = writerFile{w: w, c: closer}
	if err := l.write(nil, CheckpointStart, "new chain"); err != nil {
		l.fail(err, nil)
	}
	l.start()
	return l
}

func newLog(o Options) (*Log, error) {
	mode, every, _ := parseFsync(o.Fsync)
	l := &Log{o: o, fsync: mode, fsyncEvery: every, logger: o.Logger, now: o.Now,
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}), bgSync: make(chan error, 1)}
	copy(l.prev[:], zeroHash)
	if o.Signer != nil {
		s, err := newCheckpointSigner(o.Signer, o.KeyID)
		if err != nil {
			return nil, err
		}
		l.signer.Store(s)
	}
	if o.RedisStream != nil {
		if o.Redis == nil {
			return nil, errors.New("audit: redis_stream: expected a Redis client, got none (configure session.redis)")
		}
		l.stream = newStream(o.Redis, *o.RedisStream, o.Buffer, o.retryMin, o.retryMax, l.logger)
	}
	return l, nil
}

func (l *Log) start() {
	t := l.now()
	l.lastCP, l.lastSync = t, t
	go l.run()
}

// Commit writes r and returns once it is in the file — the record of an
// allowed request, written before the request is forwarded. It fills Time
// when zero. Concurrent Commits share one write.
//
// Any error means the record was not acknowledged and the request must be
// denied: while the sink fails Commit fails at once (ErrUnavailable), and a
// write that takes longer than Options.CommitTimeout or outlives ctx fails
// too (the record may still be written later; the response record then says
// what the client got).
func (l *Log) Commit(ctx context.Context, r Record) error {
	if r.Kind == KindCheckpoint {
		l.failed.Add(1)
		return errCheckpointKind
	}
	if r.Time.IsZero() {
		r.Time = l.now()
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.failed.Add(1)
		return ErrClosed
	}
	if err := l.down; err != nil && !l.recovering {
		l.mu.Unlock()
		l.failed.Add(1)
		return err
	}
	b := l.waiters
	if b == nil {
		b = &batch{done: make(chan struct{})}
		l.waiters = b
	}
	l.queue = append(l.queue, entry{r: r, commit: true})
	l.mu.Unlock()
	l.wake()

	t := getTimer(l.o.CommitTimeout)
	defer putTimer(t)
	select {
	case <-b.done:
		if b.err != nil {
			l.failed.Add(1)
		}
		return b.err
	case <-ctx.Done():
		l.failed.Add(1)
		return fmt.Errorf("%w: waiting for the write: %w", ErrUnavailable, ctx.Err())
	case <-t.C:
		l.failed.Add(1)
		return fmt.Errorf("%w: the write took longer than %s", ErrUnavailable, l.o.CommitTimeout)
	}
}

// timers are the Commit timeouts not in use: one timer per waiting Commit
// instead of one allocation per Commit.
var timers sync.Pool

func getTimer(d time.Duration) *time.Timer {
	if t, ok := timers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

// putTimer stops t and keeps it for reuse (since Go 1.23 a stopped timer's
// channel holds no stale value, so Reset starts it clean).
func putTimer(t *time.Timer) {
	t.Stop()
	timers.Put(t)
}

// Log queues r without waiting: for records that need not hold a request
// (responses, events). It fills Time when zero. It never loses a record
// silently: when Options.Buffer records, or 64 MiB of them, already wait
// (the sink fails), or after Close, r goes to the operational log at error
// level and is counted as dropped.
func (l *Log) Log(r Record) {
	if r.Time.IsZero() {
		r.Time = l.now()
	}
	if r.Kind == KindCheckpoint {
		l.drop(r, errCheckpointKind.Error())
		return
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.drop(r, "audit: record after the audit log closed")
		return
	}
	size := recordSize(&r)
	if l.queued >= l.o.Buffer || l.queuedBytes+size > l.o.bufferBytes {
		l.mu.Unlock()
		if !l.dropEpisode.Swap(true) {
			l.logger.Error("audit: buffer full, dropping records to the operational log", "buffer", l.o.Buffer)
		}
		l.drop(r, "audit: record dropped")
		return
	}
	l.queue = append(l.queue, entry{r: r, size: size})
	l.queued++
	l.queuedBytes += size
	l.mu.Unlock()
	l.wake()
}

func (l *Log) drop(r Record, msg string) {
	l.dropped.Add(1)
	l.logger.Error(msg, "record", r)
}

func (l *Log) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Healthy returns nil while records can be written, the sink's error (it
// wraps ErrUnavailable) while it fails, and ErrClosed after Close: for
// /readyz.
//
// A write or fsync that has not returned for longer than CommitTimeout (a
// hung disk, a stalled network mount) fails it too: every allowed request
// waits for it and is refused.
func (l *Log) Healthy() error {
	l.mu.Lock()
	closed, down := l.closed, l.down
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if down != nil {
		return down
	}
	return l.stalled()
}

// stalled returns an error wrapping ErrUnavailable while a write or an
// fsync of the file has been in flight for longer than CommitTimeout.
func (l *Log) stalled() error {
	now := mono()
	if s := l.writeSince.Load(); s != 0 && time.Duration(now-s) > l.o.CommitTimeout {
		return fmt.Errorf("%w: a write to the audit file has not returned for %s", ErrUnavailable, time.Duration(now-s).Round(time.Millisecond))
	}
	if s := l.syncSince.Load(); s != 0 && time.Duration(now-s) > l.o.CommitTimeout {
		return fmt.Errorf("%w: an fsync of the audit file has not returned for %s", ErrUnavailable, time.Duration(now-s).Round(time.Millisecond))
	}
	return nil
}

// monoEpoch and mono are a clock for durations: nanoseconds on the
// monotonic clock (never 0 once the process runs), unaffected by steps of
// the wall clock and by Options.Now.
var monoEpoch = time.Now()

func mono() int64 { return int64(time.Since(monoEpoch)) + 1 }

// Stats returns the counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	buffered, healthy := l.queued, l.down == nil && !l.closed
	l.mu.Unlock()
	healthy = healthy && l.stalled() == nil
	s := Stats{
		Written: l.written.Load(), Checkpoints: l.checkpoints.Load(), Failed: l.failed.Load(),
		Dropped: l.dropped.Load(), Writes: l.writes.Load(), Rotations: l.rotations.Load(),
		Buffered: buffered, Seq: l.lastSeq.Load(), Healthy: healthy,
	}
	if l.stream != nil {
		s.Stream = l.stream.stats()
	}
	return s
}

// SetSigner changes the key that signs checkpoints from the next one on:
// after the context token's active key rotated (a reload). kid empty means
// the key's RFC 7638 thumbprint; a nil key writes unsigned checkpoints.
func (l *Log) SetSigner(key crypto.Signer, kid string) error {
	if key == nil {
		l.signer.Store(nil)
		return nil
	}
	s, err := newCheckpointSigner(key, kid)
	if err != nil {
		return err
	}
	l.signer.Store(s)
	return nil
}

// Reopen closes the file and opens its path again, continuing the chain:
// for logrotate's rename-then-signal rotation. It writes a "reopen"
// checkpoint into the old file first. A plain writer is left as it is.
func (l *Log) Reopen() error {
	ch := make(chan error, 1)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.reopenReq = append(l.reopenReq, ch)
	l.mu.Unlock()
	l.wake()
	select {
	case err := <-ch:
		return err
	case <-l.done:
		return ErrClosed
	}
}

// Close writes every queued record and a "close" checkpoint, syncs and
// closes the file. Records it cannot write go to the operational log.
func (l *Log) Close() error {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		close(l.quit)
		<-l.done
		if l.stream != nil {
			l.stream.close()
		}
	})
	return l.closeErr
}

// run is the writer goroutine.
func (l *Log) run() {
	defer close(l.done)
	var tick <-chan time.Time
	period := l.o.CheckpointInterval
	if l.fsync == fsyncInterval && l.fsyncEvery < period {
		period = l.fsyncEvery
	}
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	tick = ticker.C
	backoff := l.o.retryMin
	var retry *time.Timer
	for {
		if l.downCause != nil {
			if retry == nil {
				retry = time.NewTimer(backoff)
			}
			select {
			case <-retry.C:
			case <-l.kick:
				l.mu.Lock()
				now := len(l.reopenReq) > 0
				l.mu.Unlock()
				if !now {
					continue
				}
				retry.Stop()
			case <-l.quit:
				retry.Stop()
				l.finish()
				return
			}
			retry = nil
			if l.recover() {
				backoff = l.o.retryMin
			} else {
				backoff = min(backoff*2, l.o.retryMax)
			}
			continue
		}
		select {
		case <-l.kick:
		case <-tick:
		case err := <-l.bgSync:
			l.synced(err)
			continue
		case <-l.quit:
			l.finish()
			return
		}
		l.cycle()
	}
}

// take empties the queue.
func (l *Log) take() ([]entry, *batch, []chan error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q, b, re := l.queue, l.waiters, l.reopenReq
	l.queue, l.waiters, l.reopenReq = l.spare[:0], nil, nil
	return q, b, re
}

// settle returns the queue's slice for reuse once its records are written
// or carried.
func (l *Log) settle(q []entry) {
	clear(q)
	if cap(q) <= 1<<16 {
		l.spare = q[:0]
	} else {
		l.spare = nil
	}
}

// cycle writes everything queued in one write, with a checkpoint when
// CheckpointInterval has passed since the last one (write itself puts one
// after every CheckpointEvery records), then syncs, rotates or reopens as
// needed.
func (l *Log) cycle() {
	// Let callers that are about to queue do so: one more record in this
	// write is one write call less (it costs nothing when no one is
	// runnable).
	runtime.Gosched()
	q, b, reopen := l.take()
	now := l.now()
	cp := ""
	if l.since+len(q) > 0 && now.Sub(l.lastCP) >= l.o.CheckpointInterval {
		cp = CheckpointInterval
	}
	var err error
	if len(q) > 0 || cp != "" {
		if err = l.write(q, cp, ""); err != nil {
			err = l.fail(err, q)
		} else {
			l.unqueue(q)
			if l.fsync == fsyncAlways {
				if serr := l.sync(); serr != nil {
					err = l.fail(serr, nil) // written, not durable: not carried again
				}
			}
		}
	}
	b.complete(err)
	l.settle(q)
	if err != nil {
		answer(reopen, err)
		return
	}
	if l.fsync == fsyncInterval && l.dirty && !l.syncing && now.Sub(l.lastSync) >= l.fsyncEvery {
		l.startSync(now)
	}
	if len(reopen) > 0 {
		answer(reopen, l.reopen(CheckpointReopen, "", ""))
		return
	}
	if l.o.RotateSize > 0 && l.size >= int64(l.o.RotateSize) && !now.Before(l.rotateAt) {
		l.rotate(now)
	}
}

func answer(chs []chan error, err error) {
	for _, ch := range chs {
		ch <- err
	}
}

func (b *batch) complete(err error) {
	if b != nil {
		b.err = err
		close(b.done)
	}
}

// unqueue releases the buffer slots of q's Log entries once written.
func (l *Log) unqueue(q []entry) {
	n, size := 0, 0
	for i := range q {
		if !q[i].commit {
			n++
			size += q[i].size
		}
	}
	if n > 0 {
		l.mu.Lock()
		l.queued -= n
		l.queuedBytes -= size
		l.mu.Unlock()
	}
}

// write encodes q, then a checkpoint if cp names its event, and writes them
// with one write call. Whenever CheckpointEvery records follow the last
// checkpoint, an "interval" checkpoint goes right after them, in the middle
// of q if need be: however many records one write carries (group commit,
// the records buffered through an outage), no more than CheckpointEvery are
// ever written without a checkpoint after them — the bound every checkpoint
// states (see appendCheckpoint) and `gateway audit verify` holds the file
// to. On error the chain, the count since the last checkpoint and the
// counters are as they were before.
func (l *Log) write(q []entry, cp, detail string) error {
	return l.writeLate(q, cp, func() string { return detail })
}

// writeLate is write with cp's detail asked for once q is encoded, just
// before the checkpoint is: what it counts (the recovered checkpoint's
// drops) goes on while q is encoded and signed.
func (l *Log) writeLate(q []entry, cp string, detail func() string) error {
	buf := l.buf[:0]
	seq0, prev0 := l.seq, l.prev
	since, cps := l.since, 0
	for i := range q {
		buf = l.appendChained(buf, &q[i].r, false)
		since++
		if since < l.o.CheckpointEvery || (i == len(q)-1 && cp != "") {
			continue // the bound is not reached, or cp follows at once
		}
		var err error
		if buf, err = l.appendCheckpoint(buf, CheckpointInterval, ""); err != nil {
			l.seq, l.prev = seq0, prev0
			return err
		}
		since, cps = 0, cps+1
	}
	if cp != "" {
		var err error
		if buf, err = l.appendCheckpoint(buf, cp, detail()); err != nil {
			l.seq, l.prev = seq0, prev0
			return err
		}
		since, cps = 0, cps+1
	}
	if l.path != "" && l.linked {
		// Written to a removed file, the records would vanish with the
		// process (and a restart would continue the chain from the
		// rotated files as if nothing were missing): fail, and recovery
		// starts the file again at its path, where the chain continues
		// after a gap. One fstat per removedCheck at most, not per write.
		if t := time.Now(); t.Sub(l.linkChecked) >= removedCheck {
			l.linkChecked = t
			if removed(l.f) {
				l.seq, l.prev = seq0, prev0
				return errRemoved
			}
		}
	}
	l.writeSince.Store(mono())
	n, err := l.f.Write(buf)
	l.writeSince.Store(0)
	l.writes.Add(1)
	if cap(buf) <= 4<<20 {
		l.buf = buf[:0]
	}
	if err != nil {
		l.seq, l.prev = seq0, prev0
		if n > 0 && l.path != "" {
			// Cut the partial write off now, while this descriptor still
			// names the file; reopenSame checks again.
			_ = l.f.Truncate(l.size)
		}
		return fmt.Errorf("write: %w", err)
	}
	l.size += int64(n)
	l.dirty = true
	records := uint64(l.seq - seq0)
	l.written.Add(records)
	l.lastSeq.Store(l.seq)
	l.since = since
	if cps > 0 {
		l.checkpoints.Add(uint64(cps))
		l.lastCP = l.now()
	}
	if l.stream != nil {
		l.stream.send(buf[:n])
	}
	l.recent.add(buf[:n])
	return nil
}

// appendChained appends r as the next record of the chain. The caller's
// Seq, Prev, Hash and Sig are ignored.
func (l *Log) appendChained(buf []byte, r *Record, open bool) []byte {
	start, prev := len(buf), l.prev
	buf = l.appendChainedOnce(buf, r, open)
	if len(buf)-start > maxRecord {
		// Never write a line the verifier and the next start refuse.
		l.seq--
		l.prev = prev
		c := clampRecord(r, len(buf)-start)
		buf = l.appendChainedOnce(buf[:start], &c, open)
	}
	return buf
}

func (l *Log) appendChainedOnce(buf []byte, r *Record, open bool) []byte {
	l.seq++
	start := len(buf)
	buf = appendHead(buf, l.seq)
	buf = append(buf, '"')
	buf = append(buf, l.prev[:]...)
	buf = append(buf, '"')
	buf = appendFields(buf, r)
	hashLine(&l.prev, buf[start:])
	buf = append(buf, `,"hash":"`...)
	buf = append(buf, l.prev[:]...)
	buf = append(buf, '"')
	if open {
		return buf
	}
	return append(buf, '}', '\n')
}

// appendCheckpoint appends the next record as a checkpoint of event ev,
// signed when the log has a key. Its detail ends with the bound
// ("checkpoint_every N", see withBound): the most records the log writes
// after it before the next checkpoint. It is stated whether or not the log
// signs (a key may come later, by SetSigner), and only a signed statement
// counts for the verifier.
func (l *Log) appendCheckpoint(buf []byte, ev, detail string) ([]byte, error) {
	r := Record{Time: l.now(), Kind: KindCheckpoint, Event: ev, Detail: withBound(detail, l.o.CheckpointEvery)}
	buf = l.appendChained(buf, &r, true)
	sig := ""
	if s := l.signer.Load(); s != nil {
		var err error
		if sig, err = s.sign(l.seq, l.prev[:]); err != nil {
			return nil, err
		}
	}
	return appendEnd(buf, sig), nil
}

// sync flushes the file to disk and returns when it is (after an interval
// fsync in flight, if any).
func (l *Log) sync() error {
	if err := l.awaitSync(); err != nil {
		return err
	}
	l.writeSince.Store(mono())
	err := l.f.Sync()
	l.writeSince.Store(0)
	if err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	l.dirty, l.lastSync = false, l.now()
	return nil
}

// startSync starts an interval fsync of the current file in its own
// goroutine: the fsync can take milliseconds (more on network disks), and
// the writer goes on writing — and completing Commits — meanwhile. Records
// written from now on are covered by the next one.
func (l *Log) startSync(now time.Time) {
	l.syncing, l.dirty, l.lastSync = true, false, now
	f := l.f
	l.syncSince.Store(mono())
	go func() {
		err := f.Sync()
		l.syncSince.Store(0)
		l.bgSync <- err
	}()
}

// synced takes the result of an interval fsync: a failure marks the sink
// down, as a failed write does (what was written may not be on disk).
func (l *Log) synced(err error) {
	l.syncing = false
	if err != nil {
		l.fail(fmt.Errorf("fsync: %w", err), nil)
	}
}

// awaitSync waits for the interval fsync in flight, if any, and returns its
// failure (the sink is then down). The writer calls it before it syncs,
// closes or replaces the file.
func (l *Log) awaitSync() error {
	if !l.syncing {
		return nil
	}
	err := <-l.bgSync
	l.synced(err)
	if err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	return nil
}

// fail marks the sink down: Commits fail at once from now on, q's Log
// entries are carried to the next attempt. It returns the error Commit
// callers get.
func (l *Log) fail(cause error, q []entry) error {
	for i := range q {
		if !q[i].commit {
			l.carried = append(l.carried, q[i])
		}
	}
	now := l.now()
	if l.downCause == nil {
		l.downSince = now
		l.failed0, l.dropped0 = l.failed.Load(), l.dropped.Load()
		l.logger.Error("audit: the audit log cannot be written; refusing allowed requests until it recovers",
			"err", cause, "file", l.path)
	}
	l.downCause = cause
	err := fmt.Errorf("%w since %s: %w", ErrUnavailable, l.downSince.UTC().Format(time.RFC3339), cause)
	l.mu.Lock()
	l.down = err
	l.mu.Unlock()
	return err
}

// recover reopens the file (dropping the bytes of a partial write) and
// writes the carried records, what was queued, and a "recovered"
// checkpoint. It reports whether the sink works again.
func (l *Log) recover() bool {
	// From here on Commits queue (see recovering): a commit either was
	// refused before, or waits for this attempt's outcome. Log records may
	// still be dropped while the buffer is full (the carried records count
	// in it), so the counts are taken last, just before the checkpoint
	// that states them is encoded.
	l.mu.Lock()
	l.recovering = true
	l.mu.Unlock()
	q, b, reopen := l.take()
	all := append(l.carried, q...)
	l.carried = nil
	err := l.reopenSame()
	if err == nil {
		err = l.writeLate(all, CheckpointRecovered, func() string {
			failed, dropped := l.failed.Load()-l.failed0, l.dropped.Load()-l.dropped0
			return fmt.Sprintf("the audit log could not be written from %s to %s (%v): %d commits refused, %d records dropped",
				l.downSince.UTC().Format(time.RFC3339Nano), l.now().UTC().Format(time.RFC3339Nano), l.downCause,
				failed, dropped)
		})
	}
	if err != nil {
		err = l.fail(err, all)
		b.complete(err)
		l.settle(q)
		answer(reopen, err)
		l.endRecovery(err)
		return false
	}
	l.unqueue(all)
	l.settle(q)
	if err := l.sync(); err != nil {
		err = l.fail(err, nil) // written, not durable: not carried again
		b.complete(err)
		answer(reopen, err)
		l.endRecovery(err)
		return false
	}
	l.logger.Warn("audit: the audit log works again", "file", l.path, "down_since", l.downSince,
		"commits_refused", l.failed.Load()-l.failed0, "records_dropped", l.dropped.Load()-l.dropped0)
	l.downCause = nil
	l.dropEpisode.Store(false)
	l.mu.Lock()
	l.down, l.recovering = nil, false
	l.mu.Unlock()
	b.complete(nil)
	answer(reopen, nil)
	// Commits that queued during the attempt go in the next write.
	l.wake()
	return true
}

// endRecovery ends a failed attempt: Commits fail at once again, and those
// that queued during it fail with err (they count for the next recovered
// checkpoint); the Log records among them are carried.
func (l *Log) endRecovery(err error) {
	l.mu.Lock()
	l.recovering = false
	l.mu.Unlock()
	q, b, reopen := l.take()
	for i := range q {
		if !q[i].commit {
			l.carried = append(l.carried, q[i])
		}
	}
	b.complete(err)
	answer(reopen, err)
	l.settle(q)
}

// reopenSame opens the path again after a failure. When it is still the
// same file, bytes beyond the last good write (a partial write) are
// removed; a different file (moved away meanwhile) is continued as it is.
func (l *Log) reopenSame() error {
	if l.path == "" {
		return nil
	}
	_ = l.awaitSync() // the sink is down already; the file is replaced
	_ = l.f.Close()
	f, st, err := l.openPath()
	if err != nil {
		l.f = closedFile{}
		return err
	}
	switch {
	case l.info != nil && os.SameFile(st, l.info) && st.Size() > l.size:
		if err := f.Truncate(l.size); err != nil {
			f.Close()
			l.f = closedFile{}
			return fmt.Errorf("removing a partial write: %w", err)
		}
	case l.info != nil && os.SameFile(st, l.info) && st.Size() < l.size:
		l.logger.Error("audit: the audit file shrank while it was open (truncated by something else?)",
			"file", l.path, "expected_bytes", l.size, "got_bytes", st.Size())
		l.size = st.Size()
	default:
		l.size = st.Size()
	}
	l.f, l.info = f, st
	l.linked = linked(st)
	return nil
}

func (l *Log) openPath() (file, fs.FileInfo, error) {
	open := l.o.openFile
	if open == nil {
		open = openOSFile
	}
	f, err := open(l.path)
	if err != nil {
		return nil, nil, fmt.Errorf("open: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("stat: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("open: expected a regular file, got %s", st.Mode().Type())
	}
	return f, st, nil
}

// reopen closes the current file with a checkpoint of event ev and opens
// the path again (after renaming the old file to renameTo, if set).
func (l *Log) reopen(ev, detail, renameTo string) error {
	if l.path == "" {
		return nil
	}
	if err := l.write(nil, ev, detail); err != nil {
		return l.fail(err, nil)
	}
	if err := l.sync(); err != nil {
		return l.fail(err, nil)
	}
	if renameTo != "" {
		if err := os.Rename(l.path, renameTo); err != nil {
			l.rotateAt = l.now().Add(time.Minute)
			l.logger.Error("audit: rotating the audit file failed; trying again in a minute", "err", err, "file", l.path)
			return nil
		}
		l.rotations.Add(1)
	}
	_ = l.f.Close()
	f, st, err := l.openPath()
	if err != nil {
		l.f = closedFile{}
		return l.fail(err, nil)
	}
	l.f, l.info, l.size = f, st, st.Size()
	l.linked = linked(st)
	return nil
}

func (l *Log) rotate(now time.Time) {
	to := rotatedName(l.path, l.firstSeq(), now)
	_ = l.reopen(CheckpointRotate, fmt.Sprintf("this file becomes %s; the chain continues in %s", to, l.path), to)
}

// firstSeq returns the seq of the first record in the open file, which
// names it when it is rotated: read from the file's first line, or, when
// that cannot be read (the path names another file now, or the line was
// changed), the seq of the rotate checkpoint about to end it. Any seq of
// the file's records keeps the rotated names in chain order: each file
// holds the records after those of the files rotated before it.
func (l *Log) firstSeq() uint64 {
	if f, err := os.Open(l.path); err == nil {
		defer f.Close()
		st, err := f.Stat()
		if seq, ok := headSeq(f); err == nil && ok && l.info != nil && os.SameFile(st, l.info) && seq <= l.seq {
			return seq
		}
	}
	return l.seq + 1
}

// finish is Close in the writer: write what is queued and the final
// checkpoint, sync, close. What cannot be written goes to the operational
// log.
func (l *Log) finish() {
	q, b, reopen := l.take()
	answer(reopen, ErrClosed)
	all := append(l.carried, q...)
	l.carried = nil
	var err error
	if l.downCause != nil {
		err = l.reopenSame()
	}
	if err == nil {
		detail := ""
		if l.downCause != nil {
			detail = fmt.Sprintf("the audit log could not be written from %s to close (%v): %d commits refused, %d records dropped",
				l.downSince.UTC().Format(time.RFC3339Nano), l.downCause, l.failed.Load()-l.failed0, l.dropped.Load()-l.dropped0)
		}
		l.linkChecked = time.Time{} // check now, whenever the last write was
		err = l.write(all, CheckpointClose, detail)
		if errors.Is(err, errRemoved) {
			// Removed since the last write: write to a new file at the
			// path instead, as recovery would.
			if err = l.reopenSame(); err == nil {
				d := errRemoved.Error()
				if detail != "" {
					d += "; " + detail
				}
				err = l.write(all, CheckpointClose, d)
			}
		}
	}
	if err == nil {
		err = l.sync()
	}
	b.complete(err)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		for _, e := range all {
			if !e.commit {
				l.drop(e.r, "audit: record not written at close")
			}
		}
	}
	if serr := l.awaitSync(); err == nil && serr != nil {
		err = fmt.Errorf("%w: %w", ErrUnavailable, serr)
	}
	if cerr := l.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("audit: close: %w", cerr)
	}
	l.closeErr = err
}

// errRemoved fails a write to an audit file that was removed while open.
var errRemoved = errors.New("the audit file was removed while open (what it held is gone; the chain continues in a new file at its path)")

// closedFile stands in for a file that could not be reopened.
type closedFile struct{}

var errNotOpen = errors.New("the audit file is not open")

func (closedFile) Write([]byte) (int, error)  { return 0, errNotOpen }
func (closedFile) Sync() error                { return errNotOpen }
func (closedFile) Close() error               { return nil }
func (closedFile) Stat() (fs.FileInfo, error) { return nil, errNotOpen }
func (closedFile) Truncate(int64) error       { return errNotOpen }
