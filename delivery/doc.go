// Package delivery records verified webhook events durably and delivers
// them to their destinations until each accepts them, with retries, dead
// letters, leases and retention. The gateway (a `deliver` block) and the
// SDK's sending side both use it; it knows neither Caddy nor HTTP
// servers.
//
// An [Event] is recorded once, with one [Delivery] per destination, each
// with its own status (pending, delivering, delivered, dead), attempts
// and next attempt time. A [Store] keeps them: boltstore in an embedded
// bbolt file (the default), redisstore in Redis for several instances,
// memstore in memory (no durability: the SDK's Dispatcher, and tests).
// An [Engine] puts events in and runs workers that take due deliveries
// out, one [Queue] (source and destination) at a time, each with its own
// concurrency, rate, backoff and limits ([Destination]).
//
// # Modes
//
// "async": record, answer the provider, deliver in the background:
//
//	err := eng.Enqueue(ctx, ev) // durable when it returns nil
//	switch {
//	case errors.Is(err, delivery.ErrExists):
//		// recorded before: a duplicate, answer 200
//	case err != nil:
//		// not recorded: answer 503 so that the provider retries
//	default:
//		// complete the dedup claim, answer 202
//	}
//
// "on_failure" (live first): record with the delivery leased to the
// caller, try the destination at once, and fall back to the background
// only when it fails:
//
//	task, err := eng.BeginLive(ctx, ev, "app")
//	if err != nil { ... as above ... }
//	resp, err := client.Do(request(task))       // within the live budget
//	r := delivery.ResultOf(resp, err, time.Now())
//	err = eng.Finish(ctx, task, r)
//	switch {
//	case r.Delivered:
//		// complete the dedup claim; pass the app's answer on
//	case errors.Is(err, delivery.ErrExists), errors.Is(err, delivery.ErrUnavailable):
//		// not recorded: answer as Enqueue's error above
//	default:
//		// complete the dedup claim, answer 202: a worker retries
//	}
//
// On a store that can hold an append ([AppendQueuer]: boltstore),
// BeginLive does not wait for the record: it is written when Finish is
// called or after the destination's RecordWithin (100 ms), whichever comes
// first, and a 2xx reported by then is folded into it, so that a healthy
// destination costs one write, of the event already delivered, which
// nobody waits for. Finish of a failed attempt waits for the record to be
// durable. On other stores (and with RecordWithin negative) BeginLive
// returns once the event is durable and Finish's report is lazy. Should
// the process die before Finish is recorded, the lease expires and a
// worker delivers the event again.
//
// The workers start with [Engine.Run]:
//
//	eng, err := delivery.New(delivery.Config{
//		Store:        store,
//		Attempt:      attempt, // func(ctx, *delivery.Task) delivery.Result
//		Destinations: []delivery.Destination{{Source: "github", Name: "app"}},
//	})
//	go eng.Run(ctx) // until ctx ends; then drains for DrainTimeout
//
// # Leases and duplicates
//
// A worker leases the deliveries it attempts until a time ([Destination]
// Lease, twice the attempt timeout by default), and a lease is extended
// while a long attempt runs. Nobody else attempts a delivery while its
// lease holds; once it expires (its instance died), any worker takes it
// over: another instance sharing Redis, or the same one after a restart
// on its embedded store. Delivery is therefore at least once: the
// destination sees an event twice only when an instance dies (or stalls
// past its lease) between the destination's 2xx and the report of it,
// a window of one store write. [NoticeLeaseLost] counts the stalls
// (boltstore's lazy reports report theirs to its Config.OnError).
// Events carry a stable id for the destination to deduplicate on.
//
// Leases take the earliest due delivery first, so a queue with
// Concurrency 1 whose destination never fails delivers in order of
// receipt; retries, concurrency and several instances do not keep order.
//
// # Retries, dead letters, retention
//
// A failed attempt is retried after an exponential backoff with full
// jitter ([Backoff]), or after the destination's Retry-After; a permanent
// failure (410 Gone), MaxAttempts tries or MaxAge make the delivery dead:
// kept, counted, listed, and replayable ([Engine.Replay],
// [Engine.ReplayAll]). Retention deletes delivered events after
// KeepDelivered and dead ones after KeepDead.
//
// # Personal data
//
// Bodies and headers may hold personal data. With Config.DropPayloads
// set, the store keeps them only while they may still be delivered: the
// write that records an event's last delivery delivered also drops its
// headers and body ([Report.DropPayload]), and the event reads back with
// [Event.PayloadDropped] and its metadata (source, id, type, times,
// statuses, attempts) until retention deletes it. Dead events keep
// theirs so that they can be replayed; a dropped one cannot
// ([ErrPayloadDropped]). Stores free what they drop; the bytes may
// remain on disk until the space is reused (see each store).
//
// # Observability
//
// An [Observer] receives a [Notice] for every attempt, delivery (with the
// latency from receipt), death (with its reason), queue state (pending,
// oldest pending, dead), retention run and store error: the Caddy adapter
// turns them into Prometheus metrics and log lines. Nothing the Engine
// reports or stores about an attempt holds a body or a secret: only
// status codes, latencies and transport errors (see [ResultOf]).
//
// Package deliverytest checks that a Store implementation keeps the
// contract, and fakes the clock for tests.
package delivery
