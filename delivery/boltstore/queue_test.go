package boltstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookgate/hookgate/delivery"
)

// liveEvent returns newEvent(id) with its delivery leased to the caller
// ("live"), as Engine.BeginLive makes it.
func liveEvent(id string) *delivery.Event {
	ev := newEvent(id)
	d := &ev.Deliveries[0]
	d.Status, d.Token, d.NextAt = delivery.StatusLeased, "live", ev.ReceivedAt.Add(time.Minute)
	return ev
}

// queue queues the append of liveEvent(id), held for hold.
func queue(t *testing.T, s *Store, id string, hold time.Duration) (*delivery.Event, delivery.QueuedAppend) {
	t.Helper()
	ev := liveEvent(id)
	qa, err := s.QueueAppend(context.Background(), ev, hold)
	if err != nil {
		t.Fatal(err)
	}
	return ev, qa
}

func liveDelivered(ev *delivery.Event) delivery.Report {
	at := ev.ReceivedAt.Add(20 * time.Millisecond)
	return delivery.Report{
		Source: ev.Source, ID: ev.ID, Destination: "d", Token: "live",
		Attempt: &delivery.Attempt{At: ev.ReceivedAt, StatusCode: 200, Latency: 20 * time.Millisecond},
		Status:  delivery.StatusDelivered, Now: at, Lazy: true,
	}
}

// A report folded into an append that has not begun is written with it:
// one write, of the event already delivered.
func TestQueueAppendFold(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	release := block(t, s)
	ev, qa := queue(t, s, "x", time.Hour)
	if !qa.Fold(liveDelivered(ev)) {
		t.Fatal("Fold before the commit began: false")
	}
	if qa.Fold(liveDelivered(ev)) {
		t.Fatal("a second Fold succeeded")
	}
	c0, w0 := s.Commits()
	release()
	if err := qa.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if c, w := s.Commits(); c-c0 != 1 || w-w0 != 1 {
		t.Fatalf("%d commits, %d writes after the blocker; want 1, 1", c-c0, w-w0)
	}
	got, err := s.Get(ctx, "s", "x")
	if err != nil {
		t.Fatal(err)
	}
	d := got.Delivery("d")
	if d.Status != delivery.StatusDelivered || d.AttemptCount != 1 || d.Tries != 1 || d.Token != "" || len(got.Body) != 1024 {
		t.Fatalf("recorded %+v, body %d bytes; want delivered after one attempt, with its body", d, len(got.Body))
	}
	st, err := s.Stats(ctx, []delivery.Queue{{Source: "s", Destination: "d"}})
	if err != nil || st[0].Pending != 0 {
		t.Fatalf("stats %+v, %v: want nothing pending", st, err)
	}
	tasks, _, err := s.Lease(ctx, delivery.Queue{Source: "s", Destination: "d"}, ev.ReceivedAt.Add(time.Hour), 10, ev.ReceivedAt.Add(2*time.Hour), "w")
	if err != nil || len(tasks) != 0 {
		t.Fatalf("leased %d after a folded delivery (%v)", len(tasks), err)
	}
	if ev.Seq != 0 {
		t.Fatal("QueueAppend wrote to the caller's event")
	}
}

// Once the commit has taken the append, Fold declines, and the report
// goes the usual way.
func TestQueueAppendTaken(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	ev, qa := queue(t, s, "x", time.Hour)
	if err := qa.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	r := liveDelivered(ev)
	if qa.Fold(r) {
		t.Fatal("Fold after the commit succeeded")
	}
	got, _ := s.Get(ctx, "s", "x")
	if d := got.Delivery("d"); d.Status != delivery.StatusLeased || d.Token != "live" {
		t.Fatalf("recorded %+v, want leased to the live caller", d)
	}
	if err := s.Report(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Get(ctx, "s", "x")
	if d := got.Delivery("d"); d.Status != delivery.StatusDelivered || d.AttemptCount != 1 {
		t.Fatalf("recorded %+v, want delivered", d)
	}
}

// A duplicate is found at once when the first is committed, by Wait when
// both wait for the same commit.
func TestQueueAppendExists(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.Append(ctx, newEvent("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.QueueAppend(ctx, liveEvent("x"), time.Hour); !errors.Is(err, delivery.ErrExists) {
		t.Fatalf("QueueAppend of a committed id: %v, want ErrExists", err)
	}
	release := block(t, s)
	a, err := s.QueueAppend(ctx, liveEvent("y"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.QueueAppend(ctx, liveEvent("y"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if err := a.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(ctx); !errors.Is(err, delivery.ErrExists) {
		t.Fatalf("second of two queued appends: %v, want ErrExists", err)
	}
	if _, err := s.QueueAppend(ctx, &delivery.Event{Source: "s"}, time.Hour); err == nil {
		t.Fatal("QueueAppend of an invalid event succeeded")
	}
}

// A folded report that drops the payload: the event goes in without it.
func TestQueueAppendFoldDropsPayload(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	release := block(t, s)
	ev := liveEvent("x")
	ev.Header = map[string][]string{"Content-Type": {"application/json"}}
	qa, err := s.QueueAppend(ctx, ev, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := liveDelivered(ev)
	r.DropPayload = true
	if !qa.Fold(r) {
		t.Fatal("Fold declined")
	}
	release()
	if err := qa.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(ctx, "s", "x")
	if !got.PayloadDropped || got.Header != nil || len(got.Body) != 0 {
		t.Fatalf("recorded dropped=%v header=%v body=%d bytes; want no payload", got.PayloadDropped, got.Header, len(got.Body))
	}
	if err := s.Replay(ctx, "s", "x", "", ev.ReceivedAt); !errors.Is(err, delivery.ErrPayloadDropped) {
		t.Fatalf("Replay: %v, want ErrPayloadDropped", err)
	}
}

// The Engine's live path on a store whose committer is held: a delivered
// attempt does not wait for the write, a failed one does.
func TestEngineLiveQueued(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	e, err := delivery.New(delivery.Config{
		Store:        s,
		Destinations: []delivery.Destination{{Source: "s", Name: "d"}},
		Attempt: func(context.Context, *delivery.Task) delivery.Result {
			return delivery.Result{Delivered: true, StatusCode: 200}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	release := block(t, s)
	ok, err := e.BeginLive(ctx, &delivery.Event{Source: "s", ID: "ok", Body: []byte("{}")}, "d")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Finish(ctx, ok, delivery.Result{Delivered: true, StatusCode: 200}); err != nil {
		t.Fatal(err) // returned while the committer is held
	}
	bad, err := e.BeginLive(ctx, &delivery.Event{Source: "s", ID: "bad", Body: []byte("{}")}, "d")
	if err != nil {
		t.Fatal(err)
	}
	finished := make(chan error, 1)
	go func() { finished <- e.Finish(ctx, bad, delivery.Result{StatusCode: 503}) }()
	select {
	case err := <-finished:
		t.Fatalf("Finish of a failed attempt returned (%v) before its record was written", err)
	case <-time.After(50 * time.Millisecond):
	}
	c0, w0 := s.Commits()
	release()
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c, w := s.Commits()
	// Both appends share a commit (the delivered one folded in); the
	// failed attempt's report follows, once its record is written.
	if c-c0 != 2 || w-w0 != 3 {
		t.Fatalf("%d commits, %d writes after the blocker; want 2 commits: 2 appends, then 1 report", c-c0, w-w0)
	}
	for id, want := range map[string]delivery.Status{"ok": delivery.StatusDelivered, "bad": delivery.StatusPending} {
		got, err := s.Get(ctx, "s", id)
		if err != nil {
			t.Fatal(err)
		}
		if d := got.Delivery("d"); d.Status != want || d.AttemptCount != 1 {
			t.Fatalf("%s recorded %+v, want %v after one attempt", id, d, want)
		}
	}
	// A duplicate of a committed event is refused before any attempt.
	if _, err := e.BeginLive(ctx, &delivery.Event{Source: "s", ID: "ok", Body: []byte("{}")}, "d"); !errors.Is(err, delivery.ErrExists) {
		t.Fatalf("BeginLive of a recorded id: %v, want ErrExists", err)
	}
}

// A read sees the writes queued before it (it waits for their commit),
// and a Flush with nothing queued commits nothing.
func TestReadYourWrites(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	ev, qa := queue(t, s, "x", time.Hour)
	qa.Fold(liveDelivered(ev)) // or not: either way Get sees the delivery
	if err := s.Report(ctx, liveDelivered(ev)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "s", "x")
	if err != nil {
		t.Fatalf("Get right after QueueAppend: %v", err)
	}
	if d := got.Delivery("d"); d.Status != delivery.StatusDelivered {
		t.Fatalf("Get right after a lazy report: %v, want delivered", d.Status)
	}
	c0, _ := s.Commits()
	for range 3 {
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stats(ctx, []delivery.Queue{{Source: "s", Destination: "d"}}); err != nil {
			t.Fatal(err)
		}
	}
	if c, _ := s.Commits(); c != c0 {
		t.Fatalf("flushes and reads of an idle store made %d commits", c-c0)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "s", "x"); !errors.Is(err, delivery.ErrClosed) {
		t.Fatalf("Get on a closed store: %v, want ErrClosed", err)
	}
}

// An append is held until its hold ends, a report is folded in, or Wait.
func TestQueueAppendHeld(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	qa, err := s.QueueAppend(ctx, liveEvent("x"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "s", "x"); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("Get of a held append: %v, want ErrNotFound", err)
	}
	if err := qa.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "s", "x"); err != nil {
		t.Fatalf("Get after Wait: %v", err)
	}
	if _, err := s.QueueAppend(ctx, liveEvent("y"), 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := s.Get(ctx, "s", "y"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("an append held 10ms: Get %v after 5s", err)
		}
	}
	// Held when the store closes: written by Close.
	path := s.db.Path()
	qa, err = s.QueueAppend(ctx, liveEvent("z"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := qa.Wait(ctx); err != nil {
		t.Fatalf("Wait of an append held when the store closed: %v", err)
	}
	s, err = Open(path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Get(ctx, "s", "z"); err != nil {
		t.Fatalf("an append held when the store closed: %v", err)
	}
	if _, err := s.QueueAppend(ctx, liveEvent("w"), time.Hour); err != nil {
		t.Fatal(err)
	}
}
