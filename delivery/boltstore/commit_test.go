package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/delivery"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "delivery.db"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// txid returns the id of the last committed transaction.
func txid(t *testing.T, s *Store) int {
	t.Helper()
	var id int
	if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// block holds the committer in a transaction until the returned func is
// called, so that what is written meanwhile queues up behind it.
func block(t *testing.T, s *Store) (release func()) {
	t.Helper()
	entered, leave := make(chan struct{}), make(chan struct{})
	go func() {
		_ = s.write(context.Background(), "block", committed, func(*bolt.Tx) (error, error) {
			close(entered)
			<-leave
			return nil, nil
		})
	}()
	<-entered
	return func() { close(leave) }
}

func newEvent(id string) *delivery.Event {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	return &delivery.Event{Source: "s", ID: id, ReceivedAt: now, Body: make([]byte, 1024),
		Deliveries: []delivery.Delivery{{Destination: "d", Status: delivery.StatusPending, NextAt: now}}}
}

// Appends that arrive while a commit is under way share the next one.
func TestGroupCommit(t *testing.T) {
	s := openTest(t)
	before := txid(t, s)
	release := block(t, s)
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.Append(context.Background(), newEvent(fmt.Sprint(i))); err != nil {
				t.Error(err)
			}
		})
	}
	for len(s.ops) < n { // every Append is queued
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	if commits := txid(t, s) - before; commits != 2 {
		t.Fatalf("%d appends queued behind one commit took %d commits, want 2 (the blocker, then all of them)", n, commits)
	}
}

// A write whose transaction fails does not fail the writes grouped with
// it: they run again, alone.
func TestGroupCommitIsolatesFailure(t *testing.T) {
	s := openTest(t)
	release := block(t, s)
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Go(func() {
			if i == 2 {
				errs[i] = s.write(context.Background(), "bad", committed, func(*bolt.Tx) (error, error) {
					return nil, errors.New("disk on fire")
				})
				return
			}
			errs[i] = s.Append(context.Background(), newEvent(fmt.Sprint(i)))
		})
	}
	for len(s.ops) < len(errs) {
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	for i, err := range errs {
		if i == 2 {
			if !errors.Is(err, delivery.ErrUnavailable) {
				t.Errorf("the failing write: got %v, want ErrUnavailable", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("append %d grouped with a failing write: %v", i, err)
		}
	}
	if _, err := s.Get(context.Background(), "s", "4"); err != nil {
		t.Fatal(err)
	}
}

// A lazy write returns before it is committed; Flush waits for it, and
// its failure goes to OnError.
func TestLazy(t *testing.T) {
	var mu sync.Mutex
	var got []error
	s, err := Open(filepath.Join(t.TempDir(), "delivery.db"), Config{OnError: func(err error) {
		mu.Lock()
		got = append(got, err)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ev := newEvent("x")
	if err := s.Append(ctx, ev); err != nil {
		t.Fatal(err)
	}
	q := delivery.Queue{Source: "s", Destination: "d"}
	tasks, _, err := s.Lease(ctx, q, ev.ReceivedAt, 1, ev.ReceivedAt.Add(time.Minute), "tok")
	if err != nil || len(tasks) != 1 {
		t.Fatal(tasks, err)
	}
	release := block(t, s)
	r := delivery.Report{Source: "s", ID: "x", Destination: "d", Token: "tok", Status: delivery.StatusDelivered, Now: ev.ReceivedAt, Lazy: true}
	if err := s.Report(ctx, r); err != nil { // returns while the committer is held
		t.Fatal(err)
	}
	r.Token = "stale"
	r.Status = delivery.StatusDead
	if err := s.Report(ctx, r); err != nil {
		t.Fatal(err)
	}
	release()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got2, _ := s.Get(ctx, "s", "x")
	if st := got2.Delivery("d").Status; st != delivery.StatusDelivered {
		t.Fatalf("after Flush: %v, want delivered", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !errors.Is(got[0], delivery.ErrLeaseLost) {
		t.Fatalf("OnError got %v, want the stale report's ErrLeaseLost", got)
	}
}

// Lazy writes are held up to LazyDelay to share a commit; a write
// someone waits for (here a Flush) ends the hold at once.
func TestLazyWritesHeld(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		delay time.Duration
		flush bool
	}{{"until a waited write", time.Hour, true}, {"until the delay ends", 20 * time.Millisecond, false}} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "delivery.db"), Config{LazyDelay: c.delay})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ev := newEvent("x")
			if err := s.Append(ctx, ev); err != nil {
				t.Fatal(err)
			}
			c0, _ := s.Commits()
			r := delivery.Report{Source: "s", ID: "x", Destination: "d", Token: "none", Status: delivery.StatusDead, Now: ev.ReceivedAt, Lazy: true}
			for range 3 {
				if err := s.Report(ctx, r); err != nil { // lease lost: recorded as nothing
					t.Fatal(err)
				}
			}
			if c.flush {
				time.Sleep(20 * time.Millisecond)
				if c1, _ := s.Commits(); c1 != c0 {
					t.Fatalf("%d commits while lazy writes were held", c1-c0)
				}
				if err := s.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
				c1, _ := s.Commits()
				if c1 == c0+1 {
					break
				}
				if c1 > c0+1 || time.Now().After(deadline) {
					t.Fatalf("%d commits for 3 lazy reports, want 1", c1-c0)
				}
			}
		})
	}
}
