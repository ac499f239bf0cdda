package send

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	randv2 "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/verify"
)

// Errors reported by [Sender.Send] in [Report.Err], wrapped with detail.
// Match them with [errors.Is]. Their messages never contain a secret, a
// signature or the body.
var (
	// ErrEndpointGone: the endpoint answered 410 Gone. The sender stopped
	// at once; the caller should disable the subscription.
	ErrEndpointGone = errors.New("send: endpoint gone")
	// ErrRejected: the endpoint answered a status that retrying will not
	// change: a 4xx other than 408, 410 and 429 (and 409 with a
	// Retry-After), or a 3xx (redirects are not followed, since a
	// signature may cover the URL).
	ErrRejected = errors.New("send: endpoint rejected the delivery")
	// ErrGaveUp: every attempt failed with a retryable outcome (a network
	// error, a timeout, 408, 429, 5xx, or 409 with a Retry-After); the
	// last one is wrapped too.
	ErrGaveUp = errors.New("send: delivery attempts exhausted")
	// ErrInvalidDelivery: the Delivery cannot be sent as given (no valid
	// URL, both Body and JSON set, JSON that does not marshal, a body the
	// scheme cannot sign). No attempt was made and no hook was called.
	ErrInvalidDelivery = errors.New("send: invalid delivery")
)

// Defaults of [Config].
const (
	// DefaultAttemptTimeout bounds one attempt when
	// Config.AttemptTimeout is zero.
	DefaultAttemptTimeout = 15 * time.Second
	// DefaultMaxRetryAfter caps a Retry-After when
	// Config.MaxRetryAfter is zero.
	DefaultMaxRetryAfter = time.Hour
	// DefaultAttemptHeader carries the attempt number (1, 2, ...) when
	// Config.AttemptHeader is empty.
	DefaultAttemptHeader = "Webhook-Attempt"
	// DefaultUserAgent is sent when Config.UserAgent is empty.
	DefaultUserAgent = "hookgate-sender"
)

// standardSchedule is the Standard Webhooks recommendation: after the
// first attempt, retry after 5 seconds, 5 minutes, 30 minutes, 2 hours,
// 5 hours, 10 hours and 10 hours (eight attempts over about 27.5 hours).
var standardSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// maxDrain bounds how much of a response body is read (and discarded)
// so that the connection can be reused.
const maxDrain = 64 << 10

// defaultSenderClient sends on http.DefaultTransport and returns a redirect
// as the response instead of following it.
var defaultSenderClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Config configures a [Sender]. Only Keys is required: the rest
// defaults to Standard Webhooks with its recommended retry schedule.
type Config struct {
	// Scheme is how every attempt is signed. Default (a Scheme with no
	// Name and no SignatureHeaders): Standard Webhooks, verify.Preset("standard").
	Scheme verify.Scheme
	// Keys sign every attempt. All keys that have not expired sign, so a
	// receiver holding either the old or the new secret accepts the
	// delivery during a rotation; schemes whose header carries a single
	// signature use the first active key. At least one secret is required;
	// schemes signed with a provider's private key cannot be sent.
	Keys []verify.Key

	// Client sends the requests. Default: a client on
	// http.DefaultTransport that does not follow redirects.
	Client *http.Client
	// AttemptTimeout bounds one attempt, from connecting until the
	// response status has been read. Default: 15s.
	AttemptTimeout time.Duration

	// Schedule lists the delays before the second, third, ... attempt.
	// Each is jittered in full: the sender waits a uniformly random time
	// between 0 and the entry. Default: the Standard Webhooks schedule,
	// 5s, 5m, 30m, 2h, 5h, 10h, 10h. [Backoff] builds an exponential one.
	// A [Dispatcher] retries on the same schedule (as the delivery
	// engine's delivery.Backoff Steps); an [Outbox] on its own Policy.
	Schedule []time.Duration
	// MaxAttempts bounds the attempts, the first included; past the end
	// of Schedule its last entry repeats. 1 disables retries. Default:
	// 1 + len(Schedule).
	MaxAttempts int
	// MaxRetryAfter caps the wait a Retry-After response header asks for
	// (in seconds or as an HTTP date). A Retry-After on a retryable
	// response replaces the scheduled delay and is not jittered.
	// Default: 1h.
	MaxRetryAfter time.Duration

	// AttemptHeader names the request header carrying the attempt number,
	// 1 for the first attempt. Default: "Webhook-Attempt"; "-" sends none.
	AttemptHeader string
	// UserAgent is the User-Agent of every request, unless the Delivery's
	// Header sets one. Default: "hookgate-sender".
	UserAgent string

	// OnAttempt, if set, is called after every attempt, with the delivery
	// as sent (ID and Body filled in). It runs on the sending goroutine:
	// keep it quick.
	OnAttempt func(d Delivery, a Attempt)
	// OnGiveUp, if set, is called once when a valid delivery ends without
	// being delivered, whatever the reason (attempts exhausted, rejected,
	// gone, canceled): the dead-letter point, where a caller stores the
	// event to replay it later.
	OnGiveUp func(d Delivery, r *Report)

	// Now returns the current time, used for signing timestamps, attempt
	// durations and HTTP-date Retry-After values. Default: time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done, returning ctx's error then.
	// Default: a timer. Send's retries only: a Dispatcher's and an
	// Outbox's wait in the delivery engine.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1] scaling each scheduled delay (full
	// jitter). Default: math/rand/v2's Float64. Send's retries only, as
	// Sleep.
	Rand func() float64
}

// Delivery is one event for one endpoint. Its Body (and Header) must not
// be modified until the delivery is done.
type Delivery struct {
	// URL is the endpoint, http or https. A [Dispatcher] sets it from the
	// subscription.
	URL string
	// ID is the event id, the same on every attempt and every endpoint so
	// that receivers can deduplicate. Default: a random "msg_" id.
	ID string
	// Type is the event type, sent in the scheme's type header when it has
	// one; schemes such as Standard Webhooks read it from the payload.
	Type string
	// Body is sent exactly as given, except under schemes that carry
	// their timestamp or signature in a JSON body (Linear, Mailgun): the
	// fields it lacks are added, afresh on every attempt.
	Body []byte
	// JSON, when Body is nil, is marshalled with encoding/json to make the
	// body. Set one of Body and JSON.
	JSON any
	// Header holds extra request headers. Content-Type defaults to
	// application/json; the signature, id, timestamp and attempt headers
	// always override what Header sets.
	Header http.Header
}

// Attempt is the outcome of one request.
type Attempt struct {
	// N is the attempt number, from 1.
	N int
	// At is when the attempt started; its signed timestamp.
	At time.Time
	// Duration is how long the request took, by Config.Now.
	Duration time.Duration
	// Status is the response status; 0 when there was no response.
	Status int
	// Reason is the response's Hookgate-Reason header ([sdk.HeaderReason]):
	// why a hookgate receiver turned the webhook away, or "duplicate" on a
	// 200 for an event it already had. Empty otherwise.
	Reason sdk.Reason
	// Err is nil when the attempt delivered the event, else why it did not.
	Err error
	// Retry reports whether another attempt is scheduled, after Delay.
	Retry bool
	// Delay is the wait before the next attempt; zero when none follows.
	Delay time.Duration
}

// Report is the account of one [Sender.Send].
type Report struct {
	// ID is the event id sent on every attempt.
	ID string
	// Attempts lists every attempt made, in order.
	Attempts []Attempt
	// Delivered reports whether an attempt got a 2xx response.
	Delivered bool
	// Gone reports whether the endpoint answered 410 Gone.
	Gone bool
	// Status is the last response status; 0 when there was none.
	Status int
	// Err is nil when delivered, else it wraps ErrGaveUp, ErrRejected,
	// ErrEndpointGone, ErrInvalidDelivery or the context's error.
	Err error
}

// Sender delivers signed events to endpoints, retrying with backoff.
// Make one with [New]; the zero value is not usable. It is safe for
// concurrent use, and one Sender may serve many endpoints.
type Sender struct {
	signer        *verify.Signer
	client        *http.Client
	timeout       time.Duration
	backoff       delivery.Backoff // Steps: the schedule
	maxAttempts   int
	maxRetryAfter time.Duration
	attemptHeader string
	userAgent     string
	onAttempt     func(Delivery, Attempt)
	onGiveUp      func(Delivery, *Report)
	now           func() time.Time
	sleep         func(context.Context, time.Duration) error
	rand          func() float64
}

// New validates cfg and returns a Sender. Errors name the field at
// fault; a bad Scheme or Keys wraps verify's error.
func New(cfg Config) (*Sender, error) {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("send: Config.%s: %s", field, fmt.Sprintf(format, args...))
	}
	scheme := cfg.Scheme
	if scheme.Name == "" && len(scheme.SignatureHeaders) == 0 {
		scheme, _ = verify.Preset("standard")
	}
	signer, err := verify.NewSigner(scheme, cfg.Keys...)
	if err != nil {
		return nil, fmt.Errorf("send: Config: %w", err)
	}
	s := &Sender{
		signer:        signer,
		client:        cmp.Or(cfg.Client, defaultSenderClient),
		timeout:       cmp.Or(cfg.AttemptTimeout, DefaultAttemptTimeout),
		backoff:       delivery.Backoff{Steps: append([]time.Duration(nil), cfg.Schedule...)},
		maxAttempts:   cfg.MaxAttempts,
		maxRetryAfter: cmp.Or(cfg.MaxRetryAfter, DefaultMaxRetryAfter),
		attemptHeader: cmp.Or(cfg.AttemptHeader, DefaultAttemptHeader),
		userAgent:     cmp.Or(cfg.UserAgent, DefaultUserAgent),
		onAttempt:     cfg.OnAttempt,
		onGiveUp:      cfg.OnGiveUp,
		now:           cfg.Now,
		sleep:         cfg.Sleep,
		rand:          cfg.Rand,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sleep == nil {
		s.sleep = sleepContext
	}
	if s.rand == nil {
		s.rand = randv2.Float64
	}
	if cfg.AttemptTimeout < 0 {
		return nil, bad("AttemptTimeout", "negative")
	}
	if cfg.MaxRetryAfter < 0 {
		return nil, bad("MaxRetryAfter", "negative")
	}
	if cfg.MaxAttempts < 0 {
		return nil, bad("MaxAttempts", "negative")
	}
	for i, d := range s.backoff.Steps {
		if d < 0 {
			return nil, bad(fmt.Sprintf("Schedule[%d]", i), "negative")
		}
	}
	if len(s.backoff.Steps) == 0 {
		s.backoff.Steps = standardSchedule
	}
	if s.maxAttempts == 0 {
		s.maxAttempts = 1 + len(s.backoff.Steps)
	}
	if s.attemptHeader == "-" {
		s.attemptHeader = ""
	} else if strings.ContainsAny(s.attemptHeader, " \t\r\n:") {
		return nil, bad("AttemptHeader", "%q is not a header name", s.attemptHeader)
	}
	return s, nil
}

// Backoff returns an exponential retry schedule for
// Config.Schedule: retries delays, the first base and each next one
// double the last, capped at limit (no cap when limit <= 0). The sender
// jitters each in full. Backoff(time.Second, 5*time.Second, 4) is
// 1s, 2s, 4s, 5s.
func Backoff(base, limit time.Duration, retries int) []time.Duration {
	if retries <= 0 {
		return nil
	}
	out := make([]time.Duration, retries)
	d := base
	for i := range out {
		if limit > 0 && d > limit {
			d = limit
		}
		out[i] = d
		if d < math.MaxInt64/2 {
			d *= 2
		}
	}
	return out
}

// Send delivers d: it signs and POSTs it, retrying on network errors,
// timeouts, 408, 429 and 5xx after the scheduled (or Retry-After) delay,
// each attempt with a fresh timestamp and signature but the same event id.
// A 409 Conflict with a Retry-After (a hookgate receiver's "in_flight":
// the event is being processed elsewhere) is retried too. It stops at
// once on 410 Gone, on any other 3xx or 4xx, and when ctx is done. The
// returned Report is never nil and the error is its Err.
//
// Send is synchronous: it returns once d is delivered or given up on,
// retries and waits included, and keeps nothing. To queue events and
// return at once, use a [Dispatcher] (in memory) or an [Outbox]
// (durable), which classify each attempt as Send does.
func (s *Sender) Send(ctx context.Context, d Delivery) (*Report, error) {
	r := s.deliver(ctx, d)
	return r, r.Err
}

// outcome classifies an attempt.
type outcome int

const (
	outDelivered outcome = iota
	outRetry
	outRejected
	outGone
	outCanceled
	outSignFailed
)

// deliver runs the attempts of one delivery, waiting between them.
func (s *Sender) deliver(ctx context.Context, d Delivery) *Report {
	rep := &Report{ID: d.ID}
	d, err := resolveDelivery(d)
	if err == nil {
		err = checkEndpoint(d.URL)
	}
	if err != nil {
		rep.Err = err
		return rep
	}
	rep.ID = d.ID
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			rep.Err = fmt.Errorf("send: delivery canceled: %w", err)
			break
		}
		a, retryAfter, hasRetryAfter, out := s.attempt(ctx, &d, n)
		if invalid(&a, out) {
			rep.Err = fmt.Errorf("%w: %w", ErrInvalidDelivery, a.Err)
			return rep
		}
		retry := out == outRetry && n < s.maxAttempts
		if retry {
			a.Retry = true
			a.Delay = s.delay(n, retryAfter, hasRetryAfter)
		}
		rep.add(a)
		if s.onAttempt != nil {
			s.onAttempt(d, a)
		}
		if !retry {
			rep.end(&a, out)
			break
		}
		if err := s.sleep(ctx, a.Delay); err != nil {
			rep.Err = fmt.Errorf("send: delivery canceled: %w", err)
			break
		}
	}
	if !rep.Delivered && s.onGiveUp != nil {
		s.onGiveUp(d, rep)
	}
	return rep
}

// invalid reports whether attempt a, whose outcome was out, showed that
// the delivery cannot be sent at all: its first attempt could not be
// signed or made. No attempt counts then, and no hook is called.
func invalid(a *Attempt, out outcome) bool { return out == outSignFailed && a.N == 1 }

// add records attempt a.
func (r *Report) add(a Attempt) {
	r.Attempts = append(r.Attempts, a)
	r.Status = a.Status
}

// end records the end of the delivery after its last attempt a, whose
// outcome was out: delivered, or why not.
func (r *Report) end(a *Attempt, out outcome) {
	switch out {
	case outDelivered:
		r.Delivered = true
	case outGone:
		r.Gone, r.Err = true, a.Err
	case outRetry:
		r.Err = fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, a.N, a.Err)
	default:
		r.Err = a.Err
	}
}

// attempt makes attempt n and classifies its outcome.
func (s *Sender) attempt(ctx context.Context, d *Delivery, n int) (a Attempt, retryAfter time.Duration, hasRetryAfter bool, out outcome) {
	a = Attempt{N: n, At: s.now()}
	if err := ctx.Err(); err != nil {
		a.Err = fmt.Errorf("send: delivery canceled: %w", err)
		return a, 0, false, outCanceled
	}
	body, sig, err := s.signer.SignBody(verify.Message{
		ID: d.ID, Type: d.Type, Timestamp: a.At, Body: d.Body, URL: d.URL, Method: http.MethodPost,
	})
	if err != nil {
		a.Err = fmt.Errorf("send: sign: %w", err)
		return a, 0, false, outSignFailed
	}
	actx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		a.Err = fmt.Errorf("%w: %v", ErrInvalidDelivery, err)
		return a, 0, false, outSignFailed
	}
	h := d.Header.Clone()
	if h == nil {
		h = make(http.Header, len(sig)+3)
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", s.userAgent)
	}
	if s.attemptHeader != "" {
		h.Set(s.attemptHeader, strconv.Itoa(n))
	}
	// The event id is the delivery's idempotency key. Saying so also lets
	// net/http resend a request whose reused keep-alive connection the
	// server closed at that very moment (a gateway reload, an idle
	// timeout), which it otherwise refuses to do for a POST.
	if h.Get("Idempotency-Key") == "" {
		h.Set("Idempotency-Key", d.ID)
	}
	for k, vs := range sig {
		h[k] = vs
	}
	req.Header = h

	resp, err := s.client.Do(req)
	if err != nil {
		a.Duration = s.now().Sub(a.At)
		if cerr := ctx.Err(); cerr != nil {
			a.Err = fmt.Errorf("send: delivery canceled: %w", cerr)
			return a, 0, false, outCanceled
		}
		a.Err = fmt.Errorf("send: attempt %d: %w", n, err)
		return a, 0, false, outRetry
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
	a.Duration = s.now().Sub(a.At)
	a.Status = resp.StatusCode
	a.Reason = sdk.Reason(resp.Header.Get(sdk.HeaderReason))
	code := resp.StatusCode
	retryAfter, hasRetryAfter = delivery.ParseRetryAfter(resp.Header.Get("Retry-After"), s.now())
	switch {
	case code >= 200 && code < 300:
		return a, 0, false, outDelivered
	case code == http.StatusGone:
		a.Err = fmt.Errorf("%w: status %d", ErrEndpointGone, code)
		return a, 0, false, outGone
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500,
		code == http.StatusConflict && hasRetryAfter:
		a.Err = fmt.Errorf("send: attempt %d: status %d", n, code)
		return a, retryAfter, hasRetryAfter, outRetry
	default:
		a.Err = fmt.Errorf("%w: status %d", ErrRejected, code)
		return a, 0, false, outRejected
	}
}

// delay returns the wait after failed attempt n: the Retry-After when
// there was one, else the schedule's, jittered (the delivery engine's
// rule).
func (s *Sender) delay(n int, retryAfter time.Duration, hasRetryAfter bool) time.Duration {
	if hasRetryAfter {
		return min(retryAfter, s.maxRetryAfter)
	}
	return s.backoff.Delay(n, s.rand())
}

// noMaxAge stands for no limit on a delivery's age: a Sender's retries
// end with its MaxAttempts alone.
const noMaxAge = 100 * 365 * 24 * time.Hour

// policy is the delivery engine's Destination (its retry policy) that
// retries as s does: its schedule, jittered in full, its MaxAttempts and
// MaxRetryAfter, no limit of age. The engine's attempt timeout is a
// backstop, twice the Sender's own, which ends an attempt first.
func (s *Sender) policy() delivery.Destination {
	return delivery.Destination{
		AttemptTimeout: 2 * s.timeout,
		Backoff:        s.backoff,
		MaxAttempts:    s.maxAttempts,
		MaxAge:         noMaxAge,
		MaxRetryAfter:  s.maxRetryAfter,
	}
}

// sleepContext waits d or until ctx is done.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// resolveDelivery fills in the id and marshals the JSON body.
func resolveDelivery(d Delivery) (Delivery, error) {
	if d.Body != nil && d.JSON != nil {
		return d, fmt.Errorf("%w: set Body or JSON, not both", ErrInvalidDelivery)
	}
	if d.Body == nil && d.JSON != nil {
		b, err := json.Marshal(d.JSON)
		if err != nil {
			return d, fmt.Errorf("%w: JSON: %v", ErrInvalidDelivery, err)
		}
		d.Body, d.JSON = b, nil
	}
	if d.ID == "" {
		d.ID = newMessageID()
	}
	return d, nil
}

// checkEndpoint reports why raw is not an absolute http(s) URL, if it is not.
func checkEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: URL does not parse", ErrInvalidDelivery)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: URL %q is not an absolute http or https URL", ErrInvalidDelivery, u.Redacted())
	}
	return nil
}

// newMessageID returns a random id in the Standard Webhooks style.
func newMessageID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "msg_" + hex.EncodeToString(b[:])
}
