package send

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/memstore"
	"github.com/hookgate/hookgate/expr"
)

// Errors reported by [Dispatcher.Dispatch], wrapped with detail. Match
// them with [errors.Is].
var (
	// ErrQueueFull: a matching subscription's queue had no room, so the
	// event was not queued for it (it was for the others). The message
	// names the subscription.
	ErrQueueFull = errors.New("send: subscription queue full")
	// ErrDispatcherClosed: Close has been called; nothing was queued.
	ErrDispatcherClosed = errors.New("send: dispatcher closed")
)

// Defaults of [DispatcherConfig].
const (
	// DefaultWorkers bounds attempts in flight when
	// DispatcherConfig.Workers is zero.
	DefaultWorkers = 8
	// DefaultQueueSize bounds each subscription's deliveries waiting
	// when DispatcherConfig.QueueSize is zero.
	DefaultQueueSize = 1024
)

// Subscription is one endpoint's interest in events.
type Subscription struct {
	// Name identifies the subscription in results and errors. Required
	// and unique within a Dispatcher or an Outbox. An Outbox names its
	// destinations in the store after it, so there it also follows
	// delivery.CheckName (printable ASCII, no space or brace).
	Name string
	// Endpoint is the http or https URL the events are POSTed to.
	Endpoint string
	// Sender signs and delivers, with its keys, retry schedule and hooks.
	// Required; several subscriptions may share one.
	Sender *Sender
	// Types are the event types wanted: "order.created" exactly,
	// "order.*" every type starting "order.", "*" all. The type is the
	// Delivery's Type, or when that is empty the payload's top-level
	// "type" string. Default: all types.
	Types []string
	// Filter narrows by payload: every filter must hold.
	Filter []FieldFilter
	// When, a boolean CEL program (package expr, the gateway's filter
	// language: payload, type, id, source, headers, verified), narrows
	// further: the event goes to this subscription only when it holds. A
	// runtime error means no.
	When *expr.Program
	// Match, for those who prefer code, narrows in Go: the event goes to
	// this subscription only when it returns true.
	Match func(Delivery) bool
	// Transform, a CEL program of kind expr.Value, makes the body sent to
	// this subscription: its map or list, as JSON, instead of the event's
	// body. A runtime error fails the delivery for this subscription
	// (Dispatcher: reported with ErrInvalidDelivery; Outbox: dead).
	Transform *expr.Program
	// Concurrency is the most deliveries to this endpoint in flight at
	// once, at most DispatcherConfig.Workers. Default: 1, which delivers
	// the subscription's events one at a time in the order dispatched,
	// as long as none fails: an event waiting to be retried lets those
	// behind it go first.
	Concurrency int
}

// FieldFilter holds when a field of the JSON payload equals one of some
// values.
type FieldFilter struct {
	// Path is a dot-separated path of object keys into the payload, as
	// "data.object.status".
	Path string
	// Equals lists the accepted values; at least one is required. Strings
	// compare as they are; numbers, booleans and null compare by their
	// JSON text as written ("42", "true", "null"). A missing field, an
	// object or an array never matches.
	Equals []string
}

// DispatcherConfig configures a [Dispatcher].
type DispatcherConfig struct {
	// Workers bounds how many attempts run at once, across all
	// subscriptions (the delivery engine's Config.Concurrency). A
	// subscription never holds more than its Concurrency of them, and
	// none while it waits to retry, so one stalled endpoint leaves the
	// others the rest. Default: 8.
	Workers int
	// QueueSize bounds each subscription's deliveries waiting for a
	// worker: queued, or waiting to be retried (those being attempted do
	// not count). Dispatch reports ErrQueueFull past it. Default: 1024.
	QueueSize int
	// OnResult, if set, is called with each delivery's report once it is
	// done, delivered or not (after the Sender's OnGiveUp). It is called
	// from many goroutines at once.
	OnResult func(subscription string, r *Report)
}

// Dispatcher fans events out to the subscriptions whose types and filters
// match, delivering to each independently and concurrently. Dispatch never
// blocks on an endpoint. Make one with [NewDispatcher] (the zero value is
// not usable) and stop it with Close. It is safe for concurrent use.
//
// A Dispatcher is an [Outbox] in memory: it runs the same delivery engine
// (package delivery, the gateway's) over a memstore, which it purges of
// each event once every delivery of it is done, so nothing survives the
// process. Each subscription retries as its Sender's Send would: on its
// Schedule (jittered in full), up to its MaxAttempts, after a
// Retry-After up to its MaxRetryAfter; and stops as Send stops (410
// Gone, another 4xx or a 3xx). The Sender's OnAttempt and OnGiveUp hooks
// are called as Send calls them, and OnResult gets the Report Send would
// return: each Attempt as the Sender saw it, with Retry and Delay as the
// engine decided them.
//
// What differs from Send: the waits are the engine's (on the real clock,
// jittered by the engine, so the Sender's Sleep and Rand do not apply);
// a Retry-After of 0 or a date past waits the schedule's delay instead
// of none; an event id and type are bounded (delivery.MaxIDLen,
// delivery.MaxTypeLen). What differs from the Dispatcher before the
// engine: a retry does not hold back the events queued behind it, and an
// id still being delivered cannot be dispatched again.
type Dispatcher struct {
	q        *queued
	onResult func(string, *Report)

	mu      sync.Mutex
	closed  bool
	flights map[string]*flight // by event id: the events not yet done
	active  int                // deliveries not yet done
	drained chan struct{}      // closed once closed and active is 0

	stopRun  context.CancelFunc
	ran      chan struct{} // closed when the engine's Run has returned
	stopOnce sync.Once
}

// dispatchSub is a validated subscription.
type dispatchSub struct {
	Subscription
	filters []fieldFilter
	dest    string // its destination's name in the delivery engine
}

// dispatcherSource names the Dispatcher's events in its memstore.
const dispatcherSource = "dispatcher"

// NewDispatcher validates cfg and subs and starts the dispatcher's
// delivery engine. Errors name the field at fault.
func NewDispatcher(cfg DispatcherConfig, subs ...Subscription) (*Dispatcher, error) {
	switch {
	case cfg.Workers < 0:
		return nil, errors.New("send: DispatcherConfig.Workers: negative")
	case cfg.QueueSize < 0:
		return nil, errors.New("send: DispatcherConfig.QueueSize: negative")
	}
	store, err := memstore.New(memstore.Config{MaxPending: cmp.Or(cfg.QueueSize, DefaultQueueSize)})
	if err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	d := &Dispatcher{onResult: cfg.OnResult, flights: map[string]*flight{}, drained: make(chan struct{}), ran: make(chan struct{})}
	d.q, err = newQueued(queuedConfig{
		store:   store,
		source:  dispatcherSource,
		workers: cmp.Or(cfg.Workers, DefaultWorkers),
		// Subscription names may be any text: the store names each by
		// its place.
		dest:     func(i int, _ *dispatchSub) string { return "s" + strconv.Itoa(i) },
		policy:   func(s *dispatchSub) delivery.Destination { return s.Sender.policy() },
		attempt:  d.attempt,
		observer: delivery.ObserverFunc(d.observe),
		// Each event is purged once done (see finish): no retention.
		keepDelivered: -1,
		keepDead:      -1,
		// Close cancels what runs once its ctx ends, at once.
		drainTimeout: time.Nanosecond,
	}, subs)
	if err != nil {
		return nil, err
	}
	if d.q.engine == nil {
		close(d.ran)
		return d, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.stopRun = cancel
	go func() {
		_ = d.q.engine.Run(ctx)
		close(d.ran)
	}()
	return d, nil
}

// checkSubscription validates subscription i, its concurrency bounded by
// workers when positive, and returns it with its filters parsed and its
// Concurrency defaulted.
func checkSubscription(i int, s Subscription, workers int) (*dispatchSub, error) {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("send: Subscription[%d] (%s).%s: %s", i, s.Name, field, fmt.Sprintf(format, args...))
	}
	switch {
	case s.Name == "":
		return nil, bad("Name", "empty")
	case s.Sender == nil:
		return nil, bad("Sender", "required")
	case s.Concurrency < 0:
		return nil, bad("Concurrency", "negative")
	case workers > 0 && s.Concurrency > workers:
		return nil, bad("Concurrency", "%d is more than the %d workers", s.Concurrency, workers)
	}
	if err := checkEndpoint(s.Endpoint); err != nil {
		return nil, bad("Endpoint", "%v", err)
	}
	if s.When != nil && s.When.Kind() != expr.Bool {
		return nil, bad("When", "want a %s program", expr.Bool)
	}
	if s.Transform != nil && s.Transform.Kind() != expr.Value {
		return nil, bad("Transform", "want a %s program", expr.Value)
	}
	for j, p := range s.Types {
		if err := checkTypePattern(p); err != nil {
			return nil, bad(fmt.Sprintf("Types[%d]", j), "%v", err)
		}
	}
	var filters []fieldFilter
	for j, f := range s.Filter {
		path := strings.Split(f.Path, ".")
		if slices.Contains(path, "") {
			return nil, bad(fmt.Sprintf("Filter[%d].Path", j), "%q is not a dot-separated path", f.Path)
		}
		if len(f.Equals) == 0 {
			return nil, bad(fmt.Sprintf("Filter[%d].Equals", j), "empty")
		}
		filters = append(filters, fieldFilter{path: path, equals: slices.Clone(f.Equals)})
	}
	s.Types = slices.Clone(s.Types)
	s.Filter = slices.Clone(s.Filter)
	if s.Concurrency == 0 {
		s.Concurrency = 1
	}
	return &dispatchSub{Subscription: s, filters: filters}, nil
}

// matchSubscriptions returns the subscriptions whose types and filters
// match ev, decoding its payload at most once.
func matchSubscriptions(subs []*dispatchSub, ev *Delivery) []*dispatchSub {
	var (
		payload any
		parsed  bool
	)
	getPayload := func() any {
		if !parsed {
			parsed = true
			dec := json.NewDecoder(bytes.NewReader(ev.Body))
			dec.UseNumber()
			if dec.Decode(&payload) != nil {
				payload = nil
			}
		}
		return payload
	}
	typ := ev.Type
	typeKnown := typ != ""
	var (
		matched []*dispatchSub
		in      *expr.Input // one per event, shared by every program
	)
	for _, s := range subs {
		if len(s.Types) > 0 && !typeKnown {
			v, _ := lookupField(getPayload(), []string{"type"})
			typ, _ = v.(string)
			typeKnown = true
		}
		if !matchTypes(s.Types, typ) || !matchFilters(s.filters, getPayload) {
			continue
		}
		if s.Match != nil && !s.Match(*ev) {
			continue
		}
		if s.When != nil {
			if in == nil {
				in = exprInput(ev)
			}
			if ok, err := s.When.Match(context.Background(), in); !ok || err != nil {
				continue
			}
		}
		matched = append(matched, s)
	}
	return matched
}

// exprInput is the expression input of an event being sent: its own, so
// verified.
func exprInput(ev *Delivery) *expr.Input {
	return expr.NewInput("", ev.ID, ev.Type, ev.Header, ev.Body, true)
}

// transformed returns the body s gets for ev: the event's, or its
// Transform's output.
func (s *dispatchSub) transformed(ctx context.Context, ev Delivery) (Delivery, error) {
	if s.Transform == nil {
		return ev, nil
	}
	out, err := s.Transform.Transform(ctx, exprInput(&ev))
	if err != nil {
		return ev, fmt.Errorf("%w: subscription %q: transform: %w", ErrInvalidDelivery, s.Name, err)
	}
	ev.Body = out
	if ev.Header != nil {
		ev.Header = ev.Header.Clone()
		ev.Header.Del("Content-Type")
	}
	return ev, nil
}

// Dispatch queues ev for every subscription whose types and filters match
// it, with the subscription's Endpoint as URL, and returns how many it was
// queued for. It does not wait: a subscription whose queue is full is
// skipped and reported in an error wrapping ErrQueueFull, while the others
// still get the event. The event id (generated when empty) is the same for
// every subscription. An id still being delivered (dispatched before, and
// not yet done for every subscription) is refused: the error wraps
// delivery.ErrExists and nothing is queued.
func (d *Dispatcher) Dispatch(ev Delivery) (int, error) {
	ev, err := resolveDelivery(ev)
	if err != nil {
		return 0, err
	}
	matched := matchSubscriptions(d.q.order, &ev) // subscriptions never change: match unlocked
	f := &flight{left: make(map[string]*sending, len(matched))}
	var errs []error
	for _, s := range matched {
		one, err := s.transformed(context.Background(), ev)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		one.URL = s.Endpoint
		f.left[s.dest] = &sending{sub: s, f: f, d: one, rep: Report{ID: ev.ID}}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, ErrDispatcherClosed
	}
	if len(f.left) == 0 {
		return 0, errors.Join(errs...)
	}
	if d.flights[ev.ID] != nil {
		return 0, fmt.Errorf("send: event %q is still being delivered: %w", ev.ID, delivery.ErrExists)
	}
	// Recorded under d.mu: Close does not miss it, and the engine's
	// notices find it (the store call is quick, and in memory).
	for len(f.left) > 0 {
		subs := make([]*dispatchSub, 0, len(f.left))
		for _, s := range d.q.order {
			if f.left[s.dest] != nil {
				subs = append(subs, s)
			}
		}
		err := d.q.record(context.Background(), &ev, subs)
		var full *memstore.FullError
		if errors.As(err, &full) {
			for _, q := range full.Queues {
				errs = append(errs, fmt.Errorf("%w: subscription %q", ErrQueueFull, d.q.subs[q.Destination].Name))
				delete(f.left, q.Destination)
			}
			continue
		}
		if err != nil {
			return 0, errors.Join(append(errs, err)...)
		}
		d.flights[ev.ID] = f
		d.active += len(f.left)
		break
	}
	return len(f.left), errors.Join(errs...)
}

// Close stops Dispatch from queuing more and waits until every queued
// event has been delivered or given up on. When ctx is done first it
// cancels the deliveries still running or queued (each ends with the
// context's error, through OnGiveUp and OnResult, so none is lost
// silently), waits for them to return, and returns ctx's error.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		d.signal()
	}
	d.mu.Unlock()
	var err error
	select {
	case <-d.drained:
	default:
		select {
		case <-d.drained:
		case <-ctx.Done():
			err = fmt.Errorf("send: dispatcher close: %w", ctx.Err())
		}
	}
	d.stopOnce.Do(func() {
		if d.stopRun != nil {
			d.stopRun()
		}
		<-d.ran
	})
	if err != nil {
		d.abandon(ctx.Err())
	}
	return err
}

// checkTypePattern reports why p is not an event type pattern, if it is not.
func checkTypePattern(p string) error {
	if p == "" {
		return errors.New("empty pattern")
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && (i != len(p)-1 || (p != "*" && !strings.HasSuffix(p, ".*"))) {
		return fmt.Errorf("%q: a * may only stand alone or end the pattern after a dot", p)
	}
	return nil
}

// matchTypes reports whether typ matches one of patterns; no patterns
// match every type.
func matchTypes(patterns []string, typ string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		switch {
		case p == "*":
			return true
		case strings.HasSuffix(p, ".*"):
			if strings.HasPrefix(typ, p[:len(p)-1]) && len(typ) > len(p)-1 {
				return true
			}
		case p == typ:
			return true
		}
	}
	return false
}

// fieldFilter is a FieldFilter with its path split.
type fieldFilter struct {
	path   []string
	equals []string
}

// matchFilters reports whether every filter holds on the payload.
func matchFilters(filters []fieldFilter, payload func() any) bool {
	for _, f := range filters {
		v, ok := lookupField(payload(), f.path)
		if !ok {
			return false
		}
		var got string
		switch v := v.(type) {
		case string:
			got = v
		case json.Number:
			got = v.String()
		case bool:
			got = strconv.FormatBool(v)
		case nil:
			got = "null"
		default:
			return false
		}
		if !slices.Contains(f.equals, got) {
			return false
		}
	}
	return true
}

// lookupField follows path through nested objects and reports whether it
// leads to a value (null included).
func lookupField(v any, path []string) (any, bool) {
	for _, k := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[k]; !ok {
			return nil, false
		}
	}
	return v, true
}
