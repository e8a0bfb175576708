package store

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"
)

// readBatcher coalesces the reads of concurrent requests into pipelines
// (automatic pipelining). A read that finds no pipeline in flight is sent at
// once, in its caller's goroutine, as it would be without batching; reads
// that arrive while one is in flight queue, and the next pipeline — one
// write, one read on one connection — carries all of them. Under load,
// Redis and the gateway then make one pair of syscalls per pipeline
// instead of per request; at low load nothing waits.
//
// Only standalone and Sentinel clients batch (a Cluster client already
// splits pipelines by node and a read's keys may span nodes).
type readBatcher struct {
	c  redis.UniversalClient
	mu sync.Mutex
	// busy is set while a pipeline is in flight; queue holds the reads
	// that arrived meanwhile.
	busy  bool
	queue []*batchedRead
}

// batchedRead is one caller's GET (one key) or MGET (several).
type batchedRead struct {
	keys []string
	get  *redis.StringCmd
	mget *redis.SliceCmd
	done chan struct{}
}

// maxBatch bounds the reads in one pipeline (and so the bytes one reply
// holds).
const maxBatch = 128

// read sends rd, alone or in a pipeline with others, and returns when its
// reply (or its error) is in. ctx bounds the wait; it never cancels a
// command that others' reads may be queued behind.
func (b *readBatcher) read(ctx context.Context, rd *batchedRead) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	if b.busy {
		rd.done = make(chan struct{})
		b.queue = append(b.queue, rd)
		b.mu.Unlock()
		select {
		case <-rd.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b.busy = true
	b.mu.Unlock()
	// Nothing in flight: this read goes now, by itself, from this goroutine.
	// Reads may queue behind it, so its caller's going away must not
	// cancel it (go-redis's own timeouts bound it).
	failed := b.send(context.WithoutCancel(ctx), []*batchedRead{rd})
	b.mu.Lock()
	if len(b.queue) == 0 || failed != nil {
		b.endTurn(failed) // unlocks
		return nil
	}
	b.mu.Unlock()
	// Reads queued behind this one: a goroutine sends them, so this
	// caller does not wait for anyone else's.
	go b.drain()
	return nil
}

// drain sends the queued reads in pipelines until none are left.
func (b *readBatcher) drain() {
	for {
		b.mu.Lock()
		n := min(len(b.queue), maxBatch)
		if n == 0 {
			b.busy = false
			b.mu.Unlock()
			return
		}
		batch := append([]*batchedRead(nil), b.queue[:n]...)
		b.queue = append(b.queue[:0], b.queue[n:]...)
		b.mu.Unlock()
		// The pipeline serves several callers: none of their contexts
		// may cancel it (go-redis's own timeouts bound it).
		failed := b.send(context.Background(), batch)
		for _, rd := range batch {
			close(rd.done)
		}
		if failed != nil {
			b.mu.Lock()
			b.endTurn(failed) // unlocks
			return
		}
	}
}

// endTurn ends the batcher's turn (b.mu held; it unlocks). With err — the
// pipeline just sent could not reach Redis — the queued reads fail with
// the same error at once instead of waiting out their own timeouts in turn
// (fail closed, and fast, while Redis is down or stalled); without, the
// queue is empty and the next read goes at once.
func (b *readBatcher) endTurn(err error) {
	queued := b.queue
	if err == nil {
		queued = nil
	} else {
		b.queue = nil
	}
	b.busy = false
	b.mu.Unlock()
	for _, rd := range queued {
		if len(rd.keys) == 1 {
			rd.get = redis.NewStringCmd(context.Background(), "get", rd.keys[0])
			rd.get.SetErr(err)
		} else {
			rd.mget = redis.NewSliceCmd(context.Background(), "mget")
			rd.mget.SetErr(err)
		}
		close(rd.done)
	}
}

// send runs the reads of batch: a lone read as one command, several as one
// pipeline. Each read's command holds its reply or error. It returns the
// error of a read that did not reach Redis or got no answer (not a missing
// key, not an error reply), or nil.
func (b *readBatcher) send(ctx context.Context, batch []*batchedRead) error {
	if len(batch) == 1 {
		rd := batch[0]
		if len(rd.keys) == 1 {
			rd.get = b.c.Get(ctx, rd.keys[0])
		} else {
			rd.mget = b.c.MGet(ctx, rd.keys...)
		}
		return unreachable(batch)
	}
	// On a failure go-redis sets the error on every command of the
	// pipeline; each caller reads its own.
	_, _ = b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, rd := range batch {
			if len(rd.keys) == 1 {
				rd.get = p.Get(ctx, rd.keys[0])
			} else {
				rd.mget = p.MGet(ctx, rd.keys...)
			}
		}
		return nil
	})
	return unreachable(batch)
}

// unreachable returns the first error of batch's commands that says Redis
// was not reached or did not answer.
func unreachable(batch []*batchedRead) error {
	for _, rd := range batch {
		var err error
		if rd.get != nil {
			err = rd.get.Err()
		} else if rd.mget != nil {
			err = rd.mget.Err()
		}
		var reply redis.Error
		if err != nil && !errors.Is(err, redis.Nil) && !errors.As(err, &reply) &&
			!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	return nil
}
