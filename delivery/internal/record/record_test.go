package record_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hookgate/hookgate/delivery/internal/record"
)

func TestMillis(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    time.Time
		ms   int64
		back time.Time // what Time(ms) returns
	}{
		{"zero", time.Time{}, 0, time.Time{}},
		{"epoch", time.Unix(0, 0), 0, time.Time{}}, // 0 is the zero time's
		{"utc", time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), 1714564800000, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)},
		{"zone", time.Date(2024, 5, 1, 14, 0, 0, 0, time.FixedZone("CEST", 2*3600)), 1714564800000, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)},
		{"sub-millisecond", time.Unix(1, 999_999), 1000, time.Unix(1, 0).UTC()},
		{"before 1970", time.Unix(-1, 0), -1000, time.Unix(-1, 0).UTC()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := record.Millis(tc.t)
			if ms != tc.ms {
				t.Errorf("Millis(%v) = %d, want %d", tc.t, ms, tc.ms)
			}
			if got := record.Time(ms); !got.Equal(tc.back) || got.Location() != tc.back.Location() {
				t.Errorf("Time(%d) = %v, want %v", ms, got, tc.back)
			}
		})
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    string
		n    int
		want string
	}{
		{"empty", "", 4, ""},
		{"shorter", "abc", 4, "abc"},
		{"exact", "abcd", 4, "abcd"},
		{"ascii", "abcdef", 4, "abcd"},
		{"on a boundary", "ab€", 5, "ab€"},
		{"inside a 3-byte rune", "ab€x", 4, "ab"},
		{"after its first byte", "ab€x", 3, "ab"},
		{"inside a 4-byte rune", "a😀b", 4, "a"},
		{"n zero", "abc", 0, ""},
		{"stray continuation bytes", "a\x80\x80\x80b", 3, ""}, // cut back over all of them
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := record.Clip(tc.s, tc.n); got != tc.want {
				t.Errorf("Clip(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
			}
		})
	}
}

// TestClipKeepsUTF8 cuts a text of characters of every length at every
// limit: the result is valid UTF-8, within the limit, a prefix, and at
// most one character short of it.
func TestClipKeepsUTF8(t *testing.T) {
	s := strings.Repeat("a\u00e9\u20ac\U0001F600", 8)
	for n := range len(s) + 2 {
		got := record.Clip(s, n)
		if !utf8.ValidString(got) || len(got) > n || !strings.HasPrefix(s, got) || n-len(got) >= utf8.UTFMax && len(got) < len(s) {
			t.Fatalf("Clip(s, %d) = %q", n, got)
		}
	}
}
