package deliverytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/delivery"
)

// Harness describes the store under test.
type Harness struct {
	// New returns an empty store for one subtest, and restart, which
	// closes the store (writing what it queued) and returns it opened
	// again on the same data, as after a process restart. Closing at the
	// end of the test is New's job (t.Cleanup).
	New func(t *testing.T) (s delivery.Store, restart func() delivery.Store)

	// Workers is the number of goroutines leasing at once in the
	// concurrency tests.
	//
	// default: 16
	Workers int

	// Events is the number of events the concurrency tests deliver.
	//
	// default: 500
	Events int
}

// T0 is the instant the store tests start at. Stores keep milliseconds,
// so the tests use whole milliseconds.
var T0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// Run runs the contract tests against stores made by h.New, each in its
// own subtest.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("deliverytest: Harness.New is nil")
	}
	if h.Workers <= 0 {
		h.Workers = 16
	}
	if h.Events <= 0 {
		h.Events = 500
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, c *checker)
	}{
		{"AppendGet", testAppendGet},
		{"AppendExists", testAppendExists},
		{"AppendInvalid", testAppendInvalid},
		{"SeqGrows", testSeqGrows},
		{"LeaseDueOnly", testLeaseDueOnly},
		{"LeaseBatches", testLeaseBatches},
		{"LeaseQueuesApart", testLeaseQueuesApart},
		{"LeaseExpires", testLeaseExpires},
		{"ReportRetry", testReportRetry},
		{"ReportDelivered", testReportDelivered},
		{"ReportDead", testReportDead},
		{"ReportLeaseLost", testReportLeaseLost},
		{"ReportNotFound", testReportNotFound},
		{"AttemptHistoryBounded", testAttemptHistoryBounded},
		{"Extend", testExtend},
		{"LiveFirst", testLiveFirst},
		{"LiveFirstCrash", testLiveFirstCrash},
		{"RestartResumes", testRestartResumes},
		{"MultiDestination", testMultiDestination},
		{"NoDeliveries", testNoDeliveries},
		{"List", testList},
		{"ListFeed", testListFeed},
		{"Replay", testReplay},
		{"Purge", testPurge},
		{"PurgeOne", testPurgeOne},
		{"DropPayload", testDropPayload},
		{"Retention", testRetention},
		{"Stats", testStats},
		{"ConcurrentLease", testConcurrentLease},
		{"EnginesDeliverOnce", testEnginesDeliverOnce},
		{"EngineRestart", testEngineRestart},
		{"EngineDeadAfterMaxAttempts", testEngineDeadAfterMaxAttempts},
	}
	if s, _ := h.New(t); s != nil {
		if _, ok := s.(delivery.AppendQueuer); ok {
			tests = append(tests, struct {
				name string
				fn   func(t *testing.T, c *checker)
			}{"QueueAppend", testQueueAppend})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, restart := h.New(t)
			tt.fn(t, &checker{t: t, s: s, restart: restart, h: h, ctx: context.Background()})
		})
	}
}

type checker struct {
	t       *testing.T
	s       delivery.Store
	restart func() delivery.Store
	h       Harness
	ctx     context.Context
}

// event returns an event of source/id received at at, with a delivery
// due at at to each of dests, a 1 KiB binary body and a few headers.
func event(source, id string, at time.Time, dests ...string) *delivery.Event {
	body := make([]byte, 1024)
	_, _ = rand.Read(body)
	ev := &delivery.Event{
		Source:     source,
		ID:         id,
		Type:       "invoice.paid",
		ReceivedAt: at,
		Header: http.Header{
			"Content-Type": {"application/json"},
			"X-Multi":      {"a", "b"},
			"X-Empty":      {""},
		},
		Body: body,
	}
	for _, d := range dests {
		ev.Deliveries = append(ev.Deliveries, delivery.Delivery{Destination: d, Status: delivery.StatusPending, NextAt: at, Since: at})
	}
	return ev
}

func (c *checker) append(ev *delivery.Event) {
	c.t.Helper()
	if err := c.s.Append(c.ctx, ev); err != nil {
		c.t.Fatalf("Append(%s/%s): %v", ev.Source, ev.ID, err)
	}
}

func (c *checker) get(source, id string) *delivery.Event {
	c.t.Helper()
	ev, err := c.s.Get(c.ctx, source, id)
	if err != nil {
		c.t.Fatalf("Get(%s/%s): %v", source, id, err)
	}
	return ev
}

func (c *checker) lease(q delivery.Queue, now time.Time, n int, until time.Time, token string) ([]*delivery.Task, time.Time) {
	c.t.Helper()
	tasks, next, err := c.s.Lease(c.ctx, q, now, n, until, token)
	if err != nil {
		c.t.Fatalf("Lease(%s, %v, %d): %v", q, now, n, err)
	}
	return tasks, next
}

// leaseIDs leases and returns the ids leased, in order.
func (c *checker) leaseIDs(q delivery.Queue, now time.Time, n int, token string) []string {
	c.t.Helper()
	tasks, _ := c.lease(q, now, n, now.Add(time.Minute), token)
	return ids(tasks)
}

func ids(tasks []*delivery.Task) []string {
	out := make([]string, len(tasks))
	for i, t := range tasks {
		out[i] = t.Event.ID
	}
	return out
}

func (c *checker) report(r delivery.Report, want error) {
	c.t.Helper()
	err := c.s.Report(c.ctx, r)
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		c.t.Fatalf("Report(%s/%s %s %v): got %v, want %v", r.Source, r.ID, r.Destination, r.Status, err, want)
	}
	if want != nil && want != delivery.ErrUnavailable && errors.Is(err, delivery.ErrUnavailable) {
		c.t.Fatalf("Report: %v also wraps ErrUnavailable", err)
	}
}

func (c *checker) stats(qs ...delivery.Queue) []delivery.QueueStats {
	c.t.Helper()
	st, err := c.s.Stats(c.ctx, qs)
	if err != nil {
		c.t.Fatalf("Stats: %v", err)
	}
	if len(st) != len(qs) {
		c.t.Fatalf("Stats: %d results for %d queues", len(st), len(qs))
	}
	return st
}

func (c *checker) list(f delivery.Filter) []*delivery.Event {
	c.t.Helper()
	evs, err := c.s.List(c.ctx, f)
	if err != nil {
		c.t.Fatalf("List(%+v): %v", f, err)
	}
	return evs
}

func eventIDs(evs []*delivery.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func (c *checker) wantIDs(what string, got, want []string) {
	c.t.Helper()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		c.t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

func (c *checker) wantStatus(ev *delivery.Event, dest string, want delivery.Status) *delivery.Delivery {
	c.t.Helper()
	d := ev.Delivery(dest)
	if d == nil {
		c.t.Fatalf("%s/%s has no delivery to %s", ev.Source, ev.ID, dest)
	}
	if d.Status != want {
		c.t.Fatalf("%s/%s to %s: status %v, want %v", ev.Source, ev.ID, dest, d.Status, want)
	}
	return d
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func attempt(at time.Time, code int, msg string) *delivery.Attempt {
	return &delivery.Attempt{At: at, StatusCode: code, Latency: 1500 * time.Microsecond, Error: msg}
}

func done(t *delivery.Task, st delivery.Status, now time.Time) delivery.Report {
	return delivery.Report{
		Source: t.Event.Source, ID: t.Event.ID, Destination: t.Delivery.Destination, Token: t.Delivery.Token,
		Attempt: attempt(now, 200, ""), Status: st, Now: now,
	}
}

func testAppendGet(t *testing.T, c *checker) {
	ev := event("stripe", "evt_1", T0, "app")
	ev.Type = "charge.succeeded"
	c.append(ev)
	if ev.Seq == 0 {
		t.Fatal("Append left Seq 0")
	}
	got := c.get("stripe", "evt_1")
	if got.Source != "stripe" || got.ID != "evt_1" || got.Type != "charge.succeeded" || got.Seq != ev.Seq {
		t.Fatalf("Get: source %q id %q type %q seq %d, want stripe evt_1 charge.succeeded %d", got.Source, got.ID, got.Type, got.Seq, ev.Seq)
	}
	wantTime(t, "ReceivedAt", got.ReceivedAt, T0)
	if !bytes.Equal(got.Body, ev.Body) {
		t.Fatal("Get: body differs")
	}
	for k, vs := range ev.Header {
		if !slices.Equal(got.Header[k], vs) {
			t.Fatalf("Get: header %s = %q, want %q", k, got.Header[k], vs)
		}
	}
	if len(got.Header) != len(ev.Header) {
		t.Fatalf("Get: %d headers, want %d", len(got.Header), len(ev.Header))
	}
	if len(got.Deliveries) != 1 {
		t.Fatalf("Get: %d deliveries, want 1", len(got.Deliveries))
	}
	d := c.wantStatus(got, "app", delivery.StatusPending)
	wantTime(t, "NextAt", d.NextAt, T0)
	wantTime(t, "Since", d.Since, T0)
	if d.Tries != 0 || d.AttemptCount != 0 || len(d.Attempts) != 0 || d.Token != "" {
		t.Fatalf("fresh delivery: %+v", d)
	}
	if got.Status() != delivery.StatusPending {
		t.Fatalf("event status %v, want pending", got.Status())
	}

	// Ids are opaque bytes; an empty body stays empty.
	odd := event("stripe", "evt_ü\x00{x}:\n"+string(make([]byte, 300)), T0, "app")
	odd.Body = nil
	c.append(odd)
	if got := c.get("stripe", odd.ID); len(got.Body) != 0 || got.ID != odd.ID {
		t.Fatalf("odd id: got id %q body %d bytes", got.ID, len(got.Body))
	}
	if _, err := c.s.Get(c.ctx, "stripe", "evt_2"); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("Get of an unknown event: got %v, want ErrNotFound", err)
	}
	if _, err := c.s.Get(c.ctx, "github", "evt_1"); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("Get in another source: got %v, want ErrNotFound", err)
	}
}

func testAppendExists(t *testing.T, c *checker) {
	ev := event("stripe", "evt_1", T0, "app")
	c.append(ev)
	again := event("stripe", "evt_1", T0.Add(time.Hour), "app", "audit")
	if err := c.s.Append(c.ctx, again); !errors.Is(err, delivery.ErrExists) || errors.Is(err, delivery.ErrUnavailable) {
		t.Fatalf("second Append: got %v, want ErrExists", err)
	}
	got := c.get("stripe", "evt_1")
	if !bytes.Equal(got.Body, ev.Body) || len(got.Deliveries) != 1 {
		t.Fatal("a refused Append changed the event")
	}
	// The same id in another source is another event.
	c.append(event("github", "evt_1", T0, "app"))
}

func testAppendInvalid(t *testing.T, c *checker) {
	for name, mod := range map[string]func(*delivery.Event){
		"no source":      func(ev *delivery.Event) { ev.Source = "" },
		"brace source":   func(ev *delivery.Event) { ev.Source = "a{b}" },
		"no id":          func(ev *delivery.Event) { ev.ID = "" },
		"no receipt":     func(ev *delivery.Event) { ev.ReceivedAt = time.Time{} },
		"twice":          func(ev *delivery.Event) { ev.Deliveries = append(ev.Deliveries, ev.Deliveries[0]) },
		"delivered":      func(ev *delivery.Event) { ev.Deliveries[0].Status = delivery.StatusDelivered },
		"leased, no tok": func(ev *delivery.Event) { ev.Deliveries[0].Status = delivery.StatusLeased },
		"no NextAt":      func(ev *delivery.Event) { ev.Deliveries[0].NextAt = time.Time{} },
		"no payload":     func(ev *delivery.Event) { ev.PayloadDropped = true },
	} {
		ev := event("stripe", "evt_"+name, T0, "app")
		mod(ev)
		err := c.s.Append(c.ctx, ev)
		if err == nil || errors.Is(err, delivery.ErrUnavailable) || errors.Is(err, delivery.ErrExists) {
			t.Errorf("Append with %s: got %v, want a validation error", name, err)
		}
	}
}

func testSeqGrows(t *testing.T, c *checker) {
	var last uint64
	for i := range 20 {
		ev := event("stripe", fmt.Sprint("evt_", i), T0, "app")
		c.append(ev)
		if ev.Seq <= last {
			t.Fatalf("event %d: Seq %d after %d", i, ev.Seq, last)
		}
		last = ev.Seq
	}
}

func testLeaseDueOnly(t *testing.T, c *checker) {
	q := delivery.Queue{Source: "stripe", Destination: "app"}
	c.append(event("stripe", "later", T0.Add(2*time.Second), "app"))
	c.append(event("stripe", "second", T0.Add(time.Second), "app"))
	first := event("stripe", "first", T0, "app")
	c.append(first)
	if got, next := c.lease(q, T0.Add(-time.Millisecond), 10, T0.Add(time.Minute), "tok0"); len(got) != 0 {
		t.Fatalf("Lease before anything is due: got %q", ids(got))
	} else {
		wantTime(t, "next before anything is due", next, T0)
	}
	tasks, next := c.lease(q, T0.Add(time.Second), 10, T0.Add(time.Minute), "tok1")
	c.wantIDs("Lease at T0+1s", ids(tasks), []string{"first", "second"})
	wantTime(t, "next", next, T0.Add(2*time.Second))
	tk := tasks[0]
	if !bytes.Equal(tk.Event.Body, first.Body) || tk.Event.Header.Get("Content-Type") != "application/json" || tk.Event.Type != "invoice.paid" || tk.Event.Seq != first.Seq {
		t.Fatal("leased task lacks the event's body, headers, type or seq")
	}
	wantTime(t, "task ReceivedAt", tk.Event.ReceivedAt, T0)
	if tk.Attempt != 1 || tk.Delivery.Status != delivery.StatusLeased || tk.Delivery.Token != "tok1" || tk.Delivery.Destination != "app" {
		t.Fatalf("task: attempt %d, delivery %+v", tk.Attempt, tk.Delivery)
	}
	wantTime(t, "task lease", tk.Delivery.NextAt, T0.Add(time.Minute))
	if got := c.leaseIDs(q, T0.Add(time.Second), 10, "tok2"); len(got) != 0 {
		t.Fatalf("Lease while leased: got %q", got)
	}
	d := c.wantStatus(c.get("stripe", "first"), "app", delivery.StatusLeased)
	wantTime(t, "leased NextAt", d.NextAt, T0.Add(time.Minute))
	if d.Token != "tok1" {
		t.Fatalf("leased token %q, want tok1", d.Token)
	}
	c.wantIDs("Lease at T0+2s", c.leaseIDs(q, T0.Add(2*time.Second), 10, "tok3"), []string{"later"})
	if _, next := c.lease(q, T0.Add(2*time.Second), 10, T0.Add(time.Minute), "tok4"); !next.Equal(T0.Add(time.Minute)) {
		t.Fatalf("next with everything leased: got %v, want the first lease expiry %v", next, T0.Add(time.Minute))
	}
	if tasks, _ := c.lease(q, T0, 0, T0.Add(time.Minute), "tok5"); len(tasks) != 0 {
		t.Fatal("Lease of 0 returned tasks")
	}
}

func testLeaseBatches(t *testing.T, c *checker) {
	q := delivery.Queue{Source: "stripe", Destination: "app"}
	for i := range 5 {
		c.append(event("stripe", fmt.Sprint("evt_", i), T0.Add(time.Duration(i)*time.Millisecond), "app"))
	}
	now := T0.Add(time.Second)
	c.wantIDs("first 2", c.leaseIDs(q, now, 2, "a"), []string{"evt_0", "evt_1"})
	c.wantIDs("next 2", c.leaseIDs(q, now, 2, "b"), []string{"evt_2", "evt_3"})
	c.wantIDs("last", c.leaseIDs(q, now, 2, "c"), []string{"evt_4"})
	c.wantIDs("none", c.leaseIDs(q, now, 2, "d"), nil)
}

func testLeaseQueuesApart(t *testing.T, c *checker) {
	c.append(event("stripe", "e1", T0, "app", "audit"))
	c.append(event("github", "e2", T0, "app"))
	c.append(event("stripeX", "e3", T0, "app"))
	c.wantIDs("stripe/app", c.leaseIDs(delivery.Queue{Source: "stripe", Destination: "app"}, T0, 10, "a"), []string{"e1"})
	c.wantIDs("stripe/audit", c.leaseIDs(delivery.Queue{Source: "stripe", Destination: "audit"}, T0, 10, "b"), []string{"e1"})
	c.wantIDs("github/app", c.leaseIDs(delivery.Queue{Source: "github", Destination: "app"}, T0, 10, "c"), []string{"e2"})
	c.wantIDs("github/audit", c.leaseIDs(delivery.Queue{Source: "github", Destination: "audit"}, T0, 10, "d"), nil)
	c.wantIDs("stripeX/app", c.leaseIDs(delivery.Queue{Source: "stripeX", Destination: "app"}, T0, 10, "e"), []string{"e3"})
	c.wantIDs("strip/eXapp", c.leaseIDs(delivery.Queue{Source: "strip", Destination: "eXapp"}, T0, 10, "f"), nil)
}

func testLeaseExpires(t *testing.T, c *checker) {
	q := delivery.Queue{Source: "stripe", Destination: "app"}
	c.append(event("stripe", "evt_1", T0, "app"))
	tasks, _ := c.lease(q, T0, 1, T0.Add(30*time.Second), "dead-worker")
	if len(tasks) != 1 {
		t.Fatal("nothing leased")
	}
	if got := c.leaseIDs(q, T0.Add(30*time.Second-time.Millisecond), 1, "w2"); len(got) != 0 {
		t.Fatalf("leased again before expiry: %q", got)
	}
	again, _ := c.lease(q, T0.Add(30*time.Second), 1, T0.Add(90*time.Second), "w2")
	if len(again) != 1 || again[0].Delivery.Token != "w2" || again[0].Attempt != 1 {
		t.Fatalf("after expiry: got %d tasks, want evt_1 with token w2, attempt 1", len(again))
	}
	// The first holder comes back too late: its failure changes nothing,
	// and the new holder's report counts.
	c.report(delivery.Report{Source: "stripe", ID: "evt_1", Destination: "app", Token: "dead-worker",
		Attempt: attempt(T0, 500, ""), Status: delivery.StatusPending, NextAt: T0.Add(time.Hour), Now: T0.Add(31 * time.Second)}, delivery.ErrLeaseLost)
	d := c.wantStatus(c.get("stripe", "evt_1"), "app", delivery.StatusLeased)
	if d.Token != "w2" || d.Tries != 0 {
		t.Fatalf("after a stale report: token %q tries %d", d.Token, d.Tries)
	}
	c.report(done(again[0], delivery.StatusDelivered, T0.Add(time.Minute)), nil)
	c.wantStatus(c.get("stripe", "evt_1"), "app", delivery.StatusDelivered)
}

func testReportRetry(t *testing.T, c *checker) {
	q := delivery.Queue{Source: "stripe", Destination: "app"}
	c.append(event("stripe", "evt_1", T0, "app"))
	tasks, _ := c.lease(q, T0, 1, T0.Add(time.Minute), "t1")
	r := done(tasks[0], delivery.StatusPending, T0.Add(time.Second))
	r.Attempt = attempt(T0, 503, "")
	r.NextAt = T0.Add(10 * time.Second)
	c.report(r, nil)
	d := c.wantStatus(c.get("stripe", "evt_1"), "app", delivery.StatusPending)
	wantTime(t, "NextAt", d.NextAt, T0.Add(10*time.Second))
	if d.Tries != 1 || d.AttemptCount != 1 || len(d.Attempts) != 1 || d.Token != "" {
		t.Fatalf("after one failure: %+v", d)
	}
	a := d.Attempts[0]
	wantTime(t, "attempt At", a.At, T0)
	if a.StatusCode != 503 || a.Latency != 1500*time.Microsecond {
		t.Fatalf("attempt: %+v", a)
	}
	if tasks, next := c.lease(q, T0.Add(10*time.Second-time.Millisecond), 1, T0.Add(time.Hour), "t2"); len(tasks) != 0 {
		t.Fatal("leased before its retry is due")
	} else {
		wantTime(t, "next", next, T0.Add(10*time.Second))
	}
	tasks, _ = c.lease(q, T0.Add(10*time.Second), 1, T0.Add(time.Hour), "t3")
	if len(tasks) != 1 || tasks[0].Attempt != 2 || tasks[0].Delivery.Tries != 1 {
		t.Fatalf("retry: got %q, want evt_1 as attempt 2 after 1 try", ids(tasks))
	}
	// A lease given back unused counts no try.
	c.report(delivery.Report{Source: "stripe", ID: "evt_1", Destination: "app", Token: "t3",
		Status: delivery.StatusPending, NextAt: T0.Add(11 * time.Second), Now: T0.Add(11 * time.Second)}, nil)
	d = c.wantStatus(c.get("stripe", "evt_1"), "app", delivery.StatusPending)
	if d.Tries != 1 || d.AttemptCount != 1 {
		t.Fatalf("after a lease given back: tries %d count %d, want 1 1", d.Tries, d.AttemptCount)
	}
}

func testReportDelivered(t *testing.T, c *checker) {
	q := delivery.Queue{Source: "stripe", Destination: "app"}
	c.append(event("stripe", "evt_1", T0, "app"))
	tasks, _ := c.lease(q, T0, 1, T0.Add(time.Minute), "t1")
	c.report(done(tasks[0], delivery.StatusDelivered, T0.Add(2*time.Second)), nil)
	ev := c.get("stripe", "evt_1")
	d := c.wantStatus(ev, "app", delivery.StatusDelivered)
	wantTime(t, "FinishedAt", d.FinishedAt, T0.Add(2*time.Second))
	if !d.NextAt.IsZero() || d.Token != "" || d.Tries != 1 {
		t.Fatalf("delivered: %+v", d)
	}
	if ev.Status() != delivery.StatusDelivered {
		t.Fatalf("event status %v", ev.Status())
	}
	if got, next := c.lease(q, T0.Add(time.Hour), 1, T0.Add(2*time.Hour), "t2"); len(got) != 0 || !next.IsZero() {
		t.Fatalf("a delivered event was leased (%d) or left a next time (%v)", len(got), next)
	}
	// A retried report (the same token, the same outcome) is harmless.
	c.report(done(tasks[0], delivery.StatusDelivered, T0.Add(3*time.Second)), delivery.ErrLeaseLost)
	if d := c.wantStatus(c.get("stripe", "evt_1"), "app", delivery.StatusDelivered); d.Tries != 1 {
		t.Fatalf("a repeated report counted again: tries %d", d.Tries)
	}
}

func testReportDead(t *testing.T, c *checker) {
	q := delivery.Queue{Source: "stripe", Destination: "app"}
	c.append(event("stripe", "evt_1", T0, "app"))
	tasks, _ := c.lease(q, T0, 1, T0.Add(time.Minute), "t1")
	r := done(tasks[0], delivery.StatusDead, T0.Add(time.Second))
	r.Attempt = attempt(T0, 410, "")
	r.Reason = "permanent failure: status 410"
	c.report(r, nil)
	ev := c.get("stripe", "evt_1")
	d := c.wantStatus(ev, "app", delivery.StatusDead)
	if d.Reason != r.Reason {
		t.Fatalf("Reason %q, want %q", d.Reason, r.Reason)
	}
	wantTime(t, "FinishedAt", d.FinishedAt, T0.Add(time.Second))
	if ev.Status() != delivery.StatusDead {
		t.Fatalf("event status %v, want dead", ev.Status())
	}
	if got := c.leaseIDs(q, T0.Add(time.Hour), 1, "t2"); len(got) != 0 {
		t.Fatal("a dead event was leased")
	}
	if st := c.stats(q)[0]; st.Dead != 1 || st.Pending != 0 {
		t.Fatalf("Stats after a death: %+v", st)
	}
}

func testReportLeaseLost(t *testing.T, c *checker) {
	q := delivery.Queue{Source: "stripe", Destination: "app"}
	c.append(event("stripe", "evt_1", T0, "app"))
	old, _ := c.lease(q, T0, 1, T0.Add(time.Second), "old")
	cur, _ := c.lease(q, T0.Add(time.Second), 1, T0.Add(time.Minute), "new")
	if len(old) != 1 || len(cur) != 1 {
		t.Fatal("lease, expiry, lease: want one task each")
	}
	// The old holder delivered after all: recorded, and reported lost.
	c.report(done(old[0], delivery.StatusDelivered, T0.Add(2*time.Second)), delivery.ErrLeaseLost)
	d := c.wantStatus(c.get("stripe", "evt_1"), "app", delivery.StatusDelivered)
	if d.AttemptCount != 1 {
		t.Fatalf("attempt count %d, want 1", d.AttemptCount)
	}
	// The new holder's failure then changes nothing.
	r := done(cur[0], delivery.StatusPending, T0.Add(3*time.Second))
	r.NextAt = T0.Add(time.Hour)
	c.report(r, delivery.ErrLeaseLost)
	c.report(done(cur[0], delivery.StatusDelivered, T0.Add(3*time.Second)), delivery.ErrLeaseLost)
	if d := c.wantStatus(c.get("stripe", "evt_1"), "app", delivery.StatusDelivered); d.AttemptCount != 1 {
		t.Fatalf("reports after delivery counted: %d attempts", d.AttemptCount)
	}
}

func testReportNotFound(t *testing.T, c *checker) {
	c.append(event("stripe", "evt_1", T0, "app"))
	r := delivery.Report{Source: "stripe", ID: "nope", Destination: "app", Token: "t", Status: delivery.StatusDelivered, Now: T0}
	c.report(r, delivery.ErrNotFound)
	r.ID, r.Destination = "evt_1", "other"
	c.report(r, delivery.ErrNotFound)
	tk := &delivery.Task{Event: &delivery.Event{Source: "stripe", ID: "nope"}, Delivery: delivery.Delivery{Destination: "app", Token: "t"}}
	if err := c.s.Extend(c.ctx, tk, T0); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("Extend of an unknown event: got %v, want ErrNotFound", err)
	}
}

func testAttemptHistoryBounded(t *testing.T, c *checker) {
	q := delivery.Queue{Source: "stripe", Destination: "app"}
	c.append(event("stripe", "evt_1", T0, "app"))
	const n = delivery.MaxAttemptHistory + 7
	now := T0
	for i := range n {
		tasks, _ := c.lease(q, now, 1, now.Add(time.Minute), fmt.Sprint("t", i))
		if len(tasks) != 1 || tasks[0].Attempt != i+1 {
			t.Fatalf("round %d: want one task with attempt %d", i, i+1)
		}
		r := done(tasks[0], delivery.StatusPending, now)
		r.Attempt = attempt(now, 500+i, fmt.Sprint("attempt ", i+1))
		r.NextAt = now.Add(time.Second)
		c.report(r, nil)
		now = now.Add(time.Second)
	}
	d := c.wantStatus(c.get("stripe", "evt_1"), "app", delivery.StatusPending)
	if d.AttemptCount != n || d.Tries != n || len(d.Attempts) != delivery.MaxAttemptHistory {
		t.Fatalf("after %d attempts: count %d tries %d history %d", n, d.AttemptCount, d.Tries, len(d.Attempts))
	}
	if last := d.Attempts[len(d.Attempts)-1]; last.Error != fmt.Sprint("attempt ", n) || last.StatusCode != 500+n-1 {
		t.Fatalf("last attempt kept: %+v", last)
	}
	if first := d.Attempts[0]; first.Error != fmt.Sprint("attempt ", n-delivery.MaxAttemptHistory+1) {
		t.Fatalf("oldest attempt kept: %+v", first)
	}
}

func testExtend(t *testing.T, c *checker) {
	q := delivery.Queue{Source: "stripe", Destination: "app"}
	c.append(event("stripe", "evt_1", T0, "app"))
	tasks, _ := c.lease(q, T0, 1, T0.Add(30*time.Second), "t1")
	if err := c.s.Extend(c.ctx, tasks[0], T0.Add(90*time.Second)); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	wantTime(t, "task NextAt after Extend", tasks[0].Delivery.NextAt, T0.Add(90*time.Second))
	if got := c.leaseIDs(q, T0.Add(60*time.Second), 1, "t2"); len(got) != 0 {
		t.Fatal("leased after the old expiry, before the extended one")
	}
	c.wantIDs("after the extended expiry", c.leaseIDs(q, T0.Add(90*time.Second), 1, "t3"), []string{"evt_1"})
	if err := c.s.Extend(c.ctx, tasks[0], T0.Add(200*time.Second)); !errors.Is(err, delivery.ErrLeaseLost) {
		t.Fatalf("Extend by a lost lease: got %v, want ErrLeaseLost", err)
	}
}

// liveEvent returns an event whose delivery to app is leased to the
// caller ("live") until T0+1m, and whose delivery to audit is due.
func liveEvent(id string) *delivery.Event {
	ev := event("stripe", id, T0, "app", "audit")
	ev.Deliveries[0].Status = delivery.StatusLeased
	ev.Deliveries[0].Token = "live"
	ev.Deliveries[0].NextAt = T0.Add(time.Minute)
	return ev
}

func testLiveFirst(t *testing.T, c *checker) {
	app := delivery.Queue{Source: "stripe", Destination: "app"}
	audit := delivery.Queue{Source: "stripe", Destination: "audit"}
	c.append(liveEvent("ok"))
	c.append(liveEvent("fails"))
	c.wantIDs("app while live", c.leaseIDs(app, T0.Add(time.Second), 10, "w"), nil)
	c.wantIDs("audit", c.leaseIDs(audit, T0, 10, "w"), []string{"ok", "fails"})
	d := c.wantStatus(c.get("stripe", "ok"), "app", delivery.StatusLeased)
	if d.Token != "live" {
		t.Fatalf("live token %q", d.Token)
	}
	// The live attempts end: reported lazily.
	live := func(id string) *delivery.Task {
		return &delivery.Task{Event: &delivery.Event{Source: "stripe", ID: id}, Delivery: delivery.Delivery{Destination: "app", Token: "live"}}
	}
	ok := done(live("ok"), delivery.StatusDelivered, T0.Add(50*time.Millisecond))
	ok.Lazy = true
	c.report(ok, nil)
	fail := done(live("fails"), delivery.StatusPending, T0.Add(3*time.Second))
	fail.Attempt = attempt(T0, 0, "connection refused")
	fail.NextAt = T0.Add(5 * time.Second)
	fail.Lazy = true
	c.report(fail, nil)
	// Lazy reports are written by the time the store closes.
	c.s = c.restart()
	d = c.wantStatus(c.get("stripe", "ok"), "app", delivery.StatusDelivered)
	if d.AttemptCount != 1 {
		t.Fatalf("live delivery: %d attempts, want 1", d.AttemptCount)
	}
	d = c.wantStatus(c.get("stripe", "fails"), "app", delivery.StatusPending)
	if d.Attempts[0].Error != "connection refused" {
		t.Fatalf("live failure recorded as %+v", d.Attempts)
	}
	c.wantIDs("app before the retry", c.leaseIDs(app, T0.Add(5*time.Second-time.Millisecond), 10, "w"), nil)
	c.wantIDs("app retry", c.leaseIDs(app, T0.Add(5*time.Second), 10, "w"), []string{"fails"})
}

// testQueueAppend checks an AppendQueuer: a live delivery reported by
// Fold (or, when the write had begun, by Report) reads back delivered; a
// failed one, reported after Wait, is retried; a recorded id is refused;
// an append nobody folds into or waits for is written within its hold.
func testQueueAppend(t *testing.T, c *checker) {
	aq := c.s.(delivery.AppendQueuer)
	app := delivery.Queue{Source: "stripe", Destination: "app"}
	ev := liveEvent("ok")
	ev.Deliveries = ev.Deliveries[:1]
	qa, err := aq.QueueAppend(c.ctx, ev, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	live := &delivery.Task{Event: &delivery.Event{Source: "stripe", ID: "ok"}, Delivery: delivery.Delivery{Destination: "app", Token: "live"}}
	ok := done(live, delivery.StatusDelivered, T0.Add(50*time.Millisecond))
	ok.Lazy = true
	if !qa.Fold(ok) {
		c.report(ok, nil)
	}
	if err := qa.Wait(c.ctx); err != nil {
		t.Fatal(err)
	}
	fev := liveEvent("fails")
	fev.Deliveries = fev.Deliveries[:1]
	qa, err = aq.QueueAppend(c.ctx, fev, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := qa.Wait(c.ctx); err != nil {
		t.Fatal(err)
	}
	live.Event.ID = "fails"
	fail := done(live, delivery.StatusPending, T0.Add(3*time.Second))
	fail.NextAt = T0.Add(5 * time.Second)
	fail.Lazy = true
	c.report(fail, nil)
	if _, err := aq.QueueAppend(c.ctx, liveEvent("ok"), time.Minute); !errors.Is(err, delivery.ErrExists) {
		t.Fatalf("QueueAppend of a recorded id: %v, want ErrExists", err)
	}
	// Neither folded nor waited for: written within its hold.
	hev := liveEvent("held")
	hev.Deliveries = hev.Deliveries[:1]
	if _, err := aq.QueueAppend(c.ctx, hev, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, err := c.s.Get(c.ctx, "stripe", "held")
		if err == nil {
			break
		}
		if !errors.Is(err, delivery.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("an append held 20ms: Get %v after 5s", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.s = c.restart()
	if d := c.wantStatus(c.get("stripe", "ok"), "app", delivery.StatusDelivered); d.AttemptCount != 1 {
		t.Fatalf("live delivery: %d attempts, want 1", d.AttemptCount)
	}
	c.wantStatus(c.get("stripe", "fails"), "app", delivery.StatusPending)
	c.wantIDs("app retry", c.leaseIDs(app, T0.Add(5*time.Second), 10, "w"), []string{"fails"})
}

func testLiveFirstCrash(t *testing.T, c *checker) {
	app := delivery.Queue{Source: "stripe", Destination: "app"}
	c.append(liveEvent("evt_1"))
	// The process dies during the live attempt.
	c.s = c.restart()
	c.wantIDs("before the lease expires", c.leaseIDs(app, T0.Add(time.Minute-time.Millisecond), 10, "w"), nil)
	tasks, _ := c.lease(app, T0.Add(time.Minute), 10, T0.Add(2*time.Minute), "w")
	if len(tasks) != 1 || tasks[0].Attempt != 1 {
		t.Fatalf("after the lease expired: %q", ids(tasks))
	}
}

func testRestartResumes(t *testing.T, c *checker) {
	q := delivery.Queue{Source: "stripe", Destination: "app"}
	for i := range 3 {
		c.append(event("stripe", fmt.Sprint("evt_", i), T0.Add(time.Duration(i)*time.Millisecond), "app"))
	}
	tasks, _ := c.lease(q, T0.Add(time.Second), 1, T0.Add(time.Minute), "t1")
	c.report(done(tasks[0], delivery.StatusDelivered, T0.Add(time.Second)), nil)
	c.s = c.restart()
	c.wantStatus(c.get("stripe", "evt_0"), "app", delivery.StatusDelivered)
	c.wantIDs("after restart", c.leaseIDs(q, T0.Add(time.Second), 10, "t2"), []string{"evt_1", "evt_2"})
	next := event("stripe", "evt_3", T0, "app")
	c.append(next)
	if next.Seq <= tasks[0].Event.Seq {
		t.Fatalf("Seq after restart: %d, not above %d", next.Seq, tasks[0].Event.Seq)
	}
}

func testMultiDestination(t *testing.T, c *checker) {
	a := delivery.Queue{Source: "stripe", Destination: "a"}
	b := delivery.Queue{Source: "stripe", Destination: "b"}
	c.append(event("stripe", "evt_1", T0, "a", "b"))
	ta, _ := c.lease(a, T0, 1, T0.Add(time.Minute), "ta")
	tb, _ := c.lease(b, T0, 1, T0.Add(time.Minute), "tb")
	c.report(done(ta[0], delivery.StatusDelivered, T0.Add(time.Second)), nil)
	ev := c.get("stripe", "evt_1")
	if ev.Status() != delivery.StatusPending {
		t.Fatalf("one of two delivered: event status %v, want pending", ev.Status())
	}
	c.wantStatus(ev, "b", delivery.StatusLeased)
	r := done(tb[0], delivery.StatusDead, T0.Add(2*time.Second))
	r.Reason = "gone"
	c.report(r, nil)
	ev = c.get("stripe", "evt_1")
	if ev.Status() != delivery.StatusDead {
		t.Fatalf("one delivered, one dead: event status %v, want dead", ev.Status())
	}
	wantTime(t, "event FinishedAt", ev.FinishedAt(), T0.Add(2*time.Second))
	c.wantIDs("dead events", eventIDs(c.list(delivery.Filter{Status: delivery.StatusDead})), []string{"evt_1"})
	st := c.stats(a, b)
	if st[0].Pending != 0 || st[0].Dead != 0 || st[1].Dead != 1 {
		t.Fatalf("Stats: %+v", st)
	}
}

func testNoDeliveries(t *testing.T, c *checker) {
	c.append(event("stripe", "evt_1", T0))
	ev := c.get("stripe", "evt_1")
	if ev.Status() != delivery.StatusDelivered || len(ev.Deliveries) != 0 {
		t.Fatalf("event with no deliveries: status %v, %d deliveries", ev.Status(), len(ev.Deliveries))
	}
	n, err := c.s.Purge(c.ctx, delivery.Filter{Status: delivery.StatusDelivered, FinishedBefore: T0.Add(time.Millisecond)})
	if err != nil || n != 1 {
		t.Fatalf("retention of an event with no deliveries: %d, %v", n, err)
	}
}

// seed appends, for the list tests, events over three sources with
// growing receipt times, and settles some: returns their ids by source.
func (c *checker) seed() {
	c.t.Helper()
	at := T0
	for i := range 12 {
		src := []string{"stripe", "github", "slack"}[i%3]
		ev := event(src, fmt.Sprint("evt_", i), at, "app")
		if i%2 == 1 {
			ev.Type = "push"
		}
		c.append(ev)
		at = at.Add(time.Second)
	}
	// evt_0 (stripe) delivered, evt_3 (stripe) dead, evt_1 (github)
	// delivering, the rest pending. Each is due when received: leasing
	// one at its receipt time takes it.
	for _, x := range []struct {
		id, src string
		sec     int
		st      delivery.Status
	}{{"evt_0", "stripe", 0, delivery.StatusDelivered}, {"evt_3", "stripe", 3, delivery.StatusDead}, {"evt_1", "github", 1, delivery.StatusLeased}} {
		at := T0.Add(time.Duration(x.sec) * time.Second)
		tasks, _ := c.lease(delivery.Queue{Source: x.src, Destination: "app"}, at, 1, T0.Add(100*time.Hour), "seed")
		if len(tasks) != 1 || tasks[0].Event.ID != x.id {
			c.t.Fatalf("seed: leased %q at T0+%ds, want %s", ids(tasks), x.sec, x.id)
		}
		if x.st != delivery.StatusLeased {
			c.report(done(tasks[0], x.st, at), nil)
		}
	}
}

func testList(t *testing.T, c *checker) {
	c.seed()
	all := c.list(delivery.Filter{})
	c.wantIDs("all, newest first", eventIDs(all), []string{"evt_11", "evt_10", "evt_9", "evt_8", "evt_7", "evt_6", "evt_5", "evt_4", "evt_3", "evt_2", "evt_1", "evt_0"})
	for _, ev := range all {
		if len(ev.Body) != 0 {
			t.Fatalf("List returned the body of %s", ev.ID)
		}
		if len(ev.Deliveries) != 1 || ev.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("List: %s lacks its delivery or headers", ev.ID)
		}
	}
	for _, tt := range []struct {
		name string
		f    delivery.Filter
		want []string
	}{
		{"source", delivery.Filter{Source: "stripe"}, []string{"evt_9", "evt_6", "evt_3", "evt_0"}},
		{"source, limit", delivery.Filter{Source: "stripe", Limit: 2}, []string{"evt_9", "evt_6"}},
		{"type", delivery.Filter{Type: "push", Source: "github"}, []string{"evt_7", "evt_1"}},
		{"delivered", delivery.Filter{Status: delivery.StatusDelivered}, []string{"evt_0"}},
		{"dead", delivery.Filter{Status: delivery.StatusDead}, []string{"evt_3"}},
		{"delivering", delivery.Filter{Status: delivery.StatusLeased}, []string{"evt_1"}},
		{"pending, source", delivery.Filter{Status: delivery.StatusPending, Source: "github"}, []string{"evt_10", "evt_7", "evt_4", "evt_1"}},
		{"pending, type, source", delivery.Filter{Status: delivery.StatusPending, Source: "stripe", Type: "invoice.paid"}, []string{"evt_6"}},
		{"received range", delivery.Filter{Source: "slack", ReceivedAfter: T0.Add(5 * time.Second), ReceivedBefore: T0.Add(11 * time.Second)}, []string{"evt_8", "evt_5"}},
		{"unknown source", delivery.Filter{Source: "nope"}, nil},
		{"limit", delivery.Filter{Limit: 3}, []string{"evt_11", "evt_10", "evt_9"}},
	} {
		c.wantIDs("List "+tt.name, eventIDs(c.list(tt.f)), tt.want)
	}
	// Pages of a source, by Before.
	var pages []string
	f := delivery.Filter{Source: "github", Limit: 3}
	for {
		evs := c.list(f)
		pages = append(pages, eventIDs(evs)...)
		if len(evs) < f.Limit {
			break
		}
		f.Before = evs[len(evs)-1].Seq
	}
	c.wantIDs("github in pages", pages, []string{"evt_10", "evt_7", "evt_4", "evt_1"})
}

func testListFeed(t *testing.T, c *checker) {
	c.seed()
	stripe := c.list(delivery.Filter{Source: "stripe"})
	// Resume after evt_3: the later events, oldest first.
	from := stripe[2].Seq // evt_3
	c.wantIDs("after evt_3", eventIDs(c.list(delivery.Filter{Source: "stripe", After: from})), []string{"evt_6", "evt_9"})
	c.wantIDs("after evt_3, limit 1", eventIDs(c.list(delivery.Filter{Source: "stripe", After: from, Limit: 1})), []string{"evt_6"})
	c.wantIDs("after the last", eventIDs(c.list(delivery.Filter{Source: "stripe", After: stripe[0].Seq})), nil)
	c.append(event("stripe", "evt_new", T0.Add(time.Hour), "app"))
	c.wantIDs("after the last, then one more", eventIDs(c.list(delivery.Filter{Source: "stripe", After: stripe[0].Seq})), []string{"evt_new"})
}

func testReplay(t *testing.T, c *checker) {
	q := delivery.Queue{Source: "stripe", Destination: "app"}
	c.append(event("stripe", "ok", T0, "app", "audit"))
	c.append(event("stripe", "dead", T0, "app"))
	for range 2 {
		tasks, _ := c.lease(q, T0, 1, T0.Add(time.Minute), "t")
		st := delivery.StatusDelivered
		if tasks[0].Event.ID == "dead" {
			st = delivery.StatusDead
		}
		c.report(done(tasks[0], st, T0.Add(time.Second)), nil)
	}
	if st := c.stats(q)[0]; st.Dead != 1 {
		t.Fatalf("Stats before replay: %+v", st)
	}
	now := T0.Add(time.Hour)
	for _, id := range []string{"ok", "dead"} {
		if err := c.s.Replay(c.ctx, "stripe", id, "app", now); err != nil {
			t.Fatalf("Replay(%s): %v", id, err)
		}
		d := c.wantStatus(c.get("stripe", id), "app", delivery.StatusPending)
		wantTime(t, "replayed NextAt", d.NextAt, now)
		wantTime(t, "replayed Since", d.Since, now)
		if d.Tries != 0 || d.AttemptCount != 1 || len(d.Attempts) != 1 || !d.FinishedAt.IsZero() || d.Reason != "" {
			t.Fatalf("replayed %s: %+v", id, d)
		}
	}
	if st := c.stats(q)[0]; st.Dead != 0 || st.Pending != 2 {
		t.Fatalf("Stats after replay: %+v", st)
	}
	c.wantStatus(c.get("stripe", "ok"), "audit", delivery.StatusPending) // untouched
	tasks, _ := c.lease(q, now, 10, now.Add(time.Minute), "r")
	if len(tasks) != 2 || tasks[0].Attempt != 2 {
		t.Fatalf("replayed deliveries leased: %q", ids(tasks))
	}
	// Replaying a delivering delivery takes its lease away.
	if err := c.s.Replay(c.ctx, "stripe", "ok", "", now.Add(time.Second)); err != nil {
		t.Fatalf("Replay of every delivery: %v", err)
	}
	ev := c.get("stripe", "ok")
	c.wantStatus(ev, "app", delivery.StatusPending)
	c.wantStatus(ev, "audit", delivery.StatusPending)
	var okTask *delivery.Task
	for _, tk := range tasks {
		if tk.Event.ID == "ok" {
			okTask = tk
		}
	}
	r := done(okTask, delivery.StatusPending, now)
	r.NextAt = now.Add(time.Hour)
	c.report(r, delivery.ErrLeaseLost)
	for _, x := range [][2]string{{"nope", ""}, {"ok", "nope"}} {
		if err := c.s.Replay(c.ctx, "stripe", x[0], x[1], now); !errors.Is(err, delivery.ErrNotFound) {
			t.Fatalf("Replay(%q, %q): got %v, want ErrNotFound", x[0], x[1], err)
		}
	}
}

func testPurge(t *testing.T, c *checker) {
	c.seed()
	n, err := c.s.Purge(c.ctx, delivery.Filter{Source: "github"})
	if err != nil || n != 4 {
		t.Fatalf("Purge github: %d, %v; want 4", n, err)
	}
	if _, err := c.s.Get(c.ctx, "github", "evt_1"); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("Get after Purge: %v", err)
	}
	gh := delivery.Queue{Source: "github", Destination: "app"}
	c.wantIDs("github leased after purge", c.leaseIDs(gh, T0.Add(time.Hour*2), 10, "p"), nil)
	if st := c.stats(gh)[0]; st.Pending != 0 || !st.OldestSince.IsZero() {
		t.Fatalf("github stats after purge: %+v", st)
	}
	// A purged delivering event: its holder's report finds nothing.
	c.report(delivery.Report{Source: "github", ID: "evt_1", Destination: "app", Token: "seed", Status: delivery.StatusDelivered, Now: T0}, delivery.ErrNotFound)
	if n, err := c.s.Purge(c.ctx, delivery.Filter{Status: delivery.StatusDead}); err != nil || n != 1 {
		t.Fatalf("Purge dead: %d, %v; want 1", n, err)
	}
	stripe := delivery.Queue{Source: "stripe", Destination: "app"}
	if st := c.stats(stripe)[0]; st.Dead != 0 {
		t.Fatalf("stripe dead after purge: %+v", st)
	}
	if n, err := c.s.Purge(c.ctx, delivery.Filter{Limit: 2}); err != nil || n != 2 {
		t.Fatalf("Purge with limit 2: %d, %v", n, err)
	}
	left := len(c.list(delivery.Filter{}))
	if n, err := c.s.Purge(c.ctx, delivery.Filter{}); err != nil || n != left {
		t.Fatalf("Purge all: %d, %v; want %d", n, err, left)
	}
	c.wantIDs("after purging all", eventIDs(c.list(delivery.Filter{})), nil)
	c.wantIDs("stripe leased after purging all", c.leaseIDs(stripe, T0.Add(time.Hour*2), 10, "p"), nil)
	// Purged ids can be recorded again.
	c.append(event("stripe", "evt_0", T0, "app"))
}

// testPurgeOne purges single events by source and id: whatever their
// status, only them, and once.
func testPurgeOne(t *testing.T, c *checker) {
	c.seed()
	for _, x := range []struct{ src, id string }{
		{"github", "evt_1"}, // delivering
		{"stripe", "evt_3"}, // dead
		{"stripe", "evt_0"}, // delivered
		{"slack", "evt_2"},  // pending
	} {
		f := delivery.Filter{Source: x.src, ID: x.id}
		c.wantIDs("List of "+x.id, eventIDs(c.list(f)), []string{x.id})
		if n, err := c.s.Purge(c.ctx, f); err != nil || n != 1 {
			t.Fatalf("Purge(%s/%s): %d, %v; want 1", x.src, x.id, n, err)
		}
		if _, err := c.s.Get(c.ctx, x.src, x.id); !errors.Is(err, delivery.ErrNotFound) {
			t.Fatalf("Get after Purge(%s/%s): %v, want ErrNotFound", x.src, x.id, err)
		}
		if n, err := c.s.Purge(c.ctx, f); err != nil || n != 0 {
			t.Fatalf("Purge(%s/%s) again: %d, %v; want 0", x.src, x.id, n, err)
		}
		c.wantIDs("List of "+x.id+" after Purge", eventIDs(c.list(f)), nil)
	}
	// The same id in another source, and an unknown id: nothing.
	for _, f := range []delivery.Filter{{Source: "stripe", ID: "evt_1"}, {Source: "stripe", ID: "nope"}, {Source: "nope", ID: "evt_6"}} {
		if n, err := c.s.Purge(c.ctx, f); err != nil || n != 0 {
			t.Fatalf("Purge(%s/%s): %d, %v; want 0", f.Source, f.ID, n, err)
		}
	}
	// An id and a filter that does not match it: nothing.
	if n, err := c.s.Purge(c.ctx, delivery.Filter{Source: "stripe", ID: "evt_6", Type: "push"}); err != nil || n != 0 {
		t.Fatalf("Purge of evt_6 (invoice.paid) as push: %d, %v; want 0", n, err)
	}
	c.wantIDs("the others", eventIDs(c.list(delivery.Filter{})), []string{"evt_11", "evt_10", "evt_9", "evt_8", "evt_7", "evt_6", "evt_5", "evt_4"})
	// The purged delivering event: no lease, no count, its holder's
	// report finds nothing.
	gh := delivery.Queue{Source: "github", Destination: "app"}
	c.report(delivery.Report{Source: "github", ID: "evt_1", Destination: "app", Token: "seed", Status: delivery.StatusDelivered, Now: T0}, delivery.ErrNotFound)
	c.wantIDs("github leased after purge", c.leaseIDs(gh, T0.Add(100*time.Hour), 10, "p"), []string{"evt_4", "evt_7", "evt_10"})
	if st := c.stats(delivery.Queue{Source: "stripe", Destination: "app"})[0]; st.Dead != 0 || st.Pending != 2 {
		t.Fatalf("stripe stats after purging its dead and delivered events: %+v", st)
	}
}

// wantPayload fails unless got has ev's headers and body.
func (c *checker) wantPayload(got, ev *delivery.Event) {
	c.t.Helper()
	if got.PayloadDropped || !bytes.Equal(got.Body, ev.Body) || got.Header.Get("Content-Type") != "application/json" || len(got.Header["X-Multi"]) != 2 {
		c.t.Fatalf("%s: payload dropped %v, body %d bytes, headers %v; want its payload kept", got.ID, got.PayloadDropped, len(got.Body), got.Header)
	}
}

// testDropPayload: a report with DropPayload drops the event's headers
// and body when it leaves every delivery delivered, not before and not
// when one died; the event keeps its metadata, lists as dropped, cannot
// be replayed, and is trimmed as any other.
func testDropPayload(t *testing.T, c *checker) {
	a := delivery.Queue{Source: "stripe", Destination: "a"}
	b := delivery.Queue{Source: "stripe", Destination: "b"}
	ev := event("stripe", "evt_1", T0, "a", "b")
	keep := event("stripe", "keep", T0, "a")
	c.append(ev)
	c.append(keep)
	tasks, _ := c.lease(a, T0, 2, T0.Add(time.Minute), "ta")
	if len(tasks) != 2 || tasks[0].Event.ID != "evt_1" {
		t.Fatalf("leased %q, want evt_1 and keep", ids(tasks))
	}

	// Delivered to a, not yet to b: kept.
	r := done(tasks[0], delivery.StatusDelivered, T0.Add(time.Second))
	r.DropPayload = true
	c.report(r, nil)
	c.wantPayload(c.get("stripe", "evt_1"), ev)
	// Delivered without DropPayload: kept.
	c.report(done(tasks[1], delivery.StatusDelivered, T0.Add(time.Second)), nil)
	c.wantPayload(c.get("stripe", "keep"), keep)

	// Dead at b: kept, for a replay.
	tb, _ := c.lease(b, T0, 1, T0.Add(time.Minute), "tb")
	r = done(tb[0], delivery.StatusDead, T0.Add(2*time.Second))
	r.Reason, r.DropPayload = "gone", true
	c.report(r, nil)
	c.wantPayload(c.get("stripe", "evt_1"), ev)

	// Replayed and delivered at b: every delivery delivered, dropped.
	now := T0.Add(time.Hour)
	if err := c.s.Replay(c.ctx, "stripe", "evt_1", "b", now); err != nil {
		t.Fatalf("Replay of the dead delivery: %v", err)
	}
	tb, _ = c.lease(b, now, 1, now.Add(time.Minute), "tb2")
	if len(tb) != 1 || !bytes.Equal(tb[0].Event.Body, ev.Body) {
		t.Fatal("the replayed delivery was not leased with its body")
	}
	r = done(tb[0], delivery.StatusDelivered, now.Add(time.Second))
	r.DropPayload = true
	c.report(r, nil)
	check := func(when string) {
		t.Helper()
		got := c.get("stripe", "evt_1")
		if !got.PayloadDropped || got.Body != nil || got.Header != nil {
			t.Fatalf("%s: payload dropped %v, body %d bytes, headers %v; want dropped", when, got.PayloadDropped, len(got.Body), got.Header)
		}
		if got.Type != ev.Type || got.Seq != ev.Seq || got.Status() != delivery.StatusDelivered {
			t.Fatalf("%s: type %q seq %d status %v; want the metadata kept", when, got.Type, got.Seq, got.Status())
		}
		wantTime(t, when+": ReceivedAt", got.ReceivedAt, T0)
		if d := c.wantStatus(got, "b", delivery.StatusDelivered); d.AttemptCount != 2 || len(d.Attempts) != 2 {
			t.Fatalf("%s: delivery to b: %+v; want its 2 attempts kept", when, d)
		}
		var listed []bool
		for _, e := range c.list(delivery.Filter{Source: "stripe"}) {
			listed = append(listed, e.PayloadDropped)
		}
		if !slices.Equal(listed, []bool{false, true}) {
			t.Fatalf("%s: List's PayloadDropped (keep, evt_1) = %v, want [false true]", when, listed)
		}
	}
	check("after the last delivery")

	// Nothing left to replay: refused, nothing changed.
	for _, dest := range []string{"", "a"} {
		err := c.s.Replay(c.ctx, "stripe", "evt_1", dest, now)
		if !errors.Is(err, delivery.ErrPayloadDropped) || errors.Is(err, delivery.ErrUnavailable) {
			t.Fatalf("Replay(%q) of a dropped event: got %v, want ErrPayloadDropped", dest, err)
		}
	}
	if err := c.s.Replay(c.ctx, "stripe", "evt_1", "nope", now); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("Replay to an unknown destination of a dropped event: got %v, want ErrNotFound", err)
	}
	c.wantIDs("leased after a refused replay", c.leaseIDs(a, now.Add(time.Minute), 10, "x"), nil)
	if st := c.stats(a, b); st[0].Pending != 0 || st[1].Pending != 0 || st[1].Dead != 0 {
		t.Fatalf("Stats after a refused replay: %+v", st)
	}
	c.s = c.restart()
	check("after a restart")

	// Trimmed as any other; the id can be recorded again, payload and all.
	n, err := c.s.Purge(c.ctx, delivery.Filter{Status: delivery.StatusDelivered, FinishedBefore: now.Add(time.Hour)})
	if err != nil || n != 2 {
		t.Fatalf("retention: %d, %v; want 2", n, err)
	}
	again := event("stripe", "evt_1", now, "a")
	c.append(again)
	c.wantPayload(c.get("stripe", "evt_1"), again)
}

func testRetention(t *testing.T, c *checker) {
	q := delivery.Queue{Source: "stripe", Destination: "app"}
	for i := range 6 {
		c.append(event("stripe", fmt.Sprint("evt_", i), T0, "app"))
	}
	c.append(event("stripe", "pending", T0.Add(time.Hour), "app"))
	// evt_0..2 delivered at T0+0..2s, evt_3..5 dead at T0+3..5s.
	for i := range 6 {
		tasks, _ := c.lease(q, T0, 1, T0.Add(time.Minute), "r")
		st := delivery.StatusDelivered
		if i >= 3 {
			st = delivery.StatusDead
		}
		c.report(done(tasks[0], st, T0.Add(time.Duration(i)*time.Second)), nil)
	}
	for _, tt := range []struct {
		st     delivery.Status
		before time.Duration
		limit  int
		want   int
	}{
		{delivery.StatusDelivered, time.Second, 0, 1},                 // evt_0
		{delivery.StatusDead, 4 * time.Second, 0, 1},                  // evt_3
		{delivery.StatusDelivered, time.Hour, 1, 1},                   // evt_1 (limit)
		{delivery.StatusDelivered, time.Hour, 0, 1},                   // evt_2
		{delivery.StatusDead, 5*time.Second + time.Millisecond, 0, 2}, // evt_4, evt_5
		{delivery.StatusDelivered, 100 * time.Hour, 0, 0},             // the pending one stays
		{delivery.StatusDead, 100 * time.Hour, 0, 0},
	} {
		n, err := c.s.Purge(c.ctx, delivery.Filter{Status: tt.st, FinishedBefore: T0.Add(tt.before), Limit: tt.limit})
		if err != nil || n != tt.want {
			t.Fatalf("Purge %v finished before T0+%v: %d, %v; want %d", tt.st, tt.before, n, err, tt.want)
		}
	}
	c.wantIDs("left", eventIDs(c.list(delivery.Filter{})), []string{"pending"})
	if st := c.stats(q)[0]; st.Pending != 1 || st.Dead != 0 {
		t.Fatalf("Stats after retention: %+v", st)
	}
}

func testStats(t *testing.T, c *checker) {
	q := delivery.Queue{Source: "stripe", Destination: "app"}
	other := delivery.Queue{Source: "stripe", Destination: "other"}
	if st := c.stats(q, other); st[0] != (delivery.QueueStats{Queue: q}) || st[1] != (delivery.QueueStats{Queue: other}) {
		t.Fatalf("Stats of empty queues: %+v", st)
	}
	c.append(event("stripe", "old", T0, "app"))
	c.append(event("stripe", "new", T0.Add(time.Minute), "app"))
	st := c.stats(q)[0]
	if st.Queue != q || st.Pending != 2 || st.Dead != 0 {
		t.Fatalf("Stats: %+v", st)
	}
	wantTime(t, "OldestSince", st.OldestSince, T0)
	tasks, _ := c.lease(q, T0, 1, T0.Add(time.Minute), "s")
	if st := c.stats(q)[0]; st.Pending != 2 || !st.OldestSince.Equal(T0) {
		t.Fatalf("Stats with one delivering: %+v", st)
	}
	c.report(done(tasks[0], delivery.StatusDelivered, T0.Add(time.Second)), nil)
	st = c.stats(q)[0]
	if st.Pending != 1 {
		t.Fatalf("Stats after a delivery: %+v", st)
	}
	wantTime(t, "OldestSince after a delivery", st.OldestSince, T0.Add(time.Minute))
	tasks, _ = c.lease(q, T0.Add(time.Minute), 1, T0.Add(2*time.Minute), "s")
	c.report(done(tasks[0], delivery.StatusDead, T0.Add(time.Minute)), nil)
	if st := c.stats(q)[0]; st.Pending != 0 || st.Dead != 1 || !st.OldestSince.IsZero() {
		t.Fatalf("Stats after a death: %+v", st)
	}
	// A replay counts from the replay.
	if err := c.s.Replay(c.ctx, "stripe", "old", "", T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	st = c.stats(q)[0]
	wantTime(t, "OldestSince after a replay", st.OldestSince, T0.Add(time.Hour))
}

// testConcurrentLease lets h.Workers goroutines lease and settle
// h.Events due deliveries at once, at one instant: each is leased once.
func testConcurrentLease(t *testing.T, c *checker) {
	q := delivery.Queue{Source: "stripe", Destination: "app"}
	var wg sync.WaitGroup
	for w := range c.h.Workers {
		wg.Go(func() {
			for i := w; i < c.h.Events; i += c.h.Workers {
				if err := c.s.Append(c.ctx, event("stripe", fmt.Sprint("evt_", i), T0, "app")); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var mu sync.Mutex
	seen := make(map[string]int)
	now := T0.Add(time.Second)
	for w := range c.h.Workers {
		wg.Go(func() {
			for {
				tasks, _, err := c.s.Lease(c.ctx, q, now, 3, now.Add(time.Hour), fmt.Sprint("w", w))
				if err != nil {
					t.Errorf("Lease: %v", err)
					return
				}
				if len(tasks) == 0 {
					return
				}
				mu.Lock()
				for _, tk := range tasks {
					seen[tk.Event.ID]++
				}
				mu.Unlock()
				for _, tk := range tasks {
					r := done(tk, delivery.StatusDelivered, now)
					r.Lazy = w%2 == 0
					if err := c.s.Report(c.ctx, r); err != nil {
						t.Errorf("Report: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != c.h.Events {
		t.Fatalf("%d of %d events leased", len(seen), c.h.Events)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s leased %d times while its lease held", id, n)
		}
	}
	c.s = c.restart()
	if st := c.stats(q)[0]; st.Pending != 0 {
		t.Fatalf("%d still pending after every report", st.Pending)
	}
}

// counter records what engines delivered.
type counter struct {
	mu   sync.Mutex
	seen map[string]int
	n    atomic.Int64
}

func (k *counter) attempt(ctx context.Context, t *delivery.Task) delivery.Result {
	k.mu.Lock()
	k.seen[t.Event.ID]++
	k.mu.Unlock()
	k.n.Add(1)
	return delivery.Result{Delivered: true, StatusCode: 200}
}

func (c *checker) engine(store delivery.Store, fn delivery.AttemptFunc) *delivery.Engine {
	c.t.Helper()
	e, err := delivery.New(delivery.Config{
		Store:        store,
		Attempt:      fn,
		Destinations: []delivery.Destination{{Source: "stripe", Name: "app", Concurrency: 8}},
		PollInterval: 20 * time.Millisecond,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return e
}

// runEngine runs e until the returned stop is called.
func runEngine(e *delivery.Engine) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// waitFor polls cond until it holds or 20 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testEnginesDeliverOnce runs two engines on the store while events are
// enqueued: every event reaches the destination exactly once.
func testEnginesDeliverOnce(t *testing.T, c *checker) {
	k := &counter{seen: make(map[string]int)}
	e1, e2 := c.engine(c.s, k.attempt), c.engine(c.s, k.attempt)
	stop1, stop2 := runEngine(e1), runEngine(e2)
	n := c.h.Events
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				e := e1
				if i%2 == 1 {
					e = e2
				}
				if err := e.Enqueue(c.ctx, &delivery.Event{Source: "stripe", ID: fmt.Sprint("evt_", i), Body: []byte("{}")}); err != nil {
					t.Errorf("Enqueue: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, "every event delivered", func() bool { return k.n.Load() >= int64(n) })
	stop1()
	stop2()
	if len(k.seen) != n {
		t.Fatalf("%d of %d events delivered", len(k.seen), n)
	}
	for id, times := range k.seen {
		if times != 1 {
			t.Fatalf("%s delivered %d times", id, times)
		}
	}
	c.s = c.restart()
	if got := c.list(delivery.Filter{Status: delivery.StatusPending}); len(got) != 0 {
		t.Fatalf("%d events still pending", len(got))
	}
}

// testEngineRestart stops an engine with a backlog, restarts the store,
// and lets a new engine finish: nothing lost.
func testEngineRestart(t *testing.T, c *checker) {
	release := make(chan struct{})
	k := &counter{seen: make(map[string]int)}
	slow := func(ctx context.Context, tk *delivery.Task) delivery.Result {
		select {
		case <-release:
			return k.attempt(ctx, tk)
		case <-ctx.Done():
			return delivery.Result{Err: ctx.Err()}
		}
	}
	e := c.engine(c.s, slow)
	const n = 50
	for i := range n {
		if err := e.Enqueue(c.ctx, &delivery.Event{Source: "stripe", ID: fmt.Sprint("evt_", i)}); err != nil {
			t.Fatal(err)
		}
	}
	stop := runEngine(e)
	waitFor(t, "attempts under way", func() bool {
		evs, _ := c.s.List(c.ctx, delivery.Filter{Status: delivery.StatusLeased})
		return len(evs) > 0
	})
	// Stop: the attempts under way are cancelled after DrainTimeout
	// (10s by default; the blocked attempt honours ctx), and give their
	// leases back.
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	close(release) // let the attempts under way finish instead
	<-stopped
	c.s = c.restart()
	e = c.engine(c.s, k.attempt)
	stop = runEngine(e)
	waitFor(t, "the backlog delivered after restart", func() bool {
		evs, err := c.s.List(c.ctx, delivery.Filter{Status: delivery.StatusDelivered, Limit: n + 1})
		return err == nil && len(evs) == n
	})
	stop()
	if len(k.seen) != n {
		t.Fatalf("%d of %d delivered", len(k.seen), n)
	}
}

// testEngineDeadAfterMaxAttempts runs an Engine whose destination always
// fails: after MaxAttempts tries the delivery is dead, kept, counted, and
// a replay delivers it.
func testEngineDeadAfterMaxAttempts(t *testing.T, c *checker) {
	var fail atomic.Bool
	fail.Store(true)
	e, err := delivery.New(delivery.Config{
		Store: c.s,
		Destinations: []delivery.Destination{{Source: "stripe", Name: "app", MaxAttempts: 3,
			Backoff: delivery.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}}},
		PollInterval: 20 * time.Millisecond,
		Attempt: func(context.Context, *delivery.Task) delivery.Result {
			if fail.Load() {
				return delivery.Result{StatusCode: 503}
			}
			return delivery.Result{Delivered: true, StatusCode: 200}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := runEngine(e)
	defer stop()
	if err := e.Enqueue(c.ctx, &delivery.Event{Source: "stripe", ID: "evt_1"}); err != nil {
		t.Fatal(err)
	}
	q := delivery.Queue{Source: "stripe", Destination: "app"}
	waitFor(t, "the delivery dead", func() bool {
		st, err := c.s.Stats(c.ctx, []delivery.Queue{q})
		return err == nil && st[0].Dead == 1
	})
	d := c.wantStatus(c.get("stripe", "evt_1"), "app", delivery.StatusDead)
	if d.Tries != 3 || len(d.Attempts) != 3 || d.Reason != "3 attempts failed, the last: status 503" {
		t.Fatalf("dead delivery: tries %d, %d attempts, reason %q", d.Tries, len(d.Attempts), d.Reason)
	}
	fail.Store(false)
	if err := e.Replay(c.ctx, "stripe", "evt_1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replay delivered", func() bool {
		ev, err := c.s.Get(c.ctx, "stripe", "evt_1")
		return err == nil && ev.Status() == delivery.StatusDelivered
	})
	if d := c.get("stripe", "evt_1").Delivery("app"); d.AttemptCount != 4 || d.Tries != 1 {
		t.Fatalf("after the replay: %d attempts in all, %d since the replay; want 4 and 1", d.AttemptCount, d.Tries)
	}
}
