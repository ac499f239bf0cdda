package receive

import (
	"context"
	"net/http"
	"time"

	"github.com/hookgate/hookgate/idempotency"
)

// A forwarded request needs more than serve's stack can hold, since the
// next handler may keep its request and context past its return: the
// restored body, the context carrying the Event, the status recorder, the
// claim and the request passed on. forwardState holds them all in one
// allocation. Its invariants:
//
//   - ctx.buf, body.buf and GetBody's readers all point at buf, which
//     owns the pooled buffer from the moment the body is passed on
//     (body.go states when it may be reused);
//   - the claims (on the dedup key, and on an unsigned provider id) are
//     completed or released exactly once, by settle, with a
//     context the client hanging up does not cancel (detachedCtx);
//   - the caller's *http.Request is never modified: req is the copy
//     passed on.
type forwardState struct {
	ctx   eventCtx
	buf   bodyBuf
	body  bodyReader
	rec   statusRecorder
	claim idempotency.Claim
	idClm idempotency.Claim
	req   http.Request
}

// forward is steps 6 and 7: call next with the body restored and the
// Event in the context; then complete the claim if next wrote a 2xx, or
// release it.
func (rc *Receiver) forward(w http.ResponseWriter, r *http.Request, next Next, in *inbound) error {
	st := &forwardState{ctx: eventCtx{Context: r.Context()}}
	var claim, idClaim *idempotency.Claim
	if in.claimed {
		st.claim = in.claim
		claim = &st.claim
	}
	if in.idClaimed {
		st.idClm = in.idClaim
		idClaim = &st.idClm
	}
	if rc.cfg.Detach > 0 {
		st.ctx.detached = rc.deadlines.get(in.now, rc.cfg.Detach)
	}
	ev := in.ev
	st.ctx.ev = Event{ID: ev.ID, Type: ev.Type, TypeSigned: ev.TypeSigned, DedupKey: ev.DedupKey, Source: rc.cfg.Source, Timestamp: ev.Timestamp, Key: ev.Key, Body: in.body.b, Verified: in.verified}
	st.rec.ResponseWriter = w
	if rc.cfg.Attest != nil && in.verified {
		if err := rc.cfg.Attest.attest(r.Header, st.ctx.ev, in.now); err != nil {
			for _, c := range []*idempotency.Claim{claim, idClaim} {
				if c != nil {
					_ = c.Release(detachedCtx{&st.ctx})
				}
			}
			return rc.fail(in, err, nil)
		}
	}
	// WithContext's copy does not escape: st holds it.
	st.req = *r.WithContext(&st.ctx)
	r = &st.req
	in.body.passTo(&st.buf)
	st.ctx.buf = &st.buf
	st.body.buf = &st.buf
	restoreBody(r, &st.body)
	in.d.Outcome = OutcomeForwarded
	if in.d.Reason != "" {
		in.d.Outcome = OutcomeShadowForwarded
	}

	defer rc.settle(st, claim, idClaim, &in.d)
	err := next(&st.rec, r)
	if err != nil && st.rec.status == 0 {
		// The status the caller will write for err is unknown here; it is
		// not a 2xx, which is what matters for the claim.
		st.rec.status = -1
	}
	return err
}

// settle is step 7, deferred by forward. It completes the claim once the
// next handler wrote a 2xx: the upstream accepted the event, even if
// passing its answer on failed later (next then returns an error). It
// releases the claim on anything else (no 2xx, a panic), so that the
// provider's retry is forwarded. The store is told even if the client went
// away; the store's own timeouts bound the call.
func (rc *Receiver) settle(st *forwardState, claim, idClaim *idempotency.Claim, d *Decision) {
	p := recover()
	d.UpstreamStatus = st.rec.status
	accepted := p == nil && st.rec.status >= 200 && st.rec.status < 300
	for _, c := range [...]*idempotency.Claim{claim, idClaim} {
		if c == nil {
			continue
		}
		sctx := detachedCtx{&st.ctx}
		if accepted {
			if err := c.Complete(sctx); err != nil {
				d.StoreError = true
			}
		} else {
			_ = c.Release(sctx)
		}
	}
	if p != nil {
		// Whoever recovers may still look at the request: keep its body.
		panic(p)
	}
	st.buf.release()
}

// eventCtx carries the Event without a separate context.WithValue and,
// with Config.Detach, takes its cancellation from a shared deadline
// instead of the request's.
type eventCtx struct {
	context.Context
	ev       Event
	buf      *bodyBuf        // ev.Body's; nil outside forwardState
	detached context.Context // nil: the request's cancellation
}

func (c *eventCtx) Done() <-chan struct{} {
	if c.detached != nil {
		return c.detached.Done()
	}
	return c.Context.Done()
}

func (c *eventCtx) Err() error {
	if c.detached != nil {
		return c.detached.Err()
	}
	return c.Context.Err()
}

func (c *eventCtx) Deadline() (time.Time, bool) {
	if c.detached != nil {
		return c.detached.Deadline()
	}
	return c.Context.Deadline()
}

// AfterFunc lets contexts derived from c (context.WithCancel, AfterFunc)
// hang on the cancellation c reports, without a goroutine each: the
// context package uses this method when a parent has it.
func (c *eventCtx) AfterFunc(f func()) func() bool {
	if c.detached != nil {
		return context.AfterFunc(c.detached, f)
	}
	return context.AfterFunc(c.Context, f)
}

func (c *eventCtx) Value(key any) any {
	switch key {
	case eventKey{}:
		// The body is handed out: its buffer is never reused. Once it
		// was (the request is done), the event comes without it.
		if c.buf == nil || c.buf.expose() {
			return &c.ev
		}
		ev := c.ev
		ev.Body = nil
		return &ev
	case eventMetaKey{}:
		return &c.ev // EventMeta drops Body
	}
	return c.Context.Value(key)
}

// detachedCtx is context.WithoutCancel of the request's context, without
// an allocation (it is pointer-shaped): values, but no deadline and no
// cancellation, for telling the store the outcome even when the client has
// gone. Unlike WithoutCancel, context.Cause may still report the request's
// cause; Err, Done and Deadline say it is never cancelled.
type detachedCtx struct{ c *eventCtx }

func (detachedCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (detachedCtx) Done() <-chan struct{}       { return nil }
func (detachedCtx) Err() error                  { return nil }
func (d detachedCtx) Value(key any) any         { return d.c.Value(key) }

// statusRecorder notes the status the next handler writes.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush, Hijack and deadlines.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
