package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/delivery"
)

// Config configures a [Store].
type Config struct {
	// Timeout bounds how long Open waits for the file lock, which another
	// process, or another Open of the same file in this process, holds.
	//
	// default: 5s (DefaultTimeout)
	Timeout time.Duration

	// OnError receives the failures of lazy writes ([delivery.Report]
	// with Lazy set), which have no caller left to return them to, and
	// the ErrLeaseLost of a lazy report. It must be quick and safe for
	// concurrent use. Optional.
	OnError func(error)

	// MaxBatch bounds the writes committed together in one transaction.
	//
	// default: 1000 (DefaultMaxBatch)
	MaxBatch int

	// LazyDelay is how long the committer may hold a group of lazy
	// reports (writes nobody waits for) to gather more, so that a busy
	// store syncs less often and rewrites each page for more events. A
	// write someone waits for (an Append, a Lease, a read's Flush) ends
	// the wait at once. A crash loses at most the reports of the last
	// LazyDelay: each costs one repeated attempt once its lease expires.
	// Negative: no wait.
	//
	// default: 10ms (DefaultLazyDelay)
	LazyDelay time.Duration

	// HistoryDelay is LazyDelay for the records of events delivered live
	// before they were written (a QueueAppend with the outcome folded
	// in): a crash that loses one loses only the event's history, since
	// the destination took the event and its provider was answered.
	// Negative: no wait.
	//
	// default: 100ms (DefaultHistoryDelay)
	HistoryDelay time.Duration
}

// Defaults of [Config].
const (
	DefaultTimeout      = 5 * time.Second
	DefaultMaxBatch     = 1000
	DefaultLazyDelay    = 10 * time.Millisecond
	DefaultHistoryDelay = 100 * time.Millisecond
)

// Bucket names (tx.go describes their keys).
var (
	bData  = []byte("data")
	bIndex = []byte("index")
)

var buckets = [][]byte{bData, bIndex}

// commitMode chooses how writes reach the database. Only the benchmarks
// use anything but groupCommit.
type commitMode int

const (
	groupCommit commitMode = iota // one committer goroutine, one transaction per drained queue
	updateEach                    // one DB.Update per write (the naive way)
	boltBatch                     // DB.Batch
)

// Store is a [delivery.Store] in a bbolt file. Make one with [Open] or
// [New]; the zero value is not usable. It is safe for concurrent use.
type Store struct {
	db                      *bolt.DB
	own                     bool // Close closes db
	onError                 func(error)
	maxBatch                int
	lazyDelay, historyDelay time.Duration
	mode                    commitMode

	mu     sync.RWMutex // held to send on ops; Close takes it to close ops
	closed bool
	ops    chan *op
	done   chan struct{} // closed when the committer has exited

	commits, writes atomic.Uint64 // transactions and writes committed

	hmu  sync.Mutex
	held map[*queuedAppend]struct{} // appends QueueAppend holds: Close sends them
}

var _ delivery.Store = (*Store)(nil)

// Open opens (creating it if needed) the store file at path, its
// directory created with mode 0700 and the file with 0600: bodies may
// hold personal data. The Store owns the database: Close closes it.
//
// bbolt locks the file: while one Store (or any bbolt handle) has it
// open, another Open of it, in this process or another, waits up to
// Config.Timeout and fails. Within one process, share one Store (or one
// *bolt.DB through New) per path.
func Open(path string, cfg Config) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: %w", err)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      timeout,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", filepath.Base(path), err)
	}
	s, err := newStore(db, cfg, true)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// New returns a Store on an open database, creating its buckets. Close
// does not close db. Several Stores may share one db (each commits on its
// own; bbolt serializes their transactions).
func New(db *bolt.DB, cfg Config) (*Store, error) {
	return newStore(db, cfg, false)
}

func newStore(db *bolt.DB, cfg Config, own bool) (*Store, error) {
	if db == nil {
		return nil, errors.New("boltstore: New: db is nil")
	}
	if cfg.MaxBatch < 0 {
		return nil, fmt.Errorf("boltstore: Config.MaxBatch is negative (%d)", cfg.MaxBatch)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range buckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("boltstore: create buckets: %w", err)
	}
	s := &Store{
		db:           db,
		own:          own,
		onError:      cfg.OnError,
		maxBatch:     cfg.MaxBatch,
		lazyDelay:    cfg.LazyDelay,
		historyDelay: cfg.HistoryDelay,
		ops:          make(chan *op, 4096),
		done:         make(chan struct{}),
	}
	if s.maxBatch == 0 {
		s.maxBatch = DefaultMaxBatch
	}
	if s.lazyDelay == 0 {
		s.lazyDelay = DefaultLazyDelay
	}
	if s.historyDelay == 0 {
		s.historyDelay = DefaultHistoryDelay
	}
	go s.commitLoop()
	return s, nil
}

// Commits returns how many transactions the store committed, and how
// many writes they carried: writes/commits is how well group commit
// shares each sync.
func (s *Store) Commits() (commits, writes uint64) {
	return s.commits.Load(), s.writes.Load()
}

// DB returns the store's database, for its statistics and for a backup
// (db.View(func(tx) { tx.WriteTo(w) })).
func (s *Store) DB() *bolt.DB { return s.db }

// Close writes what is queued (lazy reports included), stops the
// committer, and closes the database if Open opened it. Calls after Close
// return an error wrapping delivery.ErrClosed.
func (s *Store) Close() error {
	s.hmu.Lock()
	held := s.held
	s.held = nil
	s.hmu.Unlock()
	for q := range held {
		q.send() // written before the committer stops
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.ops)
	s.mu.Unlock()
	<-s.done
	if s.own {
		return s.db.Close()
	}
	return nil
}

// op is one write: fn runs in a read-write transaction and returns the
// caller's answer (result: nil, or ErrExists, ErrNotFound, ErrLeaseLost)
// and, separately, a failure that aborts the transaction (err). An fn must
// be re-runnable: after a failed transaction it runs again, alone.
type op struct {
	name      string
	fn        func(tx *bolt.Tx) (result error, err error)
	early     bool // answer once applied, before the commit
	result    error
	err       error
	done      chan struct{} // nil for a lazy op
	signalled bool          // done was closed
	orphan    bool          // set by fn: its caller may not wait; failures go to onError
	barrier   bool          // no write: done once the writes queued before are committed
	hold      time.Duration // > 0: nobody waits for it; the committer may hold it that long
}

// How a write's caller waits.
type wait int

const (
	committed wait = iota // until the write is committed and synced
	lazily                // not at all: failures go to OnError
	applied               // until the write is applied, not committed
)

// run runs o.fn in tx, turning a panic into an error.
func (o *op) run(tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("boltstore: %s panicked: %v", o.name, p)
		}
	}()
	o.result, o.err = nil, nil
	o.result, err = o.fn(tx)
	return err
}

// write runs fn in a read-write transaction, grouped with other writes,
// and returns its result as w says. When it returns ctx's error, fn may
// still run later: the caller must not read what fn writes.
func (s *Store) write(ctx context.Context, name string, w wait, fn func(tx *bolt.Tx) (error, error)) error {
	lazy := w == lazily
	o := &op{name: name, fn: fn, early: w == applied}
	if lazy {
		o.hold = s.lazyDelay
	}
	switch s.mode {
	case updateEach:
		return s.answer(o, s.db.Update(o.run))
	case boltBatch:
		return s.answer(o, s.db.Batch(o.run))
	}
	if !lazy {
		o.done = make(chan struct{})
	}
	if err := s.enqueue(ctx, o); err != nil || lazy {
		return err
	}
	return s.await(ctx, o)
}

// enqueue queues o for the committer.
func (s *Store) enqueue(ctx context.Context, o *op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return delivery.ErrClosed
	}
	select {
	case s.ops <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// await waits for o's commit, or the end of ctx.
func (s *Store) await(ctx context.Context, o *op) error {
	select {
	case <-o.done:
		return s.answer(o, o.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// answer returns what the caller of o sees: the transaction's failure
// wrapped as unavailable, or o's result.
func (s *Store) answer(o *op, err error) error {
	if err != nil {
		return fmt.Errorf("%w: boltstore: %s: %w", delivery.ErrUnavailable, o.name, err)
	}
	return o.result
}

// commitLoop commits the queued writes: it takes the first, then
// everything queued behind it (up to maxBatch), and runs them in one
// transaction, so that writers arriving while a commit syncs share the
// next one. An idle store commits each write at once, with no added
// delay.
//
// After taking the first write it yields once: the writers that the last
// commit woke are runnable but have not yet run, and a loop that went on
// at once would commit the first alone while they queue behind it. Under
// a busy gateway (more runnable goroutines than cores) that degenerated
// into one write per commit; with the yield, the writers woken together
// commit together. When nothing else is runnable the yield returns at
// once.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*op, 0, s.maxBatch)
	hold := time.NewTimer(time.Hour)
	hold.Stop()
	for o := range s.ops {
		batch = append(batch[:0], o)
		runtime.Gosched()
		wait := s.take(&batch)
		if wait > 0 && len(batch) < s.maxBatch {
			// Nobody waits for these: gather more, until someone does or
			// the shortest hold among them ends.
			start := time.Now()
			hold.Reset(wait)
		gather:
			for len(batch) < s.maxBatch {
				select {
				case o, ok := <-s.ops:
					if !ok {
						break gather
					}
					batch = append(batch, o)
					if o.hold >= wait {
						continue
					}
					if o.hold <= 0 {
						s.take(&batch)
						break gather
					}
					wait = o.hold
					left := wait - time.Since(start)
					if left <= 0 {
						break gather
					}
					hold.Reset(left)
				case <-hold.C:
					break gather
				}
			}
			hold.Stop()
		}
		s.commit(batch)
		clear(batch)
	}
}

// take appends to batch the writes queued now, up to maxBatch, and
// returns how long the committer may hold batch: the shortest hold of
// its writes, 0 when someone waits for one.
func (s *Store) take(batch *[]*op) (wait time.Duration) {
drain:
	for len(*batch) < s.maxBatch {
		select {
		case o, ok := <-s.ops:
			if !ok {
				break drain
			}
			*batch = append(*batch, o)
		default:
			break drain
		}
	}
	wait = (*batch)[0].hold
	for _, o := range *batch {
		wait = min(wait, o.hold)
	}
	return max(wait, 0)
}

// commit runs batch in one transaction. If it fails, each op runs again
// alone, so that one bad write (a key too large) does not fail the
// others.
//
// Barriers (Flush, and every read) write nothing: they are done when the
// writes queued before them are, and a batch of barriers alone commits
// nothing.
func (s *Store) commit(batch []*op) {
	writes := 0
	for _, o := range batch {
		if !o.barrier {
			writes++
		}
	}
	var err error
	if writes > 0 {
		s.commits.Add(1)
		s.writes.Add(uint64(writes))
		err = s.db.Update(func(tx *bolt.Tx) error {
			for _, o := range batch {
				if o.barrier {
					continue
				}
				if err := o.run(tx); err != nil {
					return err
				}
				if o.early {
					// Its caller goes on while the commit syncs;
					// reads queue behind it, and wait.
					close(o.done)
					o.signalled = true
				}
			}
			return nil
		})
	}
	if err != nil {
		if writes == 1 && !batch[0].signalled && !batch[0].barrier {
			batch[0].err = err
		} else {
			for _, o := range batch {
				if !o.signalled && !o.barrier {
					o.err = s.db.Update(o.run)
				}
			}
		}
	}
	for _, o := range batch {
		if o.signalled {
			continue // its write is lost if the commit failed
		}
		if o.done != nil {
			close(o.done)
			if !o.orphan {
				continue
			}
		}
		if s.onError == nil {
			continue
		}
		if o.err != nil {
			s.onError(fmt.Errorf("%w: boltstore: %s: %w", delivery.ErrUnavailable, o.name, o.err))
		} else if errors.Is(o.result, delivery.ErrLeaseLost) {
			s.onError(o.result)
		}
	}
}

// Flush returns once every write queued before it (lazy reports and
// queued appends included) is committed and synced; it writes nothing
// itself. Reads (Get, List, Stats) flush first, so that they see every
// write made before them.
func (s *Store) Flush(ctx context.Context) error {
	o := &op{name: "flush", barrier: true, done: make(chan struct{})}
	if s.mode != groupCommit {
		return nil // every write was synchronous
	}
	if err := s.enqueue(ctx, o); err != nil {
		return err
	}
	return s.await(ctx, o)
}

// Append implements [delivery.Store]. The event is committed, and synced
// to disk (fdatasync), when it returns nil.
func (s *Store) Append(ctx context.Context, ev *delivery.Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	return s.write(ctx, "append", committed, func(tx *bolt.Tx) (error, error) {
		return open(tx).append(ev, nil)
	})
}

// QueueAppend implements [delivery.AppendQueuer]: the append is given to
// the committer when the report is folded in, when Wait is called, or
// after hold, whichever comes first, and joins the next group commit. A
// report folded in before the commit takes the append is written with it
// (the event then goes in already delivered: one write, and no index
// entry to add and remove again). An id already committed is found at
// once, by a read, so that a live attempt is not made for a duplicate.
func (s *Store) QueueAppend(ctx context.Context, ev *delivery.Event, hold time.Duration) (delivery.QueuedAppend, error) {
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, delivery.ErrClosed
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		if _, ok := open(tx).lookup(ev.Source, ev.ID); ok {
			return delivery.ErrExists
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, delivery.ErrExists) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: boltstore: append: %w", delivery.ErrUnavailable, err)
	}
	rec := *ev // the caller's event is not written to from the committer
	rec.Deliveries = slices.Clone(ev.Deliveries)
	qa := &queuedAppend{s: s}
	qa.o = &op{name: "append", done: make(chan struct{})}
	qa.o.fn = func(tx *bolt.Tx) (error, error) {
		fold := qa.take()
		qa.o.orphan = fold != nil
		return open(tx).append(&rec, fold)
	}
	if hold > 0 && s.mode == groupCommit {
		s.hmu.Lock()
		if s.held == nil {
			s.held = make(map[*queuedAppend]struct{})
		}
		s.held[qa] = struct{}{}
		s.hmu.Unlock()
		qa.mu.Lock()
		qa.timer = time.AfterFunc(hold, qa.send)
		qa.mu.Unlock()
	} else {
		qa.send()
	}
	return qa, nil
}

// queuedAppend is an append queued by QueueAppend. Until it is sent to
// the committer (send), and then until the committer takes it (take),
// Fold may give it a report to write with the event.
type queuedAppend struct {
	s     *Store
	o     *op
	mu    sync.Mutex
	timer *time.Timer // sends it after the hold
	sent  bool        // given to the committer (or failed to be)
	taken bool        // being written
	fold  *delivery.Report
}

// send gives the append to the committer, once. A store closed meanwhile
// fails it (Wait returns ErrClosed; a folded report's failure goes to
// OnError).
func (q *queuedAppend) send() {
	q.mu.Lock()
	if q.sent {
		q.mu.Unlock()
		return
	}
	q.sent = true
	held := q.timer != nil
	if held {
		q.timer.Stop()
	}
	folded := q.fold != nil
	if folded {
		q.o.hold = q.s.historyDelay // not yet seen by the committer
	}
	q.mu.Unlock()
	s := q.s
	if held {
		s.hmu.Lock()
		delete(s.held, q)
		s.hmu.Unlock()
	}
	var err error
	switch s.mode {
	case updateEach:
		err = s.db.Update(q.o.run)
	case boltBatch:
		err = s.db.Batch(q.o.run)
	default:
		// Not cancelled: once QueueAppend has returned, the append is
		// made unless the store closes.
		if err = s.enqueue(context.Background(), q.o); err == nil {
			return
		}
	}
	q.o.err = err
	close(q.o.done)
	if err != nil && folded && s.onError != nil {
		s.onError(s.answer(q.o, err))
	}
}

// Fold implements [delivery.QueuedAppend]. A folded append is sent at
// once: nothing is left to wait for.
func (q *queuedAppend) Fold(r delivery.Report) bool {
	if r.Check() != nil {
		return false
	}
	if r.Attempt != nil {
		a := *r.Attempt
		r.Attempt = &a
	}
	q.mu.Lock()
	if q.taken || q.fold != nil {
		q.mu.Unlock()
		return false
	}
	q.fold = &r
	q.mu.Unlock()
	q.send()
	return true
}

// take marks the append as being written and returns the report folded
// into it, if any. A transaction that runs again takes it again.
func (q *queuedAppend) take() *delivery.Report {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.taken = true
	return q.fold
}

// Wait implements [delivery.QueuedAppend]: it sends the append at once,
// then waits for its commit.
func (q *queuedAppend) Wait(ctx context.Context) error {
	q.send()
	return q.s.await(ctx, q.o)
}

// Lease implements [delivery.Store].
func (s *Store) Lease(ctx context.Context, q delivery.Queue, now time.Time, n int, until time.Time, token string) (tasks []*delivery.Task, next time.Time, err error) {
	if n <= 0 {
		return nil, time.Time{}, nil
	}
	err = s.write(ctx, "lease", applied, func(tx *bolt.Tx) (error, error) {
		var err error
		tasks, next, err = open(tx).lease(q, now, n, until, token)
		return nil, err
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return tasks, next, nil
}

// Report implements [delivery.Store].
func (s *Store) Report(ctx context.Context, r delivery.Report) error {
	if err := r.Check(); err != nil {
		return err
	}
	if r.Attempt != nil {
		a := *r.Attempt // the caller may reuse its Attempt
		r.Attempt = &a
	}
	return s.write(ctx, "report", reportWait(r.Lazy), func(tx *bolt.Tx) (error, error) {
		return open(tx).report(&r)
	})
}

func reportWait(lazy bool) wait {
	if lazy {
		return lazily
	}
	return committed
}

// Extend implements [delivery.Store].
func (s *Store) Extend(ctx context.Context, t *delivery.Task, until time.Time) error {
	src, id, dest, token := t.Event.Source, t.Event.ID, t.Delivery.Destination, t.Delivery.Token
	err := s.write(ctx, "extend", committed, func(tx *bolt.Tx) (error, error) {
		return open(tx).extend(src, id, dest, token, until)
	})
	if err == nil {
		t.Delivery.NextAt = until
	}
	return err
}

// Replay implements [delivery.Store].
func (s *Store) Replay(ctx context.Context, source, id, destination string, now time.Time) error {
	return s.write(ctx, "replay", committed, func(tx *bolt.Tx) (error, error) {
		return open(tx).replay(source, id, destination, now)
	})
}

// purgeChunk bounds the events one transaction of Purge deletes.
const purgeChunk = 1000

// Purge implements [delivery.Store]. It deletes in transactions of at
// most 1000 events, so that other writes go on meanwhile.
func (s *Store) Purge(ctx context.Context, f delivery.Filter) (int, error) {
	total := 0
	for {
		chunk := purgeChunk
		if f.Limit > 0 {
			chunk = min(chunk, f.Limit-total)
		}
		var n int
		err := s.write(ctx, "purge", committed, func(tx *bolt.Tx) (error, error) {
			var err error
			n, err = open(tx).purge(&f, chunk)
			return nil, err
		})
		if err != nil {
			return total, err // n is not ours to read: the op may still run
		}
		total += n
		if n < chunk || f.Limit > 0 && total >= f.Limit {
			return total, nil
		}
	}
}

// Get implements [delivery.Store].
func (s *Store) Get(ctx context.Context, source, id string) (*delivery.Event, error) {
	var ev *delivery.Event
	err := s.view(ctx, func(t txn) error {
		seq, ok := t.lookup(source, id)
		if !ok {
			return delivery.ErrNotFound
		}
		var err error
		ev, err = t.load(seq, true)
		return err
	})
	return ev, err
}

// List implements [delivery.Store]. It walks events newest first (or
// oldest first after f.After), through the index of f.Status, else of
// f.Source, else all events, and decodes each until it has f's limit:
// a filter that matches few events costs a walk over many.
func (s *Store) List(ctx context.Context, f delivery.Filter) ([]*delivery.Event, error) {
	var evs []*delivery.Event
	err := s.view(ctx, func(t txn) error {
		var err error
		evs, err = t.list(ctx, &f)
		return err
	})
	return evs, err
}

// Stats implements [delivery.Store].
func (s *Store) Stats(ctx context.Context, qs []delivery.Queue) ([]delivery.QueueStats, error) {
	out := make([]delivery.QueueStats, len(qs))
	err := s.view(ctx, func(t txn) error {
		for i, q := range qs {
			out[i] = t.stats(q)
		}
		return nil
	})
	return out, err
}

// view runs fn in a read-only transaction, once the writes queued before
// it are committed (Flush): a lazy report, a queued append, a lease
// answered before its commit. ErrNotFound passes through; other failures
// wrap ErrUnavailable.
func (s *Store) view(ctx context.Context, fn func(t txn) error) error {
	if err := s.Flush(ctx); err != nil {
		return err
	}
	err := s.db.View(func(tx *bolt.Tx) error { return fn(open(tx)) })
	if err != nil && !errors.Is(err, delivery.ErrNotFound) {
		return fmt.Errorf("%w: boltstore: %w", delivery.ErrUnavailable, err)
	}
	return err
}
