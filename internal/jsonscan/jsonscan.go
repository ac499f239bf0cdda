package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// SkipSpace returns the index of the first byte at or after i that is
// not JSON space, or len(b). It is small enough to be inlined.
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// HasLiteral reports whether b holds lit at i.
func HasLiteral(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// IsDigit reports whether c is a decimal digit.
func IsDigit(c byte) bool { return '0' <= c && c <= '9' }

// IsHex reports whether c is a hexadecimal digit, in either case.
func IsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// SkipDigits returns the index of the first byte at or after i that is
// not a decimal digit, or len(b).
func SkipDigits(b []byte, i int) int {
	for i < len(b) && IsDigit(b[i]) {
		i++
	}
	return i
}

// plain marks the bytes that may stand in a JSON string as they are and
// that a scan need not look at: printable ASCII but the quote and the
// backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// SkipPlain returns the index of the first byte at or after j that a
// string scan must stop at — a quote, a backslash, a control character
// or a byte beyond ASCII — or len(b). It reads eight bytes at a time. It
// checks nothing: what the stop byte means is the caller's to decide.
func SkipPlain(b []byte, j int) int {
	for len(b)-j >= 8 {
		if m := special(binary.LittleEndian.Uint64(b[j:])); m != 0 {
			return j + bits.TrailingZeros64(m)>>3
		}
		j += 8
	}
	for j < len(b) && plain[b[j]] {
		j++
	}
	return j
}

// special returns a mask with the high bit set in each of the eight bytes
// of x (little-endian) that SkipPlain must stop at; bits above the first
// such byte may also be set. Each term is the classic test for a zero
// byte (or a byte below n) across a word, which is exact up to and
// including the first byte it flags: a borrow only carries upwards.
func special(x uint64) uint64 {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	quote := x ^ ('"' * ones)
	backslash := x ^ ('\\' * ones)
	return ((quote-ones)&^quote | (backslash-ones)&^backslash | (x-0x20*ones)&^x | x) & highs
}

// Hex4 returns the UTF-16 code unit of the \uXXXX escape at b[j], or -1
// if b does not hold one there (no backslash-u, too short, or a byte that
// is not a hexadecimal digit).
func Hex4(b []byte, j int) rune {
	if len(b)-j < 6 || b[j] != '\\' || b[j+1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range b[j+2 : j+6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// AppendUnquote decodes a JSON string as encoding/json does and appends
// its contents to dst. s holds the string from the byte after its opening
// quote; AppendUnquote reads up to the first quote that is not escaped,
// or to the end of s if there is none, and returns dst extended and n,
// the index in s where it stopped (that quote, or len(s)).
//
// The decoding is encoding/json's: a \u escape of a UTF-16 surrogate pair
// is one character; a surrogate that is not half of a pair is U+FFFD, and
// what follows it is read anew; each byte of invalid UTF-8 is U+FFFD.
//
// It reports ok false, with n where it stopped, for a control character
// or a malformed or cut-off escape before the end. For the contents of a
// string that a validating scan has accepted (no quote, escapes well
// formed), it returns n == len(s) and ok true.
func AppendUnquote(dst, s []byte) (out []byte, n int, ok bool) {
	i := 0
	for {
		j := SkipPlain(s, i)
		dst = append(dst, s[i:j]...)
		if i = j; i >= len(s) {
			return dst, i, true
		}
		switch c := s[i]; {
		case c == '"':
			return dst, i, true
		case c == '\\':
			if i+1 >= len(s) {
				return dst, i, false
			}
			switch e := s[i+1]; e {
			case '"', '\\', '/':
				dst = append(dst, e)
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := Hex4(s, i)
				if r < 0 {
					return dst, i, false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if pair := utf16.DecodeRune(r, Hex4(s, i)); pair != utf8.RuneError {
						r = pair
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default:
				return dst, i, false
			}
			i += 2
		case c < ' ':
			return dst, i, false
		default: // beyond ASCII
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
		}
	}
}

// NumberEnd checks the number literal at b[i] against the JSON grammar
// (an optional minus, an integer part without leading zeros, an optional
// fraction, an optional exponent) and returns the index just past it,
// and whether it is a plain integer: no fraction, no exponent. It reports
// ok false if b holds no number literal at i. It does not look at what
// follows the literal: "1x" is the literal 1, then an x.
func NumberEnd(b []byte, i int) (end int, plain, ok bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return 0, false, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = SkipDigits(b, i+1)
	default:
		return 0, false, false
	}
	plain = true
	if i < len(b) && b[i] == '.' {
		plain = false
		j := SkipDigits(b, i+1)
		if j == i+1 {
			return 0, false, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		plain = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := SkipDigits(b, i)
		if j == i {
			return 0, false, false
		}
		i = j
	}
	return i, plain, true
}
