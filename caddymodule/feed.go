package caddymodule

import (
	"crypto/rand"
	"encoding/json"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/sdk/receive"
)

// The kinds of stream events: one per decision of a webhook_verify
// handler (verified, rejected, duplicate, handshake) and one per delivery
// outcome of the app's engines (retry, delivered, dead).
const (
	kindVerified  = "verified"  // passed verification: forwarded, or recorded for delivery
	kindRejected  = "rejected"  // turned away (or, in shadow mode, would have been), with its reason
	kindDuplicate = "duplicate" // a verified event completed before: answered without forwarding
	kindHandshake = "handshake" // a provider's verification handshake, answered by the gateway
	kindRetry     = "retry"     // a delivery attempt failed; the delivery is retried later
	kindDelivered = "delivered" // the destination accepted the event
	kindDead      = "dead"      // the delivery ran out of attempts or age, or failed for good
)

// Feed limits.
const (
	// feedRing is how many recent stream events a feed keeps for
	// Last-Event-ID resumes.
	feedRing = 2048
	// feedBuffer is each subscriber's buffer: a subscriber that falls this
	// far behind is cut off (counted) and resumes from the ring.
	feedBuffer = 256
)

// streamEvent is one event of the live stream. It holds names, ids,
// statuses and reasons: never a body, a header, a signature or a secret.
// It is immutable once published, and shared by every subscriber.
type streamEvent struct {
	seq uint64 // set by fanoutLocked
	// rid is the event's entry id in the Redis Stream of the gateways
	// sharing Redis, when it came through it (feedredis.go).
	rid string

	Kind   string    `json:"kind"`
	At     time.Time `json:"at"`
	Source string    `json:"source"`
	// EventID is the provider's event id, as the events API names it.
	EventID string `json:"id,omitempty"`
	Type    string `json:"type,omitempty"`
	// Reason is a rejection's stable reason, or why a delivery died.
	Reason string `json:"reason,omitempty"`
	// Status is the HTTP status answered to the provider (verified,
	// rejected, duplicate, handshake) or answered by the destination
	// (retry, delivered, dead; 0 when none came).
	Status int `json:"status,omitempty"`
	// Key names the secret that matched (never its value).
	Key string `json:"key,omitempty"`
	// Recorded: the verified event is recorded (its source has a deliver
	// block), so GET /hookgate/events/{source}/{id} has its body.
	Recorded bool `json:"recorded,omitempty"`
	// Shadow: shadow mode forwarded a webhook that failed a check.
	Shadow bool `json:"shadow,omitempty"`
	// Destination, Attempt, LatencyMS, NextAt and Error describe a
	// delivery attempt (retry, delivered, dead).
	Destination string     `json:"destination,omitempty"`
	Attempt     int        `json:"attempt,omitempty"`
	LatencyMS   float64    `json:"latency_ms,omitempty"`
	NextAt      *time.Time `json:"next_at,omitempty"`
	Error       string     `json:"error,omitempty"`
	// Resumed marks a recorded event sent from the store on a resume
	// whose position the ring no longer holds (after a gateway restart):
	// it may have been sent before.
	Resumed bool `json:"resumed,omitempty"`

	epoch string
	data  []byte // the JSON as read from Redis, when it came through it
	once  sync.Once
	frame []byte
}

// id returns the event's SSE id: its entry id when it came through the
// gateways' shared stream ("<unix ms>-<n>", the same on every gateway),
// else "<epoch>-<seq>-<unix ms>", this feed's. Clients treat it as opaque
// and send it back as Last-Event-ID.
func (ev *streamEvent) id() string {
	if ev.rid != "" {
		return ev.rid
	}
	if ev.seq == 0 {
		return ""
	}
	return ev.epoch + "-" + strconv.FormatUint(ev.seq, 10) + "-" + strconv.FormatInt(ev.At.UnixMilli(), 10)
}

// sse returns the event as one Server-Sent Events frame (id, event and
// data lines, then a blank line), encoded once for every subscriber.
func (ev *streamEvent) sse() []byte {
	ev.once.Do(func() {
		data := ev.data
		if data == nil {
			var err error
			if data, err = json.Marshal(ev); err != nil {
				data = []byte(`{"kind":"error"}`)
			}
		}
		var b []byte
		if id := ev.id(); id != "" {
			b = append(append(append(b, "id: "...), id...), '\n')
		}
		b = append(append(append(b, "event: "...), ev.Kind...), '\n')
		b = append(append(append(b, "data: "...), data...), "\n\n"...)
		ev.frame = b
	})
	return ev.frame
}

// feed is the in-process broker of the live stream. Every decision of
// every webhook_verify handler and every delivery outcome of the app's
// engines is published to it as one streamEvent: numbered, kept in a
// ring of the most recent ones (for Last-Event-ID resumes), counted per
// source (for the console's health), and offered to each subscriber
// without ever blocking the publisher. A subscriber whose buffer is full
// is cut off (caddy_webhook_stream_dropped_total) and resumes from the
// ring when it reconnects.
//
// When the gateways share Redis, the feed's events go through the
// shared stream (feedredis.go) and come back, with every other gateway's,
// from its reader: emitLocked hands an event to the shared stream, or,
// when it cannot take it, straight to fanoutLocked, which numbers, keeps
// and offers an event to the subscribers.
//
// One feed lives in the usage pool across configuration reloads, so a
// reload neither empties the ring nor renumbers events. A nil *feed
// ignores everything. A feed is safe for concurrent use.
type feed struct {
	epoch  string // this feed's numbering; another process (or feed) has another
	now    func() time.Time
	buffer int

	mu       sync.Mutex
	seq      uint64
	ring     []*streamEvent // ring[seq % len(ring)]
	subs     map[*subscriber]struct{}
	activity map[string]*activity
	closed   bool

	// shared is the link to the gateways' shared stream, when they
	// share Redis; cursor is the last entry of it fanned out.
	shared *sharedStream
	cursor streamCursor

	// The events of first attempts waiting for their decision, and the
	// keys of recent decisions (see hold).
	held     map[eventKey][]held
	nHeld    int
	sweeping bool
	decided  [keptKeys]eventKey // direct-mapped by key: recent decisions

	dropped atomic.Uint64
}

// subscriber is one stream's end of the feed: events of its source (all
// sources when empty) arrive on ch, which the feed closes when it cuts
// the subscriber off or is destroyed.
type subscriber struct {
	source string
	ch     chan *streamEvent
	// after: shared events up to this entry id are not sent (a resume
	// from an id this gateway's reader has not reached yet). f.mu.
	after string
	// fetch is what a resume still reads from Redis, before the backlog.
	fetch *sharedFetch
}

// newFeed returns a feed keeping ring recent events, with a buffer of
// buffer events per subscriber.
func newFeed(ring, buffer int, now func() time.Time) *feed {
	return &feed{
		epoch:    strings.ToLower(rand.Text()[:8]),
		now:      now,
		buffer:   buffer,
		ring:     make([]*streamEvent, ring),
		subs:     map[*subscriber]struct{}{},
		activity: map[string]*activity{},
	}
}

// Destruct cuts every subscriber off; the feed takes no more of them.
// It implements caddy.Destructor, for the usage pool.
func (f *feed) Destruct() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for s := range f.subs {
		delete(f.subs, s)
		close(s.ch)
	}
	return nil
}

// publish counts ev in its source's activity and sends it on to the
// subscribers: through the shared stream when the gateways share Redis.
func (f *feed) publish(ev *streamEvent) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emitLocked(ev)
}

// emitLocked is publish with f.mu held.
func (f *feed) emitLocked(ev *streamEvent) {
	if ev.At.IsZero() {
		ev.At = f.now()
	}
	f.activityOf(ev.Source).add(ev)
	if f.shared != nil && f.shared.offer(ev) {
		return // it comes back from the reader
	}
	f.fanoutLocked(ev)
}

// fanoutLocked numbers ev, keeps it in the ring and offers it to the
// subscribers. f.mu is held.
func (f *feed) fanoutLocked(ev *streamEvent) {
	ev.epoch = f.epoch
	f.seq++
	ev.seq = f.seq
	f.ring[ev.seq%uint64(len(f.ring))] = ev
	for s := range f.subs {
		if s.source != "" && s.source != ev.Source {
			continue
		}
		if s.after != "" && ev.rid != "" {
			if !entryAfter(ev.rid, s.after) {
				continue // sent by the resume already
			}
			s.after = ""
		}
		select {
		case s.ch <- ev:
		default:
			// Never wait for a subscriber: cut it off. It has what its
			// buffer holds, then reconnects with the last id it saw.
			delete(f.subs, s)
			close(s.ch)
			f.dropped.Add(1)
			streamDropped.Inc()
		}
	}
}

// The order of a recorded event's stream events. Its first attempt may
// end before the handler's decision is reported (a live attempt is made
// within the provider's request; an async one can be quick): the events
// of a first attempt wait for the decision of their event, for at most
// holdFor, so that the stream reads verified, then delivered.
const (
	holdFor  = 5 * time.Second
	maxHeld  = 1024 // events waiting at once; past it, published at once
	keptKeys = 4096 // recent decisions remembered (fewer on a slot collision)
)

// eventKey names an event by a hash of its source and id: cheap to
// keep and compare on every request. A collision at worst lets one event
// of a first attempt out before its decision.
type eventKey uint64

// keyOf returns the key of source/id.
func keyOf(source, id string) eventKey {
	var h maphash.Hash
	h.SetSeed(keySeed)
	h.WriteString(source)
	h.WriteByte(0)
	h.WriteString(id)
	return eventKey(h.Sum64())
}

var keySeed = maphash.MakeSeed()

// held is a stream event waiting for its event's decision.
type held struct {
	ev    *streamEvent
	until time.Time
}

// hold keeps ev until the decision of key is published, unless that
// decision was already published. f.mu is held.
func (f *feed) hold(key eventKey, ev *streamEvent) bool {
	if f.decided[key%keptKeys] == key || f.nHeld >= maxHeld {
		return false
	}
	if f.held == nil {
		f.held = map[eventKey][]held{}
	}
	f.held[key] = append(f.held[key], held{ev, f.now().Add(holdFor)})
	f.nHeld++
	if !f.sweeping {
		f.sweeping = true
		time.AfterFunc(holdFor, f.releaseStale)
	}
	return true
}

// decide remembers that key's decision was published, and publishes the
// events that waited for it. f.mu is held.
func (f *feed) decide(key eventKey) {
	f.decided[key%keptKeys] = key
	if hs, ok := f.held[key]; ok {
		for _, h := range hs {
			f.emitLocked(h.ev)
		}
		f.nHeld -= len(hs)
		delete(f.held, key)
	}
}

// releaseStale publishes the events that waited past their time (a
// decision that never came: a first attempt of a replayed event).
func (f *feed) releaseStale() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweeping = false
	now := f.now()
	for key, hs := range f.held {
		if hs[0].until.After(now) {
			continue
		}
		for _, h := range hs {
			f.emitLocked(h.ev)
		}
		f.nHeld -= len(hs)
		delete(f.held, key)
	}
	if f.nHeld > 0 && !f.closed {
		f.sweeping = true
		time.AfterFunc(holdFor, f.releaseStale)
	}
}

// decision publishes what a webhook_verify handler decided about one
// request; recorded says whether a verified event was recorded for
// delivery (the handler has a deliver block).
func (f *feed) decision(d *receive.Decision, recorded bool) {
	if f == nil {
		return
	}
	ev := &streamEvent{Source: d.Source, EventID: d.EventID, Type: d.EventType, Key: d.Key, Shadow: d.Shadow}
	switch d.Outcome {
	case receive.OutcomeForwarded:
		ev.Kind, ev.Status = kindVerified, d.UpstreamStatus
		ev.Recorded = recorded && d.UpstreamStatus >= 200 && d.UpstreamStatus < 300
	case receive.OutcomeShadowForwarded:
		ev.Kind, ev.Status, ev.Reason = kindRejected, d.Status, string(d.Reason)
	case receive.OutcomeRejected:
		ev.Kind, ev.Status, ev.Reason = kindRejected, d.Status, string(d.Reason)
	case receive.OutcomeDuplicate:
		ev.Kind, ev.Status = kindDuplicate, d.Status
	case receive.OutcomeHandshake:
		ev.Kind, ev.Status = kindHandshake, d.Status
	default:
		return
	}
	if ev.Status < 0 {
		ev.Status = 0 // the next handler failed before writing
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emitLocked(ev)
	if recorded && ev.EventID != "" {
		// Only a recorded event has attempts that may wait for it.
		f.decide(keyOf(ev.Source, ev.EventID))
	}
}

// notice publishes a delivery engine's notice: a failed attempt (retry),
// a delivery, a dead delivery. Attempts also count in the source's
// activity.
func (f *feed) notice(n *delivery.Notice) {
	if f == nil {
		return
	}
	ev := &streamEvent{
		Source: n.Queue.Source, Destination: n.Queue.Destination, EventID: n.ID, Type: n.Type,
		Attempt: n.Number, Status: n.Attempt.StatusCode, Error: n.Attempt.Error,
		LatencyMS: float64(n.Attempt.Latency.Microseconds()) / 1000,
	}
	switch n.Kind {
	case delivery.NoticeAttempt:
		f.attempt(n)
		if n.Status != delivery.StatusPending {
			return // a delivered or dead notice follows
		}
		ev.Kind = kindRetry
		if !n.NextAt.IsZero() {
			next := n.NextAt.UTC()
			ev.NextAt = &next
		}
	case delivery.NoticeDelivered:
		ev.Kind = kindDelivered
	case delivery.NoticeDead:
		ev.Kind, ev.Reason = kindDead, n.Reason
	default:
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n.Number == 1 && f.hold(keyOf(ev.Source, ev.EventID), ev) {
		return
	}
	f.emitLocked(ev)
}

// attempt counts one delivery attempt in its source's activity.
func (f *feed) attempt(n *delivery.Notice) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.activityOf(n.Queue.Source).attempt(f.now(), n.Attempt.Latency, n.Status == delivery.StatusDelivered)
}

// activityOf returns source's activity, made on first use. f.mu is held.
func (f *feed) activityOf(source string) *activity {
	a := f.activity[source]
	if a == nil {
		a = &activity{}
		f.activity[source] = a
	}
	return a
}

// subscribe registers a subscriber to source's events (every source's
// when empty) and returns it with the events it missed: after lastID (an
// SSE id this feed or another wrote), the ring's events that follow it.
// When the ring no longer reaches back to lastID (another epoch: the
// gateway restarted; or too many events since), backlog is the whole
// ring and since is when the event lastID names happened: the caller
// sends the recorded events since then from the store first. Without a
// lastID the subscriber gets live events only. A lastID that is an entry
// id of the gateways' shared stream resumes as resumeSharedLocked says.
func (f *feed) subscribe(source, lastID string) (s *subscriber, backlog []*streamEvent, since time.Time, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, nil, time.Time{}, false
	}
	s = &subscriber{source: source, ch: make(chan *streamEvent, f.buffer)}
	f.subs[s] = struct{}{}
	streamSubscribers.Inc()
	if _, _, ok := parseEntryID(lastID); ok {
		backlog, since = f.resumeSharedLocked(s, lastID)
		return s, backlog, since, true
	}
	epoch, seq, at, parsed := parseStreamID(lastID)
	if !parsed {
		return s, nil, time.Time{}, true
	}
	size := uint64(len(f.ring))
	oldest := uint64(1)
	if f.seq > size {
		oldest = f.seq - size + 1
	}
	from := oldest
	if epoch == f.epoch && seq <= f.seq && seq+1 >= oldest {
		from = seq + 1
	} else {
		since = at
	}
	for i := from; i <= f.seq; i++ {
		if ev := f.ring[i%size]; ev != nil && (source == "" || ev.Source == source) {
			backlog = append(backlog, ev)
		}
	}
	return s, backlog, since, true
}

// unsubscribe removes s, unless the feed already cut it off.
func (f *feed) unsubscribe(s *subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	streamSubscribers.Dec()
	if _, ok := f.subs[s]; ok {
		delete(f.subs, s)
		close(s.ch)
	}
}

// parseStreamID splits an SSE id written by streamEvent.id.
func parseStreamID(id string) (epoch string, seq uint64, at time.Time, ok bool) {
	parts := strings.Split(id, "-")
	if len(parts) != 3 {
		return "", 0, time.Time{}, false
	}
	seq, err1 := strconv.ParseUint(parts[1], 10, 64)
	ms, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || parts[0] == "" {
		return "", 0, time.Time{}, false
	}
	return parts[0], seq, time.UnixMilli(ms), true
}

// sourceActivity returns a snapshot of each source's recent activity at
// now.
func (f *feed) sourceActivity(now time.Time) map[string]activityStats {
	out := map[string]activityStats{}
	if f == nil {
		return out
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, a := range f.activity {
		out[name] = a.stats(now)
	}
	return out
}

// activityWindow is the span of the counts the console's health reads,
// in activityBucket steps.
const (
	activityBucket  = time.Minute
	activityBuckets = 15
	latencySamples  = 256
)

// activity counts one source's decisions and delivery attempts in
// one-minute buckets over the last activityBuckets minutes, and keeps the
// latencies of its last latencySamples attempts.
type activity struct {
	buckets  [activityBuckets]counts
	stamps   [activityBuckets]int64 // the minute each bucket counts
	lastSeen time.Time              // last request of any outcome
	lastOK   time.Time              // last verified event
	reason   string                 // the last rejection's reason
	latency  [latencySamples]time.Duration
	nLatency int
}

// counts are one bucket's counters.
type counts struct {
	Requests, Verified, Rejected, Duplicates int
	Attempts, Delivered, Dead, Failed        int
}

func (c *counts) addAll(o counts) {
	c.Requests += o.Requests
	c.Verified += o.Verified
	c.Rejected += o.Rejected
	c.Duplicates += o.Duplicates
	c.Attempts += o.Attempts
	c.Delivered += o.Delivered
	c.Dead += o.Dead
	c.Failed += o.Failed
}

// bucket returns the bucket counting the minute of t, emptied if it last
// counted another minute.
func (a *activity) bucket(t time.Time) *counts {
	m := t.UnixNano() / int64(activityBucket)
	i := int(m % activityBuckets)
	if a.stamps[i] != m {
		a.stamps[i], a.buckets[i] = m, counts{}
	}
	return &a.buckets[i]
}

func (a *activity) add(ev *streamEvent) {
	b := a.bucket(ev.At)
	switch ev.Kind {
	case kindVerified, kindRejected, kindDuplicate:
		b.Requests++
		a.lastSeen = ev.At
	}
	switch ev.Kind {
	case kindVerified:
		b.Verified++
		a.lastOK = ev.At
	case kindRejected:
		b.Rejected++
		a.reason = ev.Reason
	case kindDuplicate:
		b.Duplicates++
	case kindDelivered:
		b.Delivered++
	case kindDead:
		b.Dead++
	}
}

func (a *activity) attempt(now time.Time, latency time.Duration, ok bool) {
	b := a.bucket(now)
	b.Attempts++
	if !ok {
		b.Failed++
	}
	a.latency[a.nLatency%latencySamples] = latency
	a.nLatency++
}

// activityStats is a snapshot of a source's activity.
type activityStats struct {
	Window   counts // over the last activityBuckets minutes
	LastSeen time.Time
	LastOK   time.Time
	Reason   string
	Latency  []time.Duration // the last attempts' latencies, unordered
}

func (a *activity) stats(now time.Time) activityStats {
	st := activityStats{LastSeen: a.lastSeen, LastOK: a.lastOK, Reason: a.reason}
	cur := now.UnixNano() / int64(activityBucket)
	for i := range a.buckets {
		if cur-a.stamps[i] < activityBuckets {
			st.Window.addAll(a.buckets[i])
		}
	}
	st.Latency = append(st.Latency, a.latency[:min(a.nLatency, latencySamples)]...)
	return st
}

// subscribers returns how many subscribers the feed has.
func (f *feed) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}
