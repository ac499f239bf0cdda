package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/internal/record"
	"github.com/hookgate/hookgate/internal/redisbatch"
)

// DefaultPrefix starts every key the store writes.
const DefaultPrefix = "hookgate:dlv:"

// Config configures a [Store].
type Config struct {
	// Client talks to Redis: a single server, Sentinel or Cluster client
	// (package redisclient builds one). The store does not close it.
	// Required.
	Client redis.UniversalClient

	// Prefix starts every key, to share a Redis with other data. It must
	// not contain "{" or "}", which would break the Cluster hash tags.
	//
	// default: "hookgate:dlv:" (DefaultPrefix)
	Prefix string

	// MaxInFlight bounds the pipelines the store keeps waiting for Redis
	// at once. A call made while fewer are in flight is sent at once; one
	// made while MaxInFlight are waiting queues, and the queue goes out
	// as one pipeline as soon as one is answered: under load, the
	// appends and reports of many webhooks share writes and reads, and
	// an idle store sends each call alone, without delay. Negative: every
	// call on its own connection from the pool.
	//
	// default: 2 (DefaultMaxInFlight)
	MaxInFlight int
}

// DefaultMaxInFlight is the default of [Config.MaxInFlight].
const DefaultMaxInFlight = 2

// Store is a [delivery.Store] in Redis, shared by every gateway instance
// that uses the same Redis. Make one with [New]; the zero value is not
// usable. It is safe for concurrent use.
type Store struct {
	client redis.UniversalClient
	prefix string
	batch  *redisbatch.Batcher

	known sync.Map // sources already in the registry
}

var _ delivery.Store = (*Store)(nil)

// New returns a Store for cfg. It does no network I/O. Its error names
// the invalid field.
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

// run runs script through the batcher.
func (s *Store) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	return s.batch.Run(ctx, script, keys, args...)
}

// Preload loads the scripts into Redis (every master, with Cluster) and
// checks that Redis answers. It is optional: scripts load on first use.
func (s *Store) Preload(ctx context.Context) error {
	load := func(ctx context.Context, c redis.Scripter) error {
		for _, sc := range scripts {
			if err := sc.Load(ctx, c).Err(); err != nil {
				return unavailable(err)
			}
		}
		return nil
	}
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return load(ctx, c) })
	}
	return load(ctx, s.client)
}

// base returns the key base of source: every key of it starts so, and
// hashes to the slot of its tag.
func (s *Store) base(source string) string {
	return s.prefix + "{" + source + "}:"
}

// registry is the set of sources, for listing without a source.
func (s *Store) registry() string { return s.prefix + "sources" }

func unavailable(err error) error {
	if errors.Is(err, delivery.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: redisstore: %w", delivery.ErrUnavailable, err)
}

// Append implements [delivery.Store]. The event is in Redis's memory when
// it returns nil; how durable that is depends on Redis's persistence (see
// the package documentation).
func (s *Store) Append(ctx context.Context, ev *delivery.Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	if _, ok := s.known.Load(ev.Source); !ok {
		if err := s.client.SAdd(ctx, s.registry(), ev.Source).Err(); err != nil {
			return unavailable(err)
		}
		s.known.Store(ev.Source, true)
	}
	base := s.base(ev.Source)
	names := make([]string, len(ev.Deliveries))
	for i := range ev.Deliveries {
		names[i] = ev.Deliveries[i].Destination
	}
	args := make([]any, 0, 6+5*len(ev.Deliveries))
	args = append(args, base, ev.ID, encodeMeta(ev), ev.Body, record.Millis(ev.ReceivedAt), strings.Join(names, "\n"))
	for i := range ev.Deliveries {
		d := ev.Deliveries[i]
		if d.Since.IsZero() {
			d.Since = ev.ReceivedAt
		}
		if d.Status == delivery.StatusPending {
			d.Token = ""
		}
		args = append(args, d.Destination, uint8(d.Status), record.Millis(d.NextAt), record.Millis(d.Since), encodeState(&d))
	}
	seq, err := s.run(ctx, appendScript, []string{base + "e:" + ev.ID}, args...).Int64()
	switch {
	case err != nil:
		return unavailable(err)
	case seq == -3:
		return delivery.ErrExists
	case seq <= 0:
		return unavailable(fmt.Errorf("append replied %d", seq))
	}
	ev.Seq = uint64(seq)
	return nil
}

// Lease implements [delivery.Store].
func (s *Store) Lease(ctx context.Context, q delivery.Queue, now time.Time, n int, until time.Time, token string) ([]*delivery.Task, time.Time, error) {
	if n <= 0 {
		return nil, time.Time{}, nil
	}
	base := s.base(q.Source)
	due := base + "q:" + q.Destination + ":due"
	reply, err := s.run(ctx, leaseScript, []string{due}, base, q.Destination, record.Millis(now), n, record.Millis(until), token).Slice()
	if err != nil {
		return nil, time.Time{}, unavailable(err)
	}
	if len(reply) == 0 || (len(reply)-1)%6 != 0 {
		return nil, time.Time{}, unavailable(fmt.Errorf("lease replied %d elements", len(reply)))
	}
	var next time.Time
	if v, ok := asString(reply[0]); ok && v != "" {
		ms, err := asInt(v)
		if err != nil {
			return nil, time.Time{}, unavailable(err)
		}
		next = record.Time(ms)
	}
	tasks := make([]*delivery.Task, 0, (len(reply)-1)/6)
	for i := 1; i < len(reply); i += 6 {
		id, _ := asString(reply[i])
		raw, _ := asString(reply[i+1])
		m, _ := asString(reply[i+2])
		body, _ := asString(reply[i+3])
		seq, _ := asString(reply[i+4])
		recv, _ := asString(reply[i+5])
		ev := &delivery.Event{Source: q.Source, ID: id, Body: []byte(body)}
		if err := fill(ev, m, seq, recv, []string{q.Destination, raw}); err != nil {
			return nil, time.Time{}, unavailable(err)
		}
		d := ev.Deliveries[0]
		ev.Deliveries = nil
		tasks = append(tasks, &delivery.Task{Event: ev, Delivery: d, Attempt: d.AttemptCount + 1})
	}
	return tasks, next, nil
}

// Report implements [delivery.Store]. It always waits for Redis's answer:
// Lazy changes nothing.
func (s *Store) Report(ctx context.Context, r delivery.Report) error {
	if err := r.Check(); err != nil {
		return fmt.Errorf("redisstore: %w", err)
	}
	base := s.base(r.Source)
	attempt, drop := "", "0"
	if r.Attempt != nil {
		attempt = encodeAttempt(r.Attempt)
	}
	if r.DropPayload {
		drop = "1"
	}
	reply, err := s.run(ctx, reportScript, []string{base + "e:" + r.ID},
		base, r.ID, r.Destination, r.Token, uint8(r.Status), record.Millis(r.NextAt), attempt, record.Clip(r.Reason, delivery.MaxErrorLen), record.Millis(r.Now), delivery.MaxAttemptHistory, drop).Int64()
	return replyErr("report", reply, err)
}

// replyErr maps a script's integer reply.
func replyErr(script string, reply int64, err error) error {
	switch {
	case err != nil:
		return unavailable(err)
	case reply == 0:
		return nil
	case reply == -1, reply == 1:
		return delivery.ErrLeaseLost
	case reply == -2:
		return delivery.ErrNotFound
	case reply == -4:
		return delivery.ErrPayloadDropped
	}
	return unavailable(fmt.Errorf("%s replied %d", script, reply))
}

// Extend implements [delivery.Store].
func (s *Store) Extend(ctx context.Context, t *delivery.Task, until time.Time) error {
	base := s.base(t.Event.Source)
	reply, err := s.run(ctx, extendScript, []string{base + "e:" + t.Event.ID},
		base, t.Event.ID, t.Delivery.Destination, t.Delivery.Token, record.Millis(until)).Int64()
	if err := replyErr("extend", reply, err); err != nil {
		return err
	}
	t.Delivery.NextAt = until
	return nil
}

// Replay implements [delivery.Store].
func (s *Store) Replay(ctx context.Context, source, id, destination string, now time.Time) error {
	base := s.base(source)
	reply, err := s.run(ctx, replayScript, []string{base + "e:" + id}, base, id, destination, record.Millis(now)).Int64()
	return replyErr("replay", reply, err)
}

// Get implements [delivery.Store].
func (s *Store) Get(ctx context.Context, source, id string) (*delivery.Event, error) {
	h, err := s.client.HGetAll(ctx, s.base(source)+"e:"+id).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(h) == 0 {
		return nil, delivery.ErrNotFound
	}
	ev := &delivery.Event{Source: source, ID: id, PayloadDropped: h["P"] == "1"}
	if !ev.PayloadDropped {
		ev.Body = []byte(h["b"])
	}
	var states []string
	for _, name := range strings.Split(h["D"], "\n") {
		if name != "" {
			states = append(states, name, h["d:"+name])
		}
	}
	if err := fill(ev, h["m"], h["q"], h["r"], states); err != nil {
		return nil, unavailable(err)
	}
	return ev, nil
}

// fill decodes an event's fields into ev.
func fill(ev *delivery.Event, m, seq, recv string, states []string) error {
	if err := decodeMeta(ev, m); err != nil {
		return err
	}
	q, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return fmt.Errorf("redisstore: corrupt event %s: seq %q", ev.ID, seq)
	}
	r, err := strconv.ParseInt(recv, 10, 64)
	if err != nil {
		return fmt.Errorf("redisstore: corrupt event %s: received %q", ev.ID, recv)
	}
	ev.Seq, ev.ReceivedAt = q, record.Time(r)
	for i := 0; i+1 < len(states); i += 2 {
		d, err := decodeState(states[i], states[i+1])
		if err != nil {
			return err
		}
		ev.Deliveries = append(ev.Deliveries, d)
	}
	return nil
}

// sources returns f's source, or every source in the registry.
func (s *Store) sources(ctx context.Context, f *delivery.Filter) ([]string, error) {
	if f.Source != "" {
		return []string{f.Source}, nil
	}
	srcs, err := s.client.SMembers(ctx, s.registry()).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	slices.Sort(srcs)
	return srcs, nil
}

// List implements [delivery.Store]. Without f.Source it lists each source
// and merges them by receipt time, newest first; f.Before and f.After
// need a Source (Seq counts per source). It walks the index of f.Status
// (else of the source) in pages, and filters: a filter that matches few
// events costs a walk over many.
func (s *Store) List(ctx context.Context, f delivery.Filter) ([]*delivery.Event, error) {
	if f.Source == "" && (f.Before != 0 || f.After != 0) {
		return nil, errors.New("redisstore: Filter.Before and Filter.After need a Filter.Source")
	}
	srcs, err := s.sources(ctx, &f)
	if err != nil {
		return nil, err
	}
	limit := f.ListLimit()
	var all []*delivery.Event
	for _, src := range srcs {
		evs, err := s.walk(ctx, src, &f, limit)
		if err != nil {
			return nil, err
		}
		all = append(all, evs...)
	}
	if len(srcs) > 1 {
		slices.SortStableFunc(all, func(a, b *delivery.Event) int { return b.ReceivedAt.Compare(a.ReceivedAt) })
	}
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

// walkPage is how many ids walk reads from an index at a time.
const walkPage = 200

// walk returns up to limit events of source that f selects, in f's
// order.
func (s *Store) walk(ctx context.Context, source string, f *delivery.Filter, limit int) ([]*delivery.Event, error) {
	if f.ID != "" {
		// One event, by its id.
		evs, err := s.peek(ctx, source, []redis.Z{{Member: f.ID}})
		if err != nil || len(evs) == 0 {
			return nil, err
		}
		ev := evs[0]
		if !f.Match(ev) || f.Before > 0 && ev.Seq >= f.Before || ev.Seq <= f.After {
			return nil, nil
		}
		return evs, nil
	}
	base := s.base(source)
	index := base + "s"
	switch {
	case f.Status == delivery.StatusLeased:
		index = base + "t:1"
	case f.Status != 0:
		index = base + "t:" + strconv.Itoa(int(f.Status))
	}
	asc := f.After > 0
	lo, hi := "-inf", "+inf"
	if asc {
		lo = "(" + strconv.FormatUint(f.After, 10)
	} else if f.Before > 0 {
		hi = "(" + strconv.FormatUint(f.Before, 10)
	}
	var out []*delivery.Event
	for {
		zr := &redis.ZRangeBy{Min: lo, Max: hi, Count: walkPage}
		var ids []redis.Z
		var err error
		if asc {
			ids, err = s.client.ZRangeByScoreWithScores(ctx, index, zr).Result()
		} else {
			ids, err = s.client.ZRevRangeByScoreWithScores(ctx, index, zr).Result()
		}
		if err != nil {
			return nil, unavailable(err)
		}
		if len(ids) == 0 {
			return out, nil
		}
		evs, err := s.peek(ctx, source, ids)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if f.Match(ev) {
				out = append(out, ev)
				if len(out) == limit {
					return out, nil
				}
			}
		}
		if len(ids) < walkPage {
			return out, nil
		}
		last := strconv.FormatInt(int64(ids[len(ids)-1].Score), 10)
		if asc {
			lo = "(" + last
		} else {
			hi = "(" + last
		}
	}
}

// peek returns the events ids of source, without their bodies.
func (s *Store) peek(ctx context.Context, source string, ids []redis.Z) ([]*delivery.Event, error) {
	base := s.base(source)
	args := make([]any, 0, len(ids)+1)
	args = append(args, base)
	for _, z := range ids {
		args = append(args, z.Member)
	}
	reply, err := s.run(ctx, peekScript, []string{base + "s"}, args...).Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	evs := make([]*delivery.Event, 0, len(reply))
	for _, r := range reply {
		row, ok := r.([]any)
		if !ok || len(row) != 6 {
			continue // gone meanwhile
		}
		id, _ := asString(row[0])
		m, _ := asString(row[1])
		seq, _ := asString(row[2])
		recv, _ := asString(row[3])
		var states []string
		if ds, ok := row[4].([]any); ok {
			for _, v := range ds {
				x, _ := asString(v)
				states = append(states, x)
			}
		}
		dropped, _ := asString(row[5])
		ev := &delivery.Event{Source: source, ID: id, PayloadDropped: dropped == "1"}
		if err := fill(ev, m, seq, recv, states); err != nil {
			return nil, unavailable(err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// purgeBatch bounds the events one purge script deletes.
const purgeBatch = 200

// Purge implements [delivery.Store]. Retention (a final Status and
// FinishedBefore, nothing else) reads the finish index directly; any
// other filter walks events as List does.
func (s *Store) Purge(ctx context.Context, f delivery.Filter) (int, error) {
	srcs, err := s.sources(ctx, &f)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, src := range srcs {
		for f.Limit <= 0 || total < f.Limit {
			want := purgeBatch
			if f.Limit > 0 {
				want = min(want, f.Limit-total)
			}
			ids, err := s.purgeable(ctx, src, &f, want)
			if err != nil {
				return total, err
			}
			if len(ids) == 0 {
				break
			}
			base := s.base(src)
			args := make([]any, 0, len(ids)+1)
			args = append(args, base)
			for _, id := range ids {
				args = append(args, id)
			}
			n, err := s.run(ctx, purgeScript, []string{base + "s"}, args...).Int64()
			if err != nil {
				return total, unavailable(err)
			}
			total += int(n)
			if len(ids) < want {
				break
			}
		}
	}
	return total, nil
}

// purgeable returns up to n ids of source that f selects for Purge.
func (s *Store) purgeable(ctx context.Context, source string, f *delivery.Filter, n int) ([]string, error) {
	if f.Status.Final() && !f.FinishedBefore.IsZero() && f.Type == "" && f.ID == "" && f.ReceivedAfter.IsZero() && f.ReceivedBefore.IsZero() {
		index := s.base(source) + "fd"
		if f.Status == delivery.StatusDead {
			index = s.base(source) + "fx"
		}
		ids, err := s.client.ZRangeByScore(ctx, index, &redis.ZRangeBy{
			Min: "-inf", Max: "(" + strconv.FormatInt(record.Millis(f.FinishedBefore), 10), Count: int64(n),
		}).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		return ids, nil
	}
	g := *f
	g.Source, g.Before, g.After = source, 0, 0
	evs, err := s.walk(ctx, source, &g, n)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return ids, nil
}

// Stats implements [delivery.Store], in one pipeline.
func (s *Store) Stats(ctx context.Context, qs []delivery.Queue) ([]delivery.QueueStats, error) {
	pipe := s.client.Pipeline()
	type cmds struct {
		n      *redis.IntCmd
		oldest *redis.ZSliceCmd
		dead   *redis.StringCmd
	}
	cs := make([]cmds, len(qs))
	for i, q := range qs {
		base := s.base(q.Source)
		pend := base + "q:" + q.Destination + ":pend"
		cs[i] = cmds{
			n:      pipe.ZCard(ctx, pend),
			oldest: pipe.ZRangeWithScores(ctx, pend, 0, 0),
			dead:   pipe.HGet(ctx, base+"c", "dead:"+q.Destination),
		}
	}
	if len(qs) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, unavailable(err)
		}
	}
	out := make([]delivery.QueueStats, len(qs))
	for i, q := range qs {
		st := delivery.QueueStats{Queue: q, Pending: int(cs[i].n.Val())}
		if z := cs[i].oldest.Val(); len(z) > 0 {
			st.OldestSince = record.Time(int64(z[0].Score))
		}
		if v, err := cs[i].dead.Int(); err == nil {
			st.Dead = max(v, 0)
		}
		out[i] = st
	}
	return out, nil
}
