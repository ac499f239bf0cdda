package memstore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hookgate/hookgate/delivery"
)

// ErrFull reports an Append refused because a queue of the event holds
// Config.MaxPending waiting deliveries already. Append returns it inside
// a [*FullError], which names the queues.
var ErrFull = errors.New("memstore: queue full")

// FullError is the error of an Append refused for want of room: nothing
// was recorded. It wraps ErrFull.
type FullError struct {
	// Queues lists the full queues, in the order of the event's
	// deliveries.
	Queues []delivery.Queue
}

// Error names the full queues.
func (e *FullError) Error() string {
	names := make([]string, len(e.Queues))
	for i, q := range e.Queues {
		names[i] = q.String()
	}
	return "memstore: queue full: " + strings.Join(names, ", ")
}

// Unwrap returns ErrFull.
func (e *FullError) Unwrap() error { return ErrFull }

// Config configures a [Store].
type Config struct {
	// MaxPending bounds the pending deliveries of each queue: those
	// waiting for their first attempt or for a retry (delivering,
	// delivered and dead ones do not count). Append refuses an event that
	// would take one of its queues past it, with a *FullError. Reports
	// and replays are never refused: a failed attempt's retry, or a
	// replay, may take a queue past it for a while.
	//
	// default: 0, no bound
	MaxPending int
}

// Store is a [delivery.Store] in memory. Make one with [New]; it is safe
// for concurrent use. See the package documentation for what each call
// costs.
type Store struct {
	maxPending int

	mu     sync.Mutex
	seq    uint64
	events map[eventKey]*delivery.Event
	queues map[delivery.Queue]*queue
}

var _ delivery.Store = (*Store)(nil)

// eventKey identifies an event.
type eventKey struct{ source, id string }

// queue is the bookkeeping of one queue. Every change of a delivery's
// status goes through Store.change, which keeps it right.
type queue struct {
	// open holds the events whose delivery to the queue is pending or
	// delivering.
	open map[*delivery.Event]struct{}
	// pending counts the pending ones among open: what MaxPending bounds.
	pending int
	// dead counts the queue's dead deliveries.
	dead int
}

// New returns an empty Store. Its error names the invalid field.
func New(cfg Config) (*Store, error) {
	if cfg.MaxPending < 0 {
		return nil, fmt.Errorf("memstore: Config.MaxPending is negative (%d)", cfg.MaxPending)
	}
	return &Store{
		maxPending: cfg.MaxPending,
		events:     make(map[eventKey]*delivery.Event),
		queues:     make(map[delivery.Queue]*queue),
	}, nil
}

// queue returns the bookkeeping of q, made on first use.
func (s *Store) queue(q delivery.Queue) *queue {
	qq := s.queues[q]
	if qq == nil {
		qq = &queue{open: make(map[*delivery.Event]struct{})}
		s.queues[q] = qq
	}
	return qq
}

// count adds delivery d of ev to its queue's bookkeeping (sign 1), or
// takes it away (sign -1).
func (s *Store) count(ev *delivery.Event, d *delivery.Delivery, sign int) {
	q := s.queue(delivery.Queue{Source: ev.Source, Destination: d.Destination})
	switch d.Status {
	case delivery.StatusPending, delivery.StatusLeased:
		if sign > 0 {
			q.open[ev] = struct{}{}
		} else {
			delete(q.open, ev)
		}
		if d.Status == delivery.StatusPending {
			q.pending += sign
		}
	case delivery.StatusDead:
		q.dead += sign
	}
}

// change applies fn to the delivery of ev to dest (to every delivery of
// ev when dest is ""), keeping the queues' bookkeeping right.
func (s *Store) change(ev *delivery.Event, dest string, fn func(d *delivery.Delivery)) {
	for i := range ev.Deliveries {
		d := &ev.Deliveries[i]
		if dest != "" && d.Destination != dest {
			continue
		}
		s.count(ev, d, -1)
		fn(d)
		s.count(ev, d, 1)
	}
}

// Append implements [delivery.Store]. Besides the contract's errors, it
// returns a *FullError (wrapping ErrFull) when a queue of ev has
// Config.MaxPending pending deliveries already; nothing is recorded then.
func (s *Store) Append(ctx context.Context, ev *delivery.Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rec := clone(ev, true, false)
	rec.Deliveries = make([]delivery.Delivery, len(ev.Deliveries))
	for i, d := range ev.Deliveries {
		// A fresh delivery: no attempts, whatever the caller left in.
		r := delivery.Delivery{Destination: d.Destination, Status: d.Status, NextAt: d.NextAt, Since: d.Since}
		if r.Since.IsZero() {
			r.Since = ev.ReceivedAt
		}
		if r.Status == delivery.StatusLeased {
			r.Token = d.Token
		}
		rec.Deliveries[i] = r
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	k := eventKey{ev.Source, ev.ID}
	if s.events[k] != nil {
		return delivery.ErrExists
	}
	if s.maxPending > 0 {
		var full []delivery.Queue
		for _, d := range rec.Deliveries {
			q := delivery.Queue{Source: ev.Source, Destination: d.Destination}
			if d.Status == delivery.StatusPending && s.queues[q] != nil && s.queues[q].pending >= s.maxPending {
				full = append(full, q)
			}
		}
		if full != nil {
			return &FullError{Queues: full}
		}
	}
	s.seq++
	rec.Seq = s.seq
	s.events[k] = rec
	for i := range rec.Deliveries {
		s.count(rec, &rec.Deliveries[i], 1)
	}
	ev.Seq = rec.Seq
	return nil
}

// Lease implements [delivery.Store].
func (s *Store) Lease(ctx context.Context, q delivery.Queue, now time.Time, n int, until time.Time, token string) ([]*delivery.Task, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return nil, time.Time{}, err
	}
	if n <= 0 {
		return nil, time.Time{}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	qq := s.queues[q]
	if qq == nil {
		return nil, time.Time{}, nil
	}
	type due struct {
		ev *delivery.Event
		d  *delivery.Delivery
	}
	var dues []due
	for ev := range qq.open {
		if d := ev.Delivery(q.Destination); !d.NextAt.After(now) {
			dues = append(dues, due{ev, d})
		}
	}
	// Earliest due first; in order of receipt when due together.
	slices.SortFunc(dues, func(a, b due) int {
		return cmp.Or(a.d.NextAt.Compare(b.d.NextAt), cmp.Compare(a.ev.Seq, b.ev.Seq))
	})
	dues = dues[:min(n, len(dues))]
	tasks := make([]*delivery.Task, len(dues))
	for i, x := range dues {
		s.change(x.ev, q.Destination, func(d *delivery.Delivery) {
			d.Status, d.NextAt, d.Token = delivery.StatusLeased, until, token
		})
		tasks[i] = &delivery.Task{Event: clone(x.ev, true, false), Delivery: cloneDelivery(x.d), Attempt: x.d.AttemptCount + 1}
	}
	var next time.Time
	for ev := range qq.open {
		if at := ev.Delivery(q.Destination).NextAt; next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return tasks, next, nil
}

// held returns the event source/id and its delivery to dest, or
// ErrNotFound.
func (s *Store) held(source, id, dest string) (*delivery.Event, *delivery.Delivery, error) {
	ev := s.events[eventKey{source, id}]
	if ev == nil {
		return nil, nil, delivery.ErrNotFound
	}
	d := ev.Delivery(dest)
	if d == nil {
		return nil, nil, delivery.ErrNotFound
	}
	return ev, d, nil
}

// Report implements [delivery.Store]. Lazy reports are as immediate as
// the others.
func (s *Store) Report(ctx context.Context, r delivery.Report) error {
	if err := r.Check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, d, err := s.held(r.Source, r.ID, r.Destination)
	if err != nil {
		return err
	}
	var result error
	if d.Status != delivery.StatusLeased || d.Token != r.Token {
		if r.Status != delivery.StatusDelivered || d.Status == delivery.StatusDelivered {
			return delivery.ErrLeaseLost
		}
		// Delivered all the same: recorded, and the lease was lost.
		result = delivery.ErrLeaseLost
	}
	s.change(ev, r.Destination, func(d *delivery.Delivery) { d.Apply(&r) })
	if r.DropPayload && ev.Status() == delivery.StatusDelivered {
		ev.Header, ev.Body, ev.PayloadDropped = nil, nil, true
	}
	return result
}

// Extend implements [delivery.Store].
func (s *Store) Extend(ctx context.Context, t *delivery.Task, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, d, err := s.held(t.Event.Source, t.Event.ID, t.Delivery.Destination)
	if err != nil {
		return err
	}
	if d.Status != delivery.StatusLeased || d.Token != t.Delivery.Token {
		return delivery.ErrLeaseLost
	}
	s.change(ev, d.Destination, func(d *delivery.Delivery) { d.NextAt = until })
	t.Delivery.NextAt = until
	return nil
}

// Get implements [delivery.Store].
func (s *Store) Get(ctx context.Context, source, id string) (*delivery.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := s.events[eventKey{source, id}]
	if ev == nil {
		return nil, delivery.ErrNotFound
	}
	return clone(ev, true, true), nil
}

// selected returns the events f selects by its Source, Type, ID, Status
// and times (not by Before, After or Limit), in the order of their Seq.
func (s *Store) selected(f *delivery.Filter) []*delivery.Event {
	var evs []*delivery.Event
	if f.ID != "" && f.Source != "" {
		if ev := s.events[eventKey{f.Source, f.ID}]; ev != nil && f.Match(ev) {
			evs = append(evs, ev)
		}
		return evs
	}
	for _, ev := range s.events {
		if f.Match(ev) {
			evs = append(evs, ev)
		}
	}
	slices.SortFunc(evs, func(a, b *delivery.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	return evs
}

// List implements [delivery.Store]. Seq orders events across sources.
func (s *Store) List(ctx context.Context, f delivery.Filter) ([]*delivery.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	evs := slices.DeleteFunc(s.selected(&f), func(ev *delivery.Event) bool {
		return f.Before > 0 && ev.Seq >= f.Before || ev.Seq <= f.After
	})
	if f.After == 0 {
		slices.Reverse(evs) // newest first
	}
	evs = evs[:min(len(evs), f.ListLimit())]
	out := make([]*delivery.Event, len(evs))
	for i, ev := range evs {
		out[i] = clone(ev, false, true)
	}
	return out, nil
}

// Replay implements [delivery.Store].
func (s *Store) Replay(ctx context.Context, source, id, destination string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := s.events[eventKey{source, id}]
	if ev == nil || destination != "" && ev.Delivery(destination) == nil {
		return delivery.ErrNotFound
	}
	if ev.PayloadDropped {
		return delivery.ErrPayloadDropped
	}
	s.change(ev, destination, func(d *delivery.Delivery) {
		d.Status, d.NextAt, d.Token, d.Since, d.Tries = delivery.StatusPending, now, "", now, 0
		d.FinishedAt, d.Reason = time.Time{}, ""
	})
	return nil
}

// Purge implements [delivery.Store]. With a Limit, the oldest events
// selected go first.
func (s *Store) Purge(ctx context.Context, f delivery.Filter) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	evs := s.selected(&f)
	if f.Limit > 0 {
		evs = evs[:min(len(evs), f.Limit)]
	}
	for _, ev := range evs {
		for i := range ev.Deliveries {
			s.count(ev, &ev.Deliveries[i], -1)
		}
		delete(s.events, eventKey{ev.Source, ev.ID})
	}
	return len(evs), nil
}

// Stats implements [delivery.Store].
func (s *Store) Stats(ctx context.Context, qs []delivery.Queue) ([]delivery.QueueStats, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]delivery.QueueStats, len(qs))
	for i, q := range qs {
		st := delivery.QueueStats{Queue: q}
		if qq := s.queues[q]; qq != nil {
			st.Pending, st.Dead = len(qq.open), qq.dead
			for ev := range qq.open {
				if since := ev.Delivery(q.Destination).Since; st.OldestSince.IsZero() || since.Before(st.OldestSince) {
					st.OldestSince = since
				}
			}
		}
		out[i] = st
	}
	return out, nil
}

// clone returns a copy of ev that shares no memory with it: its headers
// always, its body when body is set, and its deliveries when deliveries
// is set.
func clone(ev *delivery.Event, body, deliveries bool) *delivery.Event {
	c := *ev
	c.Header = ev.Header.Clone()
	c.Body, c.Deliveries = nil, nil
	if body {
		c.Body = bytes.Clone(ev.Body)
	}
	if deliveries {
		c.Deliveries = make([]delivery.Delivery, len(ev.Deliveries))
		for i := range ev.Deliveries {
			c.Deliveries[i] = cloneDelivery(&ev.Deliveries[i])
		}
	}
	return &c
}

// cloneDelivery returns a copy of d that shares no memory with it.
func cloneDelivery(d *delivery.Delivery) delivery.Delivery {
	c := *d
	c.Attempts = slices.Clone(d.Attempts)
	return c
}
