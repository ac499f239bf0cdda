package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// jsonDepth returns the nesting depth of a well-formed JSON value.
func jsonDepth(t *testing.T, body []byte) int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	depth, max := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return max
		}
		if err != nil {
			t.Fatalf("Token on valid JSON: %v", err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			max = maxInt(max, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func FuzzScan(f *testing.F) {
	f.Add([]byte(`{"a":[{"b":[1]}]}`), uint8(3))
	f.Add([]byte(`["\\\"[[[", "\\", [[1]]]`), uint8(2))
	f.Add([]byte(`[1e401, -0.5E-3]`), uint8(4))
	f.Add([]byte(`"unterminated \" [[[[`), uint8(1))
	f.Add([]byte(strings.Repeat("[", 100)), uint8(64))
	f.Fuzz(func(t *testing.T, body []byte, max uint8) {
		maxDepth := int(max % 80)
		err := scan(body, maxDepth)
		if err != nil && !errors.Is(err, ErrTooDeep) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("scan: unexpected error %v", err)
		}
		if !json.Valid(body) || errors.Is(err, ErrTooLarge) {
			return
		}
		// On well-formed JSON the scan is exact.
		d := jsonDepth(t, body)
		if tooDeep := errors.Is(err, ErrTooDeep); tooDeep != (d > maxDepth) {
			t.Fatalf("depth %d, limit %d: scan = %v", d, maxDepth, err)
		}
	})
}

func FuzzTypeOf(f *testing.F) {
	f.Add([]byte(`{"type":"invoice.paid"}`), "")
	f.Add([]byte(`{"data":{"object":{"type":"x"}}}`), "data.object.type")
	f.Add([]byte(`{"type":"a","type":"b"}`), "type")
	f.Add([]byte(`{"t\u0079pe":"\ud83d\ude00"}`), "type")
	f.Add([]byte(`{"a":[{"b":1}]}`), "a.b")
	f.Add([]byte(`{"type":"x"} trailing`), "")
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		typ, err := TypeOf(body, path)
		if err != nil {
			if typ != "" {
				t.Fatalf("TypeOf returned %q with error %v", typ, err)
			}
			return
		}
		if typ == "" {
			t.Fatal("TypeOf returned \"\" without error")
		}
		// The registry reads the type the same way.
		r, err := New(Config{TypeField: path})
		if err != nil {
			t.Fatalf("TypeOf accepted path %q that New rejects: %v", path, err)
		}
		got, err := r.Validate("", body)
		if errors.Is(err, ErrTooLarge) {
			return // the registry's size limit
		}
		if err != nil || got != typ {
			t.Fatalf("Validate = %q, %v; TypeOf = %q", got, err, typ)
		}
	})
}

// fuzzSchema exercises the keywords whose checks parse numbers, compare
// values or run format checkers.
const fuzzSchema = `{
	"$schema": "https://json-schema.org/draft/2020-12/schema",
	"type": "object",
	"properties": {
		"n": {"type": "integer", "minimum": -5, "exclusiveMaximum": 1e300, "multipleOf": 0.5},
		"u": {"type": "array", "uniqueItems": true, "items": {"enum": [1, 2.0, "a", null, {"k": [1]}]}},
		"c": {"const": {"a": [1, 2, {"b": 1e10}]}},
		"f": {"anyOf": [
			{"format": "date-time"}, {"format": "email"}, {"format": "ipv6"}, {"format": "uri"},
			{"format": "duration"}, {"format": "regex"}, {"format": "json-pointer"}, {"format": "hostname"}
		]},
		"p": {"patternProperties": {"^x": {"type": "string", "minLength": 2}}, "propertyNames": {"maxLength": 3}},
		"d": {"dependentRequired": {"a": ["b"]}, "dependentSchemas": {"c": {"required": ["d"]}}},
		"i": {"prefixItems": [{"type": "number"}], "items": false, "contains": {"type": "string"}, "maxContains": 1}
	},
	"unevaluatedProperties": {"type": ["string", "number"]}
}`

func FuzzValidate(f *testing.F) {
	r, err := New(Config{
		Dir:      "examples",
		Schemas:  map[string][]byte{"num": []byte(fuzzSchema)},
		MaxDepth: 32,
		MaxBytes: 64 << 10,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(validInvoice))
	f.Add([]byte(`{"type":"invoice.paid","data":{"amount_paid":{"value":1e1000001}}}`))
	f.Add([]byte(`{"type":"num","n":1e400,"u":[1,1.0,2e0],"c":{"a":[1,2,{"b":10000000000}]}}`))
	f.Add([]byte(`{"type":"num","f":"2026-13-40T25:61:61Z","p":{"xyzw":"1"},"i":[1,"a","b"]}`))
	f.Add([]byte(`{"type":"num","d":{"a":1,"c":2},"zz":{}}`))
	f.Add([]byte(`{"type":"invoice.paid","data":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, typ := range []string{"", "num", "invoice.paid"} {
			_, err := r.Validate(typ, body)
			if errors.Is(err, errValidator) {
				t.Fatalf("validator failed: %v", err)
			}
			var ve *ValidationError
			if errors.As(err, &ve) {
				if len(ve.Violations) == 0 || len(ve.Violations) > defaultMaxViolations {
					t.Fatalf("%d violations", len(ve.Violations))
				}
				_ = ve.Error()
			}
		}
	})
}
