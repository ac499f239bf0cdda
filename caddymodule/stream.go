package caddymodule

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/sdk/receive"
	"github.com/hookgate/hookgate/verify"
)

// Stream timing.
const (
	// defaultStreamPing is the interval of the stream's keep-alive
	// comments, which also find peers that went away.
	defaultStreamPing = 15 * time.Second
	// streamWriteTimeout bounds each write to a subscriber: one that
	// does not take a frame within it is dropped (Caddy's admin server
	// has no write timeout of its own).
	streamWriteTimeout = 10 * time.Second
	// streamResumeMargin reaches back before the last event a resuming
	// client saw, when the store resumes it: an event is recorded before
	// its decision is published (the live attempt comes between).
	streamResumeMargin = time.Minute
	// maxStreamResume bounds the recorded events the store resumes a
	// stream with; past it, a "gap" event says so.
	maxStreamResume = 1000
	// streamBatch bounds the bytes of frames written at once.
	streamBatch = 32 << 10
)

// provisionConsole ties the handler to the hookgate app's live stream and
// console: its decisions are published to the app's feed, its source and
// keys' expiries are registered (for the console's health), and each key
// sets caddy_webhook_key_expiry_timestamp_seconds (+Inf without expiry).
func (h *Handler) provisionConsole(ctx caddy.Context, keys []verify.Key) error {
	v, err := ctx.App("hookgate")
	if err != nil {
		return fmt.Errorf("hookgate app: %w", err)
	}
	app := v.(*App)
	h.feed = app.console.feed
	si := sourceInfo{Name: h.Source, Scheme: h.Scheme, Deliver: h.relay != nil}
	for _, k := range keys {
		si.Keys = append(si.Keys, keyInfo{Name: k.Name, Expires: k.Expires})
		if !h.DisableMetrics && app.console.keyExpiry != nil {
			// A key without expiry never expires: +Inf, so that "every
			// key of the source expires soon" is max by (source) < 7d.
			at := math.Inf(1)
			if !k.Expires.IsZero() {
				at = float64(k.Expires.Unix())
			}
			app.console.keyExpiry.WithLabelValues(h.Source, k.Name).Set(at)
		}
	}
	app.console.addSource(si)
	if h.metrics != nil {
		// The source's verified-requests series exists from the start, at
		// 0: "no verified event in the last hour" then holds after a
		// restart too (monitoring/'s HookgateSourceSilent).
		h.metrics.m.requests.WithLabelValues(h.Source, string(receive.OutcomeForwarded), "")
	}
	return nil
}

// stream serves GET /hookgate/stream?source=: one Server-Sent Event per
// decision and delivery outcome, live, resumable with Last-Event-ID.
func (api *AdminAPI) stream(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "GET")
	}
	a, err := runningApp()
	if err != nil {
		return err
	}
	source := r.URL.Query().Get("source")
	ping := api.ping
	if ping <= 0 {
		ping = defaultStreamPing
	}
	return serveStream(w, r, a.console.feed, a.enginesFor(source), source, api.done, ping)
}

// serveStream streams f's events of source (every source's when empty)
// to w until the client goes, done is closed, or the feed cuts the
// subscriber off (it then reconnects with the last id it got). A
// Last-Event-ID the feed's ring no longer reaches is resumed from the
// gateways' shared stream in Redis when it is an entry id of it (see
// feedredis.go), else from the engines' stores: the recorded events
// since, as verified events marked resumed, then the ring. Every write has a deadline, so a client that
// stops reading costs a blocked goroutine for streamWriteTimeout at most.
func serveStream(w http.ResponseWriter, r *http.Request, f *feed, engines []*delivery.Engine, source string, done <-chan struct{}, ping time.Duration) error {
	sub, backlog, since, ok := f.subscribe(source, r.Header.Get("Last-Event-ID"))
	if !ok {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("the live stream is shutting down")}
	}
	defer f.unsubscribe(sub)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte("retry: 2000\n\n")) {
		return nil
	}
	if sub.fetch != nil {
		evs, more, complete := sub.fetch.run(r.Context())
		if !complete {
			since = sub.fetch.at // trimmed, or Redis did not answer: the store fills in
		}
		if more && !write([]byte("event: gap\ndata: {\"kind\":\"gap\",\"message\":\"more events since the last one seen than a resume sends; list the recorded ones with GET /hookgate/events\"}\n\n")) {
			return nil
		}
		backlog = append(evs, backlog...)
	}
	if !since.IsZero() {
		evs, more := recordedSince(r.Context(), engines, source, since.Add(-streamResumeMargin), backlog)
		if more && !write([]byte("event: gap\ndata: {\"kind\":\"gap\",\"message\":\"more recorded events than a resume sends; list the older ones with GET /hookgate/events\"}\n\n")) {
			return nil
		}
		for _, ev := range evs {
			if !write(ev.sse()) {
				return nil
			}
		}
	}
	for _, ev := range backlog {
		if !write(ev.sse()) {
			return nil
		}
	}
	tick := time.NewTicker(ping)
	defer tick.Stop()
	var batch []byte
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-done:
			return nil // the admin server was replaced: reconnect to the new one
		case ev, open := <-sub.ch:
			if !open {
				return nil
			}
			// The frames waiting behind it go in the same write: one
			// system call per burst rather than per event.
			batch = append(batch[:0], ev.sse()...)
		more:
			for len(batch) < streamBatch {
				select {
				case ev, open = <-sub.ch:
					if !open {
						break more
					}
					batch = append(batch, ev.sse()...)
				default:
					break more
				}
			}
			if !write(batch) || !open {
				return nil
			}
		case <-tick.C:
			if !write([]byte(": ping\n\n")) {
				return nil
			}
		}
	}
}

// recordedSince returns the events the engines' stores recorded at or
// after since (of source, when not empty), oldest first, as verified
// stream events marked resumed, leaving out those backlog has; at most
// maxStreamResume of the newest, and whether there were more.
func recordedSince(ctx context.Context, engines []*delivery.Engine, source string, since time.Time, backlog []*streamEvent) ([]*streamEvent, bool) {
	inRing := map[[2]string]bool{}
	for _, ev := range backlog {
		if ev.Kind == kindVerified {
			inRing[[2]string{ev.Source, ev.EventID}] = true
		}
	}
	var found []*delivery.Event
	more := false
	for _, eng := range engines {
		for _, src := range sourcesOf(eng, source) {
			f := delivery.Filter{Source: src, Limit: 100}
		pages:
			for {
				evs, err := eng.Store().List(ctx, f)
				if err != nil {
					break // the live stream goes on without what it could not read
				}
				for _, ev := range evs {
					if ev.ReceivedAt.Before(since) {
						break pages
					}
					if len(found) == maxStreamResume {
						more = true
						break pages
					}
					if !inRing[[2]string{ev.Source, ev.ID}] {
						found = append(found, ev)
					}
				}
				if len(evs) < f.Limit {
					break
				}
				f.Before = evs[len(evs)-1].Seq
			}
		}
	}
	slices.SortStableFunc(found, func(x, y *delivery.Event) int {
		if c := x.ReceivedAt.Compare(y.ReceivedAt); c != 0 {
			return c
		}
		return cmp.Compare(x.Seq, y.Seq)
	})
	out := make([]*streamEvent, len(found))
	for i, ev := range found {
		out[i] = &streamEvent{Kind: kindVerified, At: ev.ReceivedAt, Source: ev.Source, EventID: ev.ID, Type: ev.Type, Recorded: true, Resumed: true}
	}
	return out, more
}
