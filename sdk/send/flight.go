package send

import (
	"context"
	"fmt"

	"github.com/hookgate/hookgate/delivery"
)

// This file follows a Dispatcher's deliveries through the delivery
// engine: the attempt function records what the Sender saw, the engine's
// notices say what follows each attempt (a retry after a wait, delivery,
// death), and the Report given to OnResult is built from both.

// flight is one dispatched event: its deliveries not yet done.
type flight struct {
	left map[string]*sending // by destination name
}

// sending is one delivery of a dispatched event to one subscription.
// The engine leases it to one attempt at a time, and its notices come on
// that attempt's goroutine, so its fields need no lock of their own.
type sending struct {
	sub *dispatchSub
	f   *flight  // the event's
	d   Delivery // as sent: the subscription's URL and body
	rep Report
	// a is the last attempt and out its outcome; unsettled while the
	// engine has not yet said what follows it.
	a         Attempt
	out       outcome
	unsettled bool
}

// attempt is the engine's attempt function: one signed request by the
// subscription's Sender, of the delivery Dispatch prepared.
func (d *Dispatcher) attempt(ctx context.Context, t *delivery.Task, s *dispatchSub) delivery.Result {
	sd := d.sending(t.Event.ID, s.dest)
	if sd == nil {
		// Not dispatched, or abandoned by Close meanwhile.
		return delivery.Result{Permanent: true, Err: fmt.Errorf("send: event %q is not being dispatched", t.Event.ID)}
	}
	a, out, r := s.send(ctx, &sd.d, t.Attempt)
	sd.a, sd.out, sd.unsettled = a, out, true
	return r
}

// sending returns the delivery of event id to dest, or nil.
func (d *Dispatcher) sending(id, dest string) *sending {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f := d.flights[id]; f != nil {
		return f.left[dest]
	}
	return nil
}

// observe receives the engine's notices: each attempt's (what follows
// it), and each delivery's end.
func (d *Dispatcher) observe(n delivery.Notice) {
	switch n.Kind {
	case delivery.NoticeAttempt, delivery.NoticeDelivered, delivery.NoticeDead:
	default:
		return
	}
	sd := d.sending(n.ID, n.Queue.Destination)
	if sd == nil {
		return
	}
	switch n.Kind {
	case delivery.NoticeAttempt:
		if !sd.unsettled {
			return
		}
		sd.unsettled = false
		if n.Status == delivery.StatusPending {
			sd.a.Retry = true
			sd.a.Delay = n.NextAt.Sub(n.Attempt.At.Add(n.Attempt.Latency))
		}
		if !invalid(&sd.a, sd.out) {
			sd.settle()
		}
	case delivery.NoticeDelivered:
		sd.rep.Delivered = true
		d.finish(sd)
	case delivery.NoticeDead:
		if invalid(&sd.a, sd.out) {
			sd.rep.Err = fmt.Errorf("%w: %w", ErrInvalidDelivery, sd.a.Err)
		} else {
			sd.rep.end(&sd.a, sd.out)
			sd.giveUp()
		}
		d.finish(sd)
	}
}

// settle records the last attempt in the report, and tells the Sender's
// OnAttempt.
func (sd *sending) settle() {
	sd.rep.add(sd.a)
	if h := sd.sub.Sender.onAttempt; h != nil {
		h(sd.d, sd.a)
	}
}

// giveUp tells the Sender's OnGiveUp.
func (sd *sending) giveUp() {
	if h := sd.sub.Sender.onGiveUp; h != nil {
		h(sd.d, &sd.rep)
	}
}

// finish ends the delivery sd: once its event has no delivery left, the
// event is purged from the store (its id may be dispatched again), and
// then OnResult has the report.
func (d *Dispatcher) finish(sd *sending) {
	id := sd.rep.ID
	d.mu.Lock()
	delete(sd.f.left, sd.sub.dest)
	last := len(sd.f.left) == 0
	if last && d.flights[id] == sd.f {
		delete(d.flights, id)
	}
	d.mu.Unlock()
	if last {
		// The only error a memstore gives here is for a ctx that ended.
		_, _ = d.q.engine.Purge(context.Background(), delivery.Filter{Source: dispatcherSource, ID: id})
	}
	if d.onResult != nil {
		d.onResult(sd.sub.Name, &sd.rep)
	}
	d.mu.Lock()
	d.active--
	d.signal()
	d.mu.Unlock()
}

// signal closes drained once the Dispatcher is closed and no delivery is
// left. d.mu is held.
func (d *Dispatcher) signal() {
	if d.closed && d.active == 0 {
		select {
		case <-d.drained:
		default:
			close(d.drained)
		}
	}
}

// abandon ends, with cause, every delivery not done once the engine has
// stopped: an attempt that was under way is recorded, and each report
// goes to OnGiveUp and OnResult.
func (d *Dispatcher) abandon(cause error) {
	d.mu.Lock()
	flights := d.flights
	d.flights = map[string]*flight{}
	d.mu.Unlock()
	for _, f := range flights {
		for _, sd := range f.left {
			if sd.unsettled && !invalid(&sd.a, sd.out) {
				sd.settle()
			}
			sd.rep.Err = fmt.Errorf("send: delivery canceled: %w", cause)
			sd.giveUp()
			if d.onResult != nil {
				d.onResult(sd.sub.Name, &sd.rep)
			}
		}
	}
	d.mu.Lock()
	d.active = 0
	d.signal()
	d.mu.Unlock()
}
