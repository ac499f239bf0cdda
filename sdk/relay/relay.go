// Package relay hands verified webhooks to a durable delivery engine and
// delivers them to the app: the handler that runs after the receiving
// pipeline (package receive) when events must never be lost, even when the
// app is down and the provider never retries.
//
// Two modes:
//
//   - live first ("on_failure", the default): the event is recorded
//     durably with its delivery to the live target leased to this request,
//     then delivered at once within LiveBudget. If the app answers 2xx in
//     time, its answer (status, content headers, body) goes back to the
//     provider. Otherwise the provider gets 202 with Hookgate-Queued: true
//     and the engine's workers retry with backoff until delivered or dead.
//   - async: the event is recorded, the provider gets 202 at once, and the
//     workers deliver at the target's concurrency and rate.
//
// Either way a 2xx goes to the provider only once the record is durable;
// a store that cannot record answers 503 store_unavailable with
// Retry-After, so that the provider retries. Behind receive's pipeline,
// the dedup claim is completed by that 2xx.
//
// What the app receives: the raw body byte for byte, the provider's
// headers less hop-by-hop ones and the scheme's signature and secret
// headers (stale by the time of a retry, and secret), and
// Hookgate-Event-Id, Hookgate-Event-Type, Hookgate-Source,
// Hookgate-Attempt; with an Attester, a fresh attestation per attempt, so
// that an app behind the gateway verifies a delivery made hours later.
//
// The safe sequence, for a Go service:
//
//	eng, _ := delivery.New(delivery.Config{Store: store, Attempt: rl.Attempt, Destinations: rl.Destinations()})
//	go eng.Run(ctx)
//	mux.Handle("/hooks/github", rc.Middleware(rl)) // rc from receive.New
package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/expr"
	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/sdk/receive"
)

// Headers a relay sets.
const (
	// HeaderQueued is "true" on the 202 that tells the provider the event
	// was recorded and will be delivered in the background.
	HeaderQueued = "Hookgate-Queued"
	// HeaderFiltered is "true" on the 200 for an event that no target's
	// filter wanted: it was not recorded.
	HeaderFiltered = "Hookgate-Filtered"
	// HeaderEventID, HeaderEventType and HeaderAttempt go to the app with
	// each attempt (the source goes as receive.HeaderSource).
	HeaderEventID   = "Hookgate-Event-Id"
	HeaderEventType = "Hookgate-Event-Type"
	HeaderAttempt   = "Hookgate-Attempt"
)

// Defaults of [Config].
const (
	// DefaultLiveBudget bounds the live attempt: well under the common
	// provider timeouts (Slack's is 3 s, GitHub's 10 s).
	DefaultLiveBudget = 2 * time.Second
	// DefaultMaxAnswer bounds the app's answer passed back to the
	// provider.
	DefaultMaxAnswer = 64 << 10
)

// Mode says how a relay delivers.
type Mode string

// The modes.
const (
	// OnFailure tries the live target at once and queues only when it
	// fails.
	OnFailure Mode = "on_failure"
	// Async queues every event and answers 202 at once.
	Async Mode = "async"
)

// Target is one destination of a source's events.
type Target struct {
	// URL is where events are POSTed. Required.
	URL string
	// Filter, when set (a Bool program), decides at receipt whether the
	// event goes to this target at all. A runtime error means no match
	// (reported to Config.OnExprError).
	Filter *expr.Program
	// Transform, when set (a Value program), makes the body of every
	// attempt: its map or list, as JSON, instead of the original body. A
	// runtime error makes the delivery dead, with the error as reason.
	Transform *expr.Program
	// Destination is the engine's policy for this target: concurrency,
	// rate, attempt timeout, backoff, maximum attempts and age. Its
	// Source is set to Config.Source; Name defaults to "app" for the
	// first target and "app<i>" (1-based) for the others.
	Destination delivery.Destination
}

// Config configures a [Relay].
type Config struct {
	// Source names the events' source (receive.Config.Source). Required.
	Source string
	// Targets lists where the events go. At least one.
	Targets []Target
	// Mode is OnFailure (the first target is tried live) or Async.
	//
	// default: OnFailure
	Mode Mode
	// LiveBudget bounds the live attempt (OnFailure), from when the
	// record is durable.
	//
	// default: 2s (DefaultLiveBudget)
	LiveBudget time.Duration
	// Engine returns the engine that records and delivers this source's
	// events; nil when none runs (answered 503). A func, so that a
	// gateway can swap engines across configuration reloads.
	Engine func() *delivery.Engine
	// Client makes the attempts.
	//
	// default: a client that follows no redirects (an app's redirect is
	// an answer, not a delivery), over its own transport that keeps up to
	// DefaultIdleConns idle connections to each destination (Go's default
	// transport keeps 2: at a few thousand events a second, the rest
	// would be dialled and closed per attempt). [Relay.Close] closes them.
	Client *http.Client
	// Attest, when set, re-signs every attempt with the gateway's key.
	Attest *receive.Attester
	// Strip lists request headers never delivered: the scheme's signature
	// and secret headers (verify.Scheme.SecretHeaders), stale by the time
	// of a retry. Hop-by-hop headers are always dropped.
	Strip []string
	// RetryAfter is sent with 503 when the store cannot record.
	//
	// default: 5s
	RetryAfter time.Duration
	// Now returns the current time.
	//
	// default: time.Now
	Now func() time.Time
	// OnExprError, when set, hears of every filter or transform that
	// failed at run time (use is "filter" or "transform"), for counting.
	OnExprError func(target, use string, err error)
}

// Relay records and delivers one source's events. Use it as the handler
// after receive's pipeline (ServeHTTP, or Serve as a receive.Next), and
// give its Attempt and Destinations to the engine. It is safe for
// concurrent use.
type Relay struct {
	cfg      Config
	targets  map[string]*Target // by destination name
	names    []string
	strip    map[string]bool
	filtered bool // some target has a Filter
}

// New validates cfg and returns a Relay. Errors name the field.
func New(cfg Config) (*Relay, error) {
	switch {
	case cfg.Source == "":
		return nil, errors.New("relay: Config.Source: required")
	case len(cfg.Targets) == 0:
		return nil, errors.New("relay: Config.Targets: at least one is required")
	case cfg.Engine == nil:
		return nil, errors.New("relay: Config.Engine: required")
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = OnFailure
	case OnFailure, Async:
	default:
		return nil, fmt.Errorf("relay: Config.Mode: unknown %q (want %s or %s)", cfg.Mode, OnFailure, Async)
	}
	if cfg.LiveBudget < 0 {
		return nil, fmt.Errorf("relay: Config.LiveBudget: negative (%s)", cfg.LiveBudget)
	}
	if cfg.LiveBudget == 0 {
		cfg.LiveBudget = DefaultLiveBudget
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Transport:     newTransport(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	rl := &Relay{cfg: cfg, targets: map[string]*Target{}, strip: map[string]bool{}}
	for i := range cfg.Targets {
		t := &rl.cfg.Targets[i]
		if t.URL == "" {
			return nil, fmt.Errorf("relay: Config.Targets[%d].URL: required", i)
		}
		t.Destination.Source = cfg.Source
		if t.Filter != nil && t.Filter.Kind() != expr.Bool {
			return nil, fmt.Errorf("relay: Config.Targets[%d].Filter: want a %s program", i, expr.Bool)
		}
		if t.Transform != nil && t.Transform.Kind() != expr.Value {
			return nil, fmt.Errorf("relay: Config.Targets[%d].Transform: want a %s program", i, expr.Value)
		}
		if t.Destination.Name == "" {
			t.Destination.Name = "app"
			if i > 0 {
				t.Destination.Name = "app" + strconv.Itoa(i+1)
			}
		}
		if err := delivery.CheckName(fmt.Sprintf("Config.Targets[%d].Destination.Name", i), t.Destination.Name); err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
		if _, dup := rl.targets[t.Destination.Name]; dup {
			return nil, fmt.Errorf("relay: Config.Targets[%d]: destination %q named twice", i, t.Destination.Name)
		}
		rl.targets[t.Destination.Name] = t
		rl.filtered = rl.filtered || t.Filter != nil
		rl.names = append(rl.names, t.Destination.Name)
	}
	for _, h := range cfg.Strip {
		rl.strip[http.CanonicalHeaderKey(h)] = true
	}
	return rl, nil
}

// DefaultIdleConns is how many idle connections the default client keeps
// to each destination: about the attempts a busy gateway has under way at
// once (live attempts plus every destination's Concurrency).
const DefaultIdleConns = 256

// newTransport returns the default client's transport: Go's default one,
// with DefaultIdleConns idle connections per host.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0 // no limit across hosts; per host below
	t.MaxIdleConnsPerHost = DefaultIdleConns
	return t
}

// Close closes the idle connections of the relay's client. The relay
// stays usable (a later attempt dials again); a gateway calls Close when
// its configuration is unloaded.
func (rl *Relay) Close() { rl.cfg.Client.CloseIdleConnections() }

// Destinations returns the engine's destinations for this relay's
// targets.
func (rl *Relay) Destinations() []delivery.Destination {
	ds := make([]delivery.Destination, len(rl.cfg.Targets))
	for i, t := range rl.cfg.Targets {
		ds[i] = t.Destination
	}
	return ds
}

// Source returns the configured source.
func (rl *Relay) Source() string { return rl.cfg.Source }

// ServeHTTP records and delivers the verified event in r's context,
// answering a store failure with its rejection.
func (rl *Relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := rl.Serve(w, r); err != nil {
		var rej *receive.Rejection
		if !errors.As(err, &rej) {
			rej = receive.Reject(err, rl.cfg.RetryAfter)
		}
		rej.WriteTo(w)
	}
}

// Serve is ServeHTTP as a receive.Next: a store failure comes back as a
// *receive.Rejection (503 store_unavailable with Retry-After) for the
// caller to write, and the pipeline releases the dedup claim.
func (rl *Relay) Serve(w http.ResponseWriter, r *http.Request) error {
	return rl.ServeInput(w, r, nil)
}

// ServeInput is Serve with the event's expression input, shared with the
// matchers that ran before (nil: made here when a filter or transform
// needs it), so that the payload is decoded once per event.
func (rl *Relay) ServeInput(w http.ResponseWriter, r *http.Request, in *expr.Input) error {
	rev, ok := receive.EventFrom(r.Context())
	if !ok {
		return errors.New("relay: no verified event in the request's context (run it after receive's pipeline)")
	}
	eng := rl.cfg.Engine()
	if eng == nil {
		return receive.Reject(fmt.Errorf("%w: no delivery engine is running", delivery.ErrUnavailable), rl.cfg.RetryAfter)
	}
	ev := &delivery.Event{
		Source:     rl.cfg.Source,
		ID:         rev.ID,
		Type:       rev.Type,
		ReceivedAt: rl.cfg.Now(),
		Header:     rl.deliverable(r.Header),
		Body:       rev.Body,
	}
	ctx := r.Context()
	to, live := rl.names, rl.names[0]
	if rl.filtered {
		if in == nil {
			in = expr.NewInput(rev.Source, rev.ID, rev.Type, r.Header, rev.Body, rev.Verified)
		}
		to = rl.matching(ctx, in)
		if len(to) == 0 {
			writeFiltered(w)
			return nil
		}
		if to[0] != rl.names[0] {
			live = "" // the live target's filter did not match
		}
	}
	if rl.cfg.Mode == Async || live == "" {
		return rl.answerRecorded(w, ev, eng.Enqueue(ctx, ev, to...))
	}
	task, err := eng.BeginLive(ctx, ev, live, to...)
	if err != nil {
		return rl.answerRecorded(w, ev, err)
	}
	// Recorded (or, on the embedded store, queued for its next commit:
	// Finish waits for it unless the app takes the event): whatever
	// happens to the live attempt, the event is delivered.
	lctx, cancel := context.WithTimeout(ctx, rl.cfg.LiveBudget)
	defer cancel()
	resp, err := rl.do(lctx, task, in)
	res := resultOf(resp, err, rl.cfg.Now())
	var answer []byte
	if res.Delivered {
		answer, err = io.ReadAll(io.LimitReader(resp.Body, DefaultMaxAnswer))
		if err != nil {
			// The app took the event but its answer broke off: it is
			// delivered all the same.
			answer = nil
		}
	}
	if resp != nil {
		drainClose(resp)
	}
	ferr := eng.Finish(ctx, task, res)
	if !res.Delivered {
		if errors.Is(ferr, delivery.ErrExists) || errors.Is(ferr, delivery.ErrUnavailable) {
			return rl.answerRecorded(w, ev, ferr) // not recorded by this request
		}
		writeQueued(w, ev)
		return nil
	}
	h := w.Header()
	for _, k := range []string{"Content-Type", "Content-Language", "Content-Encoding"} {
		if v := resp.Header.Values(k); len(v) > 0 {
			h[k] = v
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(answer)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
	return nil
}

// answerRecorded answers the provider after an attempt to record ev.
func (rl *Relay) answerRecorded(w http.ResponseWriter, ev *delivery.Event, err error) error {
	switch {
	case err == nil:
		writeQueued(w, ev)
		return nil
	case errors.Is(err, delivery.ErrExists):
		// Recorded before (a dedup store that forgot, or none): the
		// event is already on its way.
		h := w.Header()
		h.Set(sdk.HeaderDuplicate, "true")
		h.Set(sdk.HeaderReason, string(sdk.ReasonDuplicate))
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"status":"duplicate","message":"already recorded; not recorded again"}`+"\n")
		return nil
	case errors.Is(err, delivery.ErrUnavailable):
		return receive.Reject(err, rl.cfg.RetryAfter)
	default:
		// Not recorded, for a reason the provider cannot fix: it must
		// retry all the same, so the answer is the store's.
		return receive.Reject(fmt.Errorf("%w: %w", delivery.ErrUnavailable, err), rl.cfg.RetryAfter)
	}
}

// matching returns the targets whose filters match in, in order.
func (rl *Relay) matching(ctx context.Context, in *expr.Input) []string {
	var to []string
	for _, name := range rl.names {
		t := rl.targets[name]
		if t.Filter == nil {
			to = append(to, name)
			continue
		}
		ok, err := t.Filter.Match(ctx, in)
		if err != nil && rl.cfg.OnExprError != nil {
			rl.cfg.OnExprError(name, "filter", err)
		}
		if ok && err == nil {
			to = append(to, name)
		}
	}
	return to
}

// writeFiltered answers an event that no target's filter wanted: taken
// in (2xx, so the provider does not retry it), and not recorded.
func writeFiltered(w http.ResponseWriter) {
	h := w.Header()
	h.Set(HeaderFiltered, "true")
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"status":"filtered","message":"no destination's filter matched; not recorded"}`+"\n")
}

func writeQueued(w http.ResponseWriter, ev *delivery.Event) {
	h := w.Header()
	h.Set(HeaderQueued, "true")
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(struct {
		Status string `json:"status"`
		ID     string `json:"id"`
	}{"queued", ev.ID})
}

// Attempt is the engine's attempt function for this relay's
// destinations: one POST of the recorded event.
func (rl *Relay) Attempt(ctx context.Context, t *delivery.Task) delivery.Result {
	resp, err := rl.do(ctx, t, nil)
	res := resultOf(resp, err, rl.cfg.Now())
	if resp != nil {
		drainClose(resp)
	}
	return res
}

// errTransform marks an attempt whose body could not be made: the
// delivery dies (resultOf).
type errTransform struct{ err error }

func (e errTransform) Error() string { return "transform: " + e.err.Error() }
func (e errTransform) Unwrap() error { return e.err }

// resultOf is delivery.ResultOf, but a failed transform is permanent:
// retrying the same expression over the same event cannot help.
func resultOf(resp *http.Response, err error, now time.Time) delivery.Result {
	var te errTransform
	if errors.As(err, &te) {
		return delivery.Result{Permanent: true, Err: te}
	}
	return delivery.ResultOf(resp, err, now)
}

// do makes one attempt of t: the raw body (or the target's transform of
// it), the recorded headers, the attempt's own headers and, with an
// Attester, a fresh attestation. in is the event's expression input when
// the caller has one.
func (rl *Relay) do(ctx context.Context, t *delivery.Task, in *expr.Input) (*http.Response, error) {
	target, ok := rl.targets[t.Delivery.Destination]
	if !ok {
		return nil, fmt.Errorf("%w: %s", delivery.ErrUnknownDestination, t.Queue())
	}
	body := t.Event.Body
	if target.Transform != nil {
		if in == nil {
			in = expr.NewInput(t.Event.Source, t.Event.ID, t.Event.Type, t.Event.Header, t.Event.Body, true)
		}
		out, err := target.Transform.Transform(ctx, in)
		if err != nil {
			if rl.cfg.OnExprError != nil {
				rl.cfg.OnExprError(t.Delivery.Destination, "transform", err)
			}
			return nil, errTransform{err}
		}
		body = out
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = t.Event.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if target.Transform != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Del("Content-Encoding")
	}
	req.Header.Set(HeaderEventID, t.Event.ID)
	if t.Event.Type != "" {
		req.Header.Set(HeaderEventType, t.Event.Type)
	}
	req.Header.Set(receive.HeaderSource, t.Event.Source)
	req.Header.Set(HeaderAttempt, strconv.Itoa(t.Attempt))
	req.Header.Set("Idempotency-Key", t.Event.ID)
	if rl.cfg.Attest != nil {
		ev := receive.Event{ID: t.Event.ID, Type: t.Event.Type, Source: t.Event.Source, Body: body, Verified: true}
		if err := rl.cfg.Attest.Attest(req.Header, ev); err != nil {
			return nil, err
		}
	}
	return rl.cfg.Client.Do(req)
}

// hopByHop lists the headers that describe one connection, not the
// message (RFC 9110 §7.6.1), plus the framing the new request sets.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true, "Proxy-Authorization": true, "Proxy-Authenticate": true,
	"Content-Length": true, "Host": true, "Expect": true,
}

// deliverable returns the headers recorded with an event: the provider's,
// less hop-by-hop, signature and secret headers, and the relay's own
// (set fresh per attempt).
func (rl *Relay) deliverable(in http.Header) http.Header {
	out := make(http.Header, len(in))
	for k, vs := range in {
		switch {
		case hopByHop[k], rl.strip[k], k == HeaderEventID, k == HeaderEventType, k == HeaderAttempt, k == receive.HeaderSource:
			continue
		}
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func drainClose(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, DefaultMaxAnswer))
	_ = resp.Body.Close()
}
