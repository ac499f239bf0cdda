package receive

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/ratelimit"
	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/verify"
)

// inbound is one webhook on its way through the pipeline. It lives on
// serve's stack: each step reads what the earlier ones learned and adds
// its own. Only a forwarded request moves what it needs to the heap
// (forwardState).
type inbound struct {
	now       time.Time // the request's one reading of Config.Now
	d         Decision
	body      received
	ev        verify.Event
	verified  bool              // false only in shadow mode, after a failed check
	claim     idempotency.Claim // on the dedup key
	claimed   bool
	idClaim   idempotency.Claim // on an unsigned provider id, too
	idClaimed bool
}

// serve runs the seven steps of the pipeline. A step passes, answers the
// request itself (a handshake, a duplicate: answered), or fails with a
// *Rejection; in shadow mode a failed check is noted in the Decision and
// the request goes on (Receiver.check).
func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request, next Next, in *inbound) error {
	// 1. Rate limit, before a byte of the body is read.
	if err := rc.rateLimit(r, in); err != nil {
		return err
	}
	// Some providers first send an unsigned handshake to be answered.
	if answered, err := rc.answerBeforeVerify(w, r); err != nil || answered {
		return rc.answered(in, err)
	}
	// 2. The body, whole, within the limit. Until it is forwarded, its
	// buffer goes back to the pool on every return.
	var err error
	if in.body, err = readBody(w, r, rc.cfg.MaxBodyBytes, rc.bodyDeadline(in.now)); err != nil {
		return rc.fail(in, err, nil) // nothing else can be checked without it
	}
	defer in.body.recycle()
	// 3. Signature and timestamp, over the raw bytes.
	if err := rc.verify(r, in); err != nil {
		return err
	}
	if in.verified && rc.answerAfterVerify(w, r, in.body.b, in.ev) {
		return rc.answered(in, nil)
	}
	// 4. The payload against its type's schema.
	if err := rc.validate(in); err != nil {
		return err
	}
	// 5. Claim the event id, so it is forwarded once.
	if answered, err := rc.claim(w, r, in); err != nil || answered {
		return err
	}
	// 6. Forward, and 7. complete or release the claim by what next did.
	return rc.forward(w, r, next, in)
}

// bodyDeadline returns when the body must have arrived (zero: no bound).
// A network deadline runs on the real clock: the request's reading of
// Config.Now serves when that is the real clock, else it is read again.
func (rc *Receiver) bodyDeadline(now time.Time) time.Time {
	if rc.cfg.BodyTimeout <= 0 {
		return time.Time{}
	}
	if !rc.realClock {
		now = time.Now()
	}
	return now.Add(rc.cfg.BodyTimeout)
}

// fail records a rejection in the Decision and returns it.
func (rc *Receiver) fail(in *inbound, err error, hdr http.Header) *Rejection {
	rej := rc.reject(err, hdr)
	in.d.Outcome, in.d.Reason, in.d.Status = OutcomeRejected, rej.Reason, rej.Status
	return rej
}

// check is fail for a check that shadow mode lets pass: the rejection is
// recorded either way, and returned unless Config.Shadow is set.
func (rc *Receiver) check(in *inbound, err error, hdr http.Header) error {
	if rej := rc.fail(in, err, hdr); !rc.cfg.Shadow {
		return rej
	}
	return nil
}

// answered ends a request that was a provider's handshake: answered, or
// refused with err.
func (rc *Receiver) answered(in *inbound, err error) error {
	if err != nil {
		return rc.fail(in, err, nil)
	}
	in.d.Outcome, in.d.Status = OutcomeHandshake, http.StatusOK
	return nil
}

// rateLimit is step 1. A limiter that fails lets the request through (the
// limiter itself decides whether to fall back to a local limit).
func (rc *Receiver) rateLimit(r *http.Request, in *inbound) error {
	if rc.cfg.RateLimit == nil {
		return nil
	}
	dec, err := rc.cfg.RateLimit.Allow(r.Context(), rc.cfg.RateKey(r))
	in.d.RateLimitDegraded = dec.Degraded
	if err != nil || dec.Allowed {
		return nil
	}
	hdr := http.Header{}
	rl, policy := ratelimit.HeaderValues(dec, rc.cfg.Source)
	hdr.Set("RateLimit", rl)
	hdr.Set("RateLimit-Policy", policy)
	hdr.Set("Retry-After", ratelimit.RetryAfter(dec))
	return rc.check(in, ErrRateLimited, hdr)
}

// verify is step 3: the signature and timestamp over the raw bytes, at the
// request's time.
func (rc *Receiver) verify(r *http.Request, in *inbound) error {
	vr := verify.Request{Header: r.Header, Body: in.body.b, Method: r.Method, Now: in.now}
	if rc.needsURL {
		vr.URL = rc.cfg.URL(r)
	}
	var start time.Time
	if rc.cfg.Observer != nil {
		start = rc.cfg.Now()
	}
	ev, err := rc.verifier.Load().Verify(&vr)
	if err != nil && rc.cfg.Handshake.Secrets != nil && errors.Is(err, verify.ErrSignatureMismatch) && rc.recheckSecret(r.Context(), in.now) {
		// A secret kept by a handshake this Receiver did not answer (on
		// another instance, or before a restart) was learned: try again.
		ev, err = rc.verifier.Load().Verify(&vr)
	}
	d := &in.d
	if rc.cfg.Observer != nil {
		d.Verify = rc.cfg.Now().Sub(start)
	}
	in.ev, in.verified = ev, err == nil
	d.EventID, d.EventType, d.Key, d.Timestamp = ev.ID, ev.Type, ev.Key, ev.Timestamp
	if !ev.Timestamp.IsZero() {
		d.Skew = in.now.Sub(ev.Timestamp)
	}
	if err != nil {
		return rc.check(in, err, nil)
	}
	return nil
}

// validate is step 4: the payload against its event type's schema. The
// type the registry settles on (from the payload, when the scheme has
// none) becomes the event's.
func (rc *Receiver) validate(in *inbound) error {
	if rc.cfg.Schemas == nil || !in.verified {
		return nil
	}
	typ, err := rc.cfg.Schemas.Validate(in.ev.Type, in.body.b)
	if typ != "" && typ != in.ev.Type {
		// Read from the payload, which the signature covers.
		in.ev.Type, in.d.EventType, in.ev.TypeSigned = typ, typ, true
	}
	if err != nil {
		return rc.check(in, err, nil)
	}
	return nil
}

// claim is step 5: claim the event in the dedup store. Only verified
// events are claimed, and only on what the attacker cannot vary: the dedup
// key verify derives from the signed content (the provider's id when it
// is signed, a digest of what is signed otherwise), so a signed body
// resent with a fresh or no unsigned id header is a duplicate. An
// unsigned provider id is claimed as well, second: a provider's retry
// that signs a fresh timestamp (a new digest) under the same delivery id
// stays a duplicate, and a replay stops at the first claim without
// filling the store. A completed duplicate is answered here (answered);
// an event without a key is forwarded unclaimed.
func (rc *Receiver) claim(w http.ResponseWriter, r *http.Request, in *inbound) (answered bool, err error) {
	d := &in.d
	switch {
	case rc.cfg.Dedup == nil || !in.verified:
		return false, nil
	case in.ev.DedupKey == "":
		d.DedupSkipped = true
		return false, nil
	}
	ctx := r.Context()
	err = rc.cfg.Dedup.ClaimInto(ctx, &in.claim, rc.cfg.Namespace, in.ev.DedupKey)
	if err == nil {
		in.claimed = true
		if id := in.ev.ID; id != "" && !in.ev.IDSigned && id != in.ev.DedupKey {
			if err = rc.cfg.Dedup.ClaimInto(ctx, &in.idClaim, rc.cfg.Namespace, id); err == nil {
				in.idClaimed = true
			} else {
				_ = in.claim.Release(context.WithoutCancel(ctx))
				in.claimed = false
			}
		}
	}
	switch {
	case err == nil:
		if in.claim.Degraded() || (in.idClaimed && in.idClaim.Degraded()) {
			d.StoreError, d.DedupSkipped = true, true
		}
		return false, nil
	case errors.Is(err, idempotency.ErrDuplicate):
		d.Duplicate = true
		d.Reason, d.Status = sdk.ReasonDuplicate, http.StatusOK
		if rc.cfg.Shadow {
			return false, nil
		}
		d.Outcome = OutcomeDuplicate
		writeDuplicate(w)
		return true, nil
	default:
		if errors.Is(err, idempotency.ErrUnavailable) {
			d.StoreError = true
		}
		return false, rc.check(in, err, nil)
	}
}
