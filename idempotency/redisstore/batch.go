package redisstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// batcher sends concurrent calls to Redis together. A call that finds
// fewer than maxInFlight pipelines waiting for Redis goes out at once, in
// its caller's goroutine; otherwise it queues, and the queue goes out as
// one pipeline (one write, one read) as soon as a pipeline finishes. An
// idle store sends each call alone, with no added delay; a busy one sends
// fewer, larger writes, which is where the time goes: system calls and
// wake-ups on both sides, not Redis's work.
//
// Each call is still its own script, atomic on its own key; a pipeline is
// not a transaction, and none is needed. The scripts are idempotent per
// token, so a pipeline that go-redis resends after a network error is
// harmless.
type batcher struct {
	client      redis.UniversalClient
	maxInFlight int

	mu       sync.Mutex
	queue    []*call
	inFlight int // pipelines sent and not yet answered
}

// maxBatch bounds the calls in one pipeline.
const maxBatch = 128

// call is one script call and, once done is signalled, its reply.
type call struct {
	script *redis.Script
	keys   [1]string
	args   [2]any
	nargs  int

	n    int64
	err  error
	done chan struct{} // buffered: signalled once per use
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func newCall(script *redis.Script, key string, args ...any) *call {
	c := callPool.Get().(*call)
	c.script, c.keys[0], c.nargs = script, key, copy(c.args[:], args)
	return c
}

// run sends c, alone or with others, and returns its reply. A caller
// whose ctx ends first gets ctx's error; its call may still reach Redis.
func (b *batcher) run(ctx context.Context, c *call) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	if b.inFlight < b.maxInFlight {
		// Send what is queued now, c included, from this goroutine.
		b.inFlight++
		batch := b.take()
		b.mu.Unlock()
		// The pipeline serves other callers too: it is not cancelled
		// with this one (the client's timeouts bound it).
		b.send(context.WithoutCancel(ctx), batch)
		b.next()
	} else {
		b.mu.Unlock()
	}
	select {
	case <-c.done: // a reply, even if ctx ended meanwhile, wins
	default:
		select {
		case <-c.done:
		case <-ctx.Done():
			// c stays with the pipeline that will answer it; not reused.
			return 0, ctx.Err()
		}
	}
	n, err := c.n, c.err
	*c = call{done: c.done}
	callPool.Put(c)
	return n, err
}

// next hands the in-flight slot of a finished pipeline on: to a goroutine
// that sends what queued meanwhile, batch after batch while more arrives,
// or back when nothing is queued. That goroutine serves other callers, so
// it carries no caller's context.
func (b *batcher) next() {
	b.mu.Lock()
	if len(b.queue) == 0 {
		b.inFlight--
		b.mu.Unlock()
		return
	}
	batch := b.take()
	b.mu.Unlock()
	go func() {
		ctx := context.Background()
		for {
			b.send(ctx, batch)
			b.mu.Lock()
			if len(b.queue) == 0 {
				b.inFlight--
				b.mu.Unlock()
				return
			}
			batch = b.take()
			b.mu.Unlock()
		}
	}()
}

// take removes up to maxBatch calls from the front of the queue. b.mu is
// held.
func (b *batcher) take() []*call {
	n := min(len(b.queue), maxBatch)
	batch := make([]*call, n)
	copy(batch, b.queue)
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return batch
}

// send runs batch as one pipeline, resending with EVAL (one more round
// trip) the calls whose script Redis no longer had cached, and signals
// every call. Were the client to panic, every call of the batch gets an
// error instead, so that the batcher's state stays whole.
func (b *batcher) send(ctx context.Context, batch []*call) {
	signalled := 0
	defer func() {
		if p := recover(); p != nil {
			for _, c := range batch[signalled:] {
				c.n, c.err = 0, fmt.Errorf("redisstore: pipeline failed: %v", p)
				c.done <- struct{}{}
			}
		}
	}()
	cmds := make([]*redis.Cmd, len(batch))
	pipe := b.client.Pipeline()
	for i, c := range batch {
		cmds[i] = c.script.EvalSha(ctx, pipe, c.keys[:], c.args[:c.nargs]...)
	}
	_, _ = pipe.Exec(ctx) // each command holds its own error
	var retry redis.Pipeliner
	for i, c := range batch {
		if err := cmds[i].Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			if retry == nil {
				retry = b.client.Pipeline()
			}
			cmds[i] = c.script.Eval(ctx, retry, c.keys[:], c.args[:c.nargs]...)
		}
	}
	if retry != nil {
		_, _ = retry.Exec(ctx)
	}
	for i, c := range batch {
		c.n, c.err = cmds[i].Int64()
		c.done <- struct{}{}
		signalled++
	}
}
