package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/internal/testredis"
	"github.com/hookgate/hookgate/redisclient"
)

// TestRedisStopped stops Redis under load, checks that every failure is
// reported as ErrUnavailable and nothing as a duplicate or a completion
// that did not happen, then starts Redis again and checks that the same
// client recovers.
func TestRedisStopped(t *testing.T) {
	ctx := context.Background()
	srv := testredis.Start(t)
	if srv.External() {
		t.Skip("needs its own redis-server to stop (HOOKGATE_TEST_REDIS_URL is set)")
	}
	client := newClient(t, redisclient.Options{
		URL:         srv.URL,
		DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond,
	})
	s, prefix := newStore(t, client)
	d, err := idempotency.New(idempotency.Config{Store: s})
	if err != nil {
		t.Fatal(err)
	}

	// known reports whether err is one of the answers a caller maps.
	known := func(err error) bool {
		return err == nil || errors.Is(err, idempotency.ErrDuplicate) ||
			errors.Is(err, idempotency.ErrInFlight) || errors.Is(err, idempotency.ErrUnavailable)
	}
	var (
		stopped    atomic.Bool // set once the server is gone
		sample     error       // an error seen with the server gone
		sampleOnce sync.Once
		completed  atomic.Int64 // completions while it was up
		wg         sync.WaitGroup
	)
	const workers, failuresEach = 4, 10
	for w := range workers {
		wg.Go(func() {
			attempted := map[string]bool{} // ids this worker tried to complete
			failures := 0
			for i := 0; failures < failuresEach; i++ {
				after := stopped.Load()
				id := fmt.Sprintf("w%d-%d", w, i)
				if i%3 == 2 { // claim an earlier id again
					id = fmt.Sprintf("w%d-%d", w, i-1)
				}
				c, err := d.Claim(ctx, "s", id)
				switch {
				case !known(err):
					t.Errorf("Claim(%s): unknown error kind %v", id, err)
				case errors.Is(err, idempotency.ErrDuplicate) && !attempted[id]:
					t.Errorf("Claim(%s): ErrDuplicate for an id never completed", id)
				case after && !errors.Is(err, idempotency.ErrUnavailable):
					t.Errorf("Claim(%s) with Redis stopped: got %v, want ErrUnavailable", id, err)
				}
				if after {
					failures++
					sampleOnce.Do(func() { sample = err })
				}
				if err != nil {
					continue
				}
				attempted[id] = true
				after = stopped.Load()
				err = c.Complete(ctx)
				switch {
				case err == nil && after:
					t.Errorf("Complete(%s) with Redis stopped: reported done", id)
				case err == nil:
					completed.Add(1)
					// Check the report while this server still answers.
					v, gerr := testredis.DoBulk(srv.Addr, "GET", prefix+"{"+idempotency.Key{Namespace: "s", ID: id}.String()+"}")
					if gerr == nil && !strings.HasPrefix(v, "D") {
						t.Errorf("Complete(%s) reported done, but Redis holds %q", id, v)
					}
				case !errors.Is(err, idempotency.ErrUnavailable):
					t.Errorf("Complete(%s): got %v, want nil or ErrUnavailable", id, err)
				}
				_ = c.Release(ctx)
			}
		})
	}
	for completed.Load() < 200 && !t.Failed() {
		time.Sleep(5 * time.Millisecond)
	}
	srv.Stop()
	stopped.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d completions before the stop; then, for example: %v", completed.Load(), sample)

	// Fail open: forwarded without deduplication, and said so.
	open, err := idempotency.New(idempotency.Config{Store: s, FailOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := open.Claim(ctx, "s", "evt-open")
	if err != nil || !c.Degraded() || !errors.Is(c.Err(), idempotency.ErrUnavailable) {
		t.Fatalf("fail open with Redis stopped: got claim %+v, error %v; want a degraded claim", c, err)
	}

	// The same client recovers once Redis is back (empty: no persistence).
	srv.Restart()
	restarted := time.Now()
	deadline := restarted.Add(15 * time.Second)
	for {
		c, err = d.Claim(ctx, "s", "evt-back")
		if err == nil {
			break
		}
		if !errors.Is(err, idempotency.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("recovered %v after the restart", time.Since(restarted).Round(time.Millisecond))
	if err := c.Complete(ctx); err != nil {
		t.Fatalf("Complete after restart: %v", err)
	}
	if _, err := d.Claim(ctx, "s", "evt-back"); !errors.Is(err, idempotency.ErrDuplicate) {
		t.Fatalf("after restart: got %v, want ErrDuplicate", err)
	}
}

// TestRedisUnresponsive points the store at a server that accepts
// connections and never answers: calls fail with ErrUnavailable after the
// timeouts, and a cancelled context stays recognisable.
func TestRedisUnresponsive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { _, _ = io.Copy(io.Discard, c); c.Close() })
		}
	}()
	client := newClient(t, redisclient.Options{
		Addrs:       []string{ln.Addr().String()},
		DialTimeout: 100 * time.Millisecond,
		ReadTimeout: 100 * time.Millisecond,
		MaxRetries:  -1,
	})
	// Close the client first, which closes its connections, so that the
	// accepted ones end before the listener's cleanup waits for them.
	t.Cleanup(func() { _ = client.Close() })
	s, _ := newStore(t, client)

	err = s.Claim(context.Background(), idempotency.Key{Namespace: "t", ID: "k"}, idempotency.Token{Seq: 1}, time.Minute)
	if !errors.Is(err, idempotency.ErrUnavailable) {
		t.Fatalf("timeout: got %v, want ErrUnavailable", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = s.Claim(ctx, idempotency.Key{Namespace: "t", ID: "k"}, idempotency.Token{Seq: 1}, time.Minute)
	if !errors.Is(err, idempotency.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: got %v, want ErrUnavailable and context.Canceled", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	for _, op := range []func() error{
		func() error {
			return s.Claim(ctx, idempotency.Key{Namespace: "t", ID: "k"}, idempotency.Token{Seq: 1}, time.Minute)
		},
		func() error {
			return s.Complete(ctx, idempotency.Key{Namespace: "t", ID: "k"}, idempotency.Token{Seq: 1}, time.Minute)
		},
		func() error {
			return s.Release(ctx, idempotency.Key{Namespace: "t", ID: "k"}, idempotency.Token{Seq: 1})
		},
		func() error { return s.Preload(ctx) },
	} {
		if err := op(); !errors.Is(err, idempotency.ErrUnavailable) {
			t.Fatalf("deadline: got %v, want ErrUnavailable", err)
		}
	}
}
