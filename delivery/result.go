package delivery

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookgate/hookgate/delivery/internal/record"
)

// AttemptFunc makes one delivery attempt of t and says how it went. It
// must honour ctx, which ends at the destination's AttemptTimeout or when
// the Engine stops. It is called from many goroutines at once.
type AttemptFunc func(ctx context.Context, t *Task) Result

// Result is how an attempt went.
type Result struct {
	// Delivered: the destination accepted the event (a 2xx).
	Delivered bool
	// StatusCode is the destination's HTTP status; 0 when no response
	// came.
	StatusCode int
	// RetryAfter is the wait the destination asked for (its Retry-After),
	// honoured up to the destination's MaxRetryAfter instead of the
	// backoff; 0 for none.
	RetryAfter time.Duration
	// Permanent: retrying cannot help (410 Gone): the delivery dies now.
	Permanent bool
	// Err says what failed. Its text is stored with the attempt (cut to
	// MaxErrorLen): it must hold no body and no secret.
	Err error
}

// ResultOf classifies the outcome of an HTTP attempt: resp and err as
// http.Client.Do returned them, now for an HTTP-date Retry-After. A 2xx is
// delivered; 410 Gone is permanent; anything else, and every transport
// error, is retried, after the response's Retry-After if it has one. A
// *url.Error is unwrapped to its cause, so that the stored text does not
// carry the URL (which may hold a token). It neither reads nor closes the
// body.
func ResultOf(resp *http.Response, err error, now time.Time) Result {
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Result{Err: err}
	}
	r := Result{StatusCode: resp.StatusCode}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		r.Delivered = true
	case resp.StatusCode == http.StatusGone:
		r.Permanent = true
	default:
		r.RetryAfter, _ = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return r
}

// ParseRetryAfter reads a Retry-After value, delay seconds or an HTTP
// date, as a wait from now, and reports whether v was readable. A date in
// the past is a wait of 0, readable; an empty or unreadable value is 0
// and not readable. A wait too long for a Duration is its maximum.
func ParseRetryAfter(v string, now time.Time) (wait time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 63); err == nil {
		if secs > uint64(math.MaxInt64/int64(time.Second)) {
			return math.MaxInt64, true
		}
		return time.Duration(secs) * time.Second, true
	} else if errors.Is(err, strconv.ErrRange) {
		return math.MaxInt64, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// errorText returns the text stored for r's failure, within MaxErrorLen.
func (r *Result) errorText() string {
	switch {
	case r.Err != nil:
		return clip(r.Err.Error())
	case r.Delivered:
		return ""
	case r.StatusCode == 0:
		return "no response"
	}
	return ""
}

// clip cuts s to MaxErrorLen bytes, on a rune boundary.
func clip(s string) string { return record.Clip(s, MaxErrorLen) }

// Backoff is an exponential backoff with full jitter: after the n-th
// failed attempt the next one waits a uniformly random time between 0 and
// min(Max, Initial × 2^(n-1)), so that the retries of many events failing
// together spread out. With Steps, the bounds are listed instead of
// doubling.
type Backoff struct {
	// Initial bounds the first wait. Leave it zero with Steps.
	//
	// default: 1s (DefaultBackoffInitial); unused with Steps
	Initial time.Duration
	// Max bounds every wait.
	//
	// default: 1h (DefaultBackoffMax); with Steps, the largest step
	Max time.Duration
	// Steps, when not empty, lists the bounds of the waits instead: the
	// wait after the n-th failed attempt is bounded by Steps[n-1], by
	// the last step once past the end, and by Max. A Sender's retry
	// schedule (package sdk/send) is one. Each step is 0 or more.
	//
	// default: none (the doubling of Initial)
	Steps []time.Duration
}

// Defaults of [Backoff].
const (
	DefaultBackoffInitial = time.Second
	DefaultBackoffMax     = time.Hour
)

// Delay returns the wait after failed attempt n (1 for the first), with r
// in [0, 1] as the jitter (values outside are clamped). A Backoff with
// Steps and no Max (one New has not resolved) caps nothing.
func (b Backoff) Delay(n int, r float64) time.Duration {
	c := b.bound(n)
	if !(r >= 0) { // NaN too
		r = 0
	}
	d := min(r, 1) * float64(c)
	if d >= math.MaxInt64 { // float64(c) may round up past it
		return c
	}
	return time.Duration(d)
}

// bound returns the most Delay may wait after failed attempt n.
func (b Backoff) bound(n int) time.Duration {
	if len(b.Steps) > 0 {
		c := b.Steps[min(max(n, 1), len(b.Steps))-1]
		if b.Max > 0 {
			c = min(c, b.Max)
		}
		return c
	}
	c := b.Initial
	for i := 1; i < n && c < b.Max; i++ {
		if c > b.Max/2 {
			c = b.Max
			break
		}
		c *= 2
	}
	return min(c, b.Max)
}

func (b *Backoff) resolve(field string) error {
	if len(b.Steps) > 0 {
		return b.resolveSteps(field)
	}
	if b.Initial == 0 {
		b.Initial = DefaultBackoffInitial
	}
	if b.Max == 0 {
		b.Max = max(DefaultBackoffMax, b.Initial)
	}
	if b.Initial < 0 || b.Max < b.Initial {
		return fmt.Errorf("delivery: %s: want 0 < Initial <= Max, got %v and %v", field, b.Initial, b.Max)
	}
	return nil
}

// resolveSteps checks a Backoff with Steps and fills its Max.
func (b *Backoff) resolveSteps(field string) error {
	if b.Initial != 0 {
		return fmt.Errorf("delivery: %s: set Initial or Steps, not both", field)
	}
	b.Steps = slices.Clone(b.Steps)
	for i, d := range b.Steps {
		if d < 0 {
			return fmt.Errorf("delivery: %s.Steps[%d] is negative (%v)", field, i, d)
		}
	}
	if b.Max == 0 {
		b.Max = slices.Max(b.Steps)
	}
	if b.Max < 0 {
		return fmt.Errorf("delivery: %s.Max is negative (%v)", field, b.Max)
	}
	return nil
}
