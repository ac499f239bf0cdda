package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/boltstore"
	"github.com/hookgate/hookgate/delivery/deliverytest"
)

// rig is an Engine on a fake clock and a fresh bbolt store, with every
// notice recorded.
type rig struct {
	t     *testing.T
	e     *delivery.Engine
	store *boltstore.Store
	clock *deliverytest.Clock
	notes chan delivery.Notice
	stop  func()
}

// newRig returns a rig for cfg (Store, Clock, Observer and Rand are
// filled in when nil: Rand returns 1, the full backoff).
func newRig(t *testing.T, cfg delivery.Config) *rig {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "d.db"), boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	r := &rig{t: t, store: s, clock: deliverytest.NewClock(deliverytest.T0), notes: make(chan delivery.Notice, 10000)}
	if cfg.Store == nil {
		cfg.Store = s
	}
	cfg.Clock = r.clock
	if cfg.Observer == nil {
		cfg.Observer = delivery.ObserverFunc(func(n delivery.Notice) { r.notes <- n })
	}
	if cfg.Rand == nil {
		cfg.Rand = func() float64 { return 1 }
	}
	if cfg.Attempt == nil {
		cfg.Attempt = func(context.Context, *delivery.Task) delivery.Result {
			return delivery.Result{Delivered: true, StatusCode: 200}
		}
	}
	if len(cfg.Destinations) == 0 {
		cfg.Destinations = []delivery.Destination{{Source: "github", Name: "app"}}
	}
	r.e, err = delivery.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// run starts the engine; it stops when the test ends.
func (r *rig) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.e.Run(ctx); close(done) }()
	r.stop = func() {
		cancel()
		// Run's drain waits on the fake clock: move it along.
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
				r.clock.Advance(time.Second)
			}
		}
	}
	r.t.Cleanup(func() {
		if r.stop != nil {
			r.stop()
		}
	})
}

// await returns the next notice of kind, advancing the fake clock by
// step while it waits (0: not at all). Other notices are dropped.
func (r *rig) await(kind delivery.NoticeKind, step time.Duration) delivery.Notice {
	r.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case n := <-r.notes:
			if n.Kind == kind {
				return n
			}
			if n.Kind == delivery.NoticeError {
				r.t.Logf("store error: %s: %v", n.Op, n.Err)
			}
		case <-time.After(2 * time.Millisecond):
			if step > 0 {
				r.clock.Advance(step)
			}
		case <-deadline:
			r.t.Fatalf("no %v notice within 20s", kind)
		}
	}
}

// quiet checks that no notice of kind comes within d of real time.
func (r *rig) quiet(kind delivery.NoticeKind, d time.Duration) {
	r.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case n := <-r.notes:
			if n.Kind == kind {
				r.t.Fatalf("unexpected %v notice: %+v", kind, n)
			}
		case <-deadline:
			return
		}
	}
}

// flush waits for the store's lazy writes.
func (r *rig) flush() {
	r.t.Helper()
	if err := r.store.Flush(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) enqueue(id string, to ...string) *delivery.Event {
	r.t.Helper()
	ev := &delivery.Event{Source: "github", ID: id, Type: "push", Header: http.Header{"X-Github-Event": {"push"}}, Body: []byte(`{"n":1}`)}
	if err := r.e.Enqueue(context.Background(), ev, to...); err != nil {
		r.t.Fatalf("Enqueue(%s): %v", id, err)
	}
	return ev
}

func (r *rig) get(id string) *delivery.Event {
	r.t.Helper()
	r.flush()
	ev, err := r.store.Get(context.Background(), "github", id)
	if err != nil {
		r.t.Fatalf("Get(%s): %v", id, err)
	}
	return ev
}

func TestEngineDelivers(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	r := newRig(t, delivery.Config{
		Destinations: []delivery.Destination{{Source: "github", Name: "app"}, {Source: "github", Name: "audit"}},
		Attempt: func(ctx context.Context, tk *delivery.Task) delivery.Result {
			mu.Lock()
			got[tk.Delivery.Destination+"/"+tk.Event.ID] = fmt.Sprintf("attempt %d %s %s", tk.Attempt, tk.Event.Header.Get("X-Github-Event"), tk.Event.Body)
			mu.Unlock()
			return delivery.Result{Delivered: true, StatusCode: 204}
		},
	})
	r.run()
	r.enqueue("d1")
	r.enqueue("d2", "audit")
	for range 3 {
		n := r.await(delivery.NoticeDelivered, 0)
		if n.Queue.Source != "github" || n.Attempt.StatusCode != 204 || n.Number != 1 || n.Live {
			t.Fatalf("delivered notice: %+v", n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]string{
		"app/d1":   `attempt 1 push {"n":1}`,
		"audit/d1": `attempt 1 push {"n":1}`,
		"audit/d2": `attempt 1 push {"n":1}`,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("attempts: %v", got)
	}
}

func TestEngineEnqueue(t *testing.T) {
	r := newRig(t, delivery.Config{})
	ev := &delivery.Event{Source: "github"}
	if err := r.e.Enqueue(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ev.ID, "hg_") || !ev.ReceivedAt.Equal(deliverytest.T0) || ev.Seq == 0 {
		t.Fatalf("Enqueue filled in id %q, received %v, seq %d", ev.ID, ev.ReceivedAt, ev.Seq)
	}
	if err := r.e.Enqueue(context.Background(), &delivery.Event{Source: "github", ID: ev.ID}); !errors.Is(err, delivery.ErrExists) {
		t.Fatalf("second Enqueue: got %v, want ErrExists", err)
	}
	for _, tt := range []struct {
		src string
		to  []string
	}{{"stripe", nil}, {"github", []string{"nope"}}, {"stripe", []string{"app"}}} {
		if err := r.e.Enqueue(context.Background(), &delivery.Event{Source: tt.src}, tt.to...); !errors.Is(err, delivery.ErrUnknownDestination) {
			t.Errorf("Enqueue to %s %v: got %v, want ErrUnknownDestination", tt.src, tt.to, err)
		}
	}
}

// failing returns an attempt function that answers results in turn, then
// delivers.
func failing(results ...delivery.Result) delivery.AttemptFunc {
	var i atomic.Int64
	return func(context.Context, *delivery.Task) delivery.Result {
		n := int(i.Add(1)) - 1
		if n < len(results) {
			return results[n]
		}
		return delivery.Result{Delivered: true, StatusCode: 200}
	}
}

func TestEngineBackoff(t *testing.T) {
	r503 := delivery.Result{StatusCode: 503}
	r := newRig(t, delivery.Config{
		Destinations: []delivery.Destination{{Source: "github", Name: "app", Backoff: delivery.Backoff{Initial: time.Second, Max: 8 * time.Second}}},
		Attempt:      failing(r503, r503, r503, r503, r503),
	})
	r.run()
	r.enqueue("b1")
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		n := r.await(delivery.NoticeAttempt, 100*time.Millisecond)
		end := n.Attempt.At.Add(n.Attempt.Latency)
		if n.Status != delivery.StatusPending || n.NextAt.Sub(end) != want || n.Number != i+1 || n.Attempt.StatusCode != 503 {
			t.Fatalf("failure %d: status %v, wait %v (want %v), number %d", i+1, n.Status, n.NextAt.Sub(end), want, n.Number)
		}
	}
	n := r.await(delivery.NoticeDelivered, 100*time.Millisecond)
	if n.Number != 6 {
		t.Fatalf("delivered on attempt %d, want 6", n.Number)
	}
	d := r.get("b1").Delivery("app")
	if d.Status != delivery.StatusDelivered || d.Tries != 6 || len(d.Attempts) != 6 {
		t.Fatalf("stored: %+v", d)
	}
}

// TestEngineBackoffSteps: a destination's listed steps bound its waits
// in turn, the last one repeating; Max defaults to the largest.
func TestEngineBackoffSteps(t *testing.T) {
	r503 := delivery.Result{StatusCode: 503}
	r := newRig(t, delivery.Config{
		Destinations: []delivery.Destination{{Source: "github", Name: "app", MaxAttempts: 5,
			Backoff: delivery.Backoff{Steps: []time.Duration{5 * time.Second, 5 * time.Minute, time.Minute}}}},
		Attempt: failing(r503, r503, r503, r503, r503),
	})
	if d, _ := r.e.Destination(delivery.Queue{Source: "github", Destination: "app"}); d.Backoff.Max != 5*time.Minute || d.MaxRetryAfter != 5*time.Minute {
		t.Fatalf("resolved Backoff.Max %v, MaxRetryAfter %v; want the largest step, 5m", d.Backoff.Max, d.MaxRetryAfter)
	}
	r.run()
	r.enqueue("s1")
	for i, want := range []time.Duration{5 * time.Second, 5 * time.Minute, time.Minute, time.Minute} {
		n := r.await(delivery.NoticeAttempt, time.Second)
		if wait := n.NextAt.Sub(n.Attempt.At.Add(n.Attempt.Latency)); n.Status != delivery.StatusPending || wait != want {
			t.Fatalf("failure %d: status %v, wait %v; want pending, %v", i+1, n.Status, wait, want)
		}
	}
	if n := r.await(delivery.NoticeDead, time.Second); n.Number != 5 {
		t.Fatalf("dead after attempt %d, want 5", n.Number)
	}
}

// TestEngineConcurrencyAcrossDestinations: Config.Concurrency bounds the
// attempts under way across destinations, each of which could run more
// on its own.
func TestEngineConcurrencyAcrossDestinations(t *testing.T) {
	const bound, events = 2, 6
	g := newGate()
	r := newRig(t, delivery.Config{
		Destinations: []delivery.Destination{{Source: "github", Name: "app", Concurrency: 4}, {Source: "github", Name: "audit", Concurrency: 4}},
		Concurrency:  bound,
		Attempt:      g.attempt,
	})
	r.run()
	for i := range events {
		r.enqueue(fmt.Sprint("c", i))
	}
	// Let the attempts through one at a time: were the bound not held,
	// the waiting ones would start meanwhile.
	for range 2 * events {
		g.release <- struct{}{}
		r.await(delivery.NoticeDelivered, 0)
	}
	if m := g.most.Load(); m != bound {
		t.Fatalf("%d attempts under way at once, want %d", m, bound)
	}
}

// gate holds each attempt until it is let through (a send on release,
// or its close), counting the attempts under way and the most at once.
type gate struct {
	release        chan struct{}
	inFlight, most atomic.Int64
}

func newGate() *gate { return &gate{release: make(chan struct{})} }

func (g *gate) attempt(ctx context.Context, _ *delivery.Task) delivery.Result {
	n := g.inFlight.Add(1)
	for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
	}
	defer g.inFlight.Add(-1)
	select {
	case <-g.release:
		return delivery.Result{Delivered: true, StatusCode: 200}
	case <-ctx.Done():
		return delivery.Result{Err: ctx.Err()}
	}
}

func TestEngineJitter(t *testing.T) {
	r := newRig(t, delivery.Config{
		Destinations: []delivery.Destination{{Source: "github", Name: "app", Backoff: delivery.Backoff{Initial: 10 * time.Second, Max: time.Minute}}},
		Attempt:      failing(delivery.Result{StatusCode: 500}),
		Rand:         func() float64 { return 0.25 },
	})
	r.run()
	r.enqueue("j1")
	n := r.await(delivery.NoticeAttempt, 0)
	if wait := n.NextAt.Sub(n.Attempt.At.Add(n.Attempt.Latency)); wait != 2500*time.Millisecond {
		t.Fatalf("jittered wait %v, want 2.5s (a quarter of 10s)", wait)
	}
}

func TestEngineRetryAfter(t *testing.T) {
	r := newRig(t, delivery.Config{
		Destinations: []delivery.Destination{{Source: "github", Name: "app", MaxRetryAfter: time.Minute}},
		Attempt:      failing(delivery.Result{StatusCode: 429, RetryAfter: 30 * time.Second}, delivery.Result{StatusCode: 503, RetryAfter: time.Hour}),
	})
	r.run()
	r.enqueue("ra")
	for _, want := range []time.Duration{30 * time.Second, time.Minute} {
		n := r.await(delivery.NoticeAttempt, time.Second)
		if wait := n.NextAt.Sub(n.Attempt.At.Add(n.Attempt.Latency)); wait != want {
			t.Fatalf("wait after Retry-After: %v, want %v", wait, want)
		}
	}
	r.await(delivery.NoticeDelivered, time.Second)
}

func TestEngineDeath(t *testing.T) {
	for _, tt := range []struct {
		name    string
		dest    delivery.Destination
		results []delivery.Result
		tries   int
		reason  string
	}{
		{"410", delivery.Destination{}, []delivery.Result{{StatusCode: 410, Permanent: true}}, 1, "permanent failure: status 410"},
		{"max attempts", delivery.Destination{MaxAttempts: 3}, []delivery.Result{{StatusCode: 500}, {Err: errors.New("dial tcp: connection refused")}, {StatusCode: 502}}, 3, "3 attempts failed, the last: status 502"},
		// 2 or 3 tries, as the clock steps: see TestEngineMaxAgeDeadline.
		{"max age", delivery.Destination{MaxAge: 10 * time.Second, Backoff: delivery.Backoff{Initial: 8 * time.Second}},
			[]delivery.Result{{StatusCode: 500}, {StatusCode: 500}, {StatusCode: 500}}, 0, "failed for 10s (MaxAge), the last attempt: status 500"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.dest.Source, tt.dest.Name = "github", "app"
			r := newRig(t, delivery.Config{Destinations: []delivery.Destination{tt.dest}, Attempt: failing(tt.results...)})
			r.run()
			r.enqueue("x")
			n := r.await(delivery.NoticeDead, 500*time.Millisecond)
			if n.Reason != tt.reason || tt.tries != 0 && n.Number != tt.tries {
				t.Fatalf("dead after attempt %d: %q; want %d, %q", n.Number, n.Reason, tt.tries, tt.reason)
			}
			d := r.get("x").Delivery("app")
			if d.Status != delivery.StatusDead || d.Tries != n.Number || d.Reason != tt.reason {
				t.Fatalf("stored: %+v", d)
			}
			// Dead is kept, and can be replayed.
			if err := r.e.Replay(context.Background(), "github", "x"); err != nil {
				t.Fatal(err)
			}
			r.await(delivery.NoticeDelivered, time.Second) // a left-over failure may come first
		})
	}
}

// The last retry is moved up to the MaxAge deadline, not skipped.
func TestEngineMaxAgeDeadline(t *testing.T) {
	r := newRig(t, delivery.Config{
		Destinations: []delivery.Destination{{Source: "github", Name: "app", MaxAge: 10 * time.Second, Backoff: delivery.Backoff{Initial: 8 * time.Second}}},
		Attempt:      failing(delivery.Result{StatusCode: 500}, delivery.Result{StatusCode: 500}),
	})
	r.run()
	r.enqueue("x")
	if n := r.await(delivery.NoticeAttempt, 0); !n.NextAt.Equal(deliverytest.T0.Add(8 * time.Second)) {
		t.Fatalf("first retry at %v, want T0+8s", n.NextAt)
	}
	// The second attempt comes at about T0+8s (the clock moves in small
	// steps): its retry would wait 16s, and is moved up to T0+10s.
	n := r.await(delivery.NoticeAttempt, 100*time.Millisecond)
	if end := n.Attempt.At.Add(n.Attempt.Latency); !end.Before(deliverytest.T0.Add(10*time.Second)) || !n.NextAt.Equal(deliverytest.T0.Add(10*time.Second)) {
		t.Fatalf("second attempt ended at %v, retry at %v; want about T0+8s, and the deadline T0+10s", end, n.NextAt)
	}
}

func TestEngineConcurrency(t *testing.T) {
	g := newGate()
	inFlight, most, release := &g.inFlight, &g.most, g.release
	r := newRig(t, delivery.Config{
		Destinations: []delivery.Destination{{Source: "github", Name: "app", Concurrency: 3}},
		Attempt:      g.attempt,
	})
	for i := range 10 {
		r.enqueue(fmt.Sprint("c", i))
	}
	r.run()
	deadline := time.Now().Add(10 * time.Second)
	for inFlight.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // room for a fourth, were it let through
	if n := inFlight.Load(); n != 3 {
		t.Fatalf("%d attempts under way, want 3", n)
	}
	close(release)
	for range 10 {
		r.await(delivery.NoticeDelivered, 0)
	}
	if m := most.Load(); m != 3 {
		t.Fatalf("at most %d at once, want 3", m)
	}
}

func TestEngineRate(t *testing.T) {
	var n atomic.Int64
	r := newRig(t, delivery.Config{
		Destinations: []delivery.Destination{{Source: "github", Name: "app", Rate: 2, Burst: 1}},
		Attempt: func(context.Context, *delivery.Task) delivery.Result {
			n.Add(1)
			return delivery.Result{Delivered: true}
		},
	})
	for i := range 5 {
		r.enqueue(fmt.Sprint("r", i))
	}
	r.run()
	r.await(delivery.NoticeDelivered, 0)
	r.quiet(delivery.NoticeDelivered, 50*time.Millisecond)
	if got := n.Load(); got != 1 {
		t.Fatalf("%d attempts before the clock moved, want 1 (burst)", got)
	}
	// At 2/s, one every 500ms.
	for want := int64(2); want <= 5; want++ {
		r.clock.Advance(499 * time.Millisecond)
		r.quiet(delivery.NoticeDelivered, 30*time.Millisecond)
		r.clock.Advance(time.Millisecond)
		r.await(delivery.NoticeDelivered, 0)
		if got := n.Load(); got != want {
			t.Fatalf("%d attempts, want %d", got, want)
		}
	}
}

func TestEngineLive(t *testing.T) {
	var background atomic.Int64
	r := newRig(t, delivery.Config{
		Destinations: []delivery.Destination{
			{Source: "github", Name: "app", Backoff: delivery.Backoff{Initial: 4 * time.Second}},
			{Source: "github", Name: "audit"},
		},
		Attempt: func(ctx context.Context, tk *delivery.Task) delivery.Result {
			if tk.Delivery.Destination == "app" {
				background.Add(1)
			}
			return delivery.Result{Delivered: true, StatusCode: 200}
		},
	})
	r.run()
	ctx := context.Background()

	// Healthy: delivered live, never in the background.
	ok := &delivery.Event{Source: "github", ID: "live-ok", Body: []byte("{}")}
	tk, err := r.e.BeginLive(ctx, ok, "app")
	if err != nil {
		t.Fatal(err)
	}
	if tk.Attempt != 1 || tk.Delivery.Status != delivery.StatusLeased || tk.Event.ID != "live-ok" {
		t.Fatalf("live task: %+v", tk)
	}
	r.clock.Advance(120 * time.Millisecond)
	if err := r.e.Finish(ctx, tk, delivery.Result{Delivered: true, StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		switch n := r.await(delivery.NoticeDelivered, 0); n.Queue.Destination {
		case "app":
			if !n.Live || n.Attempt.Latency != 120*time.Millisecond {
				t.Fatalf("live delivered notice: %+v", n)
			}
		case "audit":
			if n.Live {
				t.Fatalf("audit delivered live: %+v", n)
			}
		}
	}
	if err := r.e.Finish(ctx, tk, delivery.Result{Delivered: true}); err == nil {
		t.Fatal("a second Finish succeeded")
	}

	// Failing: retried in the background after the backoff.
	bad := &delivery.Event{Source: "github", ID: "live-bad"}
	tk, err = r.e.BeginLive(ctx, bad, "app", "app")
	if err != nil {
		t.Fatal(err)
	}
	if len(bad.Deliveries) != 1 {
		t.Fatalf("live to app only: %d deliveries", len(bad.Deliveries))
	}
	if err := r.e.Finish(ctx, tk, delivery.Result{StatusCode: 502}); err != nil {
		t.Fatal(err)
	}
	n := r.await(delivery.NoticeAttempt, 0)
	if !n.Live || n.Status != delivery.StatusPending || n.NextAt.Sub(n.Attempt.At.Add(n.Attempt.Latency)) != 4*time.Second {
		t.Fatalf("live failure: %+v", n)
	}
	n = r.await(delivery.NoticeDelivered, 500*time.Millisecond)
	if n.Live || n.Number != 2 || background.Load() != 1 {
		t.Fatalf("background retry: %+v, %d background attempts", n, background.Load())
	}
	if _, err := r.e.BeginLive(ctx, &delivery.Event{Source: "github"}, "nope"); !errors.Is(err, delivery.ErrUnknownDestination) {
		t.Fatalf("BeginLive to an unknown destination: %v", err)
	}
}

// The caller of BeginLive dies: once the lease expires, a worker
// delivers.
func TestEngineLiveLeaseExpires(t *testing.T) {
	r := newRig(t, delivery.Config{
		Destinations: []delivery.Destination{{Source: "github", Name: "app", AttemptTimeout: 5 * time.Second}},
	})
	r.run()
	if _, err := r.e.BeginLive(context.Background(), &delivery.Event{Source: "github", ID: "orphan"}, "app"); err != nil {
		t.Fatal(err)
	}
	n := r.await(delivery.NoticeDelivered, 250*time.Millisecond)
	if n.Live || n.Number != 1 || n.Attempt.At.Before(deliverytest.T0.Add(10*time.Second)) {
		t.Fatalf("delivered %+v; want attempt 1 in the background after the 10s lease", n)
	}
}

func TestEngineLeaseRenewal(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var attempts atomic.Int64
	r := newRig(t, delivery.Config{
		Destinations: []delivery.Destination{{Source: "github", Name: "app", AttemptTimeout: time.Minute, Lease: 3 * time.Second}},
		Attempt: func(ctx context.Context, tk *delivery.Task) delivery.Result {
			if attempts.Add(1) == 1 {
				close(started)
			}
			select {
			case <-release:
				return delivery.Result{Delivered: true}
			case <-ctx.Done():
				return delivery.Result{Err: ctx.Err()}
			}
		},
	})
	r.enqueue("long")
	r.run()
	<-started
	// Three goroutines sleep on the clock: the worker, the maintenance
	// loop and the attempt's lease keeper. Once all three are asleep
	// again, whatever a step of the clock set off is done.
	asleep := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for r.clock.Waiters() < 3 {
			if time.Now().After(deadline) {
				close(release)
				t.Fatalf("%d goroutines asleep on the clock, want 3", r.clock.Waiters())
			}
			time.Sleep(time.Millisecond)
		}
	}
	asleep()
	// Ten seconds of a 3s lease, a second at a time: each second the
	// lease is extended to 3s from then.
	for range 10 {
		r.clock.Advance(time.Second)
		asleep()
		d := r.get("long").Delivery("app")
		if d.Status != delivery.StatusLeased || d.NextAt.Before(r.clock.Now().Add(2*time.Second)) {
			close(release)
			t.Fatalf("at %v the lease runs until %v (%v): not extended", r.clock.Now(), d.NextAt, d.Status)
		}
	}
	close(release)
	r.await(delivery.NoticeDelivered, 0)
	if n := attempts.Load(); n != 1 {
		t.Fatalf("%d attempts, want 1: the lease lapsed", n)
	}
}

func TestEngineShutdown(t *testing.T) {
	started := make(chan struct{}, 1)
	r := newRig(t, delivery.Config{
		DrainTimeout: 5 * time.Second,
		Attempt: func(ctx context.Context, tk *delivery.Task) delivery.Result {
			started <- struct{}{}
			<-ctx.Done()
			return delivery.Result{Err: ctx.Err()}
		},
	})
	r.enqueue("s1")
	r.run()
	<-started
	r.stop() // advances the clock past DrainTimeout
	r.stop = nil
	// The attempt was cancelled by the shutdown: its lease is given back,
	// due now, and no try is counted.
	path := r.store.DB().Path()
	if err := r.store.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(path, boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev, err := s.Get(context.Background(), "github", "s1")
	if err != nil {
		t.Fatal(err)
	}
	d := ev.Delivery("app")
	if d.Status != delivery.StatusPending || d.Tries != 0 || d.AttemptCount != 0 {
		t.Fatalf("after shutdown: %+v", d)
	}
}

func TestEnginePanic(t *testing.T) {
	r := newRig(t, delivery.Config{
		Attempt: func(ctx context.Context, tk *delivery.Task) delivery.Result {
			if tk.Attempt == 1 {
				panic("boom")
			}
			return delivery.Result{Delivered: true}
		},
	})
	r.run()
	r.enqueue("p1")
	n := r.await(delivery.NoticeAttempt, 0)
	if n.Status != delivery.StatusPending || n.Attempt.Error != "delivery: attempt panicked: boom" {
		t.Fatalf("panicking attempt: %+v", n)
	}
	r.await(delivery.NoticeDelivered, 100*time.Millisecond)
}

func TestEngineMaintenance(t *testing.T) {
	r := newRig(t, delivery.Config{
		KeepDelivered: time.Hour,
		KeepDead:      -1,
		Destinations:  []delivery.Destination{{Source: "github", Name: "app", MaxAttempts: 1}},
		Attempt: func(ctx context.Context, tk *delivery.Task) delivery.Result {
			return delivery.Result{Delivered: tk.Event.ID == "ok", StatusCode: 500}
		},
	})
	r.enqueue("ok")
	r.enqueue("dead")
	r.run()
	r.await(delivery.NoticeDead, 0)
	n := r.await(delivery.NoticeTrimmed, time.Minute)
	if n.Removed != 1 || n.Status != delivery.StatusDelivered || r.clock.Now().Before(deliverytest.T0.Add(time.Hour)) {
		t.Fatalf("trimmed %+v at %v", n, r.clock.Now())
	}
	if _, err := r.store.Get(context.Background(), "github", "ok"); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("delivered event after retention: %v", err)
	}
	r.get("dead") // KeepDead < 0: kept
	for {
		n = r.await(delivery.NoticeQueue, time.Second)
		if n.Stats.Queue != (delivery.Queue{Source: "github", Destination: "app"}) {
			t.Fatalf("queue notice: %+v", n)
		}
		if n.Stats.Dead == 1 && n.Stats.Pending == 0 {
			break
		}
	}
}

func TestEngineReplayAll(t *testing.T) {
	r := newRig(t, delivery.Config{
		Destinations: []delivery.Destination{{Source: "github", Name: "app", MaxAttempts: 1}},
		Attempt:      failing(delivery.Result{StatusCode: 500}, delivery.Result{StatusCode: 500}, delivery.Result{StatusCode: 500}),
	})
	r.run()
	for i := range 3 {
		r.enqueue(fmt.Sprint("ra", i))
		r.await(delivery.NoticeDead, 0)
	}
	r.flush()
	n, err := r.e.ReplayAll(context.Background(), delivery.Filter{Status: delivery.StatusDead})
	if err != nil || n != 3 {
		t.Fatalf("ReplayAll: %d, %v", n, err)
	}
	for range 3 {
		r.await(delivery.NoticeDelivered, 0)
	}
	if n, err := r.e.Purge(context.Background(), delivery.Filter{Source: "github"}); err != nil || n != 3 {
		t.Fatalf("Purge: %d, %v", n, err)
	}
}

func TestNewValidates(t *testing.T) {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "d.db"), boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ok := func(context.Context, *delivery.Task) delivery.Result { return delivery.Result{} }
	dest := delivery.Destination{Source: "github", Name: "app"}
	for _, tt := range []struct {
		field string
		cfg   delivery.Config
	}{
		{"Config.Store", delivery.Config{Attempt: ok, Destinations: []delivery.Destination{dest}}},
		{"Config.Attempt", delivery.Config{Store: s, Destinations: []delivery.Destination{dest}}},
		{"Config.Destinations", delivery.Config{Store: s, Attempt: ok}},
		{"Config.PollInterval", delivery.Config{Store: s, Attempt: ok, Destinations: []delivery.Destination{dest}, PollInterval: -1}},
		{"Config.Destinations[1]", delivery.Config{Store: s, Attempt: ok, Destinations: []delivery.Destination{dest, dest}}},
		{"Config.Destinations[0].Source", delivery.Config{Store: s, Attempt: ok, Destinations: []delivery.Destination{{Name: "app"}}}},
		{"Config.Destinations[0].Name", delivery.Config{Store: s, Attempt: ok, Destinations: []delivery.Destination{{Source: "a", Name: "x y"}}}},
		{"Config.Destinations[0].Backoff", delivery.Config{Store: s, Attempt: ok, Destinations: []delivery.Destination{{Source: "a", Name: "b", Backoff: delivery.Backoff{Initial: time.Minute, Max: time.Second}}}}},
		{"Config.Destinations[0].Concurrency", delivery.Config{Store: s, Attempt: ok, Destinations: []delivery.Destination{{Source: "a", Name: "b", Concurrency: -1}}}},
		{"Config.Destinations[0].Rate", delivery.Config{Store: s, Attempt: ok, Destinations: []delivery.Destination{{Source: "a", Name: "b", Rate: -1}}}},
		{"Config.Destinations[0].MaxAge", delivery.Config{Store: s, Attempt: ok, Destinations: []delivery.Destination{{Source: "a", Name: "b", MaxAge: -1}}}},
		{"Config.Concurrency", delivery.Config{Store: s, Attempt: ok, Destinations: []delivery.Destination{dest}, Concurrency: -1}},
		{"Config.Destinations[0].Backoff.Steps[1]", delivery.Config{Store: s, Attempt: ok, Destinations: []delivery.Destination{{Source: "a", Name: "b", Backoff: delivery.Backoff{Steps: []time.Duration{time.Second, -1}}}}}},
		{"Config.Destinations[0].Backoff: set Initial or Steps", delivery.Config{Store: s, Attempt: ok, Destinations: []delivery.Destination{{Source: "a", Name: "b", Backoff: delivery.Backoff{Initial: time.Second, Steps: []time.Duration{time.Second}}}}}},
	} {
		if _, err := delivery.New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("want an error naming %s, got %v", tt.field, err)
		}
	}
	e, err := delivery.New(delivery.Config{Store: s, Attempt: ok, Destinations: []delivery.Destination{dest}})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := e.Destination(delivery.Queue{Source: "github", Destination: "app"})
	want := delivery.Destination{
		Source: "github", Name: "app", Concurrency: 16, Burst: 1, AttemptTimeout: 30 * time.Second, Lease: time.Minute,
		Backoff: delivery.Backoff{Initial: time.Second, Max: time.Hour}, MaxAttempts: 100, MaxAge: 72 * time.Hour, MaxRetryAfter: time.Hour,
		RecordWithin: 100 * time.Millisecond,
	}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", d, want)
	}
	if _, ok := e.Destination(delivery.Queue{Source: "github", Destination: "nope"}); ok {
		t.Fatal("Destination of an unknown queue")
	}
}

// The provider hung up during the live attempt: Finish still records it.
func TestEngineFinishAfterHangUp(t *testing.T) {
	r := newRig(t, delivery.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	tk, err := r.e.BeginLive(ctx, &delivery.Event{Source: "github", ID: "hung"}, "app")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := r.e.Finish(ctx, tk, delivery.Result{Delivered: true, StatusCode: 200}); err != nil {
		t.Fatalf("Finish after the request's ctx ended: %v", err)
	}
	if d := r.get("hung").Delivery("app"); d.Status != delivery.StatusDelivered {
		t.Fatalf("after Finish: %v, want delivered", d.Status)
	}
}

// With DropPayloads, an event delivered in the background or live loses
// its headers and body in the report's write; a dead one keeps them
// until a replay delivers it; a dropped one is not replayed. Without it,
// payloads stay.
func TestEngineDropPayloads(t *testing.T) {
	var fail atomic.Bool
	r := newRig(t, delivery.Config{
		DropPayloads: true,
		Destinations: []delivery.Destination{{Source: "github", Name: "app", MaxAttempts: 1}},
		Attempt: func(ctx context.Context, tk *delivery.Task) delivery.Result {
			if fail.Load() {
				return delivery.Result{StatusCode: 500}
			}
			return delivery.Result{Delivered: true, StatusCode: 200}
		},
	})
	r.run()
	ctx := context.Background()
	dropped := func(id string) {
		t.Helper()
		ev := r.get(id)
		if !ev.PayloadDropped || ev.Body != nil || ev.Header != nil || ev.Type != "push" || ev.Status() != delivery.StatusDelivered {
			t.Fatalf("%s: dropped %v, body %q, headers %v, type %q, status %v; want delivered, metadata only",
				id, ev.PayloadDropped, ev.Body, ev.Header, ev.Type, ev.Status())
		}
	}

	r.enqueue("background")
	r.await(delivery.NoticeDelivered, 0)
	dropped("background")

	live := &delivery.Event{Source: "github", ID: "live", Type: "push", Header: http.Header{"X-Github-Event": {"push"}}, Body: []byte(`{}`)}
	tk, err := r.e.BeginLive(ctx, live, "app")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.e.Finish(ctx, tk, delivery.Result{Delivered: true, StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	dropped("live")

	fail.Store(true)
	r.enqueue("dead")
	r.await(delivery.NoticeDead, 0)
	if ev := r.get("dead"); ev.PayloadDropped || string(ev.Body) != `{"n":1}` || ev.Header.Get("X-Github-Event") != "push" {
		t.Fatalf("dead event: dropped %v, body %q, headers %v; want its payload kept", ev.PayloadDropped, ev.Body, ev.Header)
	}
	fail.Store(false)
	if err := r.e.Replay(ctx, "github", "dead"); err != nil {
		t.Fatalf("Replay of the dead event: %v", err)
	}
	r.await(delivery.NoticeDelivered, 0)
	dropped("dead")

	if err := r.e.Replay(ctx, "github", "background"); !errors.Is(err, delivery.ErrPayloadDropped) {
		t.Fatalf("Replay of a dropped event: %v, want ErrPayloadDropped", err)
	}
	if n, err := r.e.ReplayAll(ctx, delivery.Filter{Status: delivery.StatusDelivered}); err != nil || n != 0 {
		t.Fatalf("ReplayAll of dropped events: %d, %v; want 0", n, err)
	}

	k := newRig(t, delivery.Config{})
	k.run()
	k.enqueue("kept")
	k.await(delivery.NoticeDelivered, 0)
	if ev := k.get("kept"); ev.PayloadDropped || string(ev.Body) != `{"n":1}` {
		t.Fatalf("without DropPayloads: dropped %v, body %q", ev.PayloadDropped, ev.Body)
	}
}

// A backlog is leased ahead of the free slots (a lease is a store write:
// leasing only the free slots would bound a drain to Concurrency per
// commit), never attempted beyond Concurrency; a task leased ahead that
// waited more than a quarter of its lease has it extended when it starts;
// what is leased ahead is given back at shutdown.
func TestEngineLeasesAhead(t *testing.T) {
	g := newGate()
	r := newRig(t, delivery.Config{
		Destinations: []delivery.Destination{{Source: "github", Name: "app", Concurrency: 2}},
		Attempt:      g.attempt,
		LeaseBatch:   3, // a lease ahead takes a full LeaseBatch: 1 slot, 2 ahead
	})
	for i := range 10 {
		r.enqueue(fmt.Sprint("a", i))
	}
	leased := func() []*delivery.Event {
		r.flush()
		evs, err := r.store.List(context.Background(), delivery.Filter{Status: delivery.StatusLeased})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	waitLeased := func(n int) []*delivery.Event {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			evs := leased()
			if len(evs) == n && g.inFlight.Load() == 2 {
				return evs
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d leased, %d under way; want %d leased, 2 under way", len(evs), g.inFlight.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	r.run()
	waitLeased(2) // the first lease: the free slots
	g.release <- struct{}{}
	r.await(delivery.NoticeDelivered, 0)
	waitLeased(4) // a full lease before: one slot, and two ahead

	// The tasks leased ahead wait; then one starts, its lease extended.
	r.clock.Advance(20 * time.Second)
	g.release <- struct{}{}
	r.await(delivery.NoticeDelivered, 0)
	var extended int
	deadline := time.Now().Add(10 * time.Second)
	for extended == 0 && time.Now().Before(deadline) {
		for _, ev := range leased() {
			if d := ev.Delivery("app"); d.NextAt.Equal(r.clock.Now().Add(2 * delivery.DefaultAttemptTimeout)) {
				extended++
			}
		}
		time.Sleep(time.Millisecond)
	}
	if extended != 1 {
		t.Fatalf("%d leases extended when a task leased ahead started, want 1", extended)
	}
	if m := g.most.Load(); m != 2 {
		t.Fatalf("at most %d attempts at once, want 2", m)
	}

	r.stop()
	r.stop = nil
	r.flush()
	evs, err := r.store.List(context.Background(), delivery.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var delivered, pending int
	for _, ev := range evs {
		switch d := ev.Delivery("app"); d.Status {
		case delivery.StatusDelivered:
			delivered++
		case delivery.StatusPending:
			pending++
		default:
			t.Errorf("%s after shutdown: %v, want pending (given back) or delivered", ev.ID, d.Status)
		}
	}
	if delivered != 2 || pending != 8 {
		t.Fatalf("after shutdown: %d delivered, %d pending; want 2 and 8", delivered, pending)
	}
}

// blockedAppends holds every Append until open is closed, counting the
// calls that arrived.
type blockedAppends struct {
	delivery.Store
	open    chan struct{}
	arrived atomic.Int64
}

func (s *blockedAppends) Append(ctx context.Context, ev *delivery.Event) error {
	s.arrived.Add(1)
	select {
	case <-s.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Store.Append(ctx, ev)
}

// While recording is busy (8 events waiting for the store), a worker
// starts at most a quarter of its Concurrency in attempts, each waiting
// at most a quarter of its lease, which is then extended; once recording
// is not busy, every delivery goes through.
func TestEngineYieldsToRecording(t *testing.T) {
	g := newGate()
	bs := &blockedAppends{Store: openBolt(t), open: make(chan struct{})}
	r := newRig(t, delivery.Config{
		Store:        bs,
		Destinations: []delivery.Destination{{Source: "github", Name: "app", Concurrency: 8}},
		Attempt:      g.attempt,
	})
	ctx := context.Background()
	for i := range 20 {
		ev := &delivery.Event{Source: "github", ID: fmt.Sprint("backlog", i), ReceivedAt: deliverytest.T0, Body: []byte("{}"),
			Deliveries: []delivery.Delivery{{Destination: "app", Status: delivery.StatusPending, NextAt: deliverytest.T0}}}
		if err := bs.Store.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	var enqueued sync.WaitGroup
	for i := range 8 {
		enqueued.Go(func() {
			if err := r.e.Enqueue(ctx, &delivery.Event{Source: "github", ID: fmt.Sprint("new", i), Body: []byte("{}")}); err != nil {
				t.Error(err)
			}
		})
	}
	for bs.arrived.Load() < 8 {
		time.Sleep(time.Millisecond)
	}
	r.run()
	for deadline := time.Now().Add(10 * time.Second); g.inFlight.Load() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d attempts under way while recording is busy, want 2", g.inFlight.Load())
		}
	}
	time.Sleep(100 * time.Millisecond) // time for more to start, if they could
	if m := g.most.Load(); m != 2 {
		t.Fatalf("at most %d attempts at once while recording was busy, want 2 (Concurrency 8 / 4)", m)
	}
	// A yield lasts at most a quarter of the lease; the attempt then
	// starts with its lease extended.
	r.clock.Advance(delivery.DefaultAttemptTimeout/2 + time.Second) // past a quarter of the 60 s lease
	for deadline := time.Now().Add(10 * time.Second); g.inFlight.Load() <= 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("attempts still wait after yielding a quarter of their lease")
		}
	}
	extended := 0
	for deadline := time.Now().Add(10 * time.Second); extended == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no lease extended when a yielding attempt started")
		}
		extended = 0
		for i := range 20 {
			ev, err := bs.Store.Get(ctx, "github", fmt.Sprint("backlog", i))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Delivery("app").NextAt.Equal(r.clock.Now().Add(2 * delivery.DefaultAttemptTimeout)) {
				extended++
			}
		}
	}
	close(bs.open)
	enqueued.Wait()
	close(g.release)
	for range 28 {
		r.await(delivery.NoticeDelivered, 0)
	}
}
