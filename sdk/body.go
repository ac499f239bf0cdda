package sdk

import (
	"errors"
	"io"
	"math/bits"
	"sync"
	"sync/atomic"
)

// Bodies are read into pooled buffers, one pool per power-of-two size from
// minPooled to maxPooled bytes; larger bodies, and bodies of unknown length,
// get a buffer of their own. A buffer goes back to its pool once the
// request is done, unless someone may still hold it (see bodyBuf).
const (
	minPooledShift = 9  // 512 B
	maxPooledShift = 20 // 1 MiB
)

var bodyPools [maxPooledShift - minPooledShift + 1]sync.Pool

// pooledBuf is what the pools hold: a pointer, so that Put does not
// allocate.
type pooledBuf struct{ b []byte }

// getBuf returns a pooled buffer of at least n bytes, or nil when n is
// over maxPooled.
func getBuf(n int64) *pooledBuf {
	shift := max(bits.Len64(uint64(n-1)), minPooledShift)
	if n <= 0 || shift > maxPooledShift {
		return nil
	}
	p := &bodyPools[shift-minPooledShift]
	if pb, ok := p.Get().(*pooledBuf); ok {
		return pb
	}
	return &pooledBuf{b: make([]byte, 1<<shift)}
}

func putBuf(pb *pooledBuf) {
	shift := bits.Len64(uint64(cap(pb.b) - 1))
	pb.b = pb.b[:cap(pb.b)]
	bodyPools[shift-minPooledShift].Put(pb)
}

// errBodyReleased is what a body reader answers once the request it
// belongs to is done and its buffer has gone back to the pool.
var errBodyReleased = errors.New("sdk: request body read after the request was done")

// bodyBuf is the body of one forwarded request, shared by the restored
// r.Body, the readers GetBody makes and Event.Body. Its buffer is reused
// for a later request only when nothing can reach it any more: when the
// request is done, no read is under way, and Event.Body was never handed
// out (EventFrom). A reader that comes late (a transport still writing
// after its response arrived) gets errBodyReleased, never another
// request's bytes.
type bodyBuf struct {
	b     []byte
	pb    *pooledBuf // nil: not pooled
	state atomic.Int64
}

const (
	bodyExposed  = 1 << 62 // Event.Body handed out: never reuse
	bodyReleased = -1      // back in the pool: nothing may touch b
)

// acquire registers a read of b; false once b was released.
func (bb *bodyBuf) acquire() bool {
	for {
		s := bb.state.Load()
		if s == bodyReleased {
			return false
		}
		if bb.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

func (bb *bodyBuf) done() { bb.state.Add(-1) }

// expose marks b as handed out for good; false once b was released.
func (bb *bodyBuf) expose() bool {
	for {
		s := bb.state.Load()
		switch {
		case s == bodyReleased:
			return false
		case s&bodyExposed != 0:
			return true
		case bb.state.CompareAndSwap(s, s|bodyExposed):
			return true
		}
	}
}

// release returns the buffer to its pool if nothing holds it; otherwise
// the garbage collector takes it when its last holder lets go.
func (bb *bodyBuf) release() {
	if bb.pb != nil && bb.state.CompareAndSwap(0, bodyReleased) {
		putBuf(bb.pb)
	}
}

// bodyReader reads a bodyBuf; it is the restored r.Body.
type bodyReader struct {
	buf *bodyBuf
	off int
}

func (r *bodyReader) Read(p []byte) (int, error) {
	if !r.buf.acquire() {
		return 0, errBodyReleased
	}
	defer r.buf.done()
	if r.off >= len(r.buf.b) {
		return 0, io.EOF
	}
	n := copy(p, r.buf.b[r.off:])
	r.off += n
	return n, nil
}

// Close does nothing: the buffer is released when the request is done.
func (*bodyReader) Close() error { return nil }
