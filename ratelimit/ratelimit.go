package ratelimit

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"
)

// Decision is the outcome of one request against a limit, with what an
// HTTP response needs to tell the client about it.
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Limit is the bucket size: how many requests may arrive at once
	// after a quiet period (the quota of the RateLimit-Policy field).
	Limit int
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// RetryAfter is how long until one request would be allowed; zero
	// when Allowed.
	RetryAfter time.Duration
	// Reset is how long until the bucket is full again (Remaining equals
	// Limit) if no request arrives meanwhile.
	Reset time.Duration
	// Window is the time the bucket takes to refill from empty, Limit
	// divided by the rate: the window of the RateLimit-Policy field.
	Window time.Duration
	// Degraded reports that a shared limiter could not reach its store
	// and this decision came from its local fallback.
	Degraded bool
}

// Limiter decides whether a request identified by key may proceed.
// Implementations are safe for concurrent use.
type Limiter interface {
	// Allow takes one request from key's budget. An error means no
	// decision could be made (for example, ctx was canceled); it is
	// never a denial, which is a Decision with Allowed false.
	Allow(ctx context.Context, key string) (Decision, error)
}

// HeaderValues returns the values of the RateLimit and RateLimit-Policy
// response fields for d, in the Structured Fields syntax of
// draft-ietf-httpapi-ratelimit-headers (revisions 08 to 11):
//
//	RateLimit: "default";r=0;t=3
//	RateLimit-Policy: "default";q=100;w=10
//
// r is d.Remaining, t is d.Reset in whole seconds rounded up, q is
// d.Limit and w is d.Window in whole seconds rounded up (at least 1; left
// out when d.Window is zero). The policy name is sent as a quoted string;
// "" means "default", and characters that a Structured Fields string
// cannot hold are replaced with "?".
func HeaderValues(d Decision, policyName string) (rateLimit, rateLimitPolicy string) {
	name := sfString(policyName)
	rateLimit = name + ";r=" + strconv.Itoa(max(d.Remaining, 0)) + ";t=" + strconv.FormatInt(ceilSeconds(d.Reset), 10)
	rateLimitPolicy = name + ";q=" + strconv.Itoa(max(d.Limit, 0))
	if d.Window > 0 {
		rateLimitPolicy += ";w=" + strconv.FormatInt(max(ceilSeconds(d.Window), 1), 10)
	}
	return rateLimit, rateLimitPolicy
}

// RetryAfter returns the value of the Retry-After response field for a
// denied request: d.RetryAfter in whole seconds, rounded up and at least
// 1. It returns "" when d.Allowed.
func RetryAfter(d Decision) string {
	if d.Allowed {
		return ""
	}
	return strconv.FormatInt(max(ceilSeconds(d.RetryAfter), 1), 10)
}

// ceilSeconds returns d in seconds, rounded up; 0 for d <= 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d-1)/time.Second) + 1
}

// sfString renders s as a Structured Fields string (RFC 9651, 3.3.3):
// printable ASCII between quotes, with '"' and '\' escaped.
func sfString(s string) string {
	if s == "" {
		s = "default"
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// DefaultBurst is the burst used when a Config leaves it zero: the
// number of events in one second at rate, at least 1.
func DefaultBurst(rate float64) int {
	if rate >= math.MaxInt32 {
		return math.MaxInt32
	}
	return max(1, int(math.Ceil(rate)))
}

// seconds converts a number of seconds to a Duration, rounding up to the
// nanosecond and saturating instead of overflowing.
func seconds(s float64) time.Duration {
	ns := math.Ceil(s * float64(time.Second))
	switch {
	case ns <= 0 || math.IsNaN(ns):
		return 0
	case ns >= math.MaxInt64:
		return math.MaxInt64
	}
	return time.Duration(ns)
}
