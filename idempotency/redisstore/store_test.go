package redisstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/idempotency/idempotencytest"
	"github.com/hookgate/hookgate/idempotency/redisstore"
	"github.com/hookgate/hookgate/internal/testredis"
	"github.com/hookgate/hookgate/redisclient"
)

// newClient returns a client for o, closed when the test ends.
func newClient(tb testing.TB, o redisclient.Options) redis.UniversalClient {
	tb.Helper()
	c, err := redisclient.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// newStore returns a store on client whose keys no other store shares.
func newStore(tb testing.TB, client redis.UniversalClient) (*redisstore.Store, string) {
	tb.Helper()
	prefix := "test:" + rand.Text()[:10] + ":"
	s, err := redisstore.New(redisstore.Config{Client: client, Prefix: prefix})
	if err != nil {
		tb.Fatal(err)
	}
	return s, prefix
}

func TestContract(t *testing.T) {
	srv := testredis.Start(t)
	client := newClient(t, redisclient.Options{URL: srv.URL})
	idempotencytest.TestStore(t, idempotencytest.Harness{
		New: func(t *testing.T) (idempotency.Store, func(time.Duration)) {
			s, _ := newStore(t, client)
			return s, nil
		},
	})
}

func TestNewValidates(t *testing.T) {
	if _, err := redisstore.New(redisstore.Config{}); err == nil || !strings.Contains(err.Error(), "Config.Client") {
		t.Errorf("no client: got %v, want an error naming Config.Client", err)
	}
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never used
	defer client.Close()
	for _, p := range []string{"a{", "}", "x:{y}:"} {
		if _, err := redisstore.New(redisstore.Config{Client: client, Prefix: p}); err == nil || !strings.Contains(err.Error(), "Config.Prefix") {
			t.Errorf("Prefix %q: got %v, want an error naming Config.Prefix", p, err)
		}
	}
}

// TestKeysAndTTLs checks what lands in Redis: the key layout, the values,
// and expiries as requested.
func TestKeysAndTTLs(t *testing.T) {
	ctx := context.Background()
	srv := testredis.Start(t)
	s, prefix := newStore(t, newClient(t, redisclient.Options{URL: srv.URL}))
	key, tok := idempotency.Key{Namespace: "stripe", ID: "evt_1"}, idempotency.Token{Base: 36, Seq: 1}
	rkey := prefix + "{6:stripe:evt_1}"

	pttl := func() time.Duration {
		t.Helper()
		v, err := testredis.DoBulk(srv.Addr, "PTTL", rkey)
		if err != nil {
			t.Fatal(err)
		}
		ms, _ := strconv.ParseInt(v, 10, 64)
		return time.Duration(ms) * time.Millisecond
	}
	get := func() string {
		t.Helper()
		v, err := testredis.DoBulk(srv.Addr, "GET", rkey)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	const lock, done = 90 * time.Second, 72 * time.Hour
	if err := s.Claim(ctx, key, tok, lock); err != nil {
		t.Fatal(err)
	}
	if v := get(); v != "L10.1" {
		t.Fatalf("claimed value = %q, want %q", v, "L10.1")
	}
	if d := pttl(); d <= 0 || d > lock || d < lock-time.Minute {
		t.Fatalf("lock PTTL = %v, want just under %v", d, lock)
	}
	if err := s.Complete(ctx, key, tok, done); err != nil {
		t.Fatal(err)
	}
	if v := get(); v != "D10.1" {
		t.Fatalf("done value = %q, want %q", v, "D10.1")
	}
	if d := pttl(); d > done || d < done-time.Minute {
		t.Fatalf("done PTTL = %v, want just under %v", d, done)
	}
}

// countHook counts the commands a client sends, the round trips (single
// commands and pipelines) that carry them, and the scripts sent in full
// (EVAL rather than EVALSHA). It sees only its own client's commands, so
// it counts right on a server other tests use at the same time.
type countHook struct{ n, trips, evals atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		h.trips.Add(1)
		h.count(cmd)
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		h.trips.Add(1)
		for _, cmd := range cmds {
			h.count(cmd)
		}
		return next(ctx, cmds)
	}
}

func (h *countHook) count(cmd redis.Cmder) {
	if strings.EqualFold(cmd.Name(), "eval") {
		h.evals.Add(1)
	}
}

// TestRoundTrips checks the cost of a webhook: one command to claim, one
// to complete or release, and one for a duplicate.
func TestRoundTrips(t *testing.T) {
	ctx := context.Background()
	srv := testredis.Start(t)
	client := newClient(t, redisclient.Options{URL: srv.URL})
	// The hook sees this client's commands only: the server may be shared
	// (HOOKGATE_TEST_REDIS_URL) with tests that send scripts of their own,
	// so server-wide statistics would count theirs too.
	var h countHook
	client.AddHook(&h)
	s, _ := newStore(t, client)
	if err := s.Preload(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := idempotency.New(idempotency.Config{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	// A connection's handshake (HELLO, CLIENT SETINFO) is paid once per
	// connection, not per webhook: open one before counting.
	if _, err := d.Claim(ctx, "s", "warm-up"); err != nil {
		t.Fatal(err)
	}
	step := func(what string, want int64, fn func() error) {
		t.Helper()
		h.n.Store(0)
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := h.n.Load(); got != want {
			t.Fatalf("%s: %d commands, want %d", what, got, want)
		}
	}
	step("claim + complete", 2, func() error {
		c, err := d.Claim(ctx, "s", "evt_1")
		if err != nil {
			return err
		}
		if err := c.Complete(ctx); err != nil {
			return err
		}
		return c.Release(ctx) // no-op after Complete
	})
	step("claim + release", 2, func() error {
		c, err := d.Claim(ctx, "s", "evt_2")
		if err != nil {
			return err
		}
		return c.Release(ctx)
	})
	step("duplicate", 1, func() error {
		if _, err := d.Claim(ctx, "s", "evt_1"); !errors.Is(err, idempotency.ErrDuplicate) {
			return err
		}
		return nil
	})
	if n := h.evals.Load(); n > 0 {
		t.Errorf("scripts were sent in full (EVAL) %d times after Preload", n)
	}
}

// TestScriptCacheLost checks that the store recovers by itself when Redis
// forgets its scripts (SCRIPT FLUSH, a restart, a failover).
func TestScriptCacheLost(t *testing.T) {
	ctx := context.Background()
	srv := testredis.Start(t)
	s, _ := newStore(t, newClient(t, redisclient.Options{URL: srv.URL}))
	if err := s.Preload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do("SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(ctx, idempotency.Key{ID: "k"}, idempotency.Token{Seq: 1}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, idempotency.Key{ID: "k"}, idempotency.Token{Seq: 1}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(ctx, idempotency.Key{ID: "k"}, idempotency.Token{Seq: 2}, time.Minute); !errors.Is(err, idempotency.ErrDuplicate) {
		t.Fatalf("got %v, want ErrDuplicate", err)
	}
}

// TestBatching runs many claims and completions at once: every one gets
// its own right answer, and they share round trips.
func TestBatching(t *testing.T) {
	ctx := context.Background()
	srv := testredis.Start(t)
	for _, tc := range []struct {
		name        string
		maxInFlight int
		shared      bool // fewer round trips than calls expected
	}{
		{"default", 0, true},
		{"one in flight", 1, true},
		{"unbatched", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := newClient(t, redisclient.Options{URL: srv.URL, PoolSize: 64})
			s, err := redisstore.New(redisstore.Config{Client: client, Prefix: "batch-" + strings.ReplaceAll(tc.name, " ", "-") + ":", MaxInFlight: tc.maxInFlight})
			if err != nil {
				t.Fatal(err)
			}
			var h countHook
			client.AddHook(&h)
			const workers, events = 64, 40
			var wg sync.WaitGroup
			var won, dup, inflight atomic.Int64
			start := make(chan struct{})
			for w := range workers {
				wg.Go(func() {
					<-start
					for e := range events {
						// Two workers race for each event.
						key := idempotency.Key{ID: "evt_" + strconv.Itoa(e) + "_" + strconv.Itoa(w/2)}
						tok := idempotency.Token{Seq: uint64(w)}
						switch err := s.Claim(ctx, key, tok, time.Minute); {
						case err == nil:
							won.Add(1)
							if err := s.Complete(ctx, key, tok, time.Hour); err != nil {
								t.Errorf("complete %s: %v", key, err)
							}
						case errors.Is(err, idempotency.ErrDuplicate):
							dup.Add(1)
						case errors.Is(err, idempotency.ErrInFlight):
							inflight.Add(1)
						default:
							t.Errorf("claim %s: %v", key, err)
						}
					}
				})
			}
			close(start)
			wg.Wait()
			if won.Load() != workers/2*events {
				t.Fatalf("%d claims won, want one per event (%d); %d duplicates, %d in flight", won.Load(), workers/2*events, dup.Load(), inflight.Load())
			}
			// Round trips include each new connection's handshake.
			calls, trips := int64(workers*events)+won.Load(), h.trips.Load()
			t.Logf("%d store calls in %d round trips", calls, trips)
			if tc.shared && trips >= calls {
				t.Errorf("%d store calls took %d round trips: no batching", calls, trips)
			}
			if !tc.shared && trips < calls {
				t.Errorf("unbatched: %d store calls in %d round trips", calls, trips)
			}
		})
	}
}
