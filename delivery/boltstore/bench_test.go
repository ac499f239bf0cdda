package boltstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/delivery"
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

func body1K() []byte {
	b := make([]byte, 1024)
	_, _ = rand.Read(b)
	return b
}

// BenchmarkAppend measures durable appends of 1 KiB events by 1 and 64
// concurrent writers, committed three ways: this store's group commit,
// one DB.Update each (the naive way), and bbolt's DB.Batch. ns/op is per
// append; appends/s is the throughput.
func BenchmarkAppend(b *testing.B) {
	for _, m := range []struct {
		name string
		mode commitMode
	}{{"group", groupCommit}, {"update", updateEach}, {"batch", boltBatch}} {
		for _, writers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", m.name, writers), func(b *testing.B) {
				s, err := Open(filepath.Join(b.TempDir(), "delivery.db"), Config{})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				s.mode = m.mode
				body := body1K()
				now := time.Now()
				var next atomic.Int64
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for range writers {
					wg.Go(func() {
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if err := s.Append(ctx, benchEvent(strconv.FormatInt(i, 10), now, body)); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
				if m.mode == groupCommit {
					commits, writes := s.Commits()
					b.ReportMetric(float64(writes)/float64(commits), "writes/commit")
				}
			})
		}
	}
}

// bulkAppend appends evs in one transaction: fast setup for benchmarks
// and size tests.
func bulkAppend(tb testing.TB, s *Store, evs []*delivery.Event) {
	tb.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		t := open(tx)
		for _, ev := range evs {
			if res, err := t.append(ev, nil); err != nil || res != nil {
				return fmt.Errorf("append: %v %v", res, err)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// backlog appends n events due at now, in transactions of 5000.
func backlog(tb testing.TB, s *Store, prefix string, n int, now time.Time) {
	tb.Helper()
	body := body1K()
	for i := 0; i < n; i += 5000 {
		evs := make([]*delivery.Event, 0, 5000)
		for j := i; j < min(n, i+5000); j++ {
			evs = append(evs, benchEvent(prefix+strconv.Itoa(j), now, body))
		}
		bulkAppend(tb, s, evs)
	}
}

// BenchmarkDrain measures how fast an Engine drains a backlog of 50,000
// 1 KiB events to an attempt function that does nothing, at Concurrency
// (and LeaseBatch) 64 and 256: the store's own cost per delivery (lease,
// lazy report). Run it with -benchtime=1x; events/s is the drain rate.
func BenchmarkDrain(b *testing.B) {
	for _, conc := range []int{64, 256} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) { drain(b, conc) })
	}
}

func drain(b *testing.B, conc int) {
	const n = 50_000
	for i := range b.N {
		b.StopTimer()
		s, err := Open(filepath.Join(b.TempDir(), "delivery.db"), Config{})
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		backlog(b, s, fmt.Sprint(i, "-"), n, now)
		var delivered atomic.Int64
		done := make(chan struct{})
		e, err := delivery.New(delivery.Config{
			Store:        s,
			LeaseBatch:   conc,
			Destinations: []delivery.Destination{{Source: "github", Name: "app", Concurrency: conc}},
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
		ctx, cancel := context.WithCancel(context.Background())
		b.StartTimer()
		start := time.Now()
		go func() { _ = e.Run(ctx) }()
		<-done
		if err := s.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		cancel()
		b.ReportMetric(n/elapsed.Seconds(), "events/s")
		commits, writes := s.Commits()
		b.ReportMetric(float64(writes)/float64(commits), "writes/commit")
		st, err := s.Stats(context.Background(), []delivery.Queue{{Source: "github", Destination: "app"}})
		if err != nil || st[0].Pending != 0 {
			b.Fatalf("after the drain: %+v, %v", st, err)
		}
		_ = s.Close()
		b.StartTimer()
	}
}

// BenchmarkDiskPerEvent reports the file size per stored 1 KiB event
// (with its headers, one delivery and every index), after 20,000 events
// pending and after they are delivered.
func BenchmarkDiskPerEvent(b *testing.B) {
	const n = 20_000
	for range b.N {
		s, err := Open(filepath.Join(b.TempDir(), "delivery.db"), Config{})
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		backlog(b, s, "", n, now)
		b.ReportMetric(float64(usedBytes(b, s))/n, "used-B/event")
		b.ReportMetric(float64(fileSize(b, s))/n, "file-B/event")
		_ = s.Close()
	}
}

func fileSize(tb testing.TB, s *Store) int64 {
	tb.Helper()
	fi, err := os.Stat(s.db.Path())
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// usedBytes is the size of the pages in use: the high-water mark, less
// the free pages.
func usedBytes(tb testing.TB, s *Store) int64 {
	tb.Helper()
	var hw int64
	if err := s.db.View(func(tx *bolt.Tx) error { hw = tx.Size(); return nil }); err != nil {
		tb.Fatal(err)
	}
	st := s.db.Stats()
	return hw - int64(st.FreeAlloc)
}

// BenchmarkLiveFirst measures the on_failure path for a healthy
// destination, by 1 and 64 concurrent callers, BeginLive then Finish with
// a 2xx: record=held (the default RecordWithin) queues the record and
// folds the 2xx into it, one write nobody waits for; record=before
// (RecordWithin < 0) makes a durable append, group-committed, then a lazy
// report that rides in a later commit. commits/event shows what one event
// costs in synced transactions; the time includes the final Flush.
func BenchmarkLiveFirst(b *testing.B) {
	for _, c := range []struct {
		record  string
		within  time.Duration
		callers int
	}{{"held", 0, 1}, {"held", 0, 64}, {"before", -1, 1}, {"before", -1, 64}} {
		callers := c.callers
		b.Run(fmt.Sprintf("record=%s/callers=%d", c.record, callers), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "delivery.db"), Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			e, err := delivery.New(delivery.Config{
				Store:        s,
				Destinations: []delivery.Destination{{Source: "github", Name: "app", RecordWithin: c.within}},
				Attempt: func(context.Context, *delivery.Task) delivery.Result {
					return delivery.Result{Delivered: true}
				},
			})
			if err != nil {
				b.Fatal(err)
			}
			body := body1K()
			ctx := context.Background()
			var next atomic.Int64
			c0, _ := s.Commits()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						ev := &delivery.Event{Source: "github", ID: strconv.FormatInt(i, 10), Type: "push", Body: body,
							Header: http.Header{"Content-Type": {"application/json"}}}
						t, err := e.BeginLive(ctx, ev, "app")
						if err != nil {
							b.Error(err)
							return
						}
						// The live attempt succeeds.
						if err := e.Finish(ctx, t, delivery.Result{Delivered: true, StatusCode: 200}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			if err := s.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			c1, _ := s.Commits()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(c1-c0)/float64(b.N), "commits/event")
		})
	}
}
