package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/boltstore"
	"github.com/hookgate/hookgate/delivery/redisstore"
	"github.com/hookgate/hookgate/sdk/relay"
)

func init() {
	caddy.RegisterModule(new(App))
}

// App is the hookgate app: it runs the delivery engines behind the
// webhook_verify handlers that have a deliver block. It needs no
// configuration; a handler with a deliver block loads it. Stores are
// opened and workers started in Start, not Provision, so that `caddy
// validate` (Provision and Cleanup only) never opens a database.
//
// One engine runs per store: every source delivering through the same
// embedded file shares it. Across a configuration reload the new app
// starts before the old one stops; both open the store through a usage
// pool (one bbolt handle per file, whose lock would otherwise make the
// new app wait for the old), and leases keep their workers from
// delivering the same event twice.
type App struct {
	// HidePayloads keeps recorded bodies and headers out of the events
	// API, the console and `hookgate listen`: they show metadata only.
	// The store still records bodies (it delivers them); Record drops
	// them from the store once delivered.
	HidePayloads bool `json:"hide_payloads,omitempty"`

	// Record says what the delivery stores keep of an event's payload
	// (its headers and body). "full" keeps it until retention deletes
	// the event. "metadata_only" drops it in the write that records the
	// event delivered to every destination; the event's source, id,
	// type, times, statuses and attempts stay until retention deletes
	// it. Pending events keep their payload (delivering needs it), and
	// so do dead ones, so that they can be replayed; a delivered event
	// recorded metadata only cannot be replayed, nor forwarded by
	// `hookgate listen`.
	//
	// default: "full"
	Record string `json:"record,omitempty"`

	// Retention bounds how long finished events are kept.
	//
	// default: delivered events 72h, dead ones 30 days
	Retention *Retention `json:"retention,omitempty"`

	logger *zap.Logger
	ctx    caddy.Context

	// checkMatchers is set by a webhook_event matcher: Start then checks
	// that none can run before webhook_verify.
	checkMatchers atomic.Bool

	mu     sync.Mutex
	relays map[string][]*relay.Relay // store key -> relays registered in Provision
	specs  map[string]storeSpec      // store key -> where the store lives

	engines   atomic.Pointer[map[string]*delivery.Engine] // set by Start
	started   chan struct{}                               // closed when Start has run (or failed) or Stop
	startOnce sync.Once                                   // closes started
	cancel    context.CancelFunc
	running   sync.WaitGroup
	held      []string // pool keys taken in Start

	stream *sharedStream // the live stream across gateways sharing Redis, set by Start (feedredis.go)

	console console // the events API, live stream and console (admin.go)
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "hookgate", New: func() caddy.Module { return new(App) }}
}

// Provision sets the app up; handlers register with it afterwards.
func (a *App) Provision(ctx caddy.Context) error {
	if err := a.checkOptions(); err != nil {
		return err
	}
	a.logger = ctx.Logger()
	a.ctx = ctx
	a.relays = map[string][]*relay.Relay{}
	a.specs = map[string]storeSpec{}
	a.started = make(chan struct{})
	return a.console.provision(ctx)
}

// storeSpec names a delivery store: where it lives.
type storeSpec struct {
	kind   string                // "embedded" or "redis"
	path   string                // embedded: the bbolt file; redis: the client's key (no secret)
	client redis.UniversalClient // redis: the handler's shared client
	prefix string                // redis: the key prefix
}

func (s storeSpec) key() string { return "deliveries|" + s.kind + "|" + s.path + "|" + s.prefix }

// embeddedStore returns the spec of an embedded store in dir, or in
// Caddy's data directory when dir is empty.
func embeddedStore(dir string) storeSpec {
	if dir == "" {
		dir = filepath.Join(caddy.AppDataDir(), "hookgate")
	}
	return storeSpec{kind: "embedded", path: filepath.Join(dir, "deliveries.db")}
}

// register adds rl's destinations to the engine of store s.
func (a *App) register(s storeSpec, rl *relay.Relay) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.relays[s.key()] = append(a.relays[s.key()], rl)
	a.specs[s.key()] = s
}

// engineWait bounds how long a request waits for the app's Start (see
// engineFor).
var engineWait = 5 * time.Second

// engineFor returns the engine of store s for a relay. Outside of Start
// and Stop, that is this app's engine. Two windows need more:
//
//   - Before Start: Caddy starts its apps in no fixed order, so the http
//     app may serve a webhook before this app has opened its stores. The
//     request waits for Start, at most engineWait, rather than answering
//     503 to a provider that may never retry.
//   - After Stop: across a reload, a request still in flight on the old
//     configuration's server is recorded by the app that replaced this
//     one: it runs an engine over the same store.
//
// It returns nil when no engine runs (the relay answers 503).
func (a *App) engineFor(s storeSpec) func() *delivery.Engine {
	key := s.key()
	return func() *delivery.Engine {
		if e := a.engine(key); e != nil {
			return e
		}
		select {
		case <-a.started:
		default:
			t := time.NewTimer(engineWait)
			select {
			case <-a.started:
			case <-t.C:
			}
			t.Stop()
			if e := a.engine(key); e != nil {
				return e
			}
		}
		if cur := running.Load(); cur != nil && cur != a {
			return cur.engine(key)
		}
		return nil
	}
}

// engine returns the engine of the store with key, nil before Start or
// after Stop.
func (a *App) engine(key string) *delivery.Engine {
	if m := a.engines.Load(); m != nil {
		return (*m)[key]
	}
	return nil
}

// markStarted releases the requests waiting in engineFor.
func (a *App) markStarted() { a.startOnce.Do(func() { close(a.started) }) }

// Start checks where webhook_event matchers run, opens the stores and
// starts one engine per store.
func (a *App) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.markStarted()
	if a.checkMatchers.Load() {
		v, err := a.ctx.App("http")
		if err != nil {
			return err
		}
		if err := checkEventMatchers(v.(*caddyhttp.App)); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	engines := map[string]*delivery.Engine{}
	for key, rls := range a.relays {
		store, err := a.openStore(a.specs[key])
		if err != nil {
			cancel()
			a.releaseStores()
			return err
		}
		eng, err := a.newEngine(store, rls)
		if err != nil {
			cancel()
			a.releaseStores()
			return err
		}
		engines[key] = eng
		a.running.Go(func() { _ = eng.Run(ctx) })
	}
	a.engines.Store(&engines)
	a.stream = startSharedStream(a.ctx, a.console.feed, a.specs, a.relays, a.logger)
	running.Store(a)
	return nil
}

// Stop stops the engines, letting attempts under way finish (each
// engine's drain timeout), and releases the stores.
func (a *App) Stop() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	running.CompareAndSwap(a, nil)
	a.engines.Store(nil)
	a.markStarted()
	if a.cancel != nil {
		a.cancel()
	}
	a.running.Wait()
	a.stream.stop()
	a.stream = nil
	a.releaseStores()
	return nil
}

// openStore opens the store of s. An embedded store is shared through the
// usage pool (one bbolt handle per file, across reloads); a Redis store is
// a cheap view over the handler's pooled client.
func (a *App) openStore(spec storeSpec) (delivery.Store, error) {
	if spec.kind == "redis" {
		s, err := redisstore.New(redisstore.Config{Client: spec.client, Prefix: spec.prefix})
		if err != nil {
			return nil, fmt.Errorf("deliver: store redis: %w", err)
		}
		return s, nil
	}
	key, path := spec.key(), spec.path
	val, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		s, err := boltstore.Open(path, boltstore.Config{
			OnError: func(err error) { a.logger.Error("delivery store: a deferred write failed", zap.Error(err)) },
		})
		if err != nil {
			return nil, fmt.Errorf("deliver: store embedded %s: %w", filepath.Dir(path), err)
		}
		return &pooledValue{v: s, destruct: s.Close}, nil
	})
	if err != nil {
		return nil, err
	}
	a.held = append(a.held, key)
	return val.(*pooledValue).v.(delivery.Store), nil
}

func (a *App) releaseStores() {
	for _, k := range a.held {
		_, _ = pool.Delete(k)
	}
	a.held = nil
}

// newEngine builds the engine of one store over the relays that deliver
// through it: each source's attempts go to its relay. It keeps what the
// app's Record and Retention say.
func (a *App) newEngine(store delivery.Store, rls []*relay.Relay) (*delivery.Engine, error) {
	bySource := map[string]*relay.Relay{}
	var dests []delivery.Destination
	for _, rl := range rls {
		if _, dup := bySource[rl.Source()]; dup {
			return nil, fmt.Errorf("deliver: source %q is configured twice on one store", rl.Source())
		}
		bySource[rl.Source()] = rl
		dests = append(dests, rl.Destinations()...)
	}
	keepDelivered, keepDead := a.Retention.keep()
	return delivery.New(delivery.Config{
		Store:         store,
		KeepDelivered: keepDelivered,
		KeepDead:      keepDead,
		DropPayloads:  a.Record == recordMetadataOnly,
		Attempt: func(ctx context.Context, t *delivery.Task) delivery.Result {
			rl := bySource[t.Event.Source]
			if rl == nil {
				return delivery.Result{Err: errors.New("no relay for this source")}
			}
			return rl.Attempt(ctx, t)
		},
		Destinations: dests,
		Observer:     deliveryObserver(a.logger, a.console.feed),
	})
}

// deliveryObserver turns the engines' notices into metrics, log lines
// (never a body or a secret) and events of the live stream (f, when not
// nil).
func deliveryObserver(logger *zap.Logger, f *feed) delivery.Observer {
	metricsOnce.Do(func() { theMetrics = newMetrics() })
	m := theMetrics
	return delivery.ObserverFunc(func(n delivery.Notice) {
		f.notice(&n)
		src, dst := n.Queue.Source, n.Queue.Destination
		switch n.Kind {
		case delivery.NoticeAttempt:
			m.delivAttempts.WithLabelValues(src, dst, attemptOutcome(n)).Inc()
		case delivery.NoticeDelivered:
			m.delivDelivered.WithLabelValues(src, dst).Inc()
			m.delivLatency.WithLabelValues(src, dst).Observe(n.Latency.Seconds())
		case delivery.NoticeDead:
			m.delivDead.WithLabelValues(src, dst).Inc()
			logger.Warn("webhook delivery dead: retries exhausted; kept and replayable",
				zap.String("webhook_source", src), zap.String("destination", dst),
				zap.String("webhook_id", n.ID), zap.String("reason", n.Reason))
		case delivery.NoticeQueue:
			m.delivPending.WithLabelValues(src, dst).Set(float64(n.Stats.Pending))
			age := 0.0
			if !n.Stats.OldestSince.IsZero() {
				age = max(0, time.Since(n.Stats.OldestSince).Seconds())
			}
			m.delivDeadKept.WithLabelValues(src, dst).Set(float64(n.Stats.Dead))
			m.delivOldest.WithLabelValues(src, dst).Set(age)
		case delivery.NoticeLeaseLost:
			m.delivLeaseLost.WithLabelValues(src, dst).Inc()
		case delivery.NoticeError:
			m.delivStoreErrors.WithLabelValues(n.Op).Inc()
			logger.Error("delivery store error", zap.String("op", n.Op), zap.Error(n.Err))
		}
	})
}

func attemptOutcome(n delivery.Notice) string {
	switch n.Status {
	case delivery.StatusDelivered:
		return "delivered"
	case delivery.StatusDead:
		return "dead"
	default:
		return "retry"
	}
}

// Interface guards.
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
)
