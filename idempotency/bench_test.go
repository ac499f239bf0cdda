package idempotency_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/idempotency/idempotencytest"
)

// BenchmarkMemory measures one webhook's claim and complete on the memory
// store, with a fresh key each time as in production. Building the key is
// the one allocation.
func BenchmarkMemory(b *testing.B) {
	ctx := context.Background()
	m := idempotency.NewMemory(idempotency.MemoryConfig{})
	var n [20]byte
	i := uint64(0)
	for b.Loop() {
		i++
		key := idempotency.Key{Namespace: "stripe", ID: string(strconv.AppendUint(n[:0], i, 36))}
		if err := m.Claim(ctx, key, idempotency.Token{Seq: 1}, time.Minute); err != nil {
			b.Fatal(err)
		}
		if err := m.Complete(ctx, key, idempotency.Token{Seq: 1}, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryFull is BenchmarkMemory on a store already holding
// MaxEntries completed events, as after days of traffic: every claim
// evicts the oldest completed event. Its cost grows with the store's size
// as the map outgrows the CPU caches.
func BenchmarkMemoryFull(b *testing.B) {
	for _, size := range []int{10_000, idempotency.DefaultMaxEntries} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			ctx := context.Background()
			m := idempotency.NewMemory(idempotency.MemoryConfig{MaxEntries: size})
			var n [20]byte
			i := uint64(0)
			next := func() idempotency.Key {
				i++
				return idempotency.Key{Namespace: "stripe", ID: string(strconv.AppendUint(n[:0], i, 36))}
			}
			for range size {
				key := next()
				_ = m.Claim(ctx, key, idempotency.Token{Seq: 1}, time.Minute)
				_ = m.Complete(ctx, key, idempotency.Token{Seq: 1}, time.Hour)
			}
			for b.Loop() {
				key := next()
				if err := m.Claim(ctx, key, idempotency.Token{Seq: 1}, time.Minute); err != nil {
					b.Fatal(err)
				}
				if err := m.Complete(ctx, key, idempotency.Token{Seq: 1}, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemoryParallel is BenchmarkMemory from every P at once.
func BenchmarkMemoryParallel(b *testing.B) {
	ctx := context.Background()
	m := idempotency.NewMemory(idempotency.MemoryConfig{})
	var mu sync.Mutex
	next := 0
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		next++
		prefix := strconv.Itoa(next) + "-"
		mu.Unlock()
		var n [20]byte
		i := uint64(0)
		for pb.Next() {
			i++
			key := idempotency.Key{Namespace: "stripe", ID: prefix + string(strconv.AppendUint(n[:0], i, 36))}
			if err := m.Claim(ctx, key, idempotency.Token{Seq: 1}, time.Minute); err != nil {
				b.Fatal(err)
			}
			if err := m.Complete(ctx, key, idempotency.Token{Seq: 1}, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDeduperMemory is the whole path a webhook takes: key and token,
// Claim, Complete.
func BenchmarkDeduperMemory(b *testing.B) {
	d, err := idempotency.New(idempotency.Config{})
	if err != nil {
		b.Fatal(err)
	}
	idempotencytest.BenchmarkDeduper(b, d)
}

// BenchmarkBareMap is the baseline: two writes of the same keys into one
// mutex-guarded map, without expiry, eviction or sharding.
func BenchmarkBareMap(b *testing.B) {
	type entry struct {
		token string
		exp   int64
	}
	var mu sync.Mutex
	m := make(map[string]entry)
	var n [20]byte
	i := uint64(0)
	for b.Loop() {
		i++
		key := idempotency.Key{Namespace: "stripe", ID: string(strconv.AppendUint(n[:0], i, 36))}.String()
		mu.Lock()
		if _, ok := m[key]; !ok {
			m[key] = entry{"token", 1}
		}
		mu.Unlock()
		mu.Lock()
		m[key] = entry{"token", 2}
		mu.Unlock()
	}
}
