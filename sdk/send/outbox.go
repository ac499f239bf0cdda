package send

import (
	"cmp"
	"context"
	"errors"

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
	// subscription's, default 1). The Senders' Schedule and MaxAttempts
	// do not apply (a Dispatcher's retries follow them).
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
//
// The Outbox reads each attempt as [Sender.Send] does, and as a
// Dispatcher does: a 2xx is delivered; 410 Gone, another 4xx (but 408,
// 429, and 409 with a Retry-After) or a 3xx is dead at once; anything
// else is retried, after its Retry-After when it has one. The Senders'
// OnAttempt and OnGiveUp hooks are not called: the Observer and the
// engine's dead letters stand for them.
type Outbox struct {
	q *queued
}

// NewOutbox validates cfg and subs (as NewDispatcher does) and returns an
// Outbox. Subscription names name the destinations in the store, so
// they follow delivery.CheckName. Errors name the field at fault.
func NewOutbox(cfg OutboxConfig, subs ...Subscription) (*Outbox, error) {
	if cfg.Store == nil {
		return nil, errors.New("send: OutboxConfig.Store: required")
	}
	if len(subs) == 0 {
		return nil, errors.New("send: NewOutbox: no Subscription")
	}
	q, err := newQueued(queuedConfig{
		store:    cfg.Store,
		source:   cmp.Or(cfg.Source, DefaultOutboxSource),
		dest:     func(_ int, s *dispatchSub) string { return s.Name },
		policy:   func(*dispatchSub) delivery.Destination { return cfg.Policy },
		attempt:  outboxAttempt,
		observer: cfg.Observer,
	}, subs)
	if err != nil {
		return nil, err
	}
	return &Outbox{q: q}, nil
}

// Run delivers until ctx ends, then lets attempts under way finish (the
// engine's drain timeout). Events recorded by an earlier run are resumed.
func (o *Outbox) Run(ctx context.Context) error { return o.q.engine.Run(ctx) }

// Engine returns the outbox's delivery engine, for replays, purges and
// its store's events.
func (o *Outbox) Engine() *delivery.Engine { return o.q.engine }

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
	matched := matchSubscriptions(o.q.order, &ev)
	if len(matched) == 0 {
		return 0, nil
	}
	if err := o.q.record(ctx, &ev, matched); err != nil {
		return 0, err
	}
	return len(matched), nil
}

// outboxAttempt is the engine's attempt function: one signed request by
// the subscription's Sender, the body transformed as it asks.
func outboxAttempt(ctx context.Context, t *delivery.Task, s *dispatchSub) delivery.Result {
	d, err := s.transformed(ctx, Delivery{URL: s.Endpoint, ID: t.Event.ID, Type: t.Event.Type, Body: t.Event.Body, Header: t.Event.Header})
	if err != nil {
		return delivery.Result{Permanent: true, Err: err}
	}
	_, _, r := s.send(ctx, &d, t.Attempt)
	return r
}
