package send

import (
	"context"
	"errors"
	"fmt"

	"github.com/hookgate/hookgate/delivery"
)

// DefaultOutboxSource names an Outbox's events in its store when
// OutboxConfig.Source is empty.
const DefaultOutboxSource = "outbox"

// OutboxConfig configures an [Outbox].
type OutboxConfig struct {
	// Store records the events: boltstore for one process, redisstore for
	// several sharing the work. Required.
	Store delivery.Store
	// Source names the outbox's events in the store (and in the gateway's
	// events API when they share one). Default: "outbox".
	Source string
	// Policy is the delivery policy of every subscription: attempt
	// timeout, backoff, maximum attempts and age, rate. Its Source, Name
	// and Concurrency are set per subscription (Concurrency from the
	// subscription's, default 1).
	Policy delivery.Destination
	// Observer receives what the engine does (attempts, deliveries, dead
	// letters, queue states), for metrics and logs. Optional.
	Observer delivery.Observer
}

// Outbox is the durable sending end: [Outbox.Enqueue] returns once the
// event is recorded, and the delivery engine (package delivery, the one
// the gateway runs) delivers it to every matching subscription, signed by
// the subscription's Sender, with retries, backoff and dead letters,
// resuming after a restart. Unlike [Dispatcher], nothing is lost when the
// process stops. Make one with [NewOutbox] and run its workers with
// [Outbox.Run]. It is safe for concurrent use.
type Outbox struct {
	source string
	subs   map[string]*dispatchSub
	order  []*dispatchSub
	engine *delivery.Engine
}

// NewOutbox validates cfg and subs (as NewDispatcher does) and returns an
// Outbox. Errors name the field at fault.
func NewOutbox(cfg OutboxConfig, subs ...Subscription) (*Outbox, error) {
	if cfg.Store == nil {
		return nil, errors.New("send: OutboxConfig.Store: required")
	}
	if cfg.Source == "" {
		cfg.Source = DefaultOutboxSource
	}
	o := &Outbox{source: cfg.Source, subs: map[string]*dispatchSub{}}
	var dests []delivery.Destination
	for i, s := range subs {
		ds, err := checkSubscription(i, s, 0)
		if err != nil {
			return nil, err
		}
		if o.subs[s.Name] != nil {
			return nil, fmt.Errorf("send: Subscription[%d] (%s).Name: duplicate", i, s.Name)
		}
		o.subs[s.Name] = ds
		o.order = append(o.order, ds)
		d := cfg.Policy
		d.Source, d.Name, d.Concurrency = cfg.Source, s.Name, ds.Concurrency
		dests = append(dests, d)
	}
	eng, err := delivery.New(delivery.Config{Store: cfg.Store, Attempt: o.attempt, Destinations: dests, Observer: cfg.Observer})
	if err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	o.engine = eng
	return o, nil
}

// Run delivers until ctx ends, then lets attempts under way finish (the
// engine's drain timeout). Events recorded by an earlier run are resumed.
func (o *Outbox) Run(ctx context.Context) error { return o.engine.Run(ctx) }

// Engine returns the outbox's delivery engine, for replays, purges and
// its store's events.
func (o *Outbox) Engine() *delivery.Engine { return o.engine }

// Enqueue records ev, durably, with a delivery to every subscription whose
// types and filters match it, and returns how many that is (0: nothing
// recorded). The event id (generated when empty) is the same for every
// subscription and every attempt. It returns delivery.ErrExists for an id
// already recorded, and the store's error (wrapping
// delivery.ErrUnavailable) when it could not record.
func (o *Outbox) Enqueue(ctx context.Context, ev Delivery) (int, error) {
	ev, err := resolveDelivery(ev)
	if err != nil {
		return 0, err
	}
	matched := matchSubscriptions(o.order, &ev)
	if len(matched) == 0 {
		return 0, nil
	}
	names := make([]string, len(matched))
	for i, s := range matched {
		names[i] = s.Name
	}
	rec := &delivery.Event{Source: o.source, ID: ev.ID, Type: ev.Type, Header: ev.Header, Body: ev.Body}
	if err := o.engine.Enqueue(ctx, rec, names...); err != nil {
		return 0, err
	}
	return len(matched), nil
}

// attempt is the engine's attempt function: one signed request by the
// subscription's Sender.
func (o *Outbox) attempt(ctx context.Context, t *delivery.Task) delivery.Result {
	s := o.subs[t.Delivery.Destination]
	if s == nil {
		return delivery.Result{Permanent: true, Err: fmt.Errorf("send: no subscription %q", t.Delivery.Destination)}
	}
	d, err := s.transformed(ctx, Delivery{URL: s.Endpoint, ID: t.Event.ID, Type: t.Event.Type, Body: t.Event.Body, Header: t.Event.Header})
	if err != nil {
		return delivery.Result{Permanent: true, Err: err}
	}
	a, retryAfter, _, out := s.Sender.attempt(ctx, &d, t.Attempt)
	r := delivery.Result{StatusCode: a.Status, RetryAfter: retryAfter, Err: a.Err}
	switch out {
	case outDelivered:
		r.Delivered, r.Err = true, nil
	case outGone, outRejected, outSignFailed:
		// Retrying cannot help: the endpoint said so, or the body
		// cannot be signed.
		r.Permanent = true
	}
	return r
}
