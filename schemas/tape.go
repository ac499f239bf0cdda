package schemas

import (
	"encoding/json"
	"math"
	"sync"
	"unicode/utf8"

	"github.com/hookgate/hookgate/internal/jsonscan"
)

// A tape is a body parsed in one pass into a flat list of tokens, one per
// JSON value and object key, in document order. Nothing is decoded: a
// token points at its bytes in the body. The validator walks the tape
// instead of a tree of maps and slices, so a valid body costs no
// allocation per value.
//
// An object's token is followed by its members, each a key token (a
// string) and the value's tokens; an array's by its elements' tokens. A
// container's token records where its tokens end, so a value is skipped
// in one step.
type tape struct {
	toks  []tok
	stack []frame // the open containers while parsing
}

// tokKind is the JSON type of a token.
type tokKind uint8

const (
	kNull tokKind = iota
	kFalse
	kTrue
	kNumber
	kString
	kArray
	kObject
)

// tok is one value or key of a body. It has four fields, all of them
// words or smaller, so that the compiler keeps a new token in registers
// rather than assembling it in memory (which costs a stalled load per
// token).
type tok struct {
	// info holds the tokKind in its low bits, and the flags tEsc and
	// tWide.
	info uint8
	// off and end delimit the token's bytes: for a string its contents
	// between the quotes, for a number its literal. For an array or object
	// off is its first byte and end is the index of the first token after
	// its last member.
	off, end uint32
	// n is the number of elements of an array or members of an object.
	n uint32
}

const (
	kindMask = 7
	// tEsc marks a string with escape sequences, and a number that is
	// not a plain integer (it has a fraction or an exponent).
	tEsc = 8
	// tWide marks a string with bytes beyond ASCII.
	tWide = 16
)

func (t *tok) kind() tokKind { return tokKind(t.info & kindMask) }
func (t *tok) esc() bool     { return t.info&tEsc != 0 }
func (t *tok) wide() bool    { return t.info&tWide != 0 }

// next returns the index of the token after the value at i.
func (t *tape) next(i int) int {
	if k := t.toks[i].kind(); k == kArray || k == kObject {
		return int(t.toks[i].end)
	}
	return i + 1
}

var tapes = sync.Pool{New: func() any { return new(tape) }}

// maxPooledToks bounds the tapes kept for reuse, so that one huge body
// does not pin its tape for good.
const maxPooledToks = 1 << 16

func getTape() *tape { return tapes.Get().(*tape) }

func putTape(t *tape) {
	if cap(t.toks) > maxPooledToks {
		return
	}
	t.toks = t.toks[:0]
	t.stack = t.stack[:0]
	tapes.Put(t)
}

// parse fills t with the tokens of body and reports whether body is one
// well-formed JSON value in UTF-8, nested at most maxDepth deep, whose
// number literals fit the limits of scan. It reports false for anything
// else, without saying why: the caller then runs the slower checks that
// name the problem. For a body it accepts, encoding/json accepts the body
// too and decodes the same document.
func (t *tape) parse(body []byte, maxDepth int) bool {
	if len(body) >= math.MaxUint32 {
		return false
	}
	toks, stack, ok := parseTokens(body, maxDepth, t.toks[:0], t.stack[:0])
	t.toks, t.stack = toks, stack
	return ok
}

// frame is an array or object being parsed.
type frame struct {
	tok uint32 // its token
	n   uint32 // members or elements so far
	obj bool
}

// parseTokens appends the tokens of b to toks; see parse. It returns the
// slices it grew, so that their memory is reused. It is one loop, with
// the common cases written out in place, because it runs over every byte
// of every body validated.
func parseTokens(b []byte, maxDepth int, toks []tok, stack []frame) ([]tok, []frame, bool) {
	i := jsonscan.SkipSpace(b, 0)
	wantKey := false // an object's key comes next, then a colon and a value
	for {
		// A value, or a key, starts at b[i].
		if i >= len(b) || wantKey && b[i] != '"' {
			return toks, stack, false
		}
		if len(stack) > 0 && !wantKey {
			stack[len(stack)-1].n++
		}
		switch c := b[i]; c {
		case '"':
			j := jsonscan.SkipPlain(b, i+1)
			var flags uint8
			if j >= len(b) || b[j] != '"' {
				var ok bool
				if j, flags, ok = stringTail(b, j); !ok {
					return toks, stack, false
				}
			}
			toks = append(toks, tok{info: uint8(kString) | flags, off: uint32(i + 1), end: uint32(j)})
			i = j + 1
			if wantKey {
				if i = colon(b, i); i < 0 {
					return toks, stack, false
				}
				wantKey = false
				continue
			}
		case '{', '[':
			if len(stack) >= maxDepth {
				return toks, stack, false
			}
			obj := c == '{'
			k := uint8(kArray)
			if obj {
				k = uint8(kObject)
			}
			stack = append(stack, frame{tok: uint32(len(toks)), obj: obj})
			toks = append(toks, tok{info: k, off: uint32(i)})
			i = jsonscan.SkipSpace(b, i+1)
			if i < len(b) && (obj && b[i] == '}' || !obj && b[i] == ']') {
				toks[len(toks)-1].end = uint32(len(toks))
				stack = stack[:len(stack)-1]
				i++
				break
			}
			wantKey = obj
			continue
		case 't':
			if !jsonscan.HasLiteral(b, i, "true") {
				return toks, stack, false
			}
			toks = append(toks, tok{info: uint8(kTrue), off: uint32(i), end: uint32(i + 4)})
			i += 4
		case 'f':
			if !jsonscan.HasLiteral(b, i, "false") {
				return toks, stack, false
			}
			toks = append(toks, tok{info: uint8(kFalse), off: uint32(i), end: uint32(i + 5)})
			i += 5
		case 'n':
			if !jsonscan.HasLiteral(b, i, "null") {
				return toks, stack, false
			}
			toks = append(toks, tok{info: uint8(kNull), off: uint32(i), end: uint32(i + 4)})
			i += 4
		default:
			j, plain, ok := jsonscan.NumberEnd(b, i)
			if !ok || j-i > maxNumberLen || !plain && !numberFits(b[i:j]) {
				return toks, stack, false
			}
			info := uint8(kNumber)
			if !plain {
				info |= tEsc
			}
			toks = append(toks, tok{info: info, off: uint32(i), end: uint32(j)})
			i = j
		}
		// A value ended before b[i]: close containers, or go on to the
		// next element or member.
		for {
			if i < len(b) && b[i] <= ' ' {
				i = jsonscan.SkipSpace(b, i)
			}
			if len(stack) == 0 {
				return toks, stack, i == len(b)
			}
			if i >= len(b) {
				return toks, stack, false
			}
			top := &stack[len(stack)-1]
			c := b[i]
			if c == ',' {
				i++
				if i < len(b) && b[i] <= ' ' {
					i = jsonscan.SkipSpace(b, i)
				}
				wantKey = top.obj
				break
			}
			if top.obj && c == '}' || !top.obj && c == ']' {
				toks[top.tok].end = uint32(len(toks))
				toks[top.tok].n = top.n
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			return toks, stack, false
		}
	}
}

// colon skips the colon after an object key, ending at b[i-1], and the
// space around it, and returns the index of the value, or -1.
func colon(b []byte, i int) int {
	if i < len(b) && b[i] == ':' {
		i++
	} else {
		i = jsonscan.SkipSpace(b, i)
		if i >= len(b) || b[i] != ':' {
			return -1
		}
		i++
	}
	if i < len(b) && b[i] <= ' ' {
		i = jsonscan.SkipSpace(b, i)
	}
	return i
}

// stringTail checks the rest of a string from b[i], a byte
// jsonscan.SkipPlain stopped at, and returns the index of its closing quote and its flags
// (tEsc, tWide). It reports false for a control character, a bad escape,
// invalid UTF-8 or a missing closing quote.
func stringTail(b []byte, i int) (end int, flags uint8, ok bool) {
	for {
		if i >= len(b) {
			return 0, 0, false
		}
		switch c := b[i]; {
		case c == '"':
			return i, flags, true
		case c == '\\':
			flags |= tEsc
			if i+1 >= len(b) {
				return 0, 0, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if jsonscan.Hex4(b, i) < 0 {
					return 0, 0, false
				}
				i += 6
			default:
				return 0, 0, false
			}
		case c < 0x20:
			return 0, 0, false
		default: // c >= 0x80
			flags |= tWide
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, 0, false
			}
			i += size
		}
		i = jsonscan.SkipPlain(b, i)
	}
}

// str returns the contents of the string token at i as bytes: the body's
// own bytes when the string has no escapes, else a decoded copy.
func (t *tape) str(body []byte, i int) []byte {
	tk := &t.toks[i]
	raw := body[tk.off:tk.end]
	if !tk.esc() {
		return raw
	}
	return unescape(raw)
}

// unescape decodes the contents of a string token; see
// jsonscan.AppendUnquote, which the tape's checks leave nothing to refuse.
func unescape(raw []byte) []byte {
	out, _, _ := jsonscan.AppendUnquote(make([]byte, 0, len(raw)), raw)
	return out
}

// value builds, from the value at token i, the document encoding/json
// decodes with UseNumber: maps, slices, strings, bools, nil and
// json.Number. It returns the index of the token after the value.
func (t *tape) value(body []byte, i int) (any, int) {
	tk := &t.toks[i]
	switch tk.kind() {
	case kNull:
		return nil, i + 1
	case kFalse:
		return false, i + 1
	case kTrue:
		return true, i + 1
	case kNumber:
		return json.Number(body[tk.off:tk.end]), i + 1
	case kString:
		if tk.esc() {
			return string(unescape(body[tk.off:tk.end])), i + 1
		}
		return string(body[tk.off:tk.end]), i + 1
	case kArray:
		a := make([]any, 0, tk.n)
		for j := i + 1; j < int(tk.end); {
			var v any
			v, j = t.value(body, j)
			a = append(a, v)
		}
		return a, int(tk.end)
	default:
		m := make(map[string]any, tk.n)
		for j := i + 1; j < int(tk.end); {
			k := t.toks[j]
			var name string
			if k.esc() {
				name = string(unescape(body[k.off:k.end]))
			} else {
				name = string(body[k.off:k.end])
			}
			m[name], j = t.value(body, j+1)
		}
		return m, int(tk.end)
	}
}

// lookup follows path through the objects of the tape from its first
// value and returns the contents of the string found there. Where a name
// repeats in an object, the last member counts, as encoding/json decodes
// it. It reports false when a segment is missing, an intermediate value
// is not an object, or the final value is not a non-empty string.
func (t *tape) lookup(body []byte, path []string) ([]byte, bool) {
	i := 0
	for _, seg := range path {
		tk := &t.toks[i]
		if tk.kind() != kObject {
			return nil, false
		}
		found := -1
		for k := i + 1; k < int(tk.end); k = t.next(k + 1) {
			if string(t.str(body, k)) == seg {
				found = k + 1
			}
		}
		if found < 0 {
			return nil, false
		}
		i = found
	}
	if t.toks[i].kind() != kString {
		return nil, false
	}
	s := t.str(body, i)
	return s, len(s) > 0
}
