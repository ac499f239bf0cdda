package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"golang.org/x/time/rate"
)

// BenchmarkLocalAllow measures Allow from all Ps at once over many keys,
// next to a bare rate.Limiter shared by all (the floor: one mutex, no
// map) and to one key (all goroutines on one shard's lock).
func BenchmarkLocalAllow(b *testing.B) {
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = "198.51.100." + strconv.Itoa(i)
	}
	b.Run("baseline-bare-rate.Limiter", func(b *testing.B) {
		lim := rate.NewLimiter(1e9, 1e9)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				lim.Allow()
			}
		})
	})
	for _, tt := range []struct {
		name    string
		keys    int
		maxKeys int
	}{
		{"1-key", 1, 0},
		{"64k-keys", len(keys), 0},
		{"64k-keys-evicting-MaxKeys-1k", len(keys), 1000},
	} {
		b.Run(tt.name, func(b *testing.B) {
			l, err := NewLocal(Config{Rate: 1000, MaxKeys: tt.maxKeys})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var next atomic.Uint64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(1) * 7919)
				for pb.Next() {
					l.Allow(ctx, keys[i%tt.keys])
					i++
				}
			})
		})
	}
}
