package caddymodule

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hookgate/hookgate/expr"
	"github.com/hookgate/hookgate/sdk/receive"
)

// metrics are created once and registered with each config's registry
// (Caddy scopes registries to the active config since v2.9). Labels are
// low-cardinality only: source, outcome, reason, key name. Never an event
// id or a client address.
type metrics struct {
	requests     *prometheus.CounterVec
	duplicates   *prometheus.CounterVec
	storeErrors  *prometheus.CounterVec
	failOpen     *prometheus.CounterVec
	rlFallbacks  *prometheus.CounterVec
	keyMatches   *prometheus.CounterVec
	verifyTime   *prometheus.HistogramVec
	totalTime    *prometheus.HistogramVec
	clockSkew    *prometheus.HistogramVec
	lastSkewSecs *prometheus.GaugeVec
	dedupEvicted *prometheus.CounterVec

	// Durable delivery (deliver blocks), by source and destination.
	delivAttempts    *prometheus.CounterVec
	delivDelivered   *prometheus.CounterVec
	delivDead        *prometheus.CounterVec
	delivLatency     *prometheus.HistogramVec
	delivPending     *prometheus.GaugeVec
	delivOldest      *prometheus.GaugeVec
	delivDeadKept    *prometheus.GaugeVec
	delivLeaseLost   *prometheus.CounterVec
	delivStoreErrors *prometheus.CounterVec
	exprErrors       *prometheus.CounterVec
}

var (
	metricsOnce sync.Once
	theMetrics  *metrics
)

func newMetrics() *metrics {
	const ns, sub = "caddy", "webhook"
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Webhook requests by source, outcome and reason."}, []string{"source", "outcome", "reason"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "duplicates_total",
			Help: "Verified webhooks whose event id had already been completed."}, []string{"source"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "store_errors_total",
			Help: "Requests during which the dedup store failed."}, []string{"source"}),
		failOpen: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dedup_skipped_total",
			Help: "Webhooks forwarded without a dedup claim (fail open, or no event id)."}, []string{"source"}),
		rlFallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "ratelimit_fallbacks_total",
			Help: "Rate-limit decisions made locally because the shared limiter was unreachable."}, []string{"source"}),
		keyMatches: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "key_matches_total",
			Help: "Verified webhooks by the configured name of the secret that matched."}, []string{"source", "key"}),
		verifyTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "verify_duration_seconds",
			Help: "Time spent checking signatures.", Buckets: []float64{1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, .01}}, []string{"source"}),
		totalTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "request_duration_seconds",
			Help: "Time from receipt to answer, upstream included.", Buckets: prometheus.DefBuckets}, []string{"source", "outcome"}),
		clockSkew: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "clock_skew_seconds",
			Help:    "Now minus the webhook's signed timestamp (negative: from the future).",
			Buckets: []float64{-300, -60, -10, -1, 0, 1, 5, 10, 30, 60, 120, 300}}, []string{"source"}),
		lastSkewSecs: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "last_clock_skew_seconds",
			Help: "Clock skew of the last webhook with a signed timestamp."}, []string{"source"}),
		dedupEvicted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dedup_evicted_total",
			Help: "Completed event ids a full memory dedup store forgot before their TTL (a late retry of one is forwarded again)."}, []string{"source"}),
		delivAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "delivery_attempts_total",
			Help: "Delivery attempts by source, destination and outcome (delivered, retry, dead)."}, []string{"source", "destination", "outcome"}),
		delivDelivered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "delivered_total",
			Help: "Events delivered to their destination."}, []string{"source", "destination"}),
		delivDead: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dead_total",
			Help: "Deliveries that exhausted their attempts or age (kept, replayable)."}, []string{"source", "destination"}),
		delivLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "delivery_latency_seconds",
			Help:    "From receipt (or replay) to delivery.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}}, []string{"source", "destination"}),
		delivPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "delivery_pending",
			Help: "Deliveries pending or under way."}, []string{"source", "destination"}),
		delivOldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "delivery_oldest_pending_age_seconds",
			Help: "Age of the oldest delivery still pending."}, []string{"source", "destination"}),
		delivDeadKept: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "delivery_dead",
			Help: "Dead deliveries kept in the store (replayable)."}, []string{"source", "destination"}),
		delivLeaseLost: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "delivery_lease_lost_total",
			Help: "Attempts that outlived their lease: the event may reach the destination twice."}, []string{"source", "destination"}),
		delivStoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "delivery_store_errors_total",
			Help: "Delivery store calls that failed (the engine retries them)."}, []string{"op"}),
		exprErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "expr_errors_total",
			Help: "CEL expressions that failed at run time (a filter or matcher then does not match; a transform kills its delivery), by where and kind."}, []string{"where", "use", "kind"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duplicates, m.storeErrors, m.failOpen, m.rlFallbacks,
		m.keyMatches, m.verifyTime, m.totalTime, m.clockSkew, m.lastSkewSecs, m.dedupEvicted,
		m.delivAttempts, m.delivDelivered, m.delivDead, m.delivLatency, m.delivPending, m.delivOldest,
		m.delivDeadKept, m.delivLeaseLost, m.delivStoreErrors, m.exprErrors}
}

// registerMetrics registers the collectors with reg; several handlers
// share one registry, so "already registered" is success.
func registerMetrics(reg *prometheus.Registry) (*metrics, error) {
	metricsOnce.Do(func() { theMetrics = newMetrics() })
	if reg == nil {
		return theMetrics, nil
	}
	for _, c := range theMetrics.collectors() {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return nil, err
			}
		}
	}
	return theMetrics, nil
}

// sourceMetrics are the collectors' children for one source, resolved
// once at provision so that a request costs no label hashing for them;
// the few labelled by outcome, reason or key are cached as they appear.
type sourceMetrics struct {
	m                                          *metrics
	source                                     string
	duplicates, storeErrors, failOpen, rlFalls prometheus.Counter
	verifyTime, clockSkew                      prometheus.Observer
	lastSkew                                   prometheus.Gauge
	mu                                         sync.RWMutex
	byOutcome                                  map[[2]string]*outcomeMetrics // {outcome, reason}
	byKey                                      map[string]prometheus.Counter
}

type outcomeMetrics struct {
	requests prometheus.Counter
	total    prometheus.Observer
}

func (m *metrics) forSource(source string) *sourceMetrics {
	return &sourceMetrics{
		m: m, source: source,
		duplicates:  m.duplicates.WithLabelValues(source),
		storeErrors: m.storeErrors.WithLabelValues(source),
		failOpen:    m.failOpen.WithLabelValues(source),
		rlFalls:     m.rlFallbacks.WithLabelValues(source),
		verifyTime:  m.verifyTime.WithLabelValues(source),
		clockSkew:   m.clockSkew.WithLabelValues(source),
		lastSkew:    m.lastSkewSecs.WithLabelValues(source),
		byOutcome:   map[[2]string]*outcomeMetrics{},
		byKey:       map[string]prometheus.Counter{},
	}
}

// outcome returns the cached children for an outcome and reason.
func (sm *sourceMetrics) outcome(d *receive.Decision) *outcomeMetrics {
	k := [2]string{string(d.Outcome), string(d.Reason)}
	return cached(&sm.mu, sm.byOutcome, k, func() *outcomeMetrics {
		return &outcomeMetrics{
			requests: sm.m.requests.WithLabelValues(sm.source, k[0], k[1]),
			total:    sm.m.totalTime.WithLabelValues(sm.source, k[0]),
		}
	})
}

// key returns the cached counter for a key name.
func (sm *sourceMetrics) key(name string) prometheus.Counter {
	return cached(&sm.mu, sm.byKey, name, func() prometheus.Counter {
		return sm.m.keyMatches.WithLabelValues(sm.source, name)
	})
}

// cached returns m[k], made by build under mu's write lock the first time
// k is asked for; later calls take only the read lock.
func cached[K comparable, V any](mu *sync.RWMutex, m map[K]V, k K, build func() V) V {
	mu.RLock()
	v, ok := m[k]
	mu.RUnlock()
	if ok {
		return v
	}
	mu.Lock()
	defer mu.Unlock()
	if v, ok = m[k]; !ok {
		v = build()
		m[k] = v
	}
	return v
}

func (sm *sourceMetrics) observe(d receive.Decision) {
	om := sm.outcome(&d)
	om.requests.Inc()
	om.total.Observe(d.Total.Seconds())
	if d.Verify > 0 {
		sm.verifyTime.Observe(d.Verify.Seconds())
	}
	if d.Key != "" {
		sm.key(d.Key).Inc()
	}
	if d.Duplicate {
		sm.duplicates.Inc()
	}
	if d.StoreError {
		sm.storeErrors.Inc()
	}
	if d.DedupSkipped {
		sm.failOpen.Inc()
	}
	if d.RateLimitDegraded {
		sm.rlFalls.Inc()
	}
	if !d.Timestamp.IsZero() {
		if s := d.Skew.Seconds(); !math.IsNaN(s) {
			sm.clockSkew.Observe(s)
			sm.lastSkew.Set(s)
		}
	}
}

// evictionReporter returns the memory store's OnEvict for source: it
// counts caddy_webhook_dedup_evicted_total and logs a warning at most once
// a minute. It runs under a store shard's lock, so it only counts and
// compares an atomic time.
func evictionReporter(source string, logger *zap.Logger) func(int) {
	metricsOnce.Do(func() { theMetrics = newMetrics() })
	c := theMetrics.dedupEvicted.WithLabelValues(source)
	var next atomic.Int64
	return func(n int) {
		c.Add(float64(n))
		now := time.Now().UnixNano()
		if last := next.Load(); now >= last && next.CompareAndSwap(last, now+int64(time.Minute)) && logger != nil {
			logger.Warn("dedup memory store full: forgot completed event ids before their ttl; a late retry of one is forwarded again (raise max_entries, use redis, or set when_full refuse)",
				zap.String("webhook_source", source))
		}
	}
}

// countExprError counts a CEL expression's run-time failure by where it
// is (a source's destination, or webhook_expr), its use and its kind.
func countExprError(where, use string, err error) {
	metricsOnce.Do(func() { theMetrics = newMetrics() })
	kind := "eval"
	for _, k := range []struct {
		err  error
		name string
	}{{expr.ErrNoSuchKey, "no_such_key"}, {expr.ErrCost, "cost"}, {expr.ErrDeadline, "deadline"}, {expr.ErrResultType, "result_type"}} {
		if errors.Is(err, k.err) {
			kind = k.name
			break
		}
	}
	theMetrics.exprErrors.WithLabelValues(where, use, kind).Inc()
}
