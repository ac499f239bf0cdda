// Package idempotency makes sure the consumer behind hookgate sees each
// webhook event once, and sees it again when its first delivery failed.
//
// Providers retry: Stripe for up to three days, Standard Webhooks senders on
// a schedule of about a day, and every retry carries the same event id. A
// [Deduper] claims that id before the request is forwarded, and the outcome of
// the forward decides what is remembered:
//
//   - Upstream answered 2xx: [Claim.Complete]. The id is remembered for
//     [Config.DoneTTL] (default 72h) and every later claim of it is a
//     duplicate ([ErrDuplicate]): answer the provider 200 without forwarding.
//   - Upstream failed (non-2xx, timeout, connection error, panic):
//     [Claim.Release]. The id is forgotten, so the provider's retry is
//     forwarded.
//   - Another request holds the id right now, here or on another gateway
//     instance sharing the store ([ErrInFlight]): answer 409 with Retry-After.
//     If the holder crashed, its claim expires by itself after
//     [Config.LockTTL].
//   - The store cannot answer ([ErrUnavailable]): answer 503 with
//     Retry-After (fail closed, the default), or with [Config.FailOpen]
//     forward without deduplication and count it ([Claim.Degraded]).
//
// Claim only ids of requests whose signature was verified, and give each
// configured source its own namespace so that two providers' ids never
// collide.
//
// The safe call sequence, in a handler:
//
//	c, err := d.Claim(r.Context(), "stripe", eventID)
//	switch {
//	case errors.Is(err, idempotency.ErrDuplicate):
//		return // 200, not forwarded
//	case errors.Is(err, idempotency.ErrInFlight):
//		return // 409 + Retry-After
//	case err != nil:
//		return // ErrUnavailable: 503 + Retry-After; ErrNoID: nothing to deduplicate on
//	}
//	if c.Degraded() {
//		// fail open: count it, log c.Err(), and forward anyway
//	}
//	// Complete and Release must run even when the provider hung up.
//	ctx := context.WithoutCancel(r.Context())
//	defer c.Release(ctx) // undoes the claim on every failure path, panics included; no-op after Complete
//	resp, err := forward(r)
//	if err == nil && resp.StatusCode/100 == 2 {
//		if err := c.Complete(ctx); err != nil {
//			// log and count: the event was delivered, but a retry may be delivered again
//		}
//	}
//
// Two stores implement [Store]: [Memory], embedded and per process (each
// gateway process remembers only the ids it saw itself), and the Redis store in
// package redisstore, shared by every instance that uses the same Redis.
// A store answers each call in at most one round trip, so a forwarded webhook
// costs two: claim, then complete or release.
//
// Package idempotencytest checks that a Store implementation keeps the
// contract.
package idempotency
