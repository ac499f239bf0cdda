package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/internal/testgateway/promtext"
)

// The gateway's counters that tell recorded from delivered events.
const (
	metricRecorded  = "caddy_webhook_requests_total"  // with outcome="forwarded": handed to the deliver block
	metricDelivered = "caddy_webhook_delivered_total" // delivered to the app, live or in the background
)

// deliveryCounts scrapes the admin API at admin and returns how many
// events of source the gateway recorded and delivered since it started.
func deliveryCounts(ctx context.Context, admin, source string) (recorded, delivered int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	m := promtext.Text(b)
	return int64(m.Sum(metricRecorded, "source", source, "outcome", "forwarded")),
		int64(m.Sum(metricDelivered, "source", source)), nil
}

// pollEvery is how often the gateway's metrics are read while waiting:
// often enough for a drain of several seconds, rarely enough that the
// scrapes cost the gateway nothing measurable.
const pollEvery = 100 * time.Millisecond

// settle waits until the gateway at admin has delivered every event of
// source it recorded. It returns the backlog it found and when the last
// of it was delivered. It gives up after limit, or after 30 s without
// progress.
func settle(admin, source string, limit time.Duration) (backlog int64, end time.Time, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	first := true
	var last int64
	progress := time.Now()
	for {
		rec, del, err := deliveryCounts(ctx, admin, source)
		if err != nil {
			return backlog, time.Now(), fmt.Errorf("settle: %w", err)
		}
		now := time.Now()
		if first {
			backlog, first = rec-del, false
		}
		if del >= rec {
			return backlog, now, nil
		}
		if del != last {
			last, progress = del, now
		}
		if now.Sub(progress) > 30*time.Second {
			return backlog, now, fmt.Errorf("settle: no delivery for 30 s, %d of %d recorded events delivered", del, rec)
		}
		select {
		case <-ctx.Done():
			return backlog, now, fmt.Errorf("settle: %d of %d recorded events delivered after %v", del, rec, limit)
		case <-time.After(pollEvery):
		}
	}
}

// drainCmd measures how fast a gateway that starts with a backlog of
// events delivers them: from the first delivery it sees to the last.
func drainCmd(args []string) error {
	fs := flag.NewFlagSet("drain", flag.ExitOnError)
	admin := fs.String("admin", "", "admin API address of the gateway (host:port)")
	source := fs.String("source", "bench", "source of the events")
	want := fs.Int64("want", 0, "events in the backlog")
	pid := fs.Int("pid", 0, "gateway process, for its CPU per event")
	target := fs.String("target", "h", "target name in the results")
	size := fs.Int("size", 1024, "body size of the events, recorded in the result")
	conns := fs.Int("conns", 64, "connections of the group to compare with, recorded in the result")
	rep := fs.Int("rep", 0, "repetition number, recorded in the result")
	diskBytes := fs.Int64("disk-bytes", 0, "store file size after recording the backlog, recorded in the result")
	diskUsed := fs.Int64("disk-used", 0, "bytes of the store's pages in use after recording, recorded in the result")
	recordRPS := fs.Float64("record-rps", 0, "the rate the backlog was recorded at, app down, recorded in the result")
	limit := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	out := fs.String("out", "", "append the result as one JSON line to this file")
	_ = fs.Parse(args)
	if *admin == "" || *want <= 0 {
		return fmt.Errorf("drain: -admin and a positive -want are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *limit)
	defer cancel()
	res := &Result{Target: *target, Size: *size, Conns: *conns, Rep: *rep, Drain: true,
		DiskBytes: *diskBytes, DiskUsed: *diskUsed, Backlog: *want, RecordRPS: *recordRPS, At: time.Now().UTC().Format(time.RFC3339)}
	var (
		t0, t1     time.Time
		d0, d1     int64
		cpu0, cpu1 int64
		io0, io1   int64
		progress   = time.Now()
		last       int64
	)
	for {
		_, del, err := deliveryCounts(ctx, *admin, *source)
		now := time.Now()
		if err == nil {
			if del > 0 && t0.IsZero() {
				t0, d0 = now, del
				if *pid > 0 {
					cpu0, _ = cpuMicros(*pid)
					io0, _ = writeBytes(*pid)
				}
			}
			if del != last {
				last, progress = del, now
			}
			t1, d1 = now, del
			if del >= *want {
				break
			}
		}
		if now.Sub(progress) > 30*time.Second || ctx.Err() != nil {
			res.FirstErr = fmt.Sprintf("drain incomplete: %d of %d delivered (%v)", d1, *want, err)
			res.Errors = *want - d1
			break
		}
		time.Sleep(pollEvery)
	}
	if *pid > 0 && !t0.IsZero() {
		cpu1, _ = cpuMicros(*pid)
		io1, _ = writeBytes(*pid)
	}
	res.Requests = d1 - d0
	res.Seconds = t1.Sub(t0).Seconds()
	if res.Seconds > 0 {
		res.RPS = float64(res.Requests) / res.Seconds
	}
	if res.Requests > 0 && cpu1 > cpu0 {
		res.CPU = map[string]float64{"gateway": float64(cpu1-cpu0) / float64(res.Requests)}
	}
	if res.Requests > 0 && io1 > io0 {
		res.DiskWritten = map[string]float64{"gateway": float64(io1-io0) / float64(res.Requests)}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	if *out != "" {
		return appendLine(*out, b)
	}
	return nil
}

// storeSizeCmd prints the size of a bbolt file and the bytes of its pages
// in use, which a gateway must not hold open.
func storeSizeCmd(args []string) error {
	fs := flag.NewFlagSet("storesize", flag.ExitOnError)
	path := fs.String("store", "", "the bbolt file (deliveries.db)")
	_ = fs.Parse(args)
	st, err := os.Stat(*path)
	if err != nil {
		return err
	}
	db, err := bolt.Open(*path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	var used int64
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			s := b.Stats()
			used += int64(s.BranchAlloc + s.LeafAlloc)
			return nil
		})
	})
	if err != nil {
		return err
	}
	fmt.Println(st.Size(), used)
	return nil
}

func appendLine(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
