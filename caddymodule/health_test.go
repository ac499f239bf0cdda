package caddymodule

import (
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/delivery"
)

// TestJudgeHealth: each rule makes a source degraded or unhealthy, with
// a reason that says why; the worst comes first.
func TestJudgeHealth(t *testing.T) {
	now := t0
	ms := func(n ...int) []time.Duration {
		var d []time.Duration
		for _, v := range n {
			d = append(d, time.Duration(v)*time.Millisecond)
		}
		return d
	}
	for _, c := range []struct {
		name   string
		in     healthInput
		status string
		reason string // in Reason
	}{
		{"quiet", healthInput{info: sourceInfo{Name: "s"}}, healthy, ""},
		{"all good", healthInput{info: sourceInfo{Name: "s", Deliver: true},
			activity: activityStats{Window: counts{Requests: 50, Verified: 50, Attempts: 50, Delivered: 50}, Latency: ms(10, 20, 30)}}, healthy, ""},
		{"one rejection of few", healthInput{info: sourceInfo{Name: "s"},
			activity: activityStats{Window: counts{Requests: 4, Verified: 3, Rejected: 1}}}, healthy, ""},
		{"some rejected", healthInput{info: sourceInfo{Name: "s"},
			activity: activityStats{Window: counts{Requests: 10, Verified: 8, Rejected: 2}, Reason: "signature_mismatch"}},
			degraded, "20% of 10 requests rejected in 15 min (last: signature_mismatch)"},
		{"most rejected", healthInput{info: sourceInfo{Name: "s"},
			activity: activityStats{Window: counts{Requests: 10, Verified: 2, Rejected: 8}, Reason: "timestamp_out_of_tolerance"}},
			unhealthy, "80% of 10 requests rejected"},
		{"one dead", healthInput{info: sourceInfo{Name: "s", Deliver: true},
			activity: activityStats{Window: counts{Attempts: 30, Delivered: 20, Dead: 1, Failed: 10}}},
			degraded, "1 of 21 deliveries died in 15 min"},
		{"most dead", healthInput{info: sourceInfo{Name: "s", Deliver: true},
			activity: activityStats{Window: counts{Attempts: 9, Delivered: 1, Dead: 3, Failed: 8}}},
			unhealthy, "3 of 4 deliveries died"},
		{"many attempts", healthInput{info: sourceInfo{Name: "s", Deliver: true},
			activity: activityStats{Window: counts{Attempts: 20, Delivered: 10, Failed: 10}}},
			degraded, "deliveries take 2.0 attempts each"},
		{"backlog", healthInput{info: sourceInfo{Name: "s", Deliver: true},
			stats: []delivery.QueueStats{{Pending: 3, OldestSince: now.Add(-2 * time.Minute)}}},
			degraded, "the oldest pending delivery has waited 2m0s"},
		{"app down", healthInput{info: sourceInfo{Name: "s", Deliver: true},
			stats: []delivery.QueueStats{{Pending: 300, OldestSince: now.Add(-time.Hour)}, {Pending: 1, OldestSince: now.Add(-time.Minute)}}},
			unhealthy, "waited 1h0m0s: the app is not taking events"},
		{"key rotating out, next one in place", healthInput{info: sourceInfo{Name: "s",
			Keys: []keyInfo{{Name: "old", Expires: now.Add(24 * time.Hour)}, {Name: "new"}}}}, healthy, ""},
		{"last key expiring", healthInput{info: sourceInfo{Name: "s",
			Keys: []keyInfo{{Name: "k1", Expires: now.Add(3 * 24 * time.Hour)}, {Name: "k0", Expires: now.Add(-time.Hour)}}}},
			degraded, "every key expires within 7 days (the last in 3 days)"},
		{"every key expired", healthInput{info: sourceInfo{Name: "s",
			Keys: []keyInfo{{Name: "k1", Expires: now.Add(-time.Hour)}}}},
			unhealthy, "every key has expired"},
		{"worst first", healthInput{info: sourceInfo{Name: "s", Deliver: true},
			activity: activityStats{Window: counts{Requests: 10, Verified: 9, Rejected: 1, Attempts: 10, Delivered: 1, Dead: 9}}},
			unhealthy, "9 of 10 deliveries died"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := judgeHealth(c.in, now)
			if h.Status != c.status || !strings.Contains(h.Reason, c.reason) || (c.reason == "") != (h.Reason == "") {
				t.Fatalf("%s %q (all: %q), want %s %q", h.Status, h.Reason, h.Reasons, c.status, c.reason)
			}
		})
	}
}

// TestJudgeHealthFigures: the figures the console shows.
func TestJudgeHealthFigures(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	h := judgeHealth(healthInput{
		info:     sourceInfo{Name: "s", Scheme: "github", Deliver: true, Keys: []keyInfo{{Name: "k", Expires: t0.Add(48 * time.Hour)}, {Name: "old", Expires: t0.Add(-time.Hour)}, {Name: "n"}}},
		activity: activityStats{Window: counts{Requests: 20, Verified: 19, Rejected: 1, Attempts: 25, Delivered: 19, Dead: 1}, Latency: lat, LastSeen: t0.Add(-time.Minute)},
		stats:    []delivery.QueueStats{{Pending: 2, Dead: 4, OldestSince: t0.Add(-10 * time.Second)}},
	}, t0)
	if *h.RejectedShare != 0.05 || *h.SuccessRate != 0.95 || *h.AttemptsPerDelivery != 1.25 {
		t.Errorf("shares %v %v %v", *h.RejectedShare, *h.SuccessRate, *h.AttemptsPerDelivery)
	}
	if *h.LatencyP50MS != 50 || *h.LatencyP99MS != 99 {
		t.Errorf("latency p50 %v p99 %v", *h.LatencyP50MS, *h.LatencyP99MS)
	}
	if h.Pending != 2 || h.DeadKept != 4 || *h.OldestPendingSeconds != 10 || h.LastEventAt != "2026-11-22T09:59:00Z" {
		t.Errorf("store figures %+v", h)
	}
	states := ""
	for _, k := range h.Keys {
		states += k.Name + ":" + k.State + " "
	}
	if states != "k:expiring old:expired n:ok " {
		t.Errorf("keys %q", states)
	}
}
