package send

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

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
	// DefaultQueueSize bounds each subscription's queue when
	// DispatcherConfig.QueueSize is zero.
	DefaultQueueSize = 1024
)

// Subscription is one endpoint's interest in events.
type Subscription struct {
	// Name identifies the subscription in results and errors. Required
	// and unique within a Dispatcher.
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
	// the subscription's events one at a time in the order dispatched (an
	// event waiting to be retried holds back those queued behind it).
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
	// subscriptions. A subscription never holds more than its Concurrency
	// of them, and none while it waits to retry, so one stalled endpoint
	// leaves the others the rest. Default: 8.
	Workers int
	// QueueSize bounds each subscription's queue of events waiting for a
	// worker; Dispatch reports ErrQueueFull past it. Default: 1024.
	QueueSize int
	// OnResult, if set, is called with each delivery's report once it is
	// done, delivered or not. It is called from many goroutines at once.
	OnResult func(subscription string, r *Report)
}

// Dispatcher fans events out to the subscriptions whose types and filters
// match, delivering to each independently and concurrently. Dispatch never
// blocks on an endpoint. Make one with [NewDispatcher] (the zero value is
// not usable) and stop it with Close. It is safe for concurrent use.
type Dispatcher struct {
	subs     []*dispatchSub
	slots    workerSlots
	onResult func(string, *Report)

	ctx    context.Context // deliveries run under it; Close cancels it
	cancel context.CancelFunc
	done   chan struct{} // closed when every runner has returned

	mu     sync.RWMutex // guards closed against the queues being closed
	closed bool
}

// dispatchSub is a validated subscription and its queue.
type dispatchSub struct {
	Subscription
	filters []fieldFilter
	queue   chan Delivery
}

// NewDispatcher validates cfg and subs and starts the dispatcher's
// goroutines. Errors name the field at fault.
func NewDispatcher(cfg DispatcherConfig, subs ...Subscription) (*Dispatcher, error) {
	switch {
	case cfg.Workers < 0:
		return nil, errors.New("send: DispatcherConfig.Workers: negative")
	case cfg.QueueSize < 0:
		return nil, errors.New("send: DispatcherConfig.QueueSize: negative")
	}
	workers := cfg.Workers
	if workers == 0 {
		workers = DefaultWorkers
	}
	queueSize := cfg.QueueSize
	if queueSize == 0 {
		queueSize = DefaultQueueSize
	}
	d := &Dispatcher{slots: make(workerSlots, workers), onResult: cfg.OnResult, done: make(chan struct{})}
	names := make(map[string]bool, len(subs))
	for i, s := range subs {
		if names[s.Name] {
			return nil, fmt.Errorf("send: Subscription[%d] (%s).Name: duplicate", i, s.Name)
		}
		names[s.Name] = true
		ds, err := checkSubscription(i, s, workers)
		if err != nil {
			return nil, err
		}
		ds.queue = make(chan Delivery, queueSize)
		d.subs = append(d.subs, ds)
	}

	d.ctx, d.cancel = context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range d.subs {
		for range s.Concurrency {
			wg.Go(func() { d.run(s) })
		}
	}
	go func() {
		wg.Wait()
		close(d.done)
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

// run delivers s's queued events until the queue is closed and empty.
func (d *Dispatcher) run(s *dispatchSub) {
	for ev := range s.queue {
		r := s.Sender.deliver(d.ctx, ev, d.slots)
		if d.onResult != nil {
			d.onResult(s.Name, r)
		}
	}
}

// Dispatch queues ev for every subscription whose types and filters match
// it, with the subscription's Endpoint as URL, and returns how many it was
// queued for. It does not wait: a subscription whose queue is full is
// skipped and reported in an error wrapping ErrQueueFull, while the others
// still get the event. The event id (generated when empty) is the same for
// every subscription.
func (d *Dispatcher) Dispatch(ev Delivery) (int, error) {
	ev, err := resolveDelivery(ev)
	if err != nil {
		return 0, err
	}
	matched := matchSubscriptions(d.subs, &ev) // subscriptions never change: match unlocked

	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return 0, ErrDispatcherClosed
	}
	n := 0
	var errs []error
	for _, s := range matched {
		one, err := s.transformed(context.Background(), ev)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		one.URL = s.Endpoint
		select {
		case s.queue <- one:
			n++
		default:
			errs = append(errs, fmt.Errorf("%w: subscription %q", ErrQueueFull, s.Name))
		}
	}
	return n, errors.Join(errs...)
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
		for _, s := range d.subs {
			close(s.queue)
		}
	}
	d.mu.Unlock()
	select {
	case <-d.done:
		d.cancel()
		return nil
	case <-ctx.Done():
		d.cancel()
		<-d.done
		return fmt.Errorf("send: dispatcher close: %w", ctx.Err())
	}
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
