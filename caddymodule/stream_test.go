package caddymodule

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// sseEvent is one event read from a stream.
type sseEvent struct {
	id, kind string
	data     map[string]any
	raw      string
}

// sseClient reads a stream on its own goroutine.
type sseClient struct {
	t      *testing.T
	resp   *http.Response
	events chan sseEvent
	ended  chan struct{}
	mu     sync.Mutex
	pings  int
}

// openStream opens GET /hookgate/stream<query> on g's admin API.
func openStream(t *testing.T, adminPort int, query, lastID string) *sseClient {
	t.Helper()
	return openStreamAt(t, fmt.Sprintf("localhost:%d", adminPort), query, lastID)
}

// openStreamAt opens GET /hookgate/stream<query> on the admin API at
// admin (host:port).
func openStreamAt(t *testing.T, admin, query, lastID string) *sseClient {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+admin+"/hookgate/stream"+query, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %v", resp.StatusCode, resp.Header)
	}
	c := &sseClient{t: t, resp: resp, events: make(chan sseEvent, 1024), ended: make(chan struct{})}
	t.Cleanup(func() { resp.Body.Close() })
	go c.read()
	return c
}

func (c *sseClient) read() {
	defer close(c.ended)
	br := bufio.NewReader(c.resp.Body)
	var ev sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.kind != "" {
				c.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ": ping"):
			c.mu.Lock()
			c.pings++
			c.mu.Unlock()
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.kind = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.raw = line[6:]
			_ = json.Unmarshal([]byte(ev.raw), &ev.data)
		}
	}
}

// next returns the next event.
func (c *sseClient) next() sseEvent {
	c.t.Helper()
	select {
	case ev := <-c.events:
		return ev
	case <-c.ended:
		c.t.Fatal("the stream ended")
	case <-time.After(20 * time.Second):
		c.t.Fatal("no stream event within 20s")
	}
	return sseEvent{}
}

// nextOf returns the next event of kind, skipping others.
func (c *sseClient) nextOf(kind string) sseEvent {
	c.t.Helper()
	for {
		if ev := c.next(); ev.kind == kind {
			return ev
		}
	}
}

// TestStreamLive: a verified event, a rejection and a delivery each
// become one event on the stream, with the promised fields and never a
// body, a header or a signature.
func TestStreamLive(t *testing.T) {
	a := newApp(t)
	g := startGateway(t, deliverSite(a, t.TempDir(), ""))
	s := openStream(t, g.adminPort, "", "")
	sendEvent(t, g, "evt_s1", nil)
	do(t, signed(t, g.url("/"), "evt_bad", []byte(invoice), time.Now(), secretB))

	v := s.next()
	if v.kind != "verified" || v.data["id"] != "evt_s1" || v.data["type"] != "invoice.paid" || v.data["source"] != "deliverdemo" ||
		v.data["recorded"] != true || v.data["status"] != 200.0 || v.data["key"] != "primary" || v.id == "" {
		t.Fatalf("verified: %+v", v)
	}
	d := s.nextOf("delivered")
	if d.data["id"] != "evt_s1" || d.data["destination"] != "app" || d.data["status"] != 200.0 || d.data["attempt"] != 1.0 {
		t.Fatalf("delivered: %+v", d)
	}
	r := s.nextOf("rejected")
	if r.data["reason"] != "signature_mismatch" || r.data["status"] != 401.0 {
		t.Fatalf("rejected: %+v", r)
	}
	for _, ev := range []sseEvent{v, d, r} {
		for _, secret := range []string{"in_1", "Webhook-Signature", "v1,", "amount_paid"} {
			if strings.Contains(ev.raw, secret) {
				t.Fatalf("stream event carries %q: %s", secret, ev.raw)
			}
		}
	}
}

// TestStreamSourceFilter: ?source= keeps other sources' events out,
// including those of handlers without a deliver block.
func TestStreamSourceFilter(t *testing.T) {
	a := newApp(t)
	u := newUpstream(t)
	g := startGateway(t, fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	route /plain {
		webhook_verify standard {
			source plain
			secret %s
		}
		reverse_proxy %s
	}
	route /recorded {
		webhook_verify standard {
			source recorded
			secret %s
			deliver %s {
				store embedded %s
			}
		}
	}
}
`, secretA, u.hostPort(), secretA, a.URL, t.TempDir()))
	plain := openStream(t, g.adminPort, "?source=plain", "")
	all := openStream(t, g.adminPort, "", "")
	do(t, signed(t, g.url("/recorded"), "evt_r", []byte(invoice), time.Now(), secretA))
	do(t, signed(t, g.url("/plain"), "evt_p", []byte(invoice), time.Now(), secretA))
	ev := plain.next()
	if ev.kind != "verified" || ev.data["id"] != "evt_p" || ev.data["recorded"] != nil || ev.data["status"] != 200.0 {
		t.Fatalf("plain source's stream: %+v", ev)
	}
	var seen []string
	for len(seen) < 3 {
		ev := all.next()
		seen = append(seen, ev.kind+":"+ev.data["id"].(string))
	}
	got := strings.Join(seen, " ")
	if !strings.Contains(got, "verified:evt_r") || !strings.Contains(got, "delivered:evt_r") || !strings.Contains(got, "verified:evt_p") {
		t.Fatalf("the whole stream: %s", got)
	}
	select {
	case ev := <-plain.events:
		t.Fatalf("the plain source's stream got %+v", ev)
	default:
	}
}

// TestStreamResume: Last-Event-ID resumes after the event it names, from
// the ring; an id the ring does not know (a restarted gateway) resumes
// the recorded events from the store, marked resumed.
func TestStreamResume(t *testing.T) {
	a := newApp(t)
	dir := t.TempDir()
	g := startGateway(t, deliverSite(a, dir, "mode async"))
	s := openStream(t, g.adminPort, "?source=deliverdemo", "")
	sendEvent(t, g, "evt_r1", nil)
	first := s.next()
	if v := first; v.kind != "verified" {
		t.Fatalf("first %+v, want verified before delivered", v)
	}
	last := s.next()
	if last.kind != "delivered" {
		t.Fatalf("then %+v, want delivered", last)
	}
	s.resp.Body.Close()
	sendEvent(t, g, "evt_r2", nil)
	sendEvent(t, g, "evt_r3", nil)
	a.waitDelivered(t, 3)

	resumed := openStream(t, g.adminPort, "?source=deliverdemo", last.id)
	var got []string
	for len(got) < 4 {
		ev := resumed.next()
		got = append(got, ev.kind+":"+ev.data["id"].(string))
	}
	if strings.Join(got, " ") != "verified:evt_r2 delivered:evt_r2 verified:evt_r3 delivered:evt_r3" {
		t.Fatalf("resumed with %v", got)
	}

	// A restarted gateway (another feed, an empty ring) resumes from the
	// store what it recorded since the id's time.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	g = startGateway(t, deliverSite(a, dir, "mode async"))
	fromStore := openStream(t, g.adminPort, "?source=deliverdemo", first.id)
	var ids []string
	for len(ids) < 3 {
		ev := fromStore.next()
		if ev.kind != "verified" || ev.data["recorded"] != true || ev.data["resumed"] != true || ev.id != "" {
			t.Fatalf("resumed from the store: %+v", ev)
		}
		ids = append(ids, ev.data["id"].(string))
	}
	if strings.Join(ids, " ") != "evt_r1 evt_r2 evt_r3" {
		t.Fatalf("resumed from the store: %v", ids)
	}
	sendEvent(t, g, "evt_r4", nil)
	if ev := fromStore.next(); ev.kind != "verified" || ev.data["id"] != "evt_r4" || ev.data["resumed"] != nil || ev.id == "" {
		t.Fatalf("then live: %+v", ev)
	}
}

// TestStreamPingAndEnd: an idle stream gets keep-alive comments; it ends
// when its admin server is replaced (done), and when the feed goes.
func TestStreamPingAndEnd(t *testing.T) {
	f := newFeed(16, 16, time.Now)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = serveStream(w, r, f, nil, "", done, 5*time.Millisecond)
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := &sseClient{t: t, resp: resp, events: make(chan sseEvent, 16), ended: make(chan struct{})}
	go c.read()
	for {
		c.mu.Lock()
		n := c.pings
		c.mu.Unlock()
		if n >= 2 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.publish(&streamEvent{Kind: kindVerified, Source: "s", EventID: "e"})
	if ev := c.next(); ev.data["id"] != "e" {
		t.Fatalf("got %+v", ev)
	}
	close(done)
	select {
	case <-c.ended:
	case <-time.After(20 * time.Second):
		t.Fatal("the stream did not end with its admin server")
	}
}

// TestStreamSlowSubscribersBoundedHeap: 100 subscribers that never read
// do not grow the gateway's heap beyond a small bound while 20,000
// events are published: their buffers are bounded, events are shared,
// and a subscriber that falls a buffer behind is cut off (counted).
func TestStreamSlowSubscribersBoundedHeap(t *testing.T) {
	a := newApp(t)
	g := startGateway(t, deliverSite(a, t.TempDir(), ""))
	f := running.Load().console.feed
	const subs = 100
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range subs {
		c, err := net.Dial("tcp", fmt.Sprintf("localhost:%d", g.adminPort))
		if err != nil {
			t.Fatal(err)
		}
		_ = c.(*net.TCPConn).SetReadBuffer(4096)
		fmt.Fprintf(c, "GET /hookgate/stream HTTP/1.1\r\nHost: localhost:%d\r\n\r\n", g.adminPort)
		conns = append(conns, c) // never read
	}
	for f.subscribers() < subs {
		time.Sleep(10 * time.Millisecond)
	}
	before := heapInUse()
	dropped := f.dropped.Load()
	reason := strings.Repeat("r", 200) // a frame of about 400 bytes
	const events = 20000
	for i := range events {
		f.publish(&streamEvent{Kind: kindRejected, Source: "deliverdemo", Reason: reason, Status: 401, EventID: fmt.Sprint("evt_", i)})
	}
	after := heapInUse()
	growth := int64(after) - int64(before)
	t.Logf("heap in use: %d KiB before, %d KiB after %d events to %d subscribers that never read (%+d KiB); %d subscribers cut off",
		before>>10, after>>10, events, subs, growth>>10, f.dropped.Load()-dropped)
	// Unbounded, each subscriber would hold every frame: 100 × 20,000 ×
	// 400 bytes = 800 MB. Bounded: the ring (2,048 events) and the
	// subscribers' buffers, which share those events.
	const bound = 16 << 20
	if growth > bound {
		t.Fatalf("heap grew %d KiB, over %d KiB", growth>>10, bound>>10)
	}
	if f.dropped.Load()-dropped < subs {
		t.Fatalf("%d subscribers cut off, want all %d", f.dropped.Load()-dropped, subs)
	}
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestStreamEndsOnReload: a config load replaces the admin server; the
// streams of the old one end (the old server would keep them for up to
// 10 s), and a client resumes on the new one with its last id.
func TestStreamEndsOnReload(t *testing.T) {
	a := newApp(t)
	dir := t.TempDir()
	g := startGateway(t, deliverSite(a, dir, ""))
	s := openStream(t, g.adminPort, "", "")
	sendEvent(t, g, "evt_before", nil)
	last := s.nextOf("delivered")
	g.reload(deliverSite(a, dir, "timeout 5s"))
	select {
	case <-s.ended:
	case <-time.After(20 * time.Second):
		t.Fatal("the stream outlived its admin server")
	}
	sendEvent(t, g, "evt_after", nil)
	resumed := openStream(t, g.adminPort, "", last.id)
	if ev := resumed.next(); ev.kind != "verified" || ev.data["id"] != "evt_after" {
		t.Fatalf("resumed with %+v, want evt_after's verified event", ev)
	}
}

// BenchmarkFeedFanout measures what one event costs the gateway for n
// subscribers: publish (number, keep, offer to each buffer) plus each
// subscriber taking it and writing its frame (encoded once, shared),
// concurrently, as the stream's goroutines do. The run with no
// subscriber is the baseline. Buffers hold every event here, so that no
// subscriber is cut off.
func BenchmarkFeedFanout(b *testing.B) {
	for _, n := range []int{0, 1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			f := newFeed(feedRing, b.N+1, time.Now)
			var wg sync.WaitGroup
			for range n {
				s, _, _, _ := f.subscribe("", "")
				wg.Go(func() {
					for ev := range s.ch {
						_, _ = io.Discard.Write(ev.sse())
					}
				})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				f.publish(&streamEvent{Kind: kindVerified, Source: "github", EventID: "evt_0123456789", Type: "push", Status: 202, Recorded: true})
			}
			_ = f.Destruct() // closes the buffers: the subscribers finish them
			wg.Wait()
			b.StopTimer()
			if f.dropped.Load() != 0 {
				b.Fatalf("%d subscribers cut off", f.dropped.Load())
			}
		})
	}
}

// BenchmarkStreamFanoutHTTP is BenchmarkFeedFanout through real SSE
// connections over loopback: each subscriber's goroutine writes and
// flushes every frame (one write system call per event and subscriber),
// and n clients in this process read them. The clients' reading is in
// the figure too, so it overstates the gateway's share.
func BenchmarkStreamFanoutHTTP(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			f := newFeed(feedRing, b.N+16, time.Now)
			done := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = serveStream(w, r, f, nil, "", done, time.Hour)
			}))
			defer srv.Close()
			var wg sync.WaitGroup
			for range n {
				resp, err := http.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				br := bufio.NewReader(resp.Body)
				if _, err := br.ReadString('\n'); err != nil { // retry:
					b.Fatal(err)
				}
				wg.Go(func() {
					defer resp.Body.Close()
					for got := 0; got < b.N; {
						line, err := br.ReadSlice('\n')
						if err != nil && err != bufio.ErrBufferFull {
							return
						}
						if len(line) > 5 && string(line[:5]) == "data:" {
							got++
						}
					}
				})
			}
			for f.subscribers() < n {
				time.Sleep(time.Millisecond)
			}
			b.ResetTimer()
			for range b.N {
				f.publish(&streamEvent{Kind: kindVerified, Source: "github", EventID: "evt_0123456789", Type: "push", Status: 202, Recorded: true})
			}
			wg.Wait()
			b.StopTimer()
			close(done)
			if f.dropped.Load() != 0 {
				b.Fatalf("%d subscribers cut off", f.dropped.Load())
			}
		})
	}
}
