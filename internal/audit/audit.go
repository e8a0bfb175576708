// Package audit writes one JSON record per decision (and per device event)
// through a single writer goroutine, so that records are never interleaved
// and a hash chain can be added in one place.
//
// Records never carry tokens, cookies or secrets: Record has no field for
// them. Log never drops a record; when the queue is full it blocks.
package audit

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Record is one audit entry.
type Record struct {
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"` // decision | device | session
	RequestID string    `json:"request_id,omitempty"`
	User      string    `json:"user,omitempty"`
	Subject   string    `json:"sub,omitempty"`
	Route     string    `json:"route,omitempty"`
	Host      string    `json:"host,omitempty"`
	Method    string    `json:"method,omitempty"`
	Path      string    `json:"path,omitempty"`
	SourceIP  string    `json:"source_ip,omitempty"`
	Decision  string    `json:"decision,omitempty"` // allow | deny
	Reasons   []string  `json:"reasons,omitempty"`
	Status    int       `json:"status,omitempty"`
	DeviceID  string    `json:"device_id,omitempty"`
	Event     string    `json:"event,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// Log is the audit writer.
type Log struct {
	ch     chan Record
	done   chan struct{}
	closer io.Closer
	logger *slog.Logger
	once   sync.Once
	// mu guards closed: Log holds it shared while queueing, Close exclusively.
	mu     sync.RWMutex
	closed bool
}

// Open returns a Log appending to path, or to stdout for "" or "-".
func Open(path string, logger *slog.Logger) (*Log, error) {
	if path == "" || path == "-" {
		return New(os.Stdout, nil, logger), nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	return New(f, f, logger), nil
}

// New returns a Log writing to w; closer (may be nil) is closed by Close.
func New(w io.Writer, closer io.Closer, logger *slog.Logger) *Log {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{ch: make(chan Record, 4096), done: make(chan struct{}), closer: closer, logger: logger}
	go l.run(w)
	return l
}

// Log queues r. It fills Time when zero. After Close (a request that
// outlived shutdown, such as a WebSocket) the record goes to the operational
// log instead, so it is never silently lost.
func (l *Log) Log(r Record) {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.logger.Error("audit: record after the audit log closed", "record", r)
		return
	}
	l.ch <- r
}

func (l *Log) run(w io.Writer) {
	defer close(l.done)
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	for r := range l.ch {
		line = appendRecord(line[:0], &r)
		if _, err := bw.Write(line); err != nil {
			l.logger.Error("audit: write failed", "err", err)
		}
		if len(l.ch) == 0 {
			if err := bw.Flush(); err != nil {
				l.logger.Error("audit: flush failed", "err", err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		l.logger.Error("audit: flush failed", "err", err)
	}
}

// Close writes every queued record and closes the file.
func (l *Log) Close() error {
	var err error
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		close(l.ch)
		l.mu.Unlock()
		<-l.done
		if l.closer != nil {
			err = l.closer.Close()
		}
	})
	return err
}
