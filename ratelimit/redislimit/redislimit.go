package redislimit

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/ratelimit"
)

//go:embed gcra.lua
var gcraSource string

var gcra = redis.NewScript(gcraSource)

const (
	defaultPrefix   = "hookgate:rl:"
	defaultCooldown = time.Second

	// maxKeyLen bounds the key stored in Redis; longer keys (a key taken
	// from a request header can be long) are replaced by their SHA-256.
	maxKeyLen = 128
)

// Config configures a Limiter.
type Config struct {
	// Client is the Redis connection, shared with package idempotency's
	// store if you like. Required. Its DialTimeout and ReadTimeout bound
	// how long a request waits on an unreachable Redis before the
	// fallback decides; keep them short (say 100ms) for a gateway.
	Client redis.UniversalClient

	// Rate is how many requests per second each key may make, across all
	// instances together. Required, positive and finite.
	Rate float64

	// Burst is how many requests a key may make at once.
	// default: ratelimit.DefaultBurst(Rate)
	Burst int

	// Prefix starts every Redis key; the key itself follows in braces
	// (a cluster hash tag): Prefix + "{" + key + "}".
	// default: "hookgate:rl:"
	Prefix string

	// Fallback decides while Redis cannot be reached. Each instance then
	// enforces the limit on its own, so N instances together allow up to
	// N times the rate until Redis is back.
	// default: a ratelimit.Local with this Rate, Burst and Now
	Fallback *ratelimit.Local

	// Cooldown is how long after a Redis failure the fallback decides
	// alone before one request tries Redis again, so that an unreachable
	// Redis costs one timeout per Cooldown, not one per request.
	// default: 1s
	Cooldown time.Duration

	// Now returns the current time for the fallback and the cooldown. The
	// shared limit itself runs on the Redis server's clock.
	// default: time.Now
	Now func() time.Time
}

// Limiter is a token bucket per key shared by every instance that uses
// the same Redis and Prefix: N gateway instances together enforce one
// limit. Each Allow is one atomic round trip, a Lua script implementing
// GCRA (the generic cell rate algorithm, equivalent to a token bucket)
// that stores one number per key, with an expiry at the time its bucket
// would be full again, so idle keys cost Redis nothing.
//
// The script reads the time from the Redis server (TIME), not from the
// caller: instances whose clocks disagree would otherwise let each other
// through early or hold each other back. It needs Redis 5 or later.
//
// When Redis fails, Allow answers from a local limiter and marks the
// decision Degraded; see Config.Fallback and Config.Cooldown.
//
// A Limiter is safe for concurrent use.
type Limiter struct {
	client    redis.UniversalClient
	prefix    string
	args      []any // the script's ARGV: microseconds per request, burst
	burst     int
	window    time.Duration
	fallback  *ratelimit.Local
	cooldown  time.Duration
	now       func() time.Time
	retryAt   atomic.Int64 // UnixNano before which Redis is not tried; 0 when healthy
	fallbacks atomic.Uint64
}

var _ ratelimit.Limiter = (*Limiter)(nil)

// New returns a Limiter for cfg, with defaults filled in. It fails,
// naming the field, when a field is missing or out of range. It does not
// contact Redis.
func New(cfg Config) (*Limiter, error) {
	if cfg.Client == nil {
		return nil, errors.New("redislimit: Client is nil")
	}
	if !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0) {
		return nil, fmt.Errorf("redislimit: Rate must be a positive, finite number of requests per second, got %v", cfg.Rate)
	}
	switch {
	case cfg.Burst < 0:
		return nil, fmt.Errorf("redislimit: Burst is negative (%d)", cfg.Burst)
	case cfg.Burst == 0:
		cfg.Burst = ratelimit.DefaultBurst(cfg.Rate)
	}
	switch {
	case cfg.Cooldown < 0:
		return nil, fmt.Errorf("redislimit: Cooldown is negative (%v)", cfg.Cooldown)
	case cfg.Cooldown == 0:
		cfg.Cooldown = defaultCooldown
	}
	if cfg.Prefix == "" {
		cfg.Prefix = defaultPrefix
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Fallback == nil {
		var err error
		cfg.Fallback, err = ratelimit.NewLocal(ratelimit.Config{Rate: cfg.Rate, Burst: cfg.Burst, Now: cfg.Now})
		if err != nil {
			return nil, fmt.Errorf("redislimit: Fallback: %w", err)
		}
	}
	interval := 1e6 / cfg.Rate
	return &Limiter{
		client:   cfg.Client,
		prefix:   cfg.Prefix,
		args:     []any{strconv.FormatFloat(interval, 'g', -1, 64), strconv.Itoa(cfg.Burst)},
		burst:    cfg.Burst,
		window:   nanoseconds(interval * float64(cfg.Burst) * 1e3),
		fallback: cfg.Fallback,
		cooldown: cfg.Cooldown,
		now:      cfg.Now,
	}, nil
}

// Allow takes one request from key's shared bucket, in one round trip
// to Redis. When Redis fails (or failed less than Config.Cooldown ago),
// it returns the fallback's decision with Degraded set, and a nil error.
// It returns an error only when ctx ends before a decision.
func (l *Limiter) Allow(ctx context.Context, key string) (ratelimit.Decision, error) {
	now := l.now()
	if ra := l.retryAt.Load(); ra != 0 {
		// Redis failed recently. After the cooldown, the one caller that
		// moves retryAt on tries Redis; the others keep to the fallback.
		if now.UnixNano() < ra || !l.retryAt.CompareAndSwap(ra, now.Add(l.cooldown).UnixNano()) {
			return l.degrade(now, key), nil
		}
	}
	res, err := gcra.Run(ctx, l.client, []string{l.Key(key)}, l.args...).Int64Slice()
	if err == nil && len(res) != 4 {
		err = fmt.Errorf("redislimit: script returned %d values, want 4", len(res))
	}
	if err != nil {
		if ctx.Err() != nil {
			return ratelimit.Decision{}, ctx.Err()
		}
		l.retryAt.Store(now.Add(l.cooldown).UnixNano())
		return l.degrade(now, key), nil
	}
	if l.retryAt.Load() != 0 {
		l.retryAt.Store(0)
	}
	return ratelimit.Decision{
		Allowed:    res[0] == 1,
		Limit:      l.burst,
		Remaining:  int(res[1]),
		RetryAfter: time.Duration(res[2]) * time.Microsecond,
		Reset:      time.Duration(res[3]) * time.Microsecond,
		Window:     l.window,
	}, nil
}

// nanoseconds converts to a Duration, saturating instead of overflowing.
func nanoseconds(ns float64) time.Duration {
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

func (l *Limiter) degrade(now time.Time, key string) ratelimit.Decision {
	l.fallbacks.Add(1)
	d := l.fallback.AllowAt(now, key)
	d.Degraded = true
	return d
}

// Fallbacks returns how many decisions the fallback has made since New,
// each one marked Degraded.
func (l *Limiter) Fallbacks() uint64 { return l.fallbacks.Load() }

// Key returns the Redis key that holds key's bucket:
// Prefix + "{" + key + "}", where a key longer than 128 bytes is replaced
// by "sha256:" and its hex SHA-256.
func (l *Limiter) Key(key string) string {
	if len(key) > maxKeyLen {
		sum := sha256.Sum256([]byte(key))
		key = "sha256:" + hex.EncodeToString(sum[:])
	}
	return l.prefix + "{" + key + "}"
}
