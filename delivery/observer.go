package delivery

import "time"

// Clock tells the Engine the time and wakes it up later. Tests pass a
// fake one (deliverytest.Clock) to drive time without sleeping.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock: time.Now and time.After.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Observer receives what the Engine does, to turn into metrics and log
// lines. Implementations must be safe for concurrent use and quick: they
// run on the Engine's goroutines.
type Observer interface {
	Observe(n Notice)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(n Notice)

// Observe calls f.
func (f ObserverFunc) Observe(n Notice) { f(n) }

// NoticeKind says what a Notice reports.
type NoticeKind uint8

// The notices.
const (
	// NoticeAttempt: an attempt ended. Attempt, Number, Live and Status
	// (what the delivery became: pending for a retry at NextAt,
	// delivered, or dead with Reason) are set.
	NoticeAttempt NoticeKind = iota + 1
	// NoticeDelivered follows the NoticeAttempt of a successful attempt:
	// Latency is from receipt (or the last replay) to delivery.
	NoticeDelivered
	// NoticeDead follows the NoticeAttempt that killed a delivery: Reason
	// says why. Log it (it holds no body and no secret).
	NoticeDead
	// NoticeQueue reports a queue's state (Stats), every StatsInterval.
	NoticeQueue
	// NoticeTrimmed reports events deleted by retention: Removed, and
	// Status (delivered or dead).
	NoticeTrimmed
	// NoticeLeaseLost: a report found its lease taken by someone else
	// (the attempt outlived its lease): the event may be delivered twice.
	NoticeLeaseLost
	// NoticeError: a store call failed (Op, Err). The Engine retries by
	// itself; count it.
	NoticeError
)

var noticeNames = [...]string{"", "attempt", "delivered", "dead", "queue", "trimmed", "lease_lost", "error"}

// String returns the kind's name.
func (k NoticeKind) String() string {
	if int(k) < len(noticeNames) && k != 0 {
		return noticeNames[k]
	}
	return "unknown"
}

// Notice is one thing the Engine reports. Which fields are set depends on
// Kind. It never holds a body, a header or a secret.
type Notice struct {
	// Kind says what the notice reports, and so which fields are set.
	Kind NoticeKind
	// Queue is the source and destination concerned.
	Queue Queue
	// ID, Type and Seq identify the event (attempt, delivered, dead,
	// lease lost).
	ID   string
	Type string
	Seq  uint64
	// Attempt is the attempt that ended, and Number its number (1 for
	// the first).
	Attempt Attempt
	Number  int
	// Live: the attempt was made by the caller of BeginLive.
	Live bool
	// Status is what the delivery became after the attempt, or which
	// events retention trimmed.
	Status Status
	// NextAt is when a retried delivery is due.
	NextAt time.Time
	// Latency is from Since (receipt, or the last replay) to delivery.
	Latency time.Duration
	// Reason says why a delivery died.
	Reason string
	// Stats is the queue's state (NoticeQueue).
	Stats QueueStats
	// Removed counts the events trimmed (NoticeTrimmed).
	Removed int
	// Op names the store call that failed, and Err is its error
	// (NoticeError).
	Op  string
	Err error
}
