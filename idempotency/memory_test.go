package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/idempotency/idempotencytest"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestMemoryContract(t *testing.T) {
	idempotencytest.TestStore(t, idempotencytest.Harness{
		New: func(t *testing.T) (idempotency.Store, func(time.Duration)) {
			clock := newFakeClock()
			return idempotency.NewMemory(idempotency.MemoryConfig{Now: clock.Now}), clock.Advance
		},
	})
}

func TestMemoryContractRealClock(t *testing.T) {
	idempotencytest.TestStore(t, idempotencytest.Harness{
		New: func(t *testing.T) (idempotency.Store, func(time.Duration)) {
			return idempotency.NewMemory(idempotency.MemoryConfig{}), nil
		},
		Rounds:   100,
		ShortTTL: 5 * time.Millisecond,
	})
}

// TestMemoryExpiryBoundary checks TTLs to the nanosecond with a fake clock.
func TestMemoryExpiryBoundary(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := idempotency.NewMemory(idempotency.MemoryConfig{Now: clock.Now})
	const lock, done = 30 * time.Second, 72 * time.Hour

	if err := m.Claim(ctx, testKey("k"), testToken("t1"), lock); err != nil {
		t.Fatal(err)
	}
	clock.Advance(lock - 1)
	if err := m.Claim(ctx, testKey("k"), testToken("t2"), lock); !errors.Is(err, idempotency.ErrInFlight) {
		t.Fatalf("1ns before the lock TTL: got %v, want ErrInFlight", err)
	}
	clock.Advance(1)
	if err := m.Claim(ctx, testKey("k"), testToken("t2"), lock); err != nil {
		t.Fatalf("at the lock TTL: got %v, want nil", err)
	}
	if err := m.Complete(ctx, testKey("k"), testToken("t2"), done); err != nil {
		t.Fatal(err)
	}
	clock.Advance(done - 1)
	if err := m.Claim(ctx, testKey("k"), testToken("t3"), lock); !errors.Is(err, idempotency.ErrDuplicate) {
		t.Fatalf("1ns before the done TTL: got %v, want ErrDuplicate", err)
	}
	clock.Advance(1)
	if err := m.Claim(ctx, testKey("k"), testToken("t3"), lock); err != nil {
		t.Fatalf("at the done TTL: got %v, want nil", err)
	}
}

func TestMemoryEviction(t *testing.T) {
	ctx := context.Background()
	const lock, done = time.Minute, time.Hour
	key := func(i int) string { return fmt.Sprint("k", i) }

	t.Run("OldestCompletedFirst", func(t *testing.T) {
		clock := newFakeClock()
		m := idempotency.NewMemory(idempotency.MemoryConfig{MaxEntries: 4, Now: clock.Now})
		for i := range 4 {
			mustClaim(t, m, key(i), "t")
			clock.Advance(time.Second)
		}
		// Complete in the order 2, 0, 3; 1 stays in flight.
		for _, i := range []int{2, 0, 3} {
			if err := m.Complete(ctx, testKey(key(i)), testToken("t"), done); err != nil {
				t.Fatal(err)
			}
		}
		mustClaim(t, m, key(4), "t") // evicts 2, the oldest completed
		wantClaim(t, m, key(2), nil) // evicts 0
		wantClaim(t, m, key(0), nil) // evicts 3
		wantClaim(t, m, key(1), idempotency.ErrInFlight)
		if n := m.Len(); n != 4 {
			t.Fatalf("Len = %d, want 4", n)
		}
		// 1, 4, 2, 0 are live claims: nothing can be evicted.
		wantClaim(t, m, key(5), idempotency.ErrUnavailable)
		if err := m.Complete(ctx, testKey(key(5)), testToken("t"), done); !errors.Is(err, idempotency.ErrUnavailable) {
			t.Fatalf("Complete of a new key in a full store: got %v, want ErrUnavailable", err)
		}
		// Once the claims expire, they make room.
		clock.Advance(lock)
		mustClaim(t, m, key(5), "t")
		if n := m.Len(); n > 4 {
			t.Fatalf("Len = %d, want at most 4", n)
		}
	})

	// A full store that forgets a completed id early says so (issue 13:
	// it did so silently); with RefuseWhenFull it forgets none.
	t.Run("EvictionsCounted", func(t *testing.T) {
		for _, refuse := range []bool{false, true} {
			clock := newFakeClock()
			var hooked int
			m := idempotency.NewMemory(idempotency.MemoryConfig{MaxEntries: 2, Now: clock.Now, RefuseWhenFull: refuse,
				OnEvict: func(n int) { hooked += n }})
			for i := range 2 {
				mustClaim(t, m, key(i), "t")
				if err := m.Complete(ctx, testKey(key(i)), testToken("t"), done); err != nil {
					t.Fatal(err)
				}
			}
			if refuse {
				wantClaim(t, m, key(2), idempotency.ErrUnavailable)
				wantClaim(t, m, key(0), idempotency.ErrDuplicate)
				if m.Evicted() != 0 || hooked != 0 {
					t.Fatalf("refuse: Evicted %d, hook %d, want 0", m.Evicted(), hooked)
				}
				// Expired entries still make room.
				clock.Advance(done)
				mustClaim(t, m, key(2), "t")
				continue
			}
			mustClaim(t, m, key(2), "t") // forgets 0
			wantClaim(t, m, key(0), nil) // forgets 1
			if m.Evicted() != 2 || hooked != 2 {
				t.Fatalf("evict: Evicted %d, hook %d, want 2", m.Evicted(), hooked)
			}
		}
	})

	t.Run("ExpiredBeforeLive", func(t *testing.T) {
		clock := newFakeClock()
		m := idempotency.NewMemory(idempotency.MemoryConfig{MaxEntries: 3, Now: clock.Now})
		mustClaim(t, m, key(0), "t")
		if err := m.Complete(ctx, testKey(key(0)), testToken("t"), done); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, m, key(1), "t")
		if err := m.Complete(ctx, testKey(key(1)), testToken("t"), time.Second); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, m, key(2), "t") // a lock abandoned by a crashed claimant
		clock.Advance(time.Second)
		mustClaim(t, m, key(3), "t") // evicts 1 (expired), not 0 (older, live)
		wantClaim(t, m, key(0), idempotency.ErrDuplicate)
		clock.Advance(lock)
		mustClaim(t, m, key(4), "t") // evicts 2 (an expired lock), not 0
		wantClaim(t, m, key(0), idempotency.ErrDuplicate)
	})

	t.Run("Bounded", func(t *testing.T) {
		clock := newFakeClock()
		const limit = 20_000
		m := idempotency.NewMemory(idempotency.MemoryConfig{MaxEntries: limit, Now: clock.Now})
		for i := range 5 * limit {
			k := key(i)
			mustClaim(t, m, k, "t")
			if err := m.Complete(ctx, testKey(k), testToken("t"), done); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Millisecond)
		}
		if n := m.Len(); n > limit || n < limit*9/10 {
			t.Fatalf("Len = %d after %d completions, want close to and at most %d", n, 5*limit, limit)
		}
		// The newest completions survive.
		wantClaim(t, m, key(5*limit-1), idempotency.ErrDuplicate)
	})
}

func mustClaim(t *testing.T, m *idempotency.Memory, key, token string) {
	t.Helper()
	if err := m.Claim(context.Background(), testKey(key), testToken(token), time.Minute); err != nil {
		t.Fatalf("Claim(%q): %v", key, err)
	}
}

func wantClaim(t *testing.T, m *idempotency.Memory, key string, want error) {
	t.Helper()
	err := m.Claim(context.Background(), testKey(key), testToken("other"), time.Minute)
	if !errors.Is(err, want) {
		t.Fatalf("Claim(%q): got %v, want %v", key, err, want)
	}
}

// TestMemoryDeduperAndStoreAgree: a Deduper over a Memory store claims by
// hashes it computes without building the key; a caller using the Store
// methods with Key{Namespace, ID} must see the same entries.
func TestMemoryDeduperAndStoreAgree(t *testing.T) {
	ctx := context.Background()
	m := idempotency.NewMemory(idempotency.MemoryConfig{})
	d, err := idempotency.New(idempotency.Config{Store: m})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 300) // past the stack buffer the hash is built in
	for _, id := range []string{"evt_1", "a:b", long} {
		c, err := d.Claim(ctx, "src", id)
		if err != nil {
			t.Fatal(err)
		}
		key := idempotency.Key{Namespace: "src", ID: id}
		if err := m.Claim(ctx, key, testToken("someone-else"), time.Minute); !errors.Is(err, idempotency.ErrInFlight) {
			t.Fatalf("%.20s: Store.Claim while the Deduper holds it: %v, want ErrInFlight", id, err)
		}
		if err := c.Complete(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m.Claim(ctx, key, testToken("someone-else"), time.Minute); !errors.Is(err, idempotency.ErrDuplicate) {
			t.Fatalf("%.20s: Store.Claim after Complete: %v, want ErrDuplicate", id, err)
		}
		if _, err := d.Claim(ctx, "src2", id); err != nil {
			t.Fatalf("%.20s: another namespace: %v", id, err)
		}
	}
	// And the other way round: a key claimed through the Store blocks the
	// Deduper, and its release frees it.
	if err := m.Claim(ctx, idempotency.Key{Namespace: "src", ID: "evt_2"}, testToken("t"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Claim(ctx, "src", "evt_2"); !errors.Is(err, idempotency.ErrInFlight) {
		t.Fatalf("Deduper.Claim of a key held through the Store: %v, want ErrInFlight", err)
	}
	if err := m.Release(ctx, idempotency.Key{Namespace: "src", ID: "evt_2"}, testToken("t")); err != nil {
		t.Fatal(err)
	}
	c, err := d.Claim(ctx, "src", "evt_2")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	if err := c.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Claim(ctx, "src", "evt_2"); err != nil {
		t.Fatalf("after the Deduper's release: %v", err)
	}
}

// testKey is the key a test names, in namespace "test".
func testKey(id string) idempotency.Key { return idempotency.Key{Namespace: "test", ID: id} }

// testToken is the token a test names: the same name, the same token.
func testToken(name string) idempotency.Token {
	h := fnv.New64a()
	h.Write([]byte(name))
	return idempotency.Token{Base: 1, Seq: h.Sum64()}
}
