package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/internal/redisbatch"
)

// DefaultPrefix starts every key the store writes.
const DefaultPrefix = "hookgate:idem:"

// Config configures a [Store].
type Config struct {
	// Client talks to Redis: a single server, Sentinel or Cluster client.
	// The store does not close it. Required.
	Client redis.UniversalClient

	// Prefix starts every key, to share a Redis with other data. It must
	// not contain "{" or "}", which would break the Cluster hash tag.
	//
	// default: "hookgate:idem:" (DefaultPrefix)
	Prefix string

	// MaxInFlight bounds the pipelines the store keeps waiting for Redis
	// at once. A call made while fewer are in flight is sent at once; one
	// made while MaxInFlight are waiting queues, and the queue goes out as
	// one pipeline as soon as one of them is answered. Under load, the
	// claims and completions of many webhooks then share one write and one
	// read on each side, instead of a round trip each; an idle store sends
	// every call alone, without delay. A negative value sends every call
	// on its own connection from the pool, with no batching.
	//
	// default: 2 (DefaultMaxInFlight)
	MaxInFlight int
}

// DefaultMaxInFlight is the default of [Config.MaxInFlight].
const DefaultMaxInFlight = 2

// Store is an [idempotency.Store] in Redis. Make one with [New]; the zero
// value is not usable. It is safe for concurrent use.
type Store struct {
	client redis.UniversalClient
	prefix string
	batch  *redisbatch.Batcher
}

var _ idempotency.Store = (*Store)(nil)

// New returns a Store for cfg, with defaults for zero fields. It does no
// network I/O; see [Store.Preload] for a startup check. Its error names the
// invalid field.
func New(cfg Config) (*Store, error) {
	if cfg.Client == nil {
		return nil, errors.New("redisstore: Config.Client is nil")
	}
	prefix := cmp.Or(cfg.Prefix, DefaultPrefix)
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("redisstore: Config.Prefix %q contains { or }", prefix)
	}
	batch := redisbatch.New(cfg.Client, cmp.Or(cfg.MaxInFlight, DefaultMaxInFlight))
	return &Store{client: cfg.Client, prefix: prefix, batch: batch}, nil
}

// Values are "L"+token while claimed, "D"+token once done.
var (
	// claimScript replies 0 when the key was free or is already claimed by
	// the token, 1 when it is done, 2 when another token holds it.
	claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
	redis.call('SET', KEYS[1], 'L' .. ARGV[1], 'PX', ARGV[2])
	return 0
end
if v == 'L' .. ARGV[1] then
	return 0
end
if string.sub(v, 1, 1) == 'D' then
	return 1
end
return 2
`)

	// completeScript replies 0 once the key is done (it was claimed by the
	// token, free, or done already), 1 when another token holds it.
	completeScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and v ~= 'L' .. ARGV[1] then
	if string.sub(v, 1, 1) == 'D' then
		return 0
	end
	return 1
end
redis.call('SET', KEYS[1], 'D' .. ARGV[1], 'PX', ARGV[2])
return 0
`)

	// releaseScript deletes the key if the token holds it, and replies 0.
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == 'L' .. ARGV[1] then
	redis.call('DEL', KEYS[1])
end
return 0
`)
)

// What each script's integer reply means, by reply.
var (
	claimReplies    = []error{nil, idempotency.ErrDuplicate, idempotency.ErrInFlight}
	completeReplies = []error{nil, idempotency.ErrLockLost}
	releaseReplies  = []error{nil}
)

// Claim implements [idempotency.Store].
func (s *Store) Claim(ctx context.Context, key idempotency.Key, token idempotency.Token, lockTTL time.Duration) error {
	return s.call(ctx, "claim", claimScript, claimReplies, key, token.String(), millis(lockTTL))
}

// Complete implements [idempotency.Store].
func (s *Store) Complete(ctx context.Context, key idempotency.Key, token idempotency.Token, doneTTL time.Duration) error {
	return s.call(ctx, "complete", completeScript, completeReplies, key, token.String(), millis(doneTTL))
}

// Release implements [idempotency.Store].
func (s *Store) Release(ctx context.Context, key idempotency.Key, token idempotency.Token) error {
	return s.call(ctx, "release", releaseScript, releaseReplies, key, token.String())
}

// call runs script on key and maps its reply through replies; a failure
// to get one wraps idempotency.ErrUnavailable.
func (s *Store) call(ctx context.Context, name string, script *redis.Script, replies []error, key idempotency.Key, args ...any) error {
	n, err := s.batch.Run(ctx, script, []string{s.key(key)}, args...).Int64()
	switch {
	case err != nil:
		return unavailable(err)
	case n >= 0 && n < int64(len(replies)):
		return replies[n]
	}
	return unexpected(name, n)
}

// Preload loads the scripts into Redis (every master, with Cluster), so
// that the first calls need no EVAL fallback, and checks that Redis
// answers. It is optional: the store loads scripts on demand. Use a short
// timeout; do not make startup depend on it.
func (s *Store) Preload(ctx context.Context) error {
	for _, sc := range []*redis.Script{claimScript, completeScript, releaseScript} {
		if err := sc.Load(ctx, s.client).Err(); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// key returns the Redis key for key, hash-tagged for Cluster: the prefix,
// then key.String() in braces.
func (s *Store) key(key idempotency.Key) string {
	b := make([]byte, 0, len(s.prefix)+len(key.Namespace)+len(key.ID)+24)
	b = append(b, s.prefix...)
	b = append(b, '{')
	b = key.Append(b)
	return string(append(b, '}'))
}

// millis converts ttl to whole milliseconds, rounding up, at least 1.
func millis(ttl time.Duration) int64 {
	ms := int64(ttl / time.Millisecond)
	if ttl%time.Millisecond != 0 {
		ms++
	}
	return max(1, ms)
}

func unavailable(err error) error {
	return fmt.Errorf("%w: %w", idempotency.ErrUnavailable, err)
}

func unexpected(script string, n int64) error {
	return fmt.Errorf("%w: redisstore: %s script replied %d", idempotency.ErrUnavailable, script, n)
}
