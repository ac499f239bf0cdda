package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/ratelimit"
	"github.com/hookgate/hookgate/schemas"
	"github.com/hookgate/hookgate/verify"
)

// DefaultMaxBodyBytes is the body limit when Config.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 1 << 20

// Response headers the receiver sets on everything it answers itself.
const (
	// HeaderReason carries the Reason of a rejection or of a duplicate,
	// so that a sender learns why even when an error page hides the body.
	HeaderReason = "Hookgate-Reason"
	// HeaderDuplicate is "true" on the 200 answered for a completed
	// duplicate that was not forwarded.
	HeaderDuplicate = "Hookgate-Duplicate"
)

// Config configures a [Receiver] for one source: one provider endpoint
// with its scheme and secrets.
type Config struct {
	// Source names the endpoint ("stripe", "github-org"). It namespaces
	// event ids for deduplication and labels decisions. Required.
	Source string
	// Verifier checks signatures. Required.
	Verifier *verify.Verifier
	// MaxBodyBytes limits the body. Default: DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// Schemas, when set, validates payloads by event type.
	Schemas *schemas.Registry
	// Dedup claims event ids so that each is forwarded once. Default: a
	// per-process in-memory store (idempotency.NewMemory); share one
	// Deduper backed by Redis between instances.
	Dedup *idempotency.Deduper
	// Namespace keys event ids in the dedup store, so that two providers'
	// ids never collide. Default: Source.
	Namespace string
	// NoDedup turns deduplication off: every verified webhook is forwarded.
	NoDedup bool
	// RateLimit, when set, is consulted before the body is read.
	RateLimit ratelimit.Limiter
	// RateKey returns the rate-limit key of a request. Default: the client
	// IP from RemoteAddr.
	RateKey func(*http.Request) string
	// Shadow runs every check and reports its decision, but forwards every
	// request regardless, for rolling out in front of live traffic.
	Shadow bool
	// RetryAfter is the Retry-After sent with 409 (in flight) and 503
	// (store unavailable). Default: 5s.
	RetryAfter time.Duration
	// URL returns the full URL the provider called, for schemes that sign
	// it. Default: built from the Host header, the request URI and the
	// X-Forwarded-Proto header or TLS state.
	URL func(*http.Request) string
	// Handshake configures the answers to providers' verification
	// handshakes (Meta's verify token, for one). Schemes that have a
	// handshake are answered by default where nothing needs configuring.
	Handshake HandshakeConfig
	// Observer receives every decision. Optional.
	Observer Observer
	// Attest, when set, re-signs forwarded requests so that an app behind
	// a gateway can trust them (see NewAttester).
	Attest *Attester
	// Detach, when positive, runs the next handler under a context that
	// the client going away does not cancel, and that ends Detach after
	// the request arrived instead (rounded up to the next second: requests
	// arriving in the same second share one timer). Use it
	// when the next handler passes the webhook on (a proxy, a queue): if
	// the provider hangs up mid-way, the upstream call still finishes, and
	// its 2xx completes the claim, rather than a cancelled call releasing
	// it so that the provider's retry is delivered a second time. Keep it
	// at most the dedup lock TTL. Default: 0, the request's own context.
	Detach time.Duration
	// Now returns the current time. Default: time.Now.
	Now func() time.Time
}

// Receiver runs the verification pipeline for one source. Use Middleware
// for net/http, or Serve to adapt it to another server (the Caddy handler
// does). It is safe for concurrent use.
type Receiver struct {
	cfg       Config
	verifier  atomic.Pointer[verify.Verifier] // cfg.Verifier, plus a learned secret
	learned   learned                         // for Config.Handshake.Secrets
	learnMu   sync.Mutex
	needsURL  bool
	retry     string
	handshake verify.Handshake // the scheme's, read once: Scheme() copies
	deadlines deadlines        // for Config.Detach
}

// New validates cfg and returns a Receiver. Errors name the bad field.
func New(cfg Config) (*Receiver, error) {
	if strings.TrimSpace(cfg.Source) == "" {
		return nil, errors.New("sdk: Config.Source: required")
	}
	if cfg.Verifier == nil {
		return nil, errors.New("sdk: Config.Verifier: required")
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("sdk: Config.MaxBodyBytes: negative (%d)", cfg.MaxBodyBytes)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.RetryAfter < 0 {
		return nil, fmt.Errorf("sdk: Config.RetryAfter: negative (%s)", cfg.RetryAfter)
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	if cfg.Detach < 0 {
		return nil, fmt.Errorf("sdk: Config.Detach: negative (%s)", cfg.Detach)
	}
	if cfg.Dedup == nil && !cfg.NoDedup {
		d, err := idempotency.New(idempotency.Config{})
		if err != nil {
			return nil, fmt.Errorf("sdk: Config.Dedup: %w", err)
		}
		cfg.Dedup = d
	}
	if cfg.NoDedup {
		cfg.Dedup = nil
	}
	if cfg.Namespace == "" {
		cfg.Namespace = cfg.Source
	}
	if cfg.RateKey == nil {
		cfg.RateKey = ClientIP
	}
	if cfg.URL == nil {
		cfg.URL = RequestURL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := cfg.Verifier.Scheme()
	rc := &Receiver{
		cfg:       cfg,
		needsURL:  strings.Contains(s.Content, "{url}") || strings.Contains(s.Content, "{form}") || s.BodyHashParam != "",
		retry:     strconv.FormatInt(int64((cfg.RetryAfter+time.Second-1)/time.Second), 10),
		handshake: s.Handshake,
	}
	rc.verifier.Store(cfg.Verifier)
	// A kept secret is read when a signature first fails to match, not
	// here: New does no I/O, so a store that is down does not stop a
	// gateway from loading its configuration.
	if cfg.Handshake.Secrets != nil && s.Handshake != verify.HandshakeAsana {
		return nil, fmt.Errorf("sdk: Config.Handshake.Secrets: scheme %q hands over no secret in its handshake", s.Name)
	}
	return rc, nil
}

// Source returns the configured source name.
func (rc *Receiver) Source() string { return rc.cfg.Source }

// Rejection is the error Serve returns when it turns a webhook away: the
// status and reason from the one table (Classify), the error (for logs),
// a one-line message safe to show the sender (Message), and headers to
// send (Retry-After, RateLimit).
type Rejection struct {
	Status int
	Reason Reason
	Err    error
	Header http.Header
}

// Error returns the one-line message.
func (r *Rejection) Error() string { return string(r.Reason) + ": " + r.Err.Error() }

// Unwrap returns the underlying error, so errors.Is sees the sentinel.
func (r *Rejection) Unwrap() error { return r.Err }

// Message returns the one-line message for the sender: the error itself
// when the request is at fault (4xx), so that the sender learns what to
// fix; a fixed line when this side failed (5xx), whose details (a store's
// address, a file's path) are for the logs, through Error.
func (r *Rejection) Message() string {
	if r.Status < 500 {
		return strings.Join(strings.Fields(r.Err.Error()), " ")
	}
	if r.Reason == ReasonStoreUnavailable {
		return "a store this endpoint depends on is unavailable; retry later"
	}
	return "internal error"
}

// WriteTo writes the rejection as a small JSON body,
// {"error":"<reason>","message":"<one line>"}, with its headers.
func (r *Rejection) WriteTo(w http.ResponseWriter) {
	h := w.Header()
	for k, vs := range r.Header {
		h[k] = vs
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(r.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Error   Reason `json:"error"`
		Message string `json:"message"`
	}{r.Reason, r.Message()})
}

func (rc *Receiver) reject(err error, hdr http.Header) *Rejection {
	status, reason := Classify(err)
	if hdr == nil {
		hdr = http.Header{}
	}
	hdr.Set(HeaderReason, string(reason))
	if status == http.StatusConflict || status == http.StatusServiceUnavailable {
		hdr.Set("Retry-After", rc.retry)
	}
	if errors.Is(err, ErrBodyTooLarge) || errors.Is(err, ErrBodyUnreadable) {
		// The unread rest of the body makes the connection useless; closing
		// it also stops net/http from draining the body before answering,
		// so the refusal goes out at once.
		hdr.Set("Connection", "close")
	}
	return &Rejection{Status: status, Reason: reason, Err: err, Header: hdr}
}

// Middleware returns net/http middleware running the pipeline in front of
// next. Rejections are written as JSON with their status.
func (rc *Receiver) Middleware(next http.Handler) http.Handler {
	forward := func(w http.ResponseWriter, r *http.Request) error {
		next.ServeHTTP(w, r)
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := rc.Serve(w, r, forward)
		if err == nil {
			return
		}
		// Declared here, not above: errors.As moves rej to the heap.
		var rej *Rejection
		if errors.As(err, &rej) {
			rej.WriteTo(w)
		} else {
			rc.reject(err, nil).WriteTo(w)
		}
	})
}

// Next is the rest of the chain that Serve calls for a webhook that
// passed. An error it returns means the webhook was not accepted.
type Next func(w http.ResponseWriter, r *http.Request) error

// Serve runs the pipeline for r: rate limit, bounded body read,
// signature, schema, idempotency claim; then next with the body restored
// byte for byte and the Event in the context; then completes or releases
// the claim by what next did. A completed duplicate is answered 200 here.
// A rejection is returned as a *Rejection, not written, so the caller
// decides how to render it; an error from next is returned as is.
func (rc *Receiver) Serve(w http.ResponseWriter, r *http.Request, next Next) error {
	d := Decision{Source: rc.cfg.Source, Shadow: rc.cfg.Shadow}
	if rc.cfg.Observer == nil {
		// Nobody reads the decision: spare the clock reads (slow on VMs).
		return rc.serve(w, r, next, &d)
	}
	start := rc.cfg.Now()
	err := rc.serve(w, r, next, &d)
	d.Total = rc.cfg.Now().Sub(start)
	rc.cfg.Observer.Observe(r.Context(), d)
	return err
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request, next Next, d *Decision) error {
	ctx := r.Context()
	// A check failed: reject, or in shadow mode note it and go on.
	fail := func(err error, hdr http.Header) *Rejection {
		rej := rc.reject(err, hdr)
		d.Outcome, d.Reason, d.Status = OutcomeRejected, rej.Reason, rej.Status
		return rej
	}

	// 1. Rate limit, before a byte of the body is read.
	if rc.cfg.RateLimit != nil {
		dec, err := rc.cfg.RateLimit.Allow(ctx, rc.cfg.RateKey(r))
		d.RateLimitDegraded = dec.Degraded
		if err == nil && !dec.Allowed {
			hdr := http.Header{}
			rl, policy := ratelimit.HeaderValues(dec, rc.cfg.Source)
			hdr.Set("RateLimit", rl)
			hdr.Set("RateLimit-Policy", policy)
			hdr.Set("Retry-After", ratelimit.RetryAfter(dec))
			if rej := fail(ErrRateLimited, hdr); !rc.cfg.Shadow {
				return rej
			}
		}
	}

	// Some providers first send an unsigned handshake to be answered.
	if answered, err := rc.answerBeforeVerify(w, r); err != nil {
		return fail(err, nil)
	} else if answered {
		d.Outcome, d.Status = OutcomeHandshake, http.StatusOK
		return nil
	}

	// 2. The body, whole, within the limit.
	body, pb, err := rc.readBody(r)
	if err != nil {
		// Without the body nothing else can be checked or forwarded.
		return fail(err, nil)
	}
	// Until the body is passed on, nothing but this function holds it:
	// its buffer goes back to the pool on every return before that.
	passed := false
	defer func() {
		if !passed && pb != nil {
			putBuf(pb)
		}
	}()

	// 3. Signature and timestamp, over the raw bytes.
	vr := verify.Request{Header: r.Header, Body: body, Method: r.Method}
	if rc.needsURL {
		vr.URL = rc.cfg.URL(r)
	}
	var vStart, vEnd time.Time
	if rc.cfg.Observer != nil {
		vStart = rc.cfg.Now()
	}
	ev, verr := rc.verifier.Load().Verify(&vr)
	if verr != nil && rc.cfg.Handshake.Secrets != nil && errors.Is(verr, verify.ErrSignatureMismatch) && rc.recheckSecret(ctx) {
		// A secret kept by a handshake this Receiver did not answer (on
		// another instance, or before a restart) was learned: try again.
		ev, verr = rc.verifier.Load().Verify(&vr)
	}
	if rc.cfg.Observer != nil {
		vEnd = rc.cfg.Now()
		d.Verify = vEnd.Sub(vStart)
	}
	verified := verr == nil
	if !verified {
		if rej := fail(verr, nil); !rc.cfg.Shadow {
			return rej
		}
	}
	d.EventID, d.EventType, d.Key, d.Timestamp = ev.ID, ev.Type, ev.Key, ev.Timestamp
	if verified && rc.answerAfterVerify(w, r, body, ev) {
		d.Outcome, d.Status = OutcomeHandshake, http.StatusOK
		return nil
	}
	if !ev.Timestamp.IsZero() && !vEnd.IsZero() {
		d.Skew = vEnd.Sub(ev.Timestamp)
	}

	// 4. Payload schema.
	if rc.cfg.Schemas != nil && verified {
		typ, err := rc.cfg.Schemas.Validate(ev.Type, body)
		if typ != "" {
			ev.Type, d.EventType = typ, typ
		}
		if err != nil {
			if rej := fail(err, nil); !rc.cfg.Shadow {
				return rej
			}
		}
	}

	// 5. Claim the event id. Only verified ids are ever claimed.
	var (
		won     idempotency.Claim // on the stack until the request is forwarded
		claimed bool
	)
	if rc.cfg.Dedup != nil && verified && ev.ID != "" {
		err = rc.cfg.Dedup.ClaimInto(ctx, &won, rc.cfg.Namespace, ev.ID)
		switch {
		case err == nil:
			claimed = true
			if won.Degraded() {
				d.StoreError, d.DedupSkipped = true, true
			}
		case errors.Is(err, idempotency.ErrDuplicate):
			d.Duplicate = true
			d.Reason, d.Status = ReasonDuplicate, http.StatusOK
			if !rc.cfg.Shadow {
				d.Outcome = OutcomeDuplicate
				writeDuplicate(w)
				return nil
			}
		default:
			if errors.Is(err, idempotency.ErrUnavailable) {
				d.StoreError = true
			}
			if rej := fail(err, nil); !rc.cfg.Shadow {
				return rej
			}
		}
	} else if rc.cfg.Dedup != nil && verified {
		d.DedupSkipped = true // no id to claim
	}

	// 6. Forward, with the body restored and the event in the context.
	// One allocation holds what a forwarded request needs: the claim, the
	// restored body, the context carrying the event, the status recorder
	// and the request passed on.
	st := &forwardState{ctx: eventCtx{Context: ctx}}
	var claim *idempotency.Claim
	if claimed {
		st.claim = won
		claim = &st.claim
	}
	if rc.cfg.Detach > 0 {
		// The real clock: the deadline runs on a real timer.
		st.ctx.detached = rc.deadlines.get(time.Now(), rc.cfg.Detach)
	}
	st.ctx.ev = Event{ID: ev.ID, Type: ev.Type, Source: rc.cfg.Source, Timestamp: ev.Timestamp, Key: ev.Key, Body: body, Verified: verified}
	st.rec.ResponseWriter = w
	if rc.cfg.Attest != nil && verified {
		if err := rc.cfg.Attest.Attest(r.Header, st.ctx.ev); err != nil {
			if claim != nil {
				_ = claim.Release(detachedCtx{&st.ctx})
			}
			return fail(err, nil)
		}
	}
	// The request passed on is a copy (WithContext's does not escape:
	// st holds it) carrying the event and the restored body; the
	// caller's request keeps its own.
	st.req = *r.WithContext(&st.ctx)
	r = &st.req
	st.buf = bodyBuf{b: body, pb: pb}
	st.ctx.buf = &st.buf
	st.body.buf = &st.buf
	restoreBody(r, &st.body)
	passed = true
	d.Outcome = OutcomeForwarded
	if d.Reason != "" {
		d.Outcome = OutcomeShadowForwarded
	}

	rec := &st.rec
	defer func() {
		p := recover()
		// 7. Complete once the next handler wrote a 2xx: the upstream
		// accepted the event, even if passing its answer on failed later
		// (next then returns an error). Release on anything else (no 2xx,
		// a panic), so the retry is forwarded. The store is told even if
		// the client went away.
		d.UpstreamStatus = rec.status
		if claim != nil {
			// Not bounded by the request: a client gone after a 2xx must
			// not leave the event uncompleted. The store's own timeouts
			// bound these calls.
			sctx := detachedCtx{&st.ctx}
			if p == nil && rec.status >= 200 && rec.status < 300 {
				if err := claim.Complete(sctx); err != nil {
					d.StoreError = true
				}
			} else {
				_ = claim.Release(sctx)
			}
		}
		if p != nil {
			// Whoever recovers may still look at the request.
			panic(p)
		}
		st.buf.release()
	}()
	err = next(rec, r)
	if err != nil && rec.status == 0 {
		// The status the caller will write for err is unknown here; it is
		// not a 2xx, which is what matters for the claim.
		rec.status = -1
	}
	return err
}

// forwardState is everything a forwarded request needs, in one allocation.
type forwardState struct {
	ctx   eventCtx
	buf   bodyBuf
	body  bodyReader
	rec   statusRecorder
	claim idempotency.Claim
	req   http.Request
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

// readBody reads the whole body within the limit, refusing a declared
// Content-Length over it before reading anything. A body of declared size
// is read into a pooled buffer, returned as pb (nil otherwise): give it
// back with putBuf when the body is not passed on, or through a bodyBuf.
func (rc *Receiver) readBody(r *http.Request) (body []byte, pb *pooledBuf, err error) {
	limit := rc.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, nil, fmt.Errorf("%w: %d bytes declared, limit %d", ErrBodyTooLarge, r.ContentLength, limit)
	}
	if r.Body == nil || r.Body == http.NoBody {
		return []byte{}, nil, nil
	}
	if r.ContentLength >= 0 {
		// Size declared: one buffer, with one byte more to notice a body
		// longer than declared.
		var buf []byte
		if pb = getBuf(r.ContentLength + 1); pb != nil {
			buf = pb.b[:r.ContentLength+1]
		} else {
			buf = make([]byte, r.ContentLength+1)
		}
		body, err = readDeclared(r.Body, buf, r.ContentLength, limit)
		if pb != nil && (err != nil || int64(len(body)) != r.ContentLength) {
			// Failed, or longer than declared and read into a new buffer.
			putBuf(pb)
			pb = nil
		}
		return body, pb, err
	}
	b, err := readAll(io.LimitReader(r.Body, limit+1), nil)
	if err != nil {
		return nil, nil, err
	}
	if int64(len(b)) > limit {
		return nil, nil, fmt.Errorf("%w: limit %d", ErrBodyTooLarge, limit)
	}
	return b, nil, nil
}

// readDeclared reads a body of declared length n into buf (n+1 bytes).
func readDeclared(body io.Reader, buf []byte, n, limit int64) ([]byte, error) {
	got, err := io.ReadFull(body, buf)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		if int64(got) != n {
			return nil, fmt.Errorf("%w: %d of %d declared bytes before the body ended", ErrBodyUnreadable, got, n)
		}
		return buf[:got], nil
	case err == nil:
		// More than declared: read on up to the limit to decide, in a
		// buffer of its own.
		rest, err := readAll(io.LimitReader(body, limit+1-int64(got)), bytes.Clone(buf))
		if err != nil {
			return nil, err
		}
		if int64(len(rest)) > limit {
			return nil, fmt.Errorf("%w: limit %d", ErrBodyTooLarge, limit)
		}
		return rest, nil
	default:
		return nil, bodyError(err)
	}
}

func readAll(r io.Reader, b []byte) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, bodyError(err)
	}
	return buf.Bytes(), nil
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("%w: limit %d", ErrBodyTooLarge, mbe.Limit)
	}
	return fmt.Errorf("%w: %v", ErrBodyUnreadable, err)
}

// restoreBody puts the buffered body back so the next handler, or a
// proxy, sends it byte for byte with a Content-Length (a chunked request
// is re-framed: TransferEncoding cleared, as the net/http transport would
// otherwise chunk it again).
func restoreBody(r *http.Request, body *bodyReader) {
	n := int64(len(body.buf.b))
	r.Body = body
	bb := body.buf
	r.GetBody = func() (io.ReadCloser, error) { return &bodyReader{buf: bb}, nil }
	r.ContentLength = n
	if r.TransferEncoding != nil {
		r.TransferEncoding = nil
		r.Header.Set("Content-Length", strconv.FormatInt(n, 10))
	}
}

func writeDuplicate(w http.ResponseWriter) {
	h := w.Header()
	h.Set(HeaderDuplicate, "true")
	h.Set(HeaderReason, string(ReasonDuplicate))
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"status":"duplicate","message":"already delivered; not forwarded again"}`+"\n")
}

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

// ClientIP returns the host part of r.RemoteAddr, the default rate-limit
// key. Behind a trusted proxy, set Config.RateKey to read its header.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// RequestURL reconstructs the URL the provider called: scheme from
// X-Forwarded-Proto or the TLS state, then the Host header and the
// request URI as received.
func RequestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + r.Host + r.RequestURI
}
