package boltstore

import (
	"encoding/binary"
	"errors"
	"net/http"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/internal/record"
)

// An event is stored as one value (its metadata, headers and deliveries)
// and its body as another, so that an attempt's report rewrites a few
// hundred bytes, not the body. Values start with a format version; times
// are Unix milliseconds (0 for the zero time), latencies microseconds.
// A flags byte may follow the deliveries; records without flags end
// before it (older ones always do).

const formatV1 = 1

// Event record flags.
const (
	// flagPayloadDropped: the event's headers and body were dropped
	// (delivery.Event.PayloadDropped); it has no body value.
	flagPayloadDropped = 1 << iota
)

var errCorrupt = errors.New("boltstore: corrupt record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	return binary.AppendVarint(b, record.Millis(t))
}

// encodeEvent encodes ev without its body.
func encodeEvent(ev *delivery.Event) []byte {
	n := 64 + len(ev.Source) + len(ev.ID) + len(ev.Type)
	for k, vs := range ev.Header {
		n += len(k) + 2
		for _, v := range vs {
			n += len(v) + 2
		}
	}
	for i := range ev.Deliveries {
		n += 64 + len(ev.Deliveries[i].Destination) + len(ev.Deliveries[i].Reason) + 32*len(ev.Deliveries[i].Attempts)
	}
	b := make([]byte, 0, n)
	b = append(b, formatV1)
	b = appendString(b, ev.Source)
	b = appendString(b, ev.ID)
	b = appendString(b, ev.Type)
	b = appendTime(b, ev.ReceivedAt)
	b = binary.AppendUvarint(b, ev.Seq)
	b = binary.AppendUvarint(b, uint64(len(ev.Header)))
	for k, vs := range ev.Header {
		b = appendString(b, k)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(ev.Deliveries)))
	for i := range ev.Deliveries {
		d := &ev.Deliveries[i]
		b = appendString(b, d.Destination)
		b = append(b, byte(d.Status))
		b = appendTime(b, d.NextAt)
		b = appendString(b, d.Token)
		b = appendTime(b, d.Since)
		b = binary.AppendUvarint(b, uint64(d.Tries))
		b = binary.AppendUvarint(b, uint64(d.AttemptCount))
		b = appendTime(b, d.FinishedAt)
		b = appendString(b, d.Reason)
		b = binary.AppendUvarint(b, uint64(len(d.Attempts)))
		for _, a := range d.Attempts {
			b = appendTime(b, a.At)
			b = binary.AppendUvarint(b, uint64(max(a.StatusCode, 0)))
			b = binary.AppendUvarint(b, uint64(max(a.Latency/time.Microsecond, 0)))
			b = appendString(b, a.Error)
		}
	}
	if ev.PayloadDropped {
		b = append(b, flagPayloadDropped)
	}
	return b
}

// decoder reads a value; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items, each at least min bytes long.
func (d *decoder) count(min int) int {
	v := d.uvarint()
	if v > uint64(len(d.b)/min) {
		d.err = errCorrupt
		return 0
	}
	return int(v)
}

func (d *decoder) time() time.Time {
	if d.err != nil {
		return time.Time{}
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return time.Time{}
	}
	d.b = d.b[n:]
	return record.Time(v)
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errCorrupt
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// decodeEvent decodes a value written by encodeEvent. It copies what it
// keeps: b may die with its transaction.
func decodeEvent(b []byte) (*delivery.Event, error) {
	d := decoder{b: b}
	if d.byte() != formatV1 {
		return nil, errCorrupt
	}
	ev := &delivery.Event{
		Source:     d.string(),
		ID:         d.string(),
		Type:       d.string(),
		ReceivedAt: d.time(),
		Seq:        d.uvarint(),
	}
	if nh := d.count(2); nh > 0 {
		ev.Header = make(http.Header, nh)
		for range nh {
			k := d.string()
			vs := make([]string, d.count(1))
			for i := range vs {
				vs[i] = d.string()
			}
			ev.Header[k] = vs
		}
	}
	if nd := d.count(8); nd > 0 {
		ev.Deliveries = make([]delivery.Delivery, nd)
		for i := range ev.Deliveries {
			dl := &ev.Deliveries[i]
			dl.Destination = d.string()
			dl.Status = delivery.Status(d.byte())
			dl.NextAt = d.time()
			dl.Token = d.string()
			dl.Since = d.time()
			dl.Tries = int(d.uvarint())
			dl.AttemptCount = int(d.uvarint())
			dl.FinishedAt = d.time()
			dl.Reason = d.string()
			if na := d.count(4); na > 0 {
				dl.Attempts = make([]delivery.Attempt, na)
				for j := range dl.Attempts {
					a := &dl.Attempts[j]
					a.At = d.time()
					a.StatusCode = int(d.uvarint())
					a.Latency = time.Duration(d.uvarint()) * time.Microsecond
					a.Error = d.string()
				}
			}
			if !dl.Status.Valid() {
				d.err = errCorrupt
			}
		}
	}
	if d.err == nil && len(d.b) > 0 {
		ev.PayloadDropped = d.byte()&flagPayloadDropped != 0
	}
	if d.err != nil {
		return nil, d.err
	}
	return ev, nil
}

// Keys. Names are length-prefixed so that a prefix scan of one queue or
// source never strays into another's; numbers are big-endian so that
// byte order is numeric order.

func appendName(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// queueKey is the prefix of a queue's due and pend index keys.
func queueKey(q delivery.Queue) []byte {
	b := make([]byte, 0, len(q.Source)+len(q.Destination)+20)
	return appendName(appendName(b, q.Source), q.Destination)
}

// idKey is the ids index key of source/id.
func idKey(source, id string) []byte {
	return append(appendName(make([]byte, 0, len(source)+len(id)+2), source), id...)
}

// srcKey is the src index key of seq in source.
func srcKey(source string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(appendName(make([]byte, 0, len(source)+10), source), seq)
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// unsignedMillis returns t in Unix milliseconds for a key, never below 0.
func unsignedMillis(t time.Time) uint64 {
	return uint64(max(record.Millis(t), 0))
}

// timedKey is prefix + t + seq: the due, pend and fin index keys.
func timedKey(prefix []byte, t time.Time, seq uint64) []byte {
	b := make([]byte, 0, len(prefix)+16)
	b = append(b, prefix...)
	b = binary.BigEndian.AppendUint64(b, unsignedMillis(t))
	return binary.BigEndian.AppendUint64(b, seq)
}
