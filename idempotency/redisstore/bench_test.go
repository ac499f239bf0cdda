package redisstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/idempotency/idempotencytest"
	"github.com/hookgate/hookgate/internal/testredis"
	"github.com/hookgate/hookgate/redisclient"
)

// The benchmarks run one webhook at a time against a local redis-server,
// so they measure latency: round trips plus Redis's work. Compare
// BenchmarkClaimComplete with BenchmarkBareSetNX, the baseline of two bare
// SET NX PX in the same run.

// BenchmarkClaimComplete is the store's cost per forwarded webhook:
// Claim, then Complete, each one EVALSHA.
func BenchmarkClaimComplete(b *testing.B) {
	ctx := context.Background()
	srv := testredis.Start(b)
	s, _ := newStore(b, newClient(b, redisclient.Options{URL: srv.URL}))
	if err := s.Preload(ctx); err != nil {
		b.Fatal(err)
	}
	var n [20]byte
	i := uint64(0)
	for b.Loop() {
		i++
		key := idempotency.Key{Namespace: "stripe", ID: string(strconv.AppendUint(n[:0], i, 36))}
		if err := s.Claim(ctx, key, idempotency.Token{Seq: i}, time.Minute); err != nil {
			b.Fatal(err)
		}
		if err := s.Complete(ctx, key, idempotency.Token{Seq: i}, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeduper is the whole path through the Deduper.
func BenchmarkDeduper(b *testing.B) {
	ctx := context.Background()
	srv := testredis.Start(b)
	s, _ := newStore(b, newClient(b, redisclient.Options{URL: srv.URL}))
	if err := s.Preload(ctx); err != nil {
		b.Fatal(err)
	}
	d, err := idempotency.New(idempotency.Config{Store: s})
	if err != nil {
		b.Fatal(err)
	}
	idempotencytest.BenchmarkDeduper(b, d)
}

// BenchmarkBareSetNX is the baseline: two bare go-redis SET NX PX per
// webhook, with keys and client settings like the store's.
func BenchmarkBareSetNX(b *testing.B) {
	ctx := context.Background()
	srv := testredis.Start(b)
	client := newClient(b, redisclient.Options{URL: srv.URL})
	prefix := "bench:{"
	var n [20]byte
	i := uint64(0)
	for b.Loop() {
		i++
		key := prefix + idempotency.Key{Namespace: "stripe", ID: string(strconv.AppendUint(n[:0], i, 36))}.String() + "}"
		if err := client.SetNX(ctx, key, "Ltoken", time.Minute).Err(); err != nil {
			b.Fatal(err)
		}
		if err := client.SetNX(ctx, key+"d", "Dtoken", time.Hour).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
