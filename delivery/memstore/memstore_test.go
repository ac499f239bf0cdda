package memstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/deliverytest"
	"github.com/hookgate/hookgate/delivery/memstore"
)

func newStore(t *testing.T, cfg memstore.Config) *memstore.Store {
	t.Helper()
	s, err := memstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestContract runs the contract suite. Memory outlives no process, so a
// restart hands back the same store: what the suite checks across it
// holds trivially, and the rest holds as for the durable stores.
func TestContract(t *testing.T) {
	deliverytest.Run(t, deliverytest.Harness{
		New: func(t *testing.T) (delivery.Store, func() delivery.Store) {
			s := newStore(t, memstore.Config{})
			return s, func() delivery.Store { return s }
		},
	})
}

// event returns an event of source/id due at at to each of dests.
func event(source, id string, at time.Time, dests ...string) *delivery.Event {
	ev := &delivery.Event{Source: source, ID: id, ReceivedAt: at, Body: []byte(`{}`)}
	for _, d := range dests {
		ev.Deliveries = append(ev.Deliveries, delivery.Delivery{Destination: d, Status: delivery.StatusPending, NextAt: at})
	}
	return ev
}

// TestMaxPending: Append refuses an event that would take a queue past
// MaxPending waiting deliveries, naming the full queues and recording
// nothing; deliveries under way and finished do not count.
func TestMaxPending(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, memstore.Config{MaxPending: 2})
	t0 := deliverytest.T0
	slow := delivery.Queue{Source: "src", Destination: "slow"}
	fast := delivery.Queue{Source: "src", Destination: "fast"}
	for _, id := range []string{"e1", "e2"} {
		if err := s.Append(ctx, event("src", id, t0, "slow", "fast")); err != nil {
			t.Fatalf("Append(%s): %v", id, err)
		}
	}
	err := s.Append(ctx, event("src", "e3", t0, "fast", "slow"))
	var full *memstore.FullError
	if !errors.As(err, &full) || !errors.Is(err, memstore.ErrFull) || !slices.Equal(full.Queues, []delivery.Queue{fast, slow}) {
		t.Fatalf("Append past the bound: got %v, want a FullError naming src/fast and src/slow", err)
	}
	if _, err := s.Get(ctx, "src", "e3"); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("a refused event was recorded: %v", err)
	}
	// fast delivers both, slow has one under way: fast has room for two
	// more, slow for one.
	tasks, _, err := s.Lease(ctx, fast, t0, 10, t0.Add(time.Minute), "f")
	if err != nil || len(tasks) != 2 {
		t.Fatalf("Lease(fast): %d tasks, %v", len(tasks), err)
	}
	for _, tk := range tasks {
		err := s.Report(ctx, delivery.Report{Source: "src", ID: tk.Event.ID, Destination: "fast", Token: "f", Status: delivery.StatusDelivered, Now: t0})
		if err != nil {
			t.Fatal(err)
		}
	}
	if tasks, _, err := s.Lease(ctx, slow, t0, 1, t0.Add(time.Minute), "s"); err != nil || len(tasks) != 1 {
		t.Fatalf("Lease(slow): %d tasks, %v", len(tasks), err)
	}
	if err := s.Append(ctx, event("src", "e3", t0, "fast", "slow")); err != nil {
		t.Fatalf("Append with room in both queues: %v", err)
	}
	err = s.Append(ctx, event("src", "e4", t0, "slow", "fast"))
	if !errors.As(err, &full) || !slices.Equal(full.Queues, []delivery.Queue{slow}) {
		t.Fatalf("Append to a full slow queue: got %v, want a FullError naming src/slow", err)
	}
	if err := s.Append(ctx, event("src", "e4", t0, "fast")); err != nil {
		t.Fatalf("Append to the fast queue alone: %v", err)
	}
	// A duplicate is a duplicate, full or not.
	if err := s.Append(ctx, event("src", "e1", t0, "slow")); !errors.Is(err, delivery.ErrExists) {
		t.Fatalf("Append of a recorded id to a full queue: got %v, want ErrExists", err)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := memstore.New(memstore.Config{MaxPending: -1}); err == nil {
		t.Fatal("New with a negative MaxPending: no error")
	}
}

// TestCopies: what Append is given and what Get returns share no memory
// with what the store holds.
func TestCopies(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, memstore.Config{})
	ev := event("src", "e1", deliverytest.T0, "app")
	ev.Header = map[string][]string{"X-A": {"1"}}
	if err := s.Append(ctx, ev); err != nil {
		t.Fatal(err)
	}
	ev.Body[0], ev.Header["X-A"][0] = 'x', "2"
	got, err := s.Get(ctx, "src", "e1")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != `{}` || got.Header.Get("X-A") != "1" {
		t.Fatalf("the caller's change reached the store: body %s, header %q", got.Body, got.Header.Get("X-A"))
	}
	got.Body[0], got.Deliveries[0].Status = 'x', delivery.StatusDead
	if again, _ := s.Get(ctx, "src", "e1"); string(again.Body) != `{}` || again.Deliveries[0].Status != delivery.StatusPending {
		t.Fatal("a change to Get's copy reached the store")
	}
}
