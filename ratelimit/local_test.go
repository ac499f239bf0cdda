package ratelimit

import (
	"context"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)

func newLocal(t testing.TB, cfg Config) *Local {
	t.Helper()
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatalf("NewLocal: %v", err)
	}
	return l
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestBurstThenSteady(t *testing.T) {
	l := newLocal(t, Config{Rate: 10, Burst: 5})
	steps := []struct {
		at   time.Duration
		want Decision
	}{
		{0, Decision{Allowed: true, Remaining: 4, Reset: ms(100)}},
		{0, Decision{Allowed: true, Remaining: 3, Reset: ms(200)}},
		{0, Decision{Allowed: true, Remaining: 2, Reset: ms(300)}},
		{0, Decision{Allowed: true, Remaining: 1, Reset: ms(400)}},
		{0, Decision{Allowed: true, Remaining: 0, Reset: ms(500)}},
		{0, Decision{Allowed: false, Remaining: 0, RetryAfter: ms(100), Reset: ms(500)}},
		{ms(40), Decision{Allowed: false, Remaining: 0, RetryAfter: ms(60), Reset: ms(460)}},
		{ms(100), Decision{Allowed: true, Remaining: 0, Reset: ms(500)}},
		{ms(150), Decision{Allowed: false, Remaining: 0, RetryAfter: ms(50), Reset: ms(450)}},
		{ms(200), Decision{Allowed: true, Remaining: 0, Reset: ms(500)}},
		{ms(500), Decision{Allowed: true, Remaining: 2, Reset: ms(300)}},
		{ms(2000), Decision{Allowed: true, Remaining: 4, Reset: ms(100)}},
	}
	for i, s := range steps {
		got := l.AllowAt(t0.Add(s.at), "k")
		want := s.want
		want.Limit, want.Window = 5, ms(500)
		if !roughly(got, want) {
			t.Errorf("step %d at +%v:\n got %+v\nwant %+v", i, s.at, got, want)
		}
	}
}

// roughly compares decisions allowing a microsecond of float rounding in
// the durations.
func roughly(a, b Decision) bool {
	near := func(x, y time.Duration) bool { return (x - y).Abs() <= time.Microsecond }
	return a.Allowed == b.Allowed && a.Limit == b.Limit && a.Remaining == b.Remaining &&
		a.Degraded == b.Degraded && near(a.RetryAfter, b.RetryAfter) && near(a.Reset, b.Reset) && near(a.Window, b.Window)
}

// TestSteadyRate offers requests faster than the rate for a long time:
// after the burst, exactly the rate gets through.
func TestSteadyRate(t *testing.T) {
	for _, tt := range []struct {
		rate  float64
		burst int
		every time.Duration
		span  time.Duration
	}{
		{2, 1, ms(100), time.Hour},
		{2, 10, ms(100), time.Hour},
		{0.5, 3, ms(250), time.Hour},
		{100, 100, ms(3), time.Minute},
	} {
		l := newLocal(t, Config{Rate: tt.rate, Burst: tt.burst})
		allowed := 0
		for at := time.Duration(0); at < tt.span; at += tt.every {
			if l.AllowAt(t0.Add(at), "k").Allowed {
				allowed++
			}
		}
		want := tt.burst + int(tt.rate*tt.span.Seconds())
		if allowed < want-1 || allowed > want {
			t.Errorf("rate %v burst %d: %d allowed in %v, want %d", tt.rate, tt.burst, allowed, tt.span, want)
		}
	}
}

func TestRetryAfterIsExact(t *testing.T) {
	// A client that waits exactly RetryAfter is allowed.
	l := newLocal(t, Config{Rate: 3, Burst: 2})
	at := t0
	for i := range 100 {
		d := l.AllowAt(at, "k")
		if i >= 2 && !d.Allowed && d.RetryAfter <= 0 {
			t.Fatalf("request %d denied without RetryAfter: %+v", i, d)
		}
		if !d.Allowed {
			at = at.Add(d.RetryAfter)
			if d = l.AllowAt(at, "k"); !d.Allowed {
				t.Fatalf("request %d denied after waiting RetryAfter: %+v", i, d)
			}
		}
	}
}

func TestKeysAreIndependent(t *testing.T) {
	l := newLocal(t, Config{Rate: 1, Burst: 1})
	if !l.AllowAt(t0, "a").Allowed || l.AllowAt(t0, "a").Allowed {
		t.Fatal("a: want one request allowed")
	}
	if !l.AllowAt(t0, "b").Allowed {
		t.Error("b was limited by a's use")
	}
}

func TestTimeDoesNotRunBackwards(t *testing.T) {
	l := newLocal(t, Config{Rate: 1, Burst: 1})
	l.AllowAt(t0, "k")
	if d := l.AllowAt(t0.Add(-time.Hour), "k"); d.Allowed {
		t.Errorf("an earlier time refilled the bucket: %+v", d)
	}
	if d := l.AllowAt(t0.Add(ms(500)), "k"); d.Allowed {
		t.Errorf("an earlier time moved the bucket's clock back: %+v", d)
	}
}

func TestAllowUsesNow(t *testing.T) {
	now := t0
	l := newLocal(t, Config{Rate: 1, Burst: 1, Now: func() time.Time { return now }})
	ctx := context.Background()
	if d, err := l.Allow(ctx, "k"); err != nil || !d.Allowed {
		t.Fatalf("first: %+v, %v", d, err)
	}
	if d, _ := l.Allow(ctx, "k"); d.Allowed {
		t.Fatal("second at the same instant allowed")
	}
	now = now.Add(time.Second)
	if d, _ := l.Allow(ctx, "k"); !d.Allowed {
		t.Fatal("not allowed after a second")
	}
}

func TestEvictionBoundsMemory(t *testing.T) {
	const maxKeys = 1000
	l := newLocal(t, Config{Rate: 1, MaxKeys: maxKeys})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 100_000 {
		l.AllowAt(t0, "203.0.113."+strconv.Itoa(i)+strings.Repeat("x", i%512))
	}
	if n := l.Len(); n > maxKeys || n < maxKeys*9/10 {
		t.Errorf("Len() = %d after 100k keys, want at most %d and close to it", n, maxKeys)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// About 200 bytes per key are expected; the keys' own bytes (up to
	// half a KiB each) must not be retained.
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 1<<20 {
		t.Errorf("heap grew by %d bytes for %d keys", grown, maxKeys)
	}
	runtime.KeepAlive(l)
}

func TestShardCapacities(t *testing.T) {
	for _, maxKeys := range []int{1, 15, 31, 32, 1000, 1023, 100_000} {
		l := newLocal(t, Config{Rate: 1, MaxKeys: maxKeys})
		sum := 0
		for i := range l.shards {
			sum += l.shards[i].cap
			if l.shards[i].cap < 1 {
				t.Errorf("MaxKeys %d: shard %d has no room", maxKeys, i)
			}
		}
		if sum != maxKeys {
			t.Errorf("MaxKeys %d: shard capacities add up to %d", maxKeys, sum)
		}
		if maxKeys > 1023 {
			continue
		}
		for i := range 3 * maxKeys {
			l.AllowAt(t0, strconv.Itoa(i))
		}
		if n := l.Len(); n != maxKeys {
			t.Errorf("MaxKeys %d: Len() = %d after %d keys", maxKeys, n, 3*maxKeys)
		}
	}
}

func TestLeastRecentlyUsedIsEvicted(t *testing.T) {
	// One shard of 16 keys; each key's single token never refills.
	l := newLocal(t, Config{Rate: 1e-6, Burst: 1, MaxKeys: 16})
	for i := range 16 {
		l.AllowAt(t0, "k"+strconv.Itoa(i))
	}
	l.AllowAt(t0, "k0")  // k0 is now the most recently used
	l.AllowAt(t0, "k16") // evicts k1
	if l.AllowAt(t0, "k0").Allowed {
		t.Error("k0 was forgotten")
	}
	if !l.AllowAt(t0, "k1").Allowed { // forgotten: a fresh bucket
		t.Error("k1 was not evicted")
	}
	if l.Len() != 16 {
		t.Errorf("Len() = %d", l.Len())
	}
}

func TestIdleKeysAreSwept(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		l := newLocal(t, Config{Rate: 10, Burst: 10, MaxKeys: 16, IdleTTL: time.Minute})
		l.AllowAt(t0, "a")
		l.AllowAt(t0.Add(30*time.Second), "b")
		if l.Len() != 2 {
			t.Fatalf("Len() = %d, want 2", l.Len())
		}
		l.AllowAt(t0.Add(80*time.Second), "c") // a is idle, b is not yet
		if l.Len() != 2 {
			t.Errorf("Len() = %d, want 2 (b and c)", l.Len())
		}
		l.AllowAt(t0.Add(10*time.Minute), "c")
		if l.Len() != 1 {
			t.Errorf("Len() = %d after a and b were idle, want 1", l.Len())
		}
	})
	t.Run("a key in debt is kept", func(t *testing.T) {
		// The bucket takes 5 minutes to refill: a 1-minute IdleTTL must
		// not forget a key that has used it up.
		l := newLocal(t, Config{Rate: 1.0 / 60, Burst: 5, MaxKeys: 16, IdleTTL: time.Minute})
		for range 5 {
			l.AllowAt(t0, "a")
		}
		l.AllowAt(t0.Add(2*time.Minute), "b")
		if l.Len() != 2 {
			t.Fatalf("Len() = %d, want 2: a was swept while in debt", l.Len())
		}
		if d := l.AllowAt(t0.Add(2*time.Minute), "a"); !d.Allowed || d.Remaining != 1 {
			t.Errorf("a after 2 minutes: %+v, want allowed with 1 remaining", d)
		}
		l.AllowAt(t0.Add(8*time.Minute), "c")
		if l.Len() != 1 {
			t.Errorf("Len() = %d after a and b were idle past the refill time, want 1", l.Len())
		}
	})
}

func TestConcurrentOneKey(t *testing.T) {
	l := newLocal(t, Config{Rate: 1, Burst: 50})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				if l.AllowAt(t0, "shared").Allowed {
					allowed.Add(1)
				}
				l.AllowAt(t0, "own"+strconv.Itoa(g*1000+i))
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 50 {
		t.Errorf("%d allowed at one instant, want the burst of 50", n)
	}
}

func TestNewLocalErrors(t *testing.T) {
	tests := []struct {
		cfg   Config
		field string
	}{
		{Config{}, "Rate"},
		{Config{Rate: -1}, "Rate"},
		{Config{Rate: math.NaN()}, "Rate"},
		{Config{Rate: math.Inf(1)}, "Rate"},
		{Config{Rate: 1, Burst: -1}, "Burst"},
		{Config{Rate: 1, MaxKeys: -1}, "MaxKeys"},
		{Config{Rate: 1, IdleTTL: -time.Second}, "IdleTTL"},
	}
	for _, tt := range tests {
		_, err := NewLocal(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("NewLocal(%+v) = %v, want an error naming %s", tt.cfg, err, tt.field)
		}
	}
}

func TestDefaults(t *testing.T) {
	for _, tt := range []struct {
		rate  float64
		burst int
	}{{0.1, 1}, {1, 1}, {2.5, 3}, {100, 100}, {1e12, math.MaxInt32}} {
		l := newLocal(t, Config{Rate: tt.rate})
		if l.burst != tt.burst || DefaultBurst(tt.rate) != tt.burst {
			t.Errorf("rate %v: burst %d, want %d", tt.rate, l.burst, tt.burst)
		}
	}
	l := newLocal(t, Config{Rate: 1})
	if l.idle != int64(10*time.Minute) || len(l.shards) != maxShards {
		t.Errorf("defaults: idle %v, %d shards", time.Duration(l.idle), len(l.shards))
	}
}

func TestHeaderValues(t *testing.T) {
	tests := []struct {
		d            Decision
		name         string
		rl, rlPolicy string
		retryAfter   string
	}{
		{Decision{Allowed: true, Limit: 100, Remaining: 99, Reset: ms(10), Window: time.Second}, "", `"default";r=99;t=1`, `"default";q=100;w=1`, ""},
		{Decision{Allowed: false, Limit: 100, RetryAfter: ms(2100), Reset: 3 * time.Second, Window: 10 * time.Second}, "default", `"default";r=0;t=3`, `"default";q=100;w=10`, "3"},
		{Decision{Allowed: false, Limit: 5, RetryAfter: time.Nanosecond, Reset: 0, Window: ms(500)}, "per-ip", `"per-ip";r=0;t=0`, `"per-ip";q=5;w=1`, "1"},
		{Decision{Allowed: true, Limit: 1}, `we"ird\näme`, `"we\"ird\\n??me";r=0;t=0`, `"we\"ird\\n??me";q=1`, ""},
	}
	for _, tt := range tests {
		rl, pol := HeaderValues(tt.d, tt.name)
		if rl != tt.rl || pol != tt.rlPolicy {
			t.Errorf("HeaderValues(%+v, %q) = %s | %s, want %s | %s", tt.d, tt.name, rl, pol, tt.rl, tt.rlPolicy)
		}
		if ra := RetryAfter(tt.d); ra != tt.retryAfter {
			t.Errorf("RetryAfter(%+v) = %q, want %q", tt.d, ra, tt.retryAfter)
		}
	}
}
