package receive

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hookgate/hookgate/idempotency"
)

type ctxKey struct{}

// TestDetach checks Config.Detach: the next handler's context outlives the
// client's, keeps the request's values and the event, and ends after the
// configured time, taking contexts derived from it along.
func TestDetach(t *testing.T) {
	for _, tc := range []struct {
		name   string
		detach time.Duration
	}{
		{"detached", 300 * time.Millisecond},
		{"attached", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.Detach = tc.detach })
			type seen struct {
				errAfterHangUp error
				deadline       time.Time
				hasDeadline    bool
				value          any
				event          bool
				derivedEnded   time.Duration
			}
			got := make(chan seen, 1)
			clientCtx, hangUp := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
			defer hangUp()
			h.handler = h.rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var s seen
				ctx := r.Context()
				derived, cancel := context.WithCancel(ctx)
				defer cancel()
				hangUp() // the provider goes away mid-forward
				s.errAfterHangUp = ctx.Err()
				s.deadline, s.hasDeadline = ctx.Deadline()
				s.value = ctx.Value(ctxKey{})
				_, s.event = EventFrom(ctx)
				start := time.Now()
				select {
				case <-derived.Done():
					s.derivedEnded = time.Since(start)
				case <-time.After(3 * time.Second):
					s.derivedEnded = -1
				}
				got <- s
				w.WriteHeader(200)
			}))
			start := time.Now()
			h.do(h.request("evt_detach", `{"type":"a"}`, now0).WithContext(clientCtx))
			s := <-got
			if s.value != "v" || !s.event {
				t.Errorf("request value %v, event %v: want both through the context", s.value, s.event)
			}
			if tc.detach < 0 {
				if !errors.Is(s.errAfterHangUp, context.Canceled) || s.derivedEnded < 0 {
					t.Fatalf("attached: after the hang-up, err %v, derived context ended: %v", s.errAfterHangUp, s.derivedEnded >= 0)
				}
				return
			}
			if s.errAfterHangUp != nil {
				t.Fatalf("detached: the client's hang-up cancelled the forward: %v", s.errAfterHangUp)
			}
			if !s.hasDeadline || s.deadline.Before(start.Add(tc.detach)) || s.deadline.After(time.Now().Add(tc.detach+time.Second)) {
				t.Errorf("deadline %v (set %v), want within [Detach, Detach+1s] after arrival %v", s.deadline, s.hasDeadline, start)
			}
			if s.derivedEnded < 0 {
				t.Fatal("a context derived from the detached one did not end at its deadline")
			}
		})
	}
}

// TestDetachDefault: with dedup, Detach defaults to just under the lock
// TTL, the life of a claim; without dedup, or when negative, it is off.
func TestDetachDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		want time.Duration
	}{
		{"dedup", func(*Config) {}, idempotency.DefaultLockTTL - time.Second},
		{"no dedup", func(c *Config) { c.NoDedup = true }, 0},
		{"off", func(c *Config) { c.Detach = -1 }, -1},
		{"set", func(c *Config) { c.Detach = time.Second }, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := newHarness(t, nil).rc.cfg
			cfg.Detach, cfg.Dedup = 0, nil
			tc.cfg(&cfg)
			rc, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rc.cfg.Detach != tc.want {
				t.Fatalf("Detach %v, want %v", rc.cfg.Detach, tc.want)
			}
		})
	}
}
