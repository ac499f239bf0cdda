package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits on number literals. The validator turns every number it checks
// into a math/big.Rat; math/big refuses exponents beyond 1e6 (and the
// validator then dereferences nil), and an exponent near that limit costs
// tens of milliseconds per number. Webhook payloads carry amounts, counts
// and timestamps, far inside these bounds.
const (
	maxNumberLen = 100 // bytes in one number literal
	maxExponent  = 400 // absolute value of a number's decimal exponent
)

// scan checks, in one pass over the bytes and without recursion, that the
// arrays and objects in body nest at most maxDepth deep and that every
// number literal is within maxNumberLen and maxExponent. It does not check
// the JSON syntax: the decoder that runs next does, and for well-formed
// JSON the depth scan is exact.
func scan(body []byte, maxDepth int) error {
	depth := 0
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '"':
			i = stringEnd(body, i+1)
		case '{', '[':
			depth++
			if depth > maxDepth {
				return fmt.Errorf("%w: more than %d levels at byte %d", ErrTooDeep, maxDepth, i)
			}
		case '}', ']':
			if depth > 0 {
				depth--
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			j := i + 1
			for j < len(body) && isNumberByte(body[j]) {
				j++
			}
			if !numberFits(body[i:j]) {
				return fmt.Errorf("%w: number at byte %d exceeds %d bytes or exponent %d", ErrTooLarge, i, maxNumberLen, maxExponent)
			}
			i = j - 1
		}
	}
	return nil
}

// stringEnd returns the index of the quote that closes the string whose
// contents start at i, or len(b)-1 when the string is not closed. A quote
// is escaped when an odd number of backslashes precede it.
func stringEnd(b []byte, i int) int {
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b) - 1
		}
		q += i
		n := 0
		for k := q - 1; k >= i && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q
		}
		i = q + 1
	}
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// numberFits reports whether the number literal n is short enough and its
// exponent small enough. Malformed literals pass: the decoder rejects them.
func numberFits(n []byte) bool {
	if len(n) > maxNumberLen {
		return false
	}
	e := bytes.IndexAny(n, "eE")
	if e < 0 {
		return true
	}
	exp := 0
	for _, c := range n[e+1:] {
		if c < '0' || c > '9' {
			continue // sign, or garbage the decoder will reject
		}
		exp = exp*10 + int(c-'0')
		if exp > maxExponent {
			return false
		}
	}
	return true
}

// decode parses body, which scan has accepted, into the values the
// validator expects: maps, slices, strings, bools, nil and json.Number.
func decode(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, notJSON(err)
	}
	rest := body[dec.InputOffset():]
	if len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return nil, fmt.Errorf("%w: data after the top-level value at byte %d", ErrNotJSON, len(body)-len(rest))
	}
	return v, nil
}

// notJSON wraps a decoding error in ErrNotJSON, keeping its position but
// not the offending bytes.
func notJSON(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%w: syntax error at byte %d", ErrNotJSON, se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: unexpected end of input", ErrNotJSON)
	default:
		return fmt.Errorf("%w: cannot decode", ErrNotJSON)
	}
}

// fieldPath splits a dot-separated field path. "" means "type".
func fieldPath(path string) ([]string, error) {
	if path == "" {
		path = defaultTypeField
	}
	segs := strings.Split(path, ".")
	for _, s := range segs {
		if s == "" {
			return nil, fmt.Errorf("schemas: type field path %q has an empty segment", path)
		}
	}
	return segs, nil
}

// lookup follows path through the objects of a decoded document and
// returns the string found there. It reports false when a segment is
// missing, an intermediate value is not an object, or the final value is
// not a non-empty string.
func lookup(doc any, path []string) (string, bool) {
	for _, seg := range path {
		m, ok := doc.(map[string]any)
		if !ok {
			return "", false
		}
		if doc, ok = m[seg]; !ok {
			return "", false
		}
	}
	s, ok := doc.(string)
	return s, ok && s != ""
}

// TypeOf returns the string at the dot-separated field path in the JSON
// object body; "" means "type". A path such as "data.object.type" descends
// through nested objects; a field whose name contains a dot cannot be
// addressed, and arrays are not indexed. When a name repeats in an object,
// the last one counts, as in [Registry.Validate].
//
// TypeOf rejects bodies nested deeper than 64 levels with [ErrTooDeep] and
// bodies that are not JSON (or not UTF-8) with [ErrNotJSON], as
// [Registry.Validate] does. It returns [ErrNoType] when the field is
// missing, is not a string, or is the empty string. It does not limit
// the body's size: read the body with a limit first.
func TypeOf(body []byte, path string) (string, error) {
	segs, err := fieldPath(path)
	if err != nil {
		return "", err
	}
	t := getTape()
	defer putTape(t)
	if !t.parse(body, defaultMaxDepth) {
		return typeOfSlow(body, path, segs)
	}
	s, ok := t.lookup(body, segs)
	if !ok {
		return "", noType(path)
	}
	return string(s), nil
}

// typeOfSlow is TypeOf for a body that the tape refused: the checks in
// turn, so that the error names the first problem, then encoding/json.
func typeOfSlow(body []byte, path string, segs []string) (string, error) {
	if err := checkRaw(body, defaultMaxDepth); err != nil {
		return "", err
	}
	// Each level decodes only the names of one object and keeps the values
	// as raw bytes, so no tree is built for the parts not on the path.
	raw := json.RawMessage(body)
	for _, seg := range segs {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return "", noType(path)
			}
			return "", notJSON(err)
		}
		var ok bool
		if raw, ok = m[seg]; !ok {
			return "", noType(path)
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s == "" {
		return "", noType(path)
	}
	return s, nil
}

func noType(path string) error {
	if path == "" {
		path = defaultTypeField
	}
	return fmt.Errorf("%w: field %q is missing, not a string, or empty", ErrNoType, path)
}
