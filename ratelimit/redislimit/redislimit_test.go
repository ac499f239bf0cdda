package redislimit

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/internal/testredis"
	"github.com/hookgate/hookgate/ratelimit"
)

// newClient returns a client for srv that does not retry, so a stopped
// server fails a command at once.
func newClient(t testing.TB, srv *testredis.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 2 * time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

func newLimiter(t testing.TB, cfg Config) *Limiter {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l
}

// uniqueKey keeps tests that share an external server apart.
func uniqueKey(t testing.TB) string {
	return t.Name() + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

func TestBurstThenDeny(t *testing.T) {
	srv := testredis.Start(t)
	// One request an hour: nothing refills while the test runs.
	l := newLimiter(t, Config{Client: newClient(t, srv), Rate: 1.0 / 3600, Burst: 5})
	ctx, key := context.Background(), uniqueKey(t)
	for i := range 5 {
		d, err := l.Allow(ctx, key)
		if err != nil || !d.Allowed || d.Remaining != 4-i || d.Degraded {
			t.Fatalf("request %d: %+v, %v; want allowed with %d remaining", i, d, err, 4-i)
		}
		if d.Limit != 5 || d.Window != 5*time.Hour {
			t.Errorf("request %d: Limit %d Window %v, want 5 and 5h", i, d.Limit, d.Window)
		}
		if want := time.Duration(i+1) * time.Hour; d.Reset > want || d.Reset < want-time.Minute {
			t.Errorf("request %d: Reset %v, want about %v", i, d.Reset, want)
		}
	}
	d, err := l.Allow(ctx, key)
	if err != nil || d.Allowed || d.Remaining != 0 {
		t.Fatalf("request 6: %+v, %v; want denied", d, err)
	}
	if d.RetryAfter > time.Hour || d.RetryAfter < time.Hour-time.Minute {
		t.Errorf("RetryAfter %v, want about 1h", d.RetryAfter)
	}
	if d.Reset > 5*time.Hour || d.Reset < 5*time.Hour-time.Minute {
		t.Errorf("Reset %v, want about 5h", d.Reset)
	}
	if d, _ := l.Allow(ctx, key+"-other"); !d.Allowed {
		t.Error("another key was limited")
	}
}

func TestKeys(t *testing.T) {
	srv := testredis.Start(t)
	c := newClient(t, srv)
	l := newLimiter(t, Config{Client: c, Rate: 1, Burst: 3})
	ctx := context.Background()
	if _, err := l.Allow(ctx, "203.0.113.7"); err != nil {
		t.Fatal(err)
	}
	pttl, err := c.PTTL(ctx, "hookgate:rl:{203.0.113.7}").Result()
	if err != nil || pttl <= 0 || pttl > time.Second {
		t.Errorf("PTTL = %v, %v; want the key to expire when its bucket is full again (1s)", pttl, err)
	}
	long := strings.Repeat("x", 200)
	if got := l.Key(long); !strings.HasPrefix(got, "hookgate:rl:{sha256:") || len(got) != len("hookgate:rl:{sha256:}")+64 {
		t.Errorf("Key(long) = %q", got)
	}
	if got := newLimiter(t, Config{Client: c, Rate: 1, Prefix: "p:"}).Key("k"); got != "p:{k}" {
		t.Errorf("Key with Prefix = %q", got)
	}
}

// TestSharedBurst has two instances, each with its own connection,
// draw from one bucket at once: together they get the burst, not twice.
func TestSharedBurst(t *testing.T) {
	srv := testredis.Start(t)
	const burst = 100
	var lims [2]*Limiter
	for i := range lims {
		lims[i] = newLimiter(t, Config{Client: newClient(t, srv), Rate: 1e-3, Burst: burst})
	}
	key := uniqueKey(t)
	var allowed, degraded atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 75 {
				d, err := lims[g%2].Allow(context.Background(), key)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
				if d.Degraded {
					degraded.Add(1)
				}
			}
		})
	}
	wg.Wait()
	// 300 requests; the rate adds one token every 1000 s.
	if n := allowed.Load(); n < burst || n > burst+1 || degraded.Load() != 0 {
		t.Errorf("%d allowed (%d degraded) of 300, want %d", n, degraded.Load(), burst)
	}
}

// TestSharedRate has two instances send as fast as they can for a while:
// together they never get more than the burst plus the rate over the
// time measured around the run.
func TestSharedRate(t *testing.T) {
	srv := testredis.Start(t)
	const rate, burst = 200.0, 10
	var lims [2]*Limiter
	for i := range lims {
		lims[i] = newLimiter(t, Config{Client: newClient(t, srv), Rate: rate, Burst: burst})
	}
	key := uniqueKey(t)
	var allowed, total atomic.Int64
	start := time.Now()
	stop := start.Add(300 * time.Millisecond)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				d, err := lims[g%2].Allow(context.Background(), key)
				if err != nil {
					t.Error(err)
					return
				}
				total.Add(1)
				if d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	limit := burst + int64(rate*elapsed.Seconds()) + 1
	t.Logf("%d of %d allowed in %v; limit %d", allowed.Load(), total.Load(), elapsed, limit)
	if n := allowed.Load(); n > limit || n < min(burst, total.Load()) {
		t.Errorf("%d allowed in %v, want at most %d", n, elapsed, limit)
	}
}

// countingHook counts the commands a client sends.
type countingHook struct{ n atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func TestFallback(t *testing.T) {
	srv := testredis.Start(t)
	if srv.External() {
		t.Skip("needs a server it can stop")
	}
	c := newClient(t, srv)
	var hook countingHook
	c.AddHook(&hook)
	now := time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
	l := newLimiter(t, Config{Client: c, Rate: 1, Burst: 2, Cooldown: time.Second, Now: func() time.Time { return now }})
	ctx := context.Background()

	if d, err := l.Allow(ctx, "k"); err != nil || d.Degraded || !d.Allowed {
		t.Fatalf("healthy: %+v, %v", d, err)
	}

	srv.Stop()
	d, err := l.Allow(ctx, "k")
	if err != nil || !d.Degraded || !d.Allowed || l.Fallbacks() != 1 {
		t.Fatalf("Redis down: %+v, %v, Fallbacks %d; want a degraded decision", d, err, l.Fallbacks())
	}
	// Within the cooldown, Redis is not tried; the fallback limits.
	sent := hook.n.Load()
	d2, _ := l.Allow(ctx, "k")
	d3, _ := l.Allow(ctx, "k")
	if !d2.Degraded || !d2.Allowed || !d3.Degraded || d3.Allowed || d3.RetryAfter != time.Second {
		t.Errorf("fallback decisions: %+v, %+v; want allowed then denied", d2, d3)
	}
	if hook.n.Load() != sent || l.Fallbacks() != 3 {
		t.Errorf("during the cooldown: %d commands sent, Fallbacks %d", hook.n.Load()-sent, l.Fallbacks())
	}

	// After the cooldown Redis is tried again, and still down.
	now = now.Add(time.Second)
	if d, _ := l.Allow(ctx, "k"); !d.Degraded || hook.n.Load() == sent {
		t.Errorf("after the cooldown: %+v, %d commands sent; want one failed try", d, hook.n.Load()-sent)
	}

	srv.Restart()
	recovered := false
	for range 3 { // a pooled connection may fail once after the restart
		now = now.Add(time.Second)
		if d, err := l.Allow(ctx, "k"); err == nil && !d.Degraded {
			recovered = true
			break
		}
	}
	if !recovered {
		t.Errorf("not recovered after Redis restarted; Fallbacks %d", l.Fallbacks())
	}
}

func TestCanceledContext(t *testing.T) {
	srv := testredis.Start(t)
	l := newLimiter(t, Config{Client: newClient(t, srv), Rate: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Allow(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Allow with a canceled context: %v", err)
	}
	if l.Fallbacks() != 0 {
		t.Errorf("a canceled request counted as a fallback")
	}
}

func TestNewErrors(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	tests := []struct {
		cfg   Config
		field string
	}{
		{Config{Rate: 1}, "Client"},
		{Config{Client: c}, "Rate"},
		{Config{Client: c, Rate: -2}, "Rate"},
		{Config{Client: c, Rate: 1, Burst: -1}, "Burst"},
		{Config{Client: c, Rate: 1, Cooldown: -time.Second}, "Cooldown"},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tt.cfg, err, tt.field)
		}
	}
	fb, err := ratelimit.NewLocal(ratelimit.Config{Rate: 5})
	if err != nil {
		t.Fatal(err)
	}
	l := newLimiter(t, Config{Client: c, Rate: 1, Fallback: fb})
	if l.fallback != fb || l.burst != 1 || l.prefix != defaultPrefix || l.cooldown != time.Second {
		t.Errorf("defaults not applied: %+v", l)
	}
}
