// Package send is the sending end of hookgate's webhook pipeline: a
// [Sender] signs each delivery with every active key of its scheme,
// delivers it, and retries with exponential backoff and full jitter,
// honouring Retry-After and stopping at 410 Gone; a [Dispatcher] fans
// events out to subscriptions by event type.
//
// The safe sequence:
//
//	s, err := send.New(send.Config{Keys: []verify.Key{{Secret: "whsec_..."}}})
//	rep, err := s.Send(ctx, send.Delivery{URL: url, ID: "evt_1", Type: "invoice.paid", Body: body})
//	// rep.Attempts: every attempt's status, duration and the receiver's reason
//
// An [Outbox] is the durable sending end: Enqueue returns once the event
// is recorded in a delivery store, and the delivery engine (package
// delivery, the one the gateway runs) delivers it to every matching
// subscription with retries, backoff and dead letters, resuming after a
// restart:
//
//	store, _ := boltstore.Open("outbox.db", boltstore.Config{})
//	o, err := send.NewOutbox(send.OutboxConfig{Store: store}, send.Subscription{Name: "crm", Endpoint: url, Sender: s})
//	go o.Run(ctx)
//	n, err := o.Enqueue(ctx, send.Delivery{ID: "evt_1", Type: "invoice.paid", Body: body}) // durable when err is nil
//
// A [Dispatcher] fans out in memory instead: nothing survives the process.
//
// A receiver built with package receive answers with a stable reason in
// the Hookgate-Reason header, which the Sender reports ([Attempt]).
package send
