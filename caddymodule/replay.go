package caddymodule

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/time/rate"

	"github.com/hookgate/hookgate/delivery"
)

// Bulk replay limits.
const (
	// DefaultReplayLimit and MaxReplayLimit bound the events one bulk
	// replay selects.
	DefaultReplayLimit = 1000
	MaxReplayLimit     = 100000
	// DefaultReplayRate and MaxReplayRate bound the events a bulk replay
	// makes pending per second: the destinations' own rate and
	// concurrency then pace the deliveries.
	DefaultReplayRate = 10.0
	MaxReplayRate     = 1000.0
	// keptReplayJobs is how many finished jobs stay visible.
	keptReplayJobs = 32
)

// replayRequest is the body of POST /hookgate/replay.
type replayRequest struct {
	eventFilter
	// Limit bounds the events replayed, newest first. Default 1000, at
	// most 100000.
	Limit int `json:"limit,omitempty"`
	// Rate is how many events are replayed per second. Default 10, at
	// most 1000.
	Rate float64 `json:"rate,omitempty"`
}

// replayJob is one bulk replay: the events selected when it was asked
// for, replayed one by one at its rate.
type replayJob struct {
	ID       string  `json:"id"`
	Matched  int     `json:"matched"`
	Replayed int     `json:"replayed"`
	Skipped  int     `json:"skipped"` // purged since, no longer configured, or recorded metadata only
	Failed   int     `json:"failed"`
	Rate     float64 `json:"rate"`
	State    string  `json:"state"` // running, done, stopped, failed
	Error    string  `json:"error,omitempty"`
	Started  string  `json:"started_at"`
	Finished string  `json:"finished_at,omitempty"`

	cancel context.CancelFunc
}

// replayJobs holds the bulk replays of a gateway, across configuration
// reloads (they live in the admin hub). Safe for concurrent use.
type replayJobs struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	jobs  map[string]*replayJob
	order []string // ids, oldest first
}

func newReplayJobs() *replayJobs {
	ctx, cancel := context.WithCancel(context.Background())
	return &replayJobs{ctx: ctx, cancel: cancel, jobs: map[string]*replayJob{}}
}

// stop ends every job.
func (j *replayJobs) stop() { j.cancel() }

// eventRef names one recorded event.
type eventRef struct{ source, id string }

// start runs a job replaying refs at r events per second. engineOf
// resolves each event's engine when its turn comes (the app may have been
// reloaded meanwhile).
func (j *replayJobs) start(refs []eventRef, r float64, engineOf func(source string) *delivery.Engine) *replayJob {
	ctx, cancel := context.WithCancel(j.ctx)
	job := &replayJob{
		ID: "rpl_" + strings.ToLower(rand.Text()[:12]), Matched: len(refs), Rate: r,
		State: "running", Started: timeText(time.Now()), cancel: cancel,
	}
	j.mu.Lock()
	j.jobs[job.ID] = job
	j.order = append(j.order, job.ID)
	j.forgetOld()
	j.mu.Unlock()
	go j.run(ctx, job, refs, engineOf)
	return job
}

// forgetOld drops the oldest finished jobs beyond keptReplayJobs. j.mu
// is held.
func (j *replayJobs) forgetOld() {
	for i := 0; len(j.order) > keptReplayJobs && i < len(j.order); {
		if job := j.jobs[j.order[i]]; job.State != "running" {
			delete(j.jobs, job.ID)
			j.order = append(j.order[:i], j.order[i+1:]...)
			continue
		}
		i++
	}
}

func (j *replayJobs) run(ctx context.Context, job *replayJob, refs []eventRef, engineOf func(string) *delivery.Engine) {
	lim := rate.NewLimiter(rate.Limit(job.Rate), 1)
	state, msg := "done", ""
	for _, ref := range refs {
		if err := lim.Wait(ctx); err != nil {
			state = "stopped"
			break
		}
		eng := engineOf(ref.source)
		var err error
		if eng == nil {
			err = delivery.ErrNotFound
		} else {
			err = eng.Replay(ctx, ref.source, ref.id)
		}
		j.mu.Lock()
		switch {
		case err == nil:
			job.Replayed++
		case errors.Is(err, delivery.ErrNotFound), errors.Is(err, delivery.ErrUnknownDestination), errors.Is(err, delivery.ErrPayloadDropped):
			job.Skipped++
		case ctx.Err() != nil:
			state = "stopped"
		default:
			job.Failed++
			msg = "delivery store unavailable"
		}
		j.mu.Unlock()
		if ctx.Err() != nil {
			state = "stopped"
			break
		}
	}
	j.mu.Lock()
	if job.Failed > 0 && state == "done" {
		state = "failed"
	}
	job.State, job.Error, job.Finished = state, msg, timeText(time.Now())
	j.mu.Unlock()
	job.cancel()
}

// get returns a copy of the job id.
func (j *replayJobs) get(id string) (replayJob, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	job, ok := j.jobs[id]
	if !ok {
		return replayJob{}, false
	}
	return *job, true
}

// cancelJob stops the job id.
func (j *replayJobs) cancelJob(id string) bool {
	j.mu.Lock()
	job, ok := j.jobs[id]
	j.mu.Unlock()
	if ok {
		job.cancel()
	}
	return ok
}

// selectEvents lists the events f selects in the engines, newest first
// within each source, up to limit. It pages source by source: a Redis
// store numbers events per source.
func selectEvents(ctx context.Context, engines []*delivery.Engine, f delivery.Filter, limit int) ([]eventRef, error) {
	var refs []eventRef
	for _, eng := range engines {
		for _, src := range sourcesOf(eng, f.Source) {
			page := f
			page.Source, page.Limit = src, delivery.MaxListLimit
			for len(refs) < limit {
				evs, err := eng.Store().List(ctx, page)
				if err != nil {
					return nil, err
				}
				for _, ev := range evs {
					if len(refs) == limit {
						break
					}
					refs = append(refs, eventRef{ev.Source, ev.ID})
				}
				if len(evs) < page.Limit {
					break
				}
				page.Before = evs[len(evs)-1].Seq
			}
		}
	}
	return refs, nil
}

// sourcesOf returns source if not empty, else the sources eng delivers.
func sourcesOf(eng *delivery.Engine, source string) []string {
	if source != "" {
		return []string{source}
	}
	var out []string
	for _, q := range eng.Queues() {
		if !slices.Contains(out, q.Source) {
			out = append(out, q.Source)
		}
	}
	return out
}

// replayMany serves POST /hookgate/replay: a bulk replay of the events
// the filter selects, paced at its rate. 202 with the job, whose progress
// GET /hookgate/replay/{job} shows.
func (api *AdminAPI) replayMany(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "POST")
	}
	a, err := runningApp()
	if err != nil {
		return err
	}
	var req replayRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.eventFilter == (eventFilter{}) {
		return badRequest(`replay: select events with at least one of "source", "status", "type", "since", "until"`)
	}
	f, err := req.filter()
	if err != nil {
		return err
	}
	switch {
	case req.Limit == 0:
		req.Limit = DefaultReplayLimit
	case req.Limit < 0 || req.Limit > MaxReplayLimit:
		return badRequest("limit: want 1 to %d, got %d", MaxReplayLimit, req.Limit)
	}
	switch {
	case req.Rate == 0:
		req.Rate = DefaultReplayRate
	case req.Rate < 0 || req.Rate > MaxReplayRate:
		return badRequest("rate: want more than 0 and at most %g events per second, got %g", MaxReplayRate, req.Rate)
	}
	refs, err := selectEvents(r.Context(), a.enginesFor(f.Source), f, req.Limit)
	if err != nil {
		return storeError(err)
	}
	job := a.console.hub.jobs.start(refs, req.Rate, func(source string) *delivery.Engine {
		if cur := running.Load(); cur != nil {
			return cur.engineOf(source)
		}
		return nil
	})
	snap, _ := a.console.hub.jobs.get(job.ID)
	return writeJSON(w, http.StatusAccepted, snap)
}

// replayJob serves GET /hookgate/replay/{job} (its progress) and DELETE
// (stop it).
func (api *AdminAPI) replayJob(w http.ResponseWriter, r *http.Request) error {
	a, err := runningApp()
	if err != nil {
		return err
	}
	id := r.PathValue("job")
	switch r.Method {
	case http.MethodGet:
	case http.MethodDelete:
		a.console.hub.jobs.cancelJob(id)
	default:
		return methodNotAllowed(r, "GET or DELETE")
	}
	job, ok := a.console.hub.jobs.get(id)
	if !ok {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no replay job %q", id)}
	}
	return writeJSON(w, http.StatusOK, job)
}
