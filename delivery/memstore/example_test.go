package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/memstore"
)

// An Engine delivers from memory: nothing survives the process, and a
// queue that already holds MaxPending waiting deliveries refuses more.
func Example() {
	store, err := memstore.New(memstore.Config{MaxPending: 1})
	if err != nil {
		panic(err)
	}
	delivered := make(chan string, 2)
	eng, err := delivery.New(delivery.Config{
		Store:        store,
		Destinations: []delivery.Destination{{Source: "app", Name: "crm", Concurrency: 1}},
		Attempt: func(ctx context.Context, t *delivery.Task) delivery.Result {
			delivered <- t.Event.ID // POST t.Event.Body to the CRM here
			return delivery.Result{Delivered: true, StatusCode: http.StatusOK}
		},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	// Recorded before the workers start: the first waits, the second
	// finds the queue full.
	fmt.Println(eng.Enqueue(ctx, &delivery.Event{Source: "app", ID: "evt_1", Body: []byte(`{}`)}))
	err = eng.Enqueue(ctx, &delivery.Event{Source: "app", ID: "evt_2", Body: []byte(`{}`)})
	var full *memstore.FullError
	fmt.Println(errors.As(err, &full), full.Queues)

	run, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = eng.Run(run); close(done) }()
	fmt.Println("delivered", <-delivered)
	stop()
	<-done

	// Finished events stay until purged (or trimmed by retention).
	n, _ := eng.Purge(ctx, delivery.Filter{Status: delivery.StatusDelivered, FinishedBefore: time.Now().Add(time.Second)})
	fmt.Println("purged", n)
	// Output:
	// <nil>
	// true [app/crm]
	// delivered evt_1
	// purged 1
}
