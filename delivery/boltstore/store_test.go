package boltstore_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/boltstore"
	"github.com/hookgate/hookgate/delivery/deliverytest"
)

// open opens the store at path, closed when the test ends.
func open(tb testing.TB, path string) *boltstore.Store {
	tb.Helper()
	s, err := boltstore.Open(path, boltstore.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func TestContract(t *testing.T) {
	deliverytest.Run(t, deliverytest.Harness{
		New: func(t *testing.T) (delivery.Store, func() delivery.Store) {
			path := filepath.Join(t.TempDir(), "hookgate", "delivery.db")
			s := open(t, path)
			return s, func() delivery.Store {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s = open(t, path)
				return s
			}
		},
	})
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "hookgate")
	path := filepath.Join(dir, "delivery.db")
	open(t, path)
	for p, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode(); got != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(p), got, want)
		}
	}
}

// A second Open of a path held open waits for the lock and fails: the
// reason a gateway shares one Store per path across reloads.
func TestSecondOpenTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "delivery.db")
	s := open(t, path)
	_, err := boltstore.Open(path, boltstore.Config{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, bolterrors.ErrTimeout) {
		t.Fatalf("second Open: got %v, want bbolt's ErrTimeout", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, path) // free again
}

func TestClosed(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "delivery.db"))
	ctx := context.Background()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ev := &delivery.Event{Source: "a", ID: "1", ReceivedAt: time.Now()}
	if err := s.Append(ctx, ev); !errors.Is(err, delivery.ErrClosed) || !errors.Is(err, delivery.ErrUnavailable) {
		t.Fatalf("Append after Close: got %v, want ErrClosed wrapping ErrUnavailable", err)
	}
	if _, err := s.Get(ctx, "a", "1"); !errors.Is(err, delivery.ErrClosed) {
		t.Fatalf("Get after Close: got %v, want ErrClosed", err)
	}
}

// Two Stores sharing one *bolt.DB (a reload's old and new configuration)
// see each other's writes and never lease the same delivery twice.
func TestSharedDB(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "delivery.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, err := boltstore.New(db, boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := boltstore.New(db, boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := deliverytest.T0
	for i := range 10 {
		ev := &delivery.Event{Source: "s", ID: fmt.Sprint(i), ReceivedAt: now,
			Deliveries: []delivery.Delivery{{Destination: "d", Status: delivery.StatusPending, NextAt: now}}}
		if err := a.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	q := delivery.Queue{Source: "s", Destination: "d"}
	ta, _, err := a.Lease(ctx, q, now, 6, now.Add(time.Minute), "a")
	if err != nil {
		t.Fatal(err)
	}
	tb, _, err := b.Lease(ctx, q, now, 6, now.Add(time.Minute), "b")
	if err != nil {
		t.Fatal(err)
	}
	if len(ta) != 6 || len(tb) != 4 {
		t.Fatalf("leased %d and %d, want 6 and 4", len(ta), len(tb))
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// Closing one leaves the database to the other.
	if _, err := b.Get(ctx, "s", "3"); err != nil {
		t.Fatalf("Get through the other Store: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// A corrupt record is reported as unavailable, not as missing or as a
// panic.
func TestCorruptRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "delivery.db")
	s := open(t, path)
	ctx := context.Background()
	ev := &delivery.Event{Source: "s", ID: "x", ReceivedAt: deliverytest.T0}
	if err := s.Append(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("data")).Put(binary.BigEndian.AppendUint64([]byte{'e'}, ev.Seq), []byte{1, 200})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "s", "x"); !errors.Is(err, delivery.ErrUnavailable) {
		t.Fatalf("Get of a corrupt record: got %v, want ErrUnavailable", err)
	}
	if err := s.Replay(ctx, "s", "x", "", deliverytest.T0); !errors.Is(err, delivery.ErrUnavailable) {
		t.Fatalf("Replay of a corrupt record: got %v, want ErrUnavailable", err)
	}
	// The store goes on working.
	if err := s.Append(ctx, &delivery.Event{Source: "s", ID: "y", ReceivedAt: deliverytest.T0}); err != nil {
		t.Fatal(err)
	}
}
