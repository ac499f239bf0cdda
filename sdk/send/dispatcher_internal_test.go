package send

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/verify"
)

// TestDispatcherForgetsDoneEvents: the Dispatcher's store keeps an event
// only until every delivery of it is done, delivered or dead.
func TestDispatcherForgetsDoneEvents(t *testing.T) {
	status := func(code int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }))
		t.Cleanup(srv.Close)
		return srv
	}
	s, err := New(Config{Keys: []verify.Key{{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, Schedule: []time.Duration{time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDispatcher(DispatcherConfig{},
		Subscription{Name: "ok", Endpoint: status(http.StatusOK).URL, Sender: s},
		Subscription{Name: "gone", Endpoint: status(http.StatusGone).URL, Sender: s, Types: []string{"gone"}},
		Subscription{Name: "down", Endpoint: status(http.StatusServiceUnavailable).URL, Sender: s, Types: []string{"down"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		typ := []string{"ok", "gone", "down"}[i%3]
		if _, err := d.Dispatch(Delivery{ID: fmt.Sprint("evt_", i), Type: typ, Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	store := d.q.engine.Store()
	if evs, err := store.List(ctx, delivery.Filter{}); err != nil || len(evs) != 0 {
		t.Fatalf("the store still holds %d events (%v)", len(evs), err)
	}
	st, err := store.Stats(ctx, d.q.engine.Queues())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range st {
		if q.Pending != 0 || q.Dead != 0 {
			t.Errorf("%s: %+v", q.Queue, q)
		}
	}
}
