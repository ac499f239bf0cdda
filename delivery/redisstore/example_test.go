package redisstore_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/redisstore"
	"github.com/hookgate/hookgate/redisclient"
)

// Gateway instances that share a Redis share the delivery queues: each
// runs an Engine, and an instance that dies has its leased deliveries
// taken over by the others once the leases expire. (This example needs a
// Redis server, so it is compiled but not run.)
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pctx, pcancel := context.WithTimeout(ctx, time.Second)
	defer pcancel()
	if err := store.Preload(pctx); err != nil {
		log.Print("redis not reachable yet: ", err) // appends fail (503) until it is
	}

	eng, err := delivery.New(delivery.Config{
		Store:        store,
		Destinations: []delivery.Destination{{Source: "github", Name: "app", Concurrency: 32}},
		Attempt: func(ctx context.Context, t *delivery.Task) delivery.Result {
			// POST t.Event.Body to the app; see the delivery package example.
			return delivery.Result{Delivered: true, StatusCode: http.StatusOK}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	go eng.Run(ctx)

	err = eng.Enqueue(ctx, &delivery.Event{Source: "github", ID: "evt_1", Body: []byte(`{}`)})
	switch {
	case errors.Is(err, delivery.ErrExists):
		// a duplicate: answer 200
	case err != nil:
		// not recorded (Redis down): answer 503
	default:
		// recorded: answer 202
	}
}
