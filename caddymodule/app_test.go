package caddymodule

import (
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/sdk/receive"
	"github.com/hookgate/hookgate/sdk/relay"
)

// newTestApp returns an app as Provision leaves it, with one relay (source
// "s") delivering through an embedded store in dir, and that relay's
// engine getter.
func newTestApp(t *testing.T, dir string) (*App, func() *delivery.Engine) {
	t.Helper()
	a := &App{
		logger:  zap.NewNop(),
		relays:  map[string][]*relay.Relay{},
		specs:   map[string]storeSpec{},
		started: make(chan struct{}),
	}
	spec := embeddedStore(dir)
	get := a.engineFor(spec)
	rl, err := relay.New(relay.Config{
		Source:  "s",
		Targets: []relay.Target{{URL: "http://127.0.0.1:1/"}},
		Engine:  get,
	})
	if err != nil {
		t.Fatal(err)
	}
	a.register(spec, rl)
	return a, get
}

// Caddy starts its apps in no fixed order: a webhook can reach a relay
// before the hookgate app has opened its store. It must wait for Start
// rather than answer 503 (a provider that never retries loses the event);
// across a reload, a request on the old configuration uses the new app's
// engine; with no app running, nil comes back after engineWait.
func TestEngineForWaitsForStart(t *testing.T) {
	dir := t.TempDir()
	a, get := newTestApp(t, dir)

	got := make(chan *delivery.Engine, 1)
	go func() { got <- get() }()
	time.Sleep(20 * time.Millisecond) // let the request arrive first (it passes either way)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if eng := <-got; eng == nil {
		t.Fatal("a request that came before Start got no engine: it would answer 503")
	}

	// A reload: the new app starts, then the old one stops.
	b, getB := newTestApp(t, dir)
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if eng := get(); eng == nil || eng != getB() {
		t.Fatalf("after Stop, the old app's relay got %p; want the new app's engine %p", eng, getB())
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}

	// Nothing running: nil, after the bounded wait.
	defer func(d time.Duration) { engineWait = d }(engineWait)
	engineWait = 10 * time.Millisecond
	_, getC := newTestApp(t, dir)
	if eng := getC(); eng != nil {
		t.Fatal("an engine came back before any Start")
	}
	if eng := get(); eng != nil {
		t.Fatal("an engine came back after every app stopped")
	}
}

// A source with a deliver block holds its dedup claim only while it
// records and tries the app live: its lock_ttl defaults to
// DeliverLockTTL, so a claim left behind by a Redis restart blocks the
// provider's retries for seconds; a set lock_ttl is kept.
func TestDeliverLockTTL(t *testing.T) {
	for _, c := range []struct {
		name    string
		deliver bool
		set     time.Duration
		want    time.Duration
	}{
		{"pass-through", false, 0, idempotency.DefaultLockTTL},
		{"deliver", true, 0, DeliverLockTTL},
		{"deliver, set", true, 90 * time.Second, 90 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := &Handler{Source: "s", logger: zap.NewNop(), Dedup: &DedupConfig{LockTTL: caddy.Duration(c.set)}}
			if c.deliver {
				h.Deliver = append(h.Deliver, &DeliverConfig{URL: "http://127.0.0.1:1/"})
			}
			defer h.Cleanup()
			var cfg receive.Config
			if err := h.provisionDedup(&cfg); err != nil {
				t.Fatal(err)
			}
			if got := cfg.Dedup.LockTTL(); got != c.want {
				t.Fatalf("lock TTL %v, want %v", got, c.want)
			}
		})
	}
}
