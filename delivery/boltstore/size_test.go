package boltstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/delivery"
)

// TestBoundedSize runs rounds of a steady load (2,000 events in, leased,
// delivered, and trimmed by retention a round later): the file grows to a
// high-water mark and then stays there, its freed pages reused.
func TestBoundedSize(t *testing.T) {
	if testing.Short() {
		t.Skip("writes some 20,000 events")
	}
	s, err := Open(filepath.Join(t.TempDir(), "delivery.db"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	q := delivery.Queue{Source: "github", Destination: "app"}
	const perRound, rounds = 2000, 10
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	sizes := make([]int64, rounds) // the file
	marks := make([]int64, rounds) // its pages in use or free: the high-water mark
	for r := range rounds {
		backlog(t, s, fmt.Sprintf("r%d-", r), perRound, at)
		tasks, _, err := s.Lease(ctx, q, at, perRound, at.Add(time.Minute), "w")
		if err != nil || len(tasks) != perRound {
			t.Fatalf("round %d: leased %d, %v", r, len(tasks), err)
		}
		for _, tk := range tasks {
			err := s.Report(ctx, delivery.Report{Source: "github", ID: tk.Event.ID, Destination: "app", Token: "w",
				Attempt: &delivery.Attempt{At: at, StatusCode: 200}, Status: delivery.StatusDelivered, Now: at, Lazy: true})
			if err != nil {
				t.Fatal(err)
			}
		}
		// Retention keeps one round: what was delivered before this one
		// goes.
		n, err := s.Purge(ctx, delivery.Filter{Status: delivery.StatusDelivered, FinishedBefore: at})
		if err != nil {
			t.Fatal(err)
		}
		if r > 0 && n != perRound {
			t.Fatalf("round %d: retention removed %d, want %d", r, n, perRound)
		}
		sizes[r] = fileSize(t, s)
		if err := s.db.View(func(tx *bolt.Tx) error { marks[r] = tx.Size(); return nil }); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Hour)
	}
	t.Logf("high-water mark after each round: %v", marks)
	t.Logf("file size after each round:       %v", sizes)
	// Rounds 0 and 1 grow the pages to what two rounds need; from then on
	// freed pages are reused and the mark holds, within a few pages of
	// freelist churn.
	for r := 3; r < rounds; r++ {
		if marks[r] > marks[2]+marks[2]/20 {
			t.Fatalf("the high-water mark kept growing: %v", marks)
		}
	}
	if sizes[rounds-1] != sizes[2] {
		t.Fatalf("the file kept growing: %v", sizes)
	}
}
