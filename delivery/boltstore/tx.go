package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/internal/record"
)

// txn is a transaction with the store's two buckets at hand: data holds
// the events' records ('e' + seq) and, apart, their bodies ('b' + seq),
// so that rewriting records after attempts touches densely packed pages
// that hold no body; index holds every index, each in its own key space
// (a tag byte before its keys). Two trees instead of one per index: an
// append rewrites fewer pages, so a commit writes and syncs less.
type txn struct {
	data                                     *bolt.Bucket
	ids, source, status, due, pend, fin, cnt space
}

// Index key spaces, by tag.
const (
	tagIDs    = 'i' // source, id → seq
	tagSource = 's' // source, seq → nil
	tagStatus = 't' // status of the event as a whole, seq → nil
	tagDue    = 'd' // queue, due or lease expiry, seq → nil (pending and delivering deliveries)
	tagPend   = 'p' // queue, since, seq → nil (pending and delivering deliveries)
	tagFin    = 'f' // status, finished, seq → nil (finished events)
	tagCount  = 'c' // queue → pending (8 bytes), dead (8 bytes)
)

// Kinds of data keys, before the seq.
const (
	kindBody  = 'b'
	kindEvent = 'e'
)

func open(tx *bolt.Tx) txn {
	data, index := tx.Bucket(bData), tx.Bucket(bIndex)
	if tx.Writable() {
		// Event keys only grow: fill their pages.
		data.FillPercent = 0.9
	}
	return txn{
		data:   data,
		ids:    space{index, tagIDs},
		source: space{index, tagSource},
		status: space{index, tagStatus},
		due:    space{index, tagDue},
		pend:   space{index, tagPend},
		fin:    space{index, tagFin},
		cnt:    space{index, tagCount},
	}
}

// dataKey is the data key of kind of event seq.
func dataKey(seq uint64, kind byte) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, 9), kind), seq)
}

// space is one index within the index bucket: its keys start with tag.
type space struct {
	b   *bolt.Bucket
	tag byte
}

func (s space) key(k []byte) []byte {
	return append(append(make([]byte, 0, len(k)+1), s.tag), k...)
}

func (s space) Get(k []byte) []byte   { return s.b.Get(s.key(k)) }
func (s space) Put(k, v []byte) error { return s.b.Put(s.key(k), v) }
func (s space) Delete(k []byte) error { return s.b.Delete(s.key(k)) }
func (s space) Cursor() *spaceCursor  { return &spaceCursor{s.b.Cursor(), s.tag} }

// spaceCursor walks one space, with its keys' tag stripped.
type spaceCursor struct {
	c   *bolt.Cursor
	tag byte
}

func (c *spaceCursor) strip(k, v []byte) ([]byte, []byte) {
	if len(k) == 0 || k[0] != c.tag {
		return nil, nil
	}
	return k[1:], v
}

func (c *spaceCursor) Seek(k []byte) ([]byte, []byte) {
	return c.strip(c.c.Seek(append([]byte{c.tag}, k...)))
}
func (c *spaceCursor) Next() ([]byte, []byte) { return c.strip(c.c.Next()) }
func (c *spaceCursor) Prev() ([]byte, []byte) { return c.strip(c.c.Prev()) }
func (c *spaceCursor) Last() ([]byte, []byte) {
	if k, _ := c.c.Seek([]byte{c.tag + 1}); k == nil {
		return c.strip(c.c.Last())
	}
	return c.strip(c.c.Prev())
}

// lookup returns the seq of source/id.
func (t txn) lookup(source, id string) (uint64, bool) {
	v := t.ids.Get(idKey(source, id))
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// load returns event seq, with its body when body is set.
func (t txn) load(seq uint64, body bool) (*delivery.Event, error) {
	v := t.data.Get(dataKey(seq, kindEvent))
	if v == nil {
		return nil, delivery.ErrNotFound
	}
	ev, err := decodeEvent(v)
	if err != nil {
		return nil, err
	}
	if body && !ev.PayloadDropped {
		ev.Body = bytes.Clone(t.data.Get(dataKey(seq, kindBody)))
		if ev.Body == nil {
			ev.Body = []byte{}
		}
	}
	return ev, nil
}

func (t txn) save(ev *delivery.Event) error {
	return t.data.Put(dataKey(ev.Seq, kindEvent), encodeEvent(ev))
}

// entry is one index key.
type entry struct {
	sp  space
	key []byte
}

// deliveryEntries appends to dst the index keys of delivery d of event
// seq in the queue with key qk, and returns how it counts in the queue:
// pending (or delivering), or dead.
func (t txn) deliveryEntries(dst []entry, qk []byte, seq uint64, d *delivery.Delivery) (out []entry, pending, dead int) {
	switch d.Status {
	case delivery.StatusPending, delivery.StatusLeased:
		return append(dst, entry{t.due, timedKey(qk, d.NextAt, seq)}, entry{t.pend, timedKey(qk, d.Since, seq)}), 1, 0
	case delivery.StatusDead:
		return dst, 0, 1
	}
	return dst, 0, 0
}

// eventEntries appends to dst the index keys of ev as a whole: its
// status, and when it is finished, its finish time.
func (t txn) eventEntries(dst []entry, ev *delivery.Event) []entry {
	st := ev.Status()
	dst = append(dst, entry{t.status, binary.BigEndian.AppendUint64([]byte{byte(st)}, ev.Seq)})
	if st.Final() {
		dst = append(dst, entry{t.fin, timedKey([]byte{byte(st)}, ev.FinishedAt(), ev.Seq)})
	}
	return dst
}

// reindex deletes the entries of before that after lacks, and puts those
// of after that before lacks: an unchanged key is not touched.
func (t txn) reindex(before, after []entry) error {
	has := func(es []entry, e entry) bool {
		for _, x := range es {
			if x.sp.tag == e.sp.tag && bytes.Equal(x.key, e.key) {
				return true
			}
		}
		return false
	}
	for _, e := range before {
		if !has(after, e) {
			if err := e.sp.Delete(e.key); err != nil {
				return err
			}
		}
	}
	for _, e := range after {
		if !has(before, e) {
			if err := e.sp.Put(e.key, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// addCounts adds pending and dead (each may be negative) to the counts
// of the queue with key qk.
func (t txn) addCounts(qk []byte, pending, dead int) error {
	if pending == 0 && dead == 0 {
		return nil
	}
	var c [16]byte
	copy(c[:], t.cnt.Get(qk))
	for i, add := range []int{pending, dead} {
		n := int64(binary.BigEndian.Uint64(c[8*i:])) + int64(add)
		binary.BigEndian.PutUint64(c[8*i:], uint64(max(n, 0)))
	}
	return t.cnt.Put(qk, c[:])
}

// index adds (or with add false removes) every index entry and count of
// ev.
func (t txn) index(ev *delivery.Event, add bool) error {
	es := t.eventEntries(nil, ev)
	sign := 1
	if !add {
		sign = -1
	}
	for i := range ev.Deliveries {
		qk := queueKey(delivery.Queue{Source: ev.Source, Destination: ev.Deliveries[i].Destination})
		var p, d int
		es, p, d = t.deliveryEntries(es, qk, ev.Seq, &ev.Deliveries[i])
		if err := t.addCounts(qk, sign*p, sign*d); err != nil {
			return err
		}
	}
	if add {
		return t.reindex(nil, es)
	}
	return t.reindex(es, nil)
}

// change applies fn to the deliveries of ev that dest selects (all of
// them for ""), keeping every index and count right, and saves ev.
func (t txn) change(ev *delivery.Event, dest string, fn func(d *delivery.Delivery)) error {
	before := t.eventEntries(nil, ev)
	var after []entry
	for i := range ev.Deliveries {
		d := &ev.Deliveries[i]
		if dest != "" && d.Destination != dest {
			continue
		}
		qk := queueKey(delivery.Queue{Source: ev.Source, Destination: d.Destination})
		var p0, d0, p1, d1 int
		before, p0, d0 = t.deliveryEntries(before, qk, ev.Seq, d)
		fn(d)
		after, p1, d1 = t.deliveryEntries(after, qk, ev.Seq, d)
		if err := t.addCounts(qk, p1-p0, d1-d0); err != nil {
			return err
		}
	}
	after = t.eventEntries(after, ev)
	if err := t.reindex(before, after); err != nil {
		return err
	}
	return t.save(ev)
}

// append records ev; fold, when not nil, is the report of an attempt of
// one of its deliveries, applied before anything is written.
func (t txn) append(ev *delivery.Event, fold *delivery.Report) (result error, err error) {
	ik := idKey(ev.Source, ev.ID)
	if t.ids.Get(ik) != nil {
		return delivery.ErrExists, nil
	}
	seq, err := t.data.NextSequence()
	if err != nil {
		return nil, err
	}
	rec := *ev
	rec.Seq = seq
	rec.Deliveries = make([]delivery.Delivery, len(ev.Deliveries))
	for i, d := range ev.Deliveries {
		d.Attempts, d.Tries, d.AttemptCount, d.FinishedAt, d.Reason = nil, 0, 0, time.Time{}, ""
		if d.Since.IsZero() {
			d.Since = ev.ReceivedAt
		}
		if d.Status == delivery.StatusPending {
			d.Token = ""
		}
		rec.Deliveries[i] = d
	}
	if fold != nil {
		if d := rec.Delivery(fold.Destination); d != nil {
			d.Apply(fold)
			if fold.DropPayload && rec.Status() == delivery.StatusDelivered {
				rec.Header, rec.PayloadDropped = nil, true
			}
		}
	}
	if !rec.PayloadDropped {
		if err := t.data.Put(dataKey(seq, kindBody), ev.Body); err != nil {
			return nil, err
		}
	}
	if err := t.ids.Put(ik, seqKey(seq)); err != nil {
		return nil, err
	}
	if err := t.source.Put(srcKey(ev.Source, seq), nil); err != nil {
		return nil, err
	}
	if err := t.index(&rec, true); err != nil {
		return nil, err
	}
	if err := t.save(&rec); err != nil {
		return nil, err
	}
	ev.Seq = seq
	return nil, nil
}

func (t txn) lease(q delivery.Queue, now time.Time, n int, until time.Time, token string) ([]*delivery.Task, time.Time, error) {
	qk := queueKey(q)
	nowMs := unsignedMillis(now)
	type hit struct {
		key []byte
		seq uint64
	}
	var hits []hit
	var stale [][]byte
	c := t.due.Cursor()
	for k, _ := c.Seek(qk); k != nil && bytes.HasPrefix(k, qk) && len(hits) < n; k, _ = c.Next() {
		if len(k) != len(qk)+16 {
			stale = append(stale, bytes.Clone(k))
			continue
		}
		if binary.BigEndian.Uint64(k[len(qk):]) > nowMs {
			break
		}
		hits = append(hits, hit{bytes.Clone(k), binary.BigEndian.Uint64(k[len(qk)+8:])})
	}
	// Collected first, changed now: deleting under a cursor skips keys.
	var tasks []*delivery.Task
	for _, h := range hits {
		ev, err := t.load(h.seq, true)
		if err != nil && err != delivery.ErrNotFound {
			return nil, time.Time{}, err
		}
		var d *delivery.Delivery
		if err == nil {
			d = ev.Delivery(q.Destination)
		}
		if d == nil || d.Status.Final() {
			// An index entry left without its delivery: drop it.
			stale = append(stale, h.key)
			continue
		}
		body := ev.Body
		ev.Body = nil
		if err := t.change(ev, q.Destination, func(d *delivery.Delivery) {
			d.Status, d.NextAt, d.Token = delivery.StatusLeased, until, token
		}); err != nil {
			return nil, time.Time{}, err
		}
		d = ev.Delivery(q.Destination)
		task := &delivery.Task{Delivery: *d, Attempt: d.AttemptCount + 1}
		ev.Body, ev.Deliveries = body, nil
		task.Event = ev
		tasks = append(tasks, task)
	}
	for _, k := range stale {
		if err := t.due.Delete(k); err != nil {
			return nil, time.Time{}, err
		}
	}
	var next time.Time
	if k, _ := t.due.Cursor().Seek(qk); k != nil && bytes.HasPrefix(k, qk) && len(k) == len(qk)+16 {
		next = record.Time(int64(binary.BigEndian.Uint64(k[len(qk):])))
	}
	return tasks, next, nil
}

// held finds the delivery a report or extension is about.
func (t txn) held(source, id, dest string) (*delivery.Event, *delivery.Delivery, error) {
	seq, ok := t.lookup(source, id)
	if !ok {
		return nil, nil, delivery.ErrNotFound
	}
	ev, err := t.load(seq, false)
	if err != nil {
		return nil, nil, err
	}
	d := ev.Delivery(dest)
	if d == nil {
		return nil, nil, delivery.ErrNotFound
	}
	return ev, d, nil
}

func (t txn) report(r *delivery.Report) (result error, err error) {
	ev, d, err := t.held(r.Source, r.ID, r.Destination)
	if err != nil {
		return notFound(err)
	}
	if d.Status != delivery.StatusLeased || d.Token != r.Token {
		if r.Status != delivery.StatusDelivered || d.Status == delivery.StatusDelivered {
			return delivery.ErrLeaseLost, nil
		}
		// Delivered all the same: record it, and say the lease was lost.
		result = delivery.ErrLeaseLost
	}
	drop := false
	err = t.change(ev, r.Destination, func(d *delivery.Delivery) {
		d.Apply(r)
		if r.DropPayload && ev.Status() == delivery.StatusDelivered && !ev.PayloadDropped {
			// Every delivery is delivered: saved without headers, and
			// the body goes.
			ev.Header, ev.PayloadDropped, drop = nil, true, true
		}
	})
	if err == nil && drop {
		err = t.data.Delete(dataKey(ev.Seq, kindBody))
	}
	return result, err
}

// notFound passes ErrNotFound as the caller's answer and anything else
// (a corrupt record) as a failure.
func notFound(err error) (error, error) {
	if err == delivery.ErrNotFound {
		return err, nil
	}
	return nil, err
}

func (t txn) extend(source, id, dest, token string, until time.Time) (result error, err error) {
	ev, d, err := t.held(source, id, dest)
	if err != nil {
		return notFound(err)
	}
	if d.Status != delivery.StatusLeased || d.Token != token {
		return delivery.ErrLeaseLost, nil
	}
	return nil, t.change(ev, dest, func(d *delivery.Delivery) { d.NextAt = until })
}

func (t txn) replay(source, id, dest string, now time.Time) (result error, err error) {
	seq, ok := t.lookup(source, id)
	if !ok {
		return delivery.ErrNotFound, nil
	}
	ev, err := t.load(seq, false)
	if err != nil {
		return notFound(err)
	}
	if dest != "" && ev.Delivery(dest) == nil {
		return delivery.ErrNotFound, nil
	}
	if ev.PayloadDropped {
		return delivery.ErrPayloadDropped, nil
	}
	return nil, t.change(ev, dest, func(d *delivery.Delivery) {
		d.Status, d.NextAt, d.Token, d.Since, d.Tries = delivery.StatusPending, now, "", now, 0
		d.FinishedAt, d.Reason = time.Time{}, ""
	})
}

// purge deletes up to limit events that f selects.
func (t txn) purge(f *delivery.Filter, limit int) (int, error) {
	var seqs []uint64
	if !f.FinishedBefore.IsZero() && f.Status.Final() && f.ID == "" {
		// Retention: finished events, oldest first.
		prefix := []byte{byte(f.Status)}
		cut := unsignedMillis(f.FinishedBefore)
		c := t.fin.Cursor()
		for k, _ := c.Seek(prefix); k != nil && k[0] == prefix[0] && len(seqs) < limit; k, _ = c.Next() {
			if len(k) != 17 || binary.BigEndian.Uint64(k[1:]) >= cut {
				break
			}
			seq := binary.BigEndian.Uint64(k[9:])
			if f.Source == "" && f.Type == "" && f.ReceivedAfter.IsZero() && f.ReceivedBefore.IsZero() {
				seqs = append(seqs, seq)
				continue
			}
			ev, err := t.load(seq, false)
			if err != nil {
				return 0, err
			}
			if f.Match(ev) {
				seqs = append(seqs, seq)
			}
		}
	} else {
		g := *f
		g.Before, g.After, g.Limit = 0, 0, limit
		err := t.walk(&g, func(ev *delivery.Event) bool {
			seqs = append(seqs, ev.Seq)
			return len(seqs) < limit
		})
		if err != nil {
			return 0, err
		}
	}
	for _, seq := range seqs {
		if err := t.remove(seq); err != nil {
			return 0, err
		}
	}
	return len(seqs), nil
}

// remove deletes event seq and every index entry of it.
func (t txn) remove(seq uint64) error {
	ev, err := t.load(seq, false)
	if err != nil {
		return err
	}
	if err := t.index(ev, false); err != nil {
		return err
	}
	if err := t.ids.Delete(idKey(ev.Source, ev.ID)); err != nil {
		return err
	}
	if err := t.source.Delete(srcKey(ev.Source, seq)); err != nil {
		return err
	}
	if err := t.data.Delete(dataKey(seq, kindBody)); err != nil {
		return err
	}
	return t.data.Delete(dataKey(seq, kindEvent))
}

// list returns up to f's limit of the events f selects.
func (t txn) list(ctx context.Context, f *delivery.Filter) ([]*delivery.Event, error) {
	limit := f.ListLimit()
	var evs []*delivery.Event
	n := 0
	err := t.walk(f, func(ev *delivery.Event) bool {
		evs = append(evs, ev)
		n++
		if n%1024 == 0 && ctx.Err() != nil {
			return false
		}
		return len(evs) < limit
	})
	if err == nil {
		err = ctx.Err()
	}
	return evs, err
}

// cursor is a bolt.Cursor or a spaceCursor.
type cursor interface {
	Seek(k []byte) ([]byte, []byte)
	Next() ([]byte, []byte)
	Prev() ([]byte, []byte)
	Last() ([]byte, []byte)
}

// walk calls fn with each event f selects (without its body), newest
// first, or oldest first after f.After, until fn returns false.
func (t txn) walk(f *delivery.Filter, fn func(*delivery.Event) bool) error {
	if f.ID != "" && f.Source != "" {
		// One event, by its id.
		seq, ok := t.lookup(f.Source, f.ID)
		if !ok || f.Before > 0 && seq >= f.Before || seq <= f.After {
			return nil
		}
		ev, err := t.load(seq, false)
		if err == delivery.ErrNotFound {
			return nil
		}
		if err == nil && f.Match(ev) {
			fn(ev)
		}
		return err
	}
	// The smallest index that holds every selected event: its keys are
	// prefix + seq. Without one, the data bucket's event records.
	var c cursor
	var prefix []byte
	switch {
	case f.Status == delivery.StatusLeased:
		c, prefix = t.status.Cursor(), []byte{byte(delivery.StatusPending)}
	case f.Status != 0:
		c, prefix = t.status.Cursor(), []byte{byte(f.Status)}
	case f.Source != "":
		c, prefix = t.source.Cursor(), appendName(nil, f.Source)
	default:
		c, prefix = t.data.Cursor(), []byte{kindEvent}
	}
	var k []byte
	asc := f.After > 0
	if asc {
		k, _ = c.Seek(binary.BigEndian.AppendUint64(bytes.Clone(prefix), f.After+1))
	} else {
		end := uint64(1<<64 - 1)
		if f.Before > 0 {
			if f.Before == 1 {
				return nil
			}
			end = f.Before - 1
		}
		// Seek past every key of seq end, then step back.
		past := append(binary.BigEndian.AppendUint64(bytes.Clone(prefix), end), 0xff)
		if k, _ = c.Seek(past); k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k = step(c, asc) {
		if len(k) != len(prefix)+8 {
			continue
		}
		ev, err := t.load(binary.BigEndian.Uint64(k[len(prefix):]), false)
		if err != nil {
			if err == delivery.ErrNotFound {
				continue
			}
			return err
		}
		if f.Match(ev) && !fn(ev) {
			return nil
		}
	}
	return nil
}

func step(c cursor, asc bool) []byte {
	var k []byte
	if asc {
		k, _ = c.Next()
	} else {
		k, _ = c.Prev()
	}
	return k
}

// stats returns the state of q.
func (t txn) stats(q delivery.Queue) delivery.QueueStats {
	qk := queueKey(q)
	s := delivery.QueueStats{Queue: q}
	if c := t.cnt.Get(qk); len(c) == 16 {
		s.Pending = int(binary.BigEndian.Uint64(c))
		s.Dead = int(binary.BigEndian.Uint64(c[8:]))
	}
	if k, _ := t.pend.Cursor().Seek(qk); k != nil && bytes.HasPrefix(k, qk) && len(k) == len(qk)+16 {
		s.OldestSince = record.Time(int64(binary.BigEndian.Uint64(k[len(qk):])))
	}
	return s
}
