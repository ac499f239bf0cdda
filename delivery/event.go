package delivery

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Status is the state of one delivery, or of an event as a whole
// ([Event.Status]). The zero Status is invalid.
type Status uint8

// The statuses. A delivery goes pending → delivering → delivered, or back
// to pending for a retry, or to dead; a replay makes a delivered or dead
// delivery pending again.
const (
	// StatusPending waits for its next attempt, due at Delivery.NextAt.
	StatusPending Status = 1
	// StatusLeased is being attempted: it is leased until Delivery.NextAt,
	// and nobody else attempts it before then.
	StatusLeased Status = 2
	// StatusDelivered was accepted by its destination. It is final until a
	// replay.
	StatusDelivered Status = 3
	// StatusDead ran out of attempts or age, or failed permanently. It is
	// kept, counted and can be replayed.
	StatusDead Status = 4
)

var statusNames = [...]string{"", "pending", "delivering", "delivered", "dead"}

// String returns "pending", "delivering", "delivered" or "dead", the names
// of the events API.
func (s Status) String() string {
	if int(s) < len(statusNames) && s != 0 {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool { return s >= StatusPending && s <= StatusDead }

// Final reports whether s is delivered or dead.
func (s Status) Final() bool { return s == StatusDelivered || s == StatusDead }

// ParseStatus returns the Status named name, as String writes it.
func ParseStatus(name string) (Status, error) {
	for i, n := range statusNames {
		if n == name && i != 0 {
			return Status(i), nil
		}
	}
	return 0, fmt.Errorf("delivery: unknown status %q (want pending, delivering, delivered or dead)", name)
}

// MarshalText implements encoding.TextMarshaler with String's names.
func (s Status) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("delivery: invalid status %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseStatus.
func (s *Status) UnmarshalText(b []byte) error {
	v, err := ParseStatus(string(b))
	if err == nil {
		*s = v
	}
	return err
}

// Event is one recorded webhook event: what came in, recorded once, and
// one [Delivery] per destination it goes to.
//
// Stores keep times at millisecond precision: a time read back is the one
// written, truncated to the millisecond.
type Event struct {
	// Source is the configured source the event came in on (a provider
	// endpoint, or a sender's name). With ID, it identifies the event.
	Source string
	// ID is the event id as deduplicated: the provider's own, or one the
	// Engine generated when the provider sends none.
	ID string
	// Type is the event type, when known.
	Type string
	// ReceivedAt is when the event came in.
	ReceivedAt time.Time
	// Header holds the headers to deliver with the event, already
	// stripped of hop-by-hop and signature headers by the caller.
	Header http.Header
	// Body is the raw body, delivered byte for byte. [Store.List] leaves
	// it out.
	Body []byte
	// PayloadDropped reports that the store dropped Header and Body once
	// every delivery of the event was delivered (an Engine with
	// Config.DropPayloads): they are nil, and the event can no longer be
	// replayed. Append refuses an event with it set.
	PayloadDropped bool
	// Seq is set by the store on Append: it grows with every event
	// appended (across the whole store for boltstore, per source for the
	// Redis store), so it can resume a feed (an SSE Last-Event-ID).
	Seq uint64
	// Deliveries holds the state of each destination, in the order given
	// to Append.
	Deliveries []Delivery
}

// Delivery is the state of one event towards one destination.
type Delivery struct {
	// Destination names the destination, unique within the event's source.
	Destination string
	// Status is where the delivery stands.
	Status Status
	// NextAt is when a pending delivery is due, or when the lease of a
	// delivering one expires; zero once delivered or dead.
	NextAt time.Time
	// Token identifies the lease of a delivering delivery; empty
	// otherwise. It is not part of the events API.
	Token string `json:"-"`
	// Since starts the delivery's budget of attempts and age: the time
	// the event was received, or of the last replay.
	Since time.Time
	// Tries counts the attempts since Since; the maximum applies to it.
	Tries int
	// AttemptCount counts every attempt ever made, replays included.
	AttemptCount int
	// Attempts holds the most recent attempts, oldest first, at most
	// [MaxAttemptHistory] of them.
	Attempts []Attempt
	// FinishedAt is when the delivery was delivered or died; zero while
	// it is pending or delivering.
	FinishedAt time.Time
	// Reason says why a dead delivery died; empty otherwise.
	Reason string
}

// Attempt is one delivery attempt. It never holds a body or a secret.
type Attempt struct {
	// At is when the attempt started.
	At time.Time
	// StatusCode is the destination's HTTP status; 0 when none came.
	StatusCode int
	// Latency is how long the attempt took, at millisecond precision
	// once stored.
	Latency time.Duration
	// Error says what went wrong, if anything: a transport error, never a
	// response body. At most [MaxErrorLen] bytes.
	Error string
}

// MaxAttemptHistory is how many attempts a delivery keeps in
// Delivery.Attempts; older ones are dropped (AttemptCount still counts
// them).
const MaxAttemptHistory = 20

// MaxErrorLen bounds Attempt.Error and Delivery.Reason, in bytes.
const MaxErrorLen = 256

// Limits on the names and ids an event carries.
const (
	// MaxNameLen bounds a source or destination name.
	MaxNameLen = 128
	// MaxIDLen bounds an event id.
	MaxIDLen = 1024
	// MaxTypeLen bounds an event type.
	MaxTypeLen = 256
)

// Status returns the event's status as a whole: pending while any
// delivery is pending or delivering, then dead if any delivery died, else
// delivered. An event with no deliveries is delivered: nothing is left to
// do for it.
func (e *Event) Status() Status {
	st := StatusDelivered
	for i := range e.Deliveries {
		switch e.Deliveries[i].Status {
		case StatusPending, StatusLeased:
			return StatusPending
		case StatusDead:
			st = StatusDead
		}
	}
	return st
}

// FinishedAt returns when the event's last delivery became delivered or
// dead, ReceivedAt for an event with no deliveries, and the zero time
// while the event is pending.
func (e *Event) FinishedAt() time.Time {
	if len(e.Deliveries) == 0 {
		return e.ReceivedAt
	}
	var t time.Time
	for i := range e.Deliveries {
		d := &e.Deliveries[i]
		if !d.Status.Final() {
			return time.Time{}
		}
		if d.FinishedAt.After(t) {
			t = d.FinishedAt
		}
	}
	return t
}

// Delivery returns the delivery to destination, or nil.
func (e *Event) Delivery(destination string) *Delivery {
	for i := range e.Deliveries {
		if e.Deliveries[i].Destination == destination {
			return &e.Deliveries[i]
		}
	}
	return nil
}

// Validate reports what is wrong with ev as given to [Store.Append]: a
// source, an id, names within their limits, its payload, each
// destination once, and each delivery pending or delivering (with a
// token and an expiry).
// Stores call it; an error names the field.
func (e *Event) Validate() error {
	if err := CheckName("Event.Source", e.Source); err != nil {
		return err
	}
	switch {
	case e.ID == "":
		return errors.New("delivery: Event.ID is empty")
	case len(e.ID) > MaxIDLen:
		return fmt.Errorf("delivery: Event.ID is %d bytes, over %d", len(e.ID), MaxIDLen)
	case len(e.Type) > MaxTypeLen:
		return fmt.Errorf("delivery: Event.Type is %d bytes, over %d", len(e.Type), MaxTypeLen)
	case e.ReceivedAt.IsZero():
		return errors.New("delivery: Event.ReceivedAt is zero")
	case e.PayloadDropped:
		return errors.New("delivery: Event.PayloadDropped is set: an event is appended with its payload")
	}
	for i := range e.Deliveries {
		d := &e.Deliveries[i]
		if err := CheckName("Delivery.Destination", d.Destination); err != nil {
			return err
		}
		for j := range i {
			if e.Deliveries[j].Destination == d.Destination {
				return fmt.Errorf("delivery: destination %q appears twice", d.Destination)
			}
		}
		switch d.Status {
		case StatusPending:
		case StatusLeased:
			if d.Token == "" {
				return fmt.Errorf("delivery: delivering destination %q has no Token", d.Destination)
			}
		default:
			return fmt.Errorf("delivery: destination %q: an event is appended pending or delivering, not %v", d.Destination, d.Status)
		}
		if d.NextAt.IsZero() {
			return fmt.Errorf("delivery: destination %q has no NextAt", d.Destination)
		}
	}
	return nil
}

// CheckName reports whether name is a valid source or destination name:
// 1 to [MaxNameLen] bytes of printable ASCII without spaces, "{" or "}"
// (which would break a Redis Cluster hash tag). field names the field in
// the error.
func CheckName(field, name string) error {
	if name == "" {
		return fmt.Errorf("delivery: %s is empty", field)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("delivery: %s is %d bytes, over %d", field, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == '{' || c == '}' {
			return fmt.Errorf("delivery: %s %q: byte %d is not printable ASCII or is a brace", field, name, i)
		}
	}
	return nil
}

// Queue names the deliveries of one source to one destination: the unit
// of leasing, concurrency, rate and metrics.
type Queue struct {
	// Source is the events' source.
	Source string
	// Destination names the destination within the source.
	Destination string
}

// String returns "source/destination".
func (q Queue) String() string { return q.Source + "/" + q.Destination }

// Task is one leased delivery: the event (with its headers and body), the
// destination, and the lease. The attempt function receives it.
type Task struct {
	// Event is the event, Header and Body included. Its Deliveries field
	// is not set: see Delivery.
	Event *Event
	// Delivery is the state of the delivery as leased.
	Delivery Delivery
	// Attempt numbers this attempt, 1 for the first: Delivery's
	// AttemptCount + 1. Send it to the destination (replays continue the
	// count).
	Attempt int

	live    bool         // leased to a caller by Engine.BeginLive
	started time.Time    // BeginLive's time, for a live attempt's latency
	queued  QueuedAppend // BeginLive's record, when only queued
}

// Queue returns the task's queue.
func (t *Task) Queue() Queue { return Queue{t.Event.Source, t.Delivery.Destination} }
