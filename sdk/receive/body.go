package receive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
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

// firstRead caps the buffer a declared Content-Length gets before any of
// the body arrived: a larger body's buffer grows (doubling) with the bytes
// that do arrive, so that connections that declare a large body and send
// nothing cost little before anything is authenticated.
const firstRead = 32 << 10

// readBody reads the whole body within limit, refusing a declared
// Content-Length over it before reading anything. A body of declared size
// is read into a pooled buffer. With a positive timeout, the body must
// arrive within it (a connection read deadline, when the server supports
// one): a body that dribbles in is refused as unreadable.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, deadline time.Time) (received, error) {
	if r.ContentLength > limit {
		return received{}, fmt.Errorf("%w: %d bytes declared, limit %d", ErrBodyTooLarge, r.ContentLength, limit)
	}
	if r.Body == nil || r.Body == http.NoBody {
		return received{b: []byte{}}, nil
	}
	if !deadline.IsZero() {
		// Cleared once the body is in: net/http's background read of the
		// idle connection would otherwise hit it and cancel the request's
		// context.
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(deadline) == nil {
			defer rc.SetReadDeadline(time.Time{})
		}
	}
	var (
		rb  received
		err error
	)
	if r.ContentLength >= 0 {
		rb, err = readDeclared(r.Body, r.ContentLength, limit)
	} else {
		rb.b, err = readAll(io.LimitReader(r.Body, limit+1), nil)
		if err == nil && int64(len(rb.b)) > limit {
			err = fmt.Errorf("%w: limit %d", ErrBodyTooLarge, limit)
		}
	}
	if err != nil {
		rb.recycle()
		if errors.Is(err, errBodyDeadline) {
			err = fmt.Errorf("%w: the body did not arrive in time", ErrBodyUnreadable)
		}
		return received{}, err
	}
	return rb, nil
}

// readDeclared reads a body of declared length n into a pooled buffer of
// at most firstRead bytes at first, grown as bytes arrive, with room for
// one byte more than n to notice a body longer than declared.
func readDeclared(body io.Reader, n, limit int64) (received, error) {
	var rb received
	rb.setBuf(min(n+1, firstRead))
	got := 0
	for {
		if got == len(rb.b) {
			if int64(got) > n {
				break // longer than declared
			}
			rb.grow(min(2*int64(len(rb.b)), n+1), got)
		}
		m, err := body.Read(rb.b[got:])
		got += m
		if err == io.EOF {
			if int64(got) != n {
				return rb, fmt.Errorf("%w: %d of %d declared bytes before the body ended", ErrBodyUnreadable, got, n)
			}
			rb.b = rb.b[:got]
			return rb, nil
		}
		if err != nil {
			return rb, bodyError(err)
		}
	}
	// More than declared: read on up to the limit to decide, in a buffer
	// of its own.
	rest, err := readAll(io.LimitReader(body, limit+1-int64(got)), bytes.Clone(rb.b))
	rb.recycle()
	if err != nil {
		return received{}, err
	}
	if int64(len(rest)) > limit {
		return received{}, fmt.Errorf("%w: limit %d", ErrBodyTooLarge, limit)
	}
	return received{b: rest}, nil
}

// setBuf gives rb a buffer of n bytes, pooled when n is within the pools.
func (rb *received) setBuf(n int64) {
	if rb.pb = getBuf(n); rb.pb != nil {
		rb.b = rb.pb.b[:n]
	} else {
		rb.b = make([]byte, n)
	}
}

// grow gives rb a buffer of n bytes holding the first got of the old one.
func (rb *received) grow(n int64, got int) {
	old, oldPB := rb.b, rb.pb
	rb.setBuf(n)
	copy(rb.b, old[:got])
	if oldPB != nil {
		putBuf(oldPB)
	}
}

func readAll(r io.Reader, b []byte) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, bodyError(err)
	}
	return buf.Bytes(), nil
}

// errBodyDeadline marks a body read that ran into Config.BodyTimeout.
var errBodyDeadline = errors.New("receive: body read deadline")

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("%w: limit %d", ErrBodyTooLarge, mbe.Limit)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errBodyDeadline
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
