package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/boltstore"
)

// downStore fails Lease and Report while down is set, as a Redis that was
// killed does, and passes every call on otherwise.
type downStore struct {
	delivery.Store
	down atomic.Bool
}

var errDown = fmt.Errorf("%w: test: the store is down", delivery.ErrUnavailable)

func (s *downStore) Report(ctx context.Context, r delivery.Report) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.Report(ctx, r)
}

func (s *downStore) Lease(ctx context.Context, q delivery.Queue, now time.Time, n int, until time.Time, token string) ([]*delivery.Task, time.Time, error) {
	if s.down.Load() {
		return nil, time.Time{}, errDown
	}
	return s.Store.Lease(ctx, q, now, n, until, token)
}

func openBolt(t *testing.T) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "down.db"), boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// awaitOp returns the next error notice, advancing the clock by step
// while it waits, and fails unless its Op is op.
func (r *rig) awaitOp(op string, step time.Duration) {
	r.t.Helper()
	if n := r.await(delivery.NoticeError, step); n.Op != op {
		r.t.Fatalf("store error in %s (%v), want one in %s", n.Op, n.Err, op)
	}
}

// checkDeliveredOnce checks, time having moved well past any lease, that
// the event id was attempted once and is recorded delivered.
func checkDeliveredOnce(t *testing.T, r *rig, s *boltstore.Store, id string, attempts *atomic.Int64, wantAttempts int64) {
	t.Helper()
	for range 40 {
		r.clock.Advance(250 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
	if n := attempts.Load(); n != wantAttempts {
		t.Fatalf("%d background attempts, want %d: the delivery was made again", n, wantAttempts)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev, err := s.Get(context.Background(), "github", id)
	if err != nil {
		t.Fatal(err)
	}
	if d := ev.Deliveries[0]; d.Status != delivery.StatusDelivered || len(d.Attempts) != 1 {
		t.Fatalf("delivery after the store came back: %v with %d attempts recorded, want delivered with 1", d.Status, len(d.Attempts))
	}
}

// The store dies while the app takes an event, and stays down past the
// lease: once it is back, the worker records the delivery before it
// leases, so that the event is not delivered again.
func TestEngineReportsAgainAfterStoreOutage(t *testing.T) {
	t.Run("background", func(t *testing.T) {
		s := &downStore{Store: openBolt(t)}
		var attempts atomic.Int64
		r := newRig(t, delivery.Config{
			Store:        s,
			Destinations: []delivery.Destination{{Source: "github", Name: "app", AttemptTimeout: time.Second}},
			Attempt: func(context.Context, *delivery.Task) delivery.Result {
				if attempts.Add(1) == 1 {
					s.down.Store(true) // after the lease, before the report
				}
				return delivery.Result{Delivered: true, StatusCode: 200}
			},
		})
		r.run()
		r.enqueue("evt_down")
		r.awaitOp("report", 0)
		// The lease (2 s) expires while the store is down; the worker
		// tries the report again, not a lease.
		r.clock.Advance(5 * time.Second)
		r.awaitOp("report", 250*time.Millisecond)
		s.down.Store(false)
		if n := r.await(delivery.NoticeDelivered, 250*time.Millisecond); n.Number != 1 || n.Live {
			t.Fatalf("delivered notice %+v, want attempt 1 in the background", n)
		}
		checkDeliveredOnce(t, r, s.Store.(*boltstore.Store), "evt_down", &attempts, 1)
	})
	t.Run("live", func(t *testing.T) {
		s := &downStore{Store: openBolt(t)}
		var attempts atomic.Int64
		r := newRig(t, delivery.Config{
			Store:        s,
			Destinations: []delivery.Destination{{Source: "github", Name: "app", AttemptTimeout: time.Second}},
			Attempt: func(context.Context, *delivery.Task) delivery.Result {
				attempts.Add(1)
				return delivery.Result{Delivered: true, StatusCode: 200}
			},
		})
		r.run()
		ctx := context.Background()
		tk, err := r.e.BeginLive(ctx, &delivery.Event{Source: "github", ID: "evt_live_down", Body: []byte("{}")}, "app")
		if err != nil {
			t.Fatal(err)
		}
		s.down.Store(true) // the app answered 2xx; the store died meanwhile
		if err := r.e.Finish(ctx, tk, delivery.Result{Delivered: true, StatusCode: 200}); !errors.Is(err, delivery.ErrUnavailable) {
			t.Fatalf("Finish with the store down: %v, want ErrUnavailable", err)
		}
		r.awaitOp("report", 0)
		r.clock.Advance(5 * time.Second)
		r.awaitOp("report", 250*time.Millisecond)
		s.down.Store(false)
		if n := r.await(delivery.NoticeDelivered, 250*time.Millisecond); n.Number != 1 || !n.Live {
			t.Fatalf("delivered notice %+v, want the live attempt", n)
		}
		checkDeliveredOnce(t, r, s.Store.(*boltstore.Store), "evt_live_down", &attempts, 0)
	})
}
