package delivery

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	randv2 "math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Destination configures the deliveries of one source to one destination:
// how many at once, how fast, how long, and how often they are retried.
type Destination struct {
	// Source and Name identify the destination (its [Queue]). Both are
	// required ([CheckName]); a Name is unique within its Source.
	Source, Name string

	// Concurrency bounds the attempts under way at once, per Engine.
	// Live attempts (BeginLive) are the caller's and do not count. While
	// the Engine is busy recording (busyRecording events waiting for the
	// store), attempts start up to a quarter of it.
	//
	// default: 16 (DefaultConcurrency)
	Concurrency int

	// Rate bounds attempts per second, per Engine. Zero: no limit.
	//
	// default: no limit
	Rate rate.Limit

	// Burst is how many attempts may start at once after a pause, when
	// Rate is set.
	//
	// default: 1
	Burst int

	// AttemptTimeout bounds one attempt: its ctx ends then.
	//
	// default: 30s (DefaultAttemptTimeout)
	AttemptTimeout time.Duration

	// Lease is how long a delivery stays leased to an attempt before
	// another worker (another instance, or this one after a restart) may
	// take it over. An attempt that runs past half of it has its lease
	// extended every third of it, while it runs.
	//
	// default: 2 × AttemptTimeout
	Lease time.Duration

	// Backoff spaces retries.
	//
	// default: 1s to 1h, full jitter (see Backoff)
	Backoff Backoff

	// MaxAttempts is the number of attempts (the first included) after
	// which a delivery is dead. A replay grants as many again.
	//
	// default: 100 (DefaultMaxAttempts): about two days at the default
	// backoff, so MaxAge usually comes first
	MaxAttempts int

	// MaxAge is how long after receipt (or a replay) a delivery keeps
	// being retried; the last retry is moved up to this deadline, and the
	// delivery dies when it fails.
	//
	// default: 72h (DefaultMaxAge)
	MaxAge time.Duration

	// MaxRetryAfter caps the wait a destination's Retry-After asks for
	// (which replaces the backoff, unjittered).
	//
	// default: Backoff.Max
	MaxRetryAfter time.Duration

	// RecordWithin is how long a live attempt (BeginLive) may run before
	// its event is written all the same, on a store that can hold an
	// append (an [AppendQueuer]: boltstore). The event is written when
	// the attempt ends or after RecordWithin, whichever comes first: a
	// destination that answers 2xx within it costs one write, which
	// nobody waits for. Negative: the event is durable before the
	// attempt starts (two writes, the first waited for).
	//
	// default: 100ms (DefaultRecordWithin)
	RecordWithin time.Duration
}

// Defaults of [Destination] and [Config].
const (
	DefaultConcurrency    = 16
	DefaultAttemptTimeout = 30 * time.Second
	DefaultMaxAttempts    = 100
	DefaultMaxAge         = 72 * time.Hour
	DefaultRecordWithin   = 100 * time.Millisecond

	DefaultLeaseBatch    = 64
	DefaultPollInterval  = time.Second
	DefaultStatsInterval = 15 * time.Second
	DefaultTrimInterval  = time.Minute
	DefaultKeepDelivered = 72 * time.Hour
	DefaultKeepDead      = 30 * 24 * time.Hour
	DefaultDrainTimeout  = 10 * time.Second
)

// Config configures an [Engine]. Store, Attempt and at least one
// Destination are required.
type Config struct {
	// Store records the events. Engines may share one, in one process
	// (across a configuration reload) or many (Redis).
	Store Store

	// Attempt makes each background attempt.
	Attempt AttemptFunc

	// Destinations lists where events go, one entry per source and
	// destination.
	Destinations []Destination

	// Concurrency bounds the background attempts under way at once across
	// every destination, per Engine; each destination's Concurrency still
	// bounds its own. A destination whose attempts stall holds at most its
	// Concurrency of them, and the others share the rest.
	//
	// default: 0, no bound but the destinations'
	Concurrency int

	// LeaseBatch bounds the deliveries leased by one store call.
	//
	// default: 64 (DefaultLeaseBatch)
	LeaseBatch int

	// PollInterval is the longest an idle worker waits before it looks
	// for due deliveries again. Deliveries enqueued through this Engine
	// and retries it scheduled wake it at once; it polls for the work of
	// other instances and for leases that expired.
	//
	// default: 1s (DefaultPollInterval)
	PollInterval time.Duration

	// StatsInterval is how often each queue's state is reported
	// (NoticeQueue).
	//
	// default: 15s (DefaultStatsInterval)
	StatsInterval time.Duration

	// TrimInterval is how often retention runs.
	//
	// default: 1m (DefaultTrimInterval)
	TrimInterval time.Duration

	// KeepDelivered and KeepDead are how long an event is kept after it
	// was delivered, or died (dead as a whole: see Event.Status).
	// Negative: kept until purged. Engines sharing a store should agree:
	// the shortest wins.
	//
	// default: 72h (DefaultKeepDelivered) and 30 days (DefaultKeepDead)
	KeepDelivered, KeepDead time.Duration

	// DropPayloads records metadata only: an event's headers and body are
	// dropped, in the write that records its last delivery delivered,
	// once every delivery of it is delivered. What is kept until
	// retention trims the event is its source, id, type, times,
	// statuses and attempts. Pending events keep their payload
	// (delivering needs it), and so do dead ones, so that they can be
	// replayed; a delivered event whose payload was dropped cannot be
	// ([ErrPayloadDropped]).
	//
	// default: false (payloads are kept until retention trims the event)
	DropPayloads bool

	// DrainTimeout is how long Run, once its ctx ended, lets attempts
	// under way finish before it cancels them. A cancelled attempt gives
	// its lease back without counting as a try.
	//
	// default: 10s (DefaultDrainTimeout)
	DrainTimeout time.Duration

	// Clock tells the time and waits.
	//
	// default: SystemClock
	Clock Clock

	// Rand returns a number in [0, 1]: the jitter of each backoff.
	//
	// default: math/rand/v2's Float64
	Rand func() float64

	// Observer receives every attempt, delivery, death, queue state and
	// store error. Optional.
	Observer Observer
}

// Engine delivers recorded events: it records them ([Engine.Enqueue],
// [Engine.BeginLive]), and its workers ([Engine.Run]) lease due deliveries
// and attempt them, retrying with backoff until delivered or dead. Make
// one with [New]; it is safe for concurrent use.
type Engine struct {
	store         Store
	attemptFn     AttemptFunc
	clock         Clock
	rand          func() float64
	obs           Observer
	leaseBatch    int
	poll          time.Duration
	statsInterval time.Duration
	trimInterval  time.Duration
	keepDelivered time.Duration
	keepDead      time.Duration
	dropPayloads  bool
	drainTimeout  time.Duration
	slots         chan struct{} // buffered Config.Concurrency; nil: unbounded

	workers  []*worker
	queues   map[Queue]*worker
	bySource map[string][]*worker
	sources  []string

	tokenPrefix string
	tokenSeq    atomic.Uint64
	running     atomic.Bool

	// recording counts the Enqueue and BeginLive calls waiting for the
	// store to make their event durable (see busyRecording).
	recording atomic.Int64
}

// worker runs the deliveries of one queue.
type worker struct {
	e     *Engine
	q     Queue
	d     Destination
	lim   *rate.Limiter // nil: no rate limit
	renew bool          // attempts may outlive half their lease
	wake  chan struct{} // buffered 1: work may be due
	yield chan struct{} // buffered Concurrency/4: attempts started while recording is busy
	slots chan struct{} // buffered Concurrency: one per attempt under way

	inflight sync.WaitGroup

	// unreported holds the outcomes of attempts that the store failed to
	// record (it was down), oldest first: loop reports them again before
	// it leases, so that a delivery made while the store was down is not
	// leased and made again, its lease expired, once the store is back.
	mu         sync.Mutex
	unreported []unreported
}

// unreported is the outcome of an attempt that the store did not record.
type unreported struct {
	t          *Task // without the event's header and body
	r          Result
	start, end time.Time
	live       bool
}

// busyRecording is how many events waiting at once for the store to
// record them (Enqueue, BeginLive) make recording busy: the gateway's
// ingest is then saturated, and each worker starts at most a quarter of
// its Concurrency in attempts until it is not (yieldToRecording), so that
// providers, who wait for their answers, go first; a backlog drains at
// full speed once the burst ends. Bench (f), async on the embedded store,
// one core, 64 connections: acknowledged 0.72–0.80× of (b) without it,
// 0.88–1.04× with it, and more events acknowledged and delivered in all.
const busyRecording = 8

// maxUnreported bounds a worker's unreported outcomes. Past it the oldest
// is given up: its lease expires and the delivery is attempted again.
const maxUnreported = 4096

// New returns an Engine for cfg, with defaults for zero fields. It does
// not start delivering: call Run. Its error names the invalid field.
func New(cfg Config) (*Engine, error) {
	e := &Engine{
		store:         cfg.Store,
		attemptFn:     cfg.Attempt,
		clock:         cfg.Clock,
		rand:          cfg.Rand,
		obs:           cfg.Observer,
		leaseBatch:    cfg.LeaseBatch,
		poll:          cfg.PollInterval,
		statsInterval: cfg.StatsInterval,
		trimInterval:  cfg.TrimInterval,
		keepDelivered: cfg.KeepDelivered,
		keepDead:      cfg.KeepDead,
		dropPayloads:  cfg.DropPayloads,
		drainTimeout:  cfg.DrainTimeout,
		queues:        make(map[Queue]*worker),
		bySource:      make(map[string][]*worker),
	}
	switch {
	case e.store == nil:
		return nil, errors.New("delivery: Config.Store is nil")
	case e.attemptFn == nil:
		return nil, errors.New("delivery: Config.Attempt is nil")
	case len(cfg.Destinations) == 0:
		return nil, errors.New("delivery: Config.Destinations is empty")
	}
	if e.clock == nil {
		e.clock = SystemClock{}
	}
	if e.rand == nil {
		e.rand = randv2.Float64
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"PollInterval", &e.poll, DefaultPollInterval},
		{"StatsInterval", &e.statsInterval, DefaultStatsInterval},
		{"TrimInterval", &e.trimInterval, DefaultTrimInterval},
		{"DrainTimeout", &e.drainTimeout, DefaultDrainTimeout},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < 0 {
			return nil, fmt.Errorf("delivery: Config.%s is negative (%v)", f.name, *f.v)
		}
	}
	if e.keepDelivered == 0 {
		e.keepDelivered = DefaultKeepDelivered
	}
	if e.keepDead == 0 {
		e.keepDead = DefaultKeepDead
	}
	if e.leaseBatch == 0 {
		e.leaseBatch = DefaultLeaseBatch
	}
	if e.leaseBatch < 0 {
		return nil, fmt.Errorf("delivery: Config.LeaseBatch is negative (%d)", e.leaseBatch)
	}
	switch {
	case cfg.Concurrency < 0:
		return nil, fmt.Errorf("delivery: Config.Concurrency is negative (%d)", cfg.Concurrency)
	case cfg.Concurrency > 0:
		e.slots = make(chan struct{}, cfg.Concurrency)
	}
	for i, d := range cfg.Destinations {
		field := fmt.Sprintf("Config.Destinations[%d]", i)
		if err := d.resolve(field); err != nil {
			return nil, err
		}
		q := Queue{d.Source, d.Name}
		if e.queues[q] != nil {
			return nil, fmt.Errorf("delivery: %s: destination %s configured twice", field, q)
		}
		w := &worker{
			e:     e,
			q:     q,
			d:     d,
			renew: d.AttemptTimeout > d.Lease/2,
			wake:  make(chan struct{}, 1),
			yield: make(chan struct{}, max(1, d.Concurrency/4)),
			slots: make(chan struct{}, d.Concurrency),
		}
		if d.Rate > 0 && d.Rate != rate.Inf {
			w.lim = rate.NewLimiter(d.Rate, d.Burst)
		}
		e.workers = append(e.workers, w)
		e.queues[q] = w
		if e.bySource[d.Source] == nil {
			e.sources = append(e.sources, d.Source)
		}
		e.bySource[d.Source] = append(e.bySource[d.Source], w)
	}
	e.tokenPrefix = rand.Text()[:12] + "."
	return e, nil
}

// resolve fills d's defaults and checks it.
func (d *Destination) resolve(field string) error {
	if err := CheckName(field+".Source", d.Source); err != nil {
		return err
	}
	if err := CheckName(field+".Name", d.Name); err != nil {
		return err
	}
	if err := d.Backoff.resolve(field + ".Backoff"); err != nil {
		return err
	}
	if d.Concurrency == 0 {
		d.Concurrency = DefaultConcurrency
	}
	if d.AttemptTimeout == 0 {
		d.AttemptTimeout = DefaultAttemptTimeout
	}
	if d.Lease == 0 {
		d.Lease = 2 * d.AttemptTimeout
	}
	if d.MaxAttempts == 0 {
		d.MaxAttempts = DefaultMaxAttempts
	}
	if d.MaxAge == 0 {
		d.MaxAge = DefaultMaxAge
	}
	if d.MaxRetryAfter == 0 {
		d.MaxRetryAfter = d.Backoff.Max
	}
	if d.Burst == 0 {
		d.Burst = 1
	}
	if d.RecordWithin == 0 {
		d.RecordWithin = DefaultRecordWithin
	}
	switch {
	case d.Concurrency < 0:
		return fmt.Errorf("delivery: %s.Concurrency is negative (%d)", field, d.Concurrency)
	case d.Rate < 0:
		return fmt.Errorf("delivery: %s.Rate is negative (%v)", field, d.Rate)
	case d.Burst < 0:
		return fmt.Errorf("delivery: %s.Burst is negative (%d)", field, d.Burst)
	case d.AttemptTimeout < 0:
		return fmt.Errorf("delivery: %s.AttemptTimeout is negative (%v)", field, d.AttemptTimeout)
	case d.Lease < time.Millisecond:
		return fmt.Errorf("delivery: %s.Lease is under 1ms (%v)", field, d.Lease)
	case d.MaxAttempts < 0:
		return fmt.Errorf("delivery: %s.MaxAttempts is negative (%d)", field, d.MaxAttempts)
	case d.MaxAge < 0:
		return fmt.Errorf("delivery: %s.MaxAge is negative (%v)", field, d.MaxAge)
	case d.MaxRetryAfter < 0:
		return fmt.Errorf("delivery: %s.MaxRetryAfter is negative (%v)", field, d.MaxRetryAfter)
	}
	return nil
}

// Store returns the Engine's store, for the events API (Get, List).
func (e *Engine) Store() Store { return e.store }

// Queues returns the configured queues, in configuration order.
func (e *Engine) Queues() []Queue {
	qs := make([]Queue, len(e.workers))
	for i, w := range e.workers {
		qs[i] = w.q
	}
	return qs
}

// Destination returns the resolved configuration of q (defaults filled
// in), and whether q is configured.
func (e *Engine) Destination(q Queue) (Destination, bool) {
	w := e.queues[q]
	if w == nil {
		return Destination{}, false
	}
	return w.d, true
}

// Run delivers until ctx ends: a worker per destination leases due
// deliveries and attempts them, and retention and queue statistics run
// on their intervals. Once ctx ends, it stops leasing, lets the attempts
// under way finish for up to DrainTimeout, cancels the rest (their leases
// are given back), and returns nil. Deliveries it leaves behind are
// taken up by the next Run, here or on another instance sharing the
// store. Only one Run of an Engine runs at a time.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("delivery: Engine.Run is already running")
	}
	defer e.running.Store(false)
	actx, cancelAttempts := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAttempts()
	var loops sync.WaitGroup
	for _, w := range e.workers {
		loops.Go(func() { w.loop(ctx, actx) })
	}
	loops.Go(func() { e.maintain(ctx) })
	loops.Wait()

	drained := make(chan struct{})
	go func() {
		for _, w := range e.workers {
			w.inflight.Wait()
		}
		close(drained)
	}()
	select {
	case <-drained:
	case <-e.clock.After(e.drainTimeout):
		cancelAttempts()
		<-drained
	}
	return nil
}

// Enqueue records ev durably, with a delivery due now to each destination
// named in to (every destination of ev.Source when to is empty), and
// wakes the workers: the "async" mode. An empty ev.ID gets a generated
// one, a zero ReceivedAt the current time; ev.Deliveries and ev.Seq are
// set. It returns ErrExists when source and id are already recorded (a
// duplicate: nothing changed), ErrUnknownDestination, or the store's
// error (wrapping ErrUnavailable when the store failed).
func (e *Engine) Enqueue(ctx context.Context, ev *Event, to ...string) error {
	ws, err := e.targets(ev.Source, to, "")
	if err != nil {
		return err
	}
	now := e.clock.Now()
	e.prepare(ev, now)
	ev.Deliveries = make([]Delivery, len(ws))
	for i, w := range ws {
		ev.Deliveries[i] = Delivery{Destination: w.q.Destination, Status: StatusPending, NextAt: now, Since: ev.ReceivedAt}
	}
	if err := e.record(ctx, ev); err != nil {
		return err
	}
	for _, w := range ws {
		w.poke()
	}
	return nil
}

// record appends ev, counted in recording while the store makes it
// durable.
func (e *Engine) record(ctx context.Context, ev *Event) error {
	e.recording.Add(1)
	defer e.recording.Add(-1)
	return e.store.Append(ctx, ev)
}

// BeginLive records ev as Enqueue does, except that the delivery to live
// is leased to the caller, who attempts it at once and reports with
// [Engine.Finish]: the "on_failure" (live first) mode. Should the process
// die before Finish is recorded, the lease expires (after the
// destination's Lease) and a worker attempts the delivery again. The
// other destinations in to (every destination of ev.Source when empty)
// are due now. Errors are those of Enqueue.
//
// The returned task's attempt is number 1. BeginLive returns once ev is
// durable, except when live is its only destination, the store is an
// [AppendQueuer] (boltstore) and the destination's RecordWithin is
// positive: the record is then held, and written when the attempt ends
// (Finish) or after RecordWithin, whichever comes first; Finish waits for
// it to be durable when the attempt failed. A destination that answers
// 2xx within RecordWithin then costs one write, of the event already
// delivered, which nobody waits for; otherwise a healthy destination
// costs the record and a lazy report, which boltstore groups with others
// into the same commits. A crash before the record is durable forgets
// the event; its provider had no answer then, unless the destination
// took the event.
func (e *Engine) BeginLive(ctx context.Context, ev *Event, live string, to ...string) (*Task, error) {
	ws, err := e.targets(ev.Source, to, live)
	if err != nil {
		return nil, err
	}
	now := e.clock.Now()
	e.prepare(ev, now)
	ev.Deliveries = make([]Delivery, len(ws))
	li := 0
	var lw *worker
	token := e.newToken()
	for i, w := range ws {
		d := Delivery{Destination: w.q.Destination, Status: StatusPending, NextAt: now, Since: ev.ReceivedAt}
		if w.q.Destination == live {
			li, lw = i, w
			d.Status, d.NextAt, d.Token = StatusLeased, now.Add(w.d.Lease), token
		}
		ev.Deliveries[i] = d
	}
	t := &Task{Delivery: ev.Deliveries[li], Attempt: 1, live: true, started: now}
	if aq, ok := e.store.(AppendQueuer); ok && len(ws) == 1 && lw.d.RecordWithin > 0 {
		// Attempted at once; written when it ends: see Finish.
		qa, err := aq.QueueAppend(ctx, ev, lw.d.RecordWithin)
		if err != nil {
			return nil, err
		}
		t.queued = qa
	} else {
		if err := e.record(ctx, ev); err != nil {
			return nil, err
		}
		for _, w := range ws {
			if w != lw {
				w.poke()
			}
		}
	}
	tev := *ev
	tev.Deliveries = nil
	t.Event = &tev
	return t, nil
}

// Finish reports the outcome of the live attempt of t (from BeginLive):
// delivered, or retried in the background with the destination's
// backoff, or dead (a permanent failure, or MaxAttempts 1). The report is
// lazy: Finish does not wait for it to be durable (a crash before it is
// costs one repeated attempt). The report is made even if ctx has ended
// (the provider hung up).
//
// When the attempt failed and BeginLive only queued the record, Finish
// first waits (within ctx) for the record to be durable; if it could not
// be made, Finish returns the store's answer as Enqueue would (ErrExists,
// or an error wrapping ErrUnavailable: the event is not recorded) and
// reports nothing. Otherwise it returns an error only when the store
// refused the report at once; a store that failed (ErrUnavailable) gets
// the report again from the destination's worker, before the worker
// leases anything, so that the delivery is not made again once the store
// is back.
func (e *Engine) Finish(ctx context.Context, t *Task, r Result) error {
	if t == nil || !t.live {
		return errors.New("delivery: Finish takes a task from BeginLive")
	}
	w := e.queues[t.Queue()]
	if w == nil {
		return fmt.Errorf("%w: %s", ErrUnknownDestination, t.Queue())
	}
	t.live = false // finished once
	if t.queued != nil && !r.Delivered {
		// Answered "queued" only once it is: durable.
		if err := t.queued.Wait(ctx); err != nil && ctx.Err() == nil {
			return err
		}
	}
	// The report must land even when the provider has hung up.
	return w.settle(context.WithoutCancel(ctx), t, &r, t.started, e.clock.Now(), true)
}

// Extend extends the lease of a live task t by its destination's Lease
// from now, for a caller whose live attempt may outlive it. It returns
// ErrLeaseLost when a worker took the delivery over meanwhile.
func (e *Engine) Extend(ctx context.Context, t *Task) error {
	w := e.queues[t.Queue()]
	if w == nil {
		return fmt.Errorf("%w: %s", ErrUnknownDestination, t.Queue())
	}
	if t.queued != nil {
		if err := t.queued.Wait(ctx); err != nil {
			return err
		}
	}
	return e.store.Extend(ctx, t, e.clock.Now().Add(w.d.Lease))
}

// Replay makes the deliveries of source/id to destinations (all of the
// event's when none is named) pending again, due now, with a fresh
// budget of attempts and age, whatever their status: a delivered or dead
// event is delivered again, as a new attempt. It returns ErrNotFound when
// the event or a destination is not recorded, and ErrPayloadDropped when
// the event's payload was dropped (Config.DropPayloads).
func (e *Engine) Replay(ctx context.Context, source, id string, destinations ...string) error {
	now := e.clock.Now()
	if len(destinations) == 0 {
		destinations = []string{""}
	}
	for _, d := range destinations {
		if err := e.store.Replay(ctx, source, id, d, now); err != nil {
			return err
		}
	}
	for _, w := range e.bySource[source] {
		w.poke()
	}
	return nil
}

// ReplayAll replays every event f selects (up to f.Limit when positive),
// newest first, and returns how many it replayed. Without f.Source it
// replays the Engine's configured sources. Events whose payload was
// dropped are passed over, uncounted. The destinations' Rate and
// Concurrency pace the deliveries that follow.
func (e *Engine) ReplayAll(ctx context.Context, f Filter) (int, error) {
	sources := e.sources
	if f.Source != "" {
		sources = []string{f.Source}
	}
	limit := f.Limit
	n := 0
	for _, src := range sources {
		page := f
		page.Source, page.After, page.Limit = src, 0, MaxListLimit
		for {
			evs, err := e.store.List(ctx, page)
			if err != nil {
				return n, err
			}
			for _, ev := range evs {
				if ev.PayloadDropped {
					continue
				}
				err := e.store.Replay(ctx, ev.Source, ev.ID, "", e.clock.Now())
				switch {
				case errors.Is(err, ErrPayloadDropped):
					continue // delivered and dropped since the listing
				case err != nil && !errors.Is(err, ErrNotFound):
					return n, err
				}
				n++
				if limit > 0 && n >= limit {
					e.pokeSource(src)
					return n, nil
				}
			}
			if len(evs) < page.Limit {
				break
			}
			page.Before = evs[len(evs)-1].Seq
		}
		e.pokeSource(src)
	}
	return n, nil
}

// Purge deletes the events f selects (up to f.Limit when positive) and
// returns how many: one event with f.Source and f.ID. Their deliveries
// stop.
func (e *Engine) Purge(ctx context.Context, f Filter) (int, error) {
	return e.store.Purge(ctx, f)
}

func (e *Engine) pokeSource(source string) {
	for _, w := range e.bySource[source] {
		w.poke()
	}
}

// targets returns the workers of to (all of source's when empty), with
// live among them when not empty.
func (e *Engine) targets(source string, to []string, live string) ([]*worker, error) {
	if len(to) == 0 {
		ws := e.bySource[source]
		if len(ws) == 0 {
			return nil, fmt.Errorf("%w: no destination for source %q", ErrUnknownDestination, source)
		}
		if live == "" || e.queues[Queue{source, live}] != nil {
			return ws, nil
		}
		return nil, fmt.Errorf("%w: %s", ErrUnknownDestination, Queue{source, live})
	}
	ws := make([]*worker, 0, len(to)+1)
	if live != "" && !slices.Contains(to, live) {
		to = append(to[:len(to):len(to)], live)
	}
	for _, name := range to {
		w := e.queues[Queue{source, name}]
		if w == nil {
			return nil, fmt.Errorf("%w: %s", ErrUnknownDestination, Queue{source, name})
		}
		if !slices.Contains(ws, w) {
			ws = append(ws, w)
		}
	}
	return ws, nil
}

// prepare fills ev's id and receipt time when missing.
func (e *Engine) prepare(ev *Event, now time.Time) {
	if ev.ID == "" {
		ev.ID = "hg_" + rand.Text()
	}
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = now
	}
}

// newToken returns a lease token no other lease of any Engine has.
func (e *Engine) newToken() string {
	var b [32]byte
	return string(strconv.AppendUint(append(b[:0], e.tokenPrefix...), e.tokenSeq.Add(1), 36))
}

func (e *Engine) notice(n Notice) {
	if e.obs != nil {
		e.obs.Observe(n)
	}
}

// poke wakes w's loop if it is idle.
func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// loop leases the queue's due deliveries and starts their attempts (under
// actx), as many at once as the queue's Concurrency (and the Engine's)
// allows, until ctx ends.
//
// A lease is a store write: boltstore commits it with the others of the
// moment, after the previous commit's fsync. Leasing only as many as the
// free slots would then bound a backlog's drain to Concurrency deliveries
// per commit. So when the last lease was full (a backlog), loop leases
// ahead: a full LeaseBatch however few slots are free, kept in ready and
// started as slots free up (a drain at Concurrency 16 that leased 32 at a
// time delivered 0.75× of (b)'s rate; leasing 64, 1.3×: every lease waits
// for the commit under way). A task leased ahead waits at most for the
// attempts under way, each bounded by AttemptTimeout; one that waited
// more than a quarter of its lease has it extended before its attempt
// starts, so that every attempt starts with most of a lease ahead of it.
// Leased-ahead tasks are given back when loop stops.
func (w *worker) loop(ctx, actx context.Context) {
	e := w.e
	backlog := false
	var ready []*Task // leased ahead, not started
	defer func() {
		for _, t := range ready {
			w.giveBack(t)
		}
	}()
	for ctx.Err() == nil {
		// One free slot at least (the queue's, then the Engine's), then
		// as many more as are free.
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if e.slots != nil {
			select {
			case e.slots <- struct{}{}:
			case <-ctx.Done():
				<-w.slots
				return
			}
		}
		limit := e.leaseBatch
		if len(ready) > 0 {
			limit = len(ready)
		} else if backlog {
			// The last lease was full: let the attempts it started
			// finish their turn, so that this lease takes more at once
			// (a store call, a commit, shared by more deliveries).
			runtime.Gosched()
		}
		n := 1 + w.acquireMore(limit-1)
		if len(ready) > 0 {
			w.startReady(ctx, actx, &ready, n)
			continue
		}
		// What was delivered while the store was down is recorded
		// before anything is leased: its lease may have expired.
		if !w.reportAgain(context.WithoutCancel(ctx)) {
			w.release(n)
			w.idle(ctx, e.poll)
			continue
		}
		now := e.clock.Now()
		want := n
		if w.lim != nil {
			// Lease no more than the rate lets go now: a leased task
			// waiting for its turn would age its lease.
			if tokens := max(1, int(w.lim.TokensAt(now))); tokens < n {
				w.release(n - tokens)
				n, want = tokens, tokens
			}
		} else if backlog {
			want = e.leaseBatch // n <= leaseBatch: a full lease
		}
		// Not cancelled with ctx: a lease made as Run stops must be
		// known, so that its tasks are attempted or given back rather
		// than left leased until they expire.
		tasks, next, err := e.store.Lease(context.WithoutCancel(ctx), w.q, now, want, now.Add(w.d.Lease), e.newToken())
		if err != nil {
			w.release(n)
			if ctx.Err() != nil {
				return
			}
			e.notice(Notice{Kind: NoticeError, Queue: w.q, Op: "lease", Err: err})
			w.idle(ctx, e.poll)
			continue
		}
		backlog = len(tasks) == want
		if len(tasks) > n {
			tasks, ready = tasks[:n], tasks[n:]
		}
		w.release(n - len(tasks))
		for i, t := range tasks {
			if w.lim != nil {
				at := e.clock.Now()
				if d := w.lim.ReserveN(at, 1).DelayFrom(at); d > 0 {
					select {
					case <-e.clock.After(d):
					case <-ctx.Done():
						for _, t := range tasks[i:] {
							w.giveBack(t)
						}
						w.release(len(tasks) - i)
						return
					}
				}
			}
			w.inflight.Add(1)
			go w.attempt(actx, t)
		}
		if len(tasks) < n {
			// Nothing more is due now: sleep until the next one is, or
			// until woken, or until the poll.
			wait := e.poll
			if !next.IsZero() {
				wait = min(wait, next.Sub(now))
			}
			w.idle(ctx, max(wait, time.Millisecond))
		}
	}
}

// acquireMore takes up to n more free slots (the queue's and the
// Engine's) without waiting, and returns how many it took.
func (w *worker) acquireMore(n int) int {
	e := w.e
	got := 0
	for got < n {
		select {
		case w.slots <- struct{}{}:
		default:
			return got
		}
		if e.slots != nil {
			select {
			case e.slots <- struct{}{}:
			default:
				<-w.slots
				return got
			}
		}
		got++
	}
	return got
}

// startReady starts up to n of the tasks leased ahead, holding n slots,
// and frees the slots it does not use. A task that waited more than a
// quarter of its lease has it extended first; one whose lease is lost
// meanwhile is dropped (another worker holds it).
func (w *worker) startReady(ctx, actx context.Context, ready *[]*Task, n int) {
	started := 0
	for started < n && len(*ready) > 0 {
		t := (*ready)[0]
		*ready = (*ready)[1:]
		if !w.freshen(context.WithoutCancel(ctx), t) {
			continue
		}
		w.inflight.Add(1)
		go w.attempt(actx, t)
		started++
	}
	w.release(n - started)
}

// freshen extends t's lease when more than a quarter of it has passed (a
// task leased ahead, or one that yielded to recording), so that its
// attempt starts with most of a lease ahead. It reports whether t may be
// attempted: not when its lease is lost (another holder has it) or could
// not be extended (then it is given back).
func (w *worker) freshen(ctx context.Context, t *Task) bool {
	e := w.e
	if t.Delivery.NextAt.Sub(e.clock.Now()) >= w.d.Lease-w.d.Lease/4 {
		return true
	}
	if err := e.store.Extend(ctx, t, e.clock.Now().Add(w.d.Lease)); err != nil {
		if !errors.Is(err, ErrLeaseLost) && !errors.Is(err, ErrNotFound) {
			e.notice(Notice{Kind: NoticeError, Queue: w.q, Op: "extend", Err: err})
			w.giveBack(t)
		}
		return false
	}
	return true
}

// release frees n slots, the queue's and the Engine's.
func (w *worker) release(n int) {
	for range n {
		<-w.slots
		if w.e.slots != nil {
			<-w.e.slots
		}
	}
}

// idle waits for d, a poke or the end of ctx.
func (w *worker) idle(ctx context.Context, d time.Duration) {
	select {
	case <-w.wake:
	case <-w.e.clock.After(d):
	case <-ctx.Done():
	}
}

// attempt makes one attempt of t and records it. It holds a slot (the
// queue's and the Engine's), which it frees.
func (w *worker) attempt(actx context.Context, t *Task) {
	defer w.inflight.Done()
	defer w.release(1)
	e := w.e
	if w.yieldToRecording(actx) {
		defer func() { <-w.yield }()
	}
	if !w.freshen(context.WithoutCancel(actx), t) {
		return // its lease aged while it yielded, and is lost
	}
	ctx, cancel := context.WithTimeout(actx, w.d.AttemptTimeout)
	var stop chan struct{}
	if w.renew {
		stop = make(chan struct{})
		go w.keepLeased(actx, t, stop)
	}
	start := e.clock.Now()
	r := e.call(ctx, t)
	end := e.clock.Now()
	cancel()
	if stop != nil {
		close(stop)
	}
	if actx.Err() != nil && !r.Delivered {
		// Stopped by shutdown, not by the destination.
		w.giveBack(t)
		return
	}
	_ = w.settle(context.WithoutCancel(actx), t, &r, start, end, false)
}

// yieldToRecording holds an attempt about to start while recording is
// busy (busyRecording) until one of the queue's yield slots (a quarter of
// its Concurrency) is free, and reports whether it took one. It waits at
// most a quarter of the lease (the attempt then has its lease extended:
// freshen); once recording is no longer busy, new attempts pass at once,
// and those already waiting start as the yielding ones end.
func (w *worker) yieldToRecording(ctx context.Context) bool {
	if w.e.recording.Load() < busyRecording {
		return false
	}
	select {
	case w.yield <- struct{}{}:
		return true
	case <-w.e.clock.After(w.d.Lease / 4):
	case <-ctx.Done():
	}
	return false
}

// call runs the attempt function, turning a panic into a failed attempt.
func (e *Engine) call(ctx context.Context, t *Task) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			r = Result{Err: fmt.Errorf("delivery: attempt panicked: %v", p)}
		}
	}()
	return e.attemptFn(ctx, t)
}

// keepLeased extends t's lease every third of it until stop is closed.
func (w *worker) keepLeased(ctx context.Context, t *Task, stop <-chan struct{}) {
	e := w.e
	for {
		select {
		case <-stop:
			return
		case <-e.clock.After(w.d.Lease / 3):
		}
		if err := e.store.Extend(ctx, t, e.clock.Now().Add(w.d.Lease)); err != nil {
			if errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrNotFound) {
				return
			}
			e.notice(Notice{Kind: NoticeError, Queue: w.q, Op: "extend", Err: err})
		}
	}
}

// giveBack returns t's lease unused: due now, no try counted.
func (w *worker) giveBack(t *Task) {
	now := w.e.clock.Now()
	err := w.e.store.Report(context.Background(), Report{
		Source: t.Event.Source, ID: t.Event.ID, Destination: t.Delivery.Destination, Token: t.Delivery.Token,
		Status: StatusPending, NextAt: now, Now: now, Lazy: true,
	})
	if err != nil && !errors.Is(err, ErrLeaseLost) && !errors.Is(err, ErrNotFound) {
		w.e.notice(Notice{Kind: NoticeError, Queue: w.q, Op: "report", Err: err})
	}
}

// settle decides what an attempt of t that ran from start to end with
// result r leads to, records it and reports it to the Observer. When the
// store fails, the outcome is kept for reportAgain.
func (w *worker) settle(ctx context.Context, t *Task, r *Result, start, end time.Time, live bool) error {
	e := w.e
	a := Attempt{At: start, StatusCode: r.StatusCode, Latency: end.Sub(start), Error: r.errorText()}
	st, next, reason := w.d.decide(t, r, end, e.rand)
	ev := t.Event
	rep := Report{
		Source: ev.Source, ID: ev.ID, Destination: t.Delivery.Destination, Token: t.Delivery.Token,
		Attempt: &a, Status: st, NextAt: next, Reason: reason, Now: end, Lazy: true,
		DropPayload: e.dropPayloads && st == StatusDelivered,
	}
	var err error
	if st != StatusDelivered || t.queued == nil || !t.queued.Fold(rep) {
		err = e.store.Report(ctx, rep)
	}
	n := Notice{Queue: w.q, ID: ev.ID, Type: ev.Type, Seq: ev.Seq, Attempt: a, Number: t.Attempt, Live: live, Status: st, NextAt: next, Reason: reason}
	switch {
	case err == nil:
	case errors.Is(err, ErrLeaseLost):
		n.Kind = NoticeLeaseLost
		e.notice(n)
		if st != StatusDelivered {
			return err // nothing recorded: the holder will report
		}
	case errors.Is(err, ErrNotFound):
		return err // purged meanwhile
	default:
		e.notice(Notice{Kind: NoticeError, Queue: w.q, Op: "report", Err: err})
		w.keepUnreported(t, r, start, end, live)
		return err
	}
	n.Kind = NoticeAttempt
	e.notice(n)
	switch st {
	case StatusPending:
		w.poke() // the retry may fall due before the worker would look
	case StatusDelivered:
		n.Kind = NoticeDelivered
		n.Latency = end.Sub(t.since())
		e.notice(n)
	case StatusDead:
		n.Kind = NoticeDead
		e.notice(n)
	}
	if errors.Is(err, ErrLeaseLost) {
		return err
	}
	return nil
}

// keepUnreported keeps the outcome of an attempt of t that the store
// failed to record, for reportAgain.
func (w *worker) keepUnreported(t *Task, r *Result, start, end time.Time, live bool) {
	ev := *t.Event
	ev.Header, ev.Body, ev.Deliveries = nil, nil, nil
	tc := *t
	tc.Event = &ev
	w.mu.Lock()
	if len(w.unreported) >= maxUnreported {
		w.unreported = slices.Delete(w.unreported, 0, 1)
	}
	w.unreported = append(w.unreported, unreported{t: &tc, r: *r, start: start, end: end, live: live})
	w.mu.Unlock()
}

// reportAgain records, oldest first, the outcomes the store failed to
// record, and reports whether none is left. It stops at the first that
// fails again (settle keeps it): the store is still down. A delivered
// outcome whose first report did reach the store (its answer was lost)
// comes back as a lost lease, and is counted so.
func (w *worker) reportAgain(ctx context.Context) bool {
	for {
		w.mu.Lock()
		if len(w.unreported) == 0 {
			w.mu.Unlock()
			return true
		}
		u := w.unreported[0]
		w.unreported = slices.Delete(w.unreported, 0, 1)
		w.mu.Unlock()
		err := w.settle(ctx, u.t, &u.r, u.start, u.end, u.live)
		if err != nil && !errors.Is(err, ErrLeaseLost) && !errors.Is(err, ErrNotFound) {
			return false
		}
	}
}

// since returns the start of t's budget.
func (t *Task) since() time.Time {
	if t.Delivery.Since.IsZero() {
		return t.Event.ReceivedAt
	}
	return t.Delivery.Since
}

// decide returns what a delivery becomes after the attempt of t that
// ended at now with r: delivered, dead (and why), or pending until next.
func (d *Destination) decide(t *Task, r *Result, now time.Time, rnd func() float64) (st Status, next time.Time, reason string) {
	switch {
	case r.Delivered:
		return StatusDelivered, time.Time{}, ""
	case r.Permanent:
		return StatusDead, time.Time{}, clip("permanent failure: " + r.describe())
	}
	tries := t.Delivery.Tries + 1
	if tries >= d.MaxAttempts {
		return StatusDead, time.Time{}, clip(fmt.Sprintf("%d attempts failed, the last: %s", tries, r.describe()))
	}
	deadline := t.since().Add(d.MaxAge)
	if !now.Before(deadline) {
		return StatusDead, time.Time{}, clip(fmt.Sprintf("failed for %v (MaxAge), the last attempt: %s", d.MaxAge, r.describe()))
	}
	var wait time.Duration
	if r.RetryAfter > 0 {
		wait = min(r.RetryAfter, d.MaxRetryAfter)
	} else {
		wait = d.Backoff.Delay(tries, rnd())
	}
	next = now.Add(wait)
	if next.After(deadline) {
		next = deadline
	}
	return StatusPending, next, ""
}

// describe says how an attempt failed, in a few words.
func (r *Result) describe() string {
	switch {
	case r.StatusCode != 0 && r.Err != nil:
		return "status " + strconv.Itoa(r.StatusCode) + ": " + r.Err.Error()
	case r.StatusCode != 0:
		return "status " + strconv.Itoa(r.StatusCode)
	case r.Err != nil:
		return r.Err.Error()
	}
	return "no response"
}

// maintain runs queue statistics and retention until ctx ends.
func (e *Engine) maintain(ctx context.Context) {
	now := e.clock.Now()
	nextStats, nextTrim := now, now
	for {
		if !now.Before(nextStats) {
			e.stats(ctx)
			nextStats = now.Add(e.statsInterval)
		}
		if !now.Before(nextTrim) {
			e.trim(ctx, now)
			nextTrim = now.Add(e.trimInterval)
		}
		wait := min(nextStats.Sub(now), nextTrim.Sub(now))
		select {
		case <-ctx.Done():
			return
		case <-e.clock.After(max(wait, time.Millisecond)):
		}
		now = e.clock.Now()
	}
}

// stats reports each queue's state.
func (e *Engine) stats(ctx context.Context) {
	st, err := e.store.Stats(ctx, e.Queues())
	if err != nil {
		if ctx.Err() == nil {
			e.notice(Notice{Kind: NoticeError, Op: "stats", Err: err})
		}
		return
	}
	for _, s := range st {
		e.notice(Notice{Kind: NoticeQueue, Queue: s.Queue, Stats: s})
	}
}

// trimBatch bounds the events one retention call deletes, so that a
// large backlog of expired events does not hold the store for long.
const trimBatch = 1000

// trim deletes the events retention no longer keeps.
func (e *Engine) trim(ctx context.Context, now time.Time) {
	for _, r := range []struct {
		st   Status
		keep time.Duration
	}{{StatusDelivered, e.keepDelivered}, {StatusDead, e.keepDead}} {
		if r.keep < 0 {
			continue
		}
		total := 0
		for ctx.Err() == nil {
			n, err := e.store.Purge(ctx, Filter{Status: r.st, FinishedBefore: now.Add(-r.keep), Limit: trimBatch})
			total += n
			if err != nil {
				if ctx.Err() == nil {
					e.notice(Notice{Kind: NoticeError, Op: "trim", Err: err})
				}
				break
			}
			if n < trimBatch {
				break
			}
		}
		if total > 0 {
			e.notice(Notice{Kind: NoticeTrimmed, Status: r.st, Removed: total})
		}
	}
}
