package caddymodule

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/sdk/receive"
)

// fixedNow returns a clock standing at t.
func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func drain(s *subscriber) []*streamEvent {
	var out []*streamEvent
	for {
		select {
		case ev, ok := <-s.ch:
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

func ids(evs []*streamEvent) string {
	var b []string
	for _, ev := range evs {
		b = append(b, ev.EventID)
	}
	return strings.Join(b, " ")
}

// eventView is the comparable part of a streamEvent.
type eventView struct {
	Kind, Source, EventID, Type, Key, Reason string
	Status                                   int
	Recorded, Shadow                         bool
}

func viewOf(ev *streamEvent) eventView {
	return eventView{ev.Kind, ev.Source, ev.EventID, ev.Type, ev.Key, ev.Reason, ev.Status, ev.Recorded, ev.Shadow}
}

// TestFeedDecisions: each decision becomes one stream event of its kind,
// with the fields the stream promises, and nothing else.
func TestFeedDecisions(t *testing.T) {
	for _, c := range []struct {
		name     string
		d        receive.Decision
		recorded bool
		want     eventView
	}{
		{"verified and recorded", receive.Decision{Source: "s", Outcome: receive.OutcomeForwarded, EventID: "e", EventType: "x", Key: "k", UpstreamStatus: 202}, true,
			eventView{Kind: kindVerified, Source: "s", EventID: "e", Type: "x", Key: "k", Status: 202, Recorded: true}},
		{"verified, store refused", receive.Decision{Source: "s", Outcome: receive.OutcomeForwarded, EventID: "e", UpstreamStatus: 503}, true,
			eventView{Kind: kindVerified, Source: "s", EventID: "e", Status: 503}},
		{"verified, no deliver block", receive.Decision{Source: "s", Outcome: receive.OutcomeForwarded, EventID: "e", UpstreamStatus: 200}, false,
			eventView{Kind: kindVerified, Source: "s", EventID: "e", Status: 200}},
		{"upstream failed before writing", receive.Decision{Source: "s", Outcome: receive.OutcomeForwarded, EventID: "e", UpstreamStatus: -1}, false,
			eventView{Kind: kindVerified, Source: "s", EventID: "e"}},
		{"rejected", receive.Decision{Source: "s", Outcome: receive.OutcomeRejected, Reason: sdk.ReasonSignatureMismatch, Status: 401}, false,
			eventView{Kind: kindRejected, Source: "s", Reason: "signature_mismatch", Status: 401}},
		{"shadow", receive.Decision{Source: "s", Outcome: receive.OutcomeShadowForwarded, Reason: sdk.ReasonSignatureMismatch, Status: 401, Shadow: true}, false,
			eventView{Kind: kindRejected, Source: "s", Reason: "signature_mismatch", Status: 401, Shadow: true}},
		{"duplicate", receive.Decision{Source: "s", Outcome: receive.OutcomeDuplicate, EventID: "e", Status: 200}, true,
			eventView{Kind: kindDuplicate, Source: "s", EventID: "e", Status: 200}},
		{"handshake", receive.Decision{Source: "s", Outcome: receive.OutcomeHandshake, Status: 200}, false,
			eventView{Kind: kindHandshake, Source: "s", Status: 200}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFeed(8, 8, fixedNow(t0))
			s, _, _, _ := f.subscribe("", "")
			f.decision(&c.d, c.recorded)
			got := drain(s)
			if len(got) != 1 {
				t.Fatalf("%d events, want 1", len(got))
			}
			if ev := viewOf(got[0]); ev != c.want || !got[0].At.Equal(t0) || got[0].seq != 1 {
				t.Fatalf("got %+v at %v #%d\nwant %+v", ev, got[0].At, got[0].seq, c.want)
			}
		})
	}
}

// TestFeedNotices: failed attempts, deliveries and dead deliveries become
// retry, delivered and dead events; attempts count in the activity.
func TestFeedNotices(t *testing.T) {
	f := newFeed(8, 8, fixedNow(t0))
	for _, id := range []string{"e1", "e2"} {
		f.decision(&receive.Decision{Source: "s", Outcome: receive.OutcomeForwarded, EventID: id, UpstreamStatus: 202}, true)
	}
	s, _, _, _ := f.subscribe("", "")
	q := delivery.Queue{Source: "s", Destination: "app"}
	next := t0.Add(time.Second)
	for _, n := range []delivery.Notice{
		{Kind: delivery.NoticeAttempt, Queue: q, ID: "e1", Number: 1, Status: delivery.StatusPending, NextAt: next,
			Attempt: delivery.Attempt{StatusCode: 500, Latency: 12 * time.Millisecond}},
		{Kind: delivery.NoticeAttempt, Queue: q, ID: "e1", Number: 2, Status: delivery.StatusDelivered, Attempt: delivery.Attempt{StatusCode: 200, Latency: 3 * time.Millisecond}},
		{Kind: delivery.NoticeDelivered, Queue: q, ID: "e1", Number: 2, Attempt: delivery.Attempt{StatusCode: 200, Latency: 3 * time.Millisecond}},
		{Kind: delivery.NoticeAttempt, Queue: q, ID: "e2", Number: 1, Status: delivery.StatusDead, Attempt: delivery.Attempt{Error: "connection refused"}},
		{Kind: delivery.NoticeDead, Queue: q, ID: "e2", Number: 1, Reason: "permanent failure", Attempt: delivery.Attempt{Error: "connection refused"}},
		{Kind: delivery.NoticeQueue, Queue: q},
	} {
		f.notice(&n)
	}
	got := drain(s)
	var kinds []string
	for _, ev := range got {
		kinds = append(kinds, ev.Kind+":"+ev.EventID)
	}
	if strings.Join(kinds, " ") != "retry:e1 delivered:e1 dead:e2" {
		t.Fatalf("events %v", kinds)
	}
	if r := got[0]; r.Status != 500 || r.LatencyMS != 12 || r.NextAt == nil || !r.NextAt.Equal(next) || r.Attempt != 1 || r.Destination != "app" {
		t.Fatalf("retry %+v", r)
	}
	if d := got[2]; d.Reason != "permanent failure" || d.Error != "connection refused" {
		t.Fatalf("dead %+v", d)
	}
	st := f.sourceActivity(t0)["s"]
	if st.Window.Attempts != 3 || st.Window.Failed != 2 || st.Window.Delivered != 1 || st.Window.Dead != 1 || len(st.Latency) != 3 {
		t.Fatalf("activity %+v", st)
	}
}

// TestFeedOrder: the events of an event's first attempt that ends
// before its decision is reported wait for it, so the stream reads
// verified before delivered; without a decision they go out after
// holdFor.
func TestFeedOrder(t *testing.T) {
	now := t0
	f := newFeed(16, 16, func() time.Time { return now })
	s, _, _, _ := f.subscribe("", "")
	q := delivery.Queue{Source: "s", Destination: "app"}
	for _, n := range []delivery.Notice{
		{Kind: delivery.NoticeAttempt, Queue: q, ID: "live", Number: 1, Status: delivery.StatusDelivered, Live: true},
		{Kind: delivery.NoticeDelivered, Queue: q, ID: "live", Number: 1},
		{Kind: delivery.NoticeAttempt, Queue: q, ID: "replayed", Number: 1, Status: delivery.StatusPending},
		{Kind: delivery.NoticeDelivered, Queue: q, ID: "again", Number: 3},
	} {
		f.notice(&n)
	}
	f.decision(&receive.Decision{Source: "s", Outcome: receive.OutcomeForwarded, EventID: "live", UpstreamStatus: 200}, true)
	order := func() string {
		var b []string
		for _, ev := range drain(s) {
			b = append(b, ev.Kind+":"+ev.EventID)
		}
		return strings.Join(b, " ")
	}
	if got := order(); got != "delivered:again verified:live delivered:live" {
		t.Fatalf("stream %q", got)
	}
	f.releaseStale() // too early: nothing
	if got := order(); got != "" {
		t.Fatalf("released early: %q", got)
	}
	now = now.Add(holdFor)
	f.releaseStale()
	if got := order(); got != "retry:replayed" {
		t.Fatalf("released %q, want the replayed event's retry", got)
	}
	// A decision already published: its first attempt goes at once.
	f.decision(&receive.Decision{Source: "s", Outcome: receive.OutcomeForwarded, EventID: "slow", UpstreamStatus: 202}, true)
	f.notice(&delivery.Notice{Kind: delivery.NoticeDelivered, Queue: q, ID: "slow", Number: 1})
	if got := order(); got != "verified:slow delivered:slow" {
		t.Fatalf("stream %q", got)
	}
}

// TestFeedSubscriberFilterAndDrop: a subscriber gets its source's events
// only; one whose buffer is full is cut off and counted, and the
// publisher never waits.
func TestFeedSubscriberFilterAndDrop(t *testing.T) {
	f := newFeed(64, 4, fixedNow(t0))
	a, _, _, _ := f.subscribe("a", "")
	all, _, _, _ := f.subscribe("", "")
	for i := range 3 {
		f.publish(&streamEvent{Kind: kindVerified, Source: "a", EventID: fmt.Sprint("a", i)})
		f.publish(&streamEvent{Kind: kindVerified, Source: "b", EventID: fmt.Sprint("b", i)})
	}
	// all's buffer (4) overflowed at the 5th event: cut off after 4.
	if got := ids(drain(all)); got != "a0 b0 a1 b1" {
		t.Fatalf("all got %q", got)
	}
	if _, open := <-all.ch; open {
		t.Fatal("an overflowing subscriber was not cut off")
	}
	if got := ids(drain(a)); got != "a0 a1 a2" {
		t.Fatalf("a got %q", got)
	}
	if f.dropped.Load() != 1 {
		t.Fatalf("dropped %d, want 1", f.dropped.Load())
	}
	f.unsubscribe(all) // after the cut: no double close
	f.unsubscribe(a)
	f.publish(&streamEvent{Kind: kindVerified, Source: "a"})
	if err := f.Destruct(); err != nil {
		t.Fatal(err)
	}
	if s, _, _, ok := f.subscribe("", ""); ok || s != nil {
		t.Fatal("a destroyed feed took a subscriber")
	}
}

// TestFeedResume: a Last-Event-ID the ring still reaches resumes exactly
// after it; one it no longer reaches (another epoch, or too old) gets the
// whole ring and the time to resume the store from; a malformed one gets
// live events only.
func TestFeedResume(t *testing.T) {
	f := newFeed(4, 16, fixedNow(t0))
	var evs []*streamEvent
	for i := range 6 {
		ev := &streamEvent{Kind: kindVerified, Source: "s", EventID: fmt.Sprint("e", i+1), At: t0.Add(time.Duration(i) * time.Second)}
		f.publish(ev)
		evs = append(evs, ev)
	}
	other := newFeed(4, 4, fixedNow(t0))
	otherEv := &streamEvent{Kind: kindVerified, Source: "s", At: t0.Add(-time.Minute)}
	other.publish(otherEv)
	for _, c := range []struct {
		name    string
		last    string
		source  string
		backlog string
		since   time.Time
	}{
		{"none", "", "", "", time.Time{}},
		{"malformed", "garbage", "", "", time.Time{}},
		{"latest", evs[5].id(), "", "", time.Time{}},
		{"in the ring", evs[3].id(), "", "e5 e6", time.Time{}},
		{"oldest in the ring", evs[1].id(), "", "e3 e4 e5 e6", time.Time{}},
		{"fell out of the ring", evs[0].id(), "", "e3 e4 e5 e6", evs[0].At},
		{"another source", evs[3].id(), "t", "", time.Time{}},
		{"another epoch", otherEv.id(), "", "e3 e4 e5 e6", otherEv.At},
		{"from the future", f.epoch + "-99-0", "", "e3 e4 e5 e6", time.UnixMilli(0)},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, backlog, since, ok := f.subscribe(c.source, c.last)
			if !ok {
				t.Fatal("not subscribed")
			}
			defer f.unsubscribe(s)
			if got := ids(backlog); got != c.backlog {
				t.Errorf("backlog %q, want %q", got, c.backlog)
			}
			if !since.Equal(c.since) {
				t.Errorf("since %v, want %v", since, c.since)
			}
		})
	}
}

// TestStreamEventFrame: one SSE frame per event, id first, data on one
// line, no body or header in it.
func TestStreamEventFrame(t *testing.T) {
	f := newFeed(4, 4, fixedNow(t0))
	ev := &streamEvent{Kind: kindRejected, Source: "s", Reason: "signature_mismatch", Status: 401}
	f.publish(ev)
	want := "id: " + f.epoch + "-1-" + fmt.Sprint(t0.UnixMilli()) + "\nevent: rejected\n" +
		`data: {"kind":"rejected","at":"2026-11-22T10:00:00Z","source":"s","reason":"signature_mismatch","status":401}` + "\n\n"
	if got := string(ev.sse()); got != want {
		t.Fatalf("frame\n%s\nwant\n%s", got, want)
	}
	epoch, seq, at, ok := parseStreamID(ev.id())
	if !ok || epoch != f.epoch || seq != 1 || !at.Equal(t0) {
		t.Fatalf("parsed %q %d %v %v", epoch, seq, at, ok)
	}
}

// TestActivityWindow: counts older than the window fall out of it.
func TestActivityWindow(t *testing.T) {
	var a activity
	a.add(&streamEvent{Kind: kindRejected, Reason: "signature_mismatch", At: t0})
	a.add(&streamEvent{Kind: kindVerified, At: t0.Add(5 * time.Minute)})
	a.add(&streamEvent{Kind: kindVerified, At: t0.Add(20 * time.Minute)})
	for _, c := range []struct {
		at                          time.Time
		requests, verified, rejcted int
	}{
		{t0.Add(10 * time.Minute), 2, 1, 1},
		{t0.Add(20 * time.Minute), 1, 1, 0},
		{t0.Add(time.Hour), 0, 0, 0},
	} {
		st := a.stats(c.at)
		if st.Window.Requests != c.requests || st.Window.Verified != c.verified || st.Window.Rejected != c.rejcted {
			t.Errorf("at %v: %+v", c.at, st.Window)
		}
	}
	if st := a.stats(t0); st.Reason != "signature_mismatch" || !st.LastSeen.Equal(t0.Add(20*time.Minute)) {
		t.Errorf("last: %+v", st)
	}
}

// BenchmarkFeedDecision measures what publishing a decision adds to each
// request (the handler's observer), with no subscriber: the event, the
// ring, the source's counts, the decision's key.
func BenchmarkFeedDecision(b *testing.B) {
	f := newFeed(feedRing, feedBuffer, time.Now)
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = fmt.Sprint("evt_", i)
	}
	d := receive.Decision{Source: "github", Outcome: receive.OutcomeForwarded, EventType: "push", Key: "primary", UpstreamStatus: 202}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d.EventID = ids[i%len(ids)]
		f.decision(&d, true)
	}
}
