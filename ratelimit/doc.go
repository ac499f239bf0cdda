// Package ratelimit limits how fast each client may send webhooks, with a
// token bucket per key.
//
// A [Local] keeps one bucket per key in memory (golang.org/x/time/rate),
// bounded in number: idle keys are dropped, and past Config.MaxKeys the
// least recently used key is, so a flood of distinct client addresses
// cannot grow memory without bound. Package redislimit provides the same
// [Limiter] shared by many gateway instances through Redis.
//
// The key is chosen by the caller (the client IP, a header, the source
// name); this package only sees a string. The safe sequence is:
//
//	lim, err := ratelimit.NewLocal(ratelimit.Config{Rate: 10, Burst: 20})
//	// per request, before reading the body:
//	d, err := lim.Allow(ctx, key)
//	if err != nil {
//		// no decision (context canceled); not a denial
//	}
//	rl, policy := ratelimit.HeaderValues(d, "default")
//	// set RateLimit: rl and RateLimit-Policy: policy
//	if !d.Allowed {
//		// set Retry-After: ratelimit.RetryAfter(d), answer 429
//	}
//
// Time is a parameter for tests: [Local.AllowAt] takes the instant, and
// Config.Now replaces the clock of Allow.
package ratelimit
