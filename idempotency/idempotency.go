package idempotency

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// Errors a caller acts on. Store implementations return them, wrapped or
// not; match them with [errors.Is].
var (
	// ErrDuplicate reports that the event was already delivered: answer the
	// provider 200 without forwarding.
	ErrDuplicate = errors.New("idempotency: duplicate of a completed event")

	// ErrInFlight reports that another request holds the event right now:
	// answer 409 with Retry-After.
	ErrInFlight = errors.New("idempotency: event in flight")

	// ErrUnavailable reports that the store could not answer (unreachable,
	// timed out, full). Infrastructure failures wrap it, as in
	// fmt.Errorf("%w: %w", ErrUnavailable, err), and are never reported as
	// duplicates. Answer 503 with Retry-After.
	ErrUnavailable = errors.New("idempotency: store unavailable")

	// ErrNoID reports an empty event id: the request cannot be deduplicated.
	ErrNoID = errors.New("idempotency: empty event id")

	// ErrLockLost is returned by Complete when the claim's lock had expired
	// and another claimant holds the event: this delivery succeeded, but the
	// other one may deliver the event again. Log and count it; the provider
	// can still be answered with the upstream's 2xx.
	ErrLockLost = errors.New("idempotency: claim expired and was taken by another claimant")
)

// Defaults used by [New] and [NewMemory] for zero fields.
const (
	DefaultDoneTTL    = 72 * time.Hour
	DefaultLockTTL    = 2 * time.Minute
	DefaultMaxEntries = 1_000_000
)

// MinTTL is the shortest DoneTTL or LockTTL: Redis expiries have millisecond
// resolution.
const MinTTL = time.Millisecond

// Store keeps the state of each key: free, claimed (in flight, under a
// token, until lockTTL passes) or done (until doneTTL passes). Each method
// costs at most one round trip to the store and is safe for concurrent use.
// A key whose TTL has passed is free.
//
// Memory and redisstore.Store implement Store; idempotencytest.TestStore
// checks another implementation against this contract. TTLs are at least
// [MinTTL]; a store may round them up to its resolution.
type Store interface {
	// Claim takes key for lockTTL under token. It returns nil when the key
	// was free, or is already claimed under the same token (so a retried
	// call is harmless); ErrDuplicate when the key is done; ErrInFlight
	// when another token holds it; an error wrapping ErrUnavailable when the
	// store cannot answer.
	Claim(ctx context.Context, key Key, token Token, lockTTL time.Duration) error

	// Complete marks key done for doneTTL. It returns nil when token still
	// holds the key, when the key is free (the lock expired and nobody took
	// it), and when the key is already done (so a retried call is harmless);
	// ErrLockLost, without changing anything, when another token holds it.
	Complete(ctx context.Context, key Key, token Token, doneTTL time.Duration) error

	// Release frees key if token still holds it, and otherwise does
	// nothing: a completed key is never released. It returns an error only
	// when the store cannot answer.
	Release(ctx context.Context, key Key, token Token) error
}

// Config configures a [Deduper]. The zero value is valid: an in-process
// [Memory] store, 72h memory of completed events, 2m locks, fail closed.
type Config struct {
	// Store keeps the claims. Share one Redis store between gateway
	// instances to deduplicate across them.
	//
	// default: NewMemory(MemoryConfig{}), private to this Deduper
	Store Store

	// DoneTTL is how long a completed event is remembered. Keep it above
	// the provider's retry horizon (Stripe retries for up to 3 days).
	//
	// default: 72h (DefaultDoneTTL); at least 1ms
	DoneTTL time.Duration

	// LockTTL is how long a claim holds an event before it expires by
	// itself, so that a crashed instance cannot block an id forever. Keep
	// it above the upstream timeout: a forward still running when its lock
	// expires may be duplicated by the provider's retry.
	//
	// default: 2m (DefaultLockTTL); at least 1ms
	LockTTL time.Duration

	// FailOpen forwards events without deduplication when the store fails:
	// Claim then returns a degraded Claim and no error. When false, Claim
	// returns an error wrapping ErrUnavailable.
	//
	// default: false (fail closed)
	FailOpen bool
}

// Deduper claims event ids in a [Store]. Make one with [New]; the zero
// value is not usable. It is safe for concurrent use.
type Deduper struct {
	store    Store
	doneTTL  time.Duration
	lockTTL  time.Duration
	failOpen bool

	tokenPrefix string // random per Deduper
	tokenBase   uint64 // likewise, for the tokens of a Memory store
	seq         atomic.Uint64
}

// New returns a Deduper for cfg, with defaults for zero fields. Its error
// names the invalid field.
func New(cfg Config) (*Deduper, error) {
	d := &Deduper{
		store:    cfg.Store,
		doneTTL:  cfg.DoneTTL,
		lockTTL:  cfg.LockTTL,
		failOpen: cfg.FailOpen,
	}
	if d.store == nil {
		d.store = NewMemory(MemoryConfig{})
	}
	if d.doneTTL == 0 {
		d.doneTTL = DefaultDoneTTL
	}
	if d.lockTTL == 0 {
		d.lockTTL = DefaultLockTTL
	}
	if d.doneTTL < MinTTL {
		return nil, fmt.Errorf("idempotency: Config.DoneTTL %v is below the minimum %v", cfg.DoneTTL, MinTTL)
	}
	if d.lockTTL < MinTTL {
		return nil, fmt.Errorf("idempotency: Config.LockTTL %v is below the minimum %v", cfg.LockTTL, MinTTL)
	}
	// Tokens only have to be unique; they are never derived from secrets.
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	d.tokenPrefix = base64.RawURLEncoding.EncodeToString(b[:]) + "."
	d.tokenBase = binary.LittleEndian.Uint64(b[:8])
	return d, nil
}

// LockTTL returns how long a claim holds an event before it expires by
// itself (Config.LockTTL, or its default).
func (d *Deduper) LockTTL() time.Duration { return d.lockTTL }

// Key names one event in a Store: the namespace (one per configured
// source) and the provider's event id.
type Key struct{ Namespace, ID string }

// String returns the key as one string, the namespace length-prefixed so
// that no two keys share it: {"a:b", "c"} is "3:a:b:c" and {"a", "b:c"}
// is "1:a:b:c". Stores that key by strings use it; the in-memory store
// hashes the same bytes without making the string.
func (k Key) String() string { return string(k.Append(make([]byte, 0, len(k.Namespace)+len(k.ID)+22))) }

// Append appends String's bytes to b.
func (k Key) Append(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(len(k.Namespace)), 10)
	b = append(b, ':')
	b = append(b, k.Namespace...)
	b = append(b, ':')
	return append(b, k.ID...)
}

// Token tells one claim from every other: Base is random per Deduper,
// Seq counts its claims. Stores compare tokens for equality only.
type Token struct{ Base, Seq uint64 }

// String returns the token as a short string, for stores that keep
// strings.
func (t Token) String() string { return string(t.Append(make([]byte, 0, 27))) }

// Append appends String's bytes to b.
func (t Token) Append(b []byte) []byte {
	b = strconv.AppendUint(b, t.Base, 36)
	b = append(b, '.')
	return strconv.AppendUint(b, t.Seq, 36)
}

// Claim claims event id of namespace (one namespace per configured source)
// before the request is forwarded. Call it only for verified requests.
//
// It returns ErrNoID for an empty id, ErrDuplicate, ErrInFlight, or an
// error wrapping ErrUnavailable when the store fails. With
// [Config.FailOpen], a store failure instead returns a Claim whose
// Degraded method reports true, and a nil error: forward, and count it.
func (d *Deduper) Claim(ctx context.Context, namespace, id string) (*Claim, error) {
	c := new(Claim)
	if err := d.ClaimInto(ctx, c, namespace, id); err != nil {
		return nil, err
	}
	return c, nil
}

// ClaimInto is Claim writing the claim into c instead of allocating one,
// for callers that keep it inside a larger per-request value. c is
// overwritten whatever it held; it is usable (Complete, Release, Degraded)
// only when ClaimInto returns nil.
func (d *Deduper) ClaimInto(ctx context.Context, c *Claim, namespace, id string) error {
	if id == "" {
		*c = Claim{}
		return ErrNoID
	}
	*c = Claim{store: d.store, doneTTL: d.doneTTL, key: Key{namespace, id}, token: Token{d.tokenBase, d.seq.Add(1)}}
	err := d.store.Claim(ctx, c.key, c.token, d.lockTTL)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnavailable):
	case errors.Is(err, ErrDuplicate), errors.Is(err, ErrInFlight):
		*c = Claim{}
		return err
	default:
		// An answer that is none of the above is no answer.
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if d.failOpen {
		*c = Claim{err: err}
		return nil
	}
	*c = Claim{}
	return err
}

// Claim is a won claim on one event, or a degraded one (see
// [Claim.Degraded]). Finish it with Complete or Release. A Claim is used by
// one goroutine.
type Claim struct {
	store   Store
	doneTTL time.Duration
	key     Key
	token   Token
	err     error // the store failure of a degraded claim
	settled bool  // Complete or Release succeeded
}

// Complete records the event as delivered, after the upstream answered
// 2xx. It returns nil once the event is recorded (calling it again does
// nothing), ErrLockLost when the lock had expired and another claimant holds
// the event, or an error wrapping ErrUnavailable. The event was delivered
// either way; on error a retry of it may be delivered again.
//
// Pass a context that outlives the client's request, such as
// context.WithoutCancel(r.Context()).
func (c *Claim) Complete(ctx context.Context) error {
	if c.err != nil || c.settled {
		return nil
	}
	err := c.store.Complete(ctx, c.key, c.token, c.doneTTL)
	switch {
	case err == nil:
		c.settled = true
		return nil
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrLockLost):
		return err
	default:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
}

// Release gives the event up after a failed delivery, so the provider's
// retry is forwarded. It does nothing after a successful Complete or
// Release, so it can be deferred right after Claim. On error the claim
// expires by itself after the lock TTL.
//
// Pass a context that outlives the client's request, such as
// context.WithoutCancel(r.Context()).
func (c *Claim) Release(ctx context.Context) error {
	if c.err != nil || c.settled {
		return nil
	}
	if err := c.store.Release(ctx, c.key, c.token); err != nil {
		if errors.Is(err, ErrUnavailable) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	c.settled = true
	return nil
}

// Degraded reports whether the claim was granted without the store, because
// it failed and [Config.FailOpen] is set: the event is forwarded without
// deduplication. Complete and Release of a degraded claim do nothing.
func (c *Claim) Degraded() bool { return c.err != nil }

// Err returns the store failure behind a degraded claim (wrapping
// ErrUnavailable), for logging, and nil otherwise.
func (c *Claim) Err() error { return c.err }
