package audit

import (
	"bytes"
	"sync"
)

// recentLines is how many of the last written records a Log keeps in
// memory for Recent.
const recentLines = 4096

// recentRing keeps the last written lines (copies, reusing their buffers).
type recentRing struct {
	mu    sync.Mutex
	lines [][]byte
	next  int
	full  bool
}

// add records the lines of buf (one record per '\n'-terminated line).
func (r *recentRing) add(buf []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lines == nil {
		r.lines = make([][]byte, recentLines)
	}
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			i = len(buf) - 1
		}
		r.lines[r.next] = append(r.lines[r.next][:0], buf[:i+1]...)
		r.next++
		if r.next == len(r.lines) {
			r.next, r.full = 0, true
		}
		buf = buf[i+1:]
	}
}

func (r *recentRing) each(f func(line []byte)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.full {
		for _, l := range r.lines[r.next:] {
			f(l)
		}
	}
	for _, l := range r.lines[:r.next] {
		f(l)
	}
}

// Recent calls f with each of the last records this Log wrote (up to
// 4096), oldest first, as the JSON lines written. f must not keep the
// slice. It serves pages that summarize recent activity (break-glass review)
// when the log's sink is not a file the gateway can read back.
func (l *Log) Recent(f func(line []byte)) { l.recent.each(f) }
