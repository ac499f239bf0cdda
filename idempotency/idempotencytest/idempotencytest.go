// Package idempotencytest checks that an [idempotency.Store] keeps the
// contract the Deduper relies on.
//
// A store's test calls [TestStore] with a [Harness] that makes fresh,
// empty stores:
//
//	func TestContract(t *testing.T) {
//		idempotencytest.TestStore(t, idempotencytest.Harness{
//			New: func(t *testing.T) (idempotency.Store, func(time.Duration)) {
//				return newMyStore(t), nil // nil: time passes with time.Sleep
//			},
//		})
//	}
package idempotencytest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/idempotency"
)

// Harness describes the store under test.
type Harness struct {
	// New returns an empty store for one subtest, and a function that lets
	// d pass as the store sees time: the advance of a fake clock, or nil
	// for time.Sleep.
	New func(t *testing.T) (s idempotency.Store, wait func(d time.Duration))

	// Rounds is the number of random ids the concurrency test contends for.
	//
	// default: 1000
	Rounds int

	// Claimants is the number of goroutines claiming each id at once.
	//
	// default: 64
	Claimants int

	// ShortTTL is the TTL of entries the expiry tests let expire. With a
	// real clock they wait three times as long.
	//
	// default: 20ms
	ShortTTL time.Duration
}

// longTTL outlives any test: entries given it must not expire during one.
const longTTL = time.Hour

// TestStore runs the contract tests against stores made by h.New, each in
// its own subtest.
func TestStore(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("idempotencytest: Harness.New is nil")
	}
	if h.Rounds <= 0 {
		h.Rounds = 1000
	}
	if h.Claimants <= 0 {
		h.Claimants = 64
	}
	if h.ShortTTL <= 0 {
		h.ShortTTL = 20 * time.Millisecond
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, c *checker)
	}{
		{"ClaimCompleteDuplicate", testClaimCompleteDuplicate},
		{"ReleaseThenClaim", testReleaseThenClaim},
		{"OtherTokenCannotFinish", testOtherTokenCannotFinish},
		{"SameTokenRetries", testSameTokenRetries},
		{"CompleteFreeKey", testCompleteFreeKey},
		{"KeysIndependent", testKeysIndependent},
		{"LockExpires", testLockExpires},
		{"DoneExpires", testDoneExpires},
		{"CompleteAfterLockExpired", testCompleteAfterLockExpired},
		{"OneWinner", testOneWinner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, wait := h.New(t)
			if wait == nil {
				wait = func(d time.Duration) { time.Sleep(3 * d) }
			}
			tt.fn(t, &checker{t: t, s: s, wait: wait, h: h})
		})
	}
}

type checker struct {
	t    *testing.T
	s    idempotency.Store
	wait func(time.Duration)
	h    Harness
}

// want checks that err matches target (nil: no error).
func (c *checker) want(op string, err, target error) {
	c.t.Helper()
	if target == nil {
		if err != nil {
			c.t.Fatalf("%s: got error %v, want nil", op, err)
		}
		return
	}
	if !errors.Is(err, target) {
		c.t.Fatalf("%s: got %v, want %v", op, err, target)
	}
	if target != idempotency.ErrUnavailable && errors.Is(err, idempotency.ErrUnavailable) {
		c.t.Fatalf("%s: got %v, which also wraps ErrUnavailable", op, err)
	}
}

func (c *checker) claim(key idempotency.Key, token string, ttl time.Duration, want error) {
	c.t.Helper()
	c.want(fmt.Sprintf("Claim(%q, %q)", key, token), c.s.Claim(context.Background(), key, tok(token), ttl), want)
}

func (c *checker) complete(key idempotency.Key, token string, ttl time.Duration, want error) {
	c.t.Helper()
	c.want(fmt.Sprintf("Complete(%q, %q)", key, token), c.s.Complete(context.Background(), key, tok(token), ttl), want)
}

func (c *checker) release(key idempotency.Key, token string) {
	c.t.Helper()
	c.want(fmt.Sprintf("Release(%q, %q)", key, token), c.s.Release(context.Background(), key, tok(token)), nil)
}

// tok is the Token a test names: the same name, the same token.
func tok(name string) idempotency.Token {
	h := fnv.New64a()
	h.Write([]byte(name))
	return idempotency.Token{Base: 1, Seq: h.Sum64()}
}

// newKey returns a key no other test uses.
func newKey() idempotency.Key { return idempotency.Key{Namespace: "a", ID: rand.Text()} }

func testClaimCompleteDuplicate(t *testing.T, c *checker) {
	k := newKey()
	c.claim(k, "t1", longTTL, nil)
	c.claim(k, "t2", longTTL, idempotency.ErrInFlight)
	c.complete(k, "t1", longTTL, nil)
	c.claim(k, "t3", longTTL, idempotency.ErrDuplicate)
	c.claim(k, "t1", longTTL, idempotency.ErrDuplicate)
	c.complete(k, "t1", longTTL, nil) // a retried Complete is harmless
	c.release(k, "t1")                // a completed key is never released
	c.claim(k, "t4", longTTL, idempotency.ErrDuplicate)
}

func testReleaseThenClaim(t *testing.T, c *checker) {
	k := newKey()
	c.claim(k, "t1", longTTL, nil)
	c.release(k, "t1")
	c.claim(k, "t2", longTTL, nil)
	c.claim(k, "t1", longTTL, idempotency.ErrInFlight)
	c.release(k, "t1") // not the holder: nothing happens
	c.claim(k, "t3", longTTL, idempotency.ErrInFlight)
	c.complete(k, "t2", longTTL, nil)
	c.claim(k, "t3", longTTL, idempotency.ErrDuplicate)
}

func testOtherTokenCannotFinish(t *testing.T, c *checker) {
	k := newKey()
	c.claim(k, "t1", longTTL, nil)
	c.complete(k, "t2", longTTL, idempotency.ErrLockLost)
	c.release(k, "t2")
	c.claim(k, "t3", longTTL, idempotency.ErrInFlight) // still held by t1
	c.complete(k, "t1", longTTL, nil)
	c.claim(k, "t3", longTTL, idempotency.ErrDuplicate)
	c.complete(k, "t2", longTTL, nil) // done is done, whoever asks
}

func testSameTokenRetries(t *testing.T, c *checker) {
	k := newKey()
	c.claim(k, "t1", longTTL, nil)
	c.claim(k, "t1", longTTL, nil) // a retried Claim is harmless
	c.claim(k, "t2", longTTL, idempotency.ErrInFlight)
	c.release(k, "t1")
	c.release(k, "t1")
	c.claim(k, "t2", longTTL, nil)
}

func testCompleteFreeKey(t *testing.T, c *checker) {
	k := newKey()
	c.complete(k, "t1", longTTL, nil)
	c.claim(k, "t2", longTTL, idempotency.ErrDuplicate)
}

func testKeysIndependent(t *testing.T, c *checker) {
	p := rand.Text()
	keys := []idempotency.Key{
		{Namespace: "a:b", ID: p + "c"},
		{Namespace: "a", ID: "b:" + p + "c"},
		{Namespace: "stripe", ID: p + "{evt}"},
		{Namespace: "stripe", ID: p + "}{"},
		{Namespace: "", ID: p},
		{Namespace: "svix", ID: p + "msg_ü\x00\n"},
		{Namespace: "svix", ID: p + strings.Repeat("x", 4096)},
	}
	for i, k := range keys {
		c.claim(k, fmt.Sprint("t", i), longTTL, nil)
	}
	for i, k := range keys {
		if i%2 == 0 {
			c.complete(k, fmt.Sprint("t", i), longTTL, nil)
		} else {
			c.release(k, fmt.Sprint("t", i))
		}
	}
	for i, k := range keys {
		if i%2 == 0 {
			c.claim(k, "again", longTTL, idempotency.ErrDuplicate)
		} else {
			c.claim(k, "again", longTTL, nil)
		}
	}
}

func testLockExpires(t *testing.T, c *checker) {
	k, held := newKey(), newKey()
	c.claim(k, "t1", c.h.ShortTTL, nil)
	c.claim(held, "t1", longTTL, nil)
	c.wait(c.h.ShortTTL)
	c.claim(held, "t2", longTTL, idempotency.ErrInFlight)
	c.claim(k, "t2", longTTL, nil)
	c.complete(k, "t1", longTTL, idempotency.ErrLockLost)
	c.release(k, "t1")
	c.claim(k, "t3", longTTL, idempotency.ErrInFlight) // t2 still holds it
}

func testDoneExpires(t *testing.T, c *checker) {
	k, kept := newKey(), newKey()
	c.claim(k, "t1", longTTL, nil)
	c.complete(k, "t1", c.h.ShortTTL, nil)
	c.claim(kept, "t1", c.h.ShortTTL, nil)
	c.complete(kept, "t1", longTTL, nil)
	c.claim(k, "t2", longTTL, idempotency.ErrDuplicate)
	c.wait(c.h.ShortTTL)
	c.claim(kept, "t2", longTTL, idempotency.ErrDuplicate)
	c.claim(k, "t2", longTTL, nil)
}

func testCompleteAfterLockExpired(t *testing.T, c *checker) {
	k := newKey()
	c.claim(k, "t1", c.h.ShortTTL, nil)
	c.wait(c.h.ShortTTL)
	// Nobody took the key: the delivery is still recorded.
	c.complete(k, "t1", longTTL, nil)
	c.claim(k, "t2", longTTL, idempotency.ErrDuplicate)
}

// testOneWinner lets h.Claimants goroutines claim each of h.Rounds random
// ids at once: exactly one wins each, the others see ErrInFlight.
func testOneWinner(t *testing.T, c *checker) {
	n := c.h.Claimants
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = fmt.Sprint("t", i)
	}
	errs := make([]error, n)
	for round := range c.h.Rounds {
		key := newKey()
		var start, wg sync.WaitGroup
		start.Add(1)
		for i := range n {
			wg.Go(func() {
				start.Wait()
				errs[i] = c.s.Claim(context.Background(), key, tok(tokens[i]), longTTL)
			})
		}
		start.Done()
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d, key %q: claimants %d and %d both won", round, key, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, idempotency.ErrInFlight):
				t.Fatalf("round %d, key %q: claimant %d: got %v, want nil or ErrInFlight", round, key, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d, key %q: no claimant won", round, key)
		}
		if err := c.s.Complete(context.Background(), key, tok(tokens[winner]), longTTL); err != nil {
			t.Fatalf("round %d, key %q: Complete by the winner: %v", round, key, err)
		}
	}
}

// BenchmarkDeduper runs webhooks through d, a fresh id each time, as in
// production: Claim, then Complete.
func BenchmarkDeduper(b *testing.B, d *idempotency.Deduper) {
	ctx := context.Background()
	var n [20]byte
	i := uint64(0)
	for b.Loop() {
		i++
		c, err := d.Claim(ctx, "stripe", string(strconv.AppendUint(n[:0], i, 36)))
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Complete(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
