package audit

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// StreamStats count the records sent to the Redis stream.
type StreamStats struct {
	Written uint64 // entries added
	Failed  uint64 // XADD attempts that failed (retried)
	Dropped uint64 // records never sent: the buffer was full, or Close came first
}

// stream sends the lines the file received to a Redis stream, in order, one
// entry per record with the fields "source" (the replica) and "line" (the
// JSON line as in the file, without its newline):
//
//	XADD <stream> MAXLEN ~ <max_len> * source <source> line <json>
//
// It is best effort and never holds the file's writer: while Redis fails it
// buffers up to the log's Buffer records (and 64 MiB of them) and retries
// with backoff.
type stream struct {
	client   redis.UniversalClient
	key      string
	maxLen   int64
	source   string
	limit    int
	retryMin time.Duration
	retryMax time.Duration
	logger   *slog.Logger
	mu       sync.Mutex
	pending  [][]byte
	// pendingBytes is the length of pending's lines, bounded by
	// bufferBytes as their number is by limit.
	pendingBytes int
	kick, quit   chan struct{}
	done         chan struct{}

	written, failed, dropped atomic.Uint64
}

func newStream(c redis.UniversalClient, o StreamOptions, limit int, retryMin, retryMax time.Duration, logger *slog.Logger) *stream {
	src := o.Source
	if src == "" {
		src, _ = os.Hostname()
	}
	s := &stream{client: c, key: o.Stream, maxLen: o.MaxLen, source: src, limit: limit,
		retryMin: retryMin, retryMax: retryMax, logger: logger,
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *stream) stats() StreamStats {
	return StreamStats{Written: s.written.Load(), Failed: s.failed.Load(), Dropped: s.dropped.Load()}
}

// send queues the lines of buf (copied: buf is the writer's) while they fit
// in the buffer, in number and bytes; the first that does not fit, and the
// lines after it, are dropped. Only the lines kept are copied, so a kept
// line never holds the dropped ones in memory.
func (s *stream) send(buf []byte) {
	s.mu.Lock()
	kept, keptBytes, end, lines := 0, 0, 0, 0
	for off := 0; off < len(buf); lines++ {
		i := bytes.IndexByte(buf[off:], '\n')
		next := off + i + 1
		if i < 0 {
			i, next = len(buf)-off, len(buf)
		}
		if kept == lines && len(s.pending)+kept < s.limit && s.pendingBytes+keptBytes+i <= bufferBytes {
			kept, keptBytes, end = kept+1, keptBytes+i, next
		}
		off = next
	}
	own := bytes.Clone(buf[:end])
	for len(own) > 0 {
		i := bytes.IndexByte(own, '\n')
		if i < 0 {
			i = len(own)
		}
		s.pending = append(s.pending, own[:i:i])
		own = own[min(i+1, len(own)):]
	}
	s.pendingBytes += keptBytes
	s.mu.Unlock()
	if lines > kept {
		s.dropped.Add(uint64(lines - kept))
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *stream) run() {
	defer close(s.done)
	backoff := time.Duration(0)
	for {
		if backoff > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.quit:
				t.Stop()
				s.flush(2 * time.Second)
				return
			}
		} else {
			select {
			case <-s.kick:
			case <-s.quit:
				s.flush(2 * time.Second)
				return
			}
		}
		if s.flush(5 * time.Second) {
			backoff = 0
		} else {
			backoff = min(max(backoff*2, s.retryMin), s.retryMax)
		}
	}
}

// flush sends what is pending; it reports whether everything went.
func (s *stream) flush(timeout time.Duration) bool {
	for {
		s.mu.Lock()
		lines := s.pending
		if len(lines) > 1000 {
			lines = lines[:1000]
		}
		s.mu.Unlock()
		if len(lines) == 0 {
			return true
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		cmds, _ := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, line := range lines {
				p.XAdd(ctx, &redis.XAddArgs{Stream: s.key, MaxLen: s.maxLen, Approx: true,
					Values: []any{"source", s.source, "line", line}})
			}
			return nil
		})
		cancel()
		sent := 0
		var err error
		for _, c := range cmds {
			if err = c.Err(); err != nil {
				break
			}
			sent++
		}
		if len(cmds) == 0 {
			err = context.DeadlineExceeded
		}
		s.mu.Lock()
		for _, line := range s.pending[:sent] {
			s.pendingBytes -= len(line)
		}
		clear(s.pending[:sent])
		s.pending = s.pending[sent:]
		if len(s.pending) == 0 {
			s.pending = nil
		}
		s.mu.Unlock()
		s.written.Add(uint64(sent))
		if err != nil {
			if s.failed.Add(1) == 1 || s.failed.Load()%100 == 0 {
				s.logger.Warn("audit: writing to the Redis stream failed; retrying", "err", err, "stream", s.key)
			}
			return false
		}
	}
}

// close sends what it can within two seconds and counts the rest dropped.
func (s *stream) close() {
	close(s.quit)
	<-s.done
	s.mu.Lock()
	s.dropped.Add(uint64(len(s.pending)))
	s.pending, s.pendingBytes = nil, 0
	s.mu.Unlock()
}
