package idempotency_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/hookgate/hookgate/idempotency"
)

// A provider delivers event evt_1 three times: the first delivery fails
// upstream, the retry succeeds, and the third is a duplicate.
func ExampleDeduper() {
	d, err := idempotency.New(idempotency.Config{}) // in-process memory store
	if err != nil {
		panic(err)
	}
	deliver := func(id string, upstreamOK bool) {
		ctx := context.Background() // in a handler: context.WithoutCancel(r.Context()) for Complete and Release
		c, err := d.Claim(ctx, "stripe", id)
		switch {
		case errors.Is(err, idempotency.ErrDuplicate):
			fmt.Println(id, "duplicate: 200, not forwarded")
			return
		case errors.Is(err, idempotency.ErrInFlight):
			fmt.Println(id, "in flight: 409")
			return
		case err != nil:
			fmt.Println(id, "store unavailable: 503")
			return
		}
		defer c.Release(ctx) // no-op once completed

		if !upstreamOK {
			fmt.Println(id, "forwarded, upstream failed: released")
			return
		}
		if err := c.Complete(ctx); err != nil {
			fmt.Println(id, "delivered, not recorded:", err)
			return
		}
		fmt.Println(id, "forwarded, upstream 2xx: completed")
	}

	deliver("evt_1", false)
	deliver("evt_1", true)
	deliver("evt_1", true)
	// Output:
	// evt_1 forwarded, upstream failed: released
	// evt_1 forwarded, upstream 2xx: completed
	// evt_1 duplicate: 200, not forwarded
}
