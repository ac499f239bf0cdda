package redisbatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/internal/testredis"
)

// echo replies KEYS[1] and ARGV[1] joined by a space, and fails when
// ARGV[1] is "fail".
var echo = redis.NewScript(`
if ARGV[1] == 'fail' then
	return redis.error_reply('ERR asked to fail')
end
return KEYS[1] .. ' ' .. ARGV[1]
`)

// hook watches a client's script calls (not the commands go-redis sends
// to set up a connection): how many go alone and in pipelines, how many
// pipelines wait for Redis at once, the keys of each pipeline in order,
// and how many scripts go in full (EVAL). hold, when set, runs before
// each pipeline is sent; panicking makes pipelines panic.
type hook struct {
	alone, pipelines, evals atomic.Int64
	inFlight, maxInFlight   atomic.Int64
	panicking               atomic.Bool
	hold                    func()

	mu   sync.Mutex
	keys [][]string // per pipeline, the first key of each command
}

func (h *hook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isScript(cmd) {
			h.alone.Add(1)
			h.count(cmd)
		}
		return next(ctx, cmd)
	}
}

func (h *hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) == 0 || !isScript(cmds[0]) {
			return next(ctx, cmds)
		}
		n := h.inFlight.Add(1)
		defer h.inFlight.Add(-1)
		for m := h.maxInFlight.Load(); n > m && !h.maxInFlight.CompareAndSwap(m, n); m = h.maxInFlight.Load() {
		}
		h.pipelines.Add(1)
		keys := make([]string, len(cmds))
		for i, cmd := range cmds {
			h.count(cmd)
			keys[i] = fmt.Sprint(cmd.Args()[3])
		}
		h.mu.Lock()
		h.keys = append(h.keys, keys)
		h.mu.Unlock()
		if h.hold != nil {
			h.hold()
		}
		if h.panicking.Load() {
			panic("test panic")
		}
		return next(ctx, cmds)
	}
}

func isScript(cmd redis.Cmder) bool {
	return strings.EqualFold(cmd.Name(), "evalsha") || strings.EqualFold(cmd.Name(), "eval")
}

func (h *hook) count(cmd redis.Cmder) {
	if strings.EqualFold(cmd.Name(), "eval") {
		h.evals.Add(1)
	}
}

// newBatcher returns a Batcher with at most maxInFlight pipelines on a
// client of its own, with echo loaded, and the hook that watches that
// client.
func newBatcher(t *testing.T, srv *testredis.Server, maxInFlight int) (*Batcher, *hook) {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 64})
	t.Cleanup(func() { _ = client.Close() })
	if err := echo.Load(context.Background(), client).Err(); err != nil {
		t.Fatal(err)
	}
	h := new(hook)
	client.AddHook(h)
	return New(client, maxInFlight), h
}

// checkIdle fails t unless b soon has nothing queued and no pipeline in
// flight: every slot taken was given back. (A caller has its reply
// before the goroutine that sent it gives its slot back.)
func checkIdle(t *testing.T, b *Batcher) {
	t.Helper()
	var inFlight, queued int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b.mu.Lock()
		inFlight, queued = b.inFlight, len(b.queue)
		b.mu.Unlock()
		if inFlight == 0 && queued == 0 {
			return
		}
	}
	t.Errorf("after the calls: %d pipelines in flight, %d calls queued; want none", inFlight, queued)
}

// waitQueued waits until n calls are queued in b.
func waitQueued(t *testing.T, b *Batcher, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b.mu.Lock()
		queued := len(b.queue)
		b.mu.Unlock()
		if queued >= n {
			return
		}
	}
	t.Fatalf("%d calls never queued", n)
}

// gate makes the first pipeline sent wait until the returned release is
// called.
func gate(h *hook) (sent <-chan struct{}, release func()) {
	first, open := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.hold = func() {
		once.Do(func() {
			close(first)
			<-open
		})
	}
	return first, sync.OnceFunc(func() { close(open) })
}

// TestRun makes many concurrent calls: each gets its own reply, errors
// included; no more pipelines wait for Redis than allowed; and a Batcher
// below 1 sends no pipeline at all.
func TestRun(t *testing.T) {
	srv := testredis.Start(t)
	for _, tc := range []struct {
		name        string
		maxInFlight int
	}{
		{"alone", -1},
		{"alone at 0", 0},
		{"one in flight", 1},
		{"two in flight", 2},
		{"eight in flight", 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, h := newBatcher(t, srv, tc.maxInFlight)
			ctx := context.Background()
			const callers, calls = 32, 20
			var wg sync.WaitGroup
			for w := range callers {
				wg.Go(func() {
					for i := range calls {
						key, arg := "k"+strconv.Itoa(w), strconv.Itoa(i)
						if i%7 == 3 {
							arg = "fail"
						}
						got, err := b.Run(ctx, echo, []string{key}, arg).Text()
						switch {
						case arg == "fail":
							if err == nil || !strings.Contains(err.Error(), "asked to fail") {
								t.Errorf("Run(%s, fail) = %q, %v; want the script's error", key, got, err)
							}
						case err != nil || got != key+" "+arg:
							t.Errorf("Run(%s, %s) = %q, %v; want %q", key, arg, got, err, key+" "+arg)
						}
					}
				})
			}
			wg.Wait()
			checkIdle(t, b)
			if tc.maxInFlight < 1 {
				if n, a := h.pipelines.Load(), h.alone.Load(); n != 0 || a != callers*calls {
					t.Errorf("%d pipelines and %d calls alone; want every call (%d) alone", n, a, callers*calls)
				}
				return
			}
			if n := h.alone.Load(); n != 0 {
				t.Errorf("%d calls sent alone; want every call in a pipeline", n)
			}
			if m := h.maxInFlight.Load(); m > int64(tc.maxInFlight) {
				t.Errorf("%d pipelines waited for Redis at once; want at most %d", m, tc.maxInFlight)
			}
			t.Logf("%d calls in %d pipelines", callers*calls, h.pipelines.Load())
		})
	}
}

// TestQueue holds the flush policy: while the one pipeline allowed waits
// for Redis, calls queue; once it is answered, the queue goes out in
// order, in pipelines of at most maxBatch calls.
func TestQueue(t *testing.T) {
	srv := testredis.Start(t)
	b, h := newBatcher(t, srv, 1)
	ctx := context.Background()
	sent, release := gate(h)
	defer release()
	var wg sync.WaitGroup
	call := func(key string) {
		wg.Go(func() {
			if got, err := b.Run(ctx, echo, []string{key}, "x").Text(); err != nil || got != key+" x" {
				t.Errorf("Run(%s) = %q, %v", key, got, err)
			}
		})
	}
	call("first")
	<-sent
	const queued = 2*maxBatch + 44
	for i := range queued {
		call("q" + strconv.Itoa(i))
	}
	waitQueued(t, b, queued)
	b.mu.Lock()
	var order []string
	for _, c := range b.queue {
		order = append(order, c.keys[0])
	}
	b.mu.Unlock()
	release()
	wg.Wait()
	checkIdle(t, b)

	h.mu.Lock()
	defer h.mu.Unlock()
	var sizes []int
	var got []string
	for _, keys := range h.keys[1:] {
		sizes = append(sizes, len(keys))
		got = append(got, keys...)
	}
	if want := []int{maxBatch, maxBatch, 44}; fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Errorf("the queue went out in pipelines of %v calls; want %v", sizes, want)
	}
	if fmt.Sprint(got) != fmt.Sprint(order) {
		t.Errorf("the queue went out in another order than it queued")
	}
}

// TestNoScript sends scripts Redis does not have: they go again with
// EVAL, alone or in a pipeline.
func TestNoScript(t *testing.T) {
	srv := testredis.Start(t)
	for _, maxInFlight := range []int{-1, 2} {
		t.Run(fmt.Sprintf("maxInFlight=%d", maxInFlight), func(t *testing.T) {
			b, h := newBatcher(t, srv, maxInFlight)
			ctx := context.Background()
			if err := b.client.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if got, err := b.Run(ctx, echo, []string{"k"}, "v").Text(); err != nil || got != "k v" {
				t.Fatalf("Run = %q, %v; want \"k v\"", got, err)
			}
			if n := h.evals.Load(); n != 1 {
				t.Errorf("%d EVALs; want 1", n)
			}
			checkIdle(t, b)
		})
	}
}

// TestCancel ends callers' contexts: before the call, nothing is sent;
// while it is queued, the caller gets the context's error at once, the
// call still goes out, and the Batcher serves the next calls.
func TestCancel(t *testing.T) {
	srv := testredis.Start(t)
	b, h := newBatcher(t, srv, 1)
	ctx := context.Background()

	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Run(done, echo, []string{"k"}, "v").Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with an ended context: %v; want context.Canceled", err)
	}
	if n := h.alone.Load() + h.pipelines.Load(); n != 0 {
		t.Fatalf("Run with an ended context sent %d commands", n)
	}

	sent, release := gate(h)
	defer release()
	first := make(chan error, 1)
	go func() { first <- b.Run(ctx, echo, []string{"first"}, "v").Err() }()
	<-sent
	queuedCtx, cancelQueued := context.WithCancel(ctx)
	queued := make(chan error, 1)
	go func() { queued <- b.Run(queuedCtx, echo, []string{"queued"}, "v").Err() }()
	waitQueued(t, b, 1)
	cancelQueued()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run cancelled while queued: %v; want context.Canceled", err)
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got, err := b.Run(ctx, echo, []string{"after"}, "v").Text(); err != nil || got != "after v" {
		t.Fatalf("Run after a cancelled call = %q, %v", got, err)
	}
	checkIdle(t, b)
	h.mu.Lock()
	defer h.mu.Unlock()
	if fmt.Sprint(h.keys) != "[[first] [queued] [after]]" {
		t.Errorf("pipelines sent: %v; want the cancelled call's too", h.keys)
	}
}

// TestPanic makes the client panic: every call of the pipelines sent
// meanwhile gets an error, and the Batcher serves the next calls.
func TestPanic(t *testing.T) {
	srv := testredis.Start(t)
	b, h := newBatcher(t, srv, 1)
	ctx := context.Background()
	h.panicking.Store(true)
	sent, release := gate(h)
	defer release()
	const queued = 10
	errs := make(chan error, queued+1)
	run := func(key string) {
		go func() { errs <- b.Run(ctx, echo, []string{key}, "v").Err() }()
	}
	run("first")
	<-sent
	for i := range queued {
		run("q" + strconv.Itoa(i))
	}
	waitQueued(t, b, queued)
	release()
	for range queued + 1 {
		if err := <-errs; err == nil || !strings.Contains(err.Error(), "redisbatch: pipeline failed: test panic") {
			t.Errorf("a call sent while the client panics: %v; want a pipeline failure", err)
		}
	}
	checkIdle(t, b)
	h.panicking.Store(false)
	if got, err := b.Run(ctx, echo, []string{"after"}, "v").Text(); err != nil || got != "after v" {
		t.Fatalf("Run after a panic = %q, %v", got, err)
	}
}

// BenchmarkRun is the cost of one call at a time, next to
// redis.Script.Run in the same run (the baseline), and of calls from many
// goroutines at once.
func BenchmarkRun(b *testing.B) {
	srv := testredis.Start(b)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 64})
	defer client.Close()
	ctx := context.Background()
	if err := echo.Load(ctx, client).Err(); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, call func(keys []string) error) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			keys := []string{"k"}
			for pb.Next() {
				if err := call(keys); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	for _, parallel := range []int{1, 16} {
		b.Run(fmt.Sprintf("callers=%d/Script.Run", parallel), func(b *testing.B) {
			b.SetParallelism(parallel)
			run(b, func(keys []string) error { return echo.Run(ctx, client, keys, "v").Err() })
		})
		for _, maxInFlight := range []int{-1, 2} {
			bt := New(client, maxInFlight)
			b.Run(fmt.Sprintf("callers=%d/maxInFlight=%d", parallel, maxInFlight), func(b *testing.B) {
				b.SetParallelism(parallel)
				run(b, func(keys []string) error { return bt.Run(ctx, echo, keys, "v").Err() })
			})
		}
	}
}
