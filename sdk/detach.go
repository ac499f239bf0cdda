package sdk

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
type deadlines struct {
	cur atomic.Pointer[deadlineSlot]
	mu  sync.Mutex // serializes making a new slot
}

type deadlineSlot struct {
	ctx    context.Context
	cancel context.CancelFunc // never needed: the deadline releases it
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
	ctx, cancel := context.WithDeadline(context.Background(), until.Add(d))
	ds.cur.Store(&deadlineSlot{ctx: ctx, cancel: cancel, until: until})
	return ctx
}

// serves reports whether s is the slot of now's second.
func (s *deadlineSlot) serves(now time.Time) bool {
	return s != nil && now.Before(s.until) && !now.Before(s.until.Add(-time.Second))
}
