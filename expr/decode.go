package expr

import (
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/hookgate/hookgate/internal/jsonscan"
)

// maxDepth is how deeply arrays and objects may nest in a payload:
// encoding/json's limit, so a body decodes here exactly when it decodes
// there. The decoder recurses once per level, as encoding/json's does: at
// this depth that is 2 to 4 MB of goroutine stack, for a body of 20 KB.
const maxDepth = 10000

// decodePayload decodes body as one JSON value followed by nothing but
// space, in one pass over its bytes, straight into the CEL values that
// payload holds: an object becomes types.NewStringInterfaceMap over a
// map[string]any of ref.Val, an array types.NewRefValList, a string
// types.String, true and false types.Bool, null types.NullValue.
//
// A number becomes a types.Int when its literal is an integer that fits in
// int64, else a types.Double. exact maps the bits of each double that does
// not print back as the decimal it was written as to that decimal's text
// (see Input.exact), or is nil when there is none.
//
// What it accepts and what it decodes are encoding/json's (decoding into
// any with UseNumber, then the conversions above): the last of repeated
// keys wins, invalid UTF-8 and lone surrogates in strings become U+FFFD,
// nesting deeper than maxDepth is refused. A body that is empty, malformed
// or followed by more than space decodes to null.
func decodePayload(body []byte) (payload ref.Val, exact map[uint64]string) {
	d := decoders.Get().(*decoder)
	defer d.release()
	d.b = body
	d.i = jsonscan.SkipSpace(body, 0)
	v := d.value(0)
	if v == nil || jsonscan.SkipSpace(body, d.i) != len(body) {
		return types.NullValue, nil
	}
	return v, d.exact()
}

// decoder is the state of one decodePayload. Its slices are scratch space
// kept between bodies (decoders pools them): vals and mems hold the
// elements and members of the arrays and objects being read, each
// container's on top of its parent's, so that each container is built at
// its final size once it ends.
type decoder struct {
	b []byte // the body
	i int    // the next byte to read
	// s is a copy of the body, made at the first string (or number text
	// kept for exact): a string or key without escapes or invalid UTF-8
	// is a slice of it, so that reading one allocates nothing.
	s    string
	vals []ref.Val
	mems []member
	// valsUsed and memsUsed are how much of vals and mems this body has
	// used: what release clears.
	valsUsed, memsUsed int
	// nums are the numbers read as doubles, in the order of the body,
	// less those of values a repeated key replaced: what exact is built
	// from.
	nums []number
	buf  []byte // where a string with escapes is decoded
}

// member is an object member being read. Its value's numbers are in nums
// from from on, up to the next member's from.
type member struct {
	key  string
	val  ref.Val
	from int
}

// number is a number read as a double: the bits of its float64, and its
// text if that float64 does not print back as the same decimal.
type number struct {
	bits uint64
	text string
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

// maxKeep bounds the scratch space a pooled decoder keeps, in entries.
const maxKeep = 4096

// release clears d and puts it back in the pool, holding no value of the
// body it decoded.
func (d *decoder) release() {
	clear(d.vals[:max(d.valsUsed, len(d.vals))])
	clear(d.mems[:max(d.memsUsed, len(d.mems))])
	clear(d.nums)
	d.valsUsed, d.memsUsed = 0, 0
	d.b, d.s = nil, ""
	d.vals, d.mems, d.nums, d.buf = d.vals[:0], d.mems[:0], d.nums[:0], d.buf[:0]
	if cap(d.vals) > maxKeep || cap(d.mems) > maxKeep || cap(d.nums) > maxKeep || cap(d.buf) > 16*maxKeep {
		return // let the collector have it
	}
	decoders.Put(d)
}

// value reads the value at d.b[d.i], inside depth arrays and objects, and
// returns it, or nil if the body is not JSON there.
func (d *decoder) value(depth int) ref.Val {
	b := d.b
	if d.i >= len(b) {
		return nil
	}
	switch b[d.i] {
	case '"':
		s, ok := d.str()
		if !ok {
			return nil
		}
		return types.String(s)
	case '{':
		return d.object(depth + 1)
	case '[':
		return d.array(depth + 1)
	case 't':
		return d.literal("true", types.True)
	case 'f':
		return d.literal("false", types.False)
	case 'n':
		return d.literal("null", types.NullValue)
	}
	return d.number()
}

func (d *decoder) literal(lit string, v ref.Val) ref.Val {
	if !jsonscan.HasLiteral(d.b, d.i, lit) {
		return nil
	}
	d.i += len(lit)
	return v
}

// object reads the object at d.b[d.i], the depth'th container down.
func (d *decoder) object(depth int) ref.Val {
	if depth > maxDepth {
		return nil
	}
	b := d.b
	d.i = jsonscan.SkipSpace(b, d.i+1)
	base := len(d.mems)
	if d.i < len(b) && b[d.i] == '}' {
		d.i++
		return types.NewStringInterfaceMap(adapter, make(map[string]any))
	}
	for {
		if d.i >= len(b) || b[d.i] != '"' {
			return nil
		}
		key, ok := d.str()
		if !ok {
			return nil
		}
		if d.i = jsonscan.SkipSpace(b, d.i); d.i >= len(b) || b[d.i] != ':' {
			return nil
		}
		d.i = jsonscan.SkipSpace(b, d.i+1)
		from := len(d.nums)
		v := d.value(depth)
		if v == nil {
			return nil
		}
		d.mems = append(d.mems, member{key: key, val: v, from: from})
		more, ok := d.next('}')
		if !ok {
			return nil
		}
		if !more {
			break
		}
	}
	mems := d.mems[base:]
	m := make(map[string]any, len(mems))
	for _, mem := range mems {
		m[mem.key] = mem.val
	}
	if len(m) < len(mems) {
		d.dropReplaced(mems)
	}
	d.memsUsed = max(d.memsUsed, len(d.mems))
	d.mems = d.mems[:base]
	return types.NewStringInterfaceMap(adapter, m)
}

// dropReplaced removes from nums the numbers of the members of one object
// that a later member of the same key replaced, as if they had never been
// read: encoding/json keeps only the last.
func (d *decoder) dropReplaced(mems []member) {
	first := mems[0].from
	if len(d.nums) == first {
		return // no numbers
	}
	last := make(map[string]int, len(mems))
	for i, mem := range mems {
		last[mem.key] = i
	}
	w := first
	for i, mem := range mems {
		to := len(d.nums)
		if i+1 < len(mems) {
			to = mems[i+1].from
		}
		if last[mem.key] == i {
			w += copy(d.nums[w:], d.nums[mem.from:to])
		}
	}
	clear(d.nums[w:])
	d.nums = d.nums[:w]
}

// next reads what follows a member or an element: a comma (more) or
// the container's closing byte, which it moves past; ok is false for
// anything else.
func (d *decoder) next(closing byte) (more, ok bool) {
	if d.i = jsonscan.SkipSpace(d.b, d.i); d.i >= len(d.b) {
		return false, false
	}
	switch d.b[d.i] {
	case ',':
		d.i = jsonscan.SkipSpace(d.b, d.i+1)
		return true, true
	case closing:
		d.i++
		return false, true
	}
	return false, false
}

// array reads the array at d.b[d.i], the depth'th container down.
func (d *decoder) array(depth int) ref.Val {
	if depth > maxDepth {
		return nil
	}
	b := d.b
	d.i = jsonscan.SkipSpace(b, d.i+1)
	base := len(d.vals)
	if d.i < len(b) && b[d.i] == ']' {
		d.i++
		return types.NewRefValList(adapter, []ref.Val{})
	}
	for {
		v := d.value(depth)
		if v == nil {
			return nil
		}
		d.vals = append(d.vals, v)
		more, ok := d.next(']')
		if !ok {
			return nil
		}
		if !more {
			break
		}
	}
	l := make([]ref.Val, len(d.vals)-base)
	copy(l, d.vals[base:])
	d.valsUsed = max(d.valsUsed, len(d.vals))
	d.vals = d.vals[:base]
	return types.NewRefValList(adapter, l)
}

// str reads the string at d.b[d.i], quotes included.
func (d *decoder) str() (string, bool) {
	b := d.b
	start := d.i + 1
	j := jsonscan.SkipPlain(b, start)
	for j < len(b) {
		c := b[j]
		if c == '"' {
			if d.s == "" {
				d.s = string(b)
			}
			d.i = j + 1
			return d.s[start:j], true
		}
		if c < utf8.RuneSelf { // a backslash or a control character
			break
		}
		r, size := utf8.DecodeRune(b[j:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		j = jsonscan.SkipPlain(b, j+size)
	}
	return d.unquote(start, j)
}

// unquote decodes the string that starts at d.b[start] and whose bytes
// before d.b[j] need no decoding, as encoding/json does.
func (d *decoder) unquote(start, j int) (string, bool) {
	b := d.b
	out, n, ok := jsonscan.AppendUnquote(append(d.buf[:0], b[start:j]...), b[j:])
	d.buf = out
	if !ok || j+n >= len(b) {
		return "", false
	}
	d.i = j + n + 1
	return string(out), true
}

// number reads the number at d.b[d.i].
func (d *decoder) number() ref.Val {
	b := d.b
	start := d.i
	end, plain, ok := jsonscan.NumberEnd(b, start)
	if !ok {
		return nil
	}
	d.i = end
	lit := b[start:end]
	if plain {
		digits := lit
		if digits[0] == '-' {
			digits = digits[1:]
		}
		if len(digits) <= 18 {
			var v int64
			for _, c := range digits {
				v = v*10 + int64(c-'0')
			}
			if len(digits) < len(lit) {
				v = -v
			}
			return types.Int(v)
		}
		if v, err := strconv.ParseInt(string(lit), 10, 64); err == nil {
			return types.Int(v)
		}
	}
	f, _ := strconv.ParseFloat(string(lit), 64) // the syntax is checked: a range error at most, f ±Inf
	num := number{bits: math.Float64bits(f)}
	if !shortDecimal(lit) {
		var buf [32]byte
		if !sameDecimal(string(lit), string(appendFloat(buf[:0], f))) {
			if d.s == "" {
				d.s = string(b)
			}
			num.text = d.s[start:end]
		}
	}
	d.nums = append(d.nums, num)
	return types.Double(f)
}

// shortDecimal reports whether the number literal lit, which
// jsonscan.NumberEnd accepted, is a decimal that the float64 it reads as
// prints back as, without printing it.
//
// The value is 0.ddd × 10^e, ddd the significant digits. A float64 tells
// apart any two decimals of at most 15 significant digits in its normal
// range, so the shortest text that reads back as that float64 is that
// decimal. Any other number is for the caller to check by printing it (so
// is a zero with an exponent too large to read).
func shortDecimal(lit []byte) bool {
	// The literal's digits, integer and fraction part together, are n
	// digits; lead and trail are the positions of the first and last that
	// are not 0 (-1 if none is); point is how many are in the integer part.
	n, lead, trail, point, exp := 0, -1, -1, -1, 0
	for i := 0; i < len(lit); i++ {
		switch c := lit[i]; c {
		case '-':
		case '.':
			point = n
		case 'e', 'E':
			expNeg := lit[i+1] == '-'
			for _, c := range lit[i+1:] {
				if jsonscan.IsDigit(c) && exp < 1e6 { // beyond any float64; saturated, not wrapped
					exp = exp*10 + int(c-'0')
				}
			}
			if expNeg {
				exp = -exp
			}
			i = len(lit)
		default: // a digit
			if c != '0' {
				if lead < 0 {
					lead = n
				}
				trail = n
			}
			n++
		}
	}
	if point < 0 {
		point = n
	}
	sig, e := trail-lead+1, point-lead+exp
	return exp > -1e6 && exp < 1e6 && (lead < 0 || sig <= 15 && e >= -306 && e <= 308)
}

// exact builds decodePayload's exact from nums. Of two decimals with the
// same float64, neither is kept: the float64 is written. Of two texts of
// the same decimal (1.10…01 and 1.10…010) the first in the body is kept.
func (d *decoder) exact() map[uint64]string {
	var exact map[uint64]string
	for _, num := range d.nums {
		if num.text == "" {
			continue
		}
		if exact == nil {
			exact = make(map[uint64]string)
		}
		if prev, ok := exact[num.bits]; !ok {
			exact[num.bits] = num.text
		} else if prev != "" && !sameDecimal(prev, num.text) {
			exact[num.bits] = ""
		}
	}
	if exact == nil {
		return nil
	}
	for _, num := range d.nums {
		if _, ok := exact[num.bits]; ok && num.text == "" {
			exact[num.bits] = ""
		}
	}
	return exact
}
