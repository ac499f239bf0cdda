// Package memstore is a [delivery.Store] in memory: nothing survives the
// process, and nothing is shared with another. The SDK's in-memory
// Dispatcher (package sdk/send) runs the delivery Engine on it; tests use
// it where durability is beside the point. A gateway wants boltstore or
// redisstore.
//
// The safe sequence:
//
//	store, err := memstore.New(memstore.Config{MaxPending: 1024})
//	eng, err := delivery.New(delivery.Config{Store: store, ...})
//	go eng.Run(ctx)
//	err = eng.Enqueue(ctx, ev)
//	var full *memstore.FullError
//	switch {
//	case errors.As(err, &full):
//		// full.Queues hold MaxPending deliveries waiting: nothing was
//		// recorded; enqueue to the other destinations, or later
//	case err != nil:
//		// delivery.ErrExists: the id is held already
//	}
//
// # Bounds and retention
//
// Config.MaxPending bounds, per queue, the deliveries waiting: pending,
// for their first attempt or a retry. Those under way are bounded by the
// Engine's concurrency instead, and finished ones (delivered or dead) do
// not count: they stay until they are purged, by the Engine's retention
// (Config.KeepDelivered and KeepDead, run every TrimInterval) or by a
// Purge of the event (a [delivery.Filter] with Source and ID) as soon as
// it is finished, which is what the Dispatcher does. Purged events free
// their memory at once.
//
// # Cost
//
// One mutex guards maps of the events (by source and id) and, per queue,
// of the events with a delivery pending or delivering. Append, Report,
// Extend, Replay, Get, and Purge of one event (Source and ID set) cost
// the event's few deliveries, plus a copy of its payload for Append and
// Get. Lease scans the unfinished deliveries of its queue (m of them) and
// sorts the k that are due: O(m + k log k). Stats scans each queue it is
// asked about: O(m). List and Purge by other filters scan and sort every
// event held: O(n log n). No call holds the mutex across anything but
// this bookkeeping.
//
// Events go in and come out as copies: Append copies the headers and
// body it is given, and Get, List and Lease return copies that the
// caller may keep or change. Times are kept as given (the contract's
// millisecond precision, and finer).
package memstore
