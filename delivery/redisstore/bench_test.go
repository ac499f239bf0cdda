package redisstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/redisstore"
	"github.com/hookgate/hookgate/internal/testredis"
)

// benchEvent is a typical webhook: 1 KiB of body, a few headers, one
// destination due now.
func benchEvent(id string, now time.Time, body []byte) *delivery.Event {
	return &delivery.Event{
		Source: "github", ID: id, Type: "push", ReceivedAt: now,
		Header: http.Header{
			"Content-Type":      {"application/json"},
			"User-Agent":        {"GitHub-Hookshot/abc1234"},
			"X-Github-Event":    {"push"},
			"X-Github-Delivery": {id},
		},
		Body:       body,
		Deliveries: []delivery.Delivery{{Destination: "app", Status: delivery.StatusPending, NextAt: now, Since: now}},
	}
}

// persistence is how the benchmarks' Redis keeps data: not at all (the
// tests' default), or an AOF fsynced before every reply, the setting
// under which an acknowledged Append survives a crash of the machine.
var persistence = []struct {
	name string
	args []string
}{
	{"aof=off", nil},
	{"aof=always", []string{"--appendonly", "yes", "--appendfsync", "always"}},
}

// benchOptions gives the benchmarks' client a connection per writer,
// and time for the fsyncs of a disk shared with other work.
const benchOptions = "?pool_size=64&read_timeout=5s&write_timeout=5s"

// run calls fn(i) for i in [0, n) from writers goroutines, and returns
// the throughput.
func run(b *testing.B, writers, n int, fn func(i int) error) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range writers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkAppend measures Append of 1 KiB events by 1 and 64 writers,
// with pipelined batching (the default) and without, next to a bare HSET
// of the same body in the same run (the baseline).
func BenchmarkAppend(b *testing.B) {
	for _, p := range persistence {
		for _, writers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", p.name, writers), func(b *testing.B) {
				srv := testredis.Start(b, p.args...)
				s := newStore(b, newClient(b, srv.URL+benchOptions), "bench:")
				ctx := context.Background()
				if err := s.Preload(ctx); err != nil {
					b.Fatal(err)
				}
				body := make([]byte, 1024)
				_, _ = rand.Read(body)
				now := time.Now()
				b.ReportAllocs()
				b.ResetTimer()
				rate := run(b, writers, b.N, func(i int) error {
					return s.Append(ctx, benchEvent(strconv.Itoa(i), now, body))
				})
				b.ReportMetric(rate, "appends/s")
			})
			b.Run(fmt.Sprintf("%s/writers=%d/unbatched", p.name, writers), func(b *testing.B) {
				srv := testredis.Start(b, p.args...)
				s, err := redisstore.New(redisstore.Config{Client: newClient(b, srv.URL+benchOptions), Prefix: "bench:", MaxInFlight: -1})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				body := make([]byte, 1024)
				now := time.Now()
				b.ReportAllocs()
				b.ResetTimer()
				rate := run(b, writers, b.N, func(i int) error {
					return s.Append(ctx, benchEvent(strconv.Itoa(i), now, body))
				})
				b.ReportMetric(rate, "appends/s")
			})
			b.Run(fmt.Sprintf("%s/writers=%d/bare-HSET", p.name, writers), func(b *testing.B) {
				srv := testredis.Start(b, p.args...)
				client := newClient(b, srv.URL+benchOptions)
				ctx := context.Background()
				body := make([]byte, 1024)
				b.ResetTimer()
				rate := run(b, writers, b.N, func(i int) error {
					return client.HSet(ctx, "bare:{github}:e:"+strconv.Itoa(i), "b", body).Err()
				})
				b.ReportMetric(rate, "writes/s")
			})
		}
	}
}

// BenchmarkDrain measures how fast an Engine drains a backlog of 50,000
// 1 KiB events to an attempt function that does nothing (Concurrency 64),
// and Redis's memory per stored event. Run it with -benchtime=1x.
func BenchmarkDrain(b *testing.B) {
	const n = 50_000
	for _, p := range persistence {
		b.Run(p.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				srv := testredis.Start(b, p.args...)
				s := newStore(b, newClient(b, srv.URL+benchOptions), "drain:")
				ctx := context.Background()
				body := make([]byte, 1024)
				_, _ = rand.Read(body)
				now := time.Now()
				before := usedMemory(b, srv.Addr)
				run(b, 64, n, func(i int) error { return s.Append(ctx, benchEvent(strconv.Itoa(i), now, body)) })
				b.ReportMetric(float64(usedMemory(b, srv.Addr)-before)/n, "mem-B/event")
				var delivered atomic.Int64
				done := make(chan struct{})
				e, err := delivery.New(delivery.Config{
					Store:        s,
					Destinations: []delivery.Destination{{Source: "github", Name: "app", Concurrency: 64}},
					Attempt: func(context.Context, *delivery.Task) delivery.Result {
						return delivery.Result{Delivered: true, StatusCode: 200}
					},
					Observer: delivery.ObserverFunc(func(nt delivery.Notice) {
						if nt.Kind == delivery.NoticeDelivered && delivered.Add(1) == n {
							close(done)
						}
					}),
				})
				if err != nil {
					b.Fatal(err)
				}
				runCtx, cancel := context.WithCancel(ctx)
				b.StartTimer()
				start := time.Now()
				go func() { _ = e.Run(runCtx) }()
				<-done
				elapsed := time.Since(start)
				b.StopTimer()
				cancel()
				b.ReportMetric(n/elapsed.Seconds(), "events/s")
				st, err := s.Stats(ctx, []delivery.Queue{{Source: "github", Destination: "app"}})
				if err != nil || st[0].Pending != 0 {
					b.Fatalf("after the drain: %+v, %v", st, err)
				}
				b.StartTimer()
			}
		})
	}
}

// usedMemory returns the server's used_memory.
func usedMemory(tb testing.TB, addr string) int64 {
	tb.Helper()
	info, err := testredis.DoBulk(addr, "INFO", "memory")
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	tb.Fatal("no used_memory in INFO memory")
	return 0
}
