package send

import (
	"context"
	"fmt"
	"time"

	"github.com/hookgate/hookgate/delivery"
)

// queued is what an Outbox and a Dispatcher share: their validated
// subscriptions, each a destination of one delivery engine whose
// attempts the subscription's Sender makes.
type queued struct {
	source string
	subs   map[string]*dispatchSub // by destination name
	order  []*dispatchSub
	engine *delivery.Engine // nil when there is no subscription
}

// queuedConfig says how an Outbox or a Dispatcher sets up its engine.
type queuedConfig struct {
	store  delivery.Store
	source string
	// workers bounds each subscription's Concurrency and the attempts
	// under way across subscriptions, when positive.
	workers int
	// dest names subscription i's destination in the store.
	dest func(i int, s *dispatchSub) string
	// policy returns the retry policy of s; its Source, Name and
	// Concurrency are then set.
	policy func(s *dispatchSub) delivery.Destination
	// attempt makes the engine's attempt of t to s.
	attempt func(ctx context.Context, t *delivery.Task, s *dispatchSub) delivery.Result
	// The engine's, as delivery.Config has them.
	observer                delivery.Observer
	keepDelivered, keepDead time.Duration
	drainTimeout            time.Duration
}

// newQueued validates subs and builds the engine of cfg over them.
func newQueued(cfg queuedConfig, subs []Subscription) (*queued, error) {
	q := &queued{source: cfg.source, subs: map[string]*dispatchSub{}}
	names := make(map[string]bool, len(subs))
	var dests []delivery.Destination
	for i, s := range subs {
		if names[s.Name] {
			return nil, fmt.Errorf("send: Subscription[%d] (%s).Name: duplicate", i, s.Name)
		}
		names[s.Name] = true
		ds, err := checkSubscription(i, s, cfg.workers)
		if err != nil {
			return nil, err
		}
		ds.dest = cfg.dest(i, ds)
		q.subs[ds.dest] = ds
		q.order = append(q.order, ds)
		d := cfg.policy(ds)
		d.Source, d.Name, d.Concurrency = cfg.source, ds.dest, ds.Concurrency
		dests = append(dests, d)
	}
	if len(dests) == 0 {
		return q, nil
	}
	eng, err := delivery.New(delivery.Config{
		Store: cfg.store,
		Attempt: func(ctx context.Context, t *delivery.Task) delivery.Result {
			s := q.subs[t.Delivery.Destination]
			if s == nil {
				return delivery.Result{Permanent: true, Err: fmt.Errorf("send: no subscription %q", t.Delivery.Destination)}
			}
			return cfg.attempt(ctx, t, s)
		},
		Destinations:  dests,
		Concurrency:   cfg.workers,
		Observer:      cfg.observer,
		KeepDelivered: cfg.keepDelivered,
		KeepDead:      cfg.keepDead,
		DrainTimeout:  cfg.drainTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	q.engine = eng
	return q, nil
}

// record records ev (resolved) with a delivery to each of subs, through
// the engine, which delivers it: the Outbox's Enqueue and the
// Dispatcher's Dispatch.
func (q *queued) record(ctx context.Context, ev *Delivery, subs []*dispatchSub) error {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.dest
	}
	rec := &delivery.Event{Source: q.source, ID: ev.ID, Type: ev.Type, Header: ev.Header, Body: ev.Body}
	return q.engine.Enqueue(ctx, rec, names...)
}

// send makes attempt n of d, signed by s's Sender, and says how the
// engine reads it: delivered; retried (after the endpoint's Retry-After,
// when it sent one, instead of the backoff) on the outcomes Send
// retries; permanent, so dead at once, on those Send stops at (410 Gone,
// another 4xx or a 3xx, a body that cannot be signed). It returns the
// Sender's account of the attempt and its outcome too.
func (s *dispatchSub) send(ctx context.Context, d *Delivery, n int) (Attempt, outcome, delivery.Result) {
	a, retryAfter, _, out := s.Sender.attempt(ctx, d, n)
	r := delivery.Result{StatusCode: a.Status, RetryAfter: retryAfter, Err: a.Err}
	switch out {
	case outDelivered:
		r.Delivered, r.Err = true, nil
	case outGone, outRejected, outSignFailed:
		// Retrying cannot help: the endpoint said so, or the body
		// cannot be signed.
		r.Permanent = true
	}
	return a, out, r
}
