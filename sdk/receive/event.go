package receive

import (
	"context"
	"time"

	"github.com/hookgate/hookgate/sdk"
)

// Event is a webhook that passed the pipeline, as the next handler sees it.
type Event struct {
	// ID is the provider's event id ("" when the scheme carries none).
	ID string
	// Type is the event type, from the scheme or the payload.
	Type string
	// TypeSigned reports whether Type came from signed content; when it
	// did not (GitHub's X-GitHub-Event, say), anyone who saw one delivery
	// can resend it under another type: do not let it alone steer
	// anything that matters.
	TypeSigned bool
	// DedupKey is what the pipeline deduplicated the event on
	// (verify.Event.DedupKey): the provider's id when it signs it, else a
	// digest of the signed content; empty when there is nothing to
	// deduplicate on.
	DedupKey string
	// Source is the Receiver's configured source name.
	Source string
	// Timestamp is the signed timestamp; zero when the scheme signs none.
	Timestamp time.Time
	// Key is the name of the key whose signature matched.
	Key string
	// Body is the raw body exactly as received. Do not modify it.
	Body []byte
	// Verified is false only in shadow mode, for a webhook that failed
	// verification and was forwarded anyway.
	Verified bool
}

type (
	eventKey     struct{}
	eventMetaKey struct{}
)

// EventFrom returns the verified event that the Receiver put in ctx.
//
// Its Body stays valid for as long as it is referenced. Called for the
// first time only once the request is done (from a goroutine that kept the
// context), it may return the event without its Body: the Receiver reuses
// the buffer of a body that nobody had asked for by then.
func EventFrom(ctx context.Context) (Event, bool) {
	ev, ok := ctx.Value(eventKey{}).(*Event)
	if !ok {
		return Event{}, false
	}
	return *ev, true
}

// EventMeta returns the event in ctx without its Body, for code that
// labels, logs or counts it (placeholders, metrics). Unlike EventFrom it
// leaves the body's buffer to be reused once the request is done.
func EventMeta(ctx context.Context) (Event, bool) {
	ev, ok := ctx.Value(eventMetaKey{}).(*Event)
	if !ok {
		return Event{}, false
	}
	e := *ev
	e.Body = nil
	return e, true
}

// Outcome says what the Receiver did with a webhook.
type Outcome string

// The outcomes.
const (
	OutcomeForwarded       Outcome = "forwarded"        // passed and handed to the next handler
	OutcomeRejected        Outcome = "rejected"         // turned away with an error status
	OutcomeDuplicate       Outcome = "duplicate"        // completed before: answered 200, not forwarded
	OutcomeShadowForwarded Outcome = "shadow_forwarded" // shadow mode: a check failed, forwarded anyway
	OutcomeHandshake       Outcome = "handshake"        // a provider's verification handshake, answered here
)

// Decision is what the Receiver decided about one request, reported to the
// Observer after the request is done. It never holds a secret, a
// signature or the body.
type Decision struct {
	Source  string
	Outcome Outcome
	// Reason and Status are set for rejections (and, in shadow mode, for
	// the check that would have rejected) and duplicates.
	Reason sdk.Reason
	Status int
	// EventID and EventType are known once the signature matched.
	EventID   string
	EventType string
	// Key is the name of the key that matched.
	Key string
	// Timestamp is the signed timestamp, and Skew is now minus it.
	Timestamp time.Time
	Skew      time.Duration
	// UpstreamStatus is what the next handler wrote (0 when not
	// forwarded, -1 when it returned an error before writing).
	UpstreamStatus int
	// Duplicate: the id had been completed before.
	Duplicate bool
	// StoreError: the dedup store failed (fail-closed rejection, or
	// fail-open forward, or a completion that could not be recorded).
	StoreError bool
	// DedupSkipped: forwarded without a claim (fail-open, or no event id).
	DedupSkipped bool
	// RateLimitDegraded: the shared rate limiter fell back to local.
	RateLimitDegraded bool
	// Shadow mode was on.
	Shadow bool
	// Verify is the time spent checking the signature; Total the whole
	// request including the next handler.
	Verify, Total time.Duration
}

// Observer receives every Decision. Implementations must be safe for
// concurrent use and quick: they run on the request's goroutine.
type Observer interface {
	Observe(ctx context.Context, d Decision)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ctx context.Context, d Decision)

// Observe calls f.
func (f ObserverFunc) Observe(ctx context.Context, d Decision) { f(ctx, d) }
