package send_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookgate/hookgate/sdk/send"
	"github.com/hookgate/hookgate/verify"
)

// During a secret rotation the sender signs with both keys, so a receiver
// that still has the old secret and one that already has the new one both
// accept the webhook.
func Example_sign() {
	scheme, _ := verify.Preset("standard")
	signer, err := verify.NewSigner(scheme,
		verify.Key{Name: "old", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		verify.Key{Name: "new", Secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"})
	if err != nil {
		panic(err)
	}
	at := time.Unix(1700000000, 0)
	body := []byte(`{"type":"order.created"}`)
	h, err := signer.Sign(verify.Message{ID: "msg_1", Timestamp: at, Body: body})
	if err != nil {
		panic(err)
	}
	fmt.Println("signatures:", len(strings.Fields(h.Get("Webhook-Signature"))))

	receiver, _ := verify.New(verify.Config{
		Scheme: scheme,
		Keys:   []verify.Key{{Name: "new", Secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}},
		Now:    func() time.Time { return at },
	})
	ev, err := receiver.Verify(&verify.Request{Header: h, Body: body})
	fmt.Println(ev.ID, ev.Type, ev.Key, err)
	// Output:
	// signatures: 2
	// msg_1 order.created new <nil>
}

// A Sender retries a failed delivery with the same event id, signing each
// attempt afresh; the receiver verifies every one.
func ExampleSender() {
	scheme, _ := verify.Preset("standard")
	receiver, _ := verify.New(verify.Config{
		Scheme: scheme,
		Keys:   []verify.Key{{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
	})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := receiver.Verify(&verify.Request{Header: r.Header, Body: body})
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // a deploy in progress
			return
		}
		fmt.Println("received", ev.ID, ev.Type, "attempt", r.Header.Get("Webhook-Attempt"), err)
	}))
	defer srv.Close()

	sender, err := send.New(send.Config{
		Scheme:   scheme,
		Keys:     []verify.Key{{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		Schedule: send.Backoff(time.Millisecond, 10*time.Millisecond, 3),
		OnAttempt: func(d send.Delivery, a send.Attempt) {
			fmt.Println("attempt", a.N, "status", a.Status)
		},
		OnGiveUp: func(d send.Delivery, r *send.Report) {
			// Store d for a later replay: the dead-letter point.
		},
	})
	if err != nil {
		panic(err)
	}
	rep, err := sender.Send(context.Background(), send.Delivery{
		URL:  srv.URL,
		ID:   "msg_2Lk9",
		JSON: map[string]any{"type": "invoice.paid", "data": map[string]any{"amount": 4200}},
	})
	fmt.Println("delivered", rep.Delivered, "after", len(rep.Attempts), "attempts", err)
	// Output:
	// attempt 1 status 503
	// received msg_2Lk9 invoice.paid attempt 2 <nil>
	// attempt 2 status 200
	// delivered true after 2 attempts <nil>
}

// A Dispatcher fans one event out to the subscriptions that want it, each
// delivered on its own.
func ExampleDispatcher() {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.URL.Path+" "+r.Header.Get("Webhook-Id"))
	}))
	defer srv.Close()

	sender, err := send.New(send.Config{Keys: []verify.Key{{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}})
	if err != nil {
		panic(err)
	}
	d, err := send.NewDispatcher(send.DispatcherConfig{},
		send.Subscription{Name: "billing", Endpoint: srv.URL + "/billing", Sender: sender,
			Types:  []string{"order.*"},
			Filter: []send.FieldFilter{{Path: "data.status", Equals: []string{"paid", "refunded"}}}},
		send.Subscription{Name: "audit", Endpoint: srv.URL + "/audit", Sender: sender, Types: []string{"*"}},
	)
	if err != nil {
		panic(err)
	}
	n, err := d.Dispatch(send.Delivery{ID: "msg_1", Type: "order.updated",
		JSON: map[string]any{"type": "order.updated", "data": map[string]any{"status": "paid"}}})
	fmt.Println("msg_1 queued for", n, err)
	n, err = d.Dispatch(send.Delivery{ID: "msg_2", Type: "order.updated",
		JSON: map[string]any{"type": "order.updated", "data": map[string]any{"status": "open"}}})
	fmt.Println("msg_2 queued for", n, err)

	if err := d.Close(context.Background()); err != nil { // waits for the deliveries
		panic(err)
	}
	slices.Sort(got)
	for _, g := range got {
		fmt.Println(g)
	}
	// Output:
	// msg_1 queued for 2 <nil>
	// msg_2 queued for 1 <nil>
	// /audit msg_1
	// /audit msg_2
	// /billing msg_1
}
