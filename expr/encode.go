package expr

import (
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// encoder writes a transform's value as JSON. It writes into its own buffer,
// so a value it cannot write leaves nothing behind.
type encoder struct {
	buf   []byte
	limit int               // the most bytes it may write
	exact map[uint64]string // from Input.exact
}

// errTooLarge stops an encoder that went over its limit.
var errTooLarge = fmt.Errorf("%w: transform output too large", ErrCost)

func (e *encoder) value(v ref.Val) error {
	if len(e.buf) > e.limit {
		return fmt.Errorf("%w (over %d bytes)", errTooLarge, e.limit)
	}
	switch x := v.(type) {
	case types.Null:
		e.buf = append(e.buf, "null"...)
	case types.Bool:
		e.buf = strconv.AppendBool(e.buf, bool(x))
	case types.Int:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case types.Uint:
		e.buf = strconv.AppendUint(e.buf, uint64(x), 10)
	case types.Double:
		return e.double(float64(x))
	case types.String:
		e.buf = appendString(e.buf, string(x))
	case types.Bytes:
		e.buf = append(e.buf, '"')
		e.buf = base64.StdEncoding.AppendEncode(e.buf, []byte(x))
		e.buf = append(e.buf, '"')
	case types.Timestamp:
		e.buf = appendString(e.buf, x.UTC().Format(time.RFC3339Nano))
	case types.Duration:
		e.buf = appendString(e.buf, strconv.FormatFloat(x.Seconds(), 'f', -1, 64)+"s")
	case *types.Optional:
		if !x.HasValue() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		return e.value(x.GetValue())
	case traits.Mapper:
		switch m := x.Value().(type) {
		case map[string]any: // from the payload: every value a ref.Val
			entries := make([]entry, 0, len(m))
			for k, v := range m {
				val, ok := v.(ref.Val)
				if !ok {
					val = adapter.NativeToValue(v)
				}
				entries = append(entries, entry{k, val})
			}
			return e.entries(entries)
		case map[ref.Val]ref.Val: // a map literal
			entries := make([]entry, 0, len(m))
			for k, v := range m {
				key, err := mapKey(k)
				if err != nil {
					return err
				}
				entries = append(entries, entry{key, v})
			}
			return e.entries(entries)
		}
		return e.mapper(x)
	case traits.Lister:
		switch l := x.Value().(type) {
		case []ref.Val: // from the payload, or a list literal
			e.buf = append(e.buf, '[')
			for i, item := range l {
				if i > 0 {
					e.buf = append(e.buf, ',')
				}
				if err := e.value(item); err != nil {
					return err
				}
			}
			e.buf = append(e.buf, ']')
			return nil
		}
		return e.lister(x)
	default:
		return fmt.Errorf("%w: a %s cannot be written as JSON", ErrResultType, v.Type().TypeName())
	}
	return nil
}

func (e *encoder) double(f float64) error {
	if text := e.exact[math.Float64bits(f)]; text != "" {
		e.buf = append(e.buf, text...)
		return nil
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("%w: %v cannot be written as JSON", ErrResultType, f)
	}
	e.buf = appendFloat(e.buf, f)
	return nil
}

type entry struct {
	key string
	val ref.Val
}

func mapKey(k ref.Val) (string, error) {
	switch kv := k.(type) {
	case types.String:
		return string(kv), nil
	case types.Int:
		return strconv.FormatInt(int64(kv), 10), nil
	case types.Uint:
		return strconv.FormatUint(uint64(kv), 10), nil
	}
	return "", fmt.Errorf("%w: a map key of type %s cannot be written as JSON", ErrResultType, k.Type().TypeName())
}

func (e *encoder) mapper(m traits.Mapper) error {
	var entries []entry
	for it := m.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		key, err := mapKey(k)
		if err != nil {
			return err
		}
		entries = append(entries, entry{key, m.Get(k)})
	}
	return e.entries(entries)
}

// entries writes a JSON object, keys sorted.
func (e *encoder) entries(entries []entry) error {
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	e.buf = append(e.buf, '{')
	for i, ent := range entries {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendString(e.buf, ent.key)
		e.buf = append(e.buf, ':')
		if err := e.value(ent.val); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

func (e *encoder) lister(l traits.Lister) error {
	e.buf = append(e.buf, '[')
	first := true
	for it := l.Iterator(); it.HasNext() == types.True; {
		if !first {
			e.buf = append(e.buf, ',')
		}
		first = false
		if err := e.value(it.Next()); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, ']')
	return nil
}

// appendFloat writes a finite float64 as encoding/json does: the shortest
// text that reads back as the same float64, in exponent form only below
// 1e-6 or from 1e21 on.
func appendFloat(b []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.AppendFloat(b, f, 'g', -1, 64) // "+Inf", "-Inf", "NaN": not JSON
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 -> 1e-7, as encoding/json writes it.
		if n := len(b) - start; n >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
	}
	return b
}

const hex = "0123456789abcdef"

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does; so do lone surrogates a CEL string cannot hold anyway.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but end lines in JavaScript.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
