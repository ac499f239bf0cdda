package redisstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// batcher sends concurrent script calls to Redis together. A call that
// finds fewer than maxInFlight pipelines waiting for Redis goes out at
// once, from its caller's goroutine; otherwise it queues, and the queue
// goes out as one pipeline (one write, one read on each side) as soon as
// a pipeline is answered. An idle store sends each call alone, with no
// added delay; a busy one sends fewer, larger writes, sparing both sides
// the system calls and wake-ups that dominate small scripts.
//
// Each call stays its own script, atomic on its own; a pipeline is not a
// transaction and none is needed. With Cluster, go-redis splits a
// pipeline by node.
type batcher struct {
	client      redis.UniversalClient
	maxInFlight int

	mu       sync.Mutex
	queue    []*call
	inFlight int
}

// maxBatch bounds the calls in one pipeline.
const maxBatch = 128

// call is one script call and, once done is closed, its reply.
type call struct {
	script *redis.Script
	keys   []string
	args   []any

	reply any
	err   error
	done  chan struct{}
}

// run sends script with keys and args, alone or with others, and returns
// its reply. A caller whose ctx ends first gets ctx's error; its call may
// still reach Redis.
func (b *batcher) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	if err := ctx.Err(); err != nil {
		cmd.SetErr(err)
		return cmd
	}
	c := &call{script: script, keys: keys, args: args, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	if b.inFlight < b.maxInFlight {
		b.inFlight++
		batch := b.take()
		b.mu.Unlock()
		// The pipeline serves other callers too: not cancelled with this
		// one (the client's timeouts bound it).
		b.send(context.WithoutCancel(ctx), batch)
		b.next()
	} else {
		b.mu.Unlock()
	}
	select {
	case <-c.done:
	default:
		select {
		case <-c.done:
		case <-ctx.Done():
			cmd.SetErr(ctx.Err())
			return cmd
		}
	}
	if c.err != nil {
		cmd.SetErr(c.err)
	} else {
		cmd.SetVal(c.reply)
	}
	return cmd
}

// next hands a finished pipeline's slot on: to a goroutine that sends
// what queued meanwhile, batch after batch, or back when nothing did.
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
		for {
			b.send(context.Background(), batch)
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

// take removes up to maxBatch calls from the queue. b.mu is held.
func (b *batcher) take() []*call {
	n := min(len(b.queue), maxBatch)
	batch := make([]*call, n)
	copy(batch, b.queue)
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return batch
}

// send runs batch as one pipeline, resending with EVAL the calls whose
// script Redis did not have, and answers every call, also if the client
// panics.
func (b *batcher) send(ctx context.Context, batch []*call) {
	answered := 0
	defer func() {
		if p := recover(); p != nil {
			for _, c := range batch[answered:] {
				c.err = fmt.Errorf("redisstore: pipeline failed: %v", p)
				close(c.done)
			}
		}
	}()
	cmds := make([]*redis.Cmd, len(batch))
	pipe := b.client.Pipeline()
	for i, c := range batch {
		cmds[i] = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command holds its own error
	var retry redis.Pipeliner
	for i, c := range batch {
		if err := cmds[i].Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			if retry == nil {
				retry = b.client.Pipeline()
			}
			cmds[i] = c.script.Eval(ctx, retry, c.keys, c.args...)
		}
	}
	if retry != nil {
		_, _ = retry.Exec(ctx)
	}
	for i, c := range batch {
		c.reply, c.err = cmds[i].Val(), cmds[i].Err()
		close(c.done)
		answered++
	}
}
