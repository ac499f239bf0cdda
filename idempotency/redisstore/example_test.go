package redisstore_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/idempotency/redisstore"
	"github.com/hookgate/hookgate/redisclient"
)

// Gateway instances that share a Redis deduplicate together. (This example
// needs a Redis server, so it is compiled but not run.)
func Example() {
	client, err := redisclient.New(redisclient.Options{URL: "redis://127.0.0.1:6379/0"})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	store, err := redisstore.New(redisstore.Config{Client: client})
	if err != nil {
		log.Fatal(err)
	}
	// Optional, at startup: load the scripts and see that Redis answers.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := store.Preload(ctx); err != nil {
		log.Print("redis not reachable yet: ", err) // webhooks answer 503 until it is
	}

	d, err := idempotency.New(idempotency.Config{Store: store, LockTTL: 45 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	c, err := d.Claim(ctx, "stripe", "evt_1")
	switch {
	case errors.Is(err, idempotency.ErrDuplicate):
		return // 200
	case errors.Is(err, idempotency.ErrInFlight):
		return // 409 + Retry-After
	case err != nil:
		return // 503 + Retry-After
	}
	defer c.Release(context.WithoutCancel(ctx))
	// ... forward; on 2xx:
	_ = c.Complete(context.WithoutCancel(ctx))
}
