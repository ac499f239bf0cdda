package expr

import (
	"net/http"
	"strconv"
	"strings"
	"sync"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// Input is one verified event as expressions see it. Build it once per event
// with NewInput and pass it to every program evaluated for that event: the
// matcher, each destination's filter and transform.
//
// The body is decoded on first use, at most once, and only if an expression
// reads payload; headers likewise. An Input is safe for concurrent use by any
// number of programs. It keeps the body and the header map it was given: do
// not change them while the Input is in use.
type Input struct {
	source, id, typ ref.Val
	verified        ref.Val

	body        []byte
	payloadOnce sync.Once
	payload     ref.Val
	// exact maps the bits of a float64 to the text of a payload number that
	// it cannot print back with the same value (more than 17 significant
	// digits, or out of range). Transform writes that text instead.
	exact map[uint64]string

	header      http.Header
	headersOnce sync.Once
	headers     ref.Val
}

// NewInput returns the Input for one event: its source (the name of the
// route or provider it came through), id, type, request headers, raw body
// and whether its signature was verified.
func NewInput(source, id, typ string, header http.Header, body []byte, verified bool) *Input {
	return &Input{
		source:   types.String(source),
		id:       types.String(id),
		typ:      types.String(typ),
		verified: types.Bool(verified),
		body:     body,
		header:   header,
	}
}

// activation is the interpreter's view of an Input. A pointer to it is
// pointer-shaped, so passing it as an interpreter.Activation allocates
// nothing.
type activation Input

var _ interpreter.Activation = (*activation)(nil)

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	in := (*Input)(a)
	switch name {
	case varPayload:
		in.payloadOnce.Do(in.decode)
		return in.payload, true
	case varType:
		return in.typ, true
	case varID:
		return in.id, true
	case varSource:
		return in.source, true
	case varHeaders:
		in.headersOnce.Do(in.lowerHeaders)
		return in.headers, true
	case varVerified:
		return in.verified, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// lowerHeaders builds headers: lower-case name to first value. Of two names
// that differ only in case (possible only in a map not built by net/http),
// the one that sorts first wins, so the result never depends on map order.
func (in *Input) lowerHeaders() {
	m := make(map[string]string, len(in.header))
	from := make(map[string]string, len(in.header))
	for name, values := range in.header {
		if len(values) == 0 {
			continue
		}
		lower := strings.ToLower(name)
		if prev, ok := from[lower]; ok && prev < name {
			continue
		}
		m[lower], from[lower] = values[0], name
	}
	in.headers = types.NewStringStringMap(adapter, m)
}

// decode sets payload: the body decoded as JSON, or null when the body is
// not one JSON value (empty, malformed, or followed by more than space);
// and exact. See decodePayload.
//
// The tree is turned into CEL values here, once, rather than by CEL on
// every access: payload.data.x then allocates nothing, however many
// programs read it.
func (in *Input) decode() {
	in.payload, in.exact = decodePayload(in.body)
}

// sameDecimal reports whether two JSON numbers denote the same decimal value
// (1.10 and 1.1 do, 1e2 and 100 do, 0.1000000000000000000001 and 0.1 don't).
func sameDecimal(a, b string) bool {
	an, ad, ae, aok := decimal(a)
	bn, bd, be, bok := decimal(b)
	return aok && bok && an == bn && ad == bd && (ad == "" || ae == be)
}

// decimal splits a JSON number into sign, significant digits (no leading or
// trailing zeros) and the exponent e such that the value is 0.digits × 10^e.
// It reports false for a number it cannot split (an exponent out of int
// range, or ±Inf as appendFloat writes it).
func decimal(s string) (neg bool, digits string, exp int, ok bool) {
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		var err error
		if exp, err = strconv.Atoi(strings.TrimPrefix(s[i+1:], "+")); err != nil {
			return false, "", 0, false
		}
		s = s[:i]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	all := intPart + frac
	for i := 0; i < len(all); i++ {
		if all[i] < '0' || all[i] > '9' {
			return false, "", 0, false
		}
	}
	trimmed := strings.TrimLeft(all, "0")
	exp += len(intPart) - (len(all) - len(trimmed))
	digits = strings.TrimRight(trimmed, "0")
	if digits == "" {
		return false, "", 0, true // zero: sign and exponent don't matter
	}
	return neg, digits, exp, true
}
