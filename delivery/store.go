package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors a caller acts on. Stores return them, wrapped or not; match them
// with [errors.Is].
var (
	// ErrExists reports that Append found the event (same source and id)
	// already recorded, and left it as it was: the provider's retry of an
	// event already taken in. Answer it as a duplicate.
	ErrExists = errors.New("delivery: event already recorded")

	// ErrNotFound reports an event (or a destination of it) the store
	// does not hold: never recorded, or purged.
	ErrNotFound = errors.New("delivery: event not found")

	// ErrLeaseLost reports that a Report or Extend came with a token that
	// no longer holds the delivery: the lease expired and another worker
	// took it, or the delivery was replayed, delivered or purged
	// meanwhile. A Delivered report is recorded all the same (the event
	// did reach the destination, and the other holder may deliver it
	// again); any other report changed nothing.
	ErrLeaseLost = errors.New("delivery: lease no longer held")

	// ErrUnavailable reports that the store could not answer: disk full,
	// Redis unreachable, a timeout. Infrastructure failures wrap it and
	// are never reported as any of the errors above.
	ErrUnavailable = errors.New("delivery: store unavailable")

	// ErrClosed reports a call on a closed store. It wraps ErrUnavailable.
	ErrClosed = unavailable("store closed")

	// ErrUnknownDestination reports a destination the Engine has no
	// configuration for.
	ErrUnknownDestination = errors.New("delivery: unknown destination")

	// ErrPayloadDropped reports a Replay of an event whose headers and
	// body were dropped once it was delivered ([Report.DropPayload]):
	// there is nothing left to deliver again. Nothing changed.
	ErrPayloadDropped = errors.New("delivery: event payload not kept: it cannot be delivered again")
)

type unavailableError string

// Error returns the message.
func (e unavailableError) Error() string { return "delivery: " + string(e) }

// Unwrap returns ErrUnavailable.
func (e unavailableError) Unwrap() error { return ErrUnavailable }

func unavailable(msg string) error { return unavailableError(msg) }

// Store records events and their deliveries durably, and leases due
// deliveries to workers. Every method is safe for concurrent use, also by
// several processes sharing one store (Redis) or one process's engines
// sharing one store across a configuration reload.
//
// Stores take time as arguments and never read a clock, so that tests and
// engines drive them at any instant; they keep times at millisecond
// precision. boltstore and redisstore implement Store durably, memstore in
// memory; package deliverytest checks another implementation against
// this contract.
type Store interface {
	// Append records ev and its deliveries, as [Event.Validate] accepts
	// them (pending ones due at NextAt, delivering ones leased to their
	// Token until NextAt), and sets ev.Seq. The event is durable when
	// Append returns nil (see each store for what durable means). It
	// returns ErrExists, changing nothing, when an event with the same
	// source and id is recorded. A call whose ctx ends first returns
	// ctx's error; the event may still be recorded.
	Append(ctx context.Context, ev *Event) error

	// Lease leases up to n deliveries of q due at now (pending with
	// NextAt <= now, or delivering with an expired lease), earliest due
	// first, to token until until, and returns them. next is when the
	// earliest delivery of q left behind falls due (a lease expiry
	// included), zero when q has none: a worker can sleep until then.
	Lease(ctx context.Context, q Queue, now time.Time, n int, until time.Time, token string) (tasks []*Task, next time.Time, err error)

	// Report records the end of an attempt (or a lease given back). It
	// returns ErrNotFound when the event or delivery is gone,
	// ErrLeaseLost as documented there.
	Report(ctx context.Context, r Report) error

	// Extend moves the lease of t (held by t.Delivery.Token) to until,
	// and t.Delivery.NextAt with it. It returns ErrLeaseLost when the
	// token no longer holds the delivery.
	Extend(ctx context.Context, t *Task, until time.Time) error

	// Get returns the event source/id, its headers, body and every
	// delivery; ErrNotFound if there is none. An event whose payload was
	// dropped comes with Event.PayloadDropped set and no headers or body.
	Get(ctx context.Context, source, id string) (*Event, error)

	// List returns the events f selects, without their bodies: newest
	// first, or oldest first when f.After is set; at most f.Limit (or
	// DefaultListLimit).
	List(ctx context.Context, f Filter) ([]*Event, error)

	// Replay makes the delivery of source/id to destination (every
	// delivery of the event when destination is "") pending again, due
	// at now, with a fresh budget (Since now, Tries 0); its past attempts
	// are kept. Any status can be replayed; a delivering one loses its
	// lease. It returns ErrNotFound when the event or destination is not
	// recorded, and ErrPayloadDropped, changing nothing, when the event's
	// payload was dropped.
	Replay(ctx context.Context, source, id, destination string, now time.Time) error

	// Purge deletes the events f selects (f.Before and f.After do not
	// apply), at most f.Limit when it is positive, and returns how many
	// it deleted. Their deliveries stop; a report for them gets
	// ErrNotFound.
	Purge(ctx context.Context, f Filter) (int, error)

	// Stats returns the state of each of qs, in order.
	Stats(ctx context.Context, qs []Queue) ([]QueueStats, error)
}

// AppendQueuer is a Store that can queue an append, and take in the
// outcome of the event's live attempt while the append waits for its
// write: boltstore, which commits its writes in groups. [Engine.BeginLive]
// uses it so that the live attempt does not wait for the store: an
// attempt the destination accepts before the event is written costs one
// write, of the event already delivered, which nobody waits for.
type AppendQueuer interface {
	Store

	// QueueAppend queues the append of ev, as Append takes it, and
	// returns without waiting for the write; ev.Seq is not set. The
	// store begins the write within hold, or as soon as a report is
	// folded in or Wait is called. It returns ErrExists when an event
	// with the same source and id is already written (one queued at the
	// same moment is found by the write: see QueuedAppend.Wait), and the
	// errors of Append that need no write.
	QueueAppend(ctx context.Context, ev *Event, hold time.Duration) (QueuedAppend, error)
}

// QueuedAppend is an append queued by [AppendQueuer.QueueAppend]. A
// report on its event sent with Report after Fold returned false, or
// after Wait returned, is written after the append; one sent before may
// find no event.
type QueuedAppend interface {
	// Fold makes r, the report of an attempt of one of the event's
	// deliveries, part of the append when the store has not begun
	// writing it, and reports whether it did; r's Token is not checked.
	// When Fold returns false, send r with Report as usual. A failure of
	// the write that r was folded into goes where the failures of lazy
	// reports go (boltstore: its OnError).
	Fold(r Report) bool

	// Wait returns Append's answer once the append is written and
	// durable (nil, ErrExists, or an error wrapping ErrUnavailable), or
	// ctx's error when ctx ends first.
	Wait(ctx context.Context) error
}

// Report is what a worker (or a live caller) tells the store after an
// attempt: the attempt, and the delivery's next status.
type Report struct {
	// Source, ID and Destination name the delivery; Token is its lease.
	Source, ID, Destination, Token string
	// Attempt is recorded when set, and counts in Tries and AttemptCount.
	// A lease given back unused (at shutdown) has none.
	Attempt *Attempt
	// Status is what the delivery becomes: StatusPending (retried at
	// NextAt), StatusDelivered or StatusDead.
	Status Status
	// NextAt is when a pending delivery is due.
	NextAt time.Time
	// Reason says why a dead delivery died. At most MaxErrorLen bytes.
	Reason string
	// DropPayload asks the store to drop the event's headers and body, in
	// the same write, when this report leaves every delivery of the event
	// delivered; the event then reads back with PayloadDropped set. A
	// report that leaves a delivery pending, delivering or dead keeps
	// them: delivering, and replaying, need them.
	DropPayload bool
	// Now is when the report is made: FinishedAt of a delivered or dead
	// delivery.
	Now time.Time
	// Lazy lets the store return before the report is durable (boltstore
	// queues it for its next group commit and reports failures to its
	// OnError). A report lost in a crash costs a repeated attempt once the
	// lease expires, never a lost event.
	Lazy bool
}

// Check reports what is wrong with r as a store takes it: a status a
// report can set (pending, delivered or dead), and a NextAt when pending.
// Stores call it; it does not look at the lease.
func (r *Report) Check() error {
	switch r.Status {
	case StatusPending:
		if r.NextAt.IsZero() {
			return errors.New("delivery: a pending Report needs a NextAt")
		}
	case StatusDelivered, StatusDead:
	default:
		return fmt.Errorf("delivery: a Report makes a delivery pending, delivered or dead, not %v", r.Status)
	}
	return nil
}

// Apply records r in d, the delivery it names: its attempt (counted in
// Tries and AttemptCount, kept among the last MaxAttemptHistory, its
// Error cut to MaxErrorLen), and the status it reports, with its NextAt,
// or FinishedAt (r.Now) and Reason (cut to MaxErrorLen). The lease ends.
// Stores call it once they have checked the lease; the payload is theirs
// to drop.
func (d *Delivery) Apply(r *Report) {
	if r.Attempt != nil {
		a := *r.Attempt
		a.Error = clip(a.Error)
		if len(d.Attempts) >= MaxAttemptHistory {
			d.Attempts = append(d.Attempts[:0], d.Attempts[len(d.Attempts)-MaxAttemptHistory+1:]...)
		}
		d.Attempts = append(d.Attempts, a)
		d.Tries++
		d.AttemptCount++
	}
	d.Status, d.Token, d.Reason = r.Status, "", ""
	switch r.Status {
	case StatusPending:
		d.NextAt, d.FinishedAt = r.NextAt, time.Time{}
	default:
		d.NextAt, d.FinishedAt = time.Time{}, r.Now
		if r.Status == StatusDead {
			d.Reason = clip(r.Reason)
		}
	}
}

// Filter selects events for List and Purge. Its zero value selects every
// event.
type Filter struct {
	// Source, Type: only events with these, when not empty.
	Source, Type string
	// ID: only the event with this id, when not empty. With a Source,
	// stores look it up directly (Purge of one event); without one, they
	// walk every event.
	ID string
	// Status: only events with this status as a whole ([Event.Status]),
	// when not zero. StatusLeased selects events with a delivery under
	// way.
	Status Status
	// ReceivedAfter, ReceivedBefore: only events received at or after,
	// and before, these times, when not zero.
	ReceivedAfter, ReceivedBefore time.Time
	// FinishedBefore: only finished events (delivered or dead as a whole)
	// that finished before this time, when not zero: what retention
	// trims.
	FinishedBefore time.Time
	// Before: List only events with a Seq below it, when not zero: the
	// next page of a newest-first listing.
	Before uint64
	// After: List only events with a Seq above it, oldest first, when
	// not zero: what a feed resumed from a Last-Event-ID needs. Seq
	// orders events within a source; only boltstore orders them across
	// sources too, so the Redis store needs a Source for Before and After.
	After uint64
	// Limit bounds the events returned or purged. List: default
	// DefaultListLimit, at most MaxListLimit. Purge: 0 purges every match.
	Limit int
}

// List limits.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// ListLimit returns the number of events List returns for f.Limit.
func (f Filter) ListLimit() int {
	switch {
	case f.Limit <= 0:
		return DefaultListLimit
	case f.Limit > MaxListLimit:
		return MaxListLimit
	}
	return f.Limit
}

// Match reports whether ev is selected by f's Source, Type, ID, Status
// and time fields (not by Before, After or Limit). Stores use it to
// filter.
func (f *Filter) Match(ev *Event) bool {
	if f.Source != "" && ev.Source != f.Source || f.Type != "" && ev.Type != f.Type || f.ID != "" && ev.ID != f.ID {
		return false
	}
	if !f.ReceivedAfter.IsZero() && ev.ReceivedAt.Before(f.ReceivedAfter) ||
		!f.ReceivedBefore.IsZero() && !ev.ReceivedAt.Before(f.ReceivedBefore) {
		return false
	}
	switch f.Status {
	case 0:
	case StatusLeased:
		leased := false
		for i := range ev.Deliveries {
			leased = leased || ev.Deliveries[i].Status == StatusLeased
		}
		if !leased {
			return false
		}
	default:
		if ev.Status() != f.Status {
			return false
		}
	}
	if !f.FinishedBefore.IsZero() {
		fin := ev.FinishedAt()
		if fin.IsZero() || !fin.Before(f.FinishedBefore) {
			return false
		}
	}
	return true
}

// QueueStats is the state of one queue.
type QueueStats struct {
	Queue
	// Pending counts deliveries pending or delivering.
	Pending int
	// OldestSince is the earliest Since of the pending or delivering
	// deliveries (when the event was received, or replayed): now minus
	// it is the age of the oldest work waiting. Zero when Pending is 0.
	OldestSince time.Time
	// Dead counts the dead deliveries kept.
	Dead int
}
