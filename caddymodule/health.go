package caddymodule

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/hookgate/hookgate/delivery"
)

// Health thresholds: what makes a source degraded or unhealthy. Request
// shares are judged over the feed's window (activityBuckets minutes) and
// only past a few requests, so that one bad request is not an alarm.
const (
	healthMinRequests   = 5
	healthRejectWarn    = 0.10
	healthRejectBad     = 0.50
	healthMinFinished   = 2
	healthSuccessWarn   = 0.95
	healthSuccessBad    = 0.50
	healthAttemptsWarn  = 1.5
	healthPendingWarn   = time.Minute
	healthPendingBad    = 15 * time.Minute
	healthKeyExpiryWarn = 7 * 24 * time.Hour
)

// The health statuses.
const (
	healthy   = "healthy"
	degraded  = "degraded"
	unhealthy = "unhealthy"
)

// sourceHealth is one source's health, as GET /hookgate/health shows it.
type sourceHealth struct {
	Source  string `json:"source"`
	Scheme  string `json:"scheme,omitempty"`
	Records bool   `json:"records"` // has a deliver block: its events are recorded
	Status  string `json:"status"`  // healthy, degraded or unhealthy
	// Reason is the worst problem found (empty when healthy); Reasons
	// lists them all, worst first.
	Reason  string   `json:"reason,omitempty"`
	Reasons []string `json:"reasons"`

	// Over the last WindowMinutes minutes (since the gateway started, at
	// most):
	WindowMinutes int `json:"window_minutes"`
	Requests      int `json:"requests"`
	Verified      int `json:"verified"`
	Rejected      int `json:"rejected"`
	Duplicates    int `json:"duplicates"`
	// RejectedShare is Rejected / Requests.
	RejectedShare *float64 `json:"rejected_share,omitempty"`
	LastRejection string   `json:"last_rejection_reason,omitempty"`
	Attempts      int      `json:"attempts"`
	Delivered     int      `json:"delivered"`
	Dead          int      `json:"dead"`
	// SuccessRate is Delivered / (Delivered + Dead): the deliveries that
	// finished well. AttemptsPerDelivery is Attempts / (Delivered + Dead).
	SuccessRate         *float64 `json:"success_rate,omitempty"`
	AttemptsPerDelivery *float64 `json:"attempts_per_delivery,omitempty"`
	// LatencyP50MS and LatencyP99MS are of the last attempts (up to 256):
	// how long the app takes to answer.
	LatencyP50MS *float64 `json:"latency_p50_ms,omitempty"`
	LatencyP99MS *float64 `json:"latency_p99_ms,omitempty"`

	// From the store, now:
	Pending              int      `json:"pending"`
	OldestPendingSeconds *float64 `json:"oldest_pending_seconds,omitempty"`
	DeadKept             int      `json:"dead_kept"`

	// LastEventAt is the last request of the source (or, after a restart,
	// the last event recorded).
	LastEventAt string      `json:"last_event_at,omitempty"`
	Keys        []keyHealth `json:"keys"`
}

// keyHealth is one key's expiry, by name (never its value).
type keyHealth struct {
	Name    string `json:"name"`
	Expires string `json:"expires,omitempty"`
	// State is "ok", "expiring" (within 7 days) or "expired".
	State string `json:"state"`
}

// healthInput is what a source's health is judged from.
type healthInput struct {
	info     sourceInfo
	activity activityStats
	stats    []delivery.QueueStats // the source's queues
	lastRec  time.Time             // the last event recorded, when activity has none
}

// judgeHealth returns the health of a source at now.
func judgeHealth(in healthInput, now time.Time) sourceHealth {
	w := in.activity.Window
	h := sourceHealth{
		Source: in.info.Name, Scheme: in.info.Scheme, Records: in.info.Deliver, Reasons: []string{}, Keys: []keyHealth{},
		WindowMinutes: activityBuckets,
		Requests:      w.Requests, Verified: w.Verified, Rejected: w.Rejected, Duplicates: w.Duplicates,
		LastRejection: in.activity.Reason,
		Attempts:      w.Attempts, Delivered: w.Delivered, Dead: w.Dead,
	}
	var bad, warn []string
	if w.Requests > 0 {
		share := float64(w.Rejected) / float64(w.Requests)
		h.RejectedShare = &share
		if w.Requests >= healthMinRequests && share >= healthRejectWarn {
			msg := fmt.Sprintf("%.0f%% of %d requests rejected in %d min", 100*share, w.Requests, activityBuckets)
			if in.activity.Reason != "" {
				msg += " (last: " + in.activity.Reason + ")"
			}
			if share >= healthRejectBad {
				bad = append(bad, msg)
			} else {
				warn = append(warn, msg)
			}
		}
	}
	if finished := w.Delivered + w.Dead; finished > 0 {
		rate := float64(w.Delivered) / float64(finished)
		per := float64(w.Attempts) / float64(finished)
		h.SuccessRate, h.AttemptsPerDelivery = &rate, &per
		if finished >= healthMinFinished && rate < healthSuccessBad {
			bad = append(bad, fmt.Sprintf("%d of %d deliveries died in %d min", w.Dead, finished, activityBuckets))
		} else if w.Dead > 0 || (finished >= healthMinFinished && rate < healthSuccessWarn) {
			warn = append(warn, fmt.Sprintf("%d of %d deliveries died in %d min", w.Dead, finished, activityBuckets))
		}
		if finished >= healthMinFinished && per >= healthAttemptsWarn {
			warn = append(warn, fmt.Sprintf("deliveries take %.1f attempts each", per))
		}
	}
	if lat := in.activity.Latency; len(lat) > 0 {
		p50, p99 := percentileMS(lat, 0.50), percentileMS(lat, 0.99)
		h.LatencyP50MS, h.LatencyP99MS = &p50, &p99
	}
	var oldest time.Time
	for _, st := range in.stats {
		h.Pending += st.Pending
		h.DeadKept += st.Dead
		if !st.OldestSince.IsZero() && (oldest.IsZero() || st.OldestSince.Before(oldest)) {
			oldest = st.OldestSince
		}
	}
	if !oldest.IsZero() {
		age := max(0, now.Sub(oldest))
		secs := age.Seconds()
		h.OldestPendingSeconds = &secs
		msg := fmt.Sprintf("the oldest pending delivery has waited %s", age.Round(time.Second))
		switch {
		case age >= healthPendingBad:
			bad = append(bad, msg+": the app is not taking events")
		case age >= healthPendingWarn:
			warn = append(warn, msg)
		}
	}
	last := in.activity.LastSeen
	if last.IsZero() {
		last = in.lastRec
	}
	h.LastEventAt = timeText(last)

	// Keys: expired ones no longer verify; when every key expires within
	// the week, the source will stop verifying.
	var latest time.Time
	lasting := false // a key without expiry, or beyond the warning
	live := 0
	for _, k := range in.info.Keys {
		kh := keyHealth{Name: k.Name, Expires: timeText(k.Expires), State: "ok"}
		switch {
		case k.Expires.IsZero():
			lasting = true
			live++
		case !k.Expires.After(now):
			kh.State = "expired"
		default:
			live++
			if k.Expires.Sub(now) <= healthKeyExpiryWarn {
				kh.State = "expiring"
			} else {
				lasting = true
			}
			if k.Expires.After(latest) {
				latest = k.Expires
			}
		}
		h.Keys = append(h.Keys, kh)
	}
	switch {
	case len(in.info.Keys) > 0 && live == 0:
		bad = append(bad, "every key has expired: no webhook verifies")
	case live > 0 && !lasting:
		warn = append(warn, fmt.Sprintf("every key expires within %s (the last in %s): add the next one", days(healthKeyExpiryWarn), days(latest.Sub(now))))
	}

	h.Reasons = append(append(h.Reasons, bad...), warn...)
	switch {
	case len(bad) > 0:
		h.Status = unhealthy
	case len(warn) > 0:
		h.Status = degraded
	default:
		h.Status = healthy
	}
	if len(h.Reasons) > 0 {
		h.Reason = h.Reasons[0]
	}
	return h
}

// days writes d in days (or hours, under two days).
func days(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%.0f h", math.Ceil(d.Hours()))
	}
	return fmt.Sprintf("%.0f days", math.Round(d.Hours()/24))
}

// percentileMS returns the p-th percentile of ds (nearest rank), in ms.
func percentileMS(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}

// health serves GET /hookgate/health: every configured source's health.
func (api *AdminAPI) health(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "GET")
	}
	a, err := runningApp()
	if err != nil {
		return err
	}
	now := time.Now()
	act := a.console.feed.sourceActivity(now)
	out := struct {
		Now     string         `json:"now"`
		Sources []sourceHealth `json:"sources"`
	}{Now: timeText(now), Sources: []sourceHealth{}}
	for _, si := range a.console.sourceList() {
		in := healthInput{info: si, activity: act[si.Name]}
		if eng := a.engineOf(si.Name); eng != nil {
			var qs []delivery.Queue
			for _, q := range eng.Queues() {
				if q.Source == si.Name {
					qs = append(qs, q)
				}
			}
			if st, err := eng.Store().Stats(r.Context(), qs); err == nil {
				in.stats = st
			}
			if in.activity.LastSeen.IsZero() {
				if evs, err := eng.Store().List(r.Context(), delivery.Filter{Source: si.Name, Limit: 1}); err == nil && len(evs) > 0 {
					in.lastRec = evs[0].ReceivedAt
				}
			}
		}
		out.Sources = append(out.Sources, judgeHealth(in, now))
	}
	return writeJSON(w, http.StatusOK, out)
}
