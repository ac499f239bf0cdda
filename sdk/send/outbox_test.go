package send_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/boltstore"
	"github.com/hookgate/hookgate/expr"
	"github.com/hookgate/hookgate/sdk/receive"
	"github.com/hookgate/hookgate/sdk/send"
	"github.com/hookgate/hookgate/verify"
)

// endpoint is a receiver that verifies what the outbox sends, answering
// with the status its func gives.
type endpoint struct {
	*httptest.Server
	status atomic.Int64
	mu     sync.Mutex
	ids    []string
}

func newEndpoint(t *testing.T) *endpoint {
	t.Helper()
	e := &endpoint{}
	e.status.Store(200)
	s, _ := verify.Preset("standard")
	v, _ := verify.New(verify.Config{Scheme: s, Keys: []verify.Key{{Secret: outboxSecret}}})
	rc, err := receive.New(receive.Config{Source: "sub", Verifier: v, NoDedup: true})
	if err != nil {
		t.Fatal(err)
	}
	e.Server = httptest.NewServer(rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, _ := receive.EventMeta(r.Context())
		st := int(e.status.Load())
		if st/100 == 2 {
			e.mu.Lock()
			e.ids = append(e.ids, ev.ID)
			e.mu.Unlock()
		}
		w.WriteHeader(st)
	})))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) received() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.ids...)
}

func (e *endpoint) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.received()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("received %v, want %d events", e.received(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return e.received()
}

const outboxSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func newOutbox(t *testing.T, path string, subs ...send.Subscription) (*send.Outbox, func()) {
	t.Helper()
	store, err := boltstore.Open(path, boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := send.NewOutbox(send.OutboxConfig{
		Store:  store,
		Policy: delivery.Destination{Backoff: delivery.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}, MaxAttempts: 5},
	}, subs...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = o.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done; _ = store.Close() }
	return o, stop
}

// TestOutboxDeliversDurably: Enqueue returns once recorded; the matching
// subscriptions get the event (signed, verified by a receiver), retried
// while they fail; events left pending when the process stops are
// delivered by the next one on the same store.
func TestOutboxDeliversDurably(t *testing.T) {
	orders, all := newEndpoint(t), newEndpoint(t)
	sender, err := send.New(send.Config{Keys: []verify.Key{{Secret: outboxSecret}}})
	if err != nil {
		t.Fatal(err)
	}
	subs := []send.Subscription{
		{Name: "orders", Endpoint: orders.URL, Sender: sender, Types: []string{"order.*"}},
		{Name: "all", Endpoint: all.URL, Sender: sender},
	}
	path := filepath.Join(t.TempDir(), "outbox.db")
	ctx := context.Background()

	all.status.Store(503) // down: retried
	o, stop := newOutbox(t, path, subs...)
	if n, err := o.Enqueue(ctx, send.Delivery{ID: "evt_1", Type: "order.created", JSON: map[string]any{"type": "order.created"}}); n != 2 || err != nil {
		t.Fatalf("Enqueue: %d, %v; want 2 subscriptions", n, err)
	}
	if n, err := o.Enqueue(ctx, send.Delivery{ID: "evt_2", Type: "invoice.paid", JSON: map[string]any{"type": "invoice.paid"}}); n != 1 || err != nil {
		t.Fatalf("Enqueue: %d, %v; want 1 subscription", n, err)
	}
	if _, err := o.Enqueue(ctx, send.Delivery{ID: "evt_1", Type: "order.created", JSON: map[string]any{}}); !errors.Is(err, delivery.ErrExists) {
		t.Fatalf("the same id again: %v, want ErrExists", err)
	}
	if got := orders.wait(t, 1); got[0] != "evt_1" {
		t.Fatalf("orders got %v", got)
	}
	stop() // the process stops while "all" is down

	all.status.Store(200)
	_, stop = newOutbox(t, path, subs...)
	defer stop()
	if got := all.wait(t, 2); len(got) != 2 {
		t.Fatalf("all got %v after the restart", got)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(orders.received()); n != 1 {
		t.Fatalf("orders got %d deliveries, want 1", n)
	}
}

// TestOutboxGoneIsDead: 410 Gone stops the delivery at once (dead, not
// retried).
func TestOutboxGoneIsDead(t *testing.T) {
	gone := newEndpoint(t)
	gone.status.Store(http.StatusGone)
	sender, _ := send.New(send.Config{Keys: []verify.Key{{Secret: outboxSecret}}})
	o, stop := newOutbox(t, filepath.Join(t.TempDir(), "o.db"), send.Subscription{Name: "gone", Endpoint: gone.URL, Sender: sender})
	defer stop()
	if _, err := o.Enqueue(context.Background(), send.Delivery{ID: "evt_g", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev, err := o.Engine().Store().Get(context.Background(), send.DefaultOutboxSource, "evt_g")
		if err == nil && ev.Deliveries[0].Status == delivery.StatusDead {
			if ev.Deliveries[0].AttemptCount != 1 {
				t.Fatalf("%d attempts, want 1", ev.Deliveries[0].AttemptCount)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not dead: %+v, %v", ev, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSubscriptionExpressions: a subscription's When (CEL), Match (Go)
// and Transform apply in the Outbox, as the gateway's filter and
// transform do.
func TestSubscriptionExpressions(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := new(strings.Builder)
		_, _ = io.Copy(b, r.Body)
		mu.Lock()
		bodies = append(bodies, b.String())
		mu.Unlock()
	}))
	defer srv.Close()
	when, err := expr.Compile(`payload.priority == "HIGH"`, expr.Bool)
	if err != nil {
		t.Fatal(err)
	}
	reshape, err := expr.Compile(`{"ticket": payload.id, "n": payload.n}`, expr.Value)
	if err != nil {
		t.Fatal(err)
	}
	sender, _ := send.New(send.Config{Keys: []verify.Key{{Secret: outboxSecret}}})
	o, stop := newOutbox(t, filepath.Join(t.TempDir(), "o.db"), send.Subscription{
		Name: "tickets", Endpoint: srv.URL, Sender: sender,
		When: when, Transform: reshape,
		Match: func(d send.Delivery) bool { return d.Type != "ignored" },
	})
	defer stop()
	ctx := context.Background()
	for i, c := range []struct{ typ, body string }{
		{"incident", `{"id":"a","priority":"HIGH","n":12345678901234567890}`},
		{"incident", `{"id":"b","priority":"LOW","n":1}`},
		{"ignored", `{"id":"c","priority":"HIGH","n":1}`},
	} {
		n, err := o.Enqueue(ctx, send.Delivery{ID: fmt.Sprint("e", i), Type: c.typ, Body: []byte(c.body)})
		if want := map[bool]int{true: 1, false: 0}[i == 0]; n != want || err != nil {
			t.Fatalf("event %d: %d, %v; want %d", i, n, err, want)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := append([]string(nil), bodies...)
		mu.Unlock()
		if len(got) == 1 {
			if got[0] != `{"n":12345678901234567890,"ticket":"a"}` {
				t.Fatalf("transformed body %s", got[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %v, want one transformed ticket", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
