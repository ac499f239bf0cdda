package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestWriteTableDelivery: the delivery targets' rows, their settle and
// drain figures, and the targets of issue 15, against (b) and (c) of the
// same repetition.
func TestWriteTableDelivery(t *testing.T) {
	var rs []Result
	for rep := 1; rep <= 3; rep++ {
		cpu := func(us float64) map[string]float64 { return map[string]float64{"gateway": us} }
		rs = append(rs,
			Result{Target: "b", Size: 1024, Conns: 64, Rep: rep, RPS: 8000, P50: 7, CPU: cpu(120)},
			Result{Target: "c", Size: 1024, Conns: 64, Rep: rep, RPS: 8000, P50: 7, CPU: cpu(120)},
			Result{Target: "f", Size: 1024, Conns: 64, Rep: rep, RPS: 7000, P50: 8, CPU: cpu(140),
				Backlog: 10000, SettleSeconds: 2.5, Sustained: 5000, CPUSettled: cpu(200), DiskWritten: map[string]float64{"gateway": 20480}},
			Result{Target: "g", Size: 1024, Conns: 64, Rep: rep, RPS: 6800, P50: 9, CPU: cpu(150), CPUSettled: cpu(150), Sustained: 6800},
			Result{Target: "h", Size: 1024, Conns: 64, Rep: rep, RPS: 6000, Drain: true, Backlog: 50000, RecordRPS: 7000,
				DiskBytes: 100 << 20, DiskUsed: 75 << 20, CPU: cpu(160), DiskWritten: map[string]float64{"gateway": 10240}},
		)
	}
	var b strings.Builder
	if err := WriteTable(&b, rs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| (h) drain: a backlog recorded with the app down, delivered to a healthy app (events/s) | 6000 | 0.750 | 6000–6000 | – | – | – | – | 0 | 160 | 0.750 |",
		"| (f) hookgate: verify + memory dedup + `deliver` async, embedded store (acknowledged) | 1 KiB, 64 connections | 10000 | 2.5 | 5000 | 0.625 | 200 | 0.600 | 20.0 | 3 |",
		"| 2 | 50000 | 7000 | 6000 | 0.750 | 160 | 10.0 | 2097 | 1573 |",
		"| (f) `async`, embedded: acknowledged req/s ≥ 0.8× (b)'s, 1 KiB, 64 connections | 0.875× | met |",
		"| same, by gateway CPU per event ((b)'s ÷ (f)'s, its delivery included) | 0.600× | **missed** |",
		"| (g) `on_failure`, healthy app: req/s ≥ 0.9× (c)'s, 1 KiB, 64 connections | 0.850× | **missed** |",
		"| (h) drain of the backlog: delivered/s ≥ 0.8× (b)'s req/s, 1 KiB, 64 connections | 0.750× | **missed** |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestSettle waits for a gateway's deliveries to catch up with what it
// recorded, as its metrics say.
func TestSettle(t *testing.T) {
	var delivered atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := min(delivered.Add(40), 100)
		fmt.Fprintf(w, "caddy_webhook_requests_total{outcome=\"forwarded\",reason=\"\",source=\"bench\"} 100\n")
		fmt.Fprintf(w, "caddy_webhook_requests_total{outcome=\"rejected\",reason=\"x\",source=\"bench\"} 7\n")
		fmt.Fprintf(w, "caddy_webhook_delivered_total{destination=\"app\",source=\"bench\"} %d\n", d)
	}))
	defer srv.Close()
	backlog, _, err := settle(strings.TrimPrefix(srv.URL, "http://"), "bench", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if backlog != 60 {
		t.Errorf("backlog %d, want 60 (100 recorded, 40 delivered at the first look)", backlog)
	}
}
