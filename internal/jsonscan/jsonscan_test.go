package jsonscan

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestSkipSpace(t *testing.T) {
	tests := []struct {
		in   string
		i    int
		want int
	}{
		{"", 0, 0},
		{"x", 0, 0},
		{" \t\r\nx", 0, 4},
		{"  ", 0, 2},
		{"a \v", 1, 2}, // \v is not JSON space
		{"a \f", 1, 2}, // nor is \f
		{"\u00a0", 0, 0},
		{"ab", 5, 5}, // past the end: nothing to read
	}
	for _, tt := range tests {
		if got := SkipSpace([]byte(tt.in), tt.i); got != tt.want {
			t.Errorf("SkipSpace(%q, %d) = %d, want %d", tt.in, tt.i, got, tt.want)
		}
	}
}

func TestSkipPlain(t *testing.T) {
	tests := []struct {
		in   string
		j    int
		want int
	}{
		{"", 0, 0},
		{"abc", 0, 3},
		{`abc"`, 0, 3},
		{`abc\n`, 1, 3},
		{"abcdefghijklmnop\"", 0, 16}, // two whole words, then the tail
		{"abcdefgh\x1fijkl", 0, 8},
		{"abcdefgh\x7fijkl", 0, 13}, // DEL is plain
		{"abcdefghijé", 0, 10},
		{"é", 0, 0},
		{"\x00", 0, 0},
		{`"abc"`, 1, 4},
		{"abcdefghijklmnopq", 3, 17},
	}
	for _, tt := range tests {
		if got := SkipPlain([]byte(tt.in), tt.j); got != tt.want {
			t.Errorf("SkipPlain(%q, %d) = %d, want %d", tt.in, tt.j, got, tt.want)
		}
	}
}

// TestSpecial checks special against a byte-by-byte reference: each of
// the eight positions with each byte value, among plain bytes, and random
// words.
func TestSpecial(t *testing.T) {
	firstSpecial := func(w [8]byte) int {
		for i, c := range w {
			if !plain[c] {
				return i
			}
		}
		return 8
	}
	check := func(w [8]byte) {
		t.Helper()
		m := special(binary.LittleEndian.Uint64(w[:]))
		got := 8
		if m != 0 {
			for got = 0; m&(0x80<<(8*got)) == 0; got++ {
			}
		}
		if want := firstSpecial(w); got != want {
			t.Fatalf("special(%q): first flagged byte %d, want %d", w[:], got, want)
		}
	}
	for pos := range 8 {
		for c := range 256 {
			w := [8]byte{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}
			w[pos] = byte(c)
			check(w)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		// Make special bytes rarer, so that their positions vary.
		for i := range w {
			if r.IntN(3) > 0 {
				w[i] = byte(0x20 + r.IntN(0x60))
			}
		}
		check(w)
	}
}

func TestHex4(t *testing.T) {
	tests := []struct {
		in   string
		j    int
		want rune
	}{
		{`\u0041`, 0, 'A'},
		{`\uFFfd`, 0, 0xfffd},
		{`\ud83d`, 0, 0xd83d},
		{`x\u00e9`, 1, 0xe9},
		{`\u00e`, 0, -1}, // too short
		{`\u00eg`, 0, -1},
		{`\U00e9`, 0, -1},
		{`/u00e9`, 0, -1},
		{`\u00e9`, 1, -1},
		{``, 0, -1},
	}
	for _, tt := range tests {
		if got := Hex4([]byte(tt.in), tt.j); got != tt.want {
			t.Errorf("Hex4(%q, %d) = %d, want %d", tt.in, tt.j, got, tt.want)
		}
	}
}

func TestIsDigitIsHex(t *testing.T) {
	for c := range 256 {
		b := byte(c)
		if want := strings.IndexByte("0123456789", b) >= 0; IsDigit(b) != want {
			t.Errorf("IsDigit(%q) = %v", b, !want)
		}
		if want := strings.IndexByte("0123456789abcdefABCDEF", b) >= 0; IsHex(b) != want {
			t.Errorf("IsHex(%q) = %v", b, !want)
		}
	}
}

func TestAppendUnquote(t *testing.T) {
	tests := []struct {
		in   string // after the opening quote
		want string
		n    int
		ok   bool
	}{
		{`"`, "", 0, true},
		{`abc"`, "abc", 3, true},
		{`abc"def"`, "abc", 3, true},
		{`abc`, "abc", 3, true}, // no closing quote: read to the end
		{`a\"b"`, `a"b`, 4, true},
		{`\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t", 16, true},
		{`\u00e9\u00E9"`, "éé", 12, true},
		{`\ud83d\ude00"`, "😀", 12, true},
		{`\ud800"`, "\uFFFD", 6, true},
		{`\ud800\u0041"`, "\uFFFDA", 12, true},
		{`\udc00\ud800"`, "\uFFFD\uFFFD", 12, true},
		{`\ud83d\ud83d\ude00"`, "\uFFFD😀", 18, true},
		{`\ud800x"`, "\uFFFDx", 7, true},
		{"é ✓ 𝄞\"", "é ✓ 𝄞", len("é ✓ 𝄞"), true},
		{"a\xffb\"", "a\uFFFDb", 3, true},
		{"\xc3\"", "\uFFFD", 1, true},
		{"\xed\xa0\x80\"", "\uFFFD\uFFFD\uFFFD", 3, true}, // an encoded surrogate
		{"abcdefghijklmnopqrstuvwxyz\\n\"", "abcdefghijklmnopqrstuvwxyz\n", 28, true},
		// refused
		{"a\tb\"", "a", 1, false},
		{"\x00", "", 0, false},
		{`ab\x"`, "ab", 2, false},
		{`ab\`, "ab", 2, false},
		{`\u12"`, "", 0, false},
		{`\u12g4"`, "", 0, false},
		{`\ud83d\ude0"`, "\uFFFD", 6, false},
	}
	for _, tt := range tests {
		out, n, ok := AppendUnquote([]byte("<"), []byte(tt.in))
		if string(out) != "<"+tt.want || n != tt.n || ok != tt.ok {
			t.Errorf("AppendUnquote(%q) = %q, %d, %v; want %q, %d, %v", tt.in, out[1:], n, ok, tt.want, tt.n, tt.ok)
		}
	}
}

// FuzzAppendUnquote checks AppendUnquote against encoding/json: the
// string it reads decodes there to what it appends, and what it refuses
// encoding/json refuses.
func FuzzAppendUnquote(f *testing.F) {
	for _, s := range []string{
		`abc"`, `abc`, `a\"b"c`, `\"\\\/\b\f\n\r\t"`, `\u00e9\ud83d\ude00\ud800\udc00x\ud800"`,
		`\ud800\u0041"`, `\udc00\ud800"`, `\ud83d\ud83d\ude00"`, "\xff\xc3\xed\xa0\x80\"", "a\tb\"",
		`\x"`, `\u12g4"`, `ab\`, "é ✓ 𝄞 abcdefghijklmnop\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		out, n, ok := AppendUnquote(nil, s)
		if n < 0 || n > len(s) || n < len(s) && ok && s[n] != '"' {
			t.Fatalf("AppendUnquote(%q): n = %d, ok %v", s, n, ok)
		}
		quoted := append([]byte{'"'}, s[:n]...)
		quoted = append(quoted, '"')
		if !ok {
			quoted = append([]byte{'"'}, s...)
			quoted = append(quoted, '"')
		}
		var want string
		err := json.Unmarshal(quoted, &want)
		if !ok {
			if err == nil {
				t.Fatalf("AppendUnquote(%q) refused it, encoding/json decodes %q as %q", s, quoted, want)
			}
			return
		}
		if err != nil {
			t.Fatalf("AppendUnquote(%q) = %q, encoding/json refuses %q: %v", s, out, quoted, err)
		}
		if string(out) != want {
			t.Fatalf("AppendUnquote(%q) = %q, encoding/json %q", s, out, want)
		}
	})
}

func TestNumberEnd(t *testing.T) {
	tests := []struct {
		in    string
		i     int
		end   int
		plain bool
		ok    bool
	}{
		{"0", 0, 1, true, true},
		{"-0", 0, 2, true, true},
		{"123", 0, 3, true, true},
		{"-123,", 0, 4, true, true},
		{"01", 0, 1, true, true}, // the literal 0, then a 1
		{"1x", 0, 1, true, true},
		{"1.5", 0, 3, false, true},
		{"1e9", 0, 3, false, true},
		{"-12.0E+2]", 0, 8, false, true},
		{"1.5e-3", 0, 6, false, true},
		{"[42]", 1, 3, true, true},
		// refused
		{"", 0, 0, false, false},
		{"-", 0, 0, false, false},
		{"+1", 0, 0, false, false},
		{".5", 0, 0, false, false},
		{"1.", 0, 0, false, false},
		{"1.e5", 0, 0, false, false},
		{"1e", 0, 0, false, false},
		{"1e+", 0, 0, false, false},
		{"-a", 0, 0, false, false},
		{"x", 0, 0, false, false},
	}
	for _, tt := range tests {
		end, plain, ok := NumberEnd([]byte(tt.in), tt.i)
		if end != tt.end || plain != tt.plain || ok != tt.ok {
			t.Errorf("NumberEnd(%q, %d) = %d, %v, %v; want %d, %v, %v", tt.in, tt.i, end, plain, ok, tt.end, tt.plain, tt.ok)
		}
	}
}

// FuzzNumberEnd checks NumberEnd against encoding/json: a literal it
// accepts, and nothing longer, is a number there.
func FuzzNumberEnd(f *testing.F) {
	for _, s := range []string{"0", "-0", "1.5e-3", "01", "1.", "-", "12e+", "1E400"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		end, _, ok := NumberEnd(s, 0)
		valid := func(b []byte) bool {
			var n json.Number
			return len(b) > 0 && b[0] != '"' && json.Unmarshal(b, &n) == nil && string(n) == string(b)
		}
		if ok && !valid(s[:end]) {
			t.Fatalf("NumberEnd(%q) accepted %q, encoding/json refuses it", s, s[:end])
		}
		if !ok && valid(s) {
			t.Fatalf("NumberEnd(%q) refused it, encoding/json accepts it", s)
		}
		if ok && end < len(s) && valid(s) {
			t.Fatalf("NumberEnd(%q) stopped at %d, encoding/json reads it whole", s, end)
		}
	})
}

func ExampleAppendUnquote() {
	body := []byte(`{"name":"caf\u00e9 \ud83d\ude00","n":1}`)
	i := 8 // the opening quote of the value
	out, n, ok := AppendUnquote(nil, body[i+1:])
	fmt.Println(string(out), ok, string(body[i+1+n:]))
	// Output: café 😀 true ","n":1}
}
