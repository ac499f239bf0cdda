package redisbatch

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Batcher sends script calls to Redis, together when they are
// concurrent. Make one with [New]; the zero value is not usable. It is
// safe for concurrent use.
type Batcher struct {
	client      redis.UniversalClient
	maxInFlight int // < 1: every call alone

	mu       sync.Mutex
	queue    []*call
	inFlight int // pipelines sent and not yet answered
}

// New returns a Batcher that sends calls through client with at most
// maxInFlight pipelines waiting for Redis at once. With maxInFlight below
// 1 it sends every call alone, as redis.Script.Run does, each on its own
// connection from the client's pool.
func New(client redis.UniversalClient, maxInFlight int) *Batcher {
	return &Batcher{client: client, maxInFlight: maxInFlight}
}

// maxBatch bounds the calls in one pipeline.
const maxBatch = 128

// call is one script call and, once done is signalled, its reply. Calls
// are pooled: one is reused once Run has returned its reply, never while
// a pipeline may still hold it (after its caller gave up waiting). Its
// keys and args are copies, so that the caller's slices need not escape
// to the heap; go-redis copies them again into the command it builds.
type call struct {
	script *redis.Script
	keys   []string
	args   []any

	cmd  *redis.Cmd
	done chan struct{} // buffered: signalled once per use
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func newCall(script *redis.Script, keys []string, args []any) *call {
	c := callPool.Get().(*call)
	c.script, c.keys, c.args = script, append(c.keys[:0], keys...), append(c.args[:0], args...)
	return c
}

// reply returns c's reply and puts c back in the pool.
func (c *call) reply() *redis.Cmd {
	cmd := c.cmd
	clear(c.keys)
	clear(c.args)
	c.script, c.keys, c.args, c.cmd = nil, c.keys[:0], c.args[:0], nil
	callPool.Put(c)
	return cmd
}

// Run runs script with keys and args, alone or with others, and returns
// its reply. A caller whose ctx ends first gets ctx's error; its call may
// still reach Redis.
func (b *Batcher) Run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	if b.maxInFlight < 1 {
		c := newCall(script, keys, args)
		c.cmd = script.Run(ctx, b.client, c.keys, c.args...)
		return c.reply()
	}
	if err := ctx.Err(); err != nil {
		return failed(ctx, err)
	}
	c := newCall(script, keys, args)
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
			return failed(ctx, ctx.Err())
		}
	}
	return c.reply()
}

// next hands the slot of a finished pipeline on: to a goroutine that
// sends what queued meanwhile, batch after batch while more arrives, or
// back when nothing is queued. That goroutine serves other callers, so it
// carries no caller's context.
func (b *Batcher) next() {
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
func (b *Batcher) take() []*call {
	n := min(len(b.queue), maxBatch)
	batch := make([]*call, n)
	copy(batch, b.queue)
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return batch
}

// send runs batch as one pipeline, resending with EVAL (one more round
// trip) the calls whose script Redis did not have cached, and signals
// every call. Were the client to panic, every call of the batch not yet
// signalled gets an error instead. A call signalled is its caller's
// again: send does not touch it after.
func (b *Batcher) send(ctx context.Context, batch []*call) {
	signalled := 0
	defer func() {
		if p := recover(); p != nil {
			err := fmt.Errorf("redisbatch: pipeline failed: %v", p)
			for _, c := range batch[signalled:] {
				c.cmd = failed(ctx, err)
				c.done <- struct{}{}
			}
		}
	}()
	pipe := b.client.Pipeline()
	for _, c := range batch {
		c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command holds its own error
	var retry redis.Pipeliner
	for _, c := range batch {
		if err := c.cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			if retry == nil {
				retry = b.client.Pipeline()
			}
			c.cmd = c.script.Eval(ctx, retry, c.keys, c.args...)
		}
	}
	if retry != nil {
		_, _ = retry.Exec(ctx)
	}
	for _, c := range batch {
		c.done <- struct{}{}
		signalled++
	}
}

// failed returns a reply that holds err.
func failed(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}
