package delivery_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/boltstore"
)

// An app that fails once: the event is recorded, attempted, retried after
// the backoff and delivered.
func Example() {
	dir, err := os.MkdirTemp("", "delivery-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	store, err := boltstore.Open(filepath.Join(dir, "delivery.db"), boltstore.Config{})
	if err != nil {
		panic(err)
	}
	defer store.Close()

	var calls atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer app.Close()

	delivered := make(chan struct{})
	eng, err := delivery.New(delivery.Config{
		Store: store,
		Destinations: []delivery.Destination{{
			Source: "github", Name: "app",
			Backoff: delivery.Backoff{Initial: 20 * time.Millisecond, Max: time.Second},
		}},
		// One attempt: the body byte for byte, the recorded headers, the
		// event id and the attempt number.
		Attempt: func(ctx context.Context, t *delivery.Task) delivery.Result {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, app.URL, bytes.NewReader(t.Event.Body))
			if err != nil {
				return delivery.Result{Err: err}
			}
			req.Header = t.Event.Header.Clone()
			req.Header.Set("Webhook-Id", t.Event.ID)
			req.Header.Set("Webhook-Attempt", strconv.Itoa(t.Attempt))
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			return delivery.ResultOf(resp, err, time.Now())
		},
		Observer: delivery.ObserverFunc(func(n delivery.Notice) {
			switch n.Kind {
			case delivery.NoticeAttempt:
				fmt.Printf("attempt %d of %s to %s: status %d, now %v\n", n.Number, n.ID, n.Queue, n.Attempt.StatusCode, n.Status)
			case delivery.NoticeDelivered:
				close(delivered)
			}
		}),
	})
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- eng.Run(ctx) }()

	err = eng.Enqueue(ctx, &delivery.Event{
		Source: "github", ID: "evt_1", Type: "push",
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   []byte(`{"ref":"main"}`),
	})
	if err != nil {
		panic(err) // not recorded: answer the provider 503
	}
	<-delivered
	stop()
	<-done
	// Output:
	// attempt 1 of evt_1 to github/app: status 503, now pending
	// attempt 2 of evt_1 to github/app: status 200, now delivered
}

// Live first: the caller attempts the delivery itself, and a worker takes
// over only if it fails.
func ExampleEngine_BeginLive() {
	dir, err := os.MkdirTemp("", "delivery-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	store, err := boltstore.Open(filepath.Join(dir, "delivery.db"), boltstore.Config{})
	if err != nil {
		panic(err)
	}
	defer store.Close()

	retried := make(chan int, 1)
	eng, err := delivery.New(delivery.Config{
		Store:        store,
		Destinations: []delivery.Destination{{Source: "slack", Name: "app", Backoff: delivery.Backoff{Initial: 10 * time.Millisecond}}},
		Attempt: func(ctx context.Context, t *delivery.Task) delivery.Result {
			retried <- t.Attempt
			return delivery.Result{Delivered: true, StatusCode: 200}
		},
	})
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go eng.Run(ctx)

	for _, healthy := range []bool{true, false} {
		ev := &delivery.Event{Source: "slack", ID: fmt.Sprint("evt_healthy_", healthy), Body: []byte(`{}`)}
		task, err := eng.BeginLive(ctx, ev, "app") // durable: now complete the dedup claim
		if err != nil {
			panic(err)
		}
		// The live attempt, within the provider's deadline.
		r := delivery.Result{Delivered: true, StatusCode: 200}
		if !healthy {
			r = delivery.Result{StatusCode: 502}
		}
		if err := eng.Finish(ctx, task, r); err != nil {
			panic(err)
		}
		if r.Delivered {
			fmt.Println("live: the app's 200 goes back to the provider")
			continue
		}
		fmt.Println("live attempt failed: 202 to the provider")
		fmt.Println("background attempt", <-retried, "delivered")
	}
	// Output:
	// live: the app's 200 goes back to the provider
	// live attempt failed: 202 to the provider
	// background attempt 2 delivered
}
