package receive

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlines hands out the contexts of Config.Detach. Requests arriving in
// the same second share one context, which ends Detach after the end of
// that second: one timer per second instead of one per request, and the
// contexts derived from it register with it directly.
//
// Seconds are read off the Receiver's clock (Config.Now); the timer runs
// on the real one, for the time from now to the slot's deadline. A slot
// whose timer has fired serves no one, so a clock that stands still (a
// test's) still gets a live context.
type deadlines struct {
	cur atomic.Pointer[deadlineSlot]
	mu  sync.Mutex // serializes making a new slot
}

type deadlineSlot struct {
	ctx    context.Context
	cancel context.CancelFunc // never needed: the timer releases it
	until  time.Time          // serves requests arriving before this
}

// get returns a context ending at least d after now.
func (ds *deadlines) get(now time.Time, d time.Duration) context.Context {
	if s := ds.cur.Load(); s.serves(now) {
		return s.ctx
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if s := ds.cur.Load(); s.serves(now) {
		return s.ctx
	}
	until := now.Truncate(time.Second).Add(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), until.Add(d).Sub(now))
	ds.cur.Store(&deadlineSlot{ctx: ctx, cancel: cancel, until: until})
	return ctx
}

// serves reports whether s is the slot of now's second, still running.
func (s *deadlineSlot) serves(now time.Time) bool {
	if s == nil || !now.Before(s.until) || now.Before(s.until.Add(-time.Second)) {
		return false
	}
	select {
	case <-s.ctx.Done(): // a lock-free look, unlike Err
		return false
	default:
		return true
	}
}
