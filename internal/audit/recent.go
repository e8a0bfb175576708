package audit

import (
	"bytes"
	"sync"
)

const (
	// recentLines is how many of the last written records a Log keeps in
	// memory for Recent…
	recentLines = 4096
	// recentBytes …and how many bytes of them at most: the oldest go
	// first when a line does not fit. A record's line can be as long as a
	// request's header allows (a long path, sent by anyone), and 4096 of
	// those would hold hundreds of megabytes.
	recentBytes = 4 << 20
	// recentSlot is the largest buffer a slot keeps for reuse once its
	// line is gone; larger ones are let go.
	recentSlot = 2 << 10
)

// recentRing keeps the last written lines (copies, reusing small buffers),
// oldest at head.
type recentRing struct {
	mu    sync.Mutex
	lines [][]byte
	head  int // the oldest line kept
	n     int // lines kept
	bytes int // their total length
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
		line := buf[:i+1]
		buf = buf[i+1:]
		if len(line) > recentBytes {
			continue // never: a line is at most maxLine
		}
		for r.n > 0 && (r.n == len(r.lines) || r.bytes+len(line) > recentBytes) {
			r.release(r.head)
			r.head = (r.head + 1) % len(r.lines)
			r.n--
		}
		slot := (r.head + r.n) % len(r.lines)
		r.lines[slot] = append(r.lines[slot][:0], line...)
		r.n++
		r.bytes += len(line)
	}
}

// release forgets the line in slot, keeping its buffer only if it is small.
func (r *recentRing) release(slot int) {
	old := r.lines[slot]
	r.bytes -= len(old)
	if cap(old) > recentSlot {
		r.lines[slot] = nil
	} else {
		r.lines[slot] = old[:0]
	}
}

func (r *recentRing) each(f func(line []byte)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.n {
		f(r.lines[(r.head+i)%len(r.lines)])
	}
}

// Recent calls f with each of the last records this Log wrote (up to 4096,
// and up to 4 MiB of them), oldest first, as the JSON lines written. f must
// not keep the slice. It serves pages that summarize recent activity
// (break-glass review) when the log's sink is not a file the gateway can
// read back.
func (l *Log) Recent(f func(line []byte)) { l.recent.each(f) }
