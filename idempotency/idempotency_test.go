package idempotency_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/idempotency"
)

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		cfg   idempotency.Config
		field string // "" when valid
	}{
		{idempotency.Config{}, ""},
		{idempotency.Config{DoneTTL: time.Millisecond, LockTTL: time.Millisecond}, ""},
		{idempotency.Config{DoneTTL: -time.Second}, "DoneTTL"},
		{idempotency.Config{DoneTTL: time.Microsecond}, "DoneTTL"},
		{idempotency.Config{LockTTL: -1}, "LockTTL"},
		{idempotency.Config{LockTTL: 999 * time.Microsecond}, "LockTTL"},
	} {
		_, err := idempotency.New(tt.cfg)
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("New(%+v): %v", tt.cfg, err)
		case tt.field != "" && (err == nil || !strings.Contains(err.Error(), "Config."+tt.field)):
			t.Errorf("New(%+v): got error %v, want one naming Config.%s", tt.cfg, err, tt.field)
		}
	}
}

func TestKeyUnambiguous(t *testing.T) {
	pairs := [][2]string{{"a:b", "c"}, {"a", "b:c"}, {"", "a:b:c"}, {"a:b:c", ""}, {"1:a", "b"}, {"1", "a:b"}}
	seen := map[string][2]string{}
	for _, p := range pairs {
		k := idempotency.Key{Namespace: p[0], ID: p[1]}.String()
		if q, ok := seen[k]; ok {
			t.Errorf("Key%q and Key%q are both %q", q, p, k)
		}
		seen[k] = p
	}
	if got, want := (idempotency.Key{Namespace: "stripe", ID: "evt_1"}).String(), "6:stripe:evt_1"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
}

func TestDeduperSequence(t *testing.T) {
	ctx := context.Background()
	d, err := idempotency.New(idempotency.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Claim(ctx, "stripe", ""); !errors.Is(err, idempotency.ErrNoID) {
		t.Fatalf("empty id: got %v, want ErrNoID", err)
	}

	c, err := d.Claim(ctx, "stripe", "evt_1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Degraded() || c.Err() != nil {
		t.Fatal("a won claim is not degraded")
	}
	// Namespaces keep providers apart.
	other, err := d.Claim(ctx, "svix", "evt_1")
	if err != nil {
		t.Fatalf("same id, other namespace: %v", err)
	}
	if _, err := d.Claim(ctx, "stripe", "evt_1"); !errors.Is(err, idempotency.ErrInFlight) {
		t.Fatalf("claimed twice: got %v, want ErrInFlight", err)
	}
	if err := c.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Release(ctx); err != nil { // no-op after Complete
		t.Fatal(err)
	}
	if _, err := d.Claim(ctx, "stripe", "evt_1"); !errors.Is(err, idempotency.ErrDuplicate) {
		t.Fatalf("after Complete: got %v, want ErrDuplicate", err)
	}

	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.Complete(ctx); err != nil { // no-op after Release
		t.Fatal(err)
	}
	again, err := d.Claim(ctx, "svix", "evt_1")
	if err != nil {
		t.Fatalf("after Release: got %v, want nil", err)
	}
	if err := again.Complete(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestDeduperExpiredLock(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	d, err := idempotency.New(idempotency.Config{
		Store:   idempotency.NewMemory(idempotency.MemoryConfig{Now: clock.Now}),
		LockTTL: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := d.Claim(ctx, "s", "evt")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	retry, err := d.Claim(ctx, "s", "evt")
	if err != nil {
		t.Fatalf("after the lock TTL: got %v, want nil", err)
	}
	if err := slow.Complete(ctx); !errors.Is(err, idempotency.ErrLockLost) {
		t.Fatalf("Complete of an expired, retaken claim: got %v, want ErrLockLost", err)
	}
	if err := slow.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Claim(ctx, "s", "evt"); !errors.Is(err, idempotency.ErrInFlight) {
		t.Fatalf("the old claim released the new one: got %v, want ErrInFlight", err)
	}
	if err := retry.Complete(ctx); err != nil {
		t.Fatal(err)
	}
}

// stubStore answers every call with err and counts the calls.
type stubStore struct {
	mu    sync.Mutex
	err   error
	calls int
}

func (s *stubStore) do() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.err
}

func (s *stubStore) Claim(context.Context, idempotency.Key, idempotency.Token, time.Duration) error {
	return s.do()
}
func (s *stubStore) Complete(context.Context, idempotency.Key, idempotency.Token, time.Duration) error {
	return s.do()
}
func (s *stubStore) Release(context.Context, idempotency.Key, idempotency.Token) error { return s.do() }

func TestDeduperStoreFailure(t *testing.T) {
	ctx := context.Background()
	down := errors.New("dial tcp 127.0.0.1:6379: connection refused")
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"Wrapped", errors.Join(idempotency.ErrUnavailable, down)},
		{"Plain", down}, // not a known answer: treated as unavailable
		{"Canceled", context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := idempotency.New(idempotency.Config{Store: &stubStore{err: tt.err}})
			if err != nil {
				t.Fatal(err)
			}
			c, err := d.Claim(ctx, "s", "evt")
			if c != nil || !errors.Is(err, idempotency.ErrUnavailable) || !errors.Is(err, tt.err) {
				t.Fatalf("fail closed: got (%v, %v), want (nil, error wrapping ErrUnavailable and %v)", c, err, tt.err)
			}
			if errors.Is(err, idempotency.ErrDuplicate) || errors.Is(err, idempotency.ErrInFlight) {
				t.Fatalf("a store failure reported as %v", err)
			}

			store := &stubStore{err: tt.err}
			d, err = idempotency.New(idempotency.Config{Store: store, FailOpen: true})
			if err != nil {
				t.Fatal(err)
			}
			c, err = d.Claim(ctx, "s", "evt")
			if err != nil || !c.Degraded() || !errors.Is(c.Err(), idempotency.ErrUnavailable) {
				t.Fatalf("fail open: got (%+v, %v), want a degraded claim", c, err)
			}
			if err := c.Complete(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if store.calls != 1 {
				t.Fatalf("a degraded claim called the store %d times after Claim", store.calls-1)
			}
		})
	}
}

func TestClaimFinishFailure(t *testing.T) {
	ctx := context.Background()
	store := &stubStore{}
	d, err := idempotency.New(idempotency.Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Claim(ctx, "s", "evt")
	if err != nil {
		t.Fatal(err)
	}
	store.err = errors.New("i/o timeout")
	if err := c.Complete(ctx); !errors.Is(err, idempotency.ErrUnavailable) {
		t.Fatalf("Complete: got %v, want ErrUnavailable", err)
	}
	if err := c.Release(ctx); !errors.Is(err, idempotency.ErrUnavailable) {
		t.Fatalf("Release: got %v, want ErrUnavailable", err)
	}
	store.err = nil
	if err := c.Complete(ctx); err != nil { // a failed Complete may be retried
		t.Fatal(err)
	}
	calls := store.calls
	if err := c.Release(ctx); err != nil || store.calls != calls {
		t.Fatalf("Release after Complete: err %v, %d store calls, want none", err, store.calls-calls)
	}
}

func TestDeduperTokensUnique(t *testing.T) {
	// Two Dedupers sharing a store never share a token, so one cannot
	// finish the other's claim.
	ctx := context.Background()
	store := idempotency.NewMemory(idempotency.MemoryConfig{})
	d1, _ := idempotency.New(idempotency.Config{Store: store})
	d2, _ := idempotency.New(idempotency.Config{Store: store})
	c, err := d1.Claim(ctx, "s", "evt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Claim(ctx, "s", "evt"); !errors.Is(err, idempotency.ErrInFlight) {
		t.Fatalf("second Deduper: got %v, want ErrInFlight", err)
	}
	if err := c.Complete(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestClaimIntoReuses checks that ClaimInto overwrites whatever its Claim
// held: a won claim completes, a refused one leaves nothing to finish.
func TestClaimIntoReuses(t *testing.T) {
	ctx := context.Background()
	d, err := idempotency.New(idempotency.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var c idempotency.Claim
	if err := d.ClaimInto(ctx, &c, "src", "evt_1"); err != nil {
		t.Fatalf("first ClaimInto: %v", err)
	}
	if err := c.Complete(ctx); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	for _, tt := range []struct {
		id   string
		want error
	}{
		{"evt_1", idempotency.ErrDuplicate},
		{"", idempotency.ErrNoID},
		{"evt_2", nil},
	} {
		err := d.ClaimInto(ctx, &c, "src", tt.id)
		if !errors.Is(err, tt.want) {
			t.Fatalf("ClaimInto(%q): %v, want %v", tt.id, err, tt.want)
		}
		if err != nil && (c != idempotency.Claim{}) {
			t.Errorf("ClaimInto(%q) failed but left a claim: %+v", tt.id, c)
		}
	}
	// The last claim (evt_2) is live: another claimant sees it in flight.
	if _, err := d.Claim(ctx, "src", "evt_2"); !errors.Is(err, idempotency.ErrInFlight) {
		t.Errorf("Claim(evt_2) after ClaimInto: %v, want ErrInFlight", err)
	}
	if err := c.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Claim(ctx, "src", "evt_2"); err != nil {
		t.Errorf("Claim(evt_2) after Release: %v", err)
	}
}
