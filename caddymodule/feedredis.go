package caddymodule

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/hookgate/hookgate/sdk/relay"
)

// The live stream across gateways.
//
// When the hookgate app has a source delivering through a Redis store,
// the gateways running that config share Redis, and so does their live
// stream: each gateway appends its stream events to one Redis Stream,
// <prefix>{stream}:events (the redis block's prefix, "hookgate:" by
// default; one key, hash-tagged so that any sibling key lands in its
// Cluster slot), and one reader per gateway (not per subscriber) follows
// it with XREAD BLOCK and fans its entries out to the local subscribers.
// Every subscriber of every gateway so sees every gateway's events, each
// once and in one order, the stream's; an event's SSE id is its entry's
// id ("1764000000123-0"), the same on every gateway, so a Last-Event-ID
// from one gateway resumes on another: from the ring when it reaches back
// that far, else with XREVRANGE from Redis (the stream keeps about
// sharedStreamLen entries).
//
// An entry holds the publishing gateway's feed epoch (o), the event's JSON
// (d: what the data line shows; names, ids, statuses, reasons; never a
// body, a header or a secret) and, for a source recorded on an embedded
// store, l=1: only the gateway that recorded it shows it, since only that
// gateway's events API has its body and attempts. Its events still go
// through Redis, so that the stream has one order and one kind of id.
//
// Publishing never blocks or fails a webhook: the request's goroutine
// puts the event on a bounded queue, and a publisher goroutine sends
// XADDs in pipelined batches. An event that cannot go (the queue is full:
// Redis is slow; Redis is down; the reader has not found its position
// yet) is shown on this gateway's stream only, with a local id, and
// counted in caddy_webhook_stream_publish_dropped_total. While Redis is
// down a subscriber sees this gateway's own events, live, and none of the
// others'; when Redis answers again the reader goes on from the last
// entry it read, so the entries others could append meanwhile arrive
// late rather than never.

// Shared stream limits.
const (
	// sharedStreamLen is about how many entries the Redis Stream keeps
	// (XADD MAXLEN ~): how far back a resume through Redis reaches.
	sharedStreamLen = 10000
	// sharedQueue bounds the events waiting for the publisher.
	sharedQueue = 1024
	// sharedBatch bounds the XADDs sent in one round trip.
	sharedBatch = 128
	// sharedReadCount bounds the entries one XREAD takes.
	sharedReadCount = 512
	// sharedReadBlock is how long one XREAD waits for entries; Stop waits
	// for the reader's current one, so it bounds what a reload waits.
	sharedReadBlock = time.Second
	// sharedRetryMax bounds the wait between attempts to reach Redis.
	sharedRetryMax = 2 * time.Second
	// sharedFetchPage is the entries one XREVRANGE of a resume takes.
	sharedFetchPage = 500
	// sharedFetchTimeout bounds a resume's reading from Redis.
	sharedFetchTimeout = 5 * time.Second
)

// The reasons of caddy_webhook_stream_publish_dropped_total.
const (
	dropQueueFull   = "queue_full"  // Redis too slow for the rate of events
	dropUnavailable = "unavailable" // Redis down, or the stream not read yet
)

// The shared stream's metrics, shared by every config like the feed.
var (
	streamPublished = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "stream_published_total",
		Help: "Live stream events published to the Redis Stream the gateways sharing Redis read.",
	})
	streamPublishDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "stream_publish_dropped_total",
		Help: "Live stream events not published to Redis (queue_full: Redis too slow; unavailable: Redis down or not read yet), shown on this gateway's stream only.",
	}, []string{"reason"})
	streamShared = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "stream_shared",
		Help: "1 while this gateway's live stream goes through Redis (every gateway's events), 0 while it shows this gateway's own only.",
	}, func() float64 {
		if a := running.Load(); a != nil && a.console.feed.sharedUp() {
			return 1
		}
		return 0
	})
	dropsQueueFull   = streamPublishDropped.WithLabelValues(dropQueueFull)
	dropsUnavailable = streamPublishDropped.WithLabelValues(dropUnavailable)
)

// sharedStream is a feed's link to the Redis Stream of the gateways
// sharing Redis: a queue and a publisher goroutine appending the feed's
// events to the stream, and a reader goroutine fanning the stream's
// entries out through the feed. Each configuration makes its own (from
// its Redis client) and attaches it to the process's feed in App.Start;
// the feed uses the one attached last and still running.
type sharedStream struct {
	feed   *feed
	client redis.UniversalClient
	key    string
	// name tells streams apart: the Redis client's key (no secret) and
	// key. A feed's cursor is in the stream of one name.
	name string
	// local names the sources recorded on an embedded store: only this
	// gateway shows their events.
	local  map[string]bool
	logger *zap.Logger

	queue chan *streamEvent
	// up: Redis answered the last call, and the reader knows where it
	// is. While it is not, the feed shows its events locally.
	up atomic.Bool

	cancel  context.CancelFunc
	running sync.WaitGroup

	// Set under the feed's mu.
	prev    *sharedStream // attached before this one (the previous config's)
	stopped bool
}

// startSharedStream shares f's stream through the Redis of the first
// Redis store of specs (by key), when there is one, and returns the
// running link (nil otherwise). relays names the sources of each store:
// those recorded on an embedded store stay on this gateway.
func startSharedStream(ctx caddy.Context, f *feed, specs map[string]storeSpec, relays map[string][]*relay.Relay, logger *zap.Logger) *sharedStream {
	if f == nil {
		return nil
	}
	var spec *storeSpec
	local := map[string]bool{}
	for key, s := range specs {
		if s.kind != "redis" {
			for _, rl := range relays[key] {
				local[rl.Source()] = true
			}
			continue
		}
		if spec == nil || cmp.Less(key, spec.key()) {
			spec = &s
		}
	}
	if spec == nil || spec.client == nil {
		return nil
	}
	if err := registerAll(ctx.GetMetricsRegistry(), streamPublished, streamPublishDropped, streamShared); err != nil {
		logger.Warn("live stream: metrics not registered", zap.Error(err))
	}
	sh := newSharedStream(f, spec.client, sharedStreamKey(spec.prefix), local, logger)
	sh.name = spec.path + "|" + sh.key
	sh.start()
	return sh
}

// sharedStreamKey returns the stream's key for a Redis store whose
// prefix is prefix: the redis block's prefix (the store's, without
// deliverKeySpace) + "{stream}:events".
func sharedStreamKey(prefix string) string {
	return strings.TrimSuffix(prefix, deliverKeySpace) + "{stream}:events"
}

// newSharedStream returns a link of f to the stream at key, not started.
func newSharedStream(f *feed, client redis.UniversalClient, key string, local map[string]bool, logger *zap.Logger) *sharedStream {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &sharedStream{feed: f, client: client, key: key, name: key, local: local, logger: logger,
		queue: make(chan *streamEvent, sharedQueue)}
}

// start attaches the link to its feed and starts its goroutines.
func (sh *sharedStream) start() {
	ctx, cancel := context.WithCancel(context.Background())
	sh.cancel = cancel
	sh.feed.attach(sh)
	sh.running.Go(func() { sh.publish(ctx) })
	sh.running.Go(func() { sh.read(ctx) })
}

// stop detaches the link and waits for its goroutines: the reader's
// current XREAD (sharedReadBlock at most), the publisher's last batch.
// A nil link does nothing.
func (sh *sharedStream) stop() {
	if sh == nil {
		return
	}
	sh.feed.detach(sh)
	sh.cancel()
	sh.running.Wait()
}

// offer queues ev for the publisher and reports whether it did: not while
// Redis is unavailable, nor when the queue is full (both counted). It
// never blocks.
func (sh *sharedStream) offer(ev *streamEvent) bool {
	if !sh.up.Load() {
		dropsUnavailable.Inc()
		return false
	}
	select {
	case sh.queue <- ev:
		return true
	default:
		dropsQueueFull.Inc()
		return false
	}
}

// publish sends the queued events to Redis until ctx ends, then what is
// left in the queue.
func (sh *sharedStream) publish(ctx context.Context) {
	batch := make([]*streamEvent, 0, sharedBatch)
	for {
		select {
		case <-ctx.Done():
			// The link is detached: nothing more comes. What was queued
			// goes out, or is shown here, within a few read timeouts.
			last, cancel := context.WithTimeout(context.Background(), sharedFetchTimeout)
			defer cancel()
			for batch = sh.take(batch[:0]); len(batch) > 0; batch = sh.take(batch[:0]) {
				sh.send(last, batch)
			}
			return
		case ev := <-sh.queue:
			batch = sh.take(append(batch[:0], ev))
			sh.send(ctx, batch)
		}
	}
}

// take appends the queued events to batch, up to sharedBatch, without
// waiting.
func (sh *sharedStream) take(batch []*streamEvent) []*streamEvent {
	for len(batch) < sharedBatch {
		select {
		case ev := <-sh.queue:
			batch = append(batch, ev)
		default:
			return batch
		}
	}
	return batch
}

// send appends batch to the stream in one round trip. The events Redis
// did not take are shown on this gateway only.
func (sh *sharedStream) send(ctx context.Context, batch []*streamEvent) {
	pipe := sh.client.Pipeline()
	for _, ev := range batch {
		pipe.XAdd(ctx, sh.entry(ev))
	}
	cmds, err := pipe.Exec(ctx)
	if err == nil {
		streamPublished.Add(float64(len(batch)))
		return
	}
	n := 0
	for i, ev := range batch {
		if i < len(cmds) && cmds[i].Err() == nil {
			n++
			continue
		}
		dropsUnavailable.Inc()
		sh.feed.fallback(ev)
	}
	streamPublished.Add(float64(n))
	if ctx.Err() == nil {
		sh.down(err)
	}
}

// entry returns the XADD of ev.
func (sh *sharedStream) entry(ev *streamEvent) *redis.XAddArgs {
	data, err := json.Marshal(ev)
	if err != nil {
		data = []byte(`{"kind":"error"}`)
	}
	values := []any{"o", sh.feed.epoch, "d", data}
	if sh.local[ev.Source] {
		values = append(values, "l", "1")
	}
	return &redis.XAddArgs{Stream: sh.key, MaxLen: sharedStreamLen, Approx: true, Values: values}
}

// read follows the stream until ctx ends: while the link is the feed's,
// it finds its position (the entry after which the feed reads on), then
// reads the entries after it and hands them to the feed.
func (sh *sharedStream) read(ctx context.Context) {
	wait := 50 * time.Millisecond
	pause := func(d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	for ctx.Err() == nil {
		from, current := sh.feed.position(sh)
		if !current {
			pause(sharedReadBlock) // another config's link reads
			continue
		}
		if from == "" || !sh.up.Load() {
			// Redis answers before the link is up; the position is the
			// stream's last entry when the feed has none for this key.
			last, err := sh.client.XRevRangeN(ctx, sh.key, "+", "-", 1).Result()
			if err != nil {
				sh.down(err)
				pause(wait)
				wait = min(2*wait, sharedRetryMax)
				continue
			}
			wait = 50 * time.Millisecond
			if from == "" {
				start := "0-0"
				if len(last) > 0 {
					start = last[0].ID
				}
				sh.feed.setPosition(sh, start)
			}
			sh.setUp()
			continue
		}
		res, err := sh.client.XRead(ctx, &redis.XReadArgs{
			Streams: []string{sh.key, from}, Count: sharedReadCount, Block: sharedReadBlock,
		}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			if ctx.Err() == nil {
				sh.down(err)
				pause(wait)
				wait = min(2*wait, sharedRetryMax)
			}
			continue
		}
		for _, st := range res {
			entries := make([]sharedEntry, len(st.Messages))
			for i, m := range st.Messages {
				entries[i] = decodeEntry(m, sh.feed.epoch)
			}
			sh.feed.received(sh, entries)
		}
	}
}

// setUp records that Redis answers; down that it did not.
func (sh *sharedStream) setUp() {
	if !sh.up.Swap(true) {
		sh.logger.Info("live stream: shared through Redis", zap.String("stream", sh.key))
	}
}

func (sh *sharedStream) down(err error) {
	if sh.up.Swap(false) {
		sh.logger.Warn("live stream: Redis unavailable; showing this gateway's events only until it answers",
			zap.String("stream", sh.key), zap.Error(err))
	}
}

// sharedEntry is one entry of the stream, as the reader decoded it.
type sharedEntry struct {
	id string
	// ev is nil for an entry this gateway does not show: another
	// gateway's event of a source it recorded on an embedded store, or
	// one that does not decode.
	ev *streamEvent
	// remote: another gateway published it.
	remote bool
}

// decodeEntry decodes m for the feed whose epoch is self.
func decodeEntry(m redis.XMessage, self string) sharedEntry {
	e := sharedEntry{id: m.ID}
	origin, _ := m.Values["o"].(string)
	e.remote = origin != self
	if l, _ := m.Values["l"].(string); l == "1" && e.remote {
		return e
	}
	d, _ := m.Values["d"].(string)
	data := []byte(d)
	ev := &streamEvent{}
	if json.Unmarshal(data, ev) != nil || ev.Kind == "" {
		return e
	}
	ev.rid = m.ID
	if !strings.ContainsAny(d, "\r\n") {
		ev.data = data // the data line as published
	}
	e.ev = ev
	return e
}

// sharedFetch is what a resume still has to read from Redis: the
// entries after from, up to to (an entry id, or "(id" for up to it
// excluded), of source (every source when empty).
type sharedFetch struct {
	sh       *sharedStream
	source   string
	from, to string
	at       time.Time // when from was appended
}

// run reads the fetch's entries, oldest first: at most maxStreamResume of
// the newest, and whether there were more. complete is false when from
// is no longer in the stream (trimmed, or another Redis) or Redis did not
// answer: the caller resumes the store from at for what may be missing.
func (p *sharedFetch) run(ctx context.Context) (evs []*streamEvent, more, complete bool) {
	ctx, cancel := context.WithTimeout(ctx, sharedFetchTimeout)
	defer cancel()
	end := p.to
	defer func() { slices.Reverse(evs) }()
	for {
		msgs, err := p.sh.client.XRevRangeN(ctx, p.sh.key, end, p.from, sharedFetchPage).Result()
		if err != nil {
			return evs, false, false
		}
		for _, m := range msgs {
			if m.ID == p.from {
				return evs, false, true
			}
			e := decodeEntry(m, p.sh.feed.epoch)
			if e.ev == nil || (p.source != "" && e.ev.Source != p.source) {
				continue
			}
			if len(evs) == maxStreamResume {
				return evs, true, true
			}
			evs = append(evs, e.ev)
		}
		if len(msgs) < sharedFetchPage {
			return evs, false, false
		}
		end = "(" + msgs[len(msgs)-1].ID
	}
}

// parseEntryID splits a stream entry id, "<ms>-<n>".
func parseEntryID(id string) (ms, n uint64, ok bool) {
	a, b, found := strings.Cut(id, "-")
	if !found {
		return 0, 0, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	n, err2 := strconv.ParseUint(b, 10, 64)
	return ms, n, err1 == nil && err2 == nil
}

// entryAfter reports whether entry id a comes after b; every id comes
// after "".
func entryAfter(a, b string) bool {
	if b == "" {
		return true
	}
	am, an, _ := parseEntryID(a)
	bm, bn, _ := parseEntryID(b)
	return am > bm || (am == bm && an > bn)
}

// streamCursor is the last entry of the stream named name that a feed
// fanned out (or, before any, the entry its reader started after).
type streamCursor struct {
	name, id string
}

// attach makes sh the link the feed publishes through and reads from.
// The previous one (the old config's, during a reload) is kept to fall
// back on, should sh stop first (a new config that fails to start). A
// reload's link to the same stream reads on from the feed's cursor, and
// is up at once if the old one was: no event of the reload stays local.
func (f *feed) attach(sh *sharedStream) {
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := f.shared
	sh.prev = prev
	f.shared = sh
	if f.cursor.name != sh.name {
		f.cursor = streamCursor{name: sh.name}
	} else if prev != nil && prev.name == sh.name && f.cursor.id != "" && prev.up.Load() {
		sh.up.Store(true)
	}
}

// detach stops the feed from using sh: the feed goes back to the link
// attached before it that still runs, or to its own events only.
func (f *feed) detach(sh *sharedStream) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sh.stopped = true
	if f.shared != sh {
		for p := f.shared; p != nil; p = p.prev {
			if p.prev == sh {
				p.prev = sh.prev
				break
			}
		}
		sh.prev = nil
		return
	}
	p := sh.prev
	for p != nil && p.stopped {
		p = p.prev
	}
	f.shared, sh.prev = p, nil
	if p == nil {
		f.cursor = streamCursor{}
	} else if f.cursor.name != p.name {
		f.cursor = streamCursor{name: p.name}
	}
}

// position returns the entry after which sh reads on ("" when it has to
// find it), and whether sh is the feed's link.
func (f *feed) position(sh *sharedStream) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shared != sh || f.closed {
		return "", false
	}
	return f.cursor.id, true
}

// setPosition sets where the reader of sh starts, unless sh is no
// longer the feed's link or the feed has a position already.
func (f *feed) setPosition(sh *sharedStream, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shared == sh && !f.closed && f.cursor.id == "" {
		f.cursor.id = id
	}
}

// received fans out what the reader of sh read, each entry once: an
// entry at or before the cursor came through already (a reload's two
// readers overlap). Another gateway's decision also releases the first
// attempt this gateway made of its event (see hold).
func (f *feed) received(sh *sharedStream, entries []sharedEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shared != sh || f.closed {
		return
	}
	for _, e := range entries {
		if !entryAfter(e.id, f.cursor.id) {
			continue
		}
		f.cursor.id = e.id
		if e.ev == nil {
			continue
		}
		f.fanoutLocked(e.ev)
		if e.remote && e.ev.EventID != "" {
			switch e.ev.Kind {
			case kindVerified, kindRejected, kindDuplicate, kindHandshake:
				f.decide(keyOf(e.ev.Source, e.ev.EventID))
			}
		}
	}
}

// fallback shows ev, which Redis did not take, on this gateway only.
func (f *feed) fallback(ev *streamEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.fanoutLocked(ev)
	}
}

// sharedUp reports whether the feed's events go through the shared
// stream now.
func (f *feed) sharedUp() bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.shared != nil && f.shared.up.Load()
}

// resumeSharedLocked resumes s after lastID, an entry id of the shared
// stream: with the ring's events after it, when the ring reaches back to
// it; else, when the reader is where it should be, with the entries from
// Redis (s.fetch, which the stream reads first) up to the ring's oldest
// shared event, then the ring; else (Redis unavailable) with the whole
// ring, and lastID's time, from which the stream resumes the store. The
// ring's local events (shown while Redis was unavailable) older than
// lastID are left out: the client saw the shared stream then. An id from
// the future (over a minute ahead) gets live events only. f.mu is held.
func (f *feed) resumeSharedLocked(s *subscriber, lastID string) ([]*streamEvent, time.Time) {
	ms, n, _ := parseEntryID(lastID)
	lastID = strconv.FormatUint(ms, 10) + "-" + strconv.FormatUint(n, 10) // as Redis writes it
	at := time.UnixMilli(int64(min(ms, 1<<62)))
	if at.After(f.now().Add(time.Minute)) {
		return nil, time.Time{}
	}
	// Live events up to lastID are skipped: the reader may not have got
	// there yet (the client came from a gateway that read further).
	s.after = lastID
	size := uint64(len(f.ring))
	var newer []*streamEvent // the ring's events after lastID, newest first
	oldestShared, found := "", false
	for i := f.seq; i > 0 && f.seq-i < size; i-- {
		ev := f.ring[i%size]
		if ev == nil {
			break
		}
		if ev.rid != "" {
			if !entryAfter(ev.rid, lastID) {
				found = true
				break
			}
			oldestShared = ev.rid
		}
		newer = append(newer, ev)
	}
	var backlog []*streamEvent
	for _, ev := range slices.Backward(newer) {
		if (s.source == "" || ev.Source == s.source) && (ev.rid != "" || !ev.At.Before(at)) {
			backlog = append(backlog, ev)
		}
	}
	if found {
		return backlog, time.Time{}
	}
	if sh := f.shared; sh != nil && sh.up.Load() && f.cursor.name == sh.name && f.cursor.id != "" {
		to := f.cursor.id
		if oldestShared != "" {
			to = "(" + oldestShared
		}
		if oldestShared != "" || entryAfter(to, lastID) {
			s.fetch = &sharedFetch{sh: sh, source: s.source, from: lastID, to: to, at: at}
		}
		return backlog, time.Time{}
	}
	return backlog, at
}
