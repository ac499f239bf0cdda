// Package send is the sending end of hookgate's webhook pipeline: a
// [Sender] signs each delivery with every active key of its scheme,
// delivers it, and retries with exponential backoff and full jitter,
// honouring Retry-After and stopping at 410 Gone; a [Dispatcher] and an
// [Outbox] fan events out to subscriptions by event type.
//
// The safe sequence:
//
//	s, err := send.New(send.Config{Keys: []verify.Key{{Secret: "whsec_..."}}})
//	rep, err := s.Send(ctx, send.Delivery{URL: url, ID: "evt_1", Type: "invoice.paid", Body: body})
//	// rep.Attempts: every attempt's status, duration and the receiver's reason
//
// [Sender.Send] is the synchronous API: it retries in its own loop, on
// the caller's goroutine, and returns once the event is delivered or
// given up on. To queue events and return at once, use an Outbox or a
// Dispatcher: both run the delivery engine of package delivery (the one
// the gateway runs), which retries, backs off with full jitter, honours
// Retry-After, and keeps dead letters; they read each attempt as Send
// does.
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
// A [Dispatcher] is the same engine in memory (package
// delivery/memstore): nothing survives the process, each event is
// forgotten once delivered or dead, and OnResult reports each delivery's
// end. Its subscriptions retry on their Senders' schedules:
//
//	d, err := send.NewDispatcher(send.DispatcherConfig{OnResult: report}, send.Subscription{Name: "crm", Endpoint: url, Sender: s})
//	n, err := d.Dispatch(send.Delivery{ID: "evt_1", Type: "invoice.paid", Body: body}) // ErrQueueFull: no room for a subscription
//	err = d.Close(ctx) // waits for every delivery to be done, or cancels them at ctx's end
//
// A receiver built with package receive answers with a stable reason in
// the Hookgate-Reason header, which the Sender reports ([Attempt]).
package send
