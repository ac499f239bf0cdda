package caddymodule

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookgate/hookgate/delivery"
)

func init() {
	caddy.RegisterModule(new(AdminAPI))
}

// running is the hookgate app that runs now: set by App.Start, cleared by
// App.Stop. The admin API resolves it per request: Caddy rebuilds the
// admin server before a new config's apps start, and an admin router is
// never cleaned up, so a router must not hold on to an app.
var running atomic.Pointer[App]

// AdminAPI is the admin API module admin.api.hookgate: the events API,
// the live stream and the console, under /hookgate/ on Caddy's admin
// endpoint (localhost:2019 by default). It needs no configuration: Caddy
// loads every admin.api module with every config.
//
//	GET  /hookgate/events?source=&status=&type=&since=&until=&limit=[&before=<seq>, with source]
//	GET  /hookgate/events/{source}/{id}
//	DELETE /hookgate/events/{source}/{id}   purge one event: 204, or 404
//	POST /hookgate/events/{source}/{id}/replay[?destination=]
//	POST /hookgate/replay          bulk replay: {"source","status","type","since","until","limit","rate"}
//	GET  /hookgate/replay/{job}    its progress; DELETE stops it
//	POST /hookgate/purge           {"source","status","type","since","until","all"}
//	GET  /hookgate/health          per-source health
//	GET  /hookgate/stream?source=  text/event-stream, resumable with Last-Event-ID
//	GET  /hookgate/                the console
type AdminAPI struct {
	// done is closed when the config this router was loaded with is
	// unloaded (Caddy replaced the admin server): streams end then, and
	// their clients reconnect to the new server.
	done <-chan struct{}
	// ping is the interval of the stream's keep-alive comments.
	ping time.Duration
}

// CaddyModule returns the Caddy module information.
func (*AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.hookgate", New: func() caddy.Module { return new(AdminAPI) }}
}

// Provision keeps the context's end, which stands in for the Cleanup
// that admin routers never get.
func (api *AdminAPI) Provision(ctx caddy.Context) error {
	api.done = ctx.Done()
	api.ping = defaultStreamPing
	return nil
}

// Routes returns the routes under /hookgate/.
func (api *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/hookgate/events", Handler: caddy.AdminHandlerFunc(api.events)},
		{Pattern: "/hookgate/events/{source}/{id}", Handler: caddy.AdminHandlerFunc(api.event)},
		{Pattern: "/hookgate/events/{source}/{id}/replay", Handler: caddy.AdminHandlerFunc(api.replayOne)},
		{Pattern: "/hookgate/replay", Handler: caddy.AdminHandlerFunc(api.replayMany)},
		{Pattern: "/hookgate/replay/{job}", Handler: caddy.AdminHandlerFunc(api.replayJob)},
		{Pattern: "/hookgate/purge", Handler: caddy.AdminHandlerFunc(api.purge)},
		{Pattern: "/hookgate/stream", Handler: caddy.AdminHandlerFunc(api.stream)},
		{Pattern: "/hookgate/health", Handler: caddy.AdminHandlerFunc(api.health)},
		{Pattern: "/hookgate/", Handler: caddy.AdminHandlerFunc(api.console)},
	}
}

// console is the app's part of the admin API: the feed of the live
// stream and the replay jobs (both pooled, so they outlive a reload), and
// what the webhook_verify handlers registered about their sources.
type console struct {
	hub  *hub
	feed *feed

	keyExpiry *prometheus.GaugeVec // this config's

	mu      sync.Mutex
	sources map[string]*sourceInfo
}

// hub is what the admin API keeps across configuration reloads, in the
// usage pool: the live stream's feed and the bulk replay jobs.
type hub struct {
	feed *feed
	jobs *replayJobs
}

// Destruct ends the jobs and cuts the stream's subscribers off.
func (h *hub) Destruct() error {
	h.jobs.stop()
	return h.feed.Destruct()
}

const hubKey = "hookgate|admin-hub"

func (c *console) provision(ctx caddy.Context) error {
	c.keyExpiry = newKeyExpiry()
	if err := registerAll(ctx.GetMetricsRegistry(), streamDropped, streamSubscribers, c.keyExpiry); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	v, _, err := pool.LoadOrNew(hubKey, func() (caddy.Destructor, error) {
		return &hub{feed: newFeed(feedRing, feedBuffer, time.Now), jobs: newReplayJobs()}, nil
	})
	if err != nil {
		return err
	}
	c.hub = v.(*hub)
	c.feed = c.hub.feed
	c.sources = map[string]*sourceInfo{}
	return nil
}

// Cleanup releases the pooled hub taken in Provision.
func (a *App) Cleanup() error {
	if a.console.hub != nil {
		a.console.hub, a.console.feed = nil, nil
		_, _ = pool.Delete(hubKey)
	}
	return nil
}

// sourceInfo is what the admin API knows of a configured source.
type sourceInfo struct {
	Name    string
	Scheme  string
	Deliver bool
	Keys    []keyInfo
}

// keyInfo names a key and its expiry (zero: none). Never its value.
type keyInfo struct {
	Name    string
	Expires time.Time
}

// addSource records what a handler knows of its source.
func (c *console) addSource(si sourceInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.sources[si.Name]; old != nil {
		old.Deliver = old.Deliver || si.Deliver
		old.Keys = append(old.Keys, si.Keys...)
		return
	}
	c.sources[si.Name] = &si
}

// sourceList returns the configured sources, by name.
func (c *console) sourceList() []sourceInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]sourceInfo, 0, len(c.sources))
	for _, s := range c.sources {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b sourceInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// runningApp returns the running hookgate app, or a 503 for the client.
func runningApp() (*App, error) {
	if a := running.Load(); a != nil {
		return a, nil
	}
	return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable,
		Err: errors.New("no hookgate app is running: the config has no webhook_verify handler")}
}

// engineOf returns the engine recording source's events, or nil.
func (a *App) engineOf(source string) *delivery.Engine {
	m := a.engines.Load()
	if m == nil {
		return nil
	}
	for _, eng := range *m {
		for _, q := range eng.Queues() {
			if q.Source == source {
				return eng
			}
		}
	}
	return nil
}

// engineList returns the running engines, in a stable order.
func (a *App) engineList() []*delivery.Engine {
	m := a.engines.Load()
	if m == nil {
		return nil
	}
	keys := make([]string, 0, len(*m))
	for k := range *m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*delivery.Engine, len(keys))
	for i, k := range keys {
		out[i] = (*m)[k]
	}
	return out
}

// enginesFor returns the engines holding the events of source, or every
// engine when source is empty.
func (a *App) enginesFor(source string) []*delivery.Engine {
	if source == "" {
		return a.engineList()
	}
	if eng := a.engineOf(source); eng != nil {
		return []*delivery.Engine{eng}
	}
	return nil
}

// eventSummary is an event as GET /hookgate/events lists it.
type eventSummary struct {
	Source     string `json:"source"`
	ID         string `json:"id"`
	Type       string `json:"type"`
	Status     string `json:"status"`
	Attempts   int    `json:"attempts"`
	ReceivedAt string `json:"received_at"`
	FinishedAt string `json:"finished_at,omitempty"`
	Seq        uint64 `json:"seq"`
	// LastError is the last failed attempt's error or status, or why a
	// dead delivery died.
	LastError string `json:"last_error,omitempty"`
	// PayloadDropped: the store dropped the event's headers and body
	// once it was delivered (record metadata_only); it cannot be
	// replayed.
	PayloadDropped bool `json:"payload_dropped,omitempty"`
}

func summarize(ev *delivery.Event) eventSummary {
	s := eventSummary{
		Source: ev.Source, ID: ev.ID, Type: ev.Type, Status: ev.Status().String(),
		ReceivedAt: timeText(ev.ReceivedAt), FinishedAt: timeText(ev.FinishedAt()), Seq: ev.Seq,
		PayloadDropped: ev.PayloadDropped,
	}
	for i := range ev.Deliveries {
		d := &ev.Deliveries[i]
		s.Attempts += d.AttemptCount
		if d.Reason != "" {
			s.LastError = d.Reason
		} else if n := len(d.Attempts); n > 0 && d.Status != delivery.StatusDelivered {
			s.LastError = attemptError(&d.Attempts[n-1])
		}
	}
	return s
}

// attemptError describes a failed attempt: its error, or its status.
func attemptError(a *delivery.Attempt) string {
	switch {
	case a.Error != "":
		return a.Error
	case a.StatusCode != 0:
		return "HTTP " + strconv.Itoa(a.StatusCode)
	}
	return ""
}

// timeText writes t as RFC 3339 in UTC, or "" when zero.
func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// eventFilter is the selection of the events API, bulk replay and purge:
// query parameters of GET /hookgate/events, JSON fields of the others.
type eventFilter struct {
	Source string `json:"source,omitempty"`
	Status string `json:"status,omitempty"`
	Type   string `json:"type,omitempty"`
	// Since and Until bound the receipt time, RFC 3339: since <= t < until.
	Since string `json:"since,omitempty"`
	Until string `json:"until,omitempty"`
}

// filter turns f into a delivery.Filter, or a 400 naming the bad field.
func (f eventFilter) filter() (delivery.Filter, error) {
	df := delivery.Filter{Source: f.Source, Type: f.Type}
	if f.Status != "" {
		st, err := delivery.ParseStatus(f.Status)
		if err != nil {
			return df, badRequest("status: want pending, delivering, delivered or dead, got %q", f.Status)
		}
		df.Status = st
	}
	for _, p := range []struct {
		name, v string
		t       *time.Time
	}{{"since", f.Since, &df.ReceivedAfter}, {"until", f.Until, &df.ReceivedBefore}} {
		if p.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, p.v)
		if err != nil {
			return df, badRequest("%s: want an RFC 3339 time, got %q", p.name, p.v)
		}
		*p.t = t
	}
	return df, nil
}

func badRequest(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
}

func methodNotAllowed(r *http.Request, allowed string) error {
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed,
		Err: fmt.Errorf("method %s not allowed here (want %s)", r.Method, allowed)}
}

// storeError maps a store failure to its API error: 404 for an unknown
// event, 503 for a store that cannot answer (details stay in the log).
func storeError(err error) error {
	switch {
	case errors.Is(err, delivery.ErrNotFound):
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: err, Message: "event not found"}
	case errors.Is(err, delivery.ErrUnknownDestination):
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: err, Message: "no such destination"}
	case errors.Is(err, delivery.ErrPayloadDropped):
		return caddy.APIError{HTTPStatus: http.StatusConflict, Err: err,
			Message: "the event's headers and body were not kept once it was delivered (record metadata_only): it cannot be delivered again"}
	case errors.Is(err, context.Canceled):
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err, Message: "request canceled"}
	}
	return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err, Message: "delivery store unavailable"}
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// events serves GET /hookgate/events: the recorded events f selects,
// newest first.
func (api *AdminAPI) events(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "GET")
	}
	a, err := runningApp()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	ef := eventFilter{Source: q.Get("source"), Status: q.Get("status"), Type: q.Get("type"), Since: q.Get("since"), Until: q.Get("until")}
	f, err := ef.filter()
	if err != nil {
		return err
	}
	f.Limit = delivery.DefaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > delivery.MaxListLimit {
			return badRequest("limit: want 1 to %d, got %q", delivery.MaxListLimit, v)
		}
		f.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return badRequest("before: want a positive event seq, got %q", v)
		}
		if f.Source == "" {
			return badRequest("before: needs a source (events are numbered per source)")
		}
		f.Before = n
	}
	var evs []*delivery.Event
	for _, eng := range a.enginesFor(f.Source) {
		got, err := eng.Store().List(r.Context(), f)
		if err != nil {
			return storeError(err)
		}
		evs = append(evs, got...)
	}
	// Several stores: newest first across them.
	slices.SortStableFunc(evs, func(x, y *delivery.Event) int {
		if c := y.ReceivedAt.Compare(x.ReceivedAt); c != 0 {
			return c
		}
		return cmp.Compare(y.Seq, x.Seq)
	})
	out := struct {
		Events []eventSummary `json:"events"`
	}{Events: make([]eventSummary, 0, min(len(evs), f.Limit))}
	for _, ev := range evs[:min(len(evs), f.Limit)] {
		out.Events = append(out.Events, summarize(ev))
	}
	return writeJSON(w, http.StatusOK, out)
}

// eventDetail is an event as GET /hookgate/events/{source}/{id} shows it.
type eventDetail struct {
	eventSummary
	// Attempts lists the attempts kept (the last delivery.MaxAttemptHistory
	// per destination), oldest first; the summary's count is AttemptCount.
	Attempts     []attemptView  `json:"attempts"`
	AttemptCount int            `json:"attempt_count"`
	Deliveries   []deliveryView `json:"deliveries"`
	// Headers are the recorded headers less every signature, token and
	// secret header (they are stripped when recorded; checked again here).
	Headers map[string][]string `json:"headers"`
	// Body is the raw body when it is UTF-8 text; BodyBase64 otherwise;
	// neither once the payload was dropped (PayloadDropped).
	Body       *string `json:"body,omitempty"`
	BodyBase64 []byte  `json:"body_base64,omitempty"`
	BodySize   int     `json:"body_size"`
	// BodyHidden: the gateway is configured not to show bodies.
	BodyHidden bool `json:"body_hidden,omitempty"`
}

type attemptView struct {
	Destination string  `json:"destination"`
	Number      int     `json:"number"`
	At          string  `json:"at"`
	Status      int     `json:"status"`
	LatencyMS   float64 `json:"latency_ms"`
	Latency     string  `json:"latency"`
	Error       string  `json:"error,omitempty"`
}

type deliveryView struct {
	Destination string `json:"destination"`
	Status      string `json:"status"`
	Attempts    int    `json:"attempts"`
	Since       string `json:"since,omitempty"`
	NextAt      string `json:"next_at,omitempty"`
	FinishedAt  string `json:"finished_at,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

func detail(ev *delivery.Event) eventDetail {
	d := eventDetail{eventSummary: summarize(ev), Attempts: []attemptView{}, Deliveries: []deliveryView{},
		Headers: publicHeaders(ev.Header), BodySize: len(ev.Body)}
	d.AttemptCount = d.eventSummary.Attempts
	for i := range ev.Deliveries {
		dl := &ev.Deliveries[i]
		d.Deliveries = append(d.Deliveries, deliveryView{
			Destination: dl.Destination, Status: dl.Status.String(), Attempts: dl.AttemptCount,
			Since: timeText(dl.Since), NextAt: timeText(dl.NextAt), FinishedAt: timeText(dl.FinishedAt), Reason: dl.Reason,
		})
		first := dl.AttemptCount - len(dl.Attempts) + 1
		for j := range dl.Attempts {
			at := &dl.Attempts[j]
			d.Attempts = append(d.Attempts, attemptView{
				Destination: dl.Destination, Number: first + j, At: timeText(at.At), Status: at.StatusCode,
				LatencyMS: float64(at.Latency.Microseconds()) / 1000, Latency: at.Latency.String(), Error: at.Error,
			})
		}
	}
	slices.SortStableFunc(d.Attempts, func(x, y attemptView) int { return cmp.Compare(x.At, y.At) })
	switch {
	case ev.PayloadDropped: // nothing to show
	case utf8Text(ev.Body):
		s := string(ev.Body)
		d.Body = &s
	default:
		d.BodyBase64 = ev.Body
	}
	return d
}

// event serves GET /hookgate/events/{source}/{id} (the event) and
// DELETE (purge it: 204, or 404 when it is not recorded; its deliveries
// stop).
func (api *AdminAPI) event(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		return methodNotAllowed(r, "GET or DELETE")
	}
	a, err := runningApp()
	if err != nil {
		return err
	}
	source, id := r.PathValue("source"), r.PathValue("id")
	eng := a.engineOf(source)
	if eng == nil {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("source %q records no events (no deliver block)", source)}
	}
	if r.Method == http.MethodDelete {
		n, err := eng.Purge(r.Context(), delivery.Filter{Source: source, ID: id, Limit: 1})
		switch {
		case err != nil:
			return storeError(err)
		case n == 0:
			return storeError(delivery.ErrNotFound)
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	ev, err := eng.Store().Get(r.Context(), source, id)
	if err != nil {
		return storeError(err)
	}
	d := detail(ev)
	if a.HidePayloads {
		d.Headers, d.Body, d.BodyBase64, d.BodyHidden = map[string][]string{}, nil, nil, true
	}
	return writeJSON(w, http.StatusOK, d)
}

// replayOne serves POST /hookgate/events/{source}/{id}/replay: the event
// is delivered again, as a new attempt, to its destinations (or the one
// named by ?destination=). 202: the delivery is under way.
func (api *AdminAPI) replayOne(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "POST")
	}
	a, err := runningApp()
	if err != nil {
		return err
	}
	source, id := r.PathValue("source"), r.PathValue("id")
	eng := a.engineOf(source)
	if eng == nil {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("source %q records no events (no deliver block)", source)}
	}
	var dests []string
	if d := r.URL.Query().Get("destination"); d != "" {
		dests = append(dests, d)
	}
	if err := eng.Replay(r.Context(), source, id, dests...); err != nil {
		return storeError(err)
	}
	return writeJSON(w, http.StatusAccepted, map[string]string{"status": "replaying", "source": source, "id": id})
}

// purgeRequest is the body of POST /hookgate/purge.
type purgeRequest struct {
	eventFilter
	// All must be true to purge without a source.
	All bool `json:"all,omitempty"`
}

// purge serves POST /hookgate/purge: it deletes the recorded events the
// filter selects (their deliveries stop) and answers how many.
func (api *AdminAPI) purge(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "POST")
	}
	a, err := runningApp()
	if err != nil {
		return err
	}
	var req purgeRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Source == "" && !req.All {
		return badRequest(`purge: name a "source", or set "all": true to purge every source`)
	}
	f, err := req.filter()
	if err != nil {
		return err
	}
	total := 0
	for _, eng := range a.enginesFor(f.Source) {
		n, err := eng.Purge(r.Context(), f)
		total += n
		if err != nil {
			return storeError(err)
		}
	}
	return writeJSON(w, http.StatusOK, map[string]int{"purged": total})
}

// decodeBody reads a JSON request body of at most 64 KiB into v.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

// Interface guards.
var (
	_ caddy.AdminRouter  = (*AdminAPI)(nil)
	_ caddy.Provisioner  = (*AdminAPI)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
