package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Config configures a token bucket per key. The same fields configure
// the shared limiter in package redislimit.
type Config struct {
	// Rate is how many requests per second each key may make, sustained.
	// It must be positive and finite; 0.5 is one request every 2 seconds.
	Rate float64

	// Burst is the bucket size: how many requests a key may make at once
	// after a quiet period.
	// default: DefaultBurst(Rate), the requests of one second, at least 1
	Burst int

	// MaxKeys bounds how many keys are remembered. When it is reached, the
	// least recently used key is forgotten to make room, and comes back, if
	// it returns, with a full bucket.
	// default: 100000
	MaxKeys int

	// IdleTTL is how long a key stays unused before it is forgotten. It is
	// never taken shorter than the time the bucket takes to refill (Burst
	// divided by Rate), so forgetting an idle key changes no decision.
	// Idle keys are removed lazily, a few at a time, as other keys of the
	// same shard are used; MaxKeys bounds them in any case.
	// default: 10m
	IdleTTL time.Duration

	// Now returns the current time, for Allow.
	// default: time.Now
	Now func() time.Time
}

const (
	defaultMaxKeys = 100_000
	defaultIdleTTL = 10 * time.Minute

	maxShards      = 64
	minShardKeys   = 16 // fewer shards for small MaxKeys, so LRU stays meaningful
	sweepPerAllow  = 4  // idle keys removed at most per Allow
	shardPadLength = 64 // bytes between shard locks, against false sharing
)

// Local is a token bucket per key, in memory: every key may make Burst
// requests at once and Rate per second sustained. Memory is bounded by
// MaxKeys whatever the keys are: a key is remembered by a 64-bit keyed
// hash (hash/maphash, seeded per Local), not by its bytes, and at most
// MaxKeys are kept. Two keys whose hashes collide share a bucket; with a
// secret seed and 64 bits, no client can arrange that.
//
// A Local is safe for concurrent use. Create it with [NewLocal]; the zero
// value is not usable.
type Local struct {
	limit  rate.Limit
	rate   float64
	burst  int
	window time.Duration
	idle   int64 // nanoseconds
	now    func() time.Time
	seed   maphash.Seed
	shards []shard
	mask   uint64
}

var _ Limiter = (*Local)(nil)

// shard is one lock's worth of keys, with their least-recently-used
// order in a circular list through the sentinel lru: lru.next is the most
// recently used entry and lru.prev the least.
type shard struct {
	mu   sync.Mutex
	keys map[uint64]*entry
	lru  entry
	cap  int
	_    [shardPadLength]byte
}

type entry struct {
	lim        *rate.Limiter
	hash       uint64
	last       time.Time // of the last use; time never runs backwards for lim
	prev, next *entry
}

// NewLocal returns a Local for cfg, with defaults filled in. It fails,
// naming the field, when a field is out of range.
func NewLocal(cfg Config) (*Local, error) {
	if !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0) {
		return nil, fmt.Errorf("ratelimit: Rate must be a positive, finite number of requests per second, got %v", cfg.Rate)
	}
	switch {
	case cfg.Burst < 0:
		return nil, fmt.Errorf("ratelimit: Burst is negative (%d)", cfg.Burst)
	case cfg.Burst == 0:
		cfg.Burst = DefaultBurst(cfg.Rate)
	}
	switch {
	case cfg.MaxKeys < 0:
		return nil, fmt.Errorf("ratelimit: MaxKeys is negative (%d)", cfg.MaxKeys)
	case cfg.MaxKeys == 0:
		cfg.MaxKeys = defaultMaxKeys
	}
	switch {
	case cfg.IdleTTL < 0:
		return nil, fmt.Errorf("ratelimit: IdleTTL is negative (%v)", cfg.IdleTTL)
	case cfg.IdleTTL == 0:
		cfg.IdleTTL = defaultIdleTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Local{
		limit:  rate.Limit(cfg.Rate),
		rate:   cfg.Rate,
		burst:  cfg.Burst,
		window: seconds(float64(cfg.Burst) / cfg.Rate),
		now:    cfg.Now,
		seed:   maphash.MakeSeed(),
	}
	l.idle = int64(max(cfg.IdleTTL, l.window))
	n := 1
	for n*2 <= maxShards && cfg.MaxKeys/(n*2) >= minShardKeys {
		n *= 2
	}
	l.shards = make([]shard, n)
	l.mask = uint64(n - 1)
	for i := range l.shards {
		s := &l.shards[i]
		s.keys = make(map[uint64]*entry)
		s.lru.next, s.lru.prev = &s.lru, &s.lru
		s.cap = cfg.MaxKeys / n
		if i < cfg.MaxKeys%n {
			s.cap++ // the shards' capacities add up to MaxKeys exactly
		}
	}
	return l, nil
}

// Allow takes one request from key's bucket at the time Config.Now
// reports. It never returns an error.
func (l *Local) Allow(_ context.Context, key string) (Decision, error) {
	return l.AllowAt(l.now(), key), nil
}

// AllowAt takes one request from key's bucket at time t. Times before a
// key's previous use count as that previous time.
func (l *Local) AllowAt(t time.Time, key string) Decision {
	h := maphash.String(l.seed, key)
	s := &l.shards[h&l.mask]

	s.mu.Lock()
	e := s.keys[h]
	if e != nil {
		unlink(e)
		if t.Before(e.last) {
			t = e.last
		}
	}
	s.sweep(t.UnixNano(), l.idle)
	if e == nil {
		if len(s.keys) >= s.cap {
			s.remove(s.lru.prev)
		}
		e = &entry{lim: rate.NewLimiter(l.limit, l.burst), hash: h}
		s.keys[h] = e
	}
	e.last = t
	e.prev, e.next = &s.lru, s.lru.next
	e.prev.next, e.next.prev = e, e
	d := l.decide(e.lim, t)
	s.mu.Unlock()
	return d
}

// decide takes one token from lim at t and describes the outcome.
func (l *Local) decide(lim *rate.Limiter, t time.Time) Decision {
	d := Decision{Limit: l.burst, Window: l.window}
	tokens := lim.TokensAt(t)
	if lim.AllowN(t, 1) {
		d.Allowed = true
		tokens--
	} else {
		d.RetryAfter = seconds((1 - tokens) / l.rate)
	}
	// The epsilon absorbs float error in the refill (0.1 s × 10/s can be
	// 0.9999999999999999 tokens).
	d.Remaining = max(0, int(tokens+1e-9))
	d.Reset = seconds((float64(l.burst) - tokens) / l.rate)
	return d
}

// Len returns how many keys are remembered, including idle keys that
// have not been swept yet. It is at most Config.MaxKeys.
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.keys)
		s.mu.Unlock()
	}
	return n
}

// sweep removes up to sweepPerAllow keys idle for at least idle
// nanoseconds from the least recently used end.
func (s *shard) sweep(now, idle int64) {
	for range sweepPerAllow {
		e := s.lru.prev
		if e == &s.lru || now-e.last.UnixNano() < idle {
			return
		}
		s.remove(e)
	}
}

func (s *shard) remove(e *entry) {
	unlink(e)
	delete(s.keys, e.hash)
}

func unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}
