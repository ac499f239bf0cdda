package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/deliverytest"
	"github.com/hookgate/hookgate/internal/testredis"
)

func event(source, id string, at time.Time, dests ...string) *delivery.Event {
	ev := &delivery.Event{Source: source, ID: id, Type: "push", ReceivedAt: at, Body: []byte(`{"n":1}`)}
	for _, d := range dests {
		ev.Deliveries = append(ev.Deliveries, delivery.Delivery{Destination: d, Status: delivery.StatusPending, NextAt: at})
	}
	return ev
}

// TestCluster runs the contract on a 3-master Redis Cluster, then checks
// that sources spread over its masters, each source's keys in one slot.
func TestCluster(t *testing.T) {
	cl := testredis.StartCluster(t, 3)
	t.Run("Contract", func(t *testing.T) {
		deliverytest.Run(t, harness(cl.URL()))
	})
	t.Run("Spread", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t, newClient(t, cl.URL()), "spread:")
		if err := s.Preload(ctx); err != nil {
			t.Fatal(err)
		}
		for i := range 30 {
			src := fmt.Sprint("source", i)
			if err := s.Append(ctx, event(src, "evt_1", deliverytest.T0, "app")); err != nil {
				t.Fatalf("Append to %s: %v", src, err)
			}
			tasks, _, err := s.Lease(ctx, delivery.Queue{Source: src, Destination: "app"}, deliverytest.T0, 1, deliverytest.T0.Add(time.Minute), "t")
			if err != nil || len(tasks) != 1 {
				t.Fatalf("Lease on %s: %d, %v", src, len(tasks), err)
			}
		}
		for _, n := range cl.Nodes {
			keys, err := n.Do("DBSIZE")
			if err != nil {
				t.Fatal(err)
			}
			if keys == ":0" {
				t.Errorf("node %s holds none of 30 sources' keys", n.Addr)
			}
		}
		evs, err := s.List(ctx, delivery.Filter{Limit: 1000})
		if err != nil || len(evs) != 30 {
			t.Fatalf("List across the cluster: %d, %v", len(evs), err)
		}
	})
}

// An instance leases deliveries and dies: once the leases expire, an
// Engine on another instance (its own client and store) delivers them.
func TestTakeover(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	dead := newStore(t, newClient(t, srv.URL), "takeover:")
	now := time.Now()
	for i := range 20 {
		if err := dead.Append(ctx, event("github", fmt.Sprint("evt_", i), now, "app")); err != nil {
			t.Fatal(err)
		}
	}
	q := delivery.Queue{Source: "github", Destination: "app"}
	leased, _, err := dead.Lease(ctx, q, now, 20, now.Add(500*time.Millisecond), "dead-instance")
	if err != nil || len(leased) != 20 {
		t.Fatalf("the doomed instance leased %d, %v", len(leased), err)
	}
	// The instance is gone; another one runs an Engine.
	var mu sync.Mutex
	seen := map[string]time.Time{}
	var n atomic.Int64
	other := newStore(t, newClient(t, srv.URL), "takeover:")
	e, err := delivery.New(delivery.Config{
		Store:        other,
		Destinations: []delivery.Destination{{Source: "github", Name: "app"}},
		PollInterval: 50 * time.Millisecond,
		Attempt: func(ctx context.Context, tk *delivery.Task) delivery.Result {
			mu.Lock()
			seen[tk.Event.ID] = time.Now()
			mu.Unlock()
			n.Add(1)
			return delivery.Result{Delivered: true, StatusCode: 200}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = e.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for n.Load() < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 20 || n.Load() != 20 {
		t.Fatalf("taken over: %d events in %d attempts, want 20 in 20", len(seen), n.Load())
	}
	for id, at := range seen {
		if at.Before(now.Add(500 * time.Millisecond)) {
			t.Fatalf("%s delivered at +%v, while the dead instance's lease held", id, at.Sub(now))
		}
	}
	// The dead instance's late report changes nothing.
	err = dead.Report(ctx, delivery.Report{Source: "github", ID: "evt_0", Destination: "app", Token: "dead-instance",
		Status: delivery.StatusPending, NextAt: now.Add(time.Hour), Now: now})
	if !errors.Is(err, delivery.ErrLeaseLost) {
		t.Fatalf("late report: got %v, want ErrLeaseLost", err)
	}
}

// With appendonly yes and appendfsync always, every Append acknowledged
// survives a SIGKILL of Redis.
func TestAppendSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	srv := testredis.Start(t, "--appendonly", "yes", "--appendfsync", "always", "--dir", dir)
	if srv.External() {
		t.Skip("needs a redis-server of its own")
	}
	ctx := context.Background()
	s := newStore(t, newClient(t, srv.URL), "aof:")
	var acked atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ev := event("github", fmt.Sprintf("w%d-%d", w, i), time.Now(), "app")
				if err := s.Append(ctx, ev); err != nil {
					return // Redis is gone
				}
				acked.Add(1)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	srv.Stop() // SIGKILL mid-stream
	close(stop)
	wg.Wait()
	srv.Restart()
	s = newStore(t, newClient(t, srv.URL), "aof:")
	st, err := s.Stats(ctx, []delivery.Queue{{Source: "github", Destination: "app"}})
	if err != nil {
		t.Fatal(err)
	}
	if int64(st[0].Pending) < acked.Load() || acked.Load() == 0 {
		t.Fatalf("after SIGKILL: %d events pending, %d were acknowledged", st[0].Pending, acked.Load())
	}
	t.Logf("%d appends acknowledged before SIGKILL, %d found after restart", acked.Load(), st[0].Pending)
}

// A Redis that is down is reported as unavailable, never as a duplicate
// or a missing event.
func TestRedisDown(t *testing.T) {
	srv := testredis.Start(t)
	if srv.External() {
		t.Skip("needs a redis-server of its own")
	}
	ctx := context.Background()
	s := newStore(t, newClient(t, srv.URL), "down:")
	if err := s.Append(ctx, event("github", "evt_1", deliverytest.T0, "app")); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	q := delivery.Queue{Source: "github", Destination: "app"}
	calls := map[string]error{
		"Append": s.Append(ctx, event("github", "evt_2", deliverytest.T0, "app")),
		"Report": s.Report(ctx, delivery.Report{Source: "github", ID: "evt_1", Destination: "app", Status: delivery.StatusDelivered, Now: deliverytest.T0}),
		"Replay": s.Replay(ctx, "github", "evt_1", "", deliverytest.T0),
	}
	_, _, calls["Lease"] = s.Lease(ctx, q, deliverytest.T0, 1, deliverytest.T0.Add(time.Minute), "t")
	_, calls["Get"] = s.Get(ctx, "github", "evt_1")
	_, calls["List"] = s.List(ctx, delivery.Filter{Source: "github"})
	_, calls["Purge"] = s.Purge(ctx, delivery.Filter{Source: "github"})
	_, calls["Stats"] = s.Stats(ctx, []delivery.Queue{q})
	for name, err := range calls {
		if !errors.Is(err, delivery.ErrUnavailable) {
			t.Errorf("%s with Redis down: got %v, want ErrUnavailable", name, err)
		}
	}
}

// The keys of a source carry its hash tag, and retention leaves nothing
// behind.
func TestKeys(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	client := newClient(t, srv.URL)
	s := newStore(t, client, "keys:")
	now := deliverytest.T0
	for i := range 5 {
		if err := s.Append(ctx, event("github", strconv.Itoa(i), now, "app", "audit")); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := client.Keys(ctx, "keys:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k != "keys:sources" && k[:len("keys:{github}:")] != "keys:{github}:" {
			t.Errorf("key %q lacks the source's hash tag", k)
		}
	}
	for _, dest := range []string{"app", "audit"} {
		tasks, _, err := s.Lease(ctx, delivery.Queue{Source: "github", Destination: dest}, now, 10, now.Add(time.Minute), "t")
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range tasks {
			st := delivery.StatusDelivered
			if tk.Event.ID == "0" {
				st = delivery.StatusDead
			}
			if err := s.Report(ctx, delivery.Report{Source: "github", ID: tk.Event.ID, Destination: dest, Token: "t", Status: st, Now: now}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, st := range []delivery.Status{delivery.StatusDelivered, delivery.StatusDead} {
		if _, err := s.Purge(ctx, delivery.Filter{Status: st, FinishedBefore: now.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	left, err := client.Keys(ctx, "keys:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	// What may stay: the registry, the seq counter, and the dead count
	// (a hash of zeros).
	for _, k := range left {
		switch k {
		case "keys:sources", "keys:{github}:n", "keys:{github}:c":
		default:
			t.Errorf("key %q left after retention removed every event", k)
		}
	}
}
