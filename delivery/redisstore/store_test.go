package redisstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/deliverytest"
	"github.com/hookgate/hookgate/delivery/redisstore"
	"github.com/hookgate/hookgate/internal/testredis"
	"github.com/hookgate/hookgate/redisclient"
)

// newClient returns a client for url, closed when the test ends.
func newClient(tb testing.TB, url string) redis.UniversalClient {
	tb.Helper()
	c, err := redisclient.New(redisclient.Options{URL: url})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// newStore returns a store on client under prefix.
func newStore(tb testing.TB, client redis.UniversalClient, prefix string) *redisstore.Store {
	tb.Helper()
	s, err := redisstore.New(redisstore.Config{Client: client, Prefix: prefix})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// harness makes, for each subtest, a store under a prefix of its own; a
// restart is a new client and store on the same Redis and prefix.
func harness(url string) deliverytest.Harness {
	return deliverytest.Harness{
		New: func(t *testing.T) (delivery.Store, func() delivery.Store) {
			prefix := "test:" + rand.Text()[:10] + ":"
			client := newClient(t, url)
			s := newStore(t, client, prefix)
			return s, func() delivery.Store {
				_ = client.Close()
				client = newClient(t, url)
				return newStore(t, client, prefix)
			}
		},
	}
}

func TestContract(t *testing.T) {
	srv := testredis.Start(t)
	deliverytest.Run(t, harness(srv.URL))
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

// Every call alone, on its own pooled connection (MaxInFlight < 0).
func TestContractUnbatched(t *testing.T) {
	srv := testredis.Start(t)
	deliverytest.Run(t, deliverytest.Harness{
		New: func(t *testing.T) (delivery.Store, func() delivery.Store) {
			prefix := "test:" + rand.Text()[:10] + ":"
			open := func() delivery.Store {
				s, err := redisstore.New(redisstore.Config{Client: newClient(t, srv.URL), Prefix: prefix, MaxInFlight: -1})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			return open(), open
		},
	})
}

// A Redis that lost its script cache (a restart, SCRIPT FLUSH) gets the
// scripts again, batched calls included.
func TestScriptFlush(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	s := newStore(t, newClient(t, srv.URL), "flush:")
	now := deliverytest.T0
	var wg sync.WaitGroup
	for round := range 3 {
		if _, err := srv.Do("SCRIPT", "FLUSH"); err != nil {
			t.Fatal(err)
		}
		for i := range 32 {
			wg.Go(func() {
				ev := &delivery.Event{Source: "s", ID: fmt.Sprint(round, "-", i), ReceivedAt: now}
				if err := s.Append(ctx, ev); err != nil {
					t.Errorf("Append after SCRIPT FLUSH: %v", err)
				}
			})
		}
		wg.Wait()
	}
	if evs, err := s.List(ctx, delivery.Filter{Source: "s", Limit: 1000}); err != nil || len(evs) != 96 {
		t.Fatalf("List: %d, %v", len(evs), err)
	}
}
