// Package record holds the rules by which package delivery and its
// stores (boltstore, redisstore) write the values they record: times as
// Unix milliseconds, with 0 for the zero time, and error text cut to
// delivery.MaxErrorLen bytes without splitting a character.
package record

import "time"

// Millis returns t in Unix milliseconds, and 0 for the zero time (whose
// Unix milliseconds are far below 0): the stores' encoding of every time
// they record.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Time inverts [Millis]: the zero time for 0, else the instant, in UTC.
func Time(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Clip cuts s to at most n bytes, on a rune boundary: a character that
// the cut would split is dropped whole. An s of n bytes or fewer is
// returned as it is.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xc0 == 0x80 { // a continuation byte: inside a character
		i--
	}
	return s[:i]
}
