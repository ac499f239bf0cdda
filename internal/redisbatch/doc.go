// Package redisbatch sends concurrent Redis script calls together, in
// pipelines: the mechanism the Redis stores (idempotency/redisstore and
// delivery/redisstore) share.
//
// The safe sequence:
//
//	b := redisbatch.New(client, 2) // no network I/O
//	n, err := b.Run(ctx, script, []string{key}, arg).Int64()
//
// [Batcher.Run] is called like [redis.Script.Run] and returns what it
// would: the script's reply, or the error that kept it from Redis.
//
// # How calls are sent
//
// A Batcher keeps at most maxInFlight pipelines waiting for Redis. A call
// that finds fewer goes out at once, from its caller's goroutine, with
// whatever queued before it; otherwise it queues, and the queue goes out
// as one pipeline (one write and one read on each side) as soon as a
// pipeline is answered. An idle store thus sends each call alone, with no
// added delay; a busy one sends fewer, larger writes, sparing both sides
// the system calls and wake-ups that dominate the cost of small scripts.
//
// # Invariants
//
// The Batcher's mutex guards its queue and its count of pipelines in
// flight; under it:
//
//   - A goroutine that takes calls from the queue holds a slot (counted
//     in flight) until, after its pipeline is answered, it finds the
//     queue empty and gives the slot back in the same critical section.
//     So the slots never exceed maxInFlight, and no call waits in the
//     queue while no pipeline is in flight.
//   - A pipeline holds at most 128 calls, in the order they queued.
//   - Every call taken from the queue is answered exactly once: with its
//     reply, or with an error when the client panics (the Batcher's state
//     stays whole).
//   - A call whose script Redis did not have cached (NOSCRIPT) is sent
//     again with EVAL, in one more pipeline, as redis.Script.Run does.
//
// What this means for callers:
//
//   - Each call stays its own script, atomic on its own; a pipeline is not
//     a transaction, and none is needed. With Cluster, go-redis splits a
//     pipeline by node.
//   - A pipeline serves many callers, so it carries no caller's
//     cancellation; the client's timeouts bound it. A caller whose context
//     ends stops waiting and gets the context's error, and its call may
//     still reach Redis, as a single command cut off mid-flight may.
//   - go-redis retries a pipeline after a network error as it retries a
//     single command (MaxRetries): batching gives no call a new way to run
//     twice.
//   - Calls are pooled: a call that gets its reply costs no allocation
//     beyond go-redis's own for the command; each pipeline costs a few.
package redisbatch
