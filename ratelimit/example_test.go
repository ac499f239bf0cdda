package ratelimit_test

import (
	"fmt"
	"time"

	"github.com/hookgate/hookgate/ratelimit"
)

func ExampleLocal() {
	// 2 requests per second per key, 3 at once.
	lim, err := ratelimit.NewLocal(ratelimit.Config{Rate: 2, Burst: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
	for i, at := range []time.Duration{0, 0, 0, 0, 500 * time.Millisecond} {
		d := lim.AllowAt(start.Add(at), "203.0.113.7")
		rl, policy := ratelimit.HeaderValues(d, "per-ip")
		fmt.Printf("%d allowed=%v remaining=%d retry-after=%q\n   RateLimit: %s\n   RateLimit-Policy: %s\n",
			i, d.Allowed, d.Remaining, ratelimit.RetryAfter(d), rl, policy)
	}
	// Output:
	// 0 allowed=true remaining=2 retry-after=""
	//    RateLimit: "per-ip";r=2;t=1
	//    RateLimit-Policy: "per-ip";q=3;w=2
	// 1 allowed=true remaining=1 retry-after=""
	//    RateLimit: "per-ip";r=1;t=1
	//    RateLimit-Policy: "per-ip";q=3;w=2
	// 2 allowed=true remaining=0 retry-after=""
	//    RateLimit: "per-ip";r=0;t=2
	//    RateLimit-Policy: "per-ip";q=3;w=2
	// 3 allowed=false remaining=0 retry-after="1"
	//    RateLimit: "per-ip";r=0;t=2
	//    RateLimit-Policy: "per-ip";q=3;w=2
	// 4 allowed=true remaining=0 retry-after=""
	//    RateLimit: "per-ip";r=0;t=2
	//    RateLimit-Policy: "per-ip";q=3;w=2
}
