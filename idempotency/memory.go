package idempotency

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryConfig configures a [Memory] store. The zero value is valid.
type MemoryConfig struct {
	// MaxEntries bounds the number of keys kept, claimed or done. When the
	// store is full, a new key first evicts expired entries (abandoned
	// claims are looked for at most once a second), then, unless
	// RefuseWhenFull is set, the oldest completed one; a live claim is
	// never evicted, and a store with nothing it may evict refuses new
	// keys with an error wrapping ErrUnavailable.
	// The bound is split evenly over internal shards, so eviction can start
	// slightly before MaxEntries keys are stored. An entry costs about 80
	// bytes whatever the length of its key (keys are kept as 128-bit
	// hashes; see [Memory]).
	//
	// default: 1,000,000 (DefaultMaxEntries)
	MaxEntries int

	// RefuseWhenFull keeps every completed id for its whole TTL: a full
	// store refuses new keys (ErrUnavailable: the gateway answers 503 and
	// the provider retries later) instead of forgetting the oldest
	// completed id, whose late retry would then be forwarded again.
	//
	// default: false (evict the oldest completed id, and report it)
	RefuseWhenFull bool

	// OnEvict, when set, is called with the number of completed ids
	// forgotten before their TTL to make room (at most one per call, under
	// a shard's lock: keep it quick, such as a counter's Add). Evicted
	// returns the running total.
	OnEvict func(n int)

	// Now returns the current time; tests set it to drive a fake clock.
	//
	// default: time.Now
	Now func() time.Time
}

// Memory is a [Store] in process memory. It needs no setup, but it is per
// process: gateway instances that do not share a process do not see each
// other's claims, and a restart forgets every completed event. Use the Redis
// store to deduplicate across instances and restarts.
//
// Memory keeps each key as a 128-bit hash under two random per-store
// seeds, and each token folded into 64 bits, so that its tables hold no
// pointers: the garbage collector never scans them, however many ids are
// remembered, and an entry costs the same whatever the key's length. Two
// distinct keys are confused with probability about n²/2¹²⁹ for n keys
// held (below 10⁻²⁶ at a million); the keys it is given are event ids
// from verified requests, which a third party cannot choose to aim at a
// hash it cannot see.
//
// Make one with [NewMemory]; the zero value is not usable. Memory is safe
// for concurrent use; it never blocks on I/O and ignores the contexts
// passed to it.
type Memory struct {
	now    func() time.Time
	epoch  time.Time
	seeds  [2]maphash.Seed // key high, key low
	shards []memShard

	refuseFull bool
	onEvict    func(int)
	evicted    atomic.Uint64
}

var _ Store = (*Memory)(nil)

// errMemoryFull is returned when a shard has nothing it may evict.
var errMemoryFull = fmt.Errorf("%w: memory store is full (raise MaxEntries)", ErrUnavailable)

// sweepInterval spaces full scans of a shard for expired entries.
const sweepInterval = time.Second

// trimPerComplete bounds the work each Complete spends evicting expired
// completed entries, so that a burst of expiries is spread over many calls.
const trimPerComplete = 4

type memShard struct {
	mu      sync.Mutex
	entries map[memKey]memEntry
	limit   int
	// done lists completed keys in the order they completed, from
	// done[head]. A done entry changes only once it has expired, or when
	// evictOne pops its ref, so a ref that has not expired always points to
	// its entry; an expired ref may be stale (the key was swept, or claimed
	// again) and is checked before its key is deleted.
	done      []doneRef
	head      int
	nextSweep int64
	_         [64]byte // keep shards' mutexes off one cache line
}

// memKey is a key's 128-bit hash.
type memKey struct{ hi, lo uint64 }

// memEntry and doneRef hold no pointers, so neither do the shard's map and
// queue.
type memEntry struct {
	token uint64 // the token's hash
	exp   int64  // nanoseconds since Memory.epoch
	done  bool
}

type doneRef struct {
	key memKey
	exp int64
}

// NewMemory returns an empty Memory store for cfg, with defaults for zero
// fields.
func NewMemory(cfg MemoryConfig) *Memory {
	limit := cfg.MaxEntries
	if limit <= 0 {
		limit = DefaultMaxEntries
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	// Enough shards to spread lock contention, few enough that each holds
	// thousands of entries and the bound stays close to MaxEntries.
	n := 1
	for n < 64 && limit/(2*n) >= 4096 {
		n *= 2
	}
	m := &Memory{
		now:    now,
		epoch:  now(),
		seeds:  [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		shards: make([]memShard, n),

		refuseFull: cfg.RefuseWhenFull,
		onEvict:    cfg.OnEvict,
	}
	for i := range m.shards {
		s := &m.shards[i]
		s.limit = (limit + n - 1) / n
		s.entries = make(map[memKey]memEntry)
	}
	return m
}

// clock returns the time since m.epoch in nanoseconds. Sub uses the
// monotonic clock when both times carry one, so wall clock steps do not
// move expiries.
func (m *Memory) clock() int64 { return int64(m.now().Sub(m.epoch)) }

// hash returns key's 128-bit hash, over the bytes of key.String without
// making that string.
func (m *Memory) hash(key Key) memKey {
	var buf [192]byte
	b := key.Append(buf[:0])
	return memKey{maphash.Bytes(m.seeds[0], b), maphash.Bytes(m.seeds[1], b)}
}

// token folds a Token into the uint64 an entry keeps: distinct for the
// claims of one Deduper, and for those of two with different random bases
// but for a chance of one in 2^64.
func token(t Token) uint64 { return t.Base + t.Seq }

func (m *Memory) shard(k memKey) *memShard { return &m.shards[k.lo&uint64(len(m.shards)-1)] }

func expiry(now int64, ttl time.Duration) int64 {
	ttl = max(ttl, MinTTL)
	if now > math.MaxInt64-int64(ttl) {
		return math.MaxInt64
	}
	return now + int64(ttl)
}

// Claim implements [Store].
func (m *Memory) Claim(_ context.Context, key Key, t Token, lockTTL time.Duration) error {
	k, tok := m.hash(key), token(t)
	s := m.shard(k)
	now := m.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[k]
	if ok && now < e.exp {
		switch {
		case e.done:
			return ErrDuplicate
		case e.token == tok:
			return nil
		default:
			return ErrInFlight
		}
	}
	if !ok && len(s.entries) >= s.limit && !s.evictOne(m, now) {
		return errMemoryFull
	}
	s.entries[k] = memEntry{token: tok, exp: expiry(now, lockTTL)}
	return nil
}

// Complete implements [Store].
func (m *Memory) Complete(_ context.Context, key Key, t Token, doneTTL time.Duration) error {
	k, tok := m.hash(key), token(t)
	s := m.shard(k)
	now := m.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[k]
	live := ok && now < e.exp
	switch {
	case live && e.done:
		return nil
	case live && e.token != tok:
		return ErrLockLost
	case !ok && len(s.entries) >= s.limit && !s.evictOne(m, now):
		return errMemoryFull
	}
	exp := expiry(now, doneTTL)
	s.entries[k] = memEntry{token: tok, exp: exp, done: true}
	s.done = append(s.done, doneRef{key: k, exp: exp})
	s.trim(now, trimPerComplete)
	return nil
}

// Release implements [Store].
func (m *Memory) Release(_ context.Context, key Key, t Token) error {
	k, tok := m.hash(key), token(t)
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[k]; ok && !e.done && e.token == tok {
		delete(s.entries, k)
	}
	return nil
}

// Len returns the number of entries held, including expired ones not yet
// evicted.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.entries)
		s.mu.Unlock()
	}
	return n
}

// trim pops up to budget expired refs off the front of the done queue,
// deleting their entries unless they changed since. It stops at the first
// ref that has not expired: by the invariant on memShard.done, that one
// is the oldest live completed entry.
func (s *memShard) trim(now int64, budget int) {
	for ; budget > 0 && s.head < len(s.done); budget-- {
		r := s.done[s.head]
		if now < r.exp {
			return
		}
		if e, ok := s.entries[r.key]; ok && e.done && e.exp == r.exp {
			delete(s.entries, r.key)
		}
		s.popDone()
	}
}

func (s *memShard) popDone() {
	s.head++
	switch {
	case s.head == len(s.done):
		s.done, s.head = s.done[:0], 0
	case s.head >= 1024 && s.head*2 >= len(s.done):
		n := copy(s.done, s.done[s.head:])
		s.done, s.head = s.done[:n], 0
	}
}

// evictOne makes room for one entry in a full shard: an expired completed
// entry from the front of the done queue, else every expired entry found by
// a sweep (at most once per sweepInterval), else the oldest completed
// entry. Live claims are never evicted. It reports whether room was made.
func (s *memShard) evictOne(m *Memory, now int64) bool {
	if n := len(s.entries); n > 0 {
		s.trim(now, len(s.done)-s.head)
		if len(s.entries) < n {
			return true
		}
	}
	if now >= s.nextSweep {
		s.nextSweep = now + int64(sweepInterval)
		n := len(s.entries)
		for k, e := range s.entries {
			if e.exp <= now {
				delete(s.entries, k)
			}
		}
		if len(s.entries) < n {
			return true
		}
	}
	if s.head < len(s.done) && !m.refuseFull { // trim stopped at a live ref
		delete(s.entries, s.done[s.head].key)
		s.popDone()
		m.evicted.Add(1)
		if m.onEvict != nil {
			m.onEvict(1)
		}
		return true
	}
	return false
}

// Evicted returns how many completed ids were forgotten before their TTL
// to make room for new keys.
func (m *Memory) Evicted() uint64 { return m.evicted.Load() }
