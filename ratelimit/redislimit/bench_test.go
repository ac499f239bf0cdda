package redislimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/internal/testredis"
)

// BenchmarkAllow measures one shared decision (EVALSHA of the GCRA
// script) next to the bare round trips it is made of, on the same server
// and client: PING, and SET with an expiry (the write the script does).
// "serial" is one request at a time (latency bound); "parallel" runs 16
// goroutines per P (throughput). ns/op of serial runs is the round trip.
func BenchmarkAllow(b *testing.B) {
	srv := testredis.Start(b)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 64})
	b.Cleanup(func() { c.Close() })
	l, err := New(Config{Client: c, Rate: 1e6, Burst: 1e6})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "198.51.100." + strconv.Itoa(i)
	}
	ops := []struct {
		name string
		op   func(i int) error
	}{
		{"baseline-PING", func(int) error { return c.Ping(ctx).Err() }},
		{"baseline-SET-PX", func(i int) error { return c.Set(ctx, "bench:"+keys[i%len(keys)], "1", 60e9).Err() }},
		{"Allow", func(i int) error {
			d, err := l.Allow(ctx, keys[i%len(keys)])
			if err == nil && d.Degraded {
				b.Fatal("degraded")
			}
			return err
		}},
	}
	for _, o := range ops {
		b.Run(o.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := o.op(i); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(o.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(16)
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(1)) * 31
				for pb.Next() {
					if err := o.op(i); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}
