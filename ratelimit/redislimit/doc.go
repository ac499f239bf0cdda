// Package redislimit is a rate limiter shared by many gateway instances
// through Redis: the same token bucket per key as ratelimit.Local, kept
// in Redis so that N instances together enforce one limit.
//
// Each decision is one round trip: a Lua script (GCRA, run with EVALSHA)
// that reads the server's clock, decides and updates the key atomically.
// When Redis cannot be reached, the Limiter answers from a local
// ratelimit.Local instead, marks the decision Degraded and counts it, and
// tries Redis again after a cooldown.
//
// The safe sequence is:
//
//	client := redis.NewClient(&redis.Options{
//		Addr:        "localhost:6379",
//		DialTimeout: 100 * time.Millisecond, // how long a request may wait
//		ReadTimeout: 100 * time.Millisecond, // before the fallback decides
//	})
//	lim, err := redislimit.New(redislimit.Config{Client: client, Rate: 10, Burst: 20})
//	// per request, before reading the body:
//	d, err := lim.Allow(ctx, key)
//	if err != nil {
//		// ctx ended; no decision
//	}
//	// d as from ratelimit.Local; d.Degraded when Redis was unreachable.
//	// lim.Fallbacks() counts degraded decisions, for a metric.
package redislimit
