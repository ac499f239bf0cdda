package caddymodule

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/internal/testgateway"
	"github.com/hookgate/hookgate/internal/testredis"
	"github.com/hookgate/hookgate/redisclient"
	"github.com/hookgate/hookgate/sdk/receive"
)

const testStreamKey = "hookgate:{stream}:events"

// redisClient returns a client of url, closed when t ends.
func redisClient(t testing.TB, o redisclient.Options) redis.UniversalClient {
	t.Helper()
	c, err := redisclient.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// sharedFeed returns a feed ("a gateway") linked to the stream at key
// through c, once its link is up; local names its embedded sources.
func sharedFeed(t testing.TB, c redis.UniversalClient, local ...string) *feed {
	t.Helper()
	f := newFeed(feedRing, feedBuffer, time.Now)
	loc := map[string]bool{}
	for _, s := range local {
		loc[s] = true
	}
	sh := newSharedStream(f, c, testStreamKey, loc, nil)
	sh.start()
	t.Cleanup(func() { sh.stop(); _ = f.Destruct() })
	waitFor(t, "the shared stream up", f.sharedUp)
	return f
}

// waitFor waits until cond holds, failing t after 20 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// nextOn returns s's next event, failing t after 20 s.
func nextOn(t testing.TB, s *subscriber) *streamEvent {
	t.Helper()
	select {
	case ev, ok := <-s.ch:
		if !ok {
			t.Fatal("the subscriber was cut off")
		}
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no event within 20s")
	}
	return nil
}

// label names an event by its kind and event id.
func label(ev *streamEvent) string { return ev.Kind + ":" + ev.EventID }

// TestSharedStreamAcrossFeeds: two feeds (two gateways) sharing one
// Redis see each other's events, each once, in one order and with the
// same ids, which are stream entry ids; an embedded source's events stay
// on their gateway; a delivery's first attempt made by one gateway waits
// for the other gateway's decision; a Last-Event-ID from one resumes on
// the other, from its ring, and on a new gateway from Redis.
func TestSharedStreamAcrossFeeds(t *testing.T) {
	srv := testredis.Start(t)
	c := redisClient(t, redisclient.Options{URL: srv.URL})
	_ = c.Del(context.Background(), testStreamKey).Err()
	a := sharedFeed(t, c, "embedded")
	b := sharedFeed(t, c)
	sa, _, _, _ := a.subscribe("", "")
	sb, _, _, _ := b.subscribe("", "")

	// b delivers the first attempt of an event a received (async, Redis
	// store): b's delivered waits for a's verified.
	b.notice(&delivery.Notice{Kind: delivery.NoticeDelivered, Queue: delivery.Queue{Source: "shared", Destination: "app"},
		ID: "evt_1", Number: 1, Attempt: delivery.Attempt{StatusCode: 200}})
	a.decision(&receive.Decision{Source: "shared", EventID: "evt_1", Outcome: receive.OutcomeForwarded, UpstreamStatus: 202}, true)
	var onA, onB []*streamEvent
	onA = append(onA, nextOn(t, sa), nextOn(t, sa))
	b.publish(&streamEvent{Kind: kindRejected, Source: "shared", EventID: "evt_2", Reason: "signature_mismatch", Status: 401})
	onA = append(onA, nextOn(t, sa))
	a.publish(&streamEvent{Kind: kindVerified, Source: "embedded", EventID: "evt_3", Status: 200})
	a.publish(&streamEvent{Kind: kindVerified, Source: "shared", EventID: "evt_4", Status: 200})
	onA = append(onA, nextOn(t, sa), nextOn(t, sa))
	for range 4 {
		onB = append(onB, nextOn(t, sb))
	}
	for _, ev := range onA {
		if _, _, ok := parseEntryID(ev.id()); !ok {
			t.Fatalf("%s: id %q is not an entry id", label(ev), ev.id())
		}
	}
	gotB := strings.Fields(labels(onB))
	if got, want := labels(onA), "verified:evt_1 delivered:evt_1 rejected:evt_2 verified:evt_3 verified:evt_4"; got != want {
		t.Fatalf("a's stream: %s, want %s", got, want)
	}
	if got, want := labels(onB), "verified:evt_1 delivered:evt_1 rejected:evt_2 verified:evt_4"; got != want {
		t.Fatalf("b's stream: %s, want %s (not a's embedded source)", got, want)
	}
	for i, j := 0, 0; i < len(onA); i++ {
		if onA[i].Source == "embedded" {
			continue
		}
		if onA[i].id() != onB[j].id() {
			t.Fatalf("%s has id %s on a, %s on b", label(onA[i]), onA[i].id(), onB[j].id())
		}
		j++
	}
	select {
	case ev := <-sb.ch:
		t.Fatalf("b got one more: %s", label(ev))
	case ev := <-sa.ch:
		t.Fatalf("a got one more: %s", label(ev))
	default:
	}

	// Resumes: b's id on a (a's ring), and on a new gateway, whose ring
	// is empty (from Redis).
	last := onB[0].id()
	want := strings.Join(gotB[1:], " ")
	s, backlog, since, _ := a.subscribe("shared", last)
	if got := labels(backlog); got != want || !since.IsZero() || s.fetch != nil {
		t.Fatalf("resumed on a with %q (since %v, fetch %+v), want %q", got, since, s.fetch, want)
	}
	a.unsubscribe(s)
	fresh := sharedFeed(t, c)
	s, backlog, since, _ = fresh.subscribe("shared", last)
	if len(backlog) != 0 || !since.IsZero() || s.fetch == nil {
		t.Fatalf("resumed on a new gateway: backlog %q, since %v, fetch %+v: want a fetch from Redis", labels(backlog), since, s.fetch)
	}
	evs, more, complete := s.fetch.run(context.Background())
	if got := labels(evs); got != want || more || !complete {
		t.Fatalf("fetched %q (more %v, complete %v), want %q", got, more, complete, want)
	}
	// Live events after the resume: no repeat, no gap.
	b.publish(&streamEvent{Kind: kindVerified, Source: "shared", EventID: "evt_5"})
	if ev := nextOn(t, s); label(ev) != "verified:evt_5" {
		t.Fatalf("then live: %s", label(ev))
	}
	fresh.unsubscribe(s)

	// An id the stream no longer has (trimmed): the entries after it up
	// to the ring, which has evt_5, and the store fills in from its time.
	s, backlog, _, _ = fresh.subscribe("shared", "1-0")
	if s.fetch == nil || labels(backlog) != "verified:evt_5" {
		t.Fatalf("an id older than the ring: backlog %q, fetch %+v", labels(backlog), s.fetch)
	}
	if evs, _, complete := s.fetch.run(context.Background()); complete || labels(evs) != labels(onB) {
		t.Fatalf("a trimmed id: %q, complete %v; want %q, incomplete", labels(evs), complete, labels(onB))
	}
	fresh.unsubscribe(s)
	// No body or secret in Redis: the entries are what the stream shows.
	entries, err := c.XRange(context.Background(), testStreamKey, "-", "+").Result()
	if err != nil || len(entries) != 6 {
		t.Fatalf("the stream: %d entries, %v", len(entries), err)
	}
	for _, e := range entries {
		if len(e.Values) > 3 || e.Values["o"] == nil || e.Values["d"] == nil {
			t.Fatalf("entry %s: %v", e.ID, e.Values)
		}
	}
}

// value returns the value of counter c.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

func labels(evs []*streamEvent) string {
	var out []string
	for _, ev := range evs {
		out = append(out, label(ev))
	}
	return strings.Join(out, " ")
}

// TestSharedStreamRedisDown: while Redis is down a gateway's subscribers
// see its own events, with local ids, and none of the other's; the
// events are counted as not published; when Redis is back (restarted
// empty) both share again.
func TestSharedStreamRedisDown(t *testing.T) {
	srv := testredis.Start(t)
	if srv.External() {
		t.Skip("needs a Redis the test can stop (HOOKGATE_TEST_REDIS_URL is set)")
	}
	c := redisClient(t, redisclient.Options{URL: srv.URL})
	a := sharedFeed(t, c)
	b := sharedFeed(t, c)
	sa, _, _, _ := a.subscribe("", "")
	sb, _, _, _ := b.subscribe("", "")
	unavailable := value(dropsUnavailable)

	srv.Stop()
	a.publish(&streamEvent{Kind: kindVerified, Source: "s", EventID: "evt_down"})
	ev := nextOn(t, sa)
	if label(ev) != "verified:evt_down" || !strings.HasPrefix(ev.id(), a.epoch+"-") {
		t.Fatalf("Redis down: a got %s with id %q, want it with a local id", label(ev), ev.id())
	}
	if got := value(dropsUnavailable) - unavailable; got != 1 {
		t.Fatalf("caddy_webhook_stream_publish_dropped_total{reason=unavailable} rose by %v, want 1", got)
	}
	waitFor(t, "a's link down", func() bool { return !a.sharedUp() })

	srv.Restart()
	waitFor(t, "both links up again", func() bool { return a.sharedUp() && b.sharedUp() })
	a.publish(&streamEvent{Kind: kindVerified, Source: "s", EventID: "evt_up"})
	for name, s := range map[string]*subscriber{"a": sa, "b": sb} {
		if ev := nextOn(t, s); label(ev) != "verified:evt_up" {
			t.Fatalf("Redis back: %s got %s first", name, label(ev))
		}
	}
}

// TestSharedStreamQueueFull: when the publisher falls a queue behind
// (Redis slow), the next event is shown on its gateway at once, with a
// local id, and counted; the request never waits.
func TestSharedStreamQueueFull(t *testing.T) {
	f := newFeed(16, 16, fixedNow(t0))
	sh := newSharedStream(f, nil, testStreamKey, nil, nil) // not started: nothing takes the queue
	f.attach(sh)
	sh.up.Store(true)
	s, _, _, _ := f.subscribe("", "")
	full := value(dropsQueueFull)
	for i := range sharedQueue + 1 {
		f.publish(&streamEvent{Kind: kindVerified, Source: "s", EventID: fmt.Sprint("evt_", i)})
	}
	got := drain(s)
	if len(got) != 1 || got[0].EventID != fmt.Sprint("evt_", sharedQueue) || got[0].id() != f.epoch+"-1-"+fmt.Sprint(t0.UnixMilli()) {
		t.Fatalf("shown locally: %q", ids(got))
	}
	if d := value(dropsQueueFull) - full; d != 1 {
		t.Fatalf("queue_full drops rose by %v, want 1", d)
	}
	if len(sh.queue) != sharedQueue {
		t.Fatalf("queue holds %d", len(sh.queue))
	}
}

// TestSharedStreamResumeEdges: resumes with entry ids the ring holds, one
// from the future, one the reader has not reached, and while Redis is
// unavailable.
func TestSharedStreamResumeEdges(t *testing.T) {
	f := newFeed(8, 16, fixedNow(t0))
	sh := newSharedStream(f, nil, testStreamKey, nil, nil)
	f.attach(sh)
	sh.up.Store(true)
	ms := t0.UnixMilli()
	var entries []sharedEntry
	for i := range 4 {
		id := fmt.Sprintf("%d-%d", ms, i)
		entries = append(entries, sharedEntry{id: id, remote: true, ev: &streamEvent{Kind: kindRetry, Source: "s", EventID: fmt.Sprint("e", i), rid: id, At: t0}})
	}
	f.setPosition(sh, fmt.Sprintf("%d-0", ms-1))
	f.received(sh, entries)
	f.received(sh, entries[2:]) // a second reader's overlap: once each
	f.fallback(&streamEvent{Kind: kindVerified, Source: "s", EventID: "local", At: t0})
	for _, c := range []struct {
		name, last, backlog string
		fetch               bool
		since               time.Time
	}{
		{"in the ring", entries[1].id, "e2 e3 local", false, time.Time{}},
		{"the newest", entries[3].id, "local", false, time.Time{}},
		{"not reached yet", fmt.Sprintf("%d-9", ms), "local", false, time.Time{}},
		{"from the future", fmt.Sprintf("%d-0", ms+int64(time.Hour/time.Millisecond)), "", false, time.Time{}},
		{"older than the ring", fmt.Sprintf("%d-0", ms-10), "e0 e1 e2 e3 local", true, time.Time{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, backlog, since, _ := f.subscribe("", c.last)
			defer f.unsubscribe(s)
			if got := ids(backlog); got != c.backlog || (s.fetch != nil) != c.fetch || !since.Equal(c.since) {
				t.Fatalf("backlog %q, fetch %+v, since %v; want %q, fetch %v, since %v", got, s.fetch, since, c.backlog, c.fetch, c.since)
			}
			if s.fetch != nil && s.fetch.to != "("+entries[0].id {
				t.Fatalf("fetch up to %q, want up to the ring's oldest", s.fetch.to)
			}
		})
	}
	// The reader is behind the client: live entries it already saw are
	// not sent again.
	s, _, _, _ := f.subscribe("", fmt.Sprintf("%d-5", ms))
	next := sharedEntry{id: fmt.Sprintf("%d-5", ms), remote: true, ev: &streamEvent{Kind: kindRetry, Source: "s", EventID: "e5"}}
	next.ev.rid = next.id
	then := sharedEntry{id: fmt.Sprintf("%d-6", ms), remote: true, ev: &streamEvent{Kind: kindRetry, Source: "s", EventID: "e6"}}
	then.ev.rid = then.id
	f.received(sh, []sharedEntry{next, then})
	if got := ids(drain(s)); got != "e6" {
		t.Fatalf("live after a resume ahead of the reader: %q, want e6", got)
	}
	// Redis unavailable: the whole ring, and the store from the id's time.
	sh.up.Store(false)
	s, backlog, since, _ := f.subscribe("", fmt.Sprintf("%d-0", ms-10))
	if s.fetch != nil || !since.Equal(time.UnixMilli(ms-10)) || ids(backlog) == "" {
		t.Fatalf("Redis down: backlog %q, fetch %+v, since %v", ids(backlog), s.fetch, since)
	}
}

// TestSharedStreamReload: a reload's link to the same stream takes over
// at once (no event of the reload stays local) and reads on from the
// feed's cursor, the old link's reads are ignored, and a new config that
// fails to start gives the feed back to the old link: each event once.
func TestSharedStreamReload(t *testing.T) {
	srv := testredis.Start(t)
	c := redisClient(t, redisclient.Options{URL: srv.URL})
	f := newFeed(feedRing, feedBuffer, time.Now)
	old := newSharedStream(f, c, testStreamKey, nil, nil)
	old.start()
	waitFor(t, "the old link up", f.sharedUp)
	s, _, _, _ := f.subscribe("", "")
	publish := func(id string) {
		t.Helper()
		f.publish(&streamEvent{Kind: kindVerified, Source: "s", EventID: id})
		if ev := nextOn(t, s); ev.EventID != id || ev.rid == "" {
			t.Fatalf("got %s (id %q), want %s through Redis", label(ev), ev.id(), id)
		}
	}
	publish("e1")
	cur := newSharedStream(f, c, testStreamKey, nil, nil)
	cur.start()
	if !cur.up.Load() {
		t.Fatal("the reload's link to the same stream is not up at once")
	}
	publish("e2")
	old.stop()
	publish("e3")
	failed := newSharedStream(f, c, testStreamKey, nil, nil)
	failed.start()
	failed.stop()
	f.mu.Lock()
	back := f.shared == cur && cur.prev == nil
	f.mu.Unlock()
	if !back {
		t.Fatal("a failed reload did not give the feed back to the running link")
	}
	publish("e4")
	cur.stop()
	if f.sharedUp() {
		t.Fatal("the feed still shares with no link")
	}
	f.publish(&streamEvent{Kind: kindVerified, Source: "s", EventID: "e5"})
	if ev := nextOn(t, s); ev.EventID != "e5" || ev.rid != "" {
		t.Fatalf("no link: got %s (id %q), want e5 with a local id", label(ev), ev.id())
	}
	if got := ids(drain(s)); got != "" {
		t.Fatalf("repeated: %s", got)
	}
}

// TestStreamSharedAcrossReload: a gateway delivering through store redis
// streams entry ids; across a config reload (the new app starts before
// the old one stops) a client resumes with its last id, without a gap or
// a repeat.
func TestStreamSharedAcrossReload(t *testing.T) {
	srv := testredis.Start(t)
	a := newApp(t)
	site := func(extra string) string {
		return fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	webhook_verify standard {
		source redisstream
		secret primary %s
		dedup redis
		redis %s
		deliver %s {
			store redis
			backoff 20ms 100ms
			%s
		}
	}
}
`, secretA, srv.URL, a.URL, extra)
	}
	g := startGateway(t, site(""))
	waitFor(t, "the stream shared", func() bool { return running.Load() != nil && running.Load().console.feed.sharedUp() })
	s := openStream(t, g.adminPort, "", "")
	send := func(id string) {
		t.Helper()
		if resp, _ := do(t, signed(t, g.url("/"), id, []byte(invoice), time.Now(), secretA)); resp.StatusCode != 200 {
			t.Fatalf("%s: %d", id, resp.StatusCode)
		}
	}
	send("evt_r1")
	v := s.next()
	last := s.next()
	if v.kind != "verified" || last.kind != "delivered" || last.data["id"] != "evt_r1" {
		t.Fatalf("got %+v, %+v", v, last)
	}
	if _, _, ok := parseEntryID(last.id); !ok {
		t.Fatalf("id %q is not an entry id", last.id)
	}
	g.reload(site("timeout 5s"))
	select {
	case <-s.ended:
	case <-time.After(20 * time.Second):
		t.Fatal("the stream outlived its admin server")
	}
	send("evt_r2")
	resumed := openStream(t, g.adminPort, "", last.id)
	for _, want := range []string{"verified:evt_r2", "delivered:evt_r2"} {
		if got := sseLabels([]sseEvent{resumed.next()}); got != want {
			t.Fatalf("resumed after the reload: %s, want %s", got, want)
		}
	}
	send("evt_r3")
	if got := sseLabels([]sseEvent{resumed.next()}); got != "verified:evt_r3" {
		t.Fatalf("then live: %s", got)
	}
}

// TestSharedStreamCluster: the stream works on a Redis Cluster (one key,
// hash-tagged).
func TestSharedStreamCluster(t *testing.T) {
	cl := testredis.StartCluster(t, 3)
	c := redisClient(t, redisclient.Options{URL: cl.URL()})
	a := sharedFeed(t, c)
	b := sharedFeed(t, c)
	sb, _, _, _ := b.subscribe("", "")
	a.publish(&streamEvent{Kind: kindVerified, Source: "s", EventID: "evt_cluster"})
	if ev := nextOn(t, sb); label(ev) != "verified:evt_cluster" {
		t.Fatalf("b got %s", label(ev))
	}
}

// TestSharedStreamSlowSubscribersBounded: through Redis too, 100
// subscribers that never read do not grow the heap beyond a small bound
// while 20,000 events go by, and are all cut off.
func TestSharedStreamSlowSubscribersBounded(t *testing.T) {
	srv := testredis.Start(t)
	c := redisClient(t, redisclient.Options{URL: srv.URL})
	_ = c.Del(context.Background(), testStreamKey).Err()
	a := sharedFeed(t, c)
	b := sharedFeed(t, c)
	const subs, events = 100, 20000
	for range subs {
		b.subscribe("", "")
	}
	before := heapInUse()
	dropped := b.dropped.Load()
	reason := strings.Repeat("r", 200)
	var seq uint64
	b.mu.Lock()
	seq = b.seq
	b.mu.Unlock()
	for i := range events {
		a.publish(&streamEvent{Kind: kindRejected, Source: "s", Reason: reason, Status: 401, EventID: fmt.Sprint("evt_", i)})
		if i%256 == 255 {
			// At the publisher's pace, so that none is dropped.
			waitFor(t, "the queue to drain", func() bool { return len(a.shared.queue) == 0 })
		}
	}
	waitFor(t, "b to fan out every event", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.seq-seq >= events
	})
	after := heapInUse()
	growth := int64(after) - int64(before)
	t.Logf("heap in use: %d KiB before, %d KiB after %d events through Redis to %d subscribers that never read (%+d KiB)",
		before>>10, after>>10, events, subs, growth>>10)
	const bound = 16 << 20
	if growth > bound {
		t.Fatalf("heap grew %d KiB, over %d KiB", growth>>10, bound>>10)
	}
	if n := b.dropped.Load() - dropped; n < subs {
		t.Fatalf("%d subscribers cut off, want all %d", n, subs)
	}
}

// TestStreamAcrossGateways: two gateway processes sharing one Redis (a
// source delivering through store redis): a webhook sent to one is on
// the other's stream, each event once, with the same ids on both; a
// Last-Event-ID taken from one resumes on the other without a gap or a
// repeat; Redis holds no body or secret.
func TestStreamAcrossGateways(t *testing.T) {
	srv := testredis.Start(t)
	c := redisClient(t, redisclient.Options{URL: srv.URL})
	_ = c.Del(context.Background(), testStreamKey).Err()
	app := newApp(t)
	bin, err := testgateway.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	site := fmt.Sprintf(`
	webhook_verify standard {
		source shared
		secret primary %s
		dedup redis
		redis %s
		deliver %s {
			store redis
			backoff 20ms 100ms
		}
	}
`, secretA, srv.URL, app.URL)
	ga := testgateway.Start(t, bin, site, "Webhook-Signature")
	gb := testgateway.Start(t, bin, site, "Webhook-Signature")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, g := range []*testgateway.Gateway{ga, gb} {
		for {
			m, err := g.Metrics(ctx)
			if err == nil && m.Sum("caddy_webhook_stream_shared") == 1 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: the stream is not shared: %v", g.Admin, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	onA := openStreamAt(t, ga.Admin, "", "")
	onB := openStreamAt(t, gb.Admin, "", "")
	send := func(g *testgateway.Gateway, id string) {
		t.Helper()
		if resp, _ := do(t, signed(t, g.URL, id, []byte(invoice), time.Now(), secretA)); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", id, resp.StatusCode, resp.Header.Get("Hookgate-Reason"))
		}
	}
	read := func(s *sseClient, n int) []sseEvent {
		t.Helper()
		var out []sseEvent
		for len(out) < n {
			out = append(out, s.next())
		}
		return out
	}
	send(ga, "evt_x1")
	firstB := read(onB, 2)
	send(gb, "evt_x2")
	firstB = append(firstB, read(onB, 2)...)
	firstA := read(onA, 4)
	want := "verified:evt_x1 delivered:evt_x1 verified:evt_x2 delivered:evt_x2"
	if got := sseLabels(firstB); got != want {
		t.Fatalf("b's stream: %s, want %s", got, want)
	}
	if got := sseLabels(firstA); got != want {
		t.Fatalf("a's stream: %s, want %s", got, want)
	}
	for i := range firstA {
		if firstA[i].id != firstB[i].id {
			t.Fatalf("event %d: id %s on a, %s on b", i, firstA[i].id, firstB[i].id)
		}
	}
	// Each once: the next event on both is the next webhook's.
	send(ga, "evt_x3")
	for name, s := range map[string]*sseClient{"a": onA, "b": onB} {
		if got := sseLabels(read(s, 2)); got != "verified:evt_x3 delivered:evt_x3" {
			t.Fatalf("%s: after the first four: %s", name, got)
		}
	}

	// b's id of evt_x1's verified event resumes on a: the rest, then live.
	resumed := openStreamAt(t, ga.Admin, "", firstB[0].id)
	got := read(resumed, 5)
	if g := sseLabels(got); g != "delivered:evt_x1 verified:evt_x2 delivered:evt_x2 verified:evt_x3 delivered:evt_x3" {
		t.Fatalf("resumed on a with b's id: %s", g)
	}
	if got[0].id != firstB[1].id {
		t.Fatalf("resumed with id %s, b had %s", got[0].id, firstB[1].id)
	}
	send(gb, "evt_x4")
	if ev := resumed.next(); ev.kind != "verified" || ev.data["id"] != "evt_x4" {
		t.Fatalf("then live: %+v", ev)
	}

	entries, err := c.XRange(ctx, testStreamKey, "-", "+").Result()
	if err != nil || len(entries) < 8 {
		t.Fatalf("the stream in Redis: %d entries, %v", len(entries), err)
	}
	for _, e := range entries {
		for _, v := range e.Values {
			for _, secret := range []string{"in_1", "amount_paid", "v1,", secretA, "Webhook-Signature"} {
				if strings.Contains(fmt.Sprint(v), secret) {
					t.Fatalf("entry %s carries %q: %v", e.ID, secret, e.Values)
				}
			}
		}
	}
	m, err := ga.Metrics(ctx)
	if err != nil || m.Sum("caddy_webhook_stream_published_total") < 4 {
		t.Fatalf("a published %v events (%v)", m.Sum("caddy_webhook_stream_published_total"), err)
	}
}

func sseLabels(evs []sseEvent) string {
	var out []string
	for _, ev := range evs {
		id, _ := ev.data["id"].(string)
		out = append(out, ev.kind+":"+id)
	}
	return strings.Join(out, " ")
}

// BenchmarkSharedStream measures what one event costs through Redis:
// publish on one feed (queued), XADD (pipelined), XREAD and fan-out on
// another feed to one subscriber, end to end; "local" is the same
// without Redis, the baseline. The request's goroutine pays the publish
// only: "publish" times that alone.
func BenchmarkSharedStream(b *testing.B) {
	srv := testredis.Start(b)
	c := redisClient(b, redisclient.Options{URL: srv.URL})
	ev := func() *streamEvent {
		return &streamEvent{Kind: kindVerified, Source: "github", EventID: "evt_0123456789", Type: "push", Status: 202, Recorded: true}
	}
	b.Run("local", func(b *testing.B) {
		f := newFeed(feedRing, b.N+1, time.Now)
		s, _, _, _ := f.subscribe("", "")
		b.ReportAllocs()
		for range b.N {
			f.publish(ev())
			<-s.ch
		}
	})
	b.Run("redis", func(b *testing.B) {
		_ = c.Del(context.Background(), testStreamKey).Err()
		var links []*sharedStream
		feeds := make([]*feed, 2)
		for i := range feeds {
			feeds[i] = newFeed(feedRing, b.N+1, time.Now)
			sh := newSharedStream(feeds[i], c, testStreamKey, nil, nil)
			sh.start()
			links = append(links, sh)
			waitFor(b, "the shared stream up", feeds[i].sharedUp)
		}
		defer func() {
			for _, sh := range links {
				sh.stop()
			}
		}()
		from, to := feeds[0], feeds[1]
		s, _, _, _ := to.subscribe("", "")
		var wg sync.WaitGroup
		wg.Go(func() {
			for range b.N {
				<-s.ch
			}
		})
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			from.publish(ev())
			if i%256 == 255 {
				for len(from.shared.queue) > sharedQueue/2 {
					time.Sleep(50 * time.Microsecond)
				}
			}
		}
		wg.Wait()
		b.StopTimer()
		n, _ := c.XLen(context.Background(), testStreamKey).Result()
		mem, _ := c.MemoryUsage(context.Background(), testStreamKey).Result()
		if n > 0 {
			b.ReportMetric(float64(mem)/float64(n), "redis-B/entry")
		}
	})
	b.Run("publish", func(b *testing.B) {
		f := newFeed(feedRing, 16, time.Now)
		sh := newSharedStream(f, c, testStreamKey, nil, nil)
		f.attach(sh)
		sh.up.Store(true)
		evs := make([]*streamEvent, b.N)
		for i := range evs {
			evs[i] = ev()
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			f.publish(evs[i])
			if len(sh.queue) == sharedQueue {
				b.StopTimer()
				for range sharedQueue {
					<-sh.queue
				}
				b.StartTimer()
			}
		}
	})
}
