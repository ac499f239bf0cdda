package receive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/http"
	"strconv"
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
var errBodyReleased = errors.New("receive: request body read after the request was done")

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

// received is a body as step 2 read it, until it is forwarded: b, and the
// pooled buffer it lives in (nil when it has one of its own).
type received struct {
	b  []byte
	pb *pooledBuf
}

// recycle gives the buffer back to its pool, unless pass handed it on.
func (rb *received) recycle() {
	if rb.pb != nil {
		putBuf(rb.pb)
		rb.pb = nil
	}
}

// passTo hands the buffer on to bb, a forwarded request's, which decides
// from then on when it is reused.
func (rb *received) passTo(bb *bodyBuf) {
	bb.b, bb.pb = rb.b, rb.pb
	rb.pb = nil
}

// readBody reads the whole body within limit, refusing a declared
// Content-Length over it before reading anything. A body of declared size
// is read into a pooled buffer.
func readBody(r *http.Request, limit int64) (received, error) {
	if r.ContentLength > limit {
		return received{}, fmt.Errorf("%w: %d bytes declared, limit %d", ErrBodyTooLarge, r.ContentLength, limit)
	}
	if r.Body == nil || r.Body == http.NoBody {
		return received{b: []byte{}}, nil
	}
	if r.ContentLength >= 0 {
		// Size declared: one buffer, with one byte more to notice a body
		// longer than declared.
		var rb received
		var buf []byte
		if rb.pb = getBuf(r.ContentLength + 1); rb.pb != nil {
			buf = rb.pb.b[:r.ContentLength+1]
		} else {
			buf = make([]byte, r.ContentLength+1)
		}
		var err error
		rb.b, err = readDeclared(r.Body, buf, r.ContentLength, limit)
		if err != nil || int64(len(rb.b)) != r.ContentLength {
			// Failed, or longer than declared and read into a new buffer.
			rb.recycle()
		}
		return rb, err
	}
	b, err := readAll(io.LimitReader(r.Body, limit+1), nil)
	if err != nil {
		return received{}, err
	}
	if int64(len(b)) > limit {
		return received{}, fmt.Errorf("%w: limit %d", ErrBodyTooLarge, limit)
	}
	return received{b: b}, nil
}

func readDeclared(body io.Reader, buf []byte, n, limit int64) ([]byte, error) {
	got, err := io.ReadFull(body, buf)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		if int64(got) != n {
			return nil, fmt.Errorf("%w: %d of %d declared bytes before the body ended", ErrBodyUnreadable, got, n)
		}
		return buf[:got], nil
	case err == nil:
		// More than declared: read on up to the limit to decide, in a
		// buffer of its own.
		rest, err := readAll(io.LimitReader(body, limit+1-int64(got)), bytes.Clone(buf))
		if err != nil {
			return nil, err
		}
		if int64(len(rest)) > limit {
			return nil, fmt.Errorf("%w: limit %d", ErrBodyTooLarge, limit)
		}
		return rest, nil
	default:
		return nil, bodyError(err)
	}
}

func readAll(r io.Reader, b []byte) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, bodyError(err)
	}
	return buf.Bytes(), nil
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("%w: limit %d", ErrBodyTooLarge, mbe.Limit)
	}
	return fmt.Errorf("%w: %v", ErrBodyUnreadable, err)
}

// restoreBody puts the buffered body back so the next handler, or a
// proxy, sends it byte for byte with a Content-Length (a chunked request
// is re-framed: TransferEncoding cleared, as the net/http transport would
// otherwise chunk it again).
func restoreBody(r *http.Request, body *bodyReader) {
	n := int64(len(body.buf.b))
	r.Body = body
	bb := body.buf
	r.GetBody = func() (io.ReadCloser, error) { return &bodyReader{buf: bb}, nil }
	r.ContentLength = n
	if r.TransferEncoding != nil {
		r.TransferEncoding = nil
		r.Header.Set("Content-Length", strconv.FormatInt(n, 10))
	}
}
